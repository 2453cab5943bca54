//! The wire format: JSON bodies of the API (`/v1`), separate from the core types so the API can
//! be versioned without touching the core.
//!
//! Request bodies reject unknown fields (`additionalProperties: false` in the spec). Names are
//! plain strings here and validated when converted into core requests, so a bad name is a
//! `400` that states the naming rule. Optional response fields are always present, `null` when
//! unset.
//!
//! Conversions: core → wire for responses (server) and requests (client), wire → core for
//! requests (server) and responses (client). Core enums are `#[non_exhaustive]`; a value this
//! build does not know fails the conversion with [`WireError`] instead of being guessed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mlm_core as domain;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A value that cannot cross the wire in this build (for example a core enum variant added
/// after this crate was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn unmapped(what: &str, value: impl std::fmt::Debug) -> WireError {
    WireError(format!("mlm-http does not know the {what} {value:?}"))
}

/// The conversions of a wire enum that mirrors a core enum variant for variant:
/// `TryFrom<core>` (core enums are non-exhaustive, so a variant added there is reported, not
/// mis-sent) and `From<wire> for core`.
macro_rules! mirror_enum {
    ($wire:ident, $core:path, $what:literal, [$($variant:ident),+ $(,)?]) => {
        impl TryFrom<$core> for $wire {
            type Error = WireError;
            fn try_from(value: $core) -> Result<Self, WireError> {
                use $core as Core;
                Ok(match value {
                    $(Core::$variant => $wire::$variant,)+
                    other => return Err(unmapped($what, other)),
                })
            }
        }

        impl From<$wire> for $core {
            fn from(value: $wire) -> Self {
                use $core as Core;
                match value {
                    $($wire::$variant => Core::$variant,)+
                }
            }
        }
    };
}

/// Builds a core type that has no public constructor from its serde form.
fn via_serde<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, WireError> {
    serde_json::from_value(value).map_err(|e| WireError(format!("cannot build the {what}: {e}")))
}

fn default_count() -> u32 {
    1
}

fn default_weight() -> f64 {
    1.0
}

/// The largest traffic weight: `f32::MAX`, the core's type.
const MAX_WEIGHT: f64 = f32::MAX as f64;

/// A requested traffic weight as the core's `f32`, or `InvalidArgument` outside 0-`f32::MAX`.
///
/// Weights are read as `f64` and checked before the conversion, so a value just outside the
/// range (which `f32` would round into it) is refused as the spec's bounds say.
fn weight(w: f64) -> domain::Result<f32> {
    if (0.0..=MAX_WEIGHT).contains(&w) {
        Ok(w as f32)
    } else {
        Err(domain::Error::invalid(format!(
            "weight {w} is out of range: use a number from 0 to {MAX_WEIGHT:e}"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas utoipa cannot derive: maps with constrained keys and values
// ---------------------------------------------------------------------------------------------
//
// A string that must not be blank has the `pattern` `[^...]` of the characters `str::trim`
// removes (Unicode `White_Space`), so the spec and the core's check agree on every character.

fn string_schema() -> utoipa::openapi::schema::ObjectBuilder {
    utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)
}

fn map_type(nullable: bool) -> utoipa::openapi::schema::SchemaType {
    use utoipa::openapi::schema::{SchemaType, Type};
    if nullable {
        SchemaType::from_iter([Type::Object, Type::Null])
    } else {
        SchemaType::new(Type::Object)
    }
}

/// Labels as requests give them: at most 50; keys 1-128 characters, not starting with `aws:`
/// or `mlm:`; values at most 256 characters (SageMaker's limits, checked on every backend).
fn tags_schema_of(nullable: bool, description: &str) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(map_type(nullable))
        .description(Some(description))
        .max_properties(Some(domain::MAX_TAGS))
        .property_names(Some(
            string_schema()
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^(?!aws:|mlm:)")),
        ))
        .additional_properties(Some(string_schema().max_length(Some(256))))
        .build()
}

fn tags_schema() -> utoipa::openapi::schema::Object {
    tags_schema_of(
        false,
        "Labels: at most 50; keys 1-128 characters, not starting with `aws:` or `mlm:`; values \
         at most 256 characters.",
    )
}

fn optional_tags_schema() -> utoipa::openapi::schema::Object {
    tags_schema_of(
        true,
        "Replaces all tags: at most 50; keys 1-128 characters, not starting with `aws:` or \
         `mlm:`; values at most 256 characters.",
    )
}

/// A serving environment as requests give it: at most 100 variables named with letters,
/// digits and underscores, not starting with a digit.
fn environment_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(map_type(false))
        .description(Some(
            "Environment of the serving process: at most 100 variables, named with letters, \
             digits and underscores, not starting with a digit.",
        ))
        .max_properties(Some(100))
        .property_names(Some(
            string_schema()
                .min_length(Some(1))
                .max_length(Some(1024))
                .pattern(Some("^[A-Za-z_][A-Za-z0-9_]*$")),
        ))
        .additional_properties(Some(string_schema()))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Models and versions
// ---------------------------------------------------------------------------------------------

/// A registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "news-classifier",
    "description": "Sorts news headlines into four topics",
    "tags": {"team": "nlp"},
    "latest_version": 1,
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:00:00Z"
}))]
pub struct Model {
    /// The model's name.
    #[schema(example = "news-classifier")]
    pub name: String,
    /// What the model is for.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// The highest version number registered, if any.
    #[schema(required = true)]
    pub latest_version: Option<u32>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its metadata last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&domain::Model> for Model {
    fn from(m: &domain::Model) -> Self {
        Self {
            name: m.name.to_string(),
            description: m.description.clone(),
            tags: m.tags.clone(),
            latest_version: m.latest_version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl TryFrom<Model> for domain::Model {
    type Error = WireError;
    fn try_from(m: Model) -> Result<Self, WireError> {
        let name = domain::ModelName::new(m.name).map_err(|e| WireError(e.to_string()))?;
        let mut model = domain::Model::new(name, m.description, m.tags, m.created_at);
        model.updated_at = m.updated_at;
        model.latest_version = m.latest_version;
        Ok(model)
    }
}

/// Registers a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    /// The new model's name: 1-63 letters, digits and hyphens, starting and ending with a
    /// letter or digit.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news-classifier"
    )]
    pub name: String,
    /// What the model is for (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Labels (at most 50; keys 1-128 characters, not starting with `aws:` or `mlm:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = tags_schema)]
    pub tags: BTreeMap<String, String>,
}

impl CreateModel {
    /// The core request (validates the name).
    pub fn into_domain(self) -> domain::Result<domain::CreateModelRequest> {
        let mut request = domain::CreateModelRequest::new(domain::ModelName::new(self.name)?);
        request.description = self.description;
        request.tags = self.tags;
        Ok(request)
    }
}

impl From<&domain::CreateModelRequest> for CreateModel {
    fn from(r: &domain::CreateModelRequest) -> Self {
        Self {
            name: r.name.to_string(),
            description: r.description.clone(),
            tags: r.tags.clone(),
        }
    }
}

/// Changes a model's description or tags; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    /// New description, at most 1024 characters (`""` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Replaces all tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_tags_schema)]
    pub tags: Option<BTreeMap<String, String>>,
}

impl UpdateModel {
    /// The core request.
    pub fn into_domain(self) -> domain::UpdateModelRequest {
        let mut request = domain::UpdateModelRequest::new();
        request.description = self.description;
        request.tags = self.tags;
        request
    }
}

impl From<&domain::UpdateModelRequest> for UpdateModel {
    fn from(r: &domain::UpdateModelRequest) -> Self {
        Self {
            description: r.description.clone(),
            tags: r.tags.clone(),
        }
    }
}

/// The approval state of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Waiting for a decision.
    Pending,
    /// Cleared for deployment.
    Approved,
    /// Not to be deployed.
    Rejected,
}

mirror_enum!(
    Approval,
    domain::Approval,
    "approval",
    [Pending, Approved, Rejected]
);

/// One immutable version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "model": "news-classifier",
    "version": 1,
    "artifact_uri": "examples/agnews-classifier/model",
    "artifact_digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "image": "agnews-classifier",
    "environment": {},
    "approval": "approved",
    "description": null,
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:05:00Z"
}))]
pub struct ModelVersion {
    /// The model.
    pub model: String,
    /// 1, 2, 3... in registration order, never reused.
    pub version: u32,
    /// Where the artifact came from.
    pub artifact_uri: String,
    /// Content digest of the stored artifact (`sha256:...`), when the backend computes one.
    #[schema(required = true)]
    pub artifact_digest: Option<String>,
    /// Container image (AWS) or runtime name (local).
    pub image: String,
    /// Environment of the serving process.
    pub environment: BTreeMap<String, String>,
    /// Approval state.
    pub approval: Approval,
    /// Free text.
    #[schema(required = true)]
    pub description: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When approval or description last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<&domain::ModelVersion> for ModelVersion {
    type Error = WireError;
    fn try_from(v: &domain::ModelVersion) -> Result<Self, WireError> {
        Ok(Self {
            model: v.model.to_string(),
            version: v.version,
            artifact_uri: v.artifact_uri.clone(),
            artifact_digest: v.artifact_digest.clone(),
            image: v.image.clone(),
            environment: v.environment.clone(),
            approval: v.approval.try_into()?,
            description: v.description.clone(),
            created_at: v.created_at,
            updated_at: v.updated_at,
        })
    }
}

impl TryFrom<ModelVersion> for domain::ModelVersion {
    type Error = WireError;
    fn try_from(v: ModelVersion) -> Result<Self, WireError> {
        via_serde(
            "model version",
            serde_json::json!({
                "model": v.model,
                "version": v.version,
                "artifact_uri": v.artifact_uri,
                "artifact_digest": v.artifact_digest,
                "image": v.image,
                "environment": v.environment,
                "approval": domain::Approval::from(v.approval),
                "description": v.description,
                "created_at": v.created_at,
                "updated_at": v.updated_at,
            }),
        )
    }
}

/// Registers the next version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    /// The artifact's location (S3 URI on AWS; a path under a configured artifact root, or a
    /// `file://` URI, locally), at most 1024 bytes of UTF-8 and not blank. An artifact the
    /// backend cannot find or read is a `400`.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "examples/agnews-classifier/model"
    )]
    pub artifact_uri: String,
    /// Container image (AWS) or configured runtime name (local; another name is a `400`), at
    /// most 255 bytes of UTF-8 and not blank.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        example = "agnews-classifier"
    )]
    pub image: String,
    /// Environment of the serving process (names: letters, digits, underscores, not starting
    /// with a digit).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = environment_schema)]
    pub environment: BTreeMap<String, String>,
    /// Initial approval (default `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Free text (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

impl CreateVersion {
    /// The core request for a version of `model`.
    pub fn into_domain(self, model: domain::ModelName) -> domain::CreateVersionRequest {
        let mut request = domain::CreateVersionRequest::new(model, self.artifact_uri, self.image);
        request.environment = self.environment;
        if let Some(a) = self.approval {
            request.approval = a.into();
        }
        request.description = self.description;
        request
    }
}

impl TryFrom<&domain::CreateVersionRequest> for CreateVersion {
    type Error = WireError;
    fn try_from(r: &domain::CreateVersionRequest) -> Result<Self, WireError> {
        Ok(Self {
            artifact_uri: r.artifact_uri.clone(),
            image: r.image.clone(),
            environment: r.environment.clone(),
            approval: Some(r.approval.try_into()?),
            description: r.description.clone(),
        })
    }
}

/// Deserializes any value and records that the field was present.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// Changes a version's approval or description. Artifacts, images and environments are
/// immutable: a new artifact is a new version (`POST .../versions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVersion {
    /// New approval state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// New description, at most 1024 characters (`""` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default, skip_serializing, deserialize_with = "present")]
    #[schema(ignore)]
    artifact_uri: bool,
    #[serde(default, skip_serializing, deserialize_with = "present")]
    #[schema(ignore)]
    image: bool,
    #[serde(default, skip_serializing, deserialize_with = "present")]
    #[schema(ignore)]
    environment: bool,
}

impl UpdateVersion {
    /// An update of approval and description.
    pub fn new(approval: Option<Approval>, description: Option<String>) -> Self {
        Self {
            approval,
            description,
            ..Self::default()
        }
    }

    /// The immutable fields the body tried to change.
    pub fn immutable_fields(&self) -> Vec<&'static str> {
        [
            (self.artifact_uri, "artifact_uri"),
            (self.image, "image"),
            (self.environment, "environment"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// The core request.
    pub fn into_domain(self) -> domain::UpdateVersionRequest {
        let mut request = domain::UpdateVersionRequest::new();
        request.approval = self.approval.map(Into::into);
        request.description = self.description;
        request
    }
}

impl TryFrom<&domain::UpdateVersionRequest> for UpdateVersion {
    type Error = WireError;
    fn try_from(r: &domain::UpdateVersionRequest) -> Result<Self, WireError> {
        Ok(Self::new(
            r.approval.map(Approval::try_from).transpose()?,
            r.description.clone(),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

/// An endpoint's lifecycle state (SageMaker's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EndpointStatus {
    /// Stopped, not serving.
    OutOfService,
    /// Instances are being provisioned.
    Creating,
    /// An update is rolling out.
    Updating,
    /// The provider is patching instances on its own.
    SystemUpdating,
    /// A failed update is being rolled back.
    RollingBack,
    /// Serving traffic.
    InService,
    /// Being deleted.
    Deleting,
    /// Creation failed.
    Failed,
    /// An update and its rollback failed.
    UpdateRollbackFailed,
}

mirror_enum!(
    EndpointStatus,
    domain::EndpointStatus,
    "endpoint status",
    [
        OutOfService,
        Creating,
        Updating,
        SystemUpdating,
        RollingBack,
        InService,
        Deleting,
        Failed,
        UpdateRollbackFailed
    ]
);

/// A model and version number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRef {
    /// The model.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news-classifier"
    )]
    pub model: String,
    /// The version number.
    #[schema(example = 1)]
    pub version: u32,
}

impl From<&domain::VersionRef> for VersionRef {
    fn from(v: &domain::VersionRef) -> Self {
        Self {
            model: v.model.to_string(),
            version: v.version,
        }
    }
}

impl VersionRef {
    /// The core reference (validates the model name).
    pub fn into_domain(self) -> domain::Result<domain::VersionRef> {
        Ok(domain::VersionRef::new(
            domain::ModelName::new(self.model)?,
            self.version,
        ))
    }
}

/// Serverless capacity instead of instances (AWS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Serverless {
    /// Memory per worker: 1024-6144 in steps of 1024.
    #[schema(minimum = 1024, maximum = 6144, multiple_of = 1024)]
    pub memory_mb: u32,
    /// Concurrent invocations: 1-200.
    #[schema(minimum = 1, maximum = 200)]
    pub max_concurrency: u32,
}

impl From<&domain::ServerlessConfig> for Serverless {
    fn from(s: &domain::ServerlessConfig) -> Self {
        Self {
            memory_mb: s.memory_mb,
            max_concurrency: s.max_concurrency,
        }
    }
}

impl From<Serverless> for domain::ServerlessConfig {
    fn from(s: Serverless) -> Self {
        domain::ServerlessConfig::new(s.memory_mb, s.max_concurrency)
    }
}

/// The metric an autoscaling policy tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    /// Invocations per instance per minute.
    InvocationsPerInstance,
    /// Concurrent requests per model.
    ConcurrentRequests,
    /// CPU utilisation, %.
    CpuUtilization,
    /// GPU utilisation, %.
    GpuUtilization,
}

mirror_enum!(
    ScalingMetric,
    domain::ScalingMetric,
    "scaling metric",
    [
        InvocationsPerInstance,
        ConcurrentRequests,
        CpuUtilization,
        GpuUtilization
    ]
);

/// Target-tracking autoscaling of a variant's instance count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    /// Fewest instances (>= 1, <= `max_instances`; the variant's `instance_count` must lie
    /// between the two).
    #[schema(minimum = 1, maximum = 100)]
    pub min_instances: u32,
    /// Most instances (<= 100).
    #[schema(minimum = 1, maximum = 100)]
    pub max_instances: u32,
    /// What is tracked.
    pub metric: ScalingMetric,
    /// The value to hold the metric at (> 0).
    #[schema(exclusive_minimum = 0)]
    pub target_value: f64,
}

impl TryFrom<&domain::AutoscalingPolicy> for Autoscaling {
    type Error = WireError;
    fn try_from(a: &domain::AutoscalingPolicy) -> Result<Self, WireError> {
        Ok(Self {
            min_instances: a.min_instances,
            max_instances: a.max_instances,
            metric: a.metric.try_into()?,
            target_value: a.target_value,
        })
    }
}

impl TryFrom<Autoscaling> for domain::AutoscalingPolicy {
    type Error = WireError;
    fn try_from(a: Autoscaling) -> Result<Self, WireError> {
        via_serde(
            "autoscaling policy",
            serde_json::json!({
                "min_instances": a.min_instances,
                "max_instances": a.max_instances,
                "metric": domain::ScalingMetric::from(a.metric),
                "target_value": a.target_value,
            }),
        )
    }
}

/// Capture of requests and responses for monitoring (AWS only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCapture {
    /// Where captured records go (an S3 URI on AWS); not blank.
    #[schema(
        min_length = 1,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub destination_uri: String,
    /// Percentage of requests captured, 0-100.
    #[schema(maximum = 100)]
    pub sampling_percent: u8,
    /// Capture request payloads.
    pub capture_input: bool,
    /// Capture response payloads.
    pub capture_output: bool,
}

impl From<&domain::DataCaptureConfig> for DataCapture {
    fn from(c: &domain::DataCaptureConfig) -> Self {
        Self {
            destination_uri: c.destination_uri.clone(),
            sampling_percent: c.sampling_percent,
            capture_input: c.capture_input,
            capture_output: c.capture_output,
        }
    }
}

impl TryFrom<DataCapture> for domain::DataCaptureConfig {
    type Error = WireError;
    fn try_from(c: DataCapture) -> Result<Self, WireError> {
        via_serde(
            "data capture configuration",
            serde_json::json!({
                "destination_uri": c.destination_uri,
                "sampling_percent": c.sampling_percent,
                "capture_input": c.capture_input,
                "capture_output": c.capture_output,
            }),
        )
    }
}

/// How traffic moves to a new fleet during an update.
///
/// Its schema is written by hand (below): each variant is a named schema with a title, and a
/// `discriminator` on `type` maps to them, so generated clients get one class per variant
/// instead of `TrafficShiftType0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TrafficShift {
    /// Shift everything at once.
    // A struct variant, not a unit one: serde ignores unknown fields next to the tag of a unit
    // variant even with `deny_unknown_fields`.
    AllAtOnce {},
    /// Shift `percent` first, watch for `bake_seconds`, then the rest.
    Canary {
        /// Share of traffic in the canary step, 1-99.
        percent: u8,
        /// How long the canary is watched.
        bake_seconds: u32,
    },
    /// Shift `step_percent` every `interval_seconds`.
    Linear {
        /// Share per step, 1-99.
        step_percent: u8,
        /// Wait between steps (> 0).
        interval_seconds: u32,
    },
}

/// The variants of [`TrafficShift`]: schema name, `type` tag, description, and the other
/// properties as (name, description, minimum, maximum).
type ShiftVariant = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, u32, Option<u32>)],
);

const TRAFFIC_SHIFTS: [ShiftVariant; 3] = [
    (
        "AllAtOnceShift",
        "all_at_once",
        "Shift everything at once.",
        &[],
    ),
    (
        "CanaryShift",
        "canary",
        "Shift `percent` first, watch for `bake_seconds`, then the rest.",
        &[
            (
                "percent",
                "Share of traffic in the canary step, 1-99.",
                1,
                Some(99),
            ),
            ("bake_seconds", "How long the canary is watched.", 0, None),
        ],
    ),
    (
        "LinearShift",
        "linear",
        "Shift `step_percent` every `interval_seconds`.",
        &[
            ("step_percent", "Share per step, 1-99.", 1, Some(99)),
            ("interval_seconds", "Wait between steps (> 0).", 1, None),
        ],
    ),
];

/// One variant's schema: an object as strict as the enum (`deny_unknown_fields`).
fn traffic_shift_variant(v: &ShiftVariant) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let (name, tag, description, fields) = *v;
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(name))
        .description(Some(description))
        .property(
            "type",
            string_schema()
                .description(Some("The kind of shift."))
                .enum_values(Some([tag])),
        )
        .required("type")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
    for (field, doc, min, max) in fields {
        let integer = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::Int32,
            )))
            .description(Some(*doc))
            .minimum(Some(*min))
            .maximum(*max);
        object = object.property(*field, integer).required(*field);
    }
    object.build()
}

impl utoipa::PartialSchema for TrafficShift {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{Discriminator, OneOfBuilder, Ref};
        let mut discriminator = Discriminator::new("type");
        let mut one_of = OneOfBuilder::new()
            .description(Some("How traffic moves to a new fleet during an update."));
        for (name, tag, _, _) in TRAFFIC_SHIFTS {
            let location = format!("#/components/schemas/{name}");
            discriminator.mapping.insert(tag.into(), location.clone());
            one_of = one_of.item(Ref::new(location));
        }
        one_of.discriminator(Some(discriminator)).into()
    }
}

impl ToSchema for TrafficShift {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        for variant in &TRAFFIC_SHIFTS {
            schemas.push((variant.0.into(), traffic_shift_variant(variant).into()));
        }
    }
}

/// Deployment guardrails for updates (AWS only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPolicy {
    /// How traffic shifts.
    pub traffic: TrafficShift,
    /// Alarm names that roll the update back when they fire.
    #[serde(default)]
    pub rollback_alarms: Vec<String>,
}

impl TryFrom<&domain::DeploymentPolicy> for DeploymentPolicy {
    type Error = WireError;
    fn try_from(p: &domain::DeploymentPolicy) -> Result<Self, WireError> {
        let traffic = match &p.traffic {
            domain::TrafficShift::AllAtOnce => TrafficShift::AllAtOnce {},
            domain::TrafficShift::Canary {
                percent,
                bake_seconds,
            } => TrafficShift::Canary {
                percent: *percent,
                bake_seconds: *bake_seconds,
            },
            domain::TrafficShift::Linear {
                step_percent,
                interval_seconds,
            } => TrafficShift::Linear {
                step_percent: *step_percent,
                interval_seconds: *interval_seconds,
            },
            other => return Err(unmapped("traffic shift", other)),
        };
        Ok(Self {
            traffic,
            rollback_alarms: p.rollback_alarms.clone(),
        })
    }
}

impl From<DeploymentPolicy> for domain::DeploymentPolicy {
    fn from(p: DeploymentPolicy) -> Self {
        let traffic = match p.traffic {
            TrafficShift::AllAtOnce {} => domain::TrafficShift::AllAtOnce,
            TrafficShift::Canary {
                percent,
                bake_seconds,
            } => domain::TrafficShift::Canary {
                percent,
                bake_seconds,
            },
            TrafficShift::Linear {
                step_percent,
                interval_seconds,
            } => domain::TrafficShift::Linear {
                step_percent,
                interval_seconds,
            },
        };
        let mut policy = domain::DeploymentPolicy::new(traffic);
        policy.rollback_alarms = p.rollback_alarms;
        policy
    }
}

/// A variant as it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    /// The variant's name, unique within its endpoint.
    pub name: String,
    /// The model version it serves.
    pub model_version: VersionRef,
    /// Instance type; `null` for serverless variants.
    #[schema(required = true)]
    pub instance_type: Option<String>,
    /// Instances asked for.
    pub desired_instance_count: u32,
    /// Instances running now, when known.
    #[schema(required = true)]
    pub current_instance_count: Option<u32>,
    /// Relative traffic weight.
    pub weight: f32,
    /// Serverless capacity, instead of instances.
    #[schema(required = true)]
    pub serverless: Option<Serverless>,
    /// Autoscaling of the instance count.
    #[schema(required = true)]
    pub autoscaling: Option<Autoscaling>,
}

impl TryFrom<&domain::Variant> for Variant {
    type Error = WireError;
    fn try_from(v: &domain::Variant) -> Result<Self, WireError> {
        Ok(Self {
            name: v.name.to_string(),
            model_version: (&v.model_version).into(),
            instance_type: v.instance_type.clone(),
            desired_instance_count: v.desired_instance_count,
            current_instance_count: v.current_instance_count,
            weight: v.weight,
            serverless: v.serverless.as_ref().map(Into::into),
            autoscaling: v.autoscaling.as_ref().map(TryInto::try_into).transpose()?,
        })
    }
}

/// An endpoint as its backend describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
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
    "managed": true,
    "created_at": "2025-01-01T12:10:00Z",
    "updated_at": "2025-01-01T12:10:30Z"
}))]
pub struct Endpoint {
    /// The endpoint's name.
    pub name: String,
    /// Where it is in its lifecycle.
    pub status: EndpointStatus,
    /// Why it failed, or why its last update was rolled back.
    #[schema(required = true)]
    pub failure_reason: Option<String>,
    /// One or more variants.
    pub variants: Vec<Variant>,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// Request/response capture, if on.
    #[schema(required = true)]
    pub data_capture: Option<DataCapture>,
    /// Guardrails applied to updates.
    #[schema(required = true)]
    pub deployment: Option<DeploymentPolicy>,
    /// False for endpoints that exist in the provider but were not created by mlm.
    pub managed: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<&domain::Endpoint> for Endpoint {
    type Error = WireError;
    fn try_from(e: &domain::Endpoint) -> Result<Self, WireError> {
        Ok(Self {
            name: e.name.to_string(),
            status: e.status.try_into()?,
            failure_reason: e.failure_reason.clone(),
            variants: e
                .variants
                .iter()
                .map(Variant::try_from)
                .collect::<Result<_, _>>()?,
            tags: e.tags.clone(),
            data_capture: e.data_capture.as_ref().map(Into::into),
            deployment: e.deployment.as_ref().map(TryInto::try_into).transpose()?,
            managed: e.managed,
            created_at: e.created_at,
            updated_at: e.updated_at,
        })
    }
}

fn variant_json(v: &Variant) -> Result<serde_json::Value, WireError> {
    let autoscaling = v
        .autoscaling
        .clone()
        .map(domain::AutoscalingPolicy::try_from)
        .transpose()?;
    Ok(serde_json::json!({
        "name": v.name,
        "model_version": { "model": v.model_version.model, "version": v.model_version.version },
        "instance_type": v.instance_type,
        "desired_instance_count": v.desired_instance_count,
        "current_instance_count": v.current_instance_count,
        "weight": v.weight,
        "serverless": v.serverless.map(domain::ServerlessConfig::from),
        "autoscaling": autoscaling,
    }))
}

impl TryFrom<Endpoint> for domain::Endpoint {
    type Error = WireError;
    fn try_from(e: Endpoint) -> Result<Self, WireError> {
        let variants = e
            .variants
            .iter()
            .map(variant_json)
            .collect::<Result<Vec<_>, _>>()?;
        let data_capture = e
            .data_capture
            .map(domain::DataCaptureConfig::try_from)
            .transpose()?;
        via_serde(
            "endpoint",
            serde_json::json!({
                "name": e.name,
                "status": domain::EndpointStatus::from(e.status),
                "failure_reason": e.failure_reason,
                "variants": variants,
                "tags": e.tags,
                "data_capture": data_capture,
                "deployment": e.deployment.map(domain::DeploymentPolicy::from),
                "managed": e.managed,
                "created_at": e.created_at,
                "updated_at": e.updated_at,
            }),
        )
    }
}

/// One variant of a new endpoint or of a replacement variant set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Unique within the endpoint.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "primary"
    )]
    pub name: String,
    /// The version to serve.
    pub model_version: VersionRef,
    /// Instance type (e.g. `ml.m5.large`), 1-64 bytes and not blank; give it or
    /// `serverless`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "ml.m5.large",
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub instance_type: Option<String>,
    /// Instances to run, 1-100 (default 1); ignored for serverless variants (the core and
    /// the HTTP client give those 0).
    #[serde(default = "default_count")]
    #[schema(example = 1, minimum = 0, maximum = 100)]
    pub instance_count: u32,
    /// Relative traffic weight, >= 0 (default 1); the weights of an endpoint's variants must
    /// not all be 0.
    #[serde(default = "default_weight")]
    #[schema(minimum = 0, maximum = 3.4028234663852886e38)]
    pub weight: f64,
    /// Serverless capacity instead of instances (AWS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<Serverless>,
    /// Autoscaling of the instance count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
}

impl VariantSpec {
    /// The core spec (validates names).
    pub fn into_domain(self) -> domain::Result<domain::VariantSpec> {
        let name = domain::VariantName::new(self.name)?;
        let version = self.model_version.into_domain()?;
        let mut spec = domain::VariantSpec::new(name, version, "", self.instance_count);
        spec.instance_type = self.instance_type;
        spec.weight = weight(self.weight)?;
        spec.serverless = self.serverless.map(Into::into);
        spec.autoscaling = self
            .autoscaling
            .map(domain::AutoscalingPolicy::try_from)
            .transpose()
            .map_err(|e| domain::Error::invalid(e.0))?;
        Ok(spec)
    }
}

impl TryFrom<&domain::VariantSpec> for VariantSpec {
    type Error = WireError;
    fn try_from(s: &domain::VariantSpec) -> Result<Self, WireError> {
        Ok(Self {
            name: s.name.to_string(),
            model_version: (&s.model_version).into(),
            instance_type: s.instance_type.clone(),
            instance_count: s.instance_count,
            weight: f64::from(s.weight),
            serverless: s.serverless.as_ref().map(Into::into),
            autoscaling: s.autoscaling.as_ref().map(TryInto::try_into).transpose()?,
        })
    }
}

/// Creates an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// The new endpoint's name.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    pub name: String,
    /// Its variants (1-10, with distinct names).
    #[schema(min_items = 1, max_items = 10)]
    pub variants: Vec<VariantSpec>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = tags_schema)]
    pub tags: BTreeMap<String, String>,
    /// Request/response capture (AWS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_capture: Option<DataCapture>,
    /// Guardrails for later updates (AWS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentPolicy>,
}

impl CreateEndpoint {
    /// The core request (validates names).
    pub fn into_domain(self) -> domain::Result<domain::CreateEndpointRequest> {
        let name = domain::EndpointName::new(self.name)?;
        let variants = self
            .variants
            .into_iter()
            .map(VariantSpec::into_domain)
            .collect::<domain::Result<Vec<_>>>()?;
        let mut request = domain::CreateEndpointRequest::new(name, variants);
        request.tags = self.tags;
        request.data_capture = self
            .data_capture
            .map(domain::DataCaptureConfig::try_from)
            .transpose()
            .map_err(|e| domain::Error::invalid(e.0))?;
        request.deployment = self.deployment.map(Into::into);
        Ok(request)
    }
}

impl TryFrom<&domain::CreateEndpointRequest> for CreateEndpoint {
    type Error = WireError;
    fn try_from(r: &domain::CreateEndpointRequest) -> Result<Self, WireError> {
        Ok(Self {
            name: r.name.to_string(),
            variants: r
                .variants
                .iter()
                .map(VariantSpec::try_from)
                .collect::<Result<_, _>>()?,
            tags: r.tags.clone(),
            data_capture: r.data_capture.as_ref().map(Into::into),
            deployment: r.deployment.as_ref().map(TryInto::try_into).transpose()?,
        })
    }
}

/// A change to one existing variant; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantChange {
    /// The variant to change.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "primary"
    )]
    pub variant: String,
    /// Scale to this many instances (1-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub instance_count: Option<u32>,
    /// Move to this instance type (1-64 bytes, not blank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub instance_type: Option<String>,
    /// Serve this version instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<VersionRef>,
    /// New traffic weight (>= 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 3.4028234663852886e38)]
    pub weight: Option<f64>,
}

impl VariantChange {
    /// The core change (validates names).
    pub fn into_domain(self) -> domain::Result<domain::VariantChange> {
        let mut change = domain::VariantChange::new(domain::VariantName::new(self.variant)?);
        change.instance_count = self.instance_count;
        change.instance_type = self.instance_type;
        change.model_version = self
            .model_version
            .map(VersionRef::into_domain)
            .transpose()?;
        change.weight = self.weight.map(weight).transpose()?;
        Ok(change)
    }
}

impl TryFrom<&domain::VariantChange> for VariantChange {
    type Error = WireError;
    fn try_from(c: &domain::VariantChange) -> Result<Self, WireError> {
        let variant = c.variant.as_ref().ok_or_else(|| {
            WireError(
                "a change without a variant name must be the update's only change \
                 (the top-level shorthand)"
                    .into(),
            )
        })?;
        Ok(Self {
            variant: variant.to_string(),
            instance_count: c.instance_count,
            instance_type: c.instance_type.clone(),
            model_version: c.model_version.as_ref().map(Into::into),
            weight: c.weight.map(f64::from),
        })
    }
}

/// Updates an endpoint. Give exactly one of:
///
/// - `changes`: changes to existing variants (each names its variant);
/// - `variants`: a whole new variant set;
/// - the shorthand `instance_count` / `instance_type` / `model_version` at the top level, which
///   applies to the endpoint's only variant (an endpoint with several variants answers `400`:
///   name the variant in `changes`).
///
/// `deployment` and `retain_autoscaled_counts` may accompany any of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// Changes to existing variants (each variant at most once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub changes: Option<Vec<VariantChange>>,
    /// A whole new variant set (1-10, with distinct names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub variants: Option<Vec<VariantSpec>>,
    /// Shorthand: scale the only variant to this many instances (1-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub instance_count: Option<u32>,
    /// Shorthand: move the only variant to this instance type (1-64 bytes, not blank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub instance_type: Option<String>,
    /// Shorthand: make the only variant serve this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<VersionRef>,
    /// Guardrails for this update (defaults to the endpoint's policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentPolicy>,
    /// Keep instance counts set by autoscaling when the rest of the configuration changes
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_autoscaled_counts: Option<bool>,
}

impl UpdateEndpoint {
    /// Whether the body uses the single-variant shorthand.
    pub fn uses_shorthand(&self) -> bool {
        self.instance_count.is_some()
            || self.instance_type.is_some()
            || self.model_version.is_some()
    }

    /// The core request for endpoint `name`. The shorthand becomes a change to the
    /// endpoint's only variant ([`domain::VariantChange::only_variant`]), which the core
    /// resolves when it plans the update, the same way for every client.
    pub fn into_domain(
        self,
        name: domain::EndpointName,
    ) -> domain::Result<domain::UpdateEndpointRequest> {
        let mut request = domain::UpdateEndpointRequest::new(name);
        if self.uses_shorthand() {
            if self.changes.is_some() || self.variants.is_some() {
                return Err(domain::Error::invalid(
                    "give either the top-level instance_count/instance_type/model_version \
                     shorthand or changes/variants, not both",
                ));
            }
            let mut change = domain::VariantChange::only_variant();
            change.instance_count = self.instance_count;
            change.instance_type = self.instance_type;
            change.model_version = self
                .model_version
                .map(VersionRef::into_domain)
                .transpose()?;
            request.changes.push(change);
        } else {
            if let Some(changes) = self.changes {
                if changes.is_empty() {
                    return Err(domain::Error::invalid(
                        "changes is empty: name at least one variant to change, or leave it out",
                    ));
                }
                request.changes = changes
                    .into_iter()
                    .map(VariantChange::into_domain)
                    .collect::<domain::Result<_>>()?;
            }
            if let Some(variants) = self.variants {
                request.replace_variants = Some(
                    variants
                        .into_iter()
                        .map(VariantSpec::into_domain)
                        .collect::<domain::Result<_>>()?,
                );
            }
        }
        request.deployment = self.deployment.map(Into::into);
        if let Some(retain) = self.retain_autoscaled_counts {
            request.retain_autoscaled_counts = retain;
        }
        Ok(request)
    }
}

impl TryFrom<&domain::UpdateEndpointRequest> for UpdateEndpoint {
    type Error = WireError;
    fn try_from(r: &domain::UpdateEndpointRequest) -> Result<Self, WireError> {
        // A change to the only variant travels as the top-level shorthand.
        if let [only] = r.changes.as_slice()
            && only.variant.is_none()
        {
            if only.weight.is_some() {
                return Err(WireError(
                    "a weight needs a variant name: with one variant it is always 1".into(),
                ));
            }
            return Ok(Self {
                instance_count: only.instance_count,
                instance_type: only.instance_type.clone(),
                model_version: only.model_version.as_ref().map(Into::into),
                deployment: r.deployment.as_ref().map(TryInto::try_into).transpose()?,
                retain_autoscaled_counts: Some(r.retain_autoscaled_counts),
                ..Self::default()
            });
        }
        let changes = r
            .changes
            .iter()
            .map(VariantChange::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            changes: (!changes.is_empty()).then_some(changes),
            variants: r
                .replace_variants
                .as_ref()
                .map(|v| {
                    v.iter()
                        .map(VariantSpec::try_from)
                        .collect::<Result<_, _>>()
                })
                .transpose()?,
            instance_count: None,
            instance_type: None,
            model_version: None,
            deployment: r.deployment.as_ref().map(TryInto::try_into).transpose()?,
            retain_autoscaled_counts: Some(r.retain_autoscaled_counts),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Observability
// ---------------------------------------------------------------------------------------------

/// Whether a figure is about one instance or averaged over a variant's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricScope {
    /// Measured on this instance.
    Instance,
    /// An aggregate over the variant's instances (no per-instance data available).
    VariantAggregate,
}

impl From<domain::MetricScope> for MetricScope {
    fn from(s: domain::MetricScope) -> Self {
        match s {
            domain::MetricScope::Instance => MetricScope::Instance,
            domain::MetricScope::VariantAggregate => MetricScope::VariantAggregate,
        }
    }
}

impl From<MetricScope> for domain::MetricScope {
    fn from(s: MetricScope) -> Self {
        match s {
            MetricScope::Instance => domain::MetricScope::Instance,
            MetricScope::VariantAggregate => domain::MetricScope::VariantAggregate,
        }
    }
}

/// One figure and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Measurement {
    /// The value (percentages are 0-100 per device).
    pub value: f64,
    /// What it covers.
    pub scope: MetricScope,
}

impl From<&domain::Measurement> for Measurement {
    fn from(m: &domain::Measurement) -> Self {
        Self {
            value: m.value,
            scope: m.scope.into(),
        }
    }
}

impl From<Measurement> for domain::Measurement {
    fn from(m: Measurement) -> Self {
        match m.scope {
            MetricScope::Instance => domain::Measurement::instance(m.value),
            MetricScope::VariantAggregate => domain::Measurement::aggregate(m.value),
        }
    }
}

/// The state of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum InstanceStatus {
    /// Starting.
    Pending,
    /// Healthy and receiving traffic.
    InService,
    /// Finishing its in-flight requests before it stops.
    Draining,
    /// Crashed or failing health checks.
    Failed,
    /// The backend cannot tell.
    Unknown,
}

mirror_enum!(
    InstanceStatus,
    domain::InstanceStatus,
    "instance status",
    [Pending, InService, Draining, Failed, Unknown]
);

/// One instance of an endpoint variant with its latest figures. A figure is `null` when the
/// backend does not have it (never a made-up zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    /// Provider-given id (local: `variant-N`; AWS: the instance id).
    pub id: String,
    /// The variant it belongs to.
    pub variant: String,
    /// Its state.
    pub status: InstanceStatus,
    /// Since when it exists, when known.
    #[schema(required = true)]
    pub started_at: Option<DateTime<Utc>>,
    /// GPU utilisation, %.
    #[schema(required = true)]
    pub gpu_utilization: Option<Measurement>,
    /// GPU memory utilisation, %.
    #[schema(required = true)]
    pub gpu_memory_utilization: Option<Measurement>,
    /// CPU utilisation, % per core.
    #[schema(required = true)]
    pub cpu_utilization: Option<Measurement>,
    /// Memory utilisation, %.
    #[schema(required = true)]
    pub memory_utilization: Option<Measurement>,
    /// Requests being served or queued now.
    #[schema(required = true)]
    pub in_flight_requests: Option<Measurement>,
}

impl TryFrom<&domain::Instance> for Instance {
    type Error = WireError;
    fn try_from(i: &domain::Instance) -> Result<Self, WireError> {
        let m = &i.metrics;
        Ok(Self {
            id: i.id.clone(),
            variant: i.variant.to_string(),
            status: i.status.try_into()?,
            started_at: i.started_at,
            gpu_utilization: m.gpu_utilization.as_ref().map(Into::into),
            gpu_memory_utilization: m.gpu_memory_utilization.as_ref().map(Into::into),
            cpu_utilization: m.cpu_utilization.as_ref().map(Into::into),
            memory_utilization: m.memory_utilization.as_ref().map(Into::into),
            in_flight_requests: m.in_flight_requests.as_ref().map(Into::into),
        })
    }
}

impl TryFrom<Instance> for domain::Instance {
    type Error = WireError;
    fn try_from(i: Instance) -> Result<Self, WireError> {
        let variant = domain::VariantName::new(i.variant).map_err(|e| WireError(e.to_string()))?;
        let mut instance = domain::Instance::new(i.id, variant, i.status.into());
        instance.started_at = i.started_at;
        let m = &mut instance.metrics;
        m.gpu_utilization = i.gpu_utilization.map(Into::into);
        m.gpu_memory_utilization = i.gpu_memory_utilization.map(Into::into);
        m.cpu_utilization = i.cpu_utilization.map(Into::into);
        m.memory_utilization = i.memory_utilization.map(Into::into);
        m.in_flight_requests = i.in_flight_requests.map(Into::into);
        Ok(instance)
    }
}

/// Counts of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariantCounts {
    /// The variant.
    pub name: String,
    /// Instances asked for.
    pub desired_instance_count: u32,
    /// Instances running, when known.
    #[schema(required = true)]
    pub current_instance_count: Option<u32>,
    /// Relative traffic weight.
    pub weight: f32,
}

/// An endpoint's status, counts and instances with their latest figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointOverview {
    /// The endpoint.
    pub name: String,
    /// Its status.
    pub status: EndpointStatus,
    /// Why it failed, if it did.
    #[schema(required = true)]
    pub failure_reason: Option<String>,
    /// Instances running now, over all variants.
    pub instance_count: u32,
    /// Per-variant counts.
    pub variants: Vec<VariantCounts>,
    /// Every instance with its latest figures.
    pub instances: Vec<Instance>,
    /// When these figures were read.
    pub as_of: DateTime<Utc>,
}

impl TryFrom<&domain::EndpointOverview> for EndpointOverview {
    type Error = WireError;
    fn try_from(o: &domain::EndpointOverview) -> Result<Self, WireError> {
        Ok(Self {
            name: o.name.to_string(),
            status: o.status.try_into()?,
            failure_reason: o.failure_reason.clone(),
            instance_count: o.instance_count(),
            variants: o
                .variants
                .iter()
                .map(|v| VariantCounts {
                    name: v.name.to_string(),
                    desired_instance_count: v.desired_instance_count,
                    current_instance_count: v.current_instance_count,
                    weight: v.weight,
                })
                .collect(),
            instances: o
                .instances
                .iter()
                .map(Instance::try_from)
                .collect::<Result<_, _>>()?,
            as_of: o.as_of,
        })
    }
}

impl TryFrom<EndpointOverview> for domain::EndpointOverview {
    type Error = WireError;
    fn try_from(o: EndpointOverview) -> Result<Self, WireError> {
        let mut overview: domain::EndpointOverview = via_serde(
            "endpoint overview",
            serde_json::json!({
                "name": o.name,
                "status": domain::EndpointStatus::from(o.status),
                "failure_reason": o.failure_reason,
                "variants": o.variants.iter().map(|v| serde_json::json!({
                    "name": v.name,
                    "desired_instance_count": v.desired_instance_count,
                    "current_instance_count": v.current_instance_count,
                    "weight": v.weight,
                })).collect::<Vec<_>>(),
                "instances": [],
                "as_of": o.as_of,
            }),
        )?;
        overview.instances = o
            .instances
            .into_iter()
            .map(domain::Instance::try_from)
            .collect::<Result<_, _>>()?;
        Ok(overview)
    }
}

/// The instances of an endpoint with their latest figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceList {
    /// The endpoint.
    pub endpoint: String,
    /// Its status.
    pub status: EndpointStatus,
    /// When these figures were read.
    pub as_of: DateTime<Utc>,
    /// The instances.
    pub items: Vec<Instance>,
}

/// A metric every backend can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// GPU utilisation, %.
    GpuUtilization,
    /// GPU memory utilisation, %.
    GpuMemoryUtilization,
    /// CPU utilisation, %.
    CpuUtilization,
    /// Memory utilisation, %.
    MemoryUtilization,
    /// Requests in flight.
    InFlightRequests,
    /// Invocations.
    Invocations,
    /// Invocations answered 4xx.
    #[serde(rename = "invocation_errors_4xx")]
    InvocationErrors4xx,
    /// Invocations answered 5xx.
    #[serde(rename = "invocation_errors_5xx")]
    InvocationErrors5xx,
    /// Model latency, microseconds.
    ModelLatency,
}

mirror_enum!(
    MetricKind,
    domain::MetricKind,
    "metric",
    [
        GpuUtilization,
        GpuMemoryUtilization,
        CpuUtilization,
        MemoryUtilization,
        InFlightRequests,
        Invocations,
        InvocationErrors4xx,
        InvocationErrors5xx,
        ModelLatency
    ]
);

/// How data points within a period are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Mean.
    Average,
    /// Largest.
    Maximum,
    /// Smallest.
    Minimum,
    /// Total.
    Sum,
    /// Number of samples.
    SampleCount,
}

impl Statistic {
    /// The query-string spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Average => "average",
            Statistic::Maximum => "maximum",
            Statistic::Minimum => "minimum",
            Statistic::Sum => "sum",
            Statistic::SampleCount => "sample_count",
        }
    }

    /// Every statistic.
    pub const ALL: [Statistic; 5] = [
        Statistic::Average,
        Statistic::Maximum,
        Statistic::Minimum,
        Statistic::Sum,
        Statistic::SampleCount,
    ];
}

mirror_enum!(
    Statistic,
    domain::Statistic,
    "statistic",
    [Average, Maximum, Minimum, Sum, SampleCount]
);

/// One bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataPoint {
    /// Bucket start.
    pub timestamp: DateTime<Utc>,
    /// Combined value.
    pub value: f64,
}

/// The history of one metric for an endpoint, variant or instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricSeries {
    /// Which metric.
    pub metric: MetricKind,
    /// The variant, if the series is per variant or instance.
    #[schema(required = true)]
    pub variant: Option<String>,
    /// The instance, if the series is per instance.
    #[schema(required = true)]
    pub instance: Option<String>,
    /// What the values cover.
    pub scope: MetricScope,
    /// How buckets were combined.
    pub statistic: Statistic,
    /// The unit of the values (`percent`, `count`, `microseconds`).
    pub unit: String,
    /// Buckets in time order; empty when nothing was recorded.
    pub points: Vec<DataPoint>,
}

impl TryFrom<&domain::MetricSeries> for MetricSeries {
    type Error = WireError;
    fn try_from(s: &domain::MetricSeries) -> Result<Self, WireError> {
        Ok(Self {
            metric: s.kind.try_into()?,
            variant: s.variant.as_ref().map(ToString::to_string),
            instance: s.instance.clone(),
            scope: s.scope.into(),
            statistic: s.statistic.try_into()?,
            unit: s.unit.clone(),
            points: s
                .points
                .iter()
                .map(|p| DataPoint {
                    timestamp: p.timestamp,
                    value: p.value,
                })
                .collect(),
        })
    }
}

impl TryFrom<MetricSeries> for domain::MetricSeries {
    type Error = WireError;
    fn try_from(s: MetricSeries) -> Result<Self, WireError> {
        let mut series =
            domain::MetricSeries::empty(s.metric.into(), s.statistic.into(), s.scope.into());
        series.variant = s
            .variant
            .map(domain::VariantName::new)
            .transpose()
            .map_err(|e| WireError(e.to_string()))?;
        series.instance = s.instance;
        series.unit = s.unit;
        series.points = s
            .points
            .into_iter()
            .map(|p| domain::DataPoint {
                timestamp: p.timestamp,
                value: p.value,
            })
            .collect();
        Ok(series)
    }
}

/// Metric history of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsResponse {
    /// The endpoint.
    pub endpoint: String,
    /// Window start (inclusive).
    pub start: DateTime<Utc>,
    /// Window end (exclusive).
    pub end: DateTime<Utc>,
    /// Bucket length in seconds.
    pub period_seconds: u32,
    /// The statistic asked for; `null` when none was, and each series was combined by its
    /// metric's default (`sum` for invocations and errors, `average` otherwise: see each
    /// series' `statistic`).
    #[schema(required = true)]
    pub statistic: Option<Statistic>,
    /// One or more series per metric asked for.
    pub series: Vec<MetricSeries>,
}

// ---------------------------------------------------------------------------------------------
// Provider, pages, health
// ---------------------------------------------------------------------------------------------

/// What the server's backend supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    /// Serverless variants.
    pub serverless: bool,
    /// Data capture.
    pub data_capture: bool,
    /// Canary/linear deployment policies.
    pub deployment_policies: bool,
    /// Autoscaling policies.
    pub autoscaling: bool,
    /// GPU figures can be reported (given a GPU).
    pub gpu_metrics: bool,
    /// Instances are individually identified.
    pub per_instance_metrics: bool,
}

impl From<domain::Capabilities> for Capabilities {
    fn from(c: domain::Capabilities) -> Self {
        Self {
            serverless: c.serverless,
            data_capture: c.data_capture,
            deployment_policies: c.deployment_policies,
            autoscaling: c.autoscaling,
            gpu_metrics: c.gpu_metrics,
            per_instance_metrics: c.per_instance_metrics,
        }
    }
}

impl From<Capabilities> for domain::Capabilities {
    fn from(c: Capabilities) -> Self {
        let mut caps = domain::Capabilities::NONE;
        caps.serverless = c.serverless;
        caps.data_capture = c.data_capture;
        caps.deployment_policies = c.deployment_policies;
        caps.autoscaling = c.autoscaling;
        caps.gpu_metrics = c.gpu_metrics;
        caps.per_instance_metrics = c.per_instance_metrics;
        caps
    }
}

/// The backend behind the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderInfo {
    /// The backend's name (`local`, `aws`).
    pub provider: String,
    /// What it supports; asking for anything else fails with `unsupported` (400).
    pub capabilities: Capabilities,
}

/// Liveness or readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` (process up) or `ready` (provider reachable).
    #[schema(example = "ok")]
    pub status: String,
}

macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            /// The items of this page, in a stable order.
            pub items: Vec<$item>,
            /// Pass as `page_token` to get the next page; `null` on the last page.
            #[schema(required = true, pattern = "^([0-9a-f]{2})+$")]
            pub next_page_token: Option<String>,
        }
    };
}

page_type!(
    /// A page of models, by name.
    ModelPage,
    Model
);
page_type!(
    /// A page of a model's versions, oldest first.
    VersionPage,
    ModelVersion
);
page_type!(
    /// A page of endpoints, by name.
    EndpointPage,
    Endpoint
);
page_type!(
    /// A page of endpoint overviews, by name.
    OverviewPage,
    EndpointOverview
);

/// A JSON invocation body: an object whose fields the model defines (the example runtime takes
/// `sentence`). Named, rather than `{}`, so generated clients get a type they can build and
/// check. The server passes any body through unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationBody(pub serde_json::Map<String, serde_json::Value>);

/// A JSON invocation answer: an object whose fields the model defines (the example runtime
/// answers with `label`, `category` and `scores`). The server passes the model's answer
/// through unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationAnswer(pub serde_json::Map<String, serde_json::Value>);

/// An object with any properties (`additionalProperties: true`: generators read a bare
/// `type: object` as an empty one).
fn open_object(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(
            AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(true),
        ))
        .into()
}

impl utoipa::PartialSchema for InvocationBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        open_object(
            "A JSON invocation body: an object whose fields the model defines (the example \
             runtime takes `sentence`). The server passes any body through unchanged.",
        )
    }
}

impl ToSchema for InvocationBody {}

impl utoipa::PartialSchema for InvocationAnswer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        open_object(
            "A JSON invocation answer: an object whose fields the model defines (the example \
             runtime answers with `label`, `category` and `scores`). The server passes the \
             model's answer through unchanged.",
        )
    }
}

impl ToSchema for InvocationAnswer {}

/// Bytes in any format (invocation payloads).
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_enum_value_crosses_the_wire() {
        for s in domain::EndpointStatus::ALL {
            let w = EndpointStatus::try_from(s).unwrap();
            assert_eq!(domain::EndpointStatus::from(w), s);
            assert_eq!(serde_json::to_value(w).unwrap(), s.as_str());
        }
        for k in domain::MetricKind::ALL {
            let w = MetricKind::try_from(k).unwrap();
            assert_eq!(domain::MetricKind::from(w), k);
            assert_eq!(serde_json::to_value(w).unwrap(), k.as_str());
        }
        for a in ["pending", "approved", "rejected"] {
            let d: domain::Approval = a.parse().unwrap();
            assert_eq!(
                serde_json::to_value(Approval::try_from(d).unwrap()).unwrap(),
                a
            );
        }
        for s in Statistic::ALL {
            let d = domain::Statistic::from(s);
            assert_eq!(Statistic::try_from(d).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(serde_json::to_value(d).unwrap(), s.as_str());
        }
    }

    #[test]
    fn update_version_spots_immutable_fields() {
        let u: UpdateVersion =
            serde_json::from_str(r#"{"approval":"approved","artifact_uri":null}"#).unwrap();
        assert_eq!(u.immutable_fields(), vec!["artifact_uri"]);
        let u: UpdateVersion = serde_json::from_str(r#"{"description":"x"}"#).unwrap();
        assert!(u.immutable_fields().is_empty());
        assert!(serde_json::from_str::<UpdateVersion>(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn traffic_shift_is_tagged_and_strict() {
        let t: TrafficShift =
            serde_json::from_str(r#"{"type":"canary","percent":10,"bake_seconds":60}"#).unwrap();
        assert_eq!(
            t,
            TrafficShift::Canary {
                percent: 10,
                bake_seconds: 60
            }
        );
        let all: TrafficShift = serde_json::from_str(r#"{"type":"all_at_once"}"#).unwrap();
        assert_eq!(all, TrafficShift::AllAtOnce {});
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
}
