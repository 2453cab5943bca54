"""Every client method against the local backend, with real instance processes of the
example AG_NEWS classifier."""

from __future__ import annotations

import io
import os
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List

import pytest

import mlm
from mlm._progress import ProgressDisplay

from conftest import BUSINESS, EXAMPLE, MODEL_DIR, RUNTIME, SPORTS, local_config


# ---- models -------------------------------------------------------------------------------


def test_model_lifecycle(client: mlm.Client) -> None:
    model = client.create_model("churn", description="who leaves", tags={"team": "growth"})
    assert model.name == "churn"
    assert model.description == "who leaves"
    assert model.tags == {"team": "growth"}
    assert model.latest_version is None
    assert model.created_at.tzinfo is not None
    assert model.created_at <= datetime.now(timezone.utc)

    assert client.get_model("churn") == model

    updated = client.update_model("churn", description="customers who leave")
    assert updated.description == "customers who leave"
    assert updated.tags == {"team": "growth"}
    assert client.update_model("churn", tags={}).tags == {}
    assert client.update_model("churn", description="").description is None

    client.delete_model("churn")
    with pytest.raises(mlm.NotFoundError) as info:
        client.get_model("churn")
    assert info.value.resource_kind == "model"
    assert info.value.resource_name == "churn"


def test_model_errors(client: mlm.Client) -> None:
    client.create_model("dup")
    with pytest.raises(mlm.AlreadyExistsError, match="model 'dup' already exists"):
        client.create_model("dup")
    with pytest.raises(mlm.InvalidArgumentError) as info:
        client.create_model("not a valid name!")
    assert isinstance(info.value, ValueError)
    # The class says the kind: the message says it neither once nor twice.
    message = str(info.value)
    assert "invalid argument" not in message, message
    assert message.count("create_model") <= 1, message
    assert "not a valid name!" in message, message
    with pytest.raises(mlm.InvalidArgumentError, match="reserved prefix"):
        client.create_model("tagged", tags={"mlm:managed": "yes"})
    with pytest.raises(mlm.InvalidArgumentError, match="changes nothing"):
        client.update_model("dup")
    with pytest.raises(mlm.NotFoundError):
        client.delete_model("missing")


def test_list_models_pages_lazily(client: mlm.Client) -> None:
    names = [f"m{i:02d}" for i in range(7)]
    for name in reversed(names):
        client.create_model(name)

    pager = client.list_models(page_size=3)
    pages = list(pager.pages())
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert pages[-1].next_page_token is None
    assert all(p.next_page_token for p in pages[:-1])
    assert [m.name for m in pager] == names
    assert pager.to_list() == list(pager)

    # Taking the first item fetches only the first page.
    fetched: List[str] = []
    real = client._native.list_models

    def counting(page_size: object = None, page_token: object = None) -> object:
        fetched.append(str(page_token))
        return real(page_size, page_token)  # type: ignore[arg-type]

    client._native = _Proxy(client._native, list_models=counting)  # type: ignore[assignment]
    first = next(iter(client.list_models(page_size=3)))
    assert first.name == "m00"
    assert fetched == ["None"]


class _Proxy:
    """Wraps the native client, replacing some methods (to count calls)."""

    def __init__(self, inner: object, **methods: object) -> None:
        self._inner = inner
        self._methods = methods

    def __getattr__(self, name: str) -> object:
        return self._methods.get(name) or getattr(self._inner, name)


def test_page_size_is_validated(client: mlm.Client) -> None:
    with pytest.raises(mlm.InvalidArgumentError, match="page_size 500"):
        client.list_models(page_size=500).to_list()


# ---- versions -----------------------------------------------------------------------------


def test_version_lifecycle(client: mlm.Client) -> None:
    client.create_model("news")
    v1 = client.create_version(
        "news",
        MODEL_DIR,
        RUNTIME,
        environment={"LOG_LEVEL": "info"},
        description="baseline",
    )
    assert (v1.model, v1.version) == ("news", 1)
    assert v1.approval is mlm.Approval.PENDING
    assert v1.approval == "pending"
    assert v1.image == RUNTIME
    assert v1.environment == {"LOG_LEVEL": "info"}
    assert v1.artifact_digest and v1.artifact_digest.startswith("sha256:")
    assert str(v1.ref) == "news/1"

    v2 = client.create_version("news", str(MODEL_DIR), RUNTIME, approval="approved")
    assert v2.version == 2
    assert v2.approval is mlm.Approval.APPROVED
    assert client.get_model("news").latest_version == 2

    assert client.get_version("news", 1) == v1
    assert [v.version for v in client.list_versions("news", page_size=1)] == [1, 2]

    approved = client.update_version("news", 1, approval=mlm.Approval.APPROVED)
    assert approved.approval is mlm.Approval.APPROVED
    described = client.update_version("news", 1, description="the first one")
    assert described.description == "the first one"
    assert described.approval is mlm.Approval.APPROVED

    with pytest.raises(mlm.InvalidArgumentError, match="approval 'maybe'"):
        client.update_version("news", 1, approval="maybe")
    with pytest.raises(mlm.FailedPreconditionError):
        client.delete_model("news")  # it still has versions

    client.delete_version("news", 2)
    with pytest.raises(mlm.NotFoundError) as info:
        client.get_version("news", 2)
    assert info.value.resource_kind == "model version"


def test_version_errors(client: mlm.Client, tmp_path: Path) -> None:
    with pytest.raises(mlm.NotFoundError):
        client.create_version("ghost", str(MODEL_DIR), RUNTIME)
    client.create_model("news")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(mlm.MlmError) as info:
        client.create_version("news", str(outside), RUNTIME)
    assert info.value.kind in {"invalid_argument", "permission_denied"}
    with pytest.raises(mlm.InvalidArgumentError, match="environment variable name"):
        client.create_version("news", str(MODEL_DIR), RUNTIME, environment={"1BAD": "x"})


# ---- endpoints ----------------------------------------------------------------------------


def test_endpoint_lifecycle(client: mlm.Client, version: mlm.ModelVersion) -> None:
    created = client.create_endpoint("news", version, instance_type="ml.m5.large")
    assert created.name == "news"
    assert created.status in {mlm.EndpointStatus.CREATING, mlm.EndpointStatus.IN_SERVICE}

    seen: List[mlm.Endpoint] = []
    ready = client.wait_until_ready("news", timeout=60, progress=seen.append)
    assert ready.ready and ready.status is mlm.EndpointStatus.IN_SERVICE
    assert seen and seen[-1].status is mlm.EndpointStatus.IN_SERVICE
    assert ready.variants[0].name == "primary"
    assert ready.variants[0].model_version == version.ref
    assert ready.variants[0].instance_type == "ml.m5.large"
    assert ready.current_instance_count == 1

    assert client.get_endpoint("news") == ready
    assert [e.name for e in client.list_endpoints()] == ["news"]

    # Invoke: dict as JSON, str as text, bytes as they are.
    answer = client.invoke("news", {"sentence": SPORTS})
    assert answer.content_type == "application/json"
    assert answer.variant == "primary"
    assert answer.json()["category"] == "Sports"
    assert client.invoke("news", BUSINESS).json()["category"] == "Business"
    raw = client.invoke("news", b'{"sentence": "Oil prices hit a record high"}', "application/json")
    assert raw.json()["category"] == "Business"
    assert "Business" in raw.text

    # Scale.
    scaled = client.update_endpoint("news", instance_count=2, wait=True, progress=False)
    assert scaled.variants[0].desired_instance_count == 2
    assert scaled.current_instance_count == 2
    instances = client.instances("news")
    assert len(instances) == 2
    assert {i.status for i in instances} == {mlm.InstanceStatus.IN_SERVICE}
    assert all(i.variant == "primary" for i in instances)

    # Instance type.
    moved = client.update_endpoint("news", instance_type="ml.c5.xlarge", wait=True, progress=False)
    assert moved.variants[0].instance_type == "ml.c5.xlarge"
    assert moved.variants[0].desired_instance_count == 2

    # Version, as a number of the variant's current model.
    v2 = client.create_version("news", str(MODEL_DIR), RUNTIME)
    redeployed = client.update_endpoint("news", version=2, wait=True, progress=False)
    assert redeployed.variants[0].model_version == v2.ref
    with pytest.raises(mlm.FailedPreconditionError):
        client.delete_version("news", 2)  # deployed

    client.delete_endpoint("news", wait=True)
    with pytest.raises(mlm.NotFoundError):
        client.get_endpoint("news")
    assert client.list_endpoints().to_list() == []


def test_events_timeline(client: mlm.Client, version: mlm.ModelVersion) -> None:
    client.create_endpoint("timeline", version, instance_type="ml.m5.large", wait=True)
    start = datetime.now(timezone.utc)
    recorded = client.record_event(
        "timeline", "load_test", "10 s, 4 clients: p50 3.5 ms", data={"p50_ms": 3.5}
    )
    assert recorded.source is mlm.EventSource.USER
    assert recorded.data == {"p50_ms": 3.5}

    events = client.list_events("timeline").to_list()
    assert events[0] == recorded  # newest first
    system = [e for e in events if e.source is mlm.EventSource.SYSTEM]
    assert "in_service" in {e.kind for e in system}
    assert [e.id for e in client.list_events("timeline", kind="load_test")] == [recorded.id]
    assert client.list_events("timeline", since=start).to_list() == [recorded]
    table = client.list_events("timeline", page_size=1).to_pandas()
    assert list(table.columns) == ["at", "kind", "source", "message"]
    assert len(table) == len(events)

    with pytest.raises(mlm.InvalidArgumentError, match="event kind"):
        client.record_event("timeline", "Load Test", "x")
    with pytest.raises(mlm.InvalidArgumentError, match="timezone-aware"):
        client.list_events("timeline", since=datetime.now())
    with pytest.raises(mlm.NotFoundError):
        client.record_event("missing", "load_test", "x")
    client.delete_endpoint("timeline", wait=True)


def test_data_capture_reads_back_sagemaker_records(
    client: mlm.Client, version: mlm.ModelVersion
) -> None:
    capture = {"destination_uri": "file:news", "sampling_percent": 100}
    client.create_endpoint(
        "captured", version, instance_type="ml.m5.large", data_capture=capture, wait=True
    )
    assert client.get_endpoint("captured").data_capture["sampling_percent"] == 100
    for sentence in (SPORTS, BUSINESS):
        client.invoke("captured", {"sentence": sentence})
    records = client.list_captures("captured").to_list()
    assert [r.variant for r in records] == ["primary", "primary"]
    assert [r.input.bytes for r in records] == [
        f'{{"sentence": "{s}"}}'.encode() for s in (SPORTS, BUSINESS)
    ]
    assert records[0].input.observed_content_type == "application/json"
    assert b"Sports" in records[0].output.bytes
    assert records[0].raw["captureData"]["endpointInput"]["mode"] == "INPUT"
    with pytest.raises(mlm.InvalidArgumentError):
        now = datetime.now(timezone.utc)
        client.list_captures("captured", start=now, end=now - timedelta(hours=1)).to_list()
    client.delete_endpoint("captured", wait=True)


def test_canary_rollback_as_in_the_readme(client: mlm.Client, version: mlm.ModelVersion) -> None:
    """The README's guarded rollout: a version answering 500 under a canary with a 5xx alarm
    is rolled back, the wait raises RolledBackError, the old version keeps serving."""
    client.create_endpoint("news", version, instance_type="ml.m5.large", wait=True, progress=False)
    alarm = client.put_alarm("news", "errors", metric="invocation_errors_5xx", comparison=">",
                             threshold=0, period_seconds=10, treat_missing_data="not_breaching")
    assert alarm.statistic is mlm.Statistic.SUM and alarm.datapoints_to_alarm == 1
    assert [a.name for a in client.list_alarms("news")] == ["errors"]
    bad = client.create_version("news", str(MODEL_DIR), RUNTIME,
                                environment={"MLM_EXAMPLE_ERROR_RATE": "1"})
    policy = mlm.policies.canary(10, bake_seconds=30, rollback_alarms=["errors"])
    started = client.update_endpoint("news", version=bad, deployment=policy)
    assert started.last_deployment is not None
    deployment_id = started.last_deployment.id
    # Traffic while the canary runs, so the alarm sees the 5xx answers.
    while not client.get_deployment("news", deployment_id).done:
        try:
            client.invoke("news", {"sentence": SPORTS})
        except mlm.MlmError:
            pass
    with pytest.raises(mlm.RolledBackError, match="errors"):
        client.wait_until_ready("news", timeout=60, progress=False)
    newest = next(iter(client.list_deployments("news")))
    assert newest.id == deployment_id
    assert newest.phase is mlm.PhaseName.ROLLED_BACK and newest.alarm == "errors"
    assert (mlm.PhaseName.SHIFTING, 10) in [(c.phase, c.percent) for c in newest.timeline]
    assert client.get_endpoint("news").variants[0].model_version == version.ref
    assert client.invoke("news", {"sentence": SPORTS}).json()["category"] == "Sports"
    with pytest.raises(mlm.FailedPreconditionError):
        client.stop_deployment("news", deployment_id)
    with pytest.raises(mlm.InvalidArgumentError, match="canary percent"):
        client.update_endpoint("news", version=bad, deployment=mlm.policies.canary(60, 10))
    client.delete_alarm("news", "errors")
    with pytest.raises(mlm.NotFoundError):
        client.get_alarm("news", "errors")


def test_two_variants_weights_and_replacement(
    client: mlm.Client, version: mlm.ModelVersion
) -> None:
    v2 = client.create_version("news", str(MODEL_DIR), RUNTIME)
    endpoint = client.create_endpoint(
        "ab",
        variants=[
            mlm.VariantSpec("a", version, instance_type="ml.m5.large"),
            {"name": "b", "version": "news/2", "instance_type": "ml.m5.large", "weight": 0.0},
        ],
        wait=True,
        progress=False,
    )
    assert [v.name for v in endpoint.variants] == ["a", "b"]
    assert endpoint.variant("b").weight == 0.0
    assert endpoint.variant("b").model_version == v2.ref

    # All traffic to b: only b answers.
    weighted = client.update_endpoint("ab", weights={"a": 0.0, "b": 1.0}, wait=True, progress=False)
    assert (weighted.variant("a").weight, weighted.variant("b").weight) == (0.0, 1.0)
    assert {client.invoke("ab", SPORTS).variant for _ in range(5)} == {"b"}
    # A target variant overrides the weights.
    assert client.invoke("ab", SPORTS, variant="a").variant == "a"
    # Without variant=, a change is to the only variant: with two, the core says which exist.
    with pytest.raises(mlm.InvalidArgumentError, match=r"has 2 variants \(a, b\)"):
        client.update_endpoint("ab", instance_count=2)

    # Replace the variant set.
    replaced = client.update_endpoint(
        "ab",
        variants=[mlm.VariantSpec("c", v2, instance_type="ml.m5.large", instance_count=1)],
        wait=True,
        progress=False,
    )
    assert [v.name for v in replaced.variants] == ["c"]
    with pytest.raises(mlm.NotFoundError, match="has no variant 'a'"):
        replaced.variant("a")
    # The shorthand scales the only variant whatever it is called (it assumed "primary").
    scaled = client.update_endpoint("ab", instance_count=2, wait=True, progress=False)
    assert scaled.variant("c").desired_instance_count == 2


def test_serverless_variant_cold_starts_and_keeps_its_config(
    client: mlm.Client, version: mlm.ModelVersion
) -> None:
    sls = mlm.ServerlessConfig(memory_mb=2048, max_concurrency=2, provisioned_concurrency=None)
    endpoint = client.create_endpoint(
        "sls",
        variants=[mlm.VariantSpec("primary", version, serverless=sls, instance_count=0)],
        wait=True,
        progress=False,
    )
    variant = endpoint.variant("primary")
    assert variant.serverless == sls
    # No instance until the first request, which waits for a cold start.
    assert variant.current_instance_count == 0
    assert client.invoke("sls", SPORTS).json()["category"] == "Sports"
    assert client.get_endpoint("sls").variant("primary").current_instance_count == 1
    with pytest.raises(mlm.InvalidArgumentError, match="provisioned_concurrency 3"):
        client.create_endpoint(
            "bad",
            variants=[
                mlm.VariantSpec(
                    "primary", version, serverless=mlm.ServerlessConfig(2048, 2, 3), instance_count=0
                )
            ],
        )


def test_endpoint_argument_errors(client: mlm.Client, version: mlm.ModelVersion) -> None:
    with pytest.raises(mlm.InvalidArgumentError, match="needs version= and instance_type="):
        client.create_endpoint("e", version)
    with pytest.raises(mlm.InvalidArgumentError, match="say which model"):
        client.create_endpoint("e", 1, instance_type="ml.m5.large")
    with pytest.raises(mlm.InvalidArgumentError, match="instance_count 0"):
        client.create_endpoint("e", version, instance_type="ml.m5.large", instance_count=0)
    with pytest.raises(mlm.InvalidArgumentError, match="not both"):
        client.create_endpoint("e", version, instance_type="t", variants=[])
    with pytest.raises(mlm.NotFoundError):
        client.create_endpoint("e", "news/9", instance_type="ml.m5.large")
    with pytest.raises(mlm.InvalidArgumentError, match="changes nothing"):
        client.update_endpoint("e")
    with pytest.raises(mlm.NotFoundError):
        client.update_endpoint("missing", instance_count=2)
    with pytest.raises(mlm.InvalidArgumentError, match="not of the form"):
        client.create_endpoint("e", "news-1", instance_type="ml.m5.large")

    client.create_endpoint("e", version, instance_type="ml.m5.large", wait=True, progress=False)
    with pytest.raises(mlm.AlreadyExistsError):
        client.create_endpoint("e", version, instance_type="ml.m5.large")
    with pytest.raises(mlm.InvalidArgumentError, match="has no variant 'blue'"):
        client.update_endpoint("e", variant="blue", instance_count=2)
    with pytest.raises(mlm.InvalidArgumentError):
        client.invoke("e", object())  # type: ignore[arg-type]


def test_update_while_updating_is_a_failed_precondition(
    client: mlm.Client, version: mlm.ModelVersion
) -> None:
    client.create_endpoint("busy", version, instance_type="ml.m5.large", wait=True, progress=False)
    client.update_endpoint("busy", instance_type="ml.c5.xlarge")
    try:
        with pytest.raises(mlm.FailedPreconditionError):
            client.update_endpoint("busy", instance_count=3)
    finally:
        client.wait_until_ready("busy", timeout=60, progress=False)


def test_failed_endpoint_wait_raises_with_reason(data_dir: Path) -> None:
    config = local_config(startup_timeout_secs=5)
    config["runtimes"]["broken"] = {
        "command": "python3",
        "args": ["-I", str(EXAMPLE / "serve.py")],
        "env": {"MLM_EXAMPLE_FAIL_START": "simulated start failure"},
    }
    with mlm.Client.local(data_dir, config) as client:
        client.create_model("news")
        v = client.create_version("news", str(MODEL_DIR), "broken")
        client.create_endpoint("broken", v, instance_type="ml.m5.large")
        # A create whose instances never start is a failed deployment.
        with pytest.raises(mlm.DeploymentFailedError, match="broken"):
            client.wait_until_ready("broken", timeout=60, progress=False)
        assert client.get_endpoint("broken").status is mlm.EndpointStatus.FAILED
        client.delete_endpoint("broken", wait=True)


def test_wait_times_out_naming_the_status(data_dir: Path) -> None:
    # Deleting an endpoint that is still starting waits for the startup to end (mlm-local):
    # a short startup timeout keeps the test short.
    config = local_config(startup_timeout_secs=3)
    config["runtimes"]["slow"] = {"command": "python3", "args": ["-c", "import time; time.sleep(60)"]}
    with mlm.Client.local(data_dir, config) as client:
        client.create_model("news")
        v = client.create_version("news", str(MODEL_DIR), "slow")
        client.create_endpoint("slow", v, instance_type="ml.m5.large")
        with pytest.raises(mlm.TimeoutError, match="still Creating") as info:
            client.wait_until_ready("slow", timeout=1, progress=False)
        assert isinstance(info.value, TimeoutError)  # the builtin
        assert info.value.retryable
        client.delete_endpoint("slow", wait=True)


def test_progress_display_lines(client: mlm.Client, version: mlm.ModelVersion) -> None:
    out = io.StringIO()
    display = ProgressDisplay("news", "creating", stream=out)
    client.create_endpoint("news", version, instance_type="ml.m5.large", wait=True, progress=display)
    display.done()
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("creating endpoint 'news': ")
    assert "InService, 1/1 instances" in lines[-1]
    assert lines[-1].endswith(" done")
    assert display.statuses[-1] == "InService"
    assert all(line.startswith("creating endpoint 'news'") for line in lines)

    # Deleting with wait=True shows its progress the same way.
    out = io.StringIO()
    deleting = ProgressDisplay("news", "deleting", stream=out)
    client.delete_endpoint("news", wait=True, progress=deleting)
    deleting.done()
    assert "Deleting" in deleting.statuses, out.getvalue()
    assert out.getvalue().splitlines()[-1].startswith("deleting endpoint 'news': Deleting")


def test_progress_in_a_notebook_has_a_plain_text_form(
    client: mlm.Client, version: mlm.ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in IPython kernel that records what is displayed.
    shown: List[Any] = []

    class Handle:
        def update(self, obj: Any, raw: bool = False) -> None:
            shown.append((obj, raw))

    def display(obj: Any, raw: bool = False, display_id: bool = False) -> Handle:
        shown.append((obj, raw))
        return Handle()

    kernel = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: kernel  # type: ignore[attr-defined]
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    client.create_endpoint("news", version, instance_type="ml.m5.large", wait=True)
    bundle, raw = shown[-1]
    assert raw is True
    # Frontends without HTML show the words, not "<IPython.core.display.HTML object>".
    assert bundle["text/plain"].startswith("creating endpoint 'news': ")
    assert bundle["text/plain"].endswith(" done")
    assert bundle["text/html"].startswith("<code>creating endpoint")


def test_progress_display_default_goes_to_stderr(
    client: mlm.Client, version: mlm.ModelVersion, capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_endpoint("news", version, instance_type="ml.m5.large", wait=True)
    err = capsys.readouterr().err
    assert "creating endpoint 'news': Creating -> InService" in err
    assert err.rstrip().endswith("done")
    assert "[" in err and "s]" in err  # elapsed time


# ---- observability ------------------------------------------------------------------------


def test_instances_overview_and_metrics(client: mlm.Client, version: mlm.ModelVersion) -> None:
    client.create_endpoint(
        "news", version, instance_type="ml.m5.large", instance_count=2, wait=True, progress=False
    )
    for _ in range(5):
        client.invoke("news", {"sentence": SPORTS})

    instances = client.instances("news")
    assert isinstance(instances, mlm.InstanceTable)
    assert len(instances) == 2
    ids = sorted(i.id for i in instances)
    assert ids == ["primary-1", "primary-2"]
    html = instances._repr_html_()
    assert html.startswith("<table>") and "primary-1" in html
    assert "primary-1" in repr(instances)

    overview = client.overview("news")
    assert overview.name == "news"
    assert overview.status is mlm.EndpointStatus.IN_SERVICE
    assert overview.instance_count == 2
    assert overview.as_of.tzinfo is not None
    assert "<table>" in overview._repr_html_()

    everything = client.overview()
    assert [o.name for o in everything] == ["news"]

    metrics = client.metrics(
        "news",
        ["invocations", mlm.MetricKind.MODEL_LATENCY],
        window=timedelta(minutes=5),
        period=60,
        statistic="sum",
    )
    assert {s.kind for s in metrics} == {mlm.MetricKind.INVOCATIONS, mlm.MetricKind.MODEL_LATENCY}
    invocations = metrics.series("invocations")
    assert sum(sum(s.values) for s in invocations) == 5
    assert all(s.statistic is mlm.Statistic.SUM for s in metrics)
    assert all(p.timestamp.tzinfo is not None for s in metrics for p in s.points)

    # Without a statistic each metric is combined its own way: the 5 invocations read 5 (a sum),
    # not 1.0 per bucket (an average of per-request 1s), and latency is an average.
    default = client.metrics("news", ["invocations", "model_latency"], window=300)
    assert sum(sum(s.values) for s in default.series("invocations")) == 5
    assert {s.statistic for s in default.series("invocations")} == {mlm.Statistic.SUM}
    assert {s.statistic for s in default.series("model_latency")} == {mlm.Statistic.AVERAGE}
    per_instance = client.metrics("news", "cpu_utilization", window=300, period=10, instance="primary-1")
    assert all(s.instance in (None, "primary-1") for s in per_instance)

    with pytest.raises(mlm.InvalidArgumentError, match="not a metric|is not a valid MetricKind"):
        client.metrics("news", "vibes")
    with pytest.raises(mlm.InvalidArgumentError, match="points per series"):
        client.metrics("news", "invocations", window=timedelta(days=2), period=1)
    with pytest.raises(mlm.NotFoundError):
        client.overview("missing")


def test_to_pandas(client: mlm.Client, version: mlm.ModelVersion) -> None:
    import pandas  # installed by requirements-test.txt: this test must run, not skip
    frame = client.list_models().to_pandas()
    assert list(frame["name"]) == ["news"]
    client.create_endpoint("news", version, instance_type="ml.m5.large", wait=True, progress=False)
    instances = client.instances("news").to_pandas()
    assert len(instances) == 1
    # No GPU here: the figure is missing, and missing is NaN in a numeric column, not None.
    assert instances["gpu_utilization"].dtype.kind == "f"
    assert instances["gpu_utilization"].isna().all()
    assert isinstance(client.metrics("news").to_pandas(), pandas.DataFrame)


def test_to_pandas_without_pandas_says_how_to_get_it(
    client: mlm.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pandas is installed for the test above; a None entry makes `import pandas` fail as if
    # it were not.
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        client.list_models().to_pandas()


# ---- the client itself --------------------------------------------------------------------


def test_capabilities_and_repr(client: mlm.Client, data_dir: Path) -> None:
    caps = client.capabilities
    assert caps.per_instance_metrics is True
    assert caps.serverless is True
    assert client.kind == "local"
    assert client.target == str(data_dir)
    assert repr(client) == f"<Client local {data_dir}>"
    page = client._repr_html_()
    assert "<b>mlm.Client</b>" in page and "per_instance_metrics" in page
    client.create_model("shown")
    version = client.create_version("shown", str(MODEL_DIR), RUNTIME, environment={"A": "<b>"})
    page = version._repr_html_()
    assert "Model version shown/1" in page and "A=&lt;b&gt;" in page


def test_dashboards_are_unsupported_locally(client: mlm.Client, version: mlm.ModelVersion) -> None:
    assert client.capabilities.dashboards is False
    client.create_endpoint("watched", version, instance_type="ml.m5.large", wait=True)
    for call in (client.put_dashboard, client.get_dashboard):
        with pytest.raises(mlm.UnsupportedError, match="no dashboards"):
            call("watched")


def test_closed_client_and_reopen_recovers_endpoints(data_dir: Path) -> None:
    client = mlm.Client.local(data_dir, local_config())
    client.create_model("news")
    v = client.create_version("news", str(MODEL_DIR), RUNTIME)
    client.create_endpoint("news", v, instance_type="ml.m5.large", wait=True, progress=False)

    # The data directory is locked while the client is open.
    with pytest.raises(mlm.FailedPreconditionError, match=r"in use.*\.close\(\)"):
        mlm.Client.local(data_dir, local_config())

    client.close()
    client.close()  # harmless
    assert client.closed
    with pytest.raises(mlm.FailedPreconditionError, match="closed"):
        client.get_model("news")

    with mlm.Client.local(data_dir, local_config()) as again:
        ready = again.wait_until_ready("news", timeout=60, progress=False)
        assert ready.current_instance_count == 1
        assert again.invoke("news", {"sentence": SPORTS}).json()["category"] == "Sports"
        again.delete_endpoint("news", wait=True)
    assert again.closed


def test_config_from_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "mlm.toml"
    config.write_text(
        "[server]\nbind = \"127.0.0.1:9999\"\n"
        "[local]\n"
        f"data_dir = {str(tmp_path / 'from-file')!r}\n"
        f"artifact_roots = [{str(EXAMPLE)!r}]\n"
        f"[local.runtimes.{RUNTIME}]\ncommand = \"python3\"\n"
        f"args = ['-I', {str(EXAMPLE / 'serve.py')!r}]\n"
    )
    with mlm.Client.local(config=config) as client:
        assert client.target == str(tmp_path / "from-file")
        client.create_model("news")
        client.create_version("news", str(MODEL_DIR), RUNTIME)
        cleanup_models(client)

    # data_dir overrides the file's.
    with mlm.Client.local(tmp_path / "override", str(config)) as client:
        assert client.target == str(tmp_path / "override")

    bad = tmp_path / "bad.toml"
    bad.write_text("artifact_rots = []\n")
    with pytest.raises(mlm.InvalidArgumentError, match="artifact_rots"):
        mlm.Client.local(tmp_path / "x", bad)
    with pytest.raises(mlm.InvalidArgumentError, match="cannot read"):
        mlm.Client.local(tmp_path / "x", tmp_path / "missing.toml")
    with pytest.raises(mlm.InvalidArgumentError, match="unknown field"):
        mlm.Client.local(tmp_path / "x", {"no_such_field": 1})


def cleanup_models(client: mlm.Client) -> None:
    for model in client.list_models():
        for v in client.list_versions(model.name):
            client.delete_version(model.name, v.version)
        client.delete_model(model.name)


def test_default_config_finds_the_example_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like `mlm serve` without a config: from the repository (or below it), the example
    # runtime and the examples folder are registered.
    monkeypatch.chdir(EXAMPLE)
    with mlm.Client.local(tmp_path / "data") as client:
        client.create_model("news")
        v = client.create_version("news", str(MODEL_DIR), RUNTIME)
        assert v.image == RUNTIME
        cleanup_models(client)


def test_garbage_collected_client_releases_its_data_dir(data_dir: Path) -> None:
    import gc

    client = mlm.Client.local(data_dir, local_config())
    del client
    gc.collect()
    mlm.Client.local(data_dir, local_config()).close()


def test_blocking_calls_release_the_gil(client: mlm.Client) -> None:
    import threading
    import time

    client.create_model("slow")
    # The example model answers after 300 ms with this knob.
    v = client.create_version(
        "slow", str(MODEL_DIR), RUNTIME, environment={"MLM_EXAMPLE_DELAY_MS": "300"}
    )
    client.create_endpoint("slow", v, instance_type="ml.m5.large", wait=True, progress=False)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        before = ticks
        started = time.monotonic()
        assert client.invoke("slow", SPORTS).json()["category"] == "Sports"
        assert time.monotonic() - started >= 0.3
        # Python code ran in the other thread while the main thread waited for the model.
        assert ticks - before > 50
    finally:
        stop.set()
        thread.join()


def test_environment_is_untouched() -> None:
    # The tests import the installed wheel, not the source tree.
    assert "site-packages" in os.path.dirname(mlm.__file__)


def test_push_version_packs_uploads_and_registers(
    client: mlm.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Outside every artifact root: packing happens on the caller's side.
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for f in MODEL_DIR.iterdir():
        (model_dir / f.name).write_bytes(f.read_bytes())
    seen: List[Any] = []
    pushed = client.push_version(
        model_dir, "pushed", RUNTIME, approval="approved", progress=lambda s, t: seen.append((s, t))
    )
    assert isinstance(pushed, mlm.PushedVersion)
    assert pushed.model_created and pushed.files == 2
    assert pushed.version.version == 1 and pushed.version.approval is mlm.Approval.APPROVED
    assert pushed.version.artifact_uri == pushed.artifact.uri
    assert pushed.artifact.digest.startswith("sha256:") and not pushed.artifact.reused
    assert seen and seen[-1] == (pushed.artifact.bytes, pushed.artifact.bytes)

    again = client.push_version(str(model_dir), "pushed", RUNTIME)
    assert again.artifact.reused and again.version.version == 2
    assert again.artifact.digest == pushed.artifact.digest
    assert "uploading model 'pushed'" in capsys.readouterr().err

    endpoint = client.create_endpoint("pushed", again.version, instance_type="ml.m5.large", wait=True, progress=False)
    assert endpoint.status is mlm.EndpointStatus.IN_SERVICE
    assert client.invoke("pushed", {"sentence": SPORTS}).json()["category"] == "Sports"
    with pytest.raises(mlm.InvalidArgumentError, match="not a directory"):
        client.push_version(tmp_path / "missing", "pushed", RUNTIME, progress=False)
    with pytest.raises(mlm.InvalidArgumentError, match="no destination"):
        client.push_version(model_dir, "pushed", RUNTIME, destination="s3://b/p", progress=False)
    with pytest.raises(TypeError):
        client.push_version(model_dir, "pushed", RUNTIME, progress="yes")  # type: ignore[arg-type]
