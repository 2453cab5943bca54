"""Fixtures: local clients on the example runtime (real processes, one data directory per
test), and an `mlm serve` process for the HTTP client.

These tests run against the *installed* wheel (`pip install target/wheels/mlm-*.whl`), never
the source tree: `mlm-py/python` is not on `sys.path`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import mlm

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "agnews-classifier"
MODEL_DIR = EXAMPLE / "model"
RUNTIME = "agnews-classifier"
SPORTS = "Baseball is one of the most popular sports in the United States."
BUSINESS = "The central bank raised interest rates"


def local_config(**overrides: Any) -> Dict[str, Any]:
    """The example runtime, artifacts from the example folder, fast health checks."""
    config: Dict[str, Any] = {
        "artifact_roots": [str(EXAMPLE)],
        "runtimes": {RUNTIME: {"command": sys.executable, "args": ["-I", str(EXAMPLE / "serve.py")]}},
        "health_interval_ms": 200,
        "drain_timeout_secs": 10,
        "startup_timeout_secs": 30,
    }
    config.update(overrides)
    return config


def cleanup(client: mlm.Client) -> None:
    """Deletes every endpoint, version and model the test left behind."""
    if client.closed:
        return
    for endpoint in client.list_endpoints():
        client.delete_endpoint(endpoint.name)
    for endpoint in client.list_endpoints():
        client.wait_until_deleted(endpoint.name, timeout=60)
    for model in client.list_models():
        for version in client.list_versions(model.name):
            client.delete_version(model.name, version.version)
        client.delete_model(model.name)


def cleaned_up(c: mlm.Client) -> Iterator[mlm.Client]:
    """Yields ``c``, then deletes what the test left behind and closes it."""
    try:
        yield c
    finally:
        try:
            cleanup(c)
        finally:
            c.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path) -> Iterator[mlm.Client]:
    yield from cleaned_up(mlm.Client.local(data_dir, local_config()))


@pytest.fixture
def version(client: mlm.Client) -> mlm.ModelVersion:
    """Version 1 of model `news`, the example classifier."""
    client.create_model("news")
    return client.create_version("news", str(MODEL_DIR), RUNTIME)


def mlm_binary() -> Path:
    path = Path(os.environ.get("MLM_BIN", REPO / "target" / "debug" / "mlm"))
    if not path.is_file():
        pytest.fail(
            f"the mlm server binary is missing at {path}: build it with "
            "`cargo build -p mlm-cli --bin mlm` (or point MLM_BIN at it)"
        )
    return path


class Server:
    """A running `mlm serve` on a free loopback port."""

    def __init__(self, tmp: Path, tokens: str) -> None:
        config = tmp / "mlm.toml"
        local = local_config()
        runtime = local["runtimes"][RUNTIME]
        config.write_text(
            "[local]\n"
            f"data_dir = {str(tmp / 'data')!r}\n"
            f"artifact_roots = [{str(EXAMPLE)!r}]\n"
            "health_interval_ms = 200\n"
            "drain_timeout_secs = 10\n"
            f"[local.runtimes.{RUNTIME}]\n"
            f"command = {runtime['command']!r}\n"
            f"args = [{', '.join(repr(a) for a in runtime['args'])}]\n"
        )
        env = dict(os.environ, MLM_TOKENS=tokens, RUST_LOG="warn")
        self.log = open(tmp / "server.log", "w")
        self.process = subprocess.Popen(
            [str(mlm_binary()), "serve", "--bind", "127.0.0.1:0", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.stop()
            log = (tmp / "server.log").read_text()
            raise RuntimeError(f"mlm serve did not start: {line!r}\n{log}")
        self.url = match.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                self.process.kill()
                self.process.wait()
        self.log.close()


OPERATOR_TOKEN = "operator-token-0123456789"
READER_TOKEN = "reader-token-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(
        tmp_path_factory.mktemp("server"),
        tokens=f"{OPERATOR_TOKEN}:operator,{READER_TOKEN}:reader",
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def http_client(server: Server) -> Iterator[mlm.Client]:
    yield from cleaned_up(mlm.Client.http(server.url, token=OPERATOR_TOKEN))
