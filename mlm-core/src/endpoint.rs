//! Endpoints ("instance resources"): variants of model versions served by instances.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deployment::DeploymentSummary;
use crate::error::{Error, Result};
use crate::model::{Tags, VersionRef, validate_tags};
use crate::names::{AlarmName, EndpointName, VariantName};

/// Most instances one variant may ask for through mlm.
pub const MAX_INSTANCE_COUNT: u32 = 100;
/// Most variants on one endpoint (SageMaker's limit).
pub const MAX_VARIANTS: usize = 10;

/// The lifecycle state of an endpoint; mirrors SageMaker's `EndpointStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum EndpointStatus {
    /// Stopped, not serving.
    OutOfService,
    /// Instances are being provisioned.
    Creating,
    /// A user-requested update is rolling out.
    Updating,
    /// The provider is patching or replacing instances on its own.
    SystemUpdating,
    /// A failed update is being rolled back.
    RollingBack,
    /// Serving traffic.
    InService,
    /// Being deleted.
    Deleting,
    /// Creation failed; see the failure reason.
    Failed,
    /// An update failed and so did its rollback.
    UpdateRollbackFailed,
}

impl EndpointStatus {
    /// Every status, in SageMaker's documentation order.
    pub const ALL: [Self; 9] = [
        Self::OutOfService,
        Self::Creating,
        Self::Updating,
        Self::SystemUpdating,
        Self::RollingBack,
        Self::InService,
        Self::Deleting,
        Self::Failed,
        Self::UpdateRollbackFailed,
    ];

    /// SageMaker's spelling, also used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfService => "OutOfService",
            Self::Creating => "Creating",
            Self::Updating => "Updating",
            Self::SystemUpdating => "SystemUpdating",
            Self::RollingBack => "RollingBack",
            Self::InService => "InService",
            Self::Deleting => "Deleting",
            Self::Failed => "Failed",
            Self::UpdateRollbackFailed => "UpdateRollbackFailed",
        }
    }

    /// True while the provider is still working towards a settled state.
    pub fn is_transitional(self) -> bool {
        matches!(
            self,
            Self::Creating
                | Self::Updating
                | Self::SystemUpdating
                | Self::RollingBack
                | Self::Deleting
        )
    }

    /// True when waiting longer will not bring the endpoint to `InService`.
    pub fn is_terminal_failure(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::UpdateRollbackFailed | Self::OutOfService
        )
    }

    /// Whether an update may start from this status (SageMaker refuses while transitional).
    pub fn accepts_updates(self) -> bool {
        matches!(self, Self::InService)
    }
}

impl fmt::Display for EndpointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EndpointStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::invalid(format!("'{s}' is not an endpoint status")))
    }
}

/// Serverless capacity instead of instances: on AWS a SageMaker serverless variant; on the local
/// backend one instance process started by the first request and stopped after an idle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Serverless))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerlessConfig {
    /// Memory per worker: 1024-6144 in steps of 1024.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1024, maximum = 6144, multiple_of = 1024)
    )]
    pub memory_mb: u32,
    /// Concurrent invocations: 1–200.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200))]
    pub max_concurrency: u32,
    /// Concurrent invocations kept warm (1 to `max_concurrency`); none: the variant scales to
    /// zero when idle and the next request waits for a cold start.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200))]
    pub provisioned_concurrency: Option<u32>,
}

impl ServerlessConfig {
    /// A serverless configuration.
    pub fn new(memory_mb: u32, max_concurrency: u32) -> Self {
        Self {
            memory_mb,
            max_concurrency,
            provisioned_concurrency: None,
        }
    }

    /// Keeps `concurrency` invocations warm: the variant never scales to zero.
    pub fn with_provisioned_concurrency(mut self, concurrency: u32) -> Self {
        self.provisioned_concurrency = Some(concurrency);
        self
    }

    fn validate(&self, variant: &VariantName) -> Result<()> {
        if !(1024..=6144).contains(&self.memory_mb) || !self.memory_mb.is_multiple_of(1024) {
            return Err(Error::invalid(format!(
                "variant '{variant}': serverless memory_mb {} must be 1024, 2048, ... 6144",
                self.memory_mb
            )));
        }
        if !(1..=200).contains(&self.max_concurrency) {
            return Err(Error::invalid(format!(
                "variant '{variant}': serverless max_concurrency {} must be 1-200",
                self.max_concurrency
            )));
        }
        if let Some(p) = self.provisioned_concurrency
            && !(1..=self.max_concurrency).contains(&p)
        {
            return Err(Error::invalid(format!(
                "variant '{variant}': serverless provisioned_concurrency {p} must be 1 to \
                 max_concurrency ({})",
                self.max_concurrency
            )));
        }
        Ok(())
    }
}

/// Capture of requests and responses for monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DataCapture))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DataCaptureConfig {
    /// Where captured records go (an S3 URI on AWS); not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
        )
    )]
    pub destination_uri: String,
    /// Percentage of requests captured, 0-100.
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub sampling_percent: u8,
    /// Capture request payloads (default true).
    #[serde(default = "capture_by_default")]
    pub capture_input: bool,
    /// Capture response payloads (default true).
    #[serde(default = "capture_by_default")]
    pub capture_output: bool,
}

/// Both directions are captured unless a request says otherwise, as in SageMaker's SDK.
fn capture_by_default() -> bool {
    true
}

impl DataCaptureConfig {
    /// Captures `sampling_percent` % of requests and responses to `destination_uri`.
    pub fn new(destination_uri: impl Into<String>, sampling_percent: u8) -> Self {
        Self {
            destination_uri: destination_uri.into(),
            sampling_percent,
            capture_input: true,
            capture_output: true,
        }
    }
}

/// How traffic moves to a new fleet during an update (SageMaker deployment guardrails).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", from = "StrictTrafficShift")]
#[non_exhaustive]
pub enum TrafficShift {
    /// Shift everything at once.
    AllAtOnce,
    /// Shift `percent` first, watch for `bake_seconds`, then the rest.
    Canary {
        /// Share of traffic in the canary step, 1–99.
        percent: u8,
        /// How long the canary is watched.
        bake_seconds: u32,
    },
    /// Shift `step_percent` every `interval_seconds`.
    Linear {
        /// Share per step, 10–50.
        step_percent: u8,
        /// Wait between steps, 0–3600.
        interval_seconds: u32,
    },
    /// Replace the instances in place, `batch_percent` of them at a time (single-variant,
    /// instance-backed endpoints only).
    Rolling {
        /// Share of the instances replaced per batch, 5–50.
        batch_percent: u8,
        /// Wait after each batch, 0–3600.
        interval_seconds: u32,
        /// Share of the instances returned per batch on rollback, 5–100; none: all at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollback_batch_percent: Option<u8>,
    },
}

impl TrafficShift {
    /// The snake_case `type` tag.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AllAtOnce => "all_at_once",
            Self::Canary { .. } => "canary",
            Self::Linear { .. } => "linear",
            Self::Rolling { .. } => "rolling",
        }
    }
}

/// What [`TrafficShift`] is read from: the same tagged form, strict about unknown fields.
/// `AllAtOnce` is a struct variant here because serde ignores unknown fields next to the tag
/// of a unit variant even with `deny_unknown_fields`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum StrictTrafficShift {
    AllAtOnce {},
    Canary {
        percent: u8,
        bake_seconds: u32,
    },
    Linear {
        step_percent: u8,
        interval_seconds: u32,
    },
    Rolling {
        batch_percent: u8,
        interval_seconds: u32,
        #[serde(default)]
        rollback_batch_percent: Option<u8>,
    },
}

impl From<StrictTrafficShift> for TrafficShift {
    fn from(shift: StrictTrafficShift) -> Self {
        match shift {
            StrictTrafficShift::AllAtOnce {} => Self::AllAtOnce,
            StrictTrafficShift::Canary {
                percent,
                bake_seconds,
            } => Self::Canary {
                percent,
                bake_seconds,
            },
            StrictTrafficShift::Linear {
                step_percent,
                interval_seconds,
            } => Self::Linear {
                step_percent,
                interval_seconds,
            },
            StrictTrafficShift::Rolling {
                batch_percent,
                interval_seconds,
                rollback_batch_percent,
            } => Self::Rolling {
                batch_percent,
                interval_seconds,
                rollback_batch_percent,
            },
        }
    }
}

/// Deployment guardrails for updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeploymentPolicy {
    /// How traffic shifts.
    pub traffic: TrafficShift,
    /// Alarms of this endpoint (see [`crate::Alarm`]) that roll the update back when any is in
    /// `ALARM` while traffic shifts or bakes; at most 10.
    #[serde(default)]
    pub rollback_alarms: Vec<AlarmName>,
    /// How long the old fleet is kept after the new one took all traffic, 0–3600 s.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 3600))]
    pub termination_wait_seconds: u32,
}

/// Longest wait SageMaker allows between steps, bake or termination wait.
pub const MAX_DEPLOYMENT_WAIT_SECONDS: u32 = 3600;
/// Most rollback alarms per deployment (SageMaker's limit).
pub const MAX_ROLLBACK_ALARMS: usize = 10;

impl DeploymentPolicy {
    /// A policy with `traffic` and no alarms.
    pub fn new(traffic: TrafficShift) -> Self {
        Self {
            traffic,
            rollback_alarms: Vec::new(),
            termination_wait_seconds: 0,
        }
    }

    /// Adds a rollback alarm.
    pub fn with_rollback_alarm(mut self, alarm: AlarmName) -> Self {
        self.rollback_alarms.push(alarm);
        self
    }

    /// Checks the policy against the variant set it deploys: every rule names itself, with
    /// SageMaker's limits (deployment guardrails), so a policy valid here is valid on AWS.
    pub fn validate_for(&self, variants: &[VariantShapeRef<'_>]) -> Result<()> {
        let within = |what: &str, value: u32, low: u32, high: u32| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "deployment: {what} is {value}; it must be {low}-{high}"
                )))
            }
        };
        let wait = MAX_DEPLOYMENT_WAIT_SECONDS;
        match &self.traffic {
            TrafficShift::AllAtOnce => {}
            TrafficShift::Canary {
                percent,
                bake_seconds,
            } => {
                within("canary percent", u32::from(*percent), 1, 50)?;
                within("canary bake_seconds", *bake_seconds, 0, wait)?;
            }
            TrafficShift::Linear {
                step_percent,
                interval_seconds,
            } => {
                within("linear step_percent", u32::from(*step_percent), 10, 50)?;
                within("linear interval_seconds", *interval_seconds, 0, wait)?;
            }
            TrafficShift::Rolling {
                batch_percent,
                interval_seconds,
                rollback_batch_percent,
            } => {
                within("rolling batch_percent", u32::from(*batch_percent), 5, 50)?;
                within("rolling interval_seconds", *interval_seconds, 0, wait)?;
                if let Some(p) = rollback_batch_percent {
                    within("rolling rollback_batch_percent", u32::from(*p), 5, 100)?;
                }
                if variants.len() > 1 {
                    return Err(Error::invalid(format!(
                        "deployment: a rolling update replaces one variant in place; this \
                         endpoint has {} variants (use canary, linear or all_at_once)",
                        variants.len()
                    )));
                }
                if variants.iter().any(|v| v.serverless) {
                    return Err(Error::invalid(
                        "deployment: a rolling update needs instances; serverless variants \
                         take canary, linear or all_at_once",
                    ));
                }
            }
        }
        within(
            "termination_wait_seconds",
            self.termination_wait_seconds,
            0,
            wait,
        )?;
        if self.rollback_alarms.len() > MAX_ROLLBACK_ALARMS {
            return Err(Error::invalid(format!(
                "deployment: {} rollback_alarms; at most {MAX_ROLLBACK_ALARMS}",
                self.rollback_alarms.len()
            )));
        }
        let mut seen = BTreeSet::new();
        if let Some(twice) = self.rollback_alarms.iter().find(|a| !seen.insert(*a)) {
            return Err(Error::invalid(format!(
                "deployment: rollback alarm '{twice}' is named twice"
            )));
        }
        Ok(())
    }
}

/// What a deployment policy is checked against: one variant's name and whether it is
/// serverless.
#[derive(Debug, Clone, Copy)]
pub struct VariantShapeRef<'a> {
    /// The variant's name.
    pub name: &'a VariantName,
    /// Whether it has serverless capacity.
    pub serverless: bool,
}

impl<'a> From<&'a VariantSpec> for VariantShapeRef<'a> {
    fn from(v: &'a VariantSpec) -> Self {
        Self {
            name: &v.name,
            serverless: v.serverless.is_some(),
        }
    }
}

impl<'a> From<&'a Variant> for VariantShapeRef<'a> {
    fn from(v: &'a Variant) -> Self {
        Self {
            name: &v.name,
            serverless: v.serverless.is_some(),
        }
    }
}

/// The metric an autoscaling policy tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScalingMetric {
    /// Invocations per instance per minute.
    InvocationsPerInstance,
    /// Concurrent requests per model (in-flight).
    ConcurrentRequests,
    /// CPU utilisation percentage.
    CpuUtilization,
    /// GPU utilisation percentage.
    GpuUtilization,
}

/// Target-tracking autoscaling of a variant's instance count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Autoscaling))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AutoscalingPolicy {
    /// Fewest instances (>= 1, <= `max_instances`; the variant's `instance_count` must lie
    /// between the two).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub min_instances: u32,
    /// Most instances (<= 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_instances: u32,
    /// What is tracked.
    pub metric: ScalingMetric,
    /// The value to hold the metric at (> 0).
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub target_value: f64,
    /// Seconds after a scaling activity before the instance count may go down again
    /// (0–86400; unset: the backend's default — Application Auto Scaling's 300 s on AWS,
    /// `scale_in_cooldown_secs` of the local configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub scale_in_cooldown_seconds: Option<u32>,
    /// Seconds after a scale-out before the instance count may go up again (0–86400; unset:
    /// the backend's default — 300 s on AWS, `scale_out_cooldown_secs` locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub scale_out_cooldown_seconds: Option<u32>,
}

/// Longest autoscaling cooldown accepted: one day.
const MAX_COOLDOWN_SECONDS: u32 = 86_400;

impl AutoscalingPolicy {
    /// Tracks `metric` at `target_value` between `min_instances` and `max_instances`.
    pub fn new(
        min_instances: u32,
        max_instances: u32,
        metric: ScalingMetric,
        target_value: f64,
    ) -> Self {
        Self {
            min_instances,
            max_instances,
            metric,
            target_value,
            scale_in_cooldown_seconds: None,
            scale_out_cooldown_seconds: None,
        }
    }

    /// Sets both cooldowns, in seconds.
    pub fn with_cooldowns(mut self, scale_in_seconds: u32, scale_out_seconds: u32) -> Self {
        self.scale_in_cooldown_seconds = Some(scale_in_seconds);
        self.scale_out_cooldown_seconds = Some(scale_out_seconds);
        self
    }
}

/// A variant as it runs: which version, on what, with how much traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Variant {
    /// The variant's name, unique within its endpoint.
    pub name: VariantName,
    /// The model version it serves; none for a variant mlm did not create (an endpoint made
    /// outside mlm whose SageMaker model does not come from the model registry).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub model_version: Option<VersionRef>,
    /// Instance type; none for serverless variants.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub instance_type: Option<String>,
    /// Instances asked for.
    pub desired_instance_count: u32,
    /// Instances running now, when known.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub current_instance_count: Option<u32>,
    /// Relative traffic weight.
    pub weight: f32,
    /// Serverless capacity, instead of instances.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub serverless: Option<ServerlessConfig>,
    /// Autoscaling of the instance count.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub autoscaling: Option<AutoscalingPolicy>,
}

impl Variant {
    /// A variant serving `model_version` (`None`: not known to mlm) with no instances, weight 1
    /// and no instance type yet; set the public fields for the rest.
    pub fn new(name: VariantName, model_version: Option<VersionRef>) -> Self {
        Self {
            name,
            model_version,
            instance_type: None,
            desired_instance_count: 0,
            current_instance_count: None,
            weight: 1.0,
            serverless: None,
            autoscaling: None,
        }
    }

    /// The variant a spec describes, with no instances known to run yet.
    pub fn from_spec(spec: &VariantSpec) -> Self {
        Self {
            name: spec.name.clone(),
            model_version: Some(spec.model_version.clone()),
            instance_type: spec.instance_type.clone(),
            desired_instance_count: spec.instance_count,
            current_instance_count: None,
            weight: spec.weight,
            serverless: spec.serverless,
            autoscaling: spec.autoscaling.clone(),
        }
    }

    /// The spec that would recreate this variant; `None` when it has no model version (a
    /// variant mlm did not create cannot be recreated without naming one).
    pub fn to_spec(&self) -> Option<VariantSpec> {
        Some(VariantSpec {
            name: self.name.clone(),
            model_version: self.model_version.clone()?,
            instance_type: self.instance_type.clone(),
            instance_count: self.desired_instance_count,
            weight: self.weight,
            serverless: self.serverless,
            autoscaling: self.autoscaling.clone(),
        })
    }

    fn shape(&self) -> Shape<'_> {
        Shape {
            name: &self.name,
            instance_type: self.instance_type.as_deref(),
            instance_count: self.desired_instance_count,
            weight: self.weight,
            serverless: self.serverless.as_ref(),
            autoscaling: self.autoscaling.as_ref(),
        }
    }
}

/// An endpoint as described by its backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "news",
    "status": "InService",
    "failure_reason": null,
    "variants": [{
        "name": "primary",
        "model_version": {"model": "news-classifier", "version": 1},
        "instance_type": "ml.m5.large",
        "desired_instance_count": 1,
        "current_instance_count": 1,
        "weight": 1.0,
        "serverless": null,
        "autoscaling": null
    }],
    "tags": {},
    "data_capture": null,
    "deployment": null,
    "last_deployment": {
        "id": "1",
        "phase": "completed",
        "percent": null,
        "reason": null,
        "alarm": null,
        "started_at": "2025-01-01T12:10:00Z",
        "ended_at": "2025-01-01T12:10:30Z"
    },
    "managed": true,
    "created_at": "2025-01-01T12:10:00Z",
    "updated_at": "2025-01-01T12:10:30Z"
})))]
#[non_exhaustive]
pub struct Endpoint {
    /// The endpoint's name.
    pub name: EndpointName,
    /// Where it is in its lifecycle.
    pub status: EndpointStatus,
    /// Why it failed, or why its last update was rolled back.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub failure_reason: Option<String>,
    /// One or more variants.
    pub variants: Vec<Variant>,
    /// Labels.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub tags: Tags,
    /// Request/response capture, if on.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub data_capture: Option<DataCaptureConfig>,
    /// Guardrails applied to updates.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub deployment: Option<DeploymentPolicy>,
    /// The latest deployment (the create or an update) and where it stands; none for an
    /// endpoint mlm did not create or has no record of deploying.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_deployment: Option<DeploymentSummary>,
    /// False for endpoints that exist in the provider but were not created by mlm.
    pub managed: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// A managed endpoint as `request` creates it, in `status`.
    pub fn from_request(
        request: &CreateEndpointRequest,
        status: EndpointStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            name: request.name.clone(),
            status,
            failure_reason: None,
            variants: request.variants.iter().map(Variant::from_spec).collect(),
            tags: request.tags.clone(),
            data_capture: request.data_capture.clone(),
            deployment: request.deployment.clone(),
            last_deployment: None,
            managed: true,
            created_at: now,
            updated_at: now,
        }
    }

    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name.as_str() == name)
    }

    /// Desired instances over all variants.
    pub fn desired_instance_count(&self) -> u32 {
        self.variants.iter().map(|v| v.desired_instance_count).sum()
    }

    /// Whether any variant serves `version`.
    pub fn serves(&self, version: &VersionRef) -> bool {
        self.variants
            .iter()
            .any(|v| v.model_version.as_ref() == Some(version))
    }
}

/// One variant of a new or replaced endpoint configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariantSpec {
    /// Unique within the endpoint.
    pub name: VariantName,
    /// The version to serve.
    pub model_version: VersionRef,
    /// Instance type; omit for serverless.
    pub instance_type: Option<String>,
    /// Instances to run (ignored for serverless).
    pub instance_count: u32,
    /// Relative traffic weight, ≥ 0.
    pub weight: f32,
    /// Serverless capacity instead of instances.
    pub serverless: Option<ServerlessConfig>,
    /// Autoscaling of the instance count.
    pub autoscaling: Option<AutoscalingPolicy>,
}

impl VariantSpec {
    /// A provisioned variant with `count` instances of `instance_type` and weight 1.
    pub fn new(
        name: VariantName,
        model_version: VersionRef,
        instance_type: impl Into<String>,
        count: u32,
    ) -> Self {
        Self {
            name,
            model_version,
            instance_type: Some(instance_type.into()),
            instance_count: count,
            weight: 1.0,
            serverless: None,
            autoscaling: None,
        }
    }

    /// A serverless variant with weight 1.
    pub fn serverless(
        name: VariantName,
        model_version: VersionRef,
        config: ServerlessConfig,
    ) -> Self {
        Self {
            name,
            model_version,
            instance_type: None,
            instance_count: 0,
            weight: 1.0,
            serverless: Some(config),
            autoscaling: None,
        }
    }

    /// Sets the traffic weight.
    pub fn with_weight(mut self, weight: f32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets autoscaling.
    pub fn with_autoscaling(mut self, policy: AutoscalingPolicy) -> Self {
        self.autoscaling = Some(policy);
        self
    }

    /// Checks one variant on its own.
    pub fn validate(&self) -> Result<()> {
        self.shape().validate()
    }

    fn shape(&self) -> Shape<'_> {
        Shape {
            name: &self.name,
            instance_type: self.instance_type.as_deref(),
            instance_count: self.instance_count,
            weight: self.weight,
            serverless: self.serverless.as_ref(),
            autoscaling: self.autoscaling.as_ref(),
        }
    }
}

/// What validation looks at in a variant, whether a spec or a planned [`Variant`].
struct Shape<'a> {
    name: &'a VariantName,
    instance_type: Option<&'a str>,
    instance_count: u32,
    weight: f32,
    serverless: Option<&'a ServerlessConfig>,
    autoscaling: Option<&'a AutoscalingPolicy>,
}

impl Shape<'_> {
    fn validate(&self) -> Result<()> {
        let name = self.name;
        if !self.weight.is_finite() || self.weight < 0.0 {
            return Err(Error::invalid(format!(
                "variant '{name}': weight {} must be a finite number >= 0",
                self.weight
            )));
        }
        match (self.instance_type, self.serverless) {
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "variant '{name}': set either instance_type or serverless, not both"
            ))),
            (None, None) => Err(Error::invalid(format!(
                "variant '{name}': instance_type is required (or a serverless config)"
            ))),
            (None, Some(s)) => s.validate(name),
            (Some(t), None) => {
                if t.trim().is_empty() || t.len() > 64 {
                    return Err(Error::invalid(format!(
                        "variant '{name}': instance_type must be 1-64 characters"
                    )));
                }
                if !(1..=MAX_INSTANCE_COUNT).contains(&self.instance_count) {
                    return Err(Error::invalid(format!(
                        "variant '{name}': instance_count {} must be 1-{MAX_INSTANCE_COUNT}",
                        self.instance_count
                    )));
                }
                if let Some(a) = self.autoscaling {
                    validate_autoscaling(name, a, self.instance_count)?;
                }
                Ok(())
            }
        }
    }
}

fn validate_autoscaling(name: &VariantName, a: &AutoscalingPolicy, count: u32) -> Result<()> {
    if a.min_instances < 1
        || a.min_instances > a.max_instances
        || a.max_instances > MAX_INSTANCE_COUNT
    {
        return Err(Error::invalid(format!(
            "variant '{name}': autoscaling needs 1 <= min_instances <= max_instances <= \
             {MAX_INSTANCE_COUNT}"
        )));
    }
    if !(a.min_instances..=a.max_instances).contains(&count) {
        return Err(Error::invalid(format!(
            "variant '{name}': instance_count {count} is outside autoscaling bounds {}-{}",
            a.min_instances, a.max_instances
        )));
    }
    if !a.target_value.is_finite() || a.target_value <= 0.0 {
        return Err(Error::invalid(format!(
            "variant '{name}': autoscaling target_value must be > 0"
        )));
    }
    let cooldowns = [a.scale_in_cooldown_seconds, a.scale_out_cooldown_seconds];
    if cooldowns
        .into_iter()
        .flatten()
        .any(|c| c > MAX_COOLDOWN_SECONDS)
    {
        return Err(Error::invalid(format!(
            "variant '{name}': autoscaling cooldowns must be 0-{MAX_COOLDOWN_SECONDS} seconds"
        )));
    }
    Ok(())
}

/// Checks a whole variant set: each variant, unique names, some traffic.
pub fn validate_variants(variants: &[VariantSpec]) -> Result<()> {
    validate_shapes(variants.iter().map(VariantSpec::shape).collect())
}

fn validate_shapes(variants: Vec<Shape<'_>>) -> Result<()> {
    if variants.is_empty() {
        return Err(Error::invalid("an endpoint needs at least one variant"));
    }
    if variants.len() > MAX_VARIANTS {
        return Err(Error::invalid(format!(
            "an endpoint has at most {MAX_VARIANTS} variants"
        )));
    }
    let mut names = BTreeSet::new();
    for v in &variants {
        v.validate()?;
        if !names.insert(v.name.as_str()) {
            return Err(Error::invalid(format!(
                "variant name '{}' is used twice",
                v.name
            )));
        }
    }
    if variants.iter().map(|v| v.weight).sum::<f32>() <= 0.0 {
        return Err(Error::invalid(
            "variant weights sum to 0: at least one variant must receive traffic",
        ));
    }
    Ok(())
}

/// Creates an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateEndpointRequest {
    /// The new endpoint's name.
    pub name: EndpointName,
    /// Its variants.
    pub variants: Vec<VariantSpec>,
    /// Labels.
    pub tags: Tags,
    /// Request/response capture.
    pub data_capture: Option<DataCaptureConfig>,
    /// Guardrails for later updates.
    pub deployment: Option<DeploymentPolicy>,
}

impl CreateEndpointRequest {
    /// An endpoint with the given variants.
    pub fn new(name: EndpointName, variants: Vec<VariantSpec>) -> Self {
        Self {
            name,
            variants,
            tags: Tags::new(),
            data_capture: None,
            deployment: None,
        }
    }

    /// An endpoint with one variant called `primary`.
    pub fn single(
        name: EndpointName,
        model_version: VersionRef,
        instance_type: impl Into<String>,
        count: u32,
    ) -> Self {
        let primary = VariantName::new("primary").expect("static name is valid");
        Self::new(
            name,
            vec![VariantSpec::new(
                primary,
                model_version,
                instance_type,
                count,
            )],
        )
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the deployment policy.
    pub fn with_deployment(mut self, policy: DeploymentPolicy) -> Self {
        self.deployment = Some(policy);
        self
    }

    /// Sets data capture.
    pub fn with_data_capture(mut self, capture: DataCaptureConfig) -> Self {
        self.data_capture = Some(capture);
        self
    }

    /// Checks the request.
    pub fn validate(&self) -> Result<()> {
        validate_variants(&self.variants)?;
        validate_tags(&self.tags)?;
        if let Some(c) = &self.data_capture {
            if c.sampling_percent > 100 {
                return Err(Error::invalid(
                    "data_capture.sampling_percent must be 0-100",
                ));
            }
            if c.destination_uri.trim().is_empty() {
                return Err(Error::invalid(
                    "data_capture.destination_uri must not be empty",
                ));
            }
            if self.variants.iter().any(|v| v.serverless.is_some()) {
                return Err(Error::invalid(
                    "data capture is not available on serverless variants",
                ));
            }
        }
        if let Some(d) = &self.deployment {
            let shapes: Vec<_> = self.variants.iter().map(VariantShapeRef::from).collect();
            d.validate_for(&shapes)?;
        }
        Ok(())
    }
}

/// A change to one existing variant; `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariantChange {
    /// The variant to change; `None` means the endpoint's only variant, whatever its name (the
    /// single-variant shorthand of REST and Python, resolved by [`UpdateEndpointRequest::plan`]
    /// so that it means the same everywhere).
    pub variant: Option<VariantName>,
    /// Scale to this many instances.
    pub instance_count: Option<u32>,
    /// Move to this instance type.
    pub instance_type: Option<String>,
    /// Serve this version instead.
    pub model_version: Option<VersionRef>,
    /// New traffic weight.
    pub weight: Option<f32>,
}

impl VariantChange {
    /// A change to `variant` that changes nothing yet.
    pub fn new(variant: VariantName) -> Self {
        Self::to(Some(variant))
    }

    /// A change to the endpoint's only variant, whatever it is called; planning an update
    /// with it fails with `InvalidArgument` naming the variants when there are several.
    pub fn only_variant() -> Self {
        Self::to(None)
    }

    fn to(variant: Option<VariantName>) -> Self {
        Self {
            variant,
            instance_count: None,
            instance_type: None,
            model_version: None,
            weight: None,
        }
    }

    /// Scales to `count` instances.
    pub fn with_instance_count(mut self, count: u32) -> Self {
        self.instance_count = Some(count);
        self
    }

    /// Moves to `instance_type`.
    pub fn with_instance_type(mut self, instance_type: impl Into<String>) -> Self {
        self.instance_type = Some(instance_type.into());
        self
    }

    /// Serves `version` instead.
    pub fn with_model_version(mut self, version: VersionRef) -> Self {
        self.model_version = Some(version);
        self
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: f32) -> Self {
        self.weight = Some(weight);
        self
    }

    fn is_empty(&self) -> bool {
        self.instance_count.is_none()
            && self.instance_type.is_none()
            && self.model_version.is_none()
            && self.weight.is_none()
    }
}

/// Updates an endpoint: either change existing variants, or replace the variant set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateEndpointRequest {
    /// The endpoint.
    pub name: EndpointName,
    /// Changes to existing variants.
    pub changes: Vec<VariantChange>,
    /// A whole new variant set (mutually exclusive with `changes`).
    pub replace_variants: Option<Vec<VariantSpec>>,
    /// Guardrails for this update (defaults to the endpoint's policy).
    pub deployment: Option<DeploymentPolicy>,
    /// Keep instance counts set by autoscaling when the rest of the config changes.
    pub retain_autoscaled_counts: bool,
}

impl UpdateEndpointRequest {
    /// An update of `name` that changes nothing yet.
    pub fn new(name: EndpointName) -> Self {
        Self {
            name,
            changes: Vec::new(),
            replace_variants: None,
            deployment: None,
            retain_autoscaled_counts: true,
        }
    }

    /// Adds a change to one variant.
    pub fn with_change(mut self, change: VariantChange) -> Self {
        self.changes.push(change);
        self
    }

    /// Replaces the whole variant set.
    pub fn with_variants(mut self, variants: Vec<VariantSpec>) -> Self {
        self.replace_variants = Some(variants);
        self
    }

    /// Works out the variant set after this update and whether it needs a new configuration.
    ///
    /// Every backend uses this so the same request means the same thing everywhere.
    pub fn plan(&self, current: &Endpoint) -> Result<UpdatePlan> {
        let target = match (&self.replace_variants, self.changes.is_empty()) {
            (Some(_), false) => {
                return Err(Error::invalid(
                    "set either changes or replace_variants in one update, not both",
                ));
            }
            (None, true) => {
                return Err(Error::invalid(
                    "the update changes nothing: give at least one variant change",
                ));
            }
            (Some(v), true) => v.iter().map(Variant::from_spec).collect(),
            (None, false) => {
                let mut target: Vec<Variant> = current
                    .variants
                    .iter()
                    .map(|v| Variant {
                        current_instance_count: None,
                        ..v.clone()
                    })
                    .collect();
                let mut touched = BTreeSet::new();
                for change in &self.changes {
                    let name = change_target(current, change)?;
                    if !touched.insert(name.clone()) {
                        return Err(Error::invalid(format!(
                            "variant '{name}' is changed twice in one update"
                        )));
                    }
                    if change.is_empty() {
                        return Err(Error::invalid(format!(
                            "the change to variant '{name}' sets no field"
                        )));
                    }
                    let spec = target
                        .iter_mut()
                        .find(|s| s.name == name)
                        .expect("change_target names an existing variant");
                    if let Some(n) = change.instance_count {
                        spec.desired_instance_count = n;
                    }
                    if let Some(t) = &change.instance_type {
                        if spec.serverless.is_some() {
                            return Err(Error::invalid(format!(
                                "variant '{}' is serverless: it has no instance type",
                                spec.name
                            )));
                        }
                        spec.instance_type = Some(t.clone());
                    }
                    if let Some(v) = &change.model_version {
                        spec.model_version = Some(v.clone());
                    }
                    if let Some(w) = change.weight {
                        spec.weight = w;
                    }
                }
                target
            }
        };
        validate_shapes(target.iter().map(Variant::shape).collect())?;
        if let Some(d) = self.deployment.as_ref().or(current.deployment.as_ref()) {
            let shapes: Vec<_> = target.iter().map(VariantShapeRef::from).collect();
            d.validate_for(&shapes)?;
        }
        let kind = classify(&current.variants, &target);
        if kind == UpdateKind::NewConfig
            && let Some(v) = target.iter().find(|v| v.model_version.is_none())
        {
            return Err(Error::failed_precondition(format!(
                "variant '{}' of endpoint '{}' was not created by mlm and has no model version: \
                 this update needs a new configuration, which recreates it; give the version \
                 it should serve (model_version in its change) or replace the variant set",
                v.name, current.name
            )));
        }
        Ok(UpdatePlan { target, kind })
    }
}

/// The variant a change applies to: the one it names, which must exist, or for
/// [`VariantChange::only_variant`] the endpoint's only one.
fn change_target(current: &Endpoint, change: &VariantChange) -> Result<VariantName> {
    let names = || {
        current
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&change.variant, current.variants.as_slice()) {
        (Some(name), variants) if variants.iter().any(|v| &v.name == name) => Ok(name.clone()),
        (Some(name), _) => Err(Error::invalid(format!(
            "endpoint '{}' has no variant '{name}' (it has: {})",
            current.name,
            names()
        ))),
        (None, [only]) => Ok(only.name.clone()),
        (None, variants) => Err(Error::invalid(format!(
            "endpoint '{}' has {} variants ({}): a change without a variant name needs exactly \
             one; name the variant",
            current.name,
            variants.len(),
            names()
        ))),
    }
}

/// What an update has to do in the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// Only instance counts and weights change: no new configuration, no new instances of
    /// another kind (SageMaker: `UpdateEndpointWeightsAndCapacities`).
    CapacityOnly,
    /// Versions, instance types or the variant set change: a new configuration is rolled out
    /// (SageMaker: new EndpointConfig + `UpdateEndpoint`).
    NewConfig,
}

/// The outcome of [`UpdateEndpointRequest::plan`].
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    /// The variant set after the update (`current_instance_count` unknown). Every variant has
    /// a model version when `kind` is [`UpdateKind::NewConfig`]; a capacity-only update may
    /// keep variants without one (endpoints made outside mlm).
    pub target: Vec<Variant>,
    /// Whether it needs a new configuration.
    pub kind: UpdateKind,
}

impl UpdatePlan {
    /// The target as specs, to create a configuration from; `FailedPrecondition` naming the
    /// first variant without a model version (which cannot happen for
    /// [`UpdateKind::NewConfig`] plans).
    pub fn specs(&self) -> Result<Vec<VariantSpec>> {
        self.target
            .iter()
            .map(|v| {
                v.to_spec().ok_or_else(|| {
                    Error::failed_precondition(format!(
                        "variant '{}' has no model version: it was not created by mlm",
                        v.name
                    ))
                })
            })
            .collect()
    }
}

fn classify(current: &[Variant], target: &[Variant]) -> UpdateKind {
    let same_shape = current.len() == target.len()
        && target.iter().all(|t| {
            current.iter().any(|c| {
                c.name == t.name
                    && c.model_version == t.model_version
                    && c.instance_type == t.instance_type
                    && c.serverless == t.serverless
                    && c.autoscaling == t.autoscaling
            })
        });
    if same_shape {
        UpdateKind::CapacityOnly
    } else {
        UpdateKind::NewConfig
    }
}

/// An inference request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvokeRequest {
    /// The endpoint to call.
    pub endpoint: EndpointName,
    /// The payload, passed through unchanged.
    pub body: Vec<u8>,
    /// The payload's MIME type.
    pub content_type: String,
    /// The MIME type wanted back, if any.
    pub accept: Option<String>,
    /// Send to this variant instead of choosing by weight.
    pub target_variant: Option<VariantName>,
}

impl InvokeRequest {
    /// A request with `body` of `content_type`.
    pub fn new(
        endpoint: EndpointName,
        content_type: impl Into<String>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            endpoint,
            body: body.into(),
            content_type: content_type.into(),
            accept: None,
            target_variant: None,
        }
    }

    /// A JSON request.
    pub fn json(endpoint: EndpointName, value: &serde_json::Value) -> Self {
        Self::new(endpoint, "application/json", value.to_string().into_bytes())
    }

    /// Targets one variant.
    pub fn with_target_variant(mut self, variant: VariantName) -> Self {
        self.target_variant = Some(variant);
        self
    }
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvokeResponse {
    /// The payload, unchanged.
    pub body: Vec<u8>,
    /// Its MIME type.
    pub content_type: String,
    /// The variant that answered, when the backend knows.
    pub variant: Option<VariantName>,
}

impl InvokeResponse {
    /// A response.
    pub fn new(
        body: Vec<u8>,
        content_type: impl Into<String>,
        variant: Option<VariantName>,
    ) -> Self {
        Self {
            body,
            content_type: content_type.into(),
            variant,
        }
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid(format!("the model's answer is not JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ModelName;

    fn vref(v: u32) -> VersionRef {
        VersionRef::new(ModelName::new("m").unwrap(), v)
    }

    fn vname(s: &str) -> VariantName {
        VariantName::new(s).unwrap()
    }

    fn endpoint(variants: Vec<VariantSpec>) -> Endpoint {
        let now = Utc::now();
        Endpoint {
            name: EndpointName::new("e").unwrap(),
            status: EndpointStatus::InService,
            failure_reason: None,
            variants: variants
                .into_iter()
                .map(|s| Variant {
                    name: s.name,
                    model_version: Some(s.model_version),
                    instance_type: s.instance_type,
                    desired_instance_count: s.instance_count,
                    current_instance_count: Some(s.instance_count),
                    weight: s.weight,
                    serverless: s.serverless,
                    autoscaling: s.autoscaling,
                })
                .collect(),
            tags: Tags::new(),
            data_capture: None,
            deployment: None,
            last_deployment: None,
            managed: true,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn status_strings_round_trip() {
        for s in EndpointStatus::ALL {
            assert_eq!(s.as_str().parse::<EndpointStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("Running".parse::<EndpointStatus>().is_err());
        assert!(EndpointStatus::Creating.is_transitional());
        assert!(!EndpointStatus::InService.is_transitional());
        assert!(EndpointStatus::Failed.is_terminal_failure());
    }

    #[test]
    fn variant_validation_messages() {
        let ok = VariantSpec::new(vname("a"), vref(1), "ml.m5.large", 1);
        validate_variants(std::slice::from_ref(&ok)).unwrap();
        let zero = VariantSpec::new(vname("a"), vref(1), "ml.m5.large", 0);
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("instance_count 0")
        );
        let neg = ok.clone().with_weight(-1.0);
        assert!(neg.validate().unwrap_err().to_string().contains("weight"));
        let dup = validate_variants(&[ok.clone(), ok.clone()]).unwrap_err();
        assert!(dup.to_string().contains("used twice"));
        let no_traffic = validate_variants(&[ok.clone().with_weight(0.0)]).unwrap_err();
        assert!(no_traffic.to_string().contains("sum to 0"));
        assert!(validate_variants(&[]).is_err());
        let bad_sls = VariantSpec::serverless(vname("s"), vref(1), ServerlessConfig::new(1000, 1));
        assert!(
            bad_sls
                .validate()
                .unwrap_err()
                .to_string()
                .contains("memory_mb")
        );
    }

    #[test]
    fn provisioned_concurrency_is_within_max_concurrency() {
        let sls = |p| {
            let config = ServerlessConfig::new(2048, 4).with_provisioned_concurrency(p);
            VariantSpec::serverless(vname("s"), vref(1), config).validate()
        };
        sls(1).unwrap();
        sls(4).unwrap();
        for bad in [0, 5] {
            let e = sls(bad).unwrap_err().to_string();
            assert!(
                e.contains("provisioned_concurrency") && e.contains("(4)"),
                "{e}"
            );
        }
        // Bodies written before the field existed still parse.
        let old: ServerlessConfig =
            serde_json::from_str(r#"{"memory_mb": 2048, "max_concurrency": 4}"#).unwrap();
        assert_eq!(old, ServerlessConfig::new(2048, 4));
    }

    #[test]
    fn plan_scale_is_capacity_only() {
        let e = endpoint(vec![VariantSpec::new(vname("a"), vref(1), "t1", 1)]);
        let plan = UpdateEndpointRequest::new(e.name.clone())
            .with_change(VariantChange::new(vname("a")).with_instance_count(3))
            .plan(&e)
            .unwrap();
        assert_eq!(plan.kind, UpdateKind::CapacityOnly);
        assert_eq!(plan.target[0].desired_instance_count, 3);
    }

    #[test]
    fn plan_type_or_version_change_needs_new_config() {
        let e = endpoint(vec![VariantSpec::new(vname("a"), vref(1), "t1", 1)]);
        for change in [
            VariantChange::new(vname("a")).with_instance_type("t2"),
            VariantChange::new(vname("a")).with_model_version(vref(2)),
        ] {
            let plan = UpdateEndpointRequest::new(e.name.clone())
                .with_change(change)
                .plan(&e)
                .unwrap();
            assert_eq!(plan.kind, UpdateKind::NewConfig);
        }
        let plan = UpdateEndpointRequest::new(e.name.clone())
            .with_variants(vec![
                VariantSpec::new(vname("a"), vref(1), "t1", 1),
                VariantSpec::new(vname("b"), vref(2), "t1", 1),
            ])
            .plan(&e)
            .unwrap();
        assert_eq!(plan.kind, UpdateKind::NewConfig);
    }

    /// The single-variant shorthand (REST's top-level fields, Python without `variant=`):
    /// whatever the only variant is called, and an error naming them when there are several.
    #[test]
    fn plan_resolves_the_only_variant() {
        let blue = endpoint(vec![VariantSpec::new(vname("blue"), vref(1), "t1", 1)]);
        let plan = UpdateEndpointRequest::new(blue.name.clone())
            .with_change(VariantChange::only_variant().with_instance_count(3))
            .plan(&blue)
            .unwrap();
        assert_eq!(plan.target[0].name, vname("blue"));
        assert_eq!(plan.target[0].desired_instance_count, 3);
        let twice = UpdateEndpointRequest::new(blue.name.clone())
            .with_change(VariantChange::only_variant().with_instance_count(3))
            .with_change(VariantChange::new(vname("blue")).with_weight(2.0))
            .plan(&blue)
            .unwrap_err();
        assert!(
            twice.to_string().contains("'blue' is changed twice"),
            "{twice}"
        );
        let two = endpoint(vec![
            VariantSpec::new(vname("blue"), vref(1), "t1", 1),
            VariantSpec::new(vname("green"), vref(2), "t1", 1),
        ]);
        let err = UpdateEndpointRequest::new(two.name.clone())
            .with_change(VariantChange::only_variant().with_instance_count(3))
            .plan(&two)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("has 2 variants (blue, green)"),
            "{err}"
        );
    }

    /// A variant mlm did not create (no model version) can be scaled and reweighted in place;
    /// anything that recreates it needs a version, and without one the error names it.
    #[test]
    fn plan_with_an_unversioned_variant() {
        let mut e = endpoint(vec![
            VariantSpec::new(vname("a"), vref(1), "t1", 1),
            VariantSpec::new(vname("raw"), vref(1), "t1", 1),
        ]);
        e.variants[1].model_version = None;
        e.managed = false;
        assert!(e.variants[1].to_spec().is_none());
        assert!(e.variants[0].to_spec().is_some());

        let scale = UpdateEndpointRequest::new(e.name.clone())
            .with_change(VariantChange::new(vname("raw")).with_instance_count(3))
            .with_change(VariantChange::new(vname("a")).with_weight(0.5))
            .plan(&e)
            .unwrap();
        assert_eq!(scale.kind, UpdateKind::CapacityOnly);
        assert_eq!(scale.target[1].model_version, None);
        assert_eq!(scale.target[1].desired_instance_count, 3);
        assert_eq!(scale.target[0].weight, 0.5);
        let err = scale.specs().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::FailedPrecondition);

        for change in [
            VariantChange::new(vname("raw")).with_instance_type("t2"),
            VariantChange::new(vname("a")).with_model_version(vref(2)),
        ] {
            let err = UpdateEndpointRequest::new(e.name.clone())
                .with_change(change)
                .plan(&e)
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::FailedPrecondition);
            assert!(
                err.to_string().contains("variant 'raw' of endpoint 'e'")
                    && err.to_string().contains("no model version"),
                "{err}"
            );
        }

        let versioned = UpdateEndpointRequest::new(e.name.clone())
            .with_change(
                VariantChange::new(vname("raw"))
                    .with_model_version(vref(3))
                    .with_instance_type("t2"),
            )
            .plan(&e)
            .unwrap();
        assert_eq!(versioned.kind, UpdateKind::NewConfig);
        let specs = versioned.specs().unwrap();
        assert_eq!(specs[1].model_version, vref(3));
        assert_eq!(specs[1].instance_type.as_deref(), Some("t2"));

        let replaced = UpdateEndpointRequest::new(e.name.clone())
            .with_variants(vec![VariantSpec::new(vname("raw"), vref(1), "t1", 1)])
            .plan(&e)
            .unwrap();
        assert_eq!(replaced.kind, UpdateKind::NewConfig);
        assert_eq!(replaced.specs().unwrap().len(), 1);
    }

    #[test]
    fn unversioned_variant_serializes_null() {
        let mut e = endpoint(vec![VariantSpec::new(vname("a"), vref(1), "t1", 1)]);
        e.variants[0].model_version = None;
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json["variants"][0]["model_version"],
            serde_json::Value::Null
        );
        let back: Endpoint = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert!(!e.serves(&vref(1)));
    }

    #[test]
    fn plan_rejects_unclear_updates() {
        let e = endpoint(vec![VariantSpec::new(vname("a"), vref(1), "t1", 1)]);
        let empty = UpdateEndpointRequest::new(e.name.clone())
            .plan(&e)
            .unwrap_err();
        assert!(empty.to_string().contains("changes nothing"));
        let unknown = UpdateEndpointRequest::new(e.name.clone())
            .with_change(VariantChange::new(vname("zz")).with_weight(1.0))
            .plan(&e)
            .unwrap_err();
        assert!(
            unknown.to_string().contains("has no variant 'zz'"),
            "{unknown}"
        );
        let noop = UpdateEndpointRequest::new(e.name.clone())
            .with_change(VariantChange::new(vname("a")))
            .plan(&e)
            .unwrap_err();
        assert!(noop.to_string().contains("sets no field"));
        let both = UpdateEndpointRequest::new(e.name.clone())
            .with_change(VariantChange::new(vname("a")).with_weight(1.0))
            .with_variants(vec![])
            .plan(&e)
            .unwrap_err();
        assert!(both.to_string().contains("not both"));
    }

    #[test]
    fn autoscaling_cooldowns_are_optional_and_bounded() {
        let json = r#"{"min_instances":1,"max_instances":3,"metric":"concurrent_requests","target_value":2.0}"#;
        let plain: AutoscalingPolicy = serde_json::from_str(json).unwrap();
        assert_eq!(plain.scale_in_cooldown_seconds, None);
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            json,
            "unset: not written"
        );
        let timed = plain.clone().with_cooldowns(600, 60);
        let back: AutoscalingPolicy =
            serde_json::from_str(&serde_json::to_string(&timed).unwrap()).unwrap();
        assert_eq!(back, timed);
        let spec = |p: AutoscalingPolicy| {
            vec![VariantSpec::new(vname("a"), vref(1), "t1", 1).with_autoscaling(p)]
        };
        assert!(validate_variants(&spec(plain.clone().with_cooldowns(86_400, 0))).is_ok());
        let err = validate_variants(&spec(plain.with_cooldowns(86_401, 0))).unwrap_err();
        assert!(
            err.to_string().contains("cooldowns must be 0-86400"),
            "{err}"
        );
    }

    #[test]
    fn endpoint_serde_round_trip() {
        let mut e = endpoint(vec![
            VariantSpec::new(vname("a"), vref(1), "t1", 2).with_weight(0.25),
            VariantSpec::serverless(vname("b"), vref(2), ServerlessConfig::new(2048, 5)),
        ]);
        e.deployment = Some(DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 600,
        }));
        let json = serde_json::to_string(&e).unwrap();
        let back: Endpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(json.contains("\"type\":\"canary\""), "{json}");
    }
}
