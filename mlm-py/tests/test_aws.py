"""`mlm.Client.aws` against the AWS emulator (moto's server plus mlm's gap fillers, installed
in this venv by the test command's requirements): the Python client drives SageMaker through
the same Rust backend the server uses."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import mlm
from mlm.aio import AsyncClient

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


def test_aws_client_puts_an_endpoints_cloudwatch_dashboard(emulator: str) -> None:
    with mlm.Client.aws(region="us-east-1", endpoint_url=emulator) as client:
        assert client.capabilities.dashboards is True
        client.create_model("watched")
        version = client.create_version(
            "watched",
            "s3://mlm-test/model.tar.gz",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/watched:1",
            approval="approved",
        )
        client.create_endpoint("watched", version, instance_type="ml.m5.large", wait=True)
        created = client.put_dashboard("watched")
        assert (created.name, created.action) == ("mlm-watched", "created")
        assert created.url.endswith("#dashboards/dashboard/mlm-watched")
        assert created.widgets[0] == "Invocations"
        assert client.put_dashboard("watched").action == "updated"
        read = client.get_dashboard("watched")
        assert read.action is None and read.widgets == created.widgets
        client.delete_endpoint("watched", wait=True)
        with pytest.raises(mlm.NotFoundError):
            client.get_dashboard("watched")


def test_aws_client_reports_an_unreachable_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mlm.Client.aws(region="us-east-1", endpoint_url="http://127.0.0.1:9") as client:
        with pytest.raises(mlm.MlmError):
            client.get_model("anything")


# ---- the keywords of Client.aws (mlm_aws::AwsConfig) ----

ROLE_FROM_ENV = "arn:aws:iam::123456789012:role/mlm"
ROLE_FROM_KWARG = "arn:aws:iam::123456789012:role/from-keyword"


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed credentials, no profile, no instance metadata: nothing reaches a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A URL that accepts connections and never answers: every call waits for a timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


BAD_KEYWORDS = [
    ("region", "", "region must not be empty"),
    ("region", 5, "region: invalid type"),
    ("profile", "  ", "profile must not be empty"),
    ("endpoint_url", "127.0.0.1:5000", "endpoint_url must be an http:// or https:// URL"),
    ("endpoint_url", "", "endpoint_url must not be empty"),
    ("execution_role_arn", "sagemaker-exec", "execution_role_arn must be an IAM role ARN"),
    ("execution_role_arn", "", "execution_role_arn must not be empty"),
    ("max_attempts", 0, "max_attempts must be at least 1"),
    ("max_attempts", -1, "max_attempts: invalid value"),
    ("max_attempts", 2.5, "max_attempts: invalid type"),
    ("max_attempts", math.nan, "max_attempts: NaN"),
    ("attempt_timeout", 0, "attempt_timeout must be a finite number of seconds > 0"),
    ("attempt_timeout", -1.5, "attempt_timeout must be a finite number of seconds > 0"),
    ("attempt_timeout", math.nan, "attempt_timeout must be a finite number of seconds > 0"),
    ("attempt_timeout", timedelta(0), "attempt_timeout must be a finite number of seconds > 0"),
    ("attempt_timeout", "5", "attempt_timeout must be a number of seconds or a timedelta"),
    ("attempt_timeout", True, "attempt_timeout must be a number of seconds or a timedelta"),
    ("operation_timeout", math.inf, "operation_timeout must be a finite number of seconds > 0"),
    ("operation_timeout", timedelta(seconds=-1), "operation_timeout must be a finite"),
    ("invoke_timeout", 0.0, "invoke_timeout must be a finite number of seconds > 0"),
    ("invoke_timeout", 1e30, "invoke_timeout_secs is too large"),
    ("enhanced_metrics", "yes", "enhanced_metrics: invalid type"),
    ("metrics_ttl", -0.1, "metrics_ttl must be a finite number of seconds >= 0"),
    ("concurrency", 0, "concurrency must be at least 1"),
    ("concurrency", 1.5, "concurrency: invalid type"),
]


@pytest.mark.parametrize(
    "keyword,value,message", BAD_KEYWORDS, ids=[f"{k}={v!r}" for k, v, _ in BAD_KEYWORDS]
)
def test_a_bad_keyword_is_an_invalid_argument_naming_it(
    aws_env: None, keyword: str, value: Any, message: str
) -> None:
    kwargs: Dict[str, Any] = {"region": "us-east-1", keyword: value}
    with pytest.raises(mlm.InvalidArgumentError) as blocking:
        mlm.Client.aws(**kwargs)
    assert blocking.value.message.startswith(message), blocking.value.message
    assert blocking.value.kind == "invalid_argument"

    async def open_async() -> None:
        await AsyncClient.aws(**kwargs)

    with pytest.raises(mlm.InvalidArgumentError) as awaited:
        asyncio.run(open_async())
    assert awaited.value.message == blocking.value.message


def test_every_keyword_together_opens_without_calling_aws(aws_env: None) -> None:
    # Nothing listens on port 9: opening must not need the network.
    with mlm.Client.aws(
        "eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        execution_role_arn=ROLE_FROM_KWARG,
        max_attempts=1,
        attempt_timeout=2.5,
        operation_timeout=timedelta(seconds=30),
        invoke_timeout=timedelta(minutes=2),
        enhanced_metrics=False,
        metrics_ttl=0,
        concurrency=2,
    ) as client:
        assert client.kind == "aws"
        assert client.target == "eu-west-1"

    async def open_async() -> str:
        async with await AsyncClient.aws(
            "eu-west-2", endpoint_url="http://127.0.0.1:9", metrics_ttl=timedelta(0)
        ) as client:
            return client.target

    assert asyncio.run(open_async()) == "eu-west-2"


def test_the_native_config_refuses_unknown_keys_by_name() -> None:
    with pytest.raises(mlm.InvalidArgumentError, match="^max_retries: unknown field"):
        mlm._mlm.NativeClient.open_aws({"max_retries": 3})


def elapsed(call: Any) -> float:
    start = time.monotonic()
    with pytest.raises(mlm.TimeoutError):
        call()
    return time.monotonic() - start


def test_the_attempt_timeout_and_max_attempts_reach_the_sdk(aws_env: None, silent_server: str) -> None:
    # Without them, the call would wait 3 attempts of 20 s (capped by the 60 s operation timeout).
    with mlm.Client.aws(
        "us-east-1", endpoint_url=silent_server, max_attempts=1, attempt_timeout=0.3
    ) as client:
        assert elapsed(lambda: client.get_model("anything")) < 10


def test_the_operation_timeout_reaches_the_sdk(aws_env: None, silent_server: str) -> None:
    with mlm.Client.aws(
        "us-east-1",
        endpoint_url=silent_server,
        attempt_timeout=timedelta(minutes=5),
        operation_timeout=timedelta(milliseconds=300),
    ) as client:
        assert elapsed(lambda: client.list_models().to_list()) < 10


def test_the_invoke_timeout_reaches_the_runtime_client(aws_env: None, silent_server: str) -> None:
    async def invoke() -> float:
        async with await AsyncClient.aws(
            "us-east-1", endpoint_url=silent_server, max_attempts=1, invoke_timeout=0.3
        ) as client:
            start = time.monotonic()
            with pytest.raises(mlm.TimeoutError):
                await client.invoke("news", {"text": "hello"})
            return time.monotonic() - start

    # Without it, one attempt would wait 70 s.
    assert asyncio.run(invoke()) < 10


def model_roles(endpoint_url: str) -> Dict[str, str]:
    """The execution role of every SageMaker model in the emulator's default account."""
    import boto3

    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return {
        m["ModelName"]: sagemaker.describe_model(ModelName=m["ModelName"])["ExecutionRoleArn"]
        for m in sagemaker.list_models()["Models"]
    }


def deploy(client: mlm.Client, endpoint: str) -> None:
    client.create_endpoint(endpoint, "churn/1", instance_type="ml.m5.large")


def test_the_execution_role_keyword_wins_over_the_environment(emulator: str) -> None:
    # The fixture sets MLM_SAGEMAKER_EXECUTION_ROLE_ARN to ROLE_FROM_ENV.
    with mlm.Client.aws("us-east-1", endpoint_url=emulator) as client:
        client.create_model("churn")
        client.create_version(
            "churn",
            "s3://mlm-test/model.tar.gz",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1",
        )
        client.update_version("churn", 1, approval="approved")
        deploy(client, "from-env")
    assert set(model_roles(emulator).values()) == {ROLE_FROM_ENV}

    with mlm.Client.aws(
        "us-east-1", endpoint_url=emulator, execution_role_arn=ROLE_FROM_KWARG
    ) as client:
        deploy(client, "from-keyword")
    roles = model_roles(emulator)
    assert sorted(roles.values()) == sorted([ROLE_FROM_ENV, ROLE_FROM_KWARG]), roles


def test_without_a_role_anywhere_endpoints_are_refused(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLM_SAGEMAKER_EXECUTION_ROLE_ARN")
    with mlm.Client.aws("us-east-1", endpoint_url=emulator) as client:
        client.create_model("churn")
        client.create_version(
            "churn",
            "s3://mlm-test/model.tar.gz",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1",
        )
        with pytest.raises(mlm.FailedPreconditionError, match="execution role"):
            deploy(client, "no-role")


def test_aws_push_version_uploads_to_s3(emulator: str, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator)
    s3.create_bucket(Bucket="mlm-pushed")
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "weights.json").write_text('{"w": [1, 2, 3]}')
    (model_dir / "code" / "serve.py").write_text("print('hi')\n")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1"
    with mlm.Client.aws(region="us-east-1", endpoint_url=emulator) as client:
        with pytest.raises(mlm.InvalidArgumentError, match="artifacts_uri"):
            client.push_version(model_dir, "churn", image, progress=False)
        pushed = client.push_version(model_dir, "churn", image, destination="s3://mlm-pushed/models", progress=False)
        hex_digest = pushed.artifact.digest.removeprefix("sha256:")
        key = f"models/churn/sha256-{hex_digest}/model.tar.gz"
        assert pushed.artifact.uri == f"s3://mlm-pushed/{key}"
        assert pushed.version.artifact_digest == pushed.artifact.digest
        body = s3.get_object(Bucket="mlm-pushed", Key=key)["Body"].read()
        assert len(body) == pushed.artifact.bytes
        assert client.get_version("churn", 1).artifact_uri == pushed.artifact.uri
