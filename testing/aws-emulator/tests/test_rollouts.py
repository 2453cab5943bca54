"""Guarded rollouts (UpdateEndpoint with a DeploymentConfig) and alarm behaviour."""

from __future__ import annotations

import time

import cbor2
import pytest
from botocore.exceptions import ClientError
from test_emulator import cbor_call, deployed, error_of, wait_for_status

CANARY = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "WaitIntervalInSeconds": 20,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        },
        "TerminationWaitInSeconds": 10,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ep-5xx"}]},
}


def put_alarm(cloudwatch, name: str = "ep-5xx", threshold: float = 0.0) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": "ep"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
    )


def watch(sagemaker, endpoint: str = "ep", timeout: float = 15.0) -> tuple[list, dict]:
    """Polls until InService; the distinct (endpoint status, variant status, message) seen."""
    seen: list[tuple[str, str | None, str | None]] = []
    deadline = time.monotonic() + timeout
    while True:
        description = sagemaker.describe_endpoint(EndpointName=endpoint)
        pending = description.get("PendingDeploymentSummary") or {}
        statuses = [
            s for v in pending.get("ProductionVariants") or [] for s in v.get("VariantStatus") or []
        ]
        entry = (
            description["EndpointStatus"],
            statuses[0]["Status"] if statuses else None,
            statuses[0].get("StatusMessage") if statuses else None,
        )
        if not seen or seen[-1] != entry:
            seen.append(entry)
        if description["EndpointStatus"] == "InService":
            return seen, description
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)


def test_canary_rollout_goes_through_its_phases(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control(
        "POST",
        "config",
        account,
        {"updating_seconds": 0.3, "traffic_step_seconds": 0.3, "deployment_time_scale": 0.03},
    )
    started = time.monotonic()
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    seen, done = watch(sagemaker)
    # 0.3 provisioning + 2 x (0.3 activating + 0.6 bake) + 0.3 termination wait.
    assert time.monotonic() - started >= 2.3
    phases = [(status, variant) for status, variant, _ in seen]
    assert phases == [
        ("Updating", "Creating"),
        ("Updating", "ActivatingTraffic"),
        ("Updating", "Baking"),
        ("Updating", "ActivatingTraffic"),
        ("Updating", "Baking"),
        ("Updating", "Deleting"),
        ("InService", None),
    ], seen
    messages = [m for _, _, m in seen]
    assert "Activating traffic on 10% of the new fleet's capacity" in messages
    assert "Activating traffic on 100% of the new fleet's capacity" in messages
    assert "Baking for 20 seconds" in messages
    assert done["EndpointConfigName"] == "cfg-b"
    assert done["LastDeploymentConfig"] == CANARY
    assert "FailureReason" not in done


def test_variant_status_carries_its_start_time(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 1})
    emulator.control("POST", "config", account, {"updating_seconds": 5})
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    description = sagemaker.describe_endpoint(EndpointName="ep")
    pending = description["PendingDeploymentSummary"]
    (status,) = pending["ProductionVariants"][0]["VariantStatus"]
    assert status["Status"] == "Creating"
    assert abs((status["StartTime"] - pending["StartTime"]).total_seconds()) < 1


def test_alarm_during_bake_rolls_back(emulator, sagemaker, account):
    cloudwatch = emulator.client("cloudwatch", account)
    put_alarm(cloudwatch)
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control(
        "POST",
        "config",
        account,
        {"deployment_time_scale": 0.5, "rolling_back_seconds": 0.3},
    )
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    baking = sagemaker.describe_endpoint(EndpointName="ep")
    statuses = baking["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"]
    assert statuses[0]["Status"] == "Baking", baking
    cloudwatch.set_alarm_state(AlarmName="ep-5xx", StateValue="ALARM", StateReason="5xx seen")
    rolling_back = sagemaker.describe_endpoint(EndpointName="ep")
    assert rolling_back["EndpointStatus"] == "RollingBack"
    done = wait_for_status(sagemaker, "ep", "InService")
    assert done["EndpointConfigName"] == "cfg-a", "back on the old config"
    assert done["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert "ep-5xx" in done["FailureReason"]
    assert "PendingDeploymentSummary" not in done

    # The alarm back to OK: the same update now goes through (no waiting: scale 0).
    cloudwatch.set_alarm_state(AlarmName="ep-5xx", StateValue="OK", StateReason="quiet")
    emulator.control("POST", "config", account, {"deployment_time_scale": 0})
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    done = sagemaker.describe_endpoint(EndpointName="ep")
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", "cfg-b")
    assert "FailureReason" not in done


def test_alarm_already_firing_rolls_back_at_the_first_step(emulator, sagemaker, account):
    cloudwatch = emulator.client("cloudwatch", account)
    put_alarm(cloudwatch)
    cloudwatch.set_alarm_state(AlarmName="ep-5xx", StateValue="ALARM", StateReason="bad")
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    done = sagemaker.describe_endpoint(EndpointName="ep")
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", "cfg-a")
    assert "ep-5xx" in done["FailureReason"]
    # Without rollback alarms the same update completes.
    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName="cfg-b",
        DeploymentConfig={"BlueGreenUpdatePolicy": CANARY["BlueGreenUpdatePolicy"]},
    )
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "cfg-b"


@pytest.mark.parametrize(
    ("config", "activations"),
    [
        (
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 40},
                    "WaitIntervalInSeconds": 10,
                }
            },
            ["40%", "80%", "100%"],
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "LINEAR",
                        "WaitIntervalInSeconds": 10,
                        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    }
                }
            },
            ["50%", "100%"],
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "ALL_AT_ONCE",
                        "WaitIntervalInSeconds": 10,
                    }
                }
            },
            ["100%"],
        ),
    ],
)
def test_linear_rolling_and_all_at_once_steps(emulator, sagemaker, account, config, activations):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control(
        "POST", "config", account, {"traffic_step_seconds": 0.2, "deployment_time_scale": 0.02}
    )
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=config
    )
    seen, done = watch(sagemaker)
    shown = [m.split(" on ")[1].split(" ")[0] for _, v, m in seen if v == "ActivatingTraffic"]
    assert shown == activations, seen
    assert done["EndpointConfigName"] == "cfg-b"


def test_fail_next_update_with_guardrails_rolls_back_after_provisioning(
    emulator, sagemaker, account
):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control("POST", "config", account, {"updating_seconds": 0.3})
    emulator.control("POST", "fail-next-update", account, {"endpoint": "ep", "reason": "ping"})
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
    done = wait_for_status(sagemaker, "ep", "InService")
    assert (done["EndpointConfigName"], done["FailureReason"]) == ("cfg-a", "ping")


def test_rollouts_refuse_a_second_update_and_end_on_delete(emulator, sagemaker, account):
    deployed(sagemaker, {"cfg-a": 1, "cfg-b": 2})
    emulator.control("POST", "config", account, {"deployment_time_scale": 1})
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    with pytest.raises(ClientError) as excinfo:
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    assert error_of(excinfo)[1].startswith("Cannot update in-progress endpoint")
    sagemaker.delete_endpoint(EndpointName="ep")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    # A reset finishes what is still running.
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="cfg-b", DeploymentConfig=CANARY
    )
    emulator.control("POST", "reset", account)
    done = sagemaker.describe_endpoint(EndpointName="ep")
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", "cfg-b")


# -- alarms ------------------------------------------------------------------


def test_describe_alarms_pages_by_name(emulator, account):
    cloudwatch = emulator.client("cloudwatch", account)
    for name in ["mlm/ep/c", "mlm/ep/a", "other", "mlm/ep/b"]:
        put_alarm(cloudwatch, name)
    first = cloudwatch.describe_alarms(AlarmNamePrefix="mlm/ep/", MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["mlm/ep/a", "mlm/ep/b"]
    second = cloudwatch.describe_alarms(
        AlarmNamePrefix="mlm/ep/", MaxRecords=2, NextToken=first["NextToken"]
    )
    assert [a["AlarmName"] for a in second["MetricAlarms"]] == ["mlm/ep/c"]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.describe_alarms(NextToken="forged")
    assert error_of(excinfo)[0] == "InvalidNextToken"
    # The same over CBOR, as aws-sdk-cloudwatch sends it.
    reply = cbor_call(
        emulator, account, "DescribeAlarms", {"AlarmNamePrefix": "mlm/ep/", "MaxRecords": 1}
    )
    page = cbor2.loads(reply.content)
    assert [a["AlarmName"] for a in page["MetricAlarms"]] == ["mlm/ep/a"]
    assert page["NextToken"]


def test_replacing_an_alarm_keeps_its_state_and_deleting_forgets_its_tags(emulator, account):
    cloudwatch = emulator.client("cloudwatch", account)
    put_alarm(cloudwatch)
    (new,) = cloudwatch.describe_alarms(AlarmNames=["ep-5xx"])["MetricAlarms"]
    assert (new["StateValue"], new["StateReason"]) == (
        "INSUFFICIENT_DATA",
        "Unchecked: Initial alarm creation",
    )
    cloudwatch.set_alarm_state(AlarmName="ep-5xx", StateValue="ALARM", StateReason="5xx seen")
    put_alarm(cloudwatch, threshold=3.0)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["ep-5xx"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"], alarm["Threshold"]) == (
        "ALARM",
        "5xx seen",
        3.0,
    )
    arn = alarm["AlarmArn"]
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "mlm:managed", "Value": "true"}])
    cloudwatch.delete_alarms(AlarmNames=["ep-5xx"])
    put_alarm(cloudwatch)
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
