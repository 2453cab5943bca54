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

from . import errors, types
from ._mlm import __version__
from ._paging import AsyncPager, Pager
from .aio import AsyncClient
from .client import DEFAULT_TIMEOUT, Client
from .errors import (
    AlreadyExistsError,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    MlmError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ThrottledError,
    TimeoutError,
    UnauthenticatedError,
    UnsupportedError,
)
from .types import (
    Approval,
    AutoscalingPolicy,
    Capabilities,
    DataPoint,
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
    ServerlessConfig,
    Statistic,
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
    "ProviderError",
    # types
    "Approval",
    "AutoscalingPolicy",
    "Capabilities",
    "DataPoint",
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
    "ServerlessConfig",
    "Statistic",
    "Variant",
    "VariantOverview",
    "VariantSpec",
    "VersionRef",
]
