//! Models and their immutable versions.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::ModelName;

/// Free-form key/value labels on a resource.
pub type Tags = BTreeMap<String, String>;

/// The longest value of a version's environment variable (SageMaker's limit).
pub const MAX_ENV_VALUE_LEN: usize = 1024;

/// Environment variables passed to every instance serving a version.
pub type Environment = BTreeMap<String, String>;

/// Longest description accepted (SageMaker's model package description limit).
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most tags on one resource (SageMaker's limit).
pub const MAX_TAGS: usize = 50;

/// A registered model: a named, ordered collection of versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
        "name": "news-classifier",
        "description": "Sorts news headlines into four topics",
        "tags": {"team": "nlp"},
        "latest_version": 1,
        "created_at": "2025-01-01T12:00:00Z",
        "updated_at": "2025-01-01T12:00:00Z"
    })))]
#[non_exhaustive]
pub struct Model {
    /// The model's name.
    pub name: ModelName,
    /// What the model is for.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub description: Option<String>,
    /// Labels.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub tags: Tags,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its metadata last changed.
    pub updated_at: DateTime<Utc>,
    /// The highest version number registered, if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub latest_version: Option<u32>,
}

impl Model {
    /// A model as just registered.
    pub fn new(
        name: ModelName,
        description: Option<String>,
        tags: Tags,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            name,
            description,
            tags,
            created_at: now,
            updated_at: now,
            latest_version: None,
        }
    }
}

/// The approval state of a version; deployment tooling usually deploys only approved ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Approval {
    /// Registered, waiting for a decision (SageMaker: `PendingManualApproval`).
    #[default]
    Pending,
    /// Cleared for deployment.
    Approved,
    /// Not to be deployed.
    Rejected,
}

impl Approval {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Approval {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            other => Err(Error::invalid(format!(
                "approval '{other}' is not one of pending, approved, rejected"
            ))),
        }
    }
}

/// One immutable version of a model: artifact + image + environment.
///
/// A new artifact is a new version; only `approval` and `description` ever change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
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
})))]
#[non_exhaustive]
pub struct ModelVersion {
    /// The model this version belongs to.
    pub model: ModelName,
    /// 1, 2, 3… in registration order, never reused.
    pub version: u32,
    /// Where the artifact came from (S3 URI, local path, `file://` URI).
    pub artifact_uri: String,
    /// Content digest of the stored artifact, when the backend computes one (`sha256:…`).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub artifact_digest: Option<String>,
    /// Container image (AWS) or configured runtime name (local) that serves the artifact.
    pub image: String,
    /// Environment for the serving process.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub environment: Environment,
    /// Approval state.
    pub approval: Approval,
    /// Free text.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub description: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When approval or description last changed.
    pub updated_at: DateTime<Utc>,
}

impl ModelVersion {
    /// The version `request` registers; `version` is assigned by the backend.
    pub fn from_request(
        request: CreateVersionRequest,
        version: u32,
        artifact_digest: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            model: request.model,
            version,
            artifact_uri: request.artifact_uri,
            artifact_digest,
            image: request.image,
            environment: request.environment,
            approval: request.approval,
            description: request.description,
            created_at: now,
            updated_at: now,
        }
    }

    /// This version as a reference.
    pub fn reference(&self) -> VersionRef {
        VersionRef::new(self.model.clone(), self.version)
    }
}

/// A model and version number, as referenced by endpoint variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionRef {
    /// The model.
    pub model: ModelName,
    /// The version number.
    #[cfg_attr(feature = "openapi", schema(example = 1))]
    pub version: u32,
}

impl VersionRef {
    /// Refers to `model` version `version`.
    pub fn new(model: ModelName, version: u32) -> Self {
        Self { model, version }
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.model, self.version)
    }
}

/// Registers a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateModelRequest {
    /// The new model's name; it must not exist yet.
    pub name: ModelName,
    /// What the model is for.
    pub description: Option<String>,
    /// Labels.
    pub tags: Tags,
}

impl CreateModelRequest {
    /// A request for `name` with no description or tags.
    pub fn new(name: ModelName) -> Self {
        Self {
            name,
            description: None,
            tags: Tags::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Checks the fields a name type cannot.
    pub fn validate(&self) -> Result<()> {
        validate_description(self.description.as_deref())?;
        validate_tags(&self.tags)
    }
}

/// Changes a model's metadata; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateModelRequest {
    /// New description (`Some("")` clears it).
    pub description: Option<String>,
    /// Replaces all tags.
    pub tags: Option<Tags>,
}

impl UpdateModelRequest {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Replaces the tags.
    pub fn with_tags(mut self, tags: Tags) -> Self {
        self.tags = Some(tags);
        self
    }

    /// Checks field limits.
    pub fn validate(&self) -> Result<()> {
        validate_description(self.description.as_deref())?;
        self.tags.as_ref().map(validate_tags).transpose()?;
        Ok(())
    }

    /// Applies the update to `model`.
    pub fn apply(&self, model: &mut Model, now: DateTime<Utc>) {
        if let Some(d) = &self.description {
            model.description = (!d.is_empty()).then(|| d.clone());
        }
        if let Some(t) = &self.tags {
            model.tags = t.clone();
        }
        model.updated_at = now;
    }
}

/// Registers a new version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateVersionRequest {
    /// The model; it must exist.
    pub model: ModelName,
    /// The artifact's location.
    pub artifact_uri: String,
    /// Image or runtime name.
    pub image: String,
    /// Serving environment.
    pub environment: Environment,
    /// Initial approval (default pending).
    pub approval: Approval,
    /// Free text.
    pub description: Option<String>,
}

impl CreateVersionRequest {
    /// A pending version of `model` serving `artifact_uri` with `image`.
    pub fn new(
        model: ModelName,
        artifact_uri: impl Into<String>,
        image: impl Into<String>,
    ) -> Self {
        Self {
            model,
            artifact_uri: artifact_uri.into(),
            image: image.into(),
            environment: Environment::new(),
            approval: Approval::Pending,
            description: None,
        }
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Sets the initial approval.
    pub fn with_approval(mut self, approval: Approval) -> Self {
        self.approval = approval;
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Checks the fields: non-empty artifact and image, sane environment.
    pub fn validate(&self) -> Result<()> {
        if self.artifact_uri.trim().is_empty() {
            return Err(Error::invalid("artifact_uri must not be empty"));
        }
        if self.artifact_uri.len() > 1024 {
            return Err(Error::invalid(
                "artifact_uri is longer than 1024 characters",
            ));
        }
        if self.image.trim().is_empty() {
            return Err(Error::invalid("image must not be empty"));
        }
        if self.image.len() > 255 {
            return Err(Error::invalid("image is longer than 255 characters"));
        }
        if self.environment.len() > 100 {
            return Err(Error::invalid("environment has more than 100 variables"));
        }
        for (key, value) in &self.environment {
            let valid = !key.is_empty()
                && key.len() <= 1024
                && !key.starts_with(|c: char| c.is_ascii_digit())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::invalid(format!(
                    "environment variable name '{key}' is invalid: use letters, digits and \
                     underscores, not starting with a digit"
                )));
            }
            // A process can never receive a NUL inside a variable; SageMaker caps values.
            if value.contains('\0') {
                return Err(Error::invalid(format!(
                    "environment variable '{key}' contains a NUL character"
                )));
            }
            if value.chars().count() > MAX_ENV_VALUE_LEN {
                return Err(Error::invalid(format!(
                    "environment variable '{key}' is longer than {MAX_ENV_VALUE_LEN} characters"
                )));
            }
        }
        validate_description(self.description.as_deref())
    }
}

/// Changes the mutable parts of a version; artifacts, images and environments are immutable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateVersionRequest {
    /// New approval state.
    pub approval: Option<Approval>,
    /// New description (`Some("")` clears it).
    pub description: Option<String>,
}

impl UpdateVersionRequest {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the approval.
    pub fn with_approval(mut self, approval: Approval) -> Self {
        self.approval = Some(approval);
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Checks field limits.
    pub fn validate(&self) -> Result<()> {
        validate_description(self.description.as_deref())
    }

    /// Applies the update to `version`.
    pub fn apply(&self, version: &mut ModelVersion, now: DateTime<Utc>) {
        if let Some(a) = self.approval {
            version.approval = a;
        }
        if let Some(d) = &self.description {
            version.description = (!d.is_empty()).then(|| d.clone());
        }
        version.updated_at = now;
    }
}

fn validate_description(description: Option<&str>) -> Result<()> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(Error::invalid(format!(
            "description is longer than {MAX_DESCRIPTION_LEN} characters"
        ))),
        _ => Ok(()),
    }
}

/// Checks tag count and key/value lengths (SageMaker's limits: 128/256 characters).
pub fn validate_tags(tags: &Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(format!("more than {MAX_TAGS} tags")));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(Error::invalid(format!(
                "tag key '{k}' must be 1-128 characters"
            )));
        }
        if k.starts_with("aws:") || k.starts_with("mlm:") {
            return Err(Error::invalid(format!(
                "tag key '{k}' uses a reserved prefix (aws: or mlm:)"
            )));
        }
        if v.chars().count() > 256 {
            return Err(Error::invalid(format!(
                "tag '{k}' value is longer than 256 characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ModelName {
        ModelName::new(s).unwrap()
    }

    #[test]
    fn version_request_validation() {
        let ok = CreateVersionRequest::new(name("m"), "s3://b/k", "img").with_env("A_1", "x");
        ok.validate().unwrap();
        let cases = [
            (
                CreateVersionRequest::new(name("m"), " ", "img"),
                "artifact_uri",
            ),
            (CreateVersionRequest::new(name("m"), "s3://b", ""), "image"),
            (
                CreateVersionRequest::new(name("m"), "s3://b", "i").with_env("1A", "x"),
                "environment variable",
            ),
            (
                CreateVersionRequest::new(name("m"), "s3://b", "i").with_env("A-B", "x"),
                "environment variable",
            ),
            (
                CreateVersionRequest::new(name("m"), "s3://b", "i").with_env("A", "x\0y"),
                "'A' contains a NUL",
            ),
            (
                CreateVersionRequest::new(name("m"), "s3://b", "i")
                    .with_env("A", "x".repeat(MAX_ENV_VALUE_LEN + 1)),
                "'A' is longer than 1024",
            ),
        ];
        for (req, field) in cases {
            let err = req.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn tags_validated() {
        let mut tags = Tags::new();
        tags.insert("team".into(), "ml".into());
        validate_tags(&tags).unwrap();
        tags.insert("mlm:managed".into(), "true".into());
        assert!(
            validate_tags(&tags)
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );
        let many: Tags = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate_tags(&many).is_err());
    }

    #[test]
    fn update_applies_only_given_fields() {
        let now = Utc::now();
        let mut model = Model::new(name("m"), Some("old".into()), Tags::new(), now);
        UpdateModelRequest::new().apply(&mut model, now);
        assert_eq!(model.description.as_deref(), Some("old"));
        UpdateModelRequest::new()
            .with_description("")
            .apply(&mut model, now);
        assert_eq!(model.description, None);
    }

    #[test]
    fn approval_parses_and_round_trips() {
        for a in [Approval::Pending, Approval::Approved, Approval::Rejected] {
            assert_eq!(a.as_str().parse::<Approval>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert!("maybe".parse::<Approval>().is_err());
    }

    #[test]
    fn version_serde_round_trip() {
        let now = Utc::now();
        let v = ModelVersion {
            model: name("m"),
            version: 3,
            artifact_uri: "s3://b/k".into(),
            artifact_digest: Some("sha256:00".into()),
            image: "img".into(),
            environment: [("A".to_string(), "1".to_string())].into(),
            approval: Approval::Approved,
            description: None,
            created_at: now,
            updated_at: now,
        };
        let back: ModelVersion = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
