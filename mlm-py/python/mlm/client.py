"""The blocking client: :class:`Client`.

Every method releases the GIL while the Rust core works, and Ctrl-C interrupts any call
cleanly (within 0.1 s): the call is cancelled and ``KeyboardInterrupt`` raised. Endpoint
changes themselves carry on in the backend, as they would after a REST call.
"""

from __future__ import annotations

import html
import math
import numbers
import os
import weakref
from datetime import datetime, timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from . import _mlm
from . import _requests as req
from ._paging import Pager
from ._progress import ProgressArg, UploadProgressArg, make_progress, make_upload_progress
from ._requests import Body, PipelineSource, Samples, VersionLike
from .errors import FailedPreconditionError, InvalidArgumentError
from .types import (
    Alarm,
    Approval,
    Baseline,
    DriftReport,
    Capabilities,
    CapturedRecord,
    Comparison,
    Dashboard,
    Deployment,
    Endpoint,
    EndpointEvent,
    EndpointOverview,
    InstanceTable,
    InvokeResult,
    MetricKind,
    MetricSeries,
    Metrics,
    Model,
    ModelVersion,
    Page,
    Pipeline,
    PipelinePlan,
    PipelineRun,
    PushedVersion,
    Statistic,
    TreatMissingData,
    VariantSpec,
    VersionRef,
)

def _event_since(since: Optional[datetime]) -> Optional[str]:
    """``since`` as RFC 3339; a naive datetime is refused rather than guessed."""
    if since is None:
        return None
    if since.tzinfo is None or since.utcoffset() is None:
        raise InvalidArgumentError(
            "since must be timezone-aware (e.g. datetime.now(timezone.utc) - timedelta(hours=1))"
        )
    return since.isoformat()


if TYPE_CHECKING:  # pragma: no cover
    from .aio import AsyncClient

__all__ = ["Client", "DEFAULT_TIMEOUT"]

T = TypeVar("T")

#: How long ``wait=True`` and :meth:`Client.wait_until_ready` wait by default (seconds).
DEFAULT_TIMEOUT = 3600.0

#: Polling backoff per backend: (first pause, longest pause) in seconds. SageMaker's describe
#: calls are throttled account-wide, so AWS is polled no faster than its own waiters do.
POLL_INTERVALS = {"local": (0.2, 2.0), "http": (0.5, 5.0), "aws": (5.0, 30.0)}

ConfigArg = Union[Mapping[str, Any], str, "os.PathLike[str]", None]

#: What ``variants=`` accepts: variant specs, or mappings of their fields.
Variants = Sequence[Union[VariantSpec, Mapping[str, Any]]]

#: What ``kinds=`` accepts: one metric or several.
MetricKinds = Union[str, MetricKind, Iterable[Union[str, MetricKind]]]

#: The metrics :meth:`Client.metrics` reads unless told otherwise.
DEFAULT_METRIC_KINDS = (
    MetricKind.INVOCATIONS,
    MetricKind.MODEL_LATENCY,
    MetricKind.CPU_UTILIZATION,
)


def _config_args(config: ConfigArg) -> Dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, (str, os.PathLike)):
        return {"config_path": os.fspath(config)}
    if isinstance(config, Mapping):
        return {"config": req.plain(config)}
    raise TypeError("config must be a dict of LocalConfig fields or the path of a TOML file")


#: A duration: seconds, or a :class:`datetime.timedelta`.
Seconds = Union[float, timedelta]


def _aws_seconds(keyword: str, value: Optional[Seconds], zero_ok: bool = False) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidArgumentError(
            f"{keyword} must be a number of seconds or a timedelta, not {type(value).__name__}"
        )
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise InvalidArgumentError(f"{keyword} must be a finite number of seconds {bound}, not {value!r}")
    return seconds


def _aws_config(
    region: Optional[str],
    profile: Optional[str],
    endpoint_url: Optional[str],
    execution_role_arn: Optional[str],
    max_attempts: Optional[int],
    attempt_timeout: Optional[Seconds],
    operation_timeout: Optional[Seconds],
    invoke_timeout: Optional[Seconds],
    enhanced_metrics: Optional[bool],
    metrics_ttl: Optional[Seconds],
    concurrency: Optional[int],
) -> Dict[str, Any]:
    """The ``mlm_aws::AwsConfig`` fields (an ``[aws]`` section) for :meth:`Client.aws`'s
    keywords: durations become ``*_secs``; the other values are checked in Rust, whose
    messages name the field, which is the keyword."""
    config = {
        "region": region,
        "profile": profile,
        "endpoint_url": endpoint_url,
        "execution_role_arn": execution_role_arn,
        "max_attempts": max_attempts,
        "attempt_timeout_secs": _aws_seconds("attempt_timeout", attempt_timeout),
        "operation_timeout_secs": _aws_seconds("operation_timeout", operation_timeout),
        "invoke_timeout_secs": _aws_seconds("invoke_timeout", invoke_timeout),
        "enhanced_metrics": enhanced_metrics,
        "metrics_ttl_secs": _aws_seconds("metrics_ttl", metrics_ttl, zero_ok=True),
        "concurrency": concurrency,
    }
    return {k: v for k, v in config.items() if v is not None}


def _hint_in_use(error: FailedPreconditionError) -> FailedPreconditionError:
    if "in use" in error.message:
        error.message += (
            " (if it is a client in this Python process, call its .close() first, or keep "
            "using it)"
        )
        error.args = (error.message,)
    return error


def _page(parse: Callable[[Any], T], raw: Mapping[str, Any]) -> Page[T]:
    return Page(tuple(parse(i) for i in raw["items"]), raw.get("next_page_token"))


def _close_native(native: _mlm.NativeClient) -> None:
    native.close().wait()


def _watch(op: _mlm.Operation, endpoint: str, progress: ProgressArg, action: str) -> Any:
    """Waits for a native wait operation, showing its progress as ``progress`` asks."""
    callback, display = make_progress(progress, endpoint, action)
    on_progress = None if callback is None else _on_endpoint(callback)
    try:
        raw = op.wait(on_progress)
    except BaseException as e:
        if display is not None:
            display.failed(e)
        raise
    if display is not None:
        display.done()
    return raw


class _Base:
    """What the blocking and the async client share: the native client and its facts."""

    _native: _mlm.NativeClient

    @property
    def kind(self) -> str:
        """The backend: ``"local"``, ``"http"`` or ``"aws"``."""
        return self._native.kind

    @property
    def target(self) -> str:
        """The data directory (local), the server URL (http) or the region (aws)."""
        return self._native.target

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    @property
    def capabilities(self) -> Capabilities:
        """What the backend supports."""
        return Capabilities._from(self._native.capabilities())

    def _intervals(self, poll_interval: Optional[float]) -> Tuple[float, float]:
        first, longest = POLL_INTERVALS.get(self.kind, POLL_INTERVALS["aws"])
        if poll_interval is not None:
            longest = max(float(poll_interval), 0.05)
            first = min(first, longest)
        return first, longest

    def __repr__(self) -> str:
        state = " (closed)" if self.closed else ""
        return f"<{type(self).__name__} {self.kind} {self.target}{state}>"

    def _repr_html_(self) -> str:
        state = "closed" if self.closed else "open"
        caps = (
            "–"
            if self.closed
            else ", ".join(k for k, v in self.capabilities.to_dict().items() if v) or "none"
        )
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in [("backend", self.kind), ("target", self.target), ("state", state),
                         ("capabilities", caps)]
        )
        return f"<p><b>mlm.{type(self).__name__}</b></p><table>{rows}</table>"


class Client(_Base):
    """A blocking mlm client. Build it with :meth:`local`, :meth:`http` or :meth:`aws`; every
    backend has the same methods and raises the same :mod:`mlm.errors`.

    Use it as a context manager (or call :meth:`close`) so a local backend stops its
    instance processes; a client that is garbage collected or still open at exit is closed
    then.
    """

    def __init__(self, native: _mlm.NativeClient) -> None:
        """Wraps a native client; use :meth:`local`, :meth:`http` or :meth:`aws` instead."""
        self._native = native
        self._finalizer = weakref.finalize(self, _close_native, native)

    # ---- construction ----

    @classmethod
    def local(
        cls,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        config: ConfigArg = None,
    ) -> "Client":
        """The embedded backend: state in ``data_dir``, instances as local processes.

        ``config`` is a dict of ``LocalConfig`` fields (``artifact_roots``, ``runtimes``,
        ``instance_types``, ``startup_timeout_secs``, ``health_interval_ms``, ...) or the
        path of a TOML file with them (an ``mlm serve`` configuration file works too: its
        ``[local]`` section is used). Relative paths in it are relative to the current
        directory. Without ``config``, the defaults of ``mlm serve`` apply: artifacts from
        the repository's ``examples/`` folder and its ``agnews-classifier`` runtime, when
        found in the current directory or a parent. ``data_dir`` overrides the configured one
        (default ``.mlm``).
        """
        data = None if data_dir is None else os.fspath(data_dir)
        try:
            native = _mlm.NativeClient.open_local(data, **_config_args(config)).wait()
        except FailedPreconditionError as e:
            raise _hint_in_use(e) from None
        return cls(native)

    @classmethod
    def http(
        cls,
        url: str,
        token: Optional[str] = None,
        *,
        ca_certificate: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> "Client":
        """A client of an ``mlm serve`` REST server at ``url`` (``http://host:port`` or
        ``https://host:port``), sending ``token`` as a bearer token. HTTPS trusts the
        platform's root certificates; ``ca_certificate`` (a PEM file) adds a private CA."""
        ca = None if ca_certificate is None else os.fspath(ca_certificate)
        return cls(_mlm.NativeClient.open_http(url, token, ca).wait())

    @classmethod
    def aws(
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
    ) -> "Client":
        """AWS SageMaker in ``region`` with the credentials of ``profile``; a keyword left
        out keeps the usual AWS environment (``AWS_REGION``, ``AWS_PROFILE``, SSO, instance
        roles) or mlm's default. The keywords are the fields of ``mlm_aws::AwsConfig``, the
        AWS backend's configuration in Rust and in files (where durations end in ``_secs``).

        Args:
            region: e.g. ``"eu-west-1"``.
            profile: a profile of the shared AWS config and credentials files.
            endpoint_url: an ``http(s)://`` URL every request goes to (an emulator, a VPC
                endpoint).
            execution_role_arn: the IAM role the models of new endpoints run as (default:
                ``MLM_SAGEMAKER_EXECUTION_ROLE_ARN``).
            max_attempts: attempts per AWS call, at least 1 (1 = no retries; default 3).
            attempt_timeout: one attempt of a control-plane call (default 20 s).
            operation_timeout: a whole control-plane call with its retries (default 60 s).
            invoke_timeout: one invocation attempt (default 70 s).
            enhanced_metrics: per-instance metrics for new endpoints (default ``True``).
            metrics_ttl: how long live figures are reused, 0 for never (default 10 s).
            concurrency: describe calls at once when listing, at least 1 (default 8).

        A duration is a number of seconds or a :class:`datetime.timedelta`. Credentials are
        never arguments (they come from the AWS environment). A bad value raises
        :class:`~mlm.InvalidArgumentError` naming the keyword. Opening makes no AWS API call.
        """
        config = _aws_config(
            region, profile, endpoint_url, execution_role_arn, max_attempts, attempt_timeout,
            operation_timeout, invoke_timeout, enhanced_metrics, metrics_ttl, concurrency,
        )
        return cls(_mlm.NativeClient.open_aws(config).wait())

    @property
    def aio(self) -> "AsyncClient":
        """An :class:`mlm.aio.AsyncClient` over the same backend (closing either closes
        both)."""
        from .aio import AsyncClient

        return AsyncClient(self._native)

    def close(self) -> None:
        """Closes the client; a local backend drains and stops its instances (the endpoints
        come back the next time its data directory is opened). Closing twice is harmless."""
        self._finalizer()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- models ----

    def create_model(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
    ) -> Model:
        """Registers a model. :class:`~mlm.AlreadyExistsError` if the name is taken."""
        raw = self._native.create_model(req.create_model(name, description, tags)).wait()
        return Model._from(raw)

    def get_model(self, name: str) -> Model:
        """Describes a model. :class:`~mlm.NotFoundError` if missing."""
        return Model._from(self._native.get_model(name).wait())

    def list_models(self, *, page_size: Optional[int] = None) -> Pager[Model]:
        """Every model by name, fetched lazily page by page."""

        def fetch(token: Optional[str]) -> Page[Model]:
            return _page(Model._from, self._native.list_models(page_size, token).wait())

        return Pager(fetch, "models")

    def update_model(
        self,
        name: str,
        *,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
    ) -> Model:
        """Changes a model's description (``""`` clears it) or replaces its tags."""
        request = req.update_model(description, tags)
        return Model._from(self._native.update_model(name, request).wait())

    def delete_model(self, name: str) -> None:
        """Deletes a model. :class:`~mlm.FailedPreconditionError` while it has versions."""
        self._native.delete_model(name).wait()

    # ---- versions ----

    def create_version(
        self,
        model: str,
        artifact_uri: Union[str, "os.PathLike[str]"],
        image: str,
        *,
        environment: Optional[Mapping[str, str]] = None,
        approval: Optional[Union[Approval, str]] = None,
        description: Optional[str] = None,
    ) -> ModelVersion:
        """Registers the next version of ``model``: the artifact at ``artifact_uri`` served
        by ``image`` (a container image on AWS, a configured runtime name locally)."""
        request = req.create_version(model, artifact_uri, image, environment, approval, description)
        return ModelVersion._from(self._native.create_version(request).wait())

    def push_version(
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
        """Packs the model directory ``dir`` as a deterministic ``model.tar.gz`` (the same
        directory always gives the same digest), uploads it where the backend keeps artifacts
        (AWS: ``[aws] artifacts_uri`` or ``destination``, ``s3://bucket/prefix``, in parts
        above 8 MiB; locally: the artifact store) and registers it as the next version of
        ``model``, which is created if missing. An archive already uploaded is not sent
        again (``artifact.reused``). ``progress``: ``True`` shows it on stderr, ``False``
        hides it, a callable gets ``(sent, total)`` bytes."""
        request = req.create_version(model, "", image, environment, approval, description)
        on_progress = make_upload_progress(progress, f"model '{model}'")
        op = self._native.push_version(os.fspath(dir), request, destination)
        return PushedVersion._from(op.wait(on_progress))

    def get_version(self, model: str, version: int) -> ModelVersion:
        """Describes one version."""
        return ModelVersion._from(self._native.get_version(model, version).wait())

    def list_versions(self, model: str, *, page_size: Optional[int] = None) -> Pager[ModelVersion]:
        """Every version of ``model``, oldest first, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[ModelVersion]:
            raw = self._native.list_versions(model, page_size, token).wait()
            return _page(ModelVersion._from, raw)

        return Pager(fetch, f"versions of {model}")

    def update_version(
        self,
        model: str,
        version: int,
        *,
        approval: Optional[Union[Approval, str]] = None,
        description: Optional[str] = None,
    ) -> ModelVersion:
        """Changes a version's approval or description (the rest is immutable)."""
        request = req.update_version(approval, description)
        return ModelVersion._from(self._native.update_version(model, version, request).wait())

    def delete_version(self, model: str, version: int) -> None:
        """Deletes a version. :class:`~mlm.FailedPreconditionError` while it is deployed."""
        self._native.delete_version(model, version).wait()

    # ---- endpoints ----

    def create_endpoint(
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
        """Creates an endpoint serving ``version`` on ``instance_count`` instances of
        ``instance_type`` (one variant called ``variant``), or the given ``variants``;
        ``deployment`` (see :mod:`mlm.policies`) is the policy of its later updates;
        ``data_capture`` (``{"destination_uri": ..., "sampling_percent": ...}``) captures
        requests and responses, read back with :meth:`list_captures`.

        Returns at once (usually ``Creating``); with ``wait=True``, waits until it is
        ``InService`` showing progress (see :meth:`wait_until_ready`).
        """
        request = req.create_endpoint(
            name, version, model, instance_type, instance_count, variant, variants, tags,
            deployment, data_capture,
        )
        endpoint = Endpoint._from(self._native.create_endpoint(request).wait())
        if wait:
            return self.wait_until_ready(name, timeout=timeout, progress=progress, _action="creating")
        return endpoint

    def get_endpoint(self, name: str) -> Endpoint:
        """Describes an endpoint."""
        return Endpoint._from(self._native.get_endpoint(name).wait())

    def list_endpoints(self, *, page_size: Optional[int] = None) -> Pager[Endpoint]:
        """Every endpoint by name (including ones not created by mlm), fetched lazily."""

        def fetch(token: Optional[str]) -> Page[Endpoint]:
            return _page(Endpoint._from, self._native.list_endpoints(page_size, token).wait())

        return Pager(fetch, "endpoints")

    def update_endpoint(
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
        """Changes an endpoint: scale ``variant`` (default: the endpoint's only variant,
        whatever it is called) to ``instance_count``, move it to ``instance_type`` or to
        ``version`` (a number means the variant's current model),
        set traffic ``weights`` by variant name — or replace the whole variant set with
        ``variants``. ``deployment`` (see :mod:`mlm.policies`) says how traffic moves and which
        alarms roll the update back (default: the endpoint's policy).
        :class:`~mlm.FailedPreconditionError` while the endpoint is not ``InService``.

        Returns at once; with ``wait=True``, waits until the update has ended: the endpoint
        when it completed, :class:`~mlm.RolledBackError` when it was rolled back.
        """
        ref = None
        if version is not None:
            ref = req.version_ref(version, model)
            if ref is None:
                current = req.serving_model(self.get_endpoint(name), variant)
                ref = VersionRef(current, int(version))  # type: ignore[arg-type, unused-ignore]
        request = req.update_endpoint(
            name, variant, instance_count, instance_type, ref, weights, variants, deployment
        )
        endpoint = Endpoint._from(self._native.update_endpoint(request).wait())
        if wait:
            return self.wait_until_ready(name, timeout=timeout, progress=progress, _action="updating")
        return endpoint

    def delete_endpoint(
        self,
        name: str,
        *,
        wait: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
    ) -> None:
        """Starts deleting an endpoint; with ``wait=True``, returns once it is gone, showing
        progress (see :meth:`wait_until_ready`)."""
        self._native.delete_endpoint(name).wait()
        if wait:
            self.wait_until_deleted(name, timeout=timeout, progress=progress, _action="deleting")

    def wait_until_ready(
        self,
        endpoint: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
        poll_interval: Optional[float] = None,
        _action: str = "waiting for",
    ) -> Endpoint:
        """Polls (with backoff up to ``poll_interval`` seconds) until the endpoint is
        ``InService`` and returns it.

        ``progress=True`` shows status transitions and elapsed time (in place in a notebook
        or terminal); a callable receives every description instead. Raises
        :class:`mlm.TimeoutError` after ``timeout`` seconds naming the last status,
        :class:`~mlm.FailedPreconditionError` with the reason as soon as the endpoint fails,
        and ``KeyboardInterrupt`` on Ctrl-C (the endpoint keeps changing in the background).
        """
        first, longest = self._intervals(poll_interval)
        op = self._native.wait_until_ready(endpoint, float(timeout), first, longest)
        return Endpoint._from(_watch(op, endpoint, progress, _action))

    def wait_until_deleted(
        self,
        endpoint: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        progress: ProgressArg = True,
        _action: str = "waiting for",
    ) -> None:
        """Polls until the endpoint no longer exists; ``progress`` as in
        :meth:`wait_until_ready`."""
        first, longest = self._intervals(None)
        op = self._native.wait_until_deleted(endpoint, float(timeout), first, longest)
        _watch(op, endpoint, progress, _action)

    def invoke(
        self,
        endpoint: str,
        body: Body,
        content_type: Optional[str] = None,
        *,
        accept: Optional[str] = None,
        variant: Optional[str] = None,
    ) -> InvokeResult:
        """Sends one inference request: ``bytes`` as they are, ``str`` as UTF-8 text, a
        dict/list as JSON (the content type follows unless given). ``variant`` sends it to
        that variant instead of choosing by weight."""
        data, ctype = req.invoke_body(body, content_type)
        raw = self._native.invoke(endpoint, data, ctype, accept, variant).wait()
        return InvokeResult._from(raw)

    # ---- alarms ----

    def put_alarm(
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
        """Creates the alarm ``name`` on ``endpoint``, or replaces its definition: it fires
        when the ``statistic`` of ``metric`` (default: the metric's own) over
        ``period_seconds`` compares true with ``threshold`` in ``datapoints_to_alarm``
        (default: all) of the last ``evaluation_periods`` periods. Name it in a policy's
        ``rollback_alarms`` (see :mod:`mlm.policies`) to roll updates back."""
        definition = req.alarm(
            endpoint, name, metric, comparison, threshold, statistic, period_seconds,
            evaluation_periods, datapoints_to_alarm, treat_missing_data, variant, actions,
            description,
        )
        return Alarm._from(self._native.put_alarm(definition).wait())

    def get_alarm(self, endpoint: str, name: str) -> Alarm:
        """Describes an alarm with its live state."""
        return Alarm._from(self._native.get_alarm(endpoint, name).wait())

    def list_alarms(self, endpoint: str, *, page_size: Optional[int] = None) -> Pager[Alarm]:
        """The endpoint's alarms by name, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[Alarm]:
            return _page(Alarm._from, self._native.list_alarms(endpoint, page_size, token).wait())

        return Pager(fetch, "alarms")

    def delete_alarm(self, endpoint: str, name: str) -> None:
        """Deletes an alarm (not while a running deployment uses it for rollback)."""
        self._native.delete_alarm(endpoint, name).wait()

    # ---- deployments ----

    def list_deployments(
        self, endpoint: str, *, page_size: Optional[int] = None
    ) -> Pager[Deployment]:
        """The endpoint's creates and updates, newest first, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[Deployment]:
            raw = self._native.list_deployments(endpoint, page_size, token).wait()
            return _page(Deployment._from, raw)

        return Pager(fetch, "deployments")

    def get_deployment(self, endpoint: str, id: str) -> Deployment:
        """One deployment with its phase timeline."""
        return Deployment._from(self._native.get_deployment(endpoint, id).wait())

    def stop_deployment(self, endpoint: str, id: str) -> Deployment:
        """Stops a running deployment: traffic returns to the previous fleet and it ends
        ``rolled_back``. :class:`~mlm.FailedPreconditionError` once it has ended."""
        return Deployment._from(self._native.stop_deployment(endpoint, id).wait())

    # ---- dashboards ----

    def put_dashboard(self, endpoint: str) -> Dashboard:
        """Creates the endpoint's monitoring dashboard, or rebuilds it from the endpoint as it
        is now (``action`` says which): invocations, 4xx/5xx errors, model latency, each
        variant's CPU/GPU/memory and the endpoint's alarms. Put it again after changing the
        endpoint's variants or alarms; deleting the endpoint deletes it. A CloudWatch
        dashboard, so AWS only: elsewhere :class:`~mlm.UnsupportedError` (see
        ``capabilities.dashboards``)."""
        return Dashboard._from(self._native.put_dashboard(endpoint).wait())

    def get_dashboard(self, endpoint: str) -> Dashboard:
        """The endpoint's dashboard (``action`` is ``None``). :class:`~mlm.NotFoundError`
        until it is put."""
        return Dashboard._from(self._native.get_dashboard(endpoint).wait())

    # ---- events ----

    def list_events(
        self,
        endpoint: str,
        *,
        kind: Optional[str] = None,
        since: Optional[datetime] = None,
        page_size: Optional[int] = None,
    ) -> Pager[EndpointEvent]:
        """The endpoint's timeline, newest first, fetched lazily: the backend's own decisions
        (lifecycle, autoscaling, serverless cold starts) and what callers recorded. Filter by
        ``kind`` and by time (``since``: a timezone-aware datetime)."""
        since_text = _event_since(since)

        def fetch(token: Optional[str]) -> Page[EndpointEvent]:
            raw = self._native.list_events(endpoint, kind, since_text, page_size, token).wait()
            return _page(EndpointEvent._from, raw)

        return Pager(fetch, "events")

    def record_event(
        self,
        endpoint: str,
        kind: str,
        message: str,
        *,
        data: Optional[Mapping[str, Any]] = None,
    ) -> EndpointEvent:
        """Adds a ``user`` event to the endpoint's timeline (``kind``: lowercase words joined
        by ``_``; ``data``: a JSON object of figures, at most 16 KiB)."""
        event = {"kind": kind, "message": message, "data": data}
        return EndpointEvent._from(self._native.record_event(endpoint, event).wait())

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
    ) -> Pager[CapturedRecord]:
        """The records data capture wrote for ``endpoint`` from ``start`` (default: ``end``
        minus ``window``) to ``end`` (default: now), oldest first, fetched lazily; each with
        the variant that served it and SageMaker's record. Naive datetimes are local time."""
        query = req.capture_query(endpoint, start, end, window, variant)

        def fetch(token: Optional[str]) -> Page[CapturedRecord]:
            raw = self._native.list_captures(query, page_size, token).wait()
            return _page(CapturedRecord._from, raw)

        return Pager(fetch, "captures")

    # ---- drift ----

    def create_baseline(
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
        """Profiles ``samples`` (``{"input": ..., "output": ...}`` mappings, or a JSON Lines
        file) or, without them, the endpoint's captured traffic from ``start`` (default:
        ``end`` minus ``window``) to ``end`` (default: now), and keeps the baseline."""
        source = req.sample_source(samples, start, end, window, variant)
        return Baseline._from(self._native.create_baseline(endpoint, name, source).wait())

    def get_baseline(self, endpoint: str, name: str) -> Baseline:
        """One of the endpoint's baselines."""
        return Baseline._from(self._native.get_baseline(endpoint, name).wait())

    def list_baselines(self, endpoint: str, *, page_size: Optional[int] = None) -> Pager[Baseline]:
        """The endpoint's baselines by name, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[Baseline]:
            raw = self._native.list_baselines(endpoint, page_size, token).wait()
            return _page(Baseline._from, raw)

        return Pager(fetch, "baselines")

    def delete_baseline(self, endpoint: str, name: str) -> None:
        """Deletes a baseline."""
        self._native.delete_baseline(endpoint, name).wait()

    def drift_report(
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
        """Compares ``samples`` or, without them, the captured traffic of the last ``window``
        (or ``start``..``end``) with ``baseline``; records the report's score as the
        endpoint's ``drift_score`` metric. ``thresholds``: e.g. ``{"psi": 0.25}``."""
        source = req.sample_source(samples, start, end, window, variant)
        raw = self._native.drift_report(endpoint, baseline, source, req.plain(thresholds)).wait()
        return DriftReport._from(raw)

    # ---- pipelines ----

    def apply_pipeline(self, pipeline: PipelineSource, *, dry_run: bool = False) -> PipelinePlan:
        """Creates or replaces a pipeline and returns the plan (what each stage's next
        deployment creates or changes). ``pipeline``: the path of a pipeline file (its
        smoke-test files are read relative to it and sent inline), YAML or JSON text, or a
        mapping of the file's fields. With ``dry_run`` nothing is kept."""
        return PipelinePlan._from(req.apply_pipeline(self._native, pipeline, dry_run).wait())

    def get_pipeline(self, name: str) -> Pipeline:
        """A pipeline: what each stage serves, the runs in progress and the latest ended."""
        pipeline = Pipeline._from(self._native.get_pipeline(name).wait())
        for run in pipeline.active_runs:
            self._bind(run)
        return pipeline

    def list_pipelines(self, *, page_size: Optional[int] = None) -> Pager[Pipeline]:
        """Pipelines by name, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[Pipeline]:
            return _page(Pipeline._from, self._native.list_pipelines(page_size, token).wait())

        return Pager(fetch, "pipelines")

    def delete_pipeline(self, name: str) -> None:
        """Deletes a pipeline and its runs (the stages' endpoints stay)."""
        self._native.delete_pipeline(name).wait()

    def list_runs(self, pipeline: str, *, page_size: Optional[int] = None) -> Pager[PipelineRun]:
        """A pipeline's runs, newest version first, fetched lazily."""

        def fetch(token: Optional[str]) -> Page[PipelineRun]:
            raw = self._native.list_runs(pipeline, page_size, token).wait()
            return _page(lambda r: self._bind(PipelineRun._from(r)), raw)

        return Pager(fetch, "runs")

    def get_run(self, pipeline: str, run_id: str) -> PipelineRun:
        """One run (``"v<version>"``) with its stages and timeline."""
        return self._bind(PipelineRun._from(self._native.get_run(pipeline, run_id).wait()))

    def promote(self, pipeline: str, version: int, stage: str) -> PipelineRun:
        """Lets ``version``, awaiting promotion into ``stage``, go on; ``run.wait()`` follows
        it. :class:`mlm.errors.ConflictError` says why when it cannot."""
        raw = self._native.promote(pipeline, version, stage).wait()
        return self._bind(PipelineRun._from(raw))

    def cancel_run(self, pipeline: str, run_id: str) -> PipelineRun:
        """Cancels a run; a running deployment is rolled back."""
        return self._bind(PipelineRun._from(self._native.cancel_run(pipeline, run_id).wait()))

    def start_pipeline_runs(self, model: str, version: int) -> List[PipelineRun]:
        """Delivers the approval of ``model``'s ``version`` to its pipelines: one run in each,
        once (the backends also notice approvals on their own). The version must be
        approved."""
        raw = self._native.start_pipeline_runs(model, version).wait()
        return [self._bind(PipelineRun._from(r)) for r in raw]

    def _bind(self, run: PipelineRun) -> PipelineRun:
        return run._bind(lambda: self.get_run(run.pipeline, run.id))

    # ---- observability ----

    def instances(self, endpoint: str) -> InstanceTable:
        """The endpoint's instances with their latest figures (a table in notebooks)."""
        return self.overview(endpoint).instances

    @overload
    def overview(self, endpoint: None = None) -> List[EndpointOverview]: ...

    @overload
    def overview(self, endpoint: str) -> EndpointOverview: ...

    def overview(
        self, endpoint: Optional[str] = None
    ) -> Union[EndpointOverview, List[EndpointOverview]]:
        """One endpoint's status, counts and instances — or, without an argument, those of
        every endpoint."""
        if endpoint is not None:
            return EndpointOverview._from(self._native.endpoint_overview(endpoint).wait())

        def fetch(token: Optional[str]) -> Page[EndpointOverview]:
            raw = self._native.list_overviews(None, token).wait()
            return _page(EndpointOverview._from, raw)

        return Pager(fetch, "overviews").to_list()

    def metrics(
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
        """Metric history of ``kinds`` over the last ``window`` (or ``start``..``end``), in
        ``period``-second buckets combined by ``statistic`` (default: each metric's own — a sum
        for invocations and errors, an average otherwise). Series with no data are empty,
        not errors. Naive datetimes are local time."""
        query = req.metrics_query(
            endpoint, kinds, window, start, end, period, statistic, variant, instance
        )
        raw = self._native.query_metrics(query).wait()
        return Metrics(MetricSeries._from(s) for s in raw)


def _on_endpoint(callback: Callable[[Endpoint], Any]) -> Callable[[Any], None]:
    def on_progress(raw: Any) -> None:
        callback(Endpoint._from(raw))

    return on_progress
