//! # mlm-core
//!
//! The provider-agnostic core of **mlm**, a model lifecycle management SDK: the domain types
//! (models, versions, endpoints, instances, metrics), the three narrow traits every backend
//! implements ([`ModelRegistry`], [`EndpointManager`], [`Observability`], bundled as
//! [`Provider`]), the one [`Error`] enum, and the conformance suite backends run (feature
//! `conformance`).
//!
//! No AWS types and no I/O live here: backends (`mlm-local`, `mlm-aws`) implement the traits,
//! adapters (`mlm-http`, `mlm-py`) call them.
//!
//! ```
//! use mlm_core::{
//!     CreateEndpointRequest, EndpointName, ModelName, UpdateEndpointRequest, UpdateKind,
//!     VariantChange, VariantName, VersionRef,
//! };
//!
//! // Names are validated once, with SageMaker's rules.
//! let model = ModelName::new("news-classifier")?;
//! assert!(ModelName::new("not valid!").is_err());
//!
//! // Requests are plain structs with builders; every backend validates them the same way.
//! let create = CreateEndpointRequest::single(
//!     EndpointName::new("news")?,
//!     VersionRef::new(model, 1),
//!     "ml.m5.large",
//!     2,
//! );
//! create.validate()?;
//!
//! // Scaling is a capacity-only change; every backend plans updates the same way.
//! let scale = UpdateEndpointRequest::new(create.name.clone())
//!     .with_change(VariantChange::new(VariantName::new("primary")?).with_instance_count(4));
//! # let now = chrono::Utc::now();
//! # let current: mlm_core::Endpoint = serde_json::from_value(serde_json::json!({
//! #   "name": "news", "status": "InService", "failure_reason": null, "tags": {},
//! #   "data_capture": null, "deployment": null, "managed": true,
//! #   "created_at": now, "updated_at": now,
//! #   "variants": [{"name": "primary", "model_version": {"model": "news-classifier", "version": 1},
//! #     "instance_type": "ml.m5.large", "desired_instance_count": 2, "current_instance_count": 2,
//! #     "weight": 1.0, "serverless": null, "autoscaling": null}]
//! # }))?;
//! let plan = scale.plan(&current)?;
//! assert_eq!(plan.kind, UpdateKind::CapacityOnly);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod endpoint;
mod error;
mod ext;
mod model;
mod names;
mod observability;
mod page;
mod traits;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use endpoint::{
    AutoscalingPolicy, CreateEndpointRequest, DataCaptureConfig, DeploymentPolicy, Endpoint,
    EndpointStatus, InvokeRequest, InvokeResponse, MAX_INSTANCE_COUNT, MAX_VARIANTS, ScalingMetric,
    ServerlessConfig, TrafficShift, UpdateEndpointRequest, UpdateKind, UpdatePlan, Variant,
    VariantChange, VariantSpec, validate_variants,
};
pub use error::{BoxError, Error, ErrorKind, ResourceKind, Result};
pub use ext::{
    EndpointManagerExt, ModelRegistryExt, ObservabilityExt, WaitOptions, all_pages,
    endpoint_not_found,
};
pub use model::{
    Approval, CreateModelRequest, CreateVersionRequest, Environment, MAX_DESCRIPTION_LEN,
    MAX_ENV_VALUE_LEN, MAX_TAGS, Model, ModelVersion, Tags, UpdateModelRequest,
    UpdateVersionRequest, VersionRef, validate_tags,
};
pub use names::{EndpointName, MAX_NAME_LEN, ModelName, VariantName, validate_name};
pub use observability::{
    DataPoint, EndpointOverview, Instance, InstanceMetrics, InstanceStatus, MAX_METRIC_WINDOW,
    MAX_POINTS_PER_SERIES, Measurement, MetricKind, MetricQuery, MetricScope, MetricSeries,
    Statistic, VariantOverview, bucket_samples,
};
pub use page::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest, decode_cursor, encode_cursor,
    paginate_sorted,
};
pub use traits::{Capabilities, EndpointManager, ModelRegistry, Observability, Provider};

#[cfg(any(test, feature = "mock"))]
pub use traits::{MockEndpointManager, MockModelRegistry, MockObservability};
