"""mlm: model lifecycle management from Python.

Register model versions, deploy them to endpoints, invoke, watch instances and scale — on the
embedded local backend, AWS SageMaker, or a remote ``mlm serve`` — with one API::

    import mlm

    with mlm.Client.local() as client:
        client.create_model("news")
        v1 = client.create_version("news", "examples/agnews-classifier/model", "agnews-classifier")
        client.create_endpoint("news", v1, instance_type="ml.m5.large", wait=True)
        print(client.invoke("news", {"sentence": "The match ended 2-1"}).json())

All logic lives in the Rust core (``mlm-core``); this package is a typed veneer over it.
Blocking calls release the GIL; :mod:`mlm.aio` has the asyncio twin.
"""

from . import errors, policies, types
from ._mlm import __version__
from ._paging import AsyncPager, Pager
from .aio import AsyncClient
from .client import DEFAULT_TIMEOUT, Client
from .errors import (
    AlreadyExistsError,
    ConflictError,
    DeploymentFailedError,
    FailedPreconditionError,
    InvalidArgumentError,
    MlmError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RolledBackError,
    ThrottledError,
    TimeoutError,
    UnauthenticatedError,
    UnsupportedError,
)
from .types import (
    Alarm,
    AlarmState,
    Approval,
    AutoscalingPolicy,
    Capabilities,
    Comparison,
    DataPoint,
    CapturedRecord,
    CapturePayload,
    Deployment,
    EndpointEvent,
    EventSource,
    DeploymentKind,
    DeploymentSummary,
    Endpoint,
    EndpointOverview,
    EndpointStatus,
    Instance,
    InstanceMetrics,
    InstanceStatus,
    InstanceTable,
    InvokeResult,
    Measurement,
    Metrics,
    MetricKind,
    MetricScope,
    MetricSeries,
    Model,
    ModelVersion,
    Page,
    PhaseChange,
    PhaseName,
    ServerlessConfig,
    Statistic,
    TreatMissingData,
    Variant,
    VariantOverview,
    VariantSpec,
    VersionRef,
)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "DEFAULT_TIMEOUT",
    "Pager",
    "AsyncPager",
    "errors",
    "policies",
    "types",
    # errors
    "MlmError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidArgumentError",
    "FailedPreconditionError",
    "ConflictError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "ThrottledError",
    "TimeoutError",
    "UnsupportedError",
    "RolledBackError",
    "DeploymentFailedError",
    "ProviderError",
    # types
    "Alarm",
    "AlarmState",
    "Approval",
    "AutoscalingPolicy",
    "Capabilities",
    "Comparison",
    "DataPoint",
    "CapturedRecord",
    "CapturePayload",
    "Deployment",
    "EndpointEvent",
    "EventSource",
    "DeploymentKind",
    "DeploymentSummary",
    "Endpoint",
    "EndpointOverview",
    "EndpointStatus",
    "Instance",
    "InstanceMetrics",
    "InstanceStatus",
    "InstanceTable",
    "InvokeResult",
    "Measurement",
    "Metrics",
    "MetricKind",
    "MetricScope",
    "MetricSeries",
    "Model",
    "ModelVersion",
    "Page",
    "PhaseChange",
    "PhaseName",
    "ServerlessConfig",
    "Statistic",
    "TreatMissingData",
    "Variant",
    "VariantOverview",
    "VariantSpec",
    "VersionRef",
]
