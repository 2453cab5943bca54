//! Request bodies of the API (`/v1`) and the few envelopes only the REST API has.
//!
//! Responses are the core types themselves (`mlm_core` with its `openapi` feature derives
//! their schemas), so the API, the Rust client and the Python types read one schema. Request
//! bodies stay here because they are stricter than the core's serde form: they reject unknown
//! fields (`additionalProperties: false` in the spec), state their bounds, take names as plain
//! strings and validate them when converted into core requests (so a bad name is a `400` that
//! states the naming rule), and hold the REST-only update shorthand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mlm_core as domain;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    pub approval: Option<domain::Approval>,
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
            request.approval = a;
        }
        request.description = self.description;
        request
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
    pub approval: Option<domain::Approval>,
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
    pub fn new(approval: Option<domain::Approval>, description: Option<String>) -> Self {
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
        request.approval = self.approval;
        request.description = self.description;
        request
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

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
    pub model_version: domain::VersionRef,
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
    /// Serverless capacity instead of instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<domain::ServerlessConfig>,
    /// Autoscaling of the instance count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<domain::AutoscalingPolicy>,
}

impl VariantSpec {
    /// The core spec (validates names).
    pub fn into_domain(self) -> domain::Result<domain::VariantSpec> {
        let name = domain::VariantName::new(self.name)?;
        let version = self.model_version;
        let mut spec = domain::VariantSpec::new(name, version, "", self.instance_count);
        spec.instance_type = self.instance_type;
        spec.weight = weight(self.weight)?;
        spec.serverless = self.serverless;
        spec.autoscaling = self.autoscaling;
        Ok(spec)
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
    /// Request/response capture, sampled at `sampling_percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_capture: Option<domain::DataCaptureConfig>,
    /// Guardrails for later updates (see `/v1/capabilities`: `deployment_policies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<domain::DeploymentPolicy>,
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
        request.data_capture = self.data_capture;
        request.deployment = self.deployment;
        Ok(request)
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
    pub model_version: Option<domain::VersionRef>,
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
        change.model_version = self.model_version;
        change.weight = self.weight.map(weight).transpose()?;
        Ok(change)
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
    pub model_version: Option<domain::VersionRef>,
    /// Guardrails for this update (defaults to the endpoint's policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<domain::DeploymentPolicy>,
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
            change.model_version = self.model_version;
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
        request.deployment = self.deployment;
        if let Some(retain) = self.retain_autoscaled_counts {
            request.retain_autoscaled_counts = retain;
        }
        Ok(request)
    }
}

// ---------------------------------------------------------------------------------------------
// Observability and system envelopes
// ---------------------------------------------------------------------------------------------

/// The instances of an endpoint with their latest figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceList {
    /// The endpoint.
    pub endpoint: String,
    /// Its status.
    pub status: domain::EndpointStatus,
    /// When these figures were read.
    pub as_of: DateTime<Utc>,
    /// The instances.
    pub items: Vec<domain::Instance>,
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
    pub statistic: Option<domain::Statistic>,
    /// One or more series per metric asked for.
    pub series: Vec<domain::MetricSeries>,
}

/// The backend behind the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderInfo {
    /// The backend's name (`local`, `aws`).
    pub provider: String,
    /// What it supports; asking for anything else fails with `unsupported` (400).
    pub capabilities: domain::Capabilities,
}

/// Liveness or readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` (process up) or `ready` (provider reachable).
    #[schema(example = "ok")]
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Alarms
// ---------------------------------------------------------------------------------------------

/// Creates or replaces an alarm; the endpoint and the alarm's name are in the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "metric": "invocation_errors_5xx",
    "statistic": "sum",
    "comparison": ">",
    "threshold": 0,
    "period_seconds": 60
}))]
pub struct PutAlarm {
    /// Only this variant's figures; omitted: the whole endpoint.
    #[serde(default)]
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub variant: Option<String>,
    /// The metric watched.
    pub metric: domain::MetricKind,
    /// How a period's data points are combined (default: the metric's own — sums for counts,
    /// averages for the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<domain::Statistic>,
    /// How the period's value is compared with `threshold`.
    pub comparison: domain::Comparison,
    /// The threshold.
    pub threshold: f64,
    /// Length of one period: 10, 20, 30 or a multiple of 60 seconds up to a day (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = alarm_period_schema)]
    pub period_seconds: Option<u32>,
    /// Periods looked at, N (default 1); `period_seconds × evaluation_periods` ≤ one day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 8640)]
    pub evaluation_periods: Option<u32>,
    /// Breaching periods among the last N that fire the alarm, M (default N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 8640)]
    pub datapoints_to_alarm: Option<u32>,
    /// How periods with no data count (default `missing`).
    #[serde(default)]
    pub treat_missing_data: domain::TreatMissingData,
    /// SNS topic ARNs notified on every state change (AWS only), at most 5.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub actions: Vec<String>,
    /// What the alarm is for, at most 1024 characters.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// CloudWatch's periods: 10, 20 or 30 s (high resolution), or whole minutes up to a day.
fn alarm_period_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let integer = || ObjectBuilder::new().schema_type(Type::Integer);
    OneOfBuilder::new()
        .description(Some(
            "Length of one period: 10, 20, 30 or a multiple of 60 seconds up to a day (default \
             60).",
        ))
        .item(integer().enum_values(Some([10, 20, 30])))
        .item(
            integer()
                .multiple_of(Some(60.0))
                .minimum(Some(60))
                .maximum(Some(86400)),
        )
        .build()
        .into()
}

impl PutAlarm {
    /// The core definition of alarm `name` on `endpoint`, with the core's defaults for what
    /// the body leaves out, checked with CloudWatch's rules.
    pub fn into_domain(
        self,
        endpoint: domain::EndpointName,
        name: domain::AlarmName,
    ) -> domain::Result<domain::AlarmDefinition> {
        let mut body = serde_json::to_value(self)
            .map_err(|e| domain::Error::invalid(format!("alarm: {e}")))?;
        body["endpoint"] = serde_json::Value::from(endpoint.as_str());
        body["name"] = serde_json::Value::from(name.as_str());
        let definition: domain::AlarmDefinition = serde_json::from_value(body)
            .map_err(|e| domain::Error::invalid(format!("alarm: {e}")))?;
        definition.validate()?;
        Ok(definition)
    }
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// Records an event on an endpoint's timeline (source `user`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "load_test",
    "message": "10 s closed loop, 4 clients: 812 req/s, p50 4.1 ms, p99 9.8 ms, 0 errors",
    "data": {"requests": 8120, "p50_ms": 4.1, "p99_ms": 9.8}
}))]
pub struct RecordEvent {
    /// What happened: lowercase letters, digits and `_`, starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9_]*$", min_length = 1, max_length = 64)]
    pub kind: String,
    /// What and why, for people.
    #[schema(min_length = 1, max_length = 1024, pattern = r"\S")]
    pub message: String,
    /// Figures for machines: a JSON object of at most 16 KiB, or `null`.
    #[serde(default)]
    #[schema(schema_with = event_data_schema)]
    pub data: Option<AnyObject>,
}

/// A JSON object with any content (event figures). Request bodies are read strictly (a
/// struct must be an object, no array tricks); inside this one, arrays and any nesting are
/// read as JSON has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "mlm::AnyObject")]
pub struct AnyObject(pub serde_json::Map<String, serde_json::Value>);

impl AnyObject {
    /// The serde name the strict reader recognises.
    pub(crate) const NAME: &'static str = "mlm::AnyObject";
}

/// Any JSON value (a model's request or answer in a drift sample), read as JSON has it:
/// arrays and any nesting, unlike the rest of a request body (see [`AnyObject`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "mlm::AnyJson")]
pub struct AnyJson(pub serde_json::Value);

impl AnyJson {
    /// The serde name the strict reader recognises.
    pub(crate) const NAME: &'static str = "mlm::AnyJson";
}

fn event_data_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(map_type(true))
        .description(Some(
            "Figures for machines: a JSON object of at most 16 KiB, or null.",
        ))
        .additional_properties(Some(
            AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(true),
        ))
        .build()
}

impl RecordEvent {
    /// The core event, checked by the core's rules.
    pub fn into_domain(self) -> domain::Result<domain::NewEvent> {
        let mut event = domain::NewEvent::new(self.kind, self.message);
        event.data = self.data.map(|d| serde_json::Value::Object(d.0));
        event.validate()?;
        Ok(event)
    }
}

/// The schema of a [`domain::Page`] of `$item` (what list routes answer): utoipa names a
/// generic page `Page_Model`, generated clients want `ModelPage`.
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, ToSchema)]
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
    domain::Model
);
page_type!(
    /// A page of a model's versions, oldest first.
    VersionPage,
    domain::ModelVersion
);
page_type!(
    /// A page of endpoints, by name.
    EndpointPage,
    domain::Endpoint
);
page_type!(
    /// A page of endpoint overviews, by name.
    OverviewPage,
    domain::EndpointOverview
);
page_type!(
    /// A page of an endpoint's alarms, by name.
    AlarmPage,
    domain::Alarm
);
page_type!(
    /// A page of an endpoint's events, newest first.
    EventPage,
    domain::EndpointEvent
);
page_type!(
    /// A page of an endpoint's deployments, newest first.
    DeploymentPage,
    domain::Deployment
);
page_type!(
    /// A page of an endpoint's drift baselines, by name.
    BaselinePage,
    domain::drift::Baseline
);
page_type!(
    /// A page of pipelines, by name.
    PipelinePage,
    domain::pipeline::Pipeline
);
page_type!(
    /// A page of a pipeline's runs, newest version first.
    PipelineRunPage,
    domain::pipeline::PipelineRun
);
page_type!(
    /// A page of captured records, oldest first.
    CapturePage,
    domain::CapturedRecord
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
    fn update_version_spots_immutable_fields() {
        let u: UpdateVersion =
            serde_json::from_str(r#"{"approval":"approved","artifact_uri":null}"#).unwrap();
        assert_eq!(u.immutable_fields(), vec!["artifact_uri"]);
        let u: UpdateVersion = serde_json::from_str(r#"{"description":"x"}"#).unwrap();
        assert!(u.immutable_fields().is_empty());
        assert!(serde_json::from_str::<UpdateVersion>(r#"{"nope":1}"#).is_err());
    }
}
