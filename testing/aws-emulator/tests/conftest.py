"""Start the emulator once, as a real subprocess on a free loopback port."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

EMULATOR_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


@dataclass
class Emulator:
    url: str
    log: Path

    def control(self, method: str, path: str, account: str, body: dict | None = None):
        response = requests.request(
            method,
            f"{self.url}/_mlm/{path}",
            json=body,
            headers={"x-moto-account-id": account},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def client(self, service: str, account: str, region: str = REGION):
        """A boto3 client whose requests carry ``x-moto-account-id: account``."""
        client = boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # Errors are what several tests expect: do not retry them.
            config=Config(retries={"total_max_attempts": 1}),
        )

        def add_account_header(request, **kwargs):
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign.*", add_account_header)
        return client


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Emulator:
    workdir = tmp_path_factory.mktemp("emulator")
    port_file = workdir / "port"
    log = workdir / "emulator.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EMULATOR_DIR), env.get("PYTHONPATH")]))
    env.pop("MOTO_ACCOUNT_ID", None)  # would override the per-test accounts
    with open(log, "wb") as log_handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlm_aws_emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--port-file",
                str(port_file),
            ],
            stdout=subprocess.PIPE,
            stderr=log_handle,
            env=env,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"emulator did not start; log:\n{log.read_text()}")
            time.sleep(0.05)
        port = int(port_file.read_text())
        # The line is printed right after the port file is written.
        assert process.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}"
        instance = Emulator(url=f"http://127.0.0.1:{port}", log=log)
        assert requests.get(f"{instance.url}/_mlm/health", timeout=10).status_code == 200
        yield instance
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_accounts = itertools.count(1)


@pytest.fixture
def account() -> str:
    """A fresh 12-digit account id: each test gets its own moto backends."""
    return f"{200000000000 + next(_accounts)}"


@pytest.fixture
def sagemaker(emulator: Emulator, account: str):
    return emulator.client("sagemaker", account)
