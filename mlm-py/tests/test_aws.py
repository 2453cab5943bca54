"""`mlm.Client.aws` against the AWS emulator (moto's server plus mlm's gap fillers, installed
in this venv by the test command's requirements): the Python client drives SageMaker through
the same Rust backend the server uses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

import mlm

EMULATOR_DIR = Path(__file__).resolve().parents[2] / "testing" / "aws-emulator"


@pytest.fixture()
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlm_aws_emulator", "--host", "127.0.0.1", "--port", "0",
         "--port-file", str(port_file), "--quiet"],
        cwd=EMULATOR_DIR,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, "the AWS emulator exited at start"
            assert time.monotonic() < deadline, "the AWS emulator did not start"
            time.sleep(0.05)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "MLM_SAGEMAKER_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/mlm",
        }.items():
            monkeypatch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
            monkeypatch.delenv(key, raising=False)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_aws_client_registers_and_lists_through_sagemaker(emulator: str) -> None:
    with mlm.Client.aws(region="us-east-1", endpoint_url=emulator) as client:
        assert client.kind == "aws"
        assert client.capabilities.serverless is True
        client.create_model("churn", description="from Python")
        version = client.create_version(
            "churn",
            "s3://mlm-test/model.tar.gz",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1",
        )
        assert version.version == 1
        assert client.get_model("churn").description == "from Python"
        assert [m.name for m in client.list_models()] == ["churn"]
        approved = client.update_version("churn", 1, approval="approved")
        assert approved.approval == mlm.Approval.APPROVED
        with pytest.raises(mlm.FailedPreconditionError):
            client.delete_model("churn")
        client.delete_version("churn", 1)
        client.delete_model("churn")
        with pytest.raises(mlm.NotFoundError):
            client.get_model("churn")


def test_aws_client_reports_an_unreachable_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mlm.Client.aws(region="us-east-1", endpoint_url="http://127.0.0.1:9") as client:
        with pytest.raises(mlm.MlmError):
            client.get_model("anything")
