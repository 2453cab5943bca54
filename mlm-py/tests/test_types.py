"""Result types, enums, datetimes and request building (no backend needed)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

import mlm
from mlm import _requests as req
from mlm.types import format_datetime, parse_datetime

NOW = "2026-11-22T02:33:53.123456789Z"

ENDPOINT = {
    "name": "news",
    "status": "Updating",
    "failure_reason": None,
    "tags": {"team": "ml"},
    "data_capture": None,
    "deployment": None,
    "managed": True,
    "created_at": NOW,
    "updated_at": NOW,
    "variants": [
        {
            "name": "primary",
            "model_version": {"model": "news", "version": 2},
            "instance_type": "ml.m5.large",
            "desired_instance_count": 2,
            "current_instance_count": 1,
            "weight": 1.0,
            "serverless": None,
            "autoscaling": None,
        }
    ],
}


def test_datetimes_are_aware_utc() -> None:
    parsed = parse_datetime(NOW)
    assert parsed == datetime(2026, 11, 22, 2, 33, 53, 123456, tzinfo=timezone.utc)
    assert parse_datetime("2026-11-22T03:33:53+01:00") == datetime(
        2026, 11, 22, 2, 33, 53, tzinfo=timezone.utc
    )
    assert parse_datetime("2026-11-22T02:33:53.5Z").microsecond == 500000
    with pytest.raises(ValueError):
        parse_datetime("yesterday")
    assert format_datetime(parsed).endswith("+00:00")


def test_enums_compare_as_strings() -> None:
    assert mlm.EndpointStatus.IN_SERVICE == "InService"
    assert str(mlm.EndpointStatus.IN_SERVICE) == "InService"
    assert f"{mlm.Approval.APPROVED}" == "approved"
    assert repr(mlm.InstanceStatus.DRAINING) == "InstanceStatus.DRAINING"
    assert mlm.EndpointStatus("Creating").is_transitional
    assert mlm.EndpointStatus.FAILED.is_terminal_failure
    assert not mlm.EndpointStatus.IN_SERVICE.is_transitional


def test_endpoint_result() -> None:
    endpoint = mlm.Endpoint._from(ENDPOINT)
    assert endpoint.status is mlm.EndpointStatus.UPDATING
    assert not endpoint.ready
    assert endpoint.desired_instance_count == 2
    assert endpoint.current_instance_count == 1
    assert endpoint.variant("primary").model_version == mlm.VersionRef("news", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.name = "other"  # type: ignore[misc]

    text = repr(endpoint)
    assert text.startswith("Endpoint(name='news', status=Updating")
    assert "primary: news/2 on 1/2 x ml.m5.large" in text
    assert "created_at" not in text  # noise stays out of the repr

    html = endpoint._repr_html_()
    assert "<b>Endpoint news</b>" in html and "<td>news/2</td>" in html and "<td>1/2</td>" in html

    as_dict = endpoint.to_dict()
    assert as_dict["status"] == "Updating"
    assert as_dict["variants"][0]["model_version"] == {"model": "news", "version": 2}
    assert as_dict["created_at"] == parse_datetime(NOW)
    assert as_dict["tags"] == {"team": "ml"}


def test_variant_without_a_version() -> None:
    """Endpoints made outside mlm: ``model_version`` null over REST is ``None``, shown as ``?``."""
    raw = dict(ENDPOINT["variants"][0], model_version=None)  # type: ignore[index]
    endpoint = mlm.Endpoint._from(dict(ENDPOINT, managed=False, variants=[raw]))
    variant = endpoint.variant("primary")
    assert variant.model_version is None
    assert not endpoint.managed
    assert "primary: ? on 1/2 x ml.m5.large" in repr(variant)
    assert "<td>?</td>" in endpoint._repr_html_()
    assert endpoint._row()["variants"] == "primary=?x2"
    assert endpoint.to_dict()["variants"][0]["model_version"] is None
    with pytest.raises(mlm.InvalidArgumentError, match="no model version"):
        req.serving_model(endpoint, None)


def test_html_is_escaped() -> None:
    failing = dict(ENDPOINT, status="Failed", failure_reason="<script>alert(1)</script>")
    html = mlm.Endpoint._from(failing)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_overview_and_instances() -> None:
    overview = mlm.EndpointOverview._from(
        {
            "name": "news",
            "status": "InService",
            "failure_reason": None,
            "as_of": NOW,
            "instance_count": 1,
            "variants": [
                {"name": "primary", "desired_instance_count": 1, "current_instance_count": 1, "weight": 1.0}
            ],
            "instances": [
                {
                    "id": "primary-1",
                    "variant": "primary",
                    "status": "InService",
                    "started_at": NOW,
                    "cpu_utilization": {"value": 12.5, "scope": "instance"},
                    "memory_utilization": None,
                    "gpu_utilization": None,
                    "gpu_memory_utilization": None,
                    "in_flight_requests": {"value": 0.0, "scope": "instance"},
                }
            ],
        }
    )
    assert overview.instance_count == 1
    instance = overview.instances[0]
    assert instance.metrics.cpu_utilization == mlm.Measurement(12.5, mlm.MetricScope.INSTANCE)
    assert instance.metrics.memory_utilization is None
    assert instance._row()["cpu_utilization"] == 12.5
    table = overview.instances._repr_html_()
    assert "<td>12.5</td>" in table and "<td>–</td>" in table
    assert "12.5" in repr(overview.instances)


def test_version_refs() -> None:
    assert mlm.VersionRef.parse("news/3") == mlm.VersionRef("news", 3)
    assert str(mlm.VersionRef("news", 3)) == "news/3"
    for bad in ("news", "news/x", "/3"):
        with pytest.raises(mlm.InvalidArgumentError):
            mlm.VersionRef.parse(bad)
    assert req.version_ref(3, "news") == mlm.VersionRef("news", 3)
    assert req.version_ref(3, None) is None
    with pytest.raises(mlm.InvalidArgumentError, match="not of model 'other'"):
        req.version_ref("news/3", "other")


def test_update_requests() -> None:
    request = req.update_endpoint(
        "e", "primary", 3, None, mlm.VersionRef("m", 2), {"primary": 1, "b": 0.5}, None
    )
    changes = {c["variant"]: c for c in request["changes"]}
    assert changes["primary"]["instance_count"] == 3
    assert changes["primary"]["model_version"] == {"model": "m", "version": 2}
    assert changes["primary"]["weight"] == 1.0
    assert changes["b"] == {
        "variant": "b",
        "instance_count": None,
        "instance_type": None,
        "model_version": None,
        "weight": 0.5,
    }
    assert request["replace_variants"] is None


def test_invoke_bodies() -> None:
    assert req.invoke_body(b"\x00", None) == (b"\x00", "application/octet-stream")
    assert req.invoke_body("héllo", None) == ("héllo".encode(), "text/plain; charset=utf-8")
    assert req.invoke_body({"a": [1]}, None) == (b'{"a": [1]}', "application/json")
    assert req.invoke_body("x", "text/csv") == (b"x", "text/csv")


def test_metric_queries() -> None:
    end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    query = req.metrics_query(
        "e", "invocations", timedelta(minutes=10), None, end, timedelta(minutes=1), "sum", None, None
    )
    assert query["kinds"] == ["invocations"]
    assert query["start"] == "2025-12-31T23:50:00+00:00"
    assert query["period_seconds"] == 60
    assert query["statistic"] == "sum"
    with pytest.raises(mlm.InvalidArgumentError, match="statistic 'median'"):
        req.metrics_query("e", "invocations", 60, None, None, 60, "median", None, None)
    with pytest.raises(mlm.InvalidArgumentError, match="window must be positive"):
        req.metrics_query("e", "invocations", 0, None, None, 60, "sum", None, None)


def test_invoke_result() -> None:
    result = mlm.InvokeResult(b'{"category": "Sports"}', "application/json", "primary")
    assert result.json() == {"category": "Sports"}
    assert result.text == '{"category": "Sports"}'
    assert "Sports" in repr(result)


def test_policies_are_the_rest_api_shape() -> None:
    assert mlm.policies.canary(10, 60, rollback_alarms=["errors"]) == {
        "traffic": {"type": "canary", "percent": 10, "bake_seconds": 60},
        "rollback_alarms": ["errors"],
        "termination_wait_seconds": 0,
    }
    rolling = mlm.policies.rolling(25, 30, rollback_batch_percent=50)
    assert rolling["traffic"] == {
        "type": "rolling",
        "batch_percent": 25,
        "interval_seconds": 30,
        "rollback_batch_percent": 50,
    }
    assert mlm.policies.linear(20, 10)["traffic"]["step_percent"] == 20
    assert mlm.policies.all_at_once(termination_wait_seconds=5)["termination_wait_seconds"] == 5


def test_deployments_read_their_flat_phase() -> None:
    raw = {
        "id": "2",
        "endpoint": "news",
        "kind": "update",
        "target": [],
        "policy": None,
        "phase": "rolled_back",
        "percent": None,
        "reason": "alarm 'errors' is in ALARM",
        "alarm": "errors",
        "timeline": [
            {"phase": "provisioning", "percent": None, "reason": None, "alarm": None,
             "at": "2026-01-01T00:00:00Z"},
            {"phase": "shifting", "percent": 10, "reason": None, "alarm": None,
             "at": "2026-01-01T00:00:05Z"},
        ],
        "started_at": "2026-01-01T00:00:00Z",
        "ended_at": "2026-01-01T00:00:40Z",
    }
    d = mlm.Deployment._from(raw)
    assert d.phase is mlm.PhaseName.ROLLED_BACK and d.done
    assert d.alarm == "errors"
    assert [c.phase for c in d.timeline] == [mlm.PhaseName.PROVISIONING, mlm.PhaseName.SHIFTING]
    assert d.timeline[1].percent == 10
    assert d.to_dict()["kind"] == "update"
