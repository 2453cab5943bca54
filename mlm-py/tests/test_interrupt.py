"""Ctrl-C interrupts a blocking call within a tick and leaves the client usable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import MODEL_DIR, local_config

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import mlm

    data_dir, config = sys.argv[1], json.loads(sys.argv[2])
    client = mlm.Client.local(data_dir, config)
    client.create_model("news")
    version = client.create_version("news", sys.argv[3], "never")
    client.create_endpoint("never", version, instance_type="ml.m5.large")
    print("waiting", flush=True)
    started = time.monotonic()
    try:
        client.wait_until_ready("never", timeout=120)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - started:.1f}s", flush=True)
        # The client still works after the interruption.
        print("status", client.get_endpoint("never").status, flush=True)
        client.delete_endpoint("never", wait=True)
        client.close()
        sys.exit(0)
    sys.exit("the wait ended without an interrupt")
    """
)


def test_ctrl_c_interrupts_a_wait(tmp_path: Path) -> None:
    config = local_config(startup_timeout_secs=5)  # keeps the final delete short
    config["runtimes"]["never"] = {
        "command": "python3",
        "args": ["-c", "import time; time.sleep(120)"],
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), json.dumps(config), str(MODEL_DIR)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "waiting"
        time.sleep(1.0)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        line = process.stdout.readline().strip()
        assert line.startswith("interrupted after"), line
        assert time.monotonic() - sent < 2.0
        assert process.stdout.readline().strip() == "status Creating"
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "waiting for endpoint 'never': Creating" in err
        assert "interrupted (the endpoint keeps changing in the background)" in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
