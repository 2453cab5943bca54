"""Typed, immutable results and the request pieces you build yourself.

Every result is a frozen dataclass with :meth:`~_Result.to_dict`, a readable ``repr``, and —
for endpoints, overviews and instance tables — an HTML table for notebooks. Statuses and
other closed sets are :class:`str` enums, so ``endpoint.status == "InService"`` works too.
Datetimes are timezone-aware (UTC).
"""

from __future__ import annotations

import base64 as _base64
import dataclasses
import enum
import html
import math
import json as _json
import re
from datetime import datetime, timedelta, timezone
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]

__all__ = [
    "EndpointStatus",
    "Approval",
    "InstanceStatus",
    "MetricKind",
    "MetricScope",
    "Statistic",
    "Comparison",
    "TreatMissingData",
    "AlarmState",
    "DeploymentKind",
    "PhaseName",
    "VersionRef",
    "Model",
    "ModelVersion",
    "ServerlessConfig",
    "AutoscalingPolicy",
    "Variant",
    "VariantSpec",
    "Endpoint",
    "Alarm",
    "PhaseChange",
    "DeploymentSummary",
    "Deployment",
    "EventSource",
    "EndpointEvent",
    "CapturePayload",
    "CapturedRecord",
    "FieldKind",
    "DriftStatistic",
    "CategoryCounts",
    "NumericProfile",
    "FieldProfile",
    "Baseline",
    "DriftCheck",
    "FieldDrift",
    "LabelDrift",
    "DriftReport",
    "Measurement",
    "InstanceMetrics",
    "Instance",
    "InstanceTable",
    "VariantOverview",
    "EndpointOverview",
    "DataPoint",
    "MetricSeries",
    "Metrics",
    "InvokeResult",
    "Capabilities",
    "RunState",
    "StageState",
    "StageStatus",
    "RunSummary",
    "PipelineStep",
    "StageRun",
    "PipelineRun",
    "Pipeline",
    "StagePlan",
    "PipelinePlan",
    "Page",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Enums


class _StrEnum(str, enum.Enum):
    """A string enum whose ``str()`` and ``format()`` are its value on every Python."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class EndpointStatus(_StrEnum):
    """Where an endpoint is in its lifecycle (SageMaker's ``EndpointStatus``)."""

    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"

    @property
    def is_transitional(self) -> bool:
        """True while the backend is still working towards a settled state."""
        return self in _TRANSITIONAL

    @property
    def is_terminal_failure(self) -> bool:
        """True when waiting longer will not bring the endpoint to ``InService``."""
        return self in _TERMINAL_FAILURES


_TRANSITIONAL = frozenset(
    {
        EndpointStatus.CREATING,
        EndpointStatus.UPDATING,
        EndpointStatus.SYSTEM_UPDATING,
        EndpointStatus.ROLLING_BACK,
        EndpointStatus.DELETING,
    }
)
_TERMINAL_FAILURES = frozenset(
    {
        EndpointStatus.FAILED,
        EndpointStatus.UPDATE_ROLLBACK_FAILED,
        EndpointStatus.OUT_OF_SERVICE,
    }
)


class Approval(_StrEnum):
    """A version's approval state; deployment tooling usually deploys approved ones only."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class InstanceStatus(_StrEnum):
    """The state of one instance."""

    PENDING = "Pending"
    IN_SERVICE = "InService"
    DRAINING = "Draining"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


class MetricKind(_StrEnum):
    """A metric mlm reads on every backend."""

    GPU_UTILIZATION = "gpu_utilization"
    GPU_MEMORY_UTILIZATION = "gpu_memory_utilization"
    CPU_UTILIZATION = "cpu_utilization"
    MEMORY_UTILIZATION = "memory_utilization"
    IN_FLIGHT_REQUESTS = "in_flight_requests"
    INVOCATIONS = "invocations"
    INVOCATION_ERRORS_4XX = "invocation_errors_4xx"
    INVOCATION_ERRORS_5XX = "invocation_errors_5xx"
    MODEL_LATENCY = "model_latency"
    DRIFT_SCORE = "drift_score"
    CAPTURE_DROPS = "capture_drops"


class MetricScope(_StrEnum):
    """Whether a figure is about one instance or an aggregate over a variant."""

    INSTANCE = "instance"
    VARIANT_AGGREGATE = "variant_aggregate"


class Statistic(_StrEnum):
    """How data points within a period are combined."""

    AVERAGE = "average"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    SUM = "sum"
    SAMPLE_COUNT = "sample_count"


class Comparison(_StrEnum):
    """How an alarm compares a period's value with its threshold."""

    GREATER_THAN = ">"
    GREATER_THAN_OR_EQUAL = ">="
    LESS_THAN = "<"
    LESS_THAN_OR_EQUAL = "<="


class TreatMissingData(_StrEnum):
    """How an alarm counts a period with no data (CloudWatch's ``TreatMissingData``)."""

    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "not_breaching"


class AlarmState(_StrEnum):
    """An alarm's state."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class EventSource(_StrEnum):
    """Who recorded an endpoint event: the backend itself, or a caller of the API."""

    SYSTEM = "system"
    USER = "user"


class FieldKind(_StrEnum):
    """How a drift baseline compares an input field: numbers, categories or text tokens."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"


class DriftStatistic(_StrEnum):
    """A drift statistic (drifted when above its threshold; the p-value when below)."""

    PSI = "psi"
    KS = "ks"
    JS_DISTANCE = "js_distance"
    CHI_SQUARE_P_VALUE = "chi_square_p_value"


class RunState(_StrEnum):
    """Where a pipeline run is, or how it ended."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_PROMOTION = "awaiting_promotion"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self in (
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.SUPERSEDED,
        )


class StageState(_StrEnum):
    """Where one stage of a pipeline run is."""

    PENDING = "pending"
    AWAITING_PROMOTION = "awaiting_promotion"
    DEPLOYING = "deploying"
    SMOKE_TESTING = "smoke_testing"
    SOAKING = "soaking"
    ROLLING_BACK = "rolling_back"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class DeploymentKind(_StrEnum):
    """Whether a deployment created the endpoint or updated it."""

    CREATE = "create"
    UPDATE = "update"


class PhaseName(_StrEnum):
    """Where a deployment is: ``provisioning → shifting → baking → completed``, or it ends
    ``rolled_back`` (through ``rolling_back``) or ``failed``."""

    PROVISIONING = "provisioning"
    SHIFTING = "shifting"
    BAKING = "baking"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the deployment has ended, however it ended."""
        return self in (PhaseName.COMPLETED, PhaseName.ROLLED_BACK, PhaseName.FAILED)


# ---------------------------------------------------------------------------------------------
# Helpers

_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$"
)


def parse_datetime(value: str) -> datetime:
    """An RFC 3339 timestamp (as the core writes them, nanoseconds included) as an aware
    :class:`datetime`; works on Python 3.9, whose ``fromisoformat`` does not."""
    match = _DATETIME.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    day, time_, fraction, offset = match.groups()
    parsed = datetime.fromisoformat(f"{day}T{time_}")
    if fraction:
        parsed = parsed.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if offset in (None, "Z"):
        tz = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return parsed.replace(tzinfo=tz).astimezone(timezone.utc)


def _opt_datetime(value: Optional[str]) -> Optional[datetime]:
    return None if value is None else parse_datetime(value)


def format_datetime(value: datetime) -> str:
    """``value`` in RFC 3339 (UTC). Naive datetimes are local time, as in Python itself."""
    return value.astimezone(timezone.utc).isoformat()


def _plain(value: Any) -> Any:
    """``value`` with results, enums and tuples turned into plain dicts, strings and lists."""
    if isinstance(value, _Result):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _short(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _import_pandas() -> Any:
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_pandas() needs pandas, which mlm does not install: pip install pandas"
        ) from e
    return pandas


def _html_table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_short(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Result:
    """Base of every result type: ``to_dict()`` and a ``repr`` without noise."""

    def to_dict(self) -> Dict[str, Any]:
        """The fields as plain Python values (nested results become dicts, enums their
        string values; datetimes stay aware :class:`datetime` objects)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if isinstance(value, (enum.Enum, datetime)):
                parts.append(f"{f.name}={_short(value)}")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _row(self) -> Dict[str, Any]:
        """A flat row for tables and DataFrames."""
        return {
            k: (v if not isinstance(v, (dict, list)) else _json.dumps(v, default=str))
            for k, v in self.to_dict().items()
        }


# ---------------------------------------------------------------------------------------------
# Models and versions


@dataclasses.dataclass(frozen=True, repr=False)
class VersionRef(_Result):
    """A model and version number, as endpoint variants refer to them (``"news/2"``)."""

    model: str
    version: int

    def __str__(self) -> str:
        return f"{self.model}/{self.version}"

    @classmethod
    def parse(cls, value: Union[str, "VersionRef", "ModelVersion"]) -> "VersionRef":
        """A reference from ``"model/3"``, a :class:`VersionRef` or a :class:`ModelVersion`."""
        if isinstance(value, VersionRef):
            return value
        if isinstance(value, ModelVersion):
            return value.ref
        model, sep, number = str(value).rpartition("/")
        if not sep or not model or not number.isdigit():
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"version reference {value!r} is not of the form 'model/version'"
            )
        return cls(model, int(number))

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "VersionRef":
        return cls(model=d["model"], version=d["version"])


@dataclasses.dataclass(frozen=True, repr=False)
class Model(_Result):
    """A registered model: a named, ordered collection of versions."""

    name: str
    description: Optional[str]
    tags: Mapping[str, str]
    latest_version: Optional[int]
    created_at: datetime
    updated_at: datetime = dataclasses.field(repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Model":
        return cls(
            name=d["name"],
            description=d.get("description"),
            tags=dict(d.get("tags") or {}),
            latest_version=d.get("latest_version"),
            created_at=parse_datetime(d["created_at"]),
            updated_at=parse_datetime(d["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class ModelVersion(_Result):
    """One immutable version of a model: artifact + image (or local runtime) + environment.
    Only ``approval`` and ``description`` ever change."""

    model: str
    version: int
    approval: Approval
    artifact_uri: str
    image: str
    description: Optional[str]
    artifact_digest: Optional[str] = dataclasses.field(repr=False)
    environment: Mapping[str, str] = dataclasses.field(repr=False)
    created_at: datetime = dataclasses.field(repr=False)
    updated_at: datetime = dataclasses.field(repr=False)

    @property
    def ref(self) -> VersionRef:
        """This version as a reference."""
        return VersionRef(self.model, self.version)

    def _repr_html_(self) -> str:
        rows = [
            ("approval", self.approval.value),
            ("artifact", self.artifact_uri),
            ("image", self.image),
            ("environment", ", ".join(f"{k}={v}" for k, v in self.environment.items()) or "–"),
            ("description", self.description or "–"),
            ("created", self.created_at),
        ]
        title = f"<p><b>Model version {html.escape(str(self.ref))}</b></p>"
        return title + _html_table(["field", "value"], rows)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "ModelVersion":
        return cls(
            model=d["model"],
            version=d["version"],
            approval=Approval(d["approval"]),
            artifact_uri=d["artifact_uri"],
            image=d["image"],
            description=d.get("description"),
            artifact_digest=d.get("artifact_digest"),
            environment=dict(d.get("environment") or {}),
            created_at=parse_datetime(d["created_at"]),
            updated_at=parse_datetime(d["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class UploadedArtifact(_Result):
    """Where an uploaded ``model.tar.gz`` is: the ``artifact_uri`` to register, the archive's
    digest and size, the parts it went in, and whether it was there already (``reused``)."""

    uri: str
    digest: str
    bytes: int
    parts: int = dataclasses.field(repr=False)
    reused: bool

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "UploadedArtifact":
        return cls(
            uri=d["uri"],
            digest=d["digest"],
            bytes=d["bytes"],
            parts=d["parts"],
            reused=d["reused"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class PushedVersion(_Result):
    """What :meth:`mlm.Client.push_version` did: the registered version, the uploaded
    archive, the files packed, and whether the model was created on the way."""

    version: ModelVersion
    artifact: UploadedArtifact
    files: int
    model_created: bool

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "PushedVersion":
        return cls(
            version=ModelVersion._from(d["version"]),
            artifact=UploadedArtifact._from(d["artifact"]),
            files=d["files"],
            model_created=d["model_created"],
        )


# ---------------------------------------------------------------------------------------------
# Endpoints


@dataclasses.dataclass(frozen=True, repr=False)
class ServerlessConfig(_Result):
    """Serverless capacity instead of instances: a SageMaker serverless variant on AWS; on the
    local backend one instance process, started by the first request (a cold start) and stopped
    after an idle time, taking at most ``max_concurrency`` requests at once (more: throttled)."""

    memory_mb: int
    max_concurrency: int
    #: Concurrent invocations kept warm (1 to ``max_concurrency``); ``None``: scales to zero.
    provisioned_concurrency: Optional[int] = None


@dataclasses.dataclass(frozen=True, repr=False)
class AutoscalingPolicy(_Result):
    """Target-tracking autoscaling of a variant's instance count."""

    min_instances: int
    max_instances: int
    metric: str
    target_value: float
    #: Seconds after a scaling activity before the count may go down (``None``: the
    #: backend's default, 300 s on AWS).
    scale_in_cooldown_seconds: Optional[int] = None
    #: Seconds after a scale-out before the count may go up again (``None``: the default).
    scale_out_cooldown_seconds: Optional[int] = None


def _opt_version(value: Optional[Mapping[str, Any]]) -> Optional[VersionRef]:
    return None if value is None else VersionRef._from(value)


def _version_text(ref: Optional[VersionRef]) -> str:
    """A version for tables and reprs; ``?`` when mlm does not know it."""
    return "?" if ref is None else str(ref)


@dataclasses.dataclass(frozen=True, repr=False)
class Variant(_Result):
    """A variant as it runs: which version, on what, with how much traffic.

    ``model_version`` is ``None`` for a variant mlm did not create (an endpoint made outside
    mlm whose model is not from the model registry); it shows as ``?``.
    """

    name: str
    model_version: Optional[VersionRef]
    instance_type: Optional[str]
    desired_instance_count: int
    current_instance_count: Optional[int]
    weight: float
    serverless: Optional[ServerlessConfig] = dataclasses.field(repr=False)
    autoscaling: Optional[AutoscalingPolicy] = dataclasses.field(repr=False)

    def __repr__(self) -> str:
        current = "?" if self.current_instance_count is None else self.current_instance_count
        on = self.instance_type or "serverless"
        return (
            f"Variant({self.name}: {_version_text(self.model_version)} on {current}/"
            f"{self.desired_instance_count} x {on}, weight {self.weight:g})"
        )

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Variant":
        sls = d.get("serverless")
        auto = d.get("autoscaling")
        return cls(
            name=d["name"],
            model_version=_opt_version(d.get("model_version")),
            instance_type=d.get("instance_type"),
            desired_instance_count=d["desired_instance_count"],
            current_instance_count=d.get("current_instance_count"),
            weight=d["weight"],
            serverless=None if sls is None else ServerlessConfig(**sls),
            autoscaling=None if auto is None else AutoscalingPolicy(**auto),
        )


@dataclasses.dataclass(frozen=True)
class VariantSpec:
    """One variant of a new endpoint or of a replacement variant set.

    ``version`` is a :class:`ModelVersion`, a :class:`VersionRef` or ``"model/3"``.
    """

    name: str
    version: Union[str, VersionRef, ModelVersion]
    instance_type: Optional[str] = None
    instance_count: int = 1
    weight: float = 1.0
    serverless: Optional[ServerlessConfig] = None
    autoscaling: Optional[AutoscalingPolicy] = None

    def _request(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "model_version": VersionRef.parse(self.version).to_dict(),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "weight": self.weight,
            "serverless": None if self.serverless is None else self.serverless.to_dict(),
            "autoscaling": None if self.autoscaling is None else self.autoscaling.to_dict(),
        }


@dataclasses.dataclass(frozen=True, repr=False)
class Endpoint(_Result):
    """An endpoint: one or more variants of model versions, served by instances."""

    name: str
    status: EndpointStatus
    variants: Tuple[Variant, ...]
    failure_reason: Optional[str]
    tags: Mapping[str, str] = dataclasses.field(repr=False)
    data_capture: Optional[Mapping[str, Any]] = dataclasses.field(repr=False)
    deployment: Optional[Mapping[str, Any]] = dataclasses.field(repr=False)
    last_deployment: Optional["DeploymentSummary"]
    managed: bool = dataclasses.field(repr=False)
    created_at: datetime = dataclasses.field(repr=False)
    updated_at: datetime = dataclasses.field(repr=False)

    @property
    def ready(self) -> bool:
        """Whether it is ``InService``."""
        return self.status is EndpointStatus.IN_SERVICE

    @property
    def desired_instance_count(self) -> int:
        """Instances asked for, over all variants."""
        return sum(v.desired_instance_count for v in self.variants)

    @property
    def current_instance_count(self) -> int:
        """Instances running now, over all variants (unknown counts as 0)."""
        return sum(v.current_instance_count or 0 for v in self.variants)

    def variant(self, name: str) -> Variant:
        """The variant called ``name``."""
        for v in self.variants:
            if v.name == name:
                return v
        from .errors import NotFoundError

        raise NotFoundError(
            f"endpoint '{self.name}' has no variant '{name}' "
            f"(it has: {', '.join(v.name for v in self.variants)})",
            resource_kind="variant",
            resource_name=name,
        )

    def _row(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "variants": ", ".join(
                f"{v.name}={_version_text(v.model_version)}x{v.desired_instance_count}"
                for v in self.variants
            ),
            "instances": f"{self.current_instance_count}/{self.desired_instance_count}",
            "failure_reason": self.failure_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def _repr_html_(self) -> str:
        title = (
            f"<p><b>Endpoint {html.escape(self.name)}</b> &mdash; "
            f"{html.escape(self.status.value)}"
            + (f": {html.escape(self.failure_reason)}" if self.failure_reason else "")
            + "</p>"
        )
        rows = [
            (
                v.name,
                _version_text(v.model_version),
                v.instance_type or "serverless",
                f"{'?' if v.current_instance_count is None else v.current_instance_count}"
                f"/{v.desired_instance_count}",
                v.weight,
            )
            for v in self.variants
        ]
        return title + _html_table(
            ["variant", "version", "instance type", "instances", "weight"], rows
        )

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Endpoint":
        return cls(
            name=d["name"],
            status=EndpointStatus(d["status"]),
            variants=tuple(Variant._from(v) for v in d.get("variants") or ()),
            failure_reason=d.get("failure_reason"),
            tags=dict(d.get("tags") or {}),
            data_capture=d.get("data_capture"),
            deployment=d.get("deployment"),
            last_deployment=_opt(DeploymentSummary._from, d.get("last_deployment")),
            managed=bool(d.get("managed", True)),
            created_at=parse_datetime(d["created_at"]),
            updated_at=parse_datetime(d["updated_at"]),
        )


def _opt(parse: Callable[[Any], T], value: Any) -> Optional[T]:
    return None if value is None else parse(value)


# ---------------------------------------------------------------------------------------------
# Alarms and deployments


@dataclasses.dataclass(frozen=True, repr=False)
class Alarm(_Result):
    """An alarm on an endpoint's metric, with its live state (CloudWatch's semantics: it
    fires when ``datapoints_to_alarm`` of the last ``evaluation_periods`` periods breach)."""

    name: str
    endpoint: str
    state: AlarmState
    metric: MetricKind
    statistic: Statistic
    comparison: Comparison
    threshold: float
    period_seconds: int = dataclasses.field(repr=False)
    evaluation_periods: int = dataclasses.field(repr=False)
    datapoints_to_alarm: int = dataclasses.field(repr=False)
    treat_missing_data: TreatMissingData = dataclasses.field(repr=False)
    variant: Optional[str] = dataclasses.field(repr=False)
    actions: Tuple[str, ...] = dataclasses.field(repr=False)
    description: Optional[str] = dataclasses.field(repr=False)
    state_reason: str = dataclasses.field(repr=False)
    state_since: datetime = dataclasses.field(repr=False)

    @property
    def firing(self) -> bool:
        """Whether it is in ``ALARM``."""
        return self.state is AlarmState.ALARM

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Alarm":
        return cls(
            name=d["name"],
            endpoint=d["endpoint"],
            state=AlarmState(d["state"]),
            metric=MetricKind(d["metric"]),
            statistic=Statistic(d["statistic"]),
            comparison=Comparison(d["comparison"]),
            threshold=float(d["threshold"]),
            period_seconds=d["period_seconds"],
            evaluation_periods=d["evaluation_periods"],
            datapoints_to_alarm=d["datapoints_to_alarm"],
            treat_missing_data=TreatMissingData(d["treat_missing_data"]),
            variant=d.get("variant"),
            actions=tuple(d.get("actions") or ()),
            description=d.get("description"),
            state_reason=d["state_reason"],
            state_since=parse_datetime(d["state_since"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class PhaseChange(_Result):
    """One entry of a deployment's timeline: the phase entered, and when."""

    phase: PhaseName
    at: datetime
    percent: Optional[int]
    reason: Optional[str]
    alarm: Optional[str]

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "PhaseChange":
        return cls(
            phase=PhaseName(d["phase"]),
            at=parse_datetime(d["at"]),
            percent=d.get("percent"),
            reason=d.get("reason"),
            alarm=d.get("alarm"),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class DeploymentSummary(_Result):
    """An endpoint's latest deployment, in brief (``Endpoint.last_deployment``)."""

    id: str
    phase: PhaseName
    percent: Optional[int]
    reason: Optional[str]
    alarm: Optional[str]
    started_at: datetime = dataclasses.field(repr=False)
    ended_at: Optional[datetime] = dataclasses.field(repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "DeploymentSummary":
        return cls(
            id=d["id"],
            phase=PhaseName(d["phase"]),
            percent=d.get("percent"),
            reason=d.get("reason"),
            alarm=d.get("alarm"),
            started_at=parse_datetime(d["started_at"]),
            ended_at=_opt_datetime(d.get("ended_at")),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Deployment(_Result):
    """One create or update of an endpoint: its target, its policy, every phase it went
    through and how it ended (``completed``, ``rolled_back`` with the alarm that fired, or
    ``failed``)."""

    id: str
    endpoint: str
    kind: DeploymentKind
    phase: PhaseName
    percent: Optional[int]
    reason: Optional[str]
    alarm: Optional[str]
    target: Tuple[Variant, ...] = dataclasses.field(repr=False)
    policy: Optional[Mapping[str, Any]] = dataclasses.field(repr=False)
    timeline: Tuple[PhaseChange, ...] = dataclasses.field(repr=False)
    started_at: datetime = dataclasses.field(repr=False)
    ended_at: Optional[datetime] = dataclasses.field(repr=False)

    @property
    def done(self) -> bool:
        """Whether it has ended, however it ended."""
        return self.phase.is_terminal

    def _row(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "phase": self.phase.value,
            "percent": self.percent,
            "reason": self.reason,
            "alarm": self.alarm,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Deployment":
        return cls(
            id=d["id"],
            endpoint=d["endpoint"],
            kind=DeploymentKind(d["kind"]),
            phase=PhaseName(d["phase"]),
            percent=d.get("percent"),
            reason=d.get("reason"),
            alarm=d.get("alarm"),
            target=tuple(Variant._from(v) for v in d.get("target") or ()),
            policy=d.get("policy"),
            timeline=tuple(PhaseChange._from(c) for c in d.get("timeline") or ()),
            started_at=parse_datetime(d["started_at"]),
            ended_at=_opt_datetime(d.get("ended_at")),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class EndpointEvent(_Result):
    """One entry of an endpoint's timeline: what happened, why, and who recorded it
    (``system``: the backend's own decisions; ``user``: e.g. a load test's result)."""

    id: str
    endpoint: str
    at: datetime
    kind: str
    source: EventSource
    message: str
    data: Optional[Mapping[str, Any]] = dataclasses.field(repr=False)

    def _row(self) -> Dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "source": self.source.value,
            "message": self.message,
        }

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "EndpointEvent":
        return cls(
            id=d["id"],
            endpoint=d["endpoint"],
            at=parse_datetime(d["at"]),
            kind=d["kind"],
            source=EventSource(d["source"]),
            message=d["message"],
            data=d.get("data"),
        )


# ---------------------------------------------------------------------------------------------
# Dashboards


@dataclasses.dataclass(frozen=True, repr=False)
class Dashboard(_Result):
    """An endpoint's monitoring dashboard (a CloudWatch dashboard on AWS): its name, where to
    open it, its widget titles, and what the put that returned it did (``created`` or
    ``updated``; ``None`` when read with :meth:`mlm.Client.get_dashboard`)."""

    name: str
    endpoint: str
    url: str
    widgets: Tuple[str, ...] = dataclasses.field(repr=False)
    action: Optional[str]

    def _row(self) -> Dict[str, Any]:
        return {"name": self.name, "endpoint": self.endpoint, "action": self.action, "url": self.url}

    def _repr_html_(self) -> str:
        return f'<a href="{html.escape(self.url)}">{html.escape(self.name)}</a>'

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Dashboard":
        return cls(
            name=d["name"],
            endpoint=d["endpoint"],
            url=d["url"],
            widgets=tuple(d["widgets"]),
            action=d.get("action"),
        )


# ---------------------------------------------------------------------------------------------
# Data capture


@dataclasses.dataclass(frozen=True, repr=False)
class CapturePayload(_Result):
    """One captured payload, as SageMaker writes it: ``data`` is the text (``CSV``,
    ``JSON``) or base64 (``BASE64``) of the bytes; :attr:`bytes` decodes it."""

    observed_content_type: str
    mode: str
    data: str = dataclasses.field(repr=False)
    encoding: str

    @property
    def bytes(self) -> bytes:
        """The payload as sent or answered."""
        if self.encoding == "BASE64":
            return _base64.b64decode(self.data)
        return self.data.encode("utf-8")

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "CapturePayload":
        return cls(
            observed_content_type=d["observedContentType"],
            mode=d["mode"],
            data=d["data"],
            encoding=d["encoding"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class CapturedRecord(_Result):
    """One captured invocation: the variant that served it and SageMaker's record
    (``raw``, exactly as stored)."""

    variant: str
    event_id: str
    inference_time: datetime
    input: Optional[CapturePayload]
    output: Optional[CapturePayload]
    raw: Mapping[str, Any] = dataclasses.field(repr=False)

    def _row(self) -> Dict[str, Any]:
        return {
            "variant": self.variant,
            "event_id": self.event_id,
            "inference_time": self.inference_time,
            "input": self.input.data if self.input else None,
            "output": self.output.data if self.output else None,
        }

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "CapturedRecord":
        record = d["record"]
        data = record.get("captureData") or {}
        meta = record["eventMetadata"]
        return cls(
            variant=d["variant"],
            event_id=meta["eventId"],
            inference_time=parse_datetime(meta["inferenceTime"]),
            input=_opt(CapturePayload._from, data.get("endpointInput")),
            output=_opt(CapturePayload._from, data.get("endpointOutput")),
            raw=record,
        )


# ---------------------------------------------------------------------------------------------
# Drift


@dataclasses.dataclass(frozen=True, repr=False)
class CategoryCounts(_Result):
    """Counts per category (values, tokens or labels); the rarest beyond a cap in ``other``."""

    counts: Mapping[str, int]
    other: int

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "CategoryCounts":
        return cls(counts=dict(d["counts"]), other=d["other"])


@dataclasses.dataclass(frozen=True, repr=False)
class NumericProfile(_Result):
    """A numeric field's baseline distribution: PSI bins and Kolmogorov–Smirnov quantiles."""

    bin_edges: Tuple[float, ...] = dataclasses.field(repr=False)
    bin_fractions: Tuple[float, ...] = dataclasses.field(repr=False)
    quantiles: Tuple[float, ...] = dataclasses.field(repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "NumericProfile":
        return cls(
            bin_edges=tuple(d["bin_edges"]),
            bin_fractions=tuple(d["bin_fractions"]),
            quantiles=tuple(d["quantiles"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class FieldProfile(_Result):
    """One input field of a baseline: its kind, how many values, and their distribution."""

    kind: FieldKind
    count: int
    numeric: Optional[NumericProfile] = dataclasses.field(default=None, repr=False)
    categories: Optional[CategoryCounts] = dataclasses.field(default=None, repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "FieldProfile":
        return cls(
            kind=FieldKind(d["kind"]),
            count=d["count"],
            numeric=_opt(NumericProfile._from, d.get("numeric")),
            categories=_opt(CategoryCounts._from, d.get("categories")),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Baseline(_Result):
    """The profile of a sample of an endpoint's traffic that drift reports compare with
    (``window_start``/``window_end``: the captured traffic it was built from, if any)."""

    name: str
    endpoint: str
    created_at: datetime
    sample_count: int
    fields: Mapping[str, FieldProfile] = dataclasses.field(repr=False)
    labels: Optional[CategoryCounts] = dataclasses.field(repr=False)
    window_start: Optional[datetime] = dataclasses.field(repr=False)
    window_end: Optional[datetime] = dataclasses.field(repr=False)

    def _row(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "created_at": self.created_at,
            "sample_count": self.sample_count,
            "fields": len(self.fields),
            "labels": self.labels is not None,
        }

    def _repr_html_(self) -> str:
        title = (
            f"<p><b>Baseline {html.escape(self.name)}</b> of {html.escape(self.endpoint)}: "
            f"{self.sample_count} samples, {html.escape(_short(self.created_at))}</p>"
        )
        rows = [[name, f.kind, f.count] for name, f in self.fields.items()]
        return title + _html_table(["field", "kind", "values"], rows)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Baseline":
        return cls(
            name=d["name"],
            endpoint=d["endpoint"],
            created_at=parse_datetime(d["created_at"]),
            sample_count=d["sample_count"],
            fields={k: FieldProfile._from(v) for k, v in d["fields"].items()},
            labels=_opt(CategoryCounts._from, d.get("labels")),
            window_start=_opt_datetime(d.get("window_start")),
            window_end=_opt_datetime(d.get("window_end")),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class DriftCheck(_Result):
    """One statistic against its threshold; ``severity`` is above 1 exactly when drifted."""

    statistic: DriftStatistic
    value: float
    threshold: float
    drifted: bool
    severity: float

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "DriftCheck":
        return cls(
            statistic=DriftStatistic(d["statistic"]),
            value=d["value"],
            threshold=d["threshold"],
            drifted=d["drifted"],
            severity=d["severity"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class FieldDrift(_Result):
    """One input field's drift: its checks (none when the window had no values of it)."""

    field: str
    kind: FieldKind
    baseline_count: int
    window_count: int
    checks: Tuple[DriftCheck, ...]
    drifted: bool

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "FieldDrift":
        return cls(
            field=d["field"],
            kind=FieldKind(d["kind"]),
            baseline_count=d["baseline_count"],
            window_count=d["window_count"],
            checks=tuple(DriftCheck._from(c) for c in d["checks"]),
            drifted=d["drifted"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class LabelDrift(_Result):
    """The shift of the predicted labels: the window's counts and the chi-square test."""

    window: Mapping[str, int]
    chi_square: float
    degrees_of_freedom: int
    check: DriftCheck

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "LabelDrift":
        return cls(
            window=dict(d["window"]),
            chi_square=d["chi_square"],
            degrees_of_freedom=d["degrees_of_freedom"],
            check=DriftCheck._from(d["check"]),
        )


_REPORT_COLUMNS = ["field", "kind", "statistic", "value", "threshold", "severity", "drifted"]


@dataclasses.dataclass(frozen=True, repr=False)
class DriftReport(_Result):
    """A window of traffic compared with a baseline. ``drift_score`` is the worst check's
    severity (above 1: something drifted); it is also the endpoint's ``drift_score`` metric.
    Renders as a table in notebooks and in ``str()``; :meth:`to_pandas` gives one row per
    check."""

    endpoint: str
    baseline: str
    created_at: datetime
    window_start: Optional[datetime] = dataclasses.field(repr=False)
    window_end: Optional[datetime] = dataclasses.field(repr=False)
    sample_count: int
    fields: Tuple[FieldDrift, ...] = dataclasses.field(repr=False)
    unprofiled_fields: Tuple[str, ...] = dataclasses.field(repr=False)
    labels: Optional[LabelDrift] = dataclasses.field(repr=False)
    drift_score: float
    drifted: bool
    thresholds: Mapping[str, Any] = dataclasses.field(repr=False)

    def rows(self) -> List[Dict[str, Any]]:
        """One row per check: the fields' statistics, then the labels' p-value."""
        checks = [(f.field, f.kind.value, c) for f in self.fields for c in f.checks]
        if self.labels is not None:
            checks.append(("(labels)", "labels", self.labels.check))
        return [
            {
                "field": field,
                "kind": kind,
                "statistic": c.statistic.value,
                "value": c.value,
                "threshold": c.threshold,
                "severity": c.severity,
                "drifted": c.drifted,
            }
            for field, kind, c in checks
        ]

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per check (needs pandas)."""
        return _import_pandas().DataFrame(self.rows(), columns=_REPORT_COLUMNS)

    def _summary(self) -> str:
        verdict = "drifted" if self.drifted else "no drift"
        return (
            f"drift report of {self.endpoint} against baseline {self.baseline}: "
            f"{self.sample_count} samples, drift score {self.drift_score:.2f} ({verdict})"
        )

    def __str__(self) -> str:
        cells = [
            [
                r["field"],
                r["kind"],
                r["statistic"],
                f"{r['value']:.4g}",
                f"{r['threshold']:g}",
                f"{r['severity']:.2f}",
                "DRIFTED" if r["drifted"] else "ok",
            ]
            for r in self.rows()
        ]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_REPORT_COLUMNS)]
        lines = [
            "  ".join(h.ljust(w) for h, w in zip(_REPORT_COLUMNS, widths)),
            *("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells),
            self._summary(),
        ]
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        rows = [[r[c] for c in _REPORT_COLUMNS] for r in self.rows()]
        return f"<p><b>{html.escape(self._summary())}</b></p>" + _html_table(_REPORT_COLUMNS, rows)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "DriftReport":
        return cls(
            endpoint=d["endpoint"],
            baseline=d["baseline"],
            created_at=parse_datetime(d["created_at"]),
            window_start=_opt_datetime(d.get("window_start")),
            window_end=_opt_datetime(d.get("window_end")),
            sample_count=d["sample_count"],
            fields=tuple(FieldDrift._from(f) for f in d["fields"]),
            unprofiled_fields=tuple(d["unprofiled_fields"]),
            labels=_opt(LabelDrift._from, d.get("labels")),
            drift_score=d["drift_score"],
            drifted=d["drifted"],
            thresholds=d["thresholds"],
        )


# ---------------------------------------------------------------------------------------------
# Observability


# ---------------------------------------------------------------------------------------------
# Pipelines


@dataclasses.dataclass(frozen=True, repr=False)
class StageStatus(_Result):
    """A pipeline stage and the version of the pipeline's model its endpoint serves now."""

    name: str
    endpoint: str
    endpoint_status: Optional[EndpointStatus]
    live_version: Optional[int]

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "StageStatus":
        return cls(
            name=d["name"],
            endpoint=d["endpoint"],
            endpoint_status=_opt(EndpointStatus, d.get("endpoint_status")),
            live_version=d.get("live_version"),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class RunSummary(_Result):
    """A pipeline run in a list: its id, version, state and why."""

    id: str
    version: int
    state: RunState
    reason: Optional[str]
    updated_at: datetime = dataclasses.field(repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "RunSummary":
        return cls(
            id=d["id"],
            version=d["version"],
            state=RunState(d["state"]),
            reason=d.get("reason"),
            updated_at=parse_datetime(d["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class PipelineStep(_Result):
    """One entry of a run's timeline: who (``user:<name>`` or ``pipeline``) did what, when
    and why."""

    at: datetime
    stage: Optional[str]
    kind: str
    actor: str
    message: str

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "PipelineStep":
        return cls(
            at=parse_datetime(d["at"]),
            stage=d.get("stage"),
            kind=d["kind"],
            actor=d["actor"],
            message=d["message"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class StageRun(_Result):
    """One stage of a run (``previous``: what the endpoint served before, to roll back to)."""

    name: str
    endpoint: str
    state: StageState
    deployment: Optional[str]
    promoted_by: Optional[str]
    reason: Optional[str]
    started_at: Optional[datetime] = dataclasses.field(repr=False)
    state_since: Optional[datetime] = dataclasses.field(repr=False)
    previous: Optional[Tuple[Mapping[str, Any], ...]] = dataclasses.field(repr=False)
    attempts: int = dataclasses.field(repr=False)

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "StageRun":
        previous = d.get("previous")
        return cls(
            name=d["name"],
            endpoint=d["endpoint"],
            state=StageState(d["state"]),
            deployment=d.get("deployment"),
            promoted_by=d.get("promoted_by"),
            reason=d.get("reason"),
            started_at=_opt_datetime(d.get("started_at")),
            state_since=_opt_datetime(d.get("state_since")),
            previous=None if previous is None else tuple(previous),
            attempts=d["attempts"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class PipelineRun(_Result):
    """One model version's way through a pipeline (id ``v<version>``): its stages and
    timeline. :meth:`wait` polls it until it has ended or awaits a promotion."""

    id: str
    pipeline: str
    model_version: VersionRef
    state: RunState
    reason: Optional[str]
    stages: Tuple[StageRun, ...] = dataclasses.field(repr=False)
    steps: Tuple[PipelineStep, ...] = dataclasses.field(repr=False)
    cancel_requested_by: Optional[str] = dataclasses.field(repr=False)
    created_at: datetime = dataclasses.field(repr=False)
    updated_at: datetime = dataclasses.field(repr=False)
    revision: int = dataclasses.field(repr=False)

    @property
    def settled(self) -> bool:
        """Whether the run has ended or waits for a promotion (what :meth:`wait` waits for)."""
        return self.state.is_terminal or self.state is RunState.AWAITING_PROMOTION

    def stage(self, name: str) -> StageRun:
        """The stage named ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def _bind(self, refresh: Callable[[], Any]) -> "PipelineRun":
        """Keeps how to fetch this run again (a client's ``get_run``), for :meth:`wait`."""
        object.__setattr__(self, "_refresh", refresh)
        return self

    def _deadline_passed(self, deadline: float) -> None:
        import time

        from .errors import TimeoutError as MlmTimeout

        if time.monotonic() >= deadline:
            raise MlmTimeout(
                f"run {self.id} of pipeline '{self.pipeline}' is still {self.state} "
                "(waited for it to end or await a promotion)"
            )

    def wait(self, timeout: float = 1800.0, interval: float = 1.0) -> "PipelineRun":
        """Polls the run until it has ended or awaits a promotion, and returns it fresh;
        raises :class:`mlm.errors.TimeoutError` after ``timeout`` seconds. For a run of an
        :class:`mlm.aio.AsyncClient`, ``await run.wait_async()``."""
        import time

        refresh = self.__dict__.get("_refresh")
        if refresh is None or getattr(refresh, "is_async", False):
            raise TypeError("this run has no client to poll: use await run.wait_async()")
        deadline = time.monotonic() + timeout
        run = self
        while not run.settled:
            run._deadline_passed(deadline)
            time.sleep(interval)
            run = refresh()
        return run

    async def wait_async(self, timeout: float = 1800.0, interval: float = 1.0) -> "PipelineRun":
        """:meth:`wait` for runs of an :class:`mlm.aio.AsyncClient`."""
        import asyncio
        import time

        refresh = self.__dict__.get("_refresh")
        if refresh is None or not getattr(refresh, "is_async", False):
            raise TypeError("this run has no async client to poll: use run.wait()")
        deadline = time.monotonic() + timeout
        run = self
        while not run.settled:
            run._deadline_passed(deadline)
            await asyncio.sleep(interval)
            run = await refresh()
        return run

    def _row(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "version": self.model_version.version,
            "state": self.state.value,
            "reason": self.reason,
            "updated_at": self.updated_at,
        }

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "PipelineRun":
        return cls(
            id=d["id"],
            pipeline=d["pipeline"],
            model_version=VersionRef._from(d["model_version"]),
            state=RunState(d["state"]),
            reason=d.get("reason"),
            stages=tuple(StageRun._from(s) for s in d["stages"]),
            steps=tuple(PipelineStep._from(s) for s in d["steps"]),
            cancel_requested_by=d.get("cancel_requested_by"),
            created_at=parse_datetime(d["created_at"]),
            updated_at=parse_datetime(d["updated_at"]),
            revision=d["revision"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Pipeline(_Result):
    """A promotion pipeline as applied (``spec``, the file's fields), what each stage serves,
    the runs in progress and the latest ended ones."""

    spec: Mapping[str, Any] = dataclasses.field(repr=False)
    stages: Tuple[StageStatus, ...]
    active_runs: Tuple[PipelineRun, ...]
    recent_runs: Tuple[RunSummary, ...] = dataclasses.field(repr=False)
    created_at: datetime = dataclasses.field(repr=False)
    updated_at: datetime = dataclasses.field(repr=False)

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return str(self.spec["pipeline"])

    @property
    def model(self) -> str:
        """The model whose approved versions it deploys."""
        return str(self.spec["model"])

    def _row(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "stages": ", ".join(f"{s.name}={s.live_version}" for s in self.stages),
            "active_runs": len(self.active_runs),
            "updated_at": self.updated_at,
        }

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Pipeline":
        return cls(
            spec=dict(d["spec"]),
            stages=tuple(StageStatus._from(s) for s in d["stages"]),
            active_runs=tuple(PipelineRun._from(r) for r in d["active_runs"]),
            recent_runs=tuple(RunSummary._from(r) for r in d["recent_runs"]),
            created_at=parse_datetime(d["created_at"]),
            updated_at=parse_datetime(d["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class StagePlan(_Result):
    """What a stage's next deployment does: ``create_endpoint`` or ``update_endpoint``, the
    versions it serves now, and the changes, one sentence each."""

    stage: str
    action: str
    serving: Tuple[int, ...]
    changes: Tuple[str, ...]

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "StagePlan":
        return cls(
            stage=d["stage"],
            action=d["action"],
            serving=tuple(d["serving"]),
            changes=tuple(d["changes"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class PipelinePlan(_Result):
    """What applying a pipeline did (``created``, ``updated``, ``unchanged``) or, with
    ``dry_run``, would do, stage by stage."""

    pipeline: str
    dry_run: bool
    action: str
    stages: Tuple[StagePlan, ...]

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "PipelinePlan":
        return cls(
            pipeline=d["pipeline"],
            dry_run=d["dry_run"],
            action=d["action"],
            stages=tuple(StagePlan._from(s) for s in d["stages"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Measurement(_Result):
    """One figure and what it covers."""

    value: float
    scope: MetricScope

    @classmethod
    def _from(cls, d: Optional[Mapping[str, Any]]) -> Optional["Measurement"]:
        return None if d is None else cls(value=d["value"], scope=MetricScope(d["scope"]))


_INSTANCE_FIGURES = (
    "cpu_utilization",
    "memory_utilization",
    "gpu_utilization",
    "gpu_memory_utilization",
    "in_flight_requests",
)


@dataclasses.dataclass(frozen=True, repr=False)
class InstanceMetrics(_Result):
    """The latest figures of one instance; ``None`` means not available (never a fake 0)."""

    cpu_utilization: Optional[Measurement] = None
    memory_utilization: Optional[Measurement] = None
    gpu_utilization: Optional[Measurement] = None
    gpu_memory_utilization: Optional[Measurement] = None
    in_flight_requests: Optional[Measurement] = None

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "InstanceMetrics":
        return cls(**{k: Measurement._from(d.get(k)) for k in _INSTANCE_FIGURES})


@dataclasses.dataclass(frozen=True, repr=False)
class Instance(_Result):
    """One instance of an endpoint variant with its latest figures (``None``: not available,
    never a fake 0)."""

    id: str
    variant: str
    status: InstanceStatus
    started_at: Optional[datetime] = dataclasses.field(repr=False)
    cpu_utilization: Optional[Measurement] = dataclasses.field(repr=False)
    memory_utilization: Optional[Measurement] = dataclasses.field(repr=False)
    gpu_utilization: Optional[Measurement] = dataclasses.field(repr=False)
    gpu_memory_utilization: Optional[Measurement] = dataclasses.field(repr=False)
    in_flight_requests: Optional[Measurement] = dataclasses.field(repr=False)

    @property
    def metrics(self) -> InstanceMetrics:
        """The figures grouped in one object."""
        return InstanceMetrics(**{k: getattr(self, k) for k in _INSTANCE_FIGURES})

    def _row(self) -> Dict[str, Any]:
        row: Dict[str, Any] = {"id": self.id, "variant": self.variant, "status": self.status.value}
        for k in _INSTANCE_FIGURES:
            m = getattr(self, k)
            # NaN, not None: a missing figure keeps the column numeric in pandas.
            row[k] = math.nan if m is None else m.value
        row["started_at"] = self.started_at
        return row

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Instance":
        return cls(
            id=d["id"],
            variant=d["variant"],
            status=InstanceStatus(d["status"]),
            started_at=_opt_datetime(d.get("started_at")),
            **{k: Measurement._from(d.get(k)) for k in _INSTANCE_FIGURES},
        )


def _fmt_figure(value: Any) -> str:
    return "–" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))


class InstanceTable(Tuple[Instance, ...]):
    """The instances of an endpoint: a tuple with a notebook table and :meth:`to_pandas`."""

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per instance, figures as plain numbers (needs pandas)."""
        return _import_pandas().DataFrame([i._row() for i in self])

    def to_dicts(self) -> List[Dict[str, Any]]:
        """The instances as plain dicts."""
        return [i.to_dict() for i in self]

    def _repr_html_(self) -> str:
        headers = ["id", "variant", "status", "cpu %", "memory %", "gpu %", "in flight"]
        rows = [
            [i.id, i.variant, i.status]
            + [
                _fmt_figure(None if (m := getattr(i, k)) is None else m.value)
                for k in _INSTANCE_FIGURES
                if k != "gpu_memory_utilization"
            ]
            for i in self
        ]
        return _html_table(headers, rows)

    def __repr__(self) -> str:
        if not self:
            return "InstanceTable([])"
        lines = [f"{'id':<14} {'variant':<10} {'status':<10} {'cpu %':>6} {'mem %':>6} {'inflight':>8}"]
        for i in self:
            m = i
            lines.append(
                f"{i.id:<14} {i.variant:<10} {i.status.value:<10} "
                f"{_fmt_figure(m.cpu_utilization and m.cpu_utilization.value):>6} "
                f"{_fmt_figure(m.memory_utilization and m.memory_utilization.value):>6} "
                f"{_fmt_figure(m.in_flight_requests and m.in_flight_requests.value):>8}"
            )
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True, repr=False)
class VariantOverview(_Result):
    """Counts of one variant in an overview."""

    name: str
    desired_instance_count: int
    current_instance_count: Optional[int]
    weight: float

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "VariantOverview":
        return cls(
            name=d["name"],
            desired_instance_count=d["desired_instance_count"],
            current_instance_count=d.get("current_instance_count"),
            weight=d["weight"],
        )


@dataclasses.dataclass(frozen=True, repr=False)
class EndpointOverview(_Result):
    """An endpoint's status, counts and instances in one answer: the dashboard's unit."""

    name: str
    status: EndpointStatus
    instance_count: int
    variants: Tuple[VariantOverview, ...]
    instances: InstanceTable = dataclasses.field(repr=False)
    failure_reason: Optional[str] = dataclasses.field(repr=False)
    as_of: datetime = dataclasses.field(repr=False)

    def _row(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "instances": self.instance_count,
            "desired": sum(v.desired_instance_count for v in self.variants),
            "failure_reason": self.failure_reason,
            "as_of": self.as_of,
        }

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Endpoint {html.escape(self.name)}</b> &mdash; "
            f"{html.escape(self.status.value)}, {self.instance_count} instance(s), "
            f"as of {html.escape(_short(self.as_of))}</p>" + self.instances._repr_html_()
        )

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "EndpointOverview":
        return cls(
            name=d["name"],
            status=EndpointStatus(d["status"]),
            instance_count=d["instance_count"],
            variants=tuple(VariantOverview._from(v) for v in d.get("variants") or ()),
            instances=InstanceTable(Instance._from(i) for i in d.get("instances") or ()),
            failure_reason=d.get("failure_reason"),
            as_of=parse_datetime(d["as_of"]),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class DataPoint(_Result):
    """One bucket of a metric series."""

    timestamp: datetime
    value: float


@dataclasses.dataclass(frozen=True, repr=False)
class MetricSeries(_Result):
    """The history of one metric for an endpoint, variant or instance."""

    metric: MetricKind
    variant: Optional[str]
    instance: Optional[str]
    statistic: Statistic
    unit: str
    points: Tuple[DataPoint, ...] = dataclasses.field(repr=False)
    scope: MetricScope = dataclasses.field(repr=False)

    @property
    def kind(self) -> MetricKind:
        """The metric (the REST API's and this class's field is ``metric``)."""
        return self.metric

    @property
    def values(self) -> List[float]:
        """The values in time order."""
        return [p.value for p in self.points]

    def __repr__(self) -> str:
        where = "".join(
            f", {k}={v!r}" for k, v in (("variant", self.variant), ("instance", self.instance)) if v
        )
        return (
            f"MetricSeries({self.kind.value}{where}, {self.statistic.value}, "
            f"{len(self.points)} points, unit={self.unit!r})"
        )

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "MetricSeries":
        return cls(
            metric=MetricKind(d["metric"]),
            variant=d.get("variant"),
            instance=d.get("instance"),
            statistic=Statistic(d["statistic"]),
            unit=d["unit"],
            points=tuple(
                DataPoint(parse_datetime(p["timestamp"]), p["value"]) for p in d["points"]
            ),
            scope=MetricScope(d["scope"]),
        )


class Metrics(Tuple[MetricSeries, ...]):
    """The answer of ``metrics()``: one series per metric (and variant/instance)."""

    def series(self, kind: Union[str, MetricKind]) -> List[MetricSeries]:
        """The series of one metric."""
        kind = MetricKind(kind)
        return [s for s in self if s.kind is kind]

    def to_pandas(self) -> "pandas.DataFrame":
        """Long format: one row per point (timestamp, kind, variant, instance, value, unit)."""
        rows = [
            {
                "timestamp": p.timestamp,
                "kind": s.kind.value,
                "variant": s.variant,
                "instance": s.instance,
                "statistic": s.statistic.value,
                "value": p.value,
                "unit": s.unit,
            }
            for s in self
            for p in s.points
        ]
        columns = ["timestamp", "kind", "variant", "instance", "statistic", "value", "unit"]
        return _import_pandas().DataFrame(rows, columns=columns)


@dataclasses.dataclass(frozen=True, repr=False)
class InvokeResult(_Result):
    """The model's answer to one invocation."""

    body: bytes
    content_type: str
    variant: Optional[str]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    def __repr__(self) -> str:
        preview = self.body[:80]
        more = "..." if len(self.body) > 80 else ""
        return (
            f"InvokeResult(content_type={self.content_type!r}, variant={self.variant!r}, "
            f"body={preview!r}{more})"
        )

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "InvokeResult":
        return cls(body=d["body"], content_type=d["content_type"], variant=d.get("variant"))


@dataclasses.dataclass(frozen=True, repr=False)
class Capabilities(_Result):
    """What a backend supports; anything else fails with :class:`mlm.UnsupportedError`."""

    serverless: bool
    data_capture: bool
    deployment_policies: bool
    alarms: bool
    autoscaling: bool
    gpu_metrics: bool
    per_instance_metrics: bool
    events: bool
    drift: bool
    pipelines: bool
    dashboards: bool

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Capabilities":
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: bool(d.get(n, False)) for n in names})


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the token of the next one (``None`` on the last page)."""

    items: Tuple[T, ...]
    next_page_token: Optional[str]
