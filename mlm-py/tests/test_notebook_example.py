"""The notebook walkthrough (`examples/notebook_walkthrough.py`, the `.py` twin of a notebook)
runs headless from the repository root and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notebook_walkthrough.py"


def test_walkthrough_runs_headless(tmp_path: Path) -> None:
    env = dict(os.environ, MLM_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"<Client local {tmp_path / 'data'}>"
    assert "registered agnews/1 (approved)" in out
    assert "endpoint agnews is InService" in out
    assert "prediction: Sports from variant primary" in out
    assert any(line.startswith("primary-1 ") and "InService" in line for line in out)
    assert "instances after scaling: 2" in out
    assert "invocations recorded: 5" in out
    assert out[-1] == "cleaned up"
    # The progress display went to stderr: transitions, counts, elapsed time.
    assert "creating endpoint 'agnews': Creating -> InService, 1/1 instances" in result.stderr
    assert "updating endpoint 'agnews': Updating -> InService, 2/2 instances" in result.stderr
