"""End-to-end tests of the emulator, run against a real subprocess (conftest.py)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

import botocore.model
import cbor2
import pytest
import requests
from botocore.exceptions import ClientError

CW = "GraniteServiceVersion20100801"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serving:1"
#: The InferenceSpecification of the model packages the tests register.
INFERENCE = {
    "Containers": [{"Image": IMAGE}],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}
FAKE_SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=00"
)


# -- helpers ---------------------------------------------------------------


def create_model(sm, name: str) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://models/{name}.tar.gz"},
    )


def create_config(sm, name: str, model: str, count: int = 1, instance: str = "ml.m5.large"):
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": count,
                "InstanceType": instance,
                "InitialVariantWeight": 1.0,
            }
        ],
    )


def deployed(sm, configs: dict[str, int], endpoint: str = "ep") -> None:
    """A model, one endpoint config per {name: instance count}, and an endpoint
    on the first config."""
    create_model(sm, "model")
    for name, count in configs.items():
        create_config(sm, name, "model", count=count)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=next(iter(configs)))


def create_package(sm, group: str) -> str:
    """Registers a new version in model package group ``group``; its ARN."""
    package = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=INFERENCE)
    return package["ModelPackageArn"]


def variant(description: dict) -> dict:
    return description["ProductionVariants"][0]


def wait_for_status(sm, endpoint: str, status: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_endpoint(EndpointName=endpoint)
        if description["EndpointStatus"] == status:
            return description
        assert time.monotonic() < deadline, description["EndpointStatus"]
        time.sleep(0.1)


def error_of(excinfo) -> tuple[str, str, int]:
    error = excinfo.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def cbor_call(
    emulator,
    account: str,
    operation: str,
    body: dict | None,
    raw: bytes | None = None,
    signed: bool = True,
):
    """One Smithy RPC v2 CBOR request, built by hand as aws-sdk-cloudwatch sends it."""
    headers = {
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "x-moto-account-id": account,
    }
    if signed:
        headers["Authorization"] = FAKE_SIGV4.format(service="monitoring")
    return requests.post(
        f"{emulator.url}/service/{CW}/operation/{operation}",
        data=raw if raw is not None else (cbor2.dumps(body) if body is not None else b""),
        headers=headers,
        timeout=10,
    )


def sum_query(emulator, account: str, start: float, end: float):
    """A CBOR GetMetricData for the sum of metric NS/M, per minute, from ``start`` to ``end``."""
    query = {
        "Id": "q",
        "MetricStat": {
            "Metric": {"Namespace": "NS", "MetricName": "M"},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    body = {"MetricDataQueries": [query], "StartTime": epoch(start), "EndTime": epoch(end)}
    return cbor_call(emulator, account, "GetMetricData", body)


def epoch(seconds: float) -> cbor2.CBORTag:
    return cbor2.CBORTag(1, float(seconds))


def as_epoch(value: datetime) -> float:
    return value.timestamp()


# -- basics ----------------------------------------------------------------


def test_health(emulator):
    response = requests.get(f"{emulator.url}/_mlm/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_control_api_rejects_bad_config(emulator, account):
    response = requests.post(
        f"{emulator.url}/_mlm/config",
        json={"creating_secs": 1},
        headers={"x-moto-account-id": account},
        timeout=10,
    )
    assert response.status_code == 400
    response = requests.post(
        f"{emulator.url}/_mlm/config",
        json={"creating_seconds": -1},
        headers={"x-moto-account-id": account},
        timeout=10,
    )
    assert response.status_code == 400


# -- SageMaker runtime --------------------------------------------------------


def test_invoke_missing_endpoint_is_a_validation_error(emulator, sagemaker, account):
    # moto answers any endpoint name with canned data; AWS says the endpoint is not found.
    runtime = emulator.client("sagemaker-runtime", account)
    with pytest.raises(runtime.exceptions.ClientError) as error:
        runtime.invoke_endpoint(EndpointName="nope", Body=b"{}", ContentType="application/json")
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nope of account" in error.value.response["Error"]["Message"]
    deployed(sagemaker, {"cfg-a": 1})
    answer = runtime.invoke_endpoint(EndpointName="ep", Body=b"{}", ContentType="application/json")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_version_set_to_fail_answers_model_error(emulator, sagemaker, account):
    # moto runs no model: the example model's failure switch, set in a registry version's
    # environment, makes the endpoint that serves it answer as SageMaker does for a failing
    # container. Other versions keep moto's canned answer.
    sagemaker.create_model_package_group(ModelPackageGroupName="grp")
    failing = dict(INFERENCE, Containers=[{"Image": IMAGE, "Environment": {"MLM_EXAMPLE_ERROR_RATE": "1"}}])
    runtime = emulator.client("sagemaker-runtime", account)
    for name, spec in [("good", INFERENCE), ("bad", failing)]:
        package = sagemaker.create_model_package(ModelPackageGroupName="grp", InferenceSpecification=spec)
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            Containers=[{"ModelPackageName": package["ModelPackageArn"]}],
        )
        create_config(sagemaker, f"cfg-{name}", name)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"cfg-{name}")
    answer = runtime.invoke_endpoint(EndpointName="good", Body=b"{}", ContentType="application/json")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(runtime.exceptions.ClientError) as error:
        runtime.invoke_endpoint(EndpointName="bad", Body=b"{}", ContentType="application/json")
    assert error_of(error)[0] == "ModelError"
    assert error_of(error)[2] == 424


# -- SageMaker: UpdateEndpoint -----------------------------------------------


def test_endpoint_is_in_service_at_once_by_default(sagemaker):
    deployed(sagemaker, {"cfg-a": 1})
    description = sagemaker.describe_endpoint(EndpointName="ep")
    assert description["EndpointStatus"] == "InService"
    assert description["EndpointConfigName"] == "cfg-a"
    assert variant(description)["CurrentInstanceCount"] == 1


def test_update_endpoint_switches_config(sagemaker):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    before = sagemaker.describe_endpoint(EndpointName="ep")

    arn = sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")["EndpointArn"]

    after = sagemaker.describe_endpoint(EndpointName="ep")
    assert arn == before["EndpointArn"] == after["EndpointArn"]
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "cfg-b"
    assert variant(after)["CurrentInstanceCount"] == 2
    assert variant(after)["DesiredInstanceCount"] == 2
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]
    assert "FailureReason" not in after
    listed = sagemaker.list_endpoints()["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("ep", "InService")]


def test_update_endpoint_retains_variant_properties(sagemaker):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 4})
    # Autoscaling moved the variant to 3 instances.
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredInstanceCount": 3, "DesiredWeight": 1.0}
        ],
    )
    deployment_config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        }
    }

    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName="cfg-b",
        RetainAllVariantProperties=True,
        DeploymentConfig=deployment_config,
    )
    description = sagemaker.describe_endpoint(EndpointName="ep")
    assert description["EndpointConfigName"] == "cfg-b"
    assert variant(description)["CurrentInstanceCount"] == 3  # kept, not cfg-b's 4
    assert description["LastDeploymentConfig"] == deployment_config

    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName="cfg-a",
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
        RetainDeploymentConfig=True,
    )
    description = sagemaker.describe_endpoint(EndpointName="ep")
    assert description["EndpointConfigName"] == "cfg-a"
    assert variant(description)["CurrentInstanceCount"] == 1  # from cfg-a
    assert description["LastDeploymentConfig"] == deployment_config

    # Without RetainAllVariantProperties the new config's count applies.
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    description = sagemaker.describe_endpoint(EndpointName="ep")
    assert variant(description)["CurrentInstanceCount"] == 4
    assert "LastDeploymentConfig" not in description


def test_update_endpoint_errors(sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1})

    with pytest.raises(ClientError) as excinfo:
        sagemaker.update_endpoint(EndpointName="nope", EndpointConfigName="cfg-a")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        f"Could not find endpoint 'arn:aws:sagemaker:us-east-1:{account}:endpoint/nope'."
    )

    with pytest.raises(ClientError) as excinfo:
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="missing-cfg")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("Could not find endpoint configuration '")
    assert "endpoint-config/missing-cfg" in message

    # The endpoint is untouched.
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "cfg-a"


# -- SageMaker: model registry deletes ---------------------------------------


def test_delete_model_package_and_group(sagemaker, account):
    sagemaker.create_model_package_group(ModelPackageGroupName="grp")
    arns = [create_package(sagemaker, "grp") for _ in range(2)]
    assert [a.rsplit("/", 1)[-1] for a in arns] == ["1", "2"]

    with pytest.raises(ClientError) as excinfo:
        sagemaker.delete_model_package_group(ModelPackageGroupName="grp")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ConflictException", 400)
    assert "still contains 2 model package version(s)" in message

    sagemaker.delete_model_package(ModelPackageName=arns[0])
    with pytest.raises(ClientError) as excinfo:
        sagemaker.describe_model_package(ModelPackageName=arns[0])
    assert error_of(excinfo)[0] == "ValidationException"
    listed = sagemaker.list_model_packages(ModelPackageGroupName="grp")["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [arns[1]]

    # Version numbers are never reused (moto alone would hand out 2 again and
    # overwrite the live version 2).
    third = create_package(sagemaker, "grp")
    assert third.endswith("/grp/3")
    assert sagemaker.describe_model_package(ModelPackageName=arns[1])["ModelPackageVersion"] == 2

    with pytest.raises(ClientError) as excinfo:
        sagemaker.delete_model_package(ModelPackageName=arns[0])
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert message == f"ModelPackage {arns[0]} does not exist."

    sagemaker.delete_model_package(ModelPackageName=arns[1])
    sagemaker.delete_model_package(ModelPackageName=third)
    sagemaker.delete_model_package_group(ModelPackageGroupName="grp")
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []

    with pytest.raises(ClientError) as excinfo:
        sagemaker.delete_model_package_group(ModelPackageGroupName="grp")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        f"ModelPackageGroup arn:aws:sagemaker:us-east-1:{account}:model-package-group/grp "
        "does not exist."
    )


def test_delete_unversioned_model_package_by_name(sagemaker):
    sagemaker.create_model_package(ModelPackageName="standalone", InferenceSpecification=INFERENCE)
    sagemaker.delete_model_package(ModelPackageName="standalone")
    with pytest.raises(ClientError):
        sagemaker.describe_model_package(ModelPackageName="standalone")


# -- SageMaker: status windows and silent rollback ---------------------------


def test_status_windows(emulator, sagemaker, account):
    emulator.control("POST", "config", account, {"creating_seconds": 1, "updating_seconds": 1})
    create_model(sagemaker, "model")
    create_config(sagemaker, "cfg-a", "model", count=1)
    create_config(sagemaker, "cfg-b", "model", count=2)

    started = time.monotonic()
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    assert sagemaker.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "Creating"
    creating = sagemaker.list_endpoints(StatusEquals="Creating")["Endpoints"]
    assert [e["EndpointName"] for e in creating] == ["ep"]
    wait_for_status(sagemaker, "ep", "InService")
    assert time.monotonic() - started >= 0.9

    started = time.monotonic()
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    updating = sagemaker.describe_endpoint(EndpointName="ep")
    assert updating["EndpointStatus"] == "Updating"
    # As on AWS: the current config until the update is done, the new one pending.
    assert updating["EndpointConfigName"] == "cfg-a"
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "cfg-b"
    assert sagemaker.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "Updating"

    with pytest.raises(ClientError) as excinfo:
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException"
    assert message.startswith("Cannot update in-progress endpoint")

    done = wait_for_status(sagemaker, "ep", "InService")
    assert time.monotonic() - started >= 0.9
    assert done["EndpointConfigName"] == "cfg-b"
    assert variant(done)["CurrentInstanceCount"] == 2
    assert "PendingDeploymentSummary" not in done
    assert done["LastModifiedTime"] >= updating["LastModifiedTime"]


def test_scalable_target_needs_an_endpoint_in_service(emulator, sagemaker, account):
    emulator.control("POST", "config", account, {"creating_seconds": 1, "updating_seconds": 1})
    aas = emulator.client("application-autoscaling", account)
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 1,
        "MaxCapacity": 3,
    }
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    for status in ("Creating", "Updating"):
        assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == status
        with pytest.raises(ClientError) as excinfo:
            aas.register_scalable_target(**target)
        code, message, http = error_of(excinfo)
        assert (code, http) == ("ValidationException", 400)
        assert "is not in service" in message and status in message
        wait_for_status(sagemaker, "ep", "InService")
        if status == "Creating":
            sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")

    aas.register_scalable_target(**target)
    registered = aas.describe_scalable_targets(ServiceNamespace="sagemaker")
    assert [t["ResourceId"] for t in registered["ScalableTargets"]] == [target["ResourceId"]]
    # Other resources (and endpoints moto does not know) are left to moto.
    aas.register_scalable_target(**{**target, "ResourceId": "endpoint/other/variant/v"})


def test_weights_update_window(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1})
    emulator.control("POST", "config", account, {"weights_updating_seconds": 0.3})
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredInstanceCount": 2, "DesiredWeight": 1.0}
        ],
    )
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
    with pytest.raises(ClientError) as excinfo:
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    assert error_of(excinfo)[1].startswith("Cannot update in-progress endpoint")
    done = wait_for_status(sagemaker, "ep", "InService")
    assert variant(done)["CurrentInstanceCount"] == 2


def test_fail_next_update_is_a_silent_rollback(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control("POST", "config", account, {"updating_seconds": 0.5})
    reason = (
        "The primary container for production variant AllTraffic did not pass the ping "
        "health check."
    )
    emulator.control("POST", "fail-next-update", account, {"endpoint": "ep", "reason": reason})

    # The call itself succeeds, as on AWS.
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
    rolled_back = wait_for_status(sagemaker, "ep", "InService")
    assert rolled_back["EndpointConfigName"] == "cfg-a"
    assert rolled_back["FailureReason"] == reason
    assert variant(rolled_back)["CurrentInstanceCount"] == 1

    # Only the next update fails; the one after goes through and clears the reason.
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    done = wait_for_status(sagemaker, "ep", "InService")
    assert done["EndpointConfigName"] == "cfg-b"
    assert "FailureReason" not in done


def test_other_regions(emulator, account):
    """Our records use the region moto files resources under (SigV4 scope here)."""
    emulator.control("POST", "config", account, {"updating_seconds": 0.3})
    sm = emulator.client("sagemaker", account, region="eu-west-1")
    deployed(sm, {"cfg-a": 1, "cfg-b": 2})
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
    done = wait_for_status(sm, "ep", "InService")
    assert done["EndpointConfigName"] == "cfg-b"
    assert done["EndpointArn"] == f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/ep"
    # Nothing leaked into us-east-1.
    assert emulator.client("sagemaker", account).list_endpoints()["Endpoints"] == []


def test_fail_next_update_without_window(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control("POST", "fail-next-update", account, {"endpoint": "ep"})
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    description = sagemaker.describe_endpoint(EndpointName="ep")
    assert description["EndpointStatus"] == "InService"
    assert description["EndpointConfigName"] == "cfg-a"
    assert description["FailureReason"]


def test_accounts_are_isolated(emulator):
    slow, fast = "311111111111", "322222222222"
    slow_sm, fast_sm = emulator.client("sagemaker", slow), emulator.client("sagemaker", fast)
    emulator.control("POST", "config", slow, {"creating_seconds": 60})
    emulator.control("POST", "fail-next-update", slow, {"endpoint": "ep"})
    emulator.control("POST", "requests/reset", slow)
    emulator.control("POST", "requests/reset", fast)

    deployed(slow_sm, {"cfg-a": 1, "cfg-b": 1})
    deployed(fast_sm, {"cfg-a": 1, "cfg-b": 1})
    assert slow_sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    assert fast_sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    assert emulator.control("GET", "config", fast)["creating_seconds"] == 0

    # The other account's injected failure does not apply here.
    fast_sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")
    assert fast_sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "cfg-b"

    # Resources are per account too (moto's own isolation).
    fast_sm.create_model(
        ModelName="only-fast", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}
    )
    assert [m["ModelName"] for m in slow_sm.list_models()["Models"]] == ["model"]

    slow_counts = emulator.control("GET", "requests", slow)
    fast_counts = emulator.control("GET", "requests", fast)
    assert slow_counts["SageMaker.CreateEndpoint"] == 1
    assert "SageMaker.UpdateEndpoint" not in slow_counts
    assert fast_counts["SageMaker.UpdateEndpoint"] == 1
    assert "SageMaker.ListModels" not in fast_counts

    # Resetting an account's emulator state finishes its pending windows.
    emulator.control("POST", "reset", slow)
    assert slow_sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    assert emulator.control("GET", "requests", slow) == {"SageMaker.DescribeEndpoint": 1}


# -- request counting ----------------------------------------------------------


def test_request_counts(emulator, sagemaker, account):
    emulator.control("POST", "requests/reset", account)
    for _ in range(3):
        with pytest.raises(ClientError):
            sagemaker.describe_endpoint(EndpointName="missing")
    sagemaker.list_endpoints()
    now = time.time()
    sum_query(emulator, account, now - 600, now).raise_for_status()
    # A query-protocol call: counted under its signing name and Action.
    requests.post(
        emulator.url + "/",
        data="Action=ListMetrics&Version=2010-08-01",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": FAKE_SIGV4.format(service="monitoring"),
            "x-moto-account-id": account,
        },
        timeout=10,
    ).raise_for_status()

    assert emulator.control("GET", "requests", account) == {
        "GraniteServiceVersion20100801.GetMetricData": 1,
        "SageMaker.DescribeEndpoint": 3,
        "SageMaker.ListEndpoints": 1,
        "monitoring.ListMetrics": 1,
    }
    emulator.control("POST", "requests/reset", account)
    assert emulator.control("GET", "requests", account) == {}


# -- CloudWatch over Smithy RPC v2 CBOR ----------------------------------------


def test_cbor_put_metric_data_then_read_it_back(emulator, account):
    start = math.floor(time.time()) - 600  # a whole second: GetMetricData buckets start here
    put_at = start + 60.25
    dimensions = [
        {"Name": "EndpointName", "Value": "ep"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]

    put = cbor_call(
        emulator,
        account,
        "PutMetricData",
        {
            "Namespace": "mlm/test",
            "MetricData": [
                {
                    "MetricName": "Invocations",
                    "Dimensions": dimensions,
                    "Timestamp": epoch(put_at),
                    "Value": 7.0,
                    "Unit": "Count",
                }
            ],
        },
    )
    assert put.status_code == 200
    assert put.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert put.content == b""  # PutMetricData has no output structure

    data = cbor_call(
        emulator,
        account,
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "inv",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "mlm/test",
                            "MetricName": "Invocations",
                            "Dimensions": dimensions,
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                }
            ],
            "StartTime": epoch(start),
            "EndTime": epoch(start + 300),
        },
    )
    assert data.status_code == 200
    assert data.headers["Content-Type"] == "application/cbor"
    assert data.headers["smithy-protocol"] == "rpc-v2-cbor"
    # Timestamps are tag 1 + float64 (0xc1 0xfb), the form aws-smithy-cbor reads.
    assert b"\xc1\xfb" in data.content
    result = cbor2.loads(data.content)["MetricDataResults"][0]
    assert result["Id"] == "inv"
    assert result["StatusCode"] == "Complete"
    assert result["Values"] == [7.0] and isinstance(result["Values"][0], float)
    # moto reports the start of the period holding the datapoint.
    assert [as_epoch(t) for t in result["Timestamps"]] == [start + 60]

    stats = cbor_call(
        emulator,
        account,
        "GetMetricStatistics",
        {
            "Namespace": "mlm/test",
            "MetricName": "Invocations",
            "Dimensions": dimensions,
            "StartTime": epoch(start),
            "EndTime": epoch(start + 300),
            "Period": 60,
            "Statistics": ["Sum", "SampleCount"],
        },
    )
    assert stats.status_code == 200
    (point,) = cbor2.loads(stats.content)["Datapoints"]
    assert abs(as_epoch(point["Timestamp"]) - put_at) < 0.002  # round trip, ms precision
    assert point["Sum"] == 7.0 and point["SampleCount"] == 1.0
    assert isinstance(point["SampleCount"], float)  # a double, though moto's JSON may say 1

    listed = cbor_call(emulator, account, "ListMetrics", {"Namespace": "mlm/test"})
    assert listed.status_code == 200
    metrics = cbor2.loads(listed.content)["Metrics"]
    assert metrics == [
        {"Namespace": "mlm/test", "MetricName": "Invocations", "Dimensions": dimensions}
    ]


def test_cbor_unsigned_request(emulator, account):
    """A request without SigV4 still reaches moto's CloudWatch (us-east-1)."""
    put = cbor_call(
        emulator,
        account,
        "PutMetricData",
        {"Namespace": "mlm/unsigned", "MetricData": [{"MetricName": "M", "Value": 1.0}]},
        signed=False,
    )
    assert put.status_code == 200, put.content
    listed = cbor_call(emulator, account, "ListMetrics", {"Namespace": "mlm/unsigned"})
    assert [m["MetricName"] for m in cbor2.loads(listed.content)["Metrics"]] == ["M"]


def test_cbor_alarms(emulator, account):
    put = cbor_call(
        emulator,
        account,
        "PutMetricAlarm",
        {
            "AlarmName": "ep-5xx",
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocation5XXErrors",
            "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 5,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )
    assert put.status_code == 200, put.content

    described = cbor_call(emulator, account, "DescribeAlarms", {"AlarmNames": ["ep-5xx"]})
    assert described.status_code == 200
    (alarm,) = cbor2.loads(described.content)["MetricAlarms"]
    assert alarm["AlarmName"] == "ep-5xx"
    # As on AWS (moto alone says OK): not evaluated yet.
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["Threshold"] == 5.0 and isinstance(alarm["Threshold"], float)
    assert alarm["Period"] == 60 and isinstance(alarm["Period"], int)
    assert isinstance(alarm["StateUpdatedTimestamp"], datetime)
    assert alarm["StateUpdatedTimestamp"].tzinfo is not None
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": "ep"}]


def test_cbor_errors(emulator, account):
    now = time.time()
    bad_range = sum_query(emulator, account, now, now - 600)
    assert bad_range.status_code == 400
    assert bad_range.headers["Content-Type"] == "application/cbor"
    assert bad_range.headers["smithy-protocol"] == "rpc-v2-cbor"
    error = cbor2.loads(bad_range.content)
    assert error["__type"].endswith("ValidationException")
    assert bad_range.headers["x-amzn-query-error"] == "ValidationError;Sender"
    assert "EndTime must be greater than StartTime" in error["message"]

    missing = cbor_call(emulator, account, "GetDashboard", {"DashboardName": "nope"})
    assert missing.status_code == 404
    assert cbor2.loads(missing.content)["__type"].endswith("ResourceNotFound")
    assert missing.headers["x-amzn-query-error"] == "ResourceNotFound;Sender"

    unknown = cbor_call(emulator, account, "NoSuchOperation", {})
    assert unknown.status_code == 404
    assert cbor2.loads(unknown.content)["__type"] == "UnknownOperationException"

    garbage = cbor_call(emulator, account, "ListMetrics", None, raw=b"\xff\x00")
    assert garbage.status_code == 400
    assert cbor2.loads(garbage.content)["__type"] == "SerializationException"


def test_percentiles_answer_empty_instead_of_500(emulator, account):
    start = math.floor(time.time()) - 600
    metric = {"Namespace": "mlm/pct", "MetricName": "ModelLatency"}
    cbor_call(
        emulator,
        account,
        "PutMetricData",
        {
            "Namespace": "mlm/pct",
            "MetricData": [
                {"MetricName": "ModelLatency", "Timestamp": epoch(start + 30), "Value": 12.0}
            ],
        },
    ).raise_for_status()
    queries = [
        {"Id": "avg", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Average"}},
        {"Id": "p99", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p99"}},
    ]
    window = {"StartTime": epoch(start), "EndTime": epoch(start + 300)}

    response = cbor_call(
        emulator, account, "GetMetricData", {"MetricDataQueries": queries, **window}
    )
    assert response.status_code == 200
    results = {r["Id"]: r for r in cbor2.loads(response.content)["MetricDataResults"]}
    assert results["avg"]["Values"] == [12.0]
    assert results["p99"]["Values"] == [] and results["p99"]["Timestamps"] == []
    assert results["p99"]["Label"] == "ModelLatency p99"

    # Same through boto3's default awsJson1.0 path.
    cloudwatch = emulator.client("cloudwatch", account)
    results = {
        r["Id"]: r
        for r in cloudwatch.get_metric_data(
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=start + 300,
        )["MetricDataResults"]
    }
    assert results["avg"]["Values"] == [12.0]
    assert results["p99"]["Values"] == []

    # GetMetricStatistics with only ExtendedStatistics: no datapoints.
    stats = cloudwatch.get_metric_statistics(
        StartTime=start, EndTime=start + 300, Period=60, ExtendedStatistics=["p99"], **metric
    )
    assert stats["Datapoints"] == []


def test_boto3_speaking_cbor(emulator, account, monkeypatch):
    """botocore 1.44.5 can speak rpc-v2-cbor for CloudWatch (it prefers JSON by
    default): force it, as an independent check of our CBOR encoding."""
    monkeypatch.setattr(
        botocore.model,
        "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS",
        ("smithy-rpc-v2-cbor", "json", "query"),
    )
    cloudwatch = emulator.client("cloudwatch", account)
    assert cloudwatch.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    paths = []
    cloudwatch.meta.events.register(
        "before-send.*", lambda request, **kwargs: paths.append(request.url)
    )

    now = datetime.now(timezone.utc).replace(microsecond=0)
    cloudwatch.put_metric_data(
        Namespace="mlm/boto",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
                "Timestamp": now,
                "Value": 42.5,
            }
        ],
    )
    assert paths and all(f"/service/{CW}/operation/" in p for p in paths)

    metrics = cloudwatch.list_metrics(Namespace="mlm/boto")["Metrics"]
    assert metrics == [
        {
            "Namespace": "mlm/boto",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
        }
    ]
    stats = cloudwatch.get_metric_statistics(
        Namespace="mlm/boto",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "EndpointName", "Value": "ep"}],
        StartTime=now.timestamp() - 300,
        EndTime=now.timestamp() + 300,
        Period=60,
        Statistics=["Maximum"],
    )
    (point,) = stats["Datapoints"]
    assert point["Maximum"] == 42.5
    assert point["Timestamp"] == now

    cloudwatch.put_metric_alarm(
        AlarmName="cpu",
        Namespace="mlm/boto",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["cpu"])["MetricAlarms"]
    assert alarm["EvaluationPeriods"] == 2 and alarm["Threshold"] == 80.0

    with pytest.raises(ClientError) as excinfo:
        cloudwatch.get_dashboard(DashboardName="nope")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFound"


def test_fail_next_create_ends_failed_with_the_reason(emulator, sagemaker, account):
    emulator.control("POST", "config", account, {"creating_seconds": 0.3})
    emulator.control("POST", "fail-next-create", account, {"endpoint": "ep", "reason": "no ping"})
    deployed(sagemaker, {"cfg-a": 1})
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    failed = wait_for_status(sagemaker, "ep", "Failed")
    assert failed["FailureReason"] == "no ping"
    # Only the next creation fails.
    sagemaker.delete_endpoint(EndpointName="ep")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    assert wait_for_status(sagemaker, "ep", "InService")["EndpointStatus"] == "InService"
