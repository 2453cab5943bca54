"""The asyncio client: :class:`AsyncClient`, with the same methods as :class:`mlm.Client`
as coroutines.

The Rust core runs on its own runtime threads, so awaiting never blocks the event loop;
cancelling an awaiting task cancels the call. Lists return :class:`AsyncPager`\\ s
(``async for``)::

    async with await mlm.aio.AsyncClient.local() as client:
        model = await client.create_model("news")
        async for m in client.list_models():
            print(m.name)
"""

from __future__ import annotations

import os
import weakref
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, List, Mapping, Optional, TypeVar, Union, overload

from . import _mlm
from . import _requests as req
from ._paging import AsyncPager
from ._progress import ProgressArg, UploadProgressArg, make_progress, make_upload_progress
from ._requests import Body, PipelineSource, Samples, VersionLike
from .client import (
    DEFAULT_METRIC_KINDS,
    DEFAULT_TIMEOUT,
    ConfigArg,
    MetricKinds,
    Seconds,
    Variants,
    _aws_config,
    _Base,
    _close_native,
    _event_since,
    _config_args,
    _hint_in_use,
    _page,
)
from .errors import FailedPreconditionError
from .types import (
    Alarm,
    Approval,
    Baseline,
    DriftReport,
    CapturedRecord,
    Comparison,
    Dashboard,
    Deployment,
    Endpoint,
    EndpointEvent,
    EndpointOverview,
    InstanceTable,
    InvokeResult,
    MetricSeries,
    Metrics,
    Model,
    ModelVersion,
    MetricKind,
    PushedVersion,
    Page,
    Pipeline,
    PipelinePlan,
    PipelineRun,
    Statistic,
    TreatMissingData,
    VersionRef,
)

__all__ = ["AsyncClient", "AsyncPager"]

T = TypeVar("T")


async def _run(op: _mlm.Operation, on_progress: Optional[Callable[[Any], None]] = None) -> Any:
    return await op.awaitable(on_progress)


async def _watch(op: _mlm.Operation, endpoint: str, progress: ProgressArg, action: str) -> Any:
    """Awaits a native wait operation, showing its progress as ``progress`` asks."""
    callback, display = make_progress(progress, endpoint, action)
    finished = False

    def on_progress(raw: Any) -> None:
        # Events may still be queued on the loop when the wait has ended.
        if callback is not None and not finished:
            callback(Endpoint._from(raw))

    try:
        raw = await _run(op, on_progress if callback is not None else None)
    except BaseException as e:
        finished = True
        if display is not None:
            display.failed(e)
        raise
    finished = True
    if display is not None:
        display.done()
    return raw


class AsyncClient(_Base):
    """An asyncio mlm client; build it with ``await AsyncClient.local(...)``, ``.http(...)``
    or ``.aws(...)``, or take :attr:`mlm.Client.aio` of a blocking client."""

    def __init__(self, native: _mlm.NativeClient, *, owned: bool = False) -> None:
        """Wraps a native client; an ``owned`` one is closed when this object is collected."""
        self._native = native
        self._finalizer = weakref.finalize(self, _close_native, native) if owned else None

    @classmethod
    async def local(
        cls,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        config: ConfigArg = None,
    ) -> "AsyncClient":
        """The embedded backend; see :meth:`mlm.Client.local`."""
        data = None if data_dir is None else os.fspath(data_dir)
        try:
            native = await _run(_mlm.NativeClient.open_local(data, **_config_args(config)))
        except FailedPreconditionError as e:
            raise _hint_in_use(e) from None
        return cls(native, owned=True)

    @classmethod
    async def http(
        cls,
        url: str,
        token: Optional[str] = None,
        *,
        ca_certificate: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> "AsyncClient":
        """A client of an ``mlm serve`` REST server; see :meth:`mlm.Client.http`."""
        ca = None if ca_certificate is None else os.fspath(ca_certificate)
        return cls(await _run(_mlm.NativeClient.open_http(url, token, ca)), owned=True)

    @classmethod
    async def aws(
        cls,
        region: Optional[str] = None,
        *,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        execution_role_arn: Optional[str] = None,
        max_attempts: Optional[int] = None,
        attempt_timeout: Optional[Seconds] = None,
        operation_timeout: Optional[Seconds] = None,
        invoke_timeout: Optional[Seconds] = None,
        enhanced_metrics: Optional[bool] = None,
        metrics_ttl: Optional[Seconds] = None,
        concurrency: Optional[int] = None,
    ) -> "AsyncClient":
        """AWS SageMaker; see :meth:`mlm.Client.aws` for the keywords."""
        config = _aws_config(
            region, profile, endpoint_url, execution_role_arn, max_attempts, attempt_timeout,
            operation_timeout, invoke_timeout, enhanced_metrics, metrics_ttl, concurrency,
        )
        return cls(await _run(_mlm.NativeClient.open_aws(config)), owned=True)

    async def aclose(self) -> None:
        """Closes the client (a local backend stops its instances)."""
        if self._finalizer is not None:
            self._finalizer.detach()
        await _run(self._native.close())

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- models ----

    async def create_model(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
    ) -> Model:
        """See :meth:`mlm.Client.create_model`."""
        return Model._from(
            await _run(self._native.create_model(req.create_model(name, description, tags)))
        )

    async def get_model(self, name: str) -> Model:
        """See :meth:`mlm.Client.get_model`."""
        return Model._from(await _run(self._native.get_model(name)))

    def list_models(self, *, page_size: Optional[int] = None) -> AsyncPager[Model]:
        """See :meth:`mlm.Client.list_models`."""

        async def fetch(token: Optional[str]) -> Page[Model]:
            return _page(Model._from, await _run(self._native.list_models(page_size, token)))

        return AsyncPager(fetch, "models")

    async def update_model(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
    ) -> Model:
        """See :meth:`mlm.Client.update_model`."""
        request = req.update_model(description, tags)
        return Model._from(await _run(self._native.update_model(name, request)))

    async def delete_model(self, name: str) -> None:
        """See :meth:`mlm.Client.delete_model`."""
        await _run(self._native.delete_model(name))

    # ---- versions ----

    async def create_version(
        self,
        model: str,
        artifact_uri: Union[str, "os.PathLike[str]"],
        image: str,
        *,
        environment: Optional[Mapping[str, str]] = None,
        approval: Optional[Union[Approval, str]] = None,
        description: Optional[str] = None,
    ) -> ModelVersion:
        """See :meth:`mlm.Client.create_version`."""
        request = req.create_version(model, artifact_uri, image, environment, approval, description)
        return ModelVersion._from(await _run(self._native.create_version(request)))

    async def push_version(
        self,
        dir: Union[str, "os.PathLike[str]"],
        model: str,
        image: str,
        *,
        environment: Optional[Mapping[str, str]] = None,
        approval: Optional[Union[Approval, str]] = None,
        description: Optional[str] = None,
        destination: Optional[str] = None,
        progress: UploadProgressArg = True,
    ) -> PushedVersion:
        """See :meth:`mlm.Client.push_version`."""
        request = req.create_version(model, "", image, environment, approval, description)
        on_progress = make_upload_progress(progress, f"model '{model}'")
        op = self._native.push_version(os.fspath(dir), request, destination)
        return PushedVersion._from(await _run(op, on_progress))

    async def get_version(self, model: str, version: int) -> ModelVersion:
        """See :meth:`mlm.Client.get_version`."""
        return ModelVersion._from(await _run(self._native.get_version(model, version)))

    def list_versions(
        self, model: str, *, page_size: Optional[int] = None
    ) -> AsyncPager[ModelVersion]:
        """See :meth:`mlm.Client.list_versions`."""

        async def fetch(token: Optional[str]) -> Page[ModelVersion]:
            raw = await _run(self._native.list_versions(model, page_size, token))
            return _page(ModelVersion._from, raw)

        return AsyncPager(fetch, f"versions of {model}")

    async def update_version(
        self,
        model: str,
        version: int,
        *,
        approval: Optional[Union[Approval, str]] = None,
        description: Optional[str] = None,
    ) -> ModelVersion:
        """See :meth:`mlm.Client.update_version`."""
        request = req.update_version(approval, description)
        return ModelVersion._from(
            await _run(self._native.update_version(model, version, request))
        )

    async def delete_version(self, model: str, version: int) -> None:
        """See :meth:`mlm.Client.delete_version`."""
        await _run(self._native.delete_version(model, version))

    # ---- endpoints ----

    async def create_endpoint(
        self,
        name: str,
        version: Optional[VersionLike] = None,
        *,
        model: Optional[str] = None,
        instance_type: Optional[str] = None,
        instance_count: int = 1,
        variant: str = req.DEFAULT_VARIANT,
        variants: Optional[Variants] = None,
        tags: Optional[Mapping[str, str]] = None,
        deployment: Optional[Mapping[str, Any]] = None,
        data_capture: Optional[Mapping[str, Any]] = None,
        wait: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
    ) -> Endpoint:
        """See :meth:`mlm.Client.create_endpoint`."""
        request = req.create_endpoint(
            name, version, model, instance_type, instance_count, variant, variants, tags,
            deployment, data_capture,
        )
        endpoint = Endpoint._from(await _run(self._native.create_endpoint(request)))
        if wait:
            return await self.wait_until_ready(
                name, timeout=timeout, progress=progress, _action="creating"
            )
        return endpoint

    async def get_endpoint(self, name: str) -> Endpoint:
        """See :meth:`mlm.Client.get_endpoint`."""
        return Endpoint._from(await _run(self._native.get_endpoint(name)))

    def list_endpoints(self, *, page_size: Optional[int] = None) -> AsyncPager[Endpoint]:
        """See :meth:`mlm.Client.list_endpoints`."""

        async def fetch(token: Optional[str]) -> Page[Endpoint]:
            raw = await _run(self._native.list_endpoints(page_size, token))
            return _page(Endpoint._from, raw)

        return AsyncPager(fetch, "endpoints")

    async def update_endpoint(
        self,
        name: str,
        *,
        instance_count: Optional[int] = None,
        instance_type: Optional[str] = None,
        version: Optional[VersionLike] = None,
        model: Optional[str] = None,
        variant: Optional[str] = None,
        weights: Optional[Mapping[str, float]] = None,
        variants: Optional[Variants] = None,
        deployment: Optional[Mapping[str, Any]] = None,
        wait: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
    ) -> Endpoint:
        """See :meth:`mlm.Client.update_endpoint`."""
        ref = None
        if version is not None:
            ref = req.version_ref(version, model)
            if ref is None:
                current = req.serving_model(await self.get_endpoint(name), variant)
                ref = VersionRef(current, int(version))  # type: ignore[arg-type, unused-ignore]
        request = req.update_endpoint(
            name, variant, instance_count, instance_type, ref, weights, variants, deployment
        )
        endpoint = Endpoint._from(await _run(self._native.update_endpoint(request)))
        if wait:
            return await self.wait_until_ready(
                name, timeout=timeout, progress=progress, _action="updating"
            )
        return endpoint

    async def delete_endpoint(
        self,
        name: str,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
    ) -> None:
        """See :meth:`mlm.Client.delete_endpoint`."""
        await _run(self._native.delete_endpoint(name))
        if wait:
            await self.wait_until_deleted(
                name, timeout=timeout, progress=progress, _action="deleting"
            )

    async def wait_until_ready(
        self,
        endpoint: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
        poll_interval: Optional[float] = None,
        _action: str = "waiting for",
    ) -> Endpoint:
        """See :meth:`mlm.Client.wait_until_ready`; cancelling the task stops the wait."""
        first, longest = self._intervals(poll_interval)
        op = self._native.wait_until_ready(endpoint, float(timeout), first, longest)
        return Endpoint._from(await _watch(op, endpoint, progress, _action))

    async def wait_until_deleted(
        self,
        endpoint: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
        _action: str = "waiting for",
    ) -> None:
        """See :meth:`mlm.Client.wait_until_deleted`."""
        first, longest = self._intervals(None)
        op = self._native.wait_until_deleted(endpoint, float(timeout), first, longest)
        await _watch(op, endpoint, progress, _action)

    async def invoke(
        self,
        endpoint: str,
        body: Body,
        content_type: Optional[str] = None,
        *,
        accept: Optional[str] = None,
        variant: Optional[str] = None,
    ) -> InvokeResult:
        """See :meth:`mlm.Client.invoke`."""
        data, ctype = req.invoke_body(body, content_type)
        raw = await _run(self._native.invoke(endpoint, data, ctype, accept, variant))
        return InvokeResult._from(raw)

    # ---- alarms ----

    async def put_alarm(
        self,
        endpoint: str,
        name: str,
        *,
        metric: Union[str, MetricKind],
        comparison: Union[str, Comparison],
        threshold: float,
        statistic: Union[str, Statistic, None] = None,
        period_seconds: int = 60,
        evaluation_periods: int = 1,
        datapoints_to_alarm: Optional[int] = None,
        treat_missing_data: Union[str, TreatMissingData] = TreatMissingData.MISSING,
        variant: Optional[str] = None,
        actions: Iterable[str] = (),
        description: Optional[str] = None,
    ) -> Alarm:
        """See :meth:`mlm.Client.put_alarm`."""
        definition = req.alarm(
            endpoint, name, metric, comparison, threshold, statistic, period_seconds,
            evaluation_periods, datapoints_to_alarm, treat_missing_data, variant, actions,
            description,
        )
        return Alarm._from(await _run(self._native.put_alarm(definition)))

    async def get_alarm(self, endpoint: str, name: str) -> Alarm:
        """See :meth:`mlm.Client.get_alarm`."""
        return Alarm._from(await _run(self._native.get_alarm(endpoint, name)))

    def list_alarms(self, endpoint: str, *, page_size: Optional[int] = None) -> AsyncPager[Alarm]:
        """See :meth:`mlm.Client.list_alarms`."""

        async def fetch(token: Optional[str]) -> Page[Alarm]:
            raw = await _run(self._native.list_alarms(endpoint, page_size, token))
            return _page(Alarm._from, raw)

        return AsyncPager(fetch, "alarms")

    async def delete_alarm(self, endpoint: str, name: str) -> None:
        """See :meth:`mlm.Client.delete_alarm`."""
        await _run(self._native.delete_alarm(endpoint, name))

    # ---- data capture ----

    def list_captures(
        self,
        endpoint: str,
        *,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
        window: Union[float, timedelta] = timedelta(hours=1),
        variant: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> AsyncPager[CapturedRecord]:
        """See :meth:`mlm.Client.list_captures`."""
        query = req.capture_query(endpoint, start, end, window, variant)

        async def fetch(token: Optional[str]) -> Page[CapturedRecord]:
            raw = await _run(self._native.list_captures(query, page_size, token))
            return _page(CapturedRecord._from, raw)

        return AsyncPager(fetch, "captures")

    # ---- drift ----

    async def create_baseline(
        self,
        endpoint: str,
        name: str,
        *,
        samples: Optional[Samples] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
        window: Union[float, timedelta] = timedelta(hours=1),
        variant: Optional[str] = None,
    ) -> Baseline:
        """See :meth:`mlm.Client.create_baseline`."""
        source = req.sample_source(samples, start, end, window, variant)
        return Baseline._from(await _run(self._native.create_baseline(endpoint, name, source)))

    async def get_baseline(self, endpoint: str, name: str) -> Baseline:
        """See :meth:`mlm.Client.get_baseline`."""
        return Baseline._from(await _run(self._native.get_baseline(endpoint, name)))

    def list_baselines(
        self, endpoint: str, *, page_size: Optional[int] = None
    ) -> AsyncPager[Baseline]:
        """See :meth:`mlm.Client.list_baselines`."""

        async def fetch(token: Optional[str]) -> Page[Baseline]:
            raw = await _run(self._native.list_baselines(endpoint, page_size, token))
            return _page(Baseline._from, raw)

        return AsyncPager(fetch, "baselines")

    async def delete_baseline(self, endpoint: str, name: str) -> None:
        """See :meth:`mlm.Client.delete_baseline`."""
        await _run(self._native.delete_baseline(endpoint, name))

    async def drift_report(
        self,
        endpoint: str,
        baseline: str,
        *,
        samples: Optional[Samples] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
        window: Union[float, timedelta] = timedelta(hours=1),
        variant: Optional[str] = None,
        thresholds: Optional[Mapping[str, Any]] = None,
    ) -> DriftReport:
        """See :meth:`mlm.Client.drift_report`."""
        source = req.sample_source(samples, start, end, window, variant)
        op = self._native.drift_report(endpoint, baseline, source, req.plain(thresholds))
        return DriftReport._from(await _run(op))

    # ---- deployments ----

    def list_deployments(
        self, endpoint: str, *, page_size: Optional[int] = None
    ) -> AsyncPager[Deployment]:
        """See :meth:`mlm.Client.list_deployments`."""

        async def fetch(token: Optional[str]) -> Page[Deployment]:
            raw = await _run(self._native.list_deployments(endpoint, page_size, token))
            return _page(Deployment._from, raw)

        return AsyncPager(fetch, "deployments")

    async def get_deployment(self, endpoint: str, id: str) -> Deployment:
        """See :meth:`mlm.Client.get_deployment`."""
        return Deployment._from(await _run(self._native.get_deployment(endpoint, id)))

    async def stop_deployment(self, endpoint: str, id: str) -> Deployment:
        """See :meth:`mlm.Client.stop_deployment`."""
        return Deployment._from(await _run(self._native.stop_deployment(endpoint, id)))

    # ---- dashboards ----

    async def put_dashboard(self, endpoint: str) -> Dashboard:
        """See :meth:`mlm.Client.put_dashboard`."""
        return Dashboard._from(await _run(self._native.put_dashboard(endpoint)))

    async def get_dashboard(self, endpoint: str) -> Dashboard:
        """See :meth:`mlm.Client.get_dashboard`."""
        return Dashboard._from(await _run(self._native.get_dashboard(endpoint)))

    # ---- events ----

    def list_events(
        self,
        endpoint: str,
        *,
        kind: Optional[str] = None,
        since: Optional[datetime] = None,
        page_size: Optional[int] = None,
    ) -> AsyncPager[EndpointEvent]:
        """See :meth:`mlm.Client.list_events`."""
        since_text = _event_since(since)

        async def fetch(token: Optional[str]) -> Page[EndpointEvent]:
            raw = await _run(
                self._native.list_events(endpoint, kind, since_text, page_size, token)
            )
            return _page(EndpointEvent._from, raw)

        return AsyncPager(fetch, "events")

    async def record_event(
        self,
        endpoint: str,
        kind: str,
        message: str,
        *,
        data: Optional[Mapping[str, Any]] = None,
    ) -> EndpointEvent:
        """See :meth:`mlm.Client.record_event`."""
        event = {"kind": kind, "message": message, "data": data}
        return EndpointEvent._from(await _run(self._native.record_event(endpoint, event)))

    # ---- pipelines ----

    async def apply_pipeline(
        self, pipeline: PipelineSource, *, dry_run: bool = False
    ) -> PipelinePlan:
        """See :meth:`mlm.Client.apply_pipeline`."""
        return PipelinePlan._from(await _run(req.apply_pipeline(self._native, pipeline, dry_run)))

    async def get_pipeline(self, name: str) -> Pipeline:
        """See :meth:`mlm.Client.get_pipeline`."""
        pipeline = Pipeline._from(await _run(self._native.get_pipeline(name)))
        for run in pipeline.active_runs:
            self._bind(run)
        return pipeline

    def list_pipelines(self, *, page_size: Optional[int] = None) -> AsyncPager[Pipeline]:
        """See :meth:`mlm.Client.list_pipelines`."""

        async def fetch(token: Optional[str]) -> Page[Pipeline]:
            return _page(Pipeline._from, await _run(self._native.list_pipelines(page_size, token)))

        return AsyncPager(fetch, "pipelines")

    async def delete_pipeline(self, name: str) -> None:
        """See :meth:`mlm.Client.delete_pipeline`."""
        await _run(self._native.delete_pipeline(name))

    def list_runs(
        self, pipeline: str, *, page_size: Optional[int] = None
    ) -> AsyncPager[PipelineRun]:
        """See :meth:`mlm.Client.list_runs`."""

        async def fetch(token: Optional[str]) -> Page[PipelineRun]:
            raw = await _run(self._native.list_runs(pipeline, page_size, token))
            return _page(lambda r: self._bind(PipelineRun._from(r)), raw)

        return AsyncPager(fetch, "runs")

    async def get_run(self, pipeline: str, run_id: str) -> PipelineRun:
        """See :meth:`mlm.Client.get_run`; ``await run.wait_async()`` follows it."""
        return self._bind(PipelineRun._from(await _run(self._native.get_run(pipeline, run_id))))

    async def promote(self, pipeline: str, version: int, stage: str) -> PipelineRun:
        """See :meth:`mlm.Client.promote`."""
        raw = await _run(self._native.promote(pipeline, version, stage))
        return self._bind(PipelineRun._from(raw))

    async def cancel_run(self, pipeline: str, run_id: str) -> PipelineRun:
        """See :meth:`mlm.Client.cancel_run`."""
        raw = await _run(self._native.cancel_run(pipeline, run_id))
        return self._bind(PipelineRun._from(raw))

    async def start_pipeline_runs(self, model: str, version: int) -> List[PipelineRun]:
        """See :meth:`mlm.Client.start_pipeline_runs`."""
        raw = await _run(self._native.start_pipeline_runs(model, version))
        return [self._bind(PipelineRun._from(r)) for r in raw]

    def _bind(self, run: PipelineRun) -> PipelineRun:
        async def refresh() -> PipelineRun:
            return await self.get_run(run.pipeline, run.id)

        setattr(refresh, "is_async", True)
        return run._bind(refresh)

    # ---- observability ----

    async def instances(self, endpoint: str) -> InstanceTable:
        """See :meth:`mlm.Client.instances`."""
        return (await self.overview(endpoint)).instances

    @overload
    async def overview(self, endpoint: None = None) -> List[EndpointOverview]: ...

    @overload
    async def overview(self, endpoint: str) -> EndpointOverview: ...

    async def overview(
        self, endpoint: Optional[str] = None
    ) -> Union[EndpointOverview, List[EndpointOverview]]:
        """See :meth:`mlm.Client.overview`."""
        if endpoint is not None:
            return EndpointOverview._from(await _run(self._native.endpoint_overview(endpoint)))

        async def fetch(token: Optional[str]) -> Page[EndpointOverview]:
            raw = await _run(self._native.list_overviews(None, token))
            return _page(EndpointOverview._from, raw)

        return await AsyncPager(fetch, "overviews").to_list()

    async def metrics(
        self,
        endpoint: str,
        kinds: MetricKinds = DEFAULT_METRIC_KINDS,
        *,
        window: Union[float, timedelta] = timedelta(hours=1),
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
        period: Union[float, timedelta] = 60,
        statistic: Union[str, Statistic, None] = None,
        variant: Optional[str] = None,
        instance: Optional[str] = None,
    ) -> Metrics:
        """See :meth:`mlm.Client.metrics`."""
        query = req.metrics_query(
            endpoint, kinds, window, start, end, period, statistic, variant, instance
        )
        raw = await _run(self._native.query_metrics(query))
        return Metrics(MetricSeries._from(s) for s in raw)

