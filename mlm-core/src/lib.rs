//! # mlm-core
//!
//! The provider-agnostic core of **mlm**, a model lifecycle management SDK: the domain types
//! (models, versions, endpoints, instances, metrics), the three narrow traits every backend
//! implements ([`ModelRegistry`], [`EndpointManager`], [`Observability`], bundled as
//! [`Provider`]), the one [`Error`] enum, and the conformance suite backends run (feature
//! `conformance`).
//!
//! No AWS types and no I/O live here: backends (`mlm-local`, `mlm-aws`) implement the traits
//! (with the shared helpers of [`backend`]: page tokens, metric buckets, validators), adapters
//! (`mlm-http`, `mlm-client`, `mlm-py`) call them.
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

mod alarm;
#[cfg(feature = "archive")]
pub mod archive;
mod artifact;
pub mod backend;
mod capture;
mod dashboard;
mod deployment;
pub mod drift;
mod endpoint;
mod error;
mod event;
mod ext;
mod model;
mod names;
mod observability;
#[cfg(feature = "openapi")]
pub mod openapi;
mod page;
pub mod pipeline;
mod traits;

#[cfg(feature = "conformance")]
pub mod conformance;

#[doc(hidden)]
pub use async_trait::async_trait as __async_trait;

pub use alarm::{
    Alarm, AlarmDefinition, AlarmState, Comparison, MAX_ALARM_ACTIONS, MAX_ALARM_WINDOW_SECONDS,
    TreatMissingData, evaluate as evaluate_alarm,
};
pub use artifact::{
    ArtifactUpload, Artifacts, UploadOptions, UploadProgress, UploadedArtifact, sha256_hex,
};
pub use capture::{
    CAPTURE_EVENT_VERSION, CaptureData, CaptureEncoding, CaptureMode, CapturePayload, CaptureQuery,
    CaptureRecord, CapturedRecord, EventMetadata, MAX_CAPTURE_WINDOW,
};
pub use dashboard::{DASHBOARD_CREATED, DASHBOARD_UPDATED, Dashboard};
pub use deployment::{
    Deployment, DeploymentKind, DeploymentPhase, DeploymentSummary, INTERRUPTED_REASON,
    MAX_DEPLOYMENT_ID_LEN, PhaseChange, PhaseFields, PhaseName,
};
pub use endpoint::{
    AutoscalingPolicy, CreateEndpointRequest, DataCaptureConfig, DeploymentPolicy, Endpoint,
    EndpointStatus, InvokeRequest, InvokeResponse, MAX_DEPLOYMENT_WAIT_SECONDS, MAX_INSTANCE_COUNT,
    MAX_ROLLBACK_ALARMS, MAX_VARIANTS, ScalingMetric, ServerlessConfig, TrafficShift,
    UpdateEndpointRequest, UpdateKind, UpdatePlan, Variant, VariantChange, VariantShapeRef,
    VariantSpec,
};
pub use error::{BoxError, Cause, Error, ErrorKind, Message, ResourceKind, Result, error_chain};
pub use event::{
    EndpointEvent, EventQuery, EventSource, MAX_EVENT_DATA_BYTES, MAX_EVENT_KIND_LEN,
    MAX_EVENT_MESSAGE_LEN, NewEvent, check_kind as check_event_kind,
};
pub use ext::{EndpointManagerExt, ModelRegistryExt, ObservabilityExt, WaitOptions, all_pages};
pub use model::{
    Approval, CreateModelRequest, CreateVersionRequest, Environment, MAX_DESCRIPTION_LEN,
    MAX_ENV_VALUE_LEN, MAX_TAGS, Model, ModelVersion, Tags, UpdateModelRequest,
    UpdateVersionRequest, VersionRef,
};
pub use names::{
    AlarmName, BaselineName, EndpointName, MAX_NAME_LEN, ModelName, PipelineName, StageName,
    VariantName,
};
pub use observability::{
    DataPoint, EndpointOverview, Instance, InstanceMetrics, InstanceStatus, MAX_METRIC_WINDOW,
    MAX_POINTS_PER_SERIES, Measurement, MetricKind, MetricQuery, MetricScope, MetricSeries,
    Statistic, VariantOverview,
};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use traits::{
    Alarms, Capabilities, Captures, Dashboards, Deployments, EndpointManager, Events,
    ModelRegistry, Observability, Provider,
};

#[cfg(any(test, feature = "mock"))]
pub use artifact::MockArtifacts;
#[cfg(any(test, feature = "mock"))]
pub use traits::{
    MockAlarms, MockCaptures, MockDashboards, MockDeployments, MockEndpointManager, MockEvents,
    MockModelRegistry, MockObservability,
};

/// Every enum's serde spelling is the one its `as_str` (or the REST API) documents, for every
/// variant: the wire format is the serde form, so a variant spelled differently would reach
/// clients (and the OpenAPI document) under the wrong name.
#[cfg(test)]
mod wire_spelling {
    use super::*;

    fn spelled<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: T,
        text: &str,
    ) {
        assert_eq!(serde_json::to_value(&value).unwrap(), text, "{value:?}");
        assert_eq!(
            serde_json::from_value::<T>(serde_json::Value::from(text)).unwrap(),
            value
        );
    }

    #[test]
    fn every_variant_round_trips_under_its_documented_name() {
        for s in EndpointStatus::ALL {
            spelled(s, s.as_str());
        }
        for k in MetricKind::ALL {
            spelled(k, k.as_str());
        }
        for s in Statistic::ALL {
            spelled(s, s.as_str());
        }
        // The match makes a new variant a compile error here until it is listed.
        for a in [Approval::Pending, Approval::Approved, Approval::Rejected] {
            match a {
                Approval::Pending | Approval::Approved | Approval::Rejected => {}
            }
            spelled(a, a.as_str());
        }
        let metrics = [
            (
                ScalingMetric::InvocationsPerInstance,
                "invocations_per_instance",
            ),
            (ScalingMetric::ConcurrentRequests, "concurrent_requests"),
            (ScalingMetric::CpuUtilization, "cpu_utilization"),
            (ScalingMetric::GpuUtilization, "gpu_utilization"),
        ];
        for (m, text) in metrics {
            match m {
                ScalingMetric::InvocationsPerInstance
                | ScalingMetric::ConcurrentRequests
                | ScalingMetric::CpuUtilization
                | ScalingMetric::GpuUtilization => {}
            }
            spelled(m, text);
        }
        let statuses = [
            (InstanceStatus::Pending, "Pending"),
            (InstanceStatus::InService, "InService"),
            (InstanceStatus::Draining, "Draining"),
            (InstanceStatus::Failed, "Failed"),
            (InstanceStatus::Unknown, "Unknown"),
        ];
        for (s, text) in statuses {
            match s {
                InstanceStatus::Pending
                | InstanceStatus::InService
                | InstanceStatus::Draining
                | InstanceStatus::Failed
                | InstanceStatus::Unknown => {}
            }
            spelled(s, text);
            assert_eq!(s.as_str(), text);
        }
    }

    #[test]
    fn traffic_shift_is_tagged_and_strict() {
        let canary: TrafficShift =
            serde_json::from_str(r#"{"type":"canary","percent":10,"bake_seconds":60}"#).unwrap();
        assert_eq!(
            canary,
            TrafficShift::Canary {
                percent: 10,
                bake_seconds: 60
            }
        );
        let all: TrafficShift = serde_json::from_str(r#"{"type":"all_at_once"}"#).unwrap();
        assert_eq!(all, TrafficShift::AllAtOnce);
        assert_eq!(
            serde_json::to_value(&all).unwrap(),
            serde_json::json!({"type": "all_at_once"})
        );
        for extra in [
            r#"{"type":"canary","percent":10,"bake_seconds":60,"x":1}"#,
            r#"{"type":"linear","step_percent":10,"interval_seconds":60,"x":1}"#,
            r#"{"type":"all_at_once","x":1}"#,
        ] {
            assert!(
                serde_json::from_str::<TrafficShift>(extra).is_err(),
                "{extra}"
            );
        }
    }

    #[test]
    fn instance_figures_sit_next_to_the_id() {
        let mut instance = Instance::new(
            "primary-1",
            VariantName::new("primary").unwrap(),
            InstanceStatus::InService,
        );
        instance.metrics.cpu_utilization = Some(Measurement::instance(12.5));
        let json = serde_json::to_value(&instance).unwrap();
        assert_eq!(json["cpu_utilization"]["value"], 12.5);
        assert!(json.get("metrics").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Instance>(json).unwrap(), instance);
    }
}
