//! A `model.tar.gz` landing in S3 (seed 004): register it as the next version of the model
//! its key names (the model created if missing), deploy it to a serverless endpoint, and send
//! one JSON message to SQS: `{model, version, endpoint, status, error?, artifact, etag}`.
//!
//! - **Once per object**: a marker `<state>/s3-deploys/<sha256 of bucket, key, ETag,
//!   version>.json` is created with `If-None-Match: *` before anything else, so the same event
//!   delivered twice deploys once and sends one message; the duplicate sends nothing. A marker
//!   left `working` by an invocation that died is taken over by a later delivery after
//!   [`STALE_AFTER`], or failed by the schedule's tick (what it made deleted, the error sent).
//! - **Within the time budget**: the invocation waits for the endpoint until shortly before
//!   its deadline; an endpoint still starting then is left `waiting`, and the schedule's next
//!   tick ([`S3Deployer::finish_waiting`]) sends the message when it is ready.
//! - **Nothing half-made**: a failure deletes what this deploy created (the endpoint, the
//!   version, the model) — an existing endpoint that failed to update was rolled back by
//!   SageMaker — and sends `status: Failed` with the error. Keys that do not fit the pattern
//!   or name a model badly are failures too; other files under the prefix are ignored.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mlm_aws::{AwsProvider, StateFolder};
use mlm_core::{
    CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, Error, ErrorKind, ModelName, ModelRegistry, ServerlessConfig,
    UpdateEndpointRequest, VariantName, VariantSpec, VersionRef, WaitOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{DeployConfig, KeyMatch};
use crate::events::ObjectCreated;

/// A `working` marker older than this belongs to an invocation that died (Lambda runs 15
/// minutes at most).
pub const STALE_AFTER: Duration = Duration::from_secs(16 * 60);
/// Time kept back from the invocation's deadline for the message and the marker.
const MARGIN: Duration = Duration::from_secs(20);
/// A deploy still not ready after this long fails.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60 * 60);

/// The message each deploy sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployMessage {
    /// The model the key names (absent when it names none).
    pub model: Option<String>,
    /// The version registered.
    pub version: Option<u32>,
    /// The endpoint deployed to.
    pub endpoint: Option<String>,
    /// `InService` or `Failed`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The object's ETag.
    pub etag: Option<String>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a model archive.
    Ignored,
    /// Already handled (or being handled) for this object: nothing done, nothing sent.
    Duplicate,
    /// Deployed, or failed and cleaned up: the message was sent.
    Sent(DeployMessage),
    /// The endpoint is still starting: a later tick sends the message.
    Waiting,
}

/// Where a deploy is, kept in its marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    state: MarkerState,
    started_at: DateTime<Utc>,
    message: DeployMessage,
    created_model: bool,
    created_endpoint: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MarkerState {
    Working,
    Waiting,
    Done,
}

/// Deploys archives from S3 events.
#[derive(Debug)]
pub struct S3Deployer<'a> {
    /// The backend.
    pub provider: &'a AwsProvider,
    /// The markers' folder.
    pub markers: &'a StateFolder,
    /// The queue's client.
    pub sqs: &'a aws_sdk_sqs::Client,
    /// What to deploy and where to tell.
    pub config: &'a DeployConfig,
}

impl S3Deployer<'_> {
    /// Handles one `Object Created` event, waiting for the endpoint until shortly before
    /// `deadline`.
    pub async fn object_created(
        &self,
        event: &ObjectCreated,
        deadline: Instant,
    ) -> mlm_core::Result<Outcome> {
        let object = &event.object;
        let model = match self.config.pattern.classify(&object.key) {
            KeyMatch::Unrelated => return Ok(Outcome::Ignored),
            KeyMatch::Bad(why) => Err(why),
            KeyMatch::Model(model) => Ok(model),
        };
        let message = DeployMessage {
            model: model.as_ref().ok().map(ToString::to_string),
            version: None,
            endpoint: None,
            status: "Failed".into(),
            error: None,
            artifact: format!("s3://{}/{}", event.bucket.name, object.key),
            etag: object.etag.clone(),
        };
        let key = marker_key(event);
        let Some((mut marker, etag)) = self.claim(&key, message).await? else {
            tracing::info!(
                key = object.key,
                "duplicate delivery: already deployed or deploying"
            );
            return Ok(Outcome::Duplicate);
        };
        let mut saved = Saved { key, etag };
        let deployed = match model {
            Err(why) => Err(Error::invalid(why)),
            Ok(model) => self.deploy(&model, &mut marker, &mut saved).await,
        };
        match deployed {
            Ok(endpoint) => {
                self.wait_and_finish(&endpoint, marker, saved, deadline)
                    .await
            }
            Err(e) => self.fail(marker, saved, e).await,
        }
    }

    /// Finishes the deploys left `waiting` whose endpoint is ready (or failed) now, and fails
    /// those an invocation left `working` longer than [`STALE_AFTER`] ago.
    pub async fn finish_waiting(&self) -> mlm_core::Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        for key in self.markers.list("").await? {
            let Some((marker, etag)) = self.markers.get::<Marker>(&key).await? else {
                continue;
            };
            let saved = Saved { key, etag };
            let endpoint = marker.message.endpoint.clone();
            let outcome = match (marker.state, endpoint) {
                // One look: ready, failed, or still starting.
                (MarkerState::Waiting, Some(endpoint)) => {
                    let endpoint = EndpointName::new(endpoint)?;
                    let deadline = Instant::now() + MARGIN;
                    self.wait_and_finish(&endpoint, marker, saved, deadline)
                        .await?
                }
                (MarkerState::Working, _) if age(&marker) >= STALE_AFTER => {
                    let died =
                        Error::timeout("the invocation deploying it ended before it finished");
                    self.fail(marker, saved, died).await?
                }
                _ => continue,
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Creates the marker, or takes over a stale one; `None` when another delivery has it.
    async fn claim(
        &self,
        key: &str,
        message: DeployMessage,
    ) -> mlm_core::Result<Option<(Marker, String)>> {
        let marker = Marker {
            state: MarkerState::Working,
            started_at: Utc::now(),
            message,
            created_model: false,
            created_endpoint: false,
        };
        if let Some(etag) = self.markers.create(key, &marker).await? {
            return Ok(Some((marker, etag)));
        }
        let Some((existing, etag)) = self.markers.get::<Marker>(key).await? else {
            return Ok(None);
        };
        if existing.state != MarkerState::Working || age(&existing) < STALE_AFTER {
            return Ok(None);
        }
        tracing::warn!(
            key,
            "taking over a deploy an earlier invocation left unfinished"
        );
        let taken = Marker {
            started_at: Utc::now(),
            ..existing
        };
        Ok(self
            .markers
            .replace(key, &taken, &etag)
            .await?
            .map(|etag| (taken, etag)))
    }

    /// Registers the version and creates or updates the endpoint; the marker follows.
    async fn deploy(
        &self,
        model: &ModelName,
        marker: &mut Marker,
        saved: &mut Saved,
    ) -> mlm_core::Result<EndpointName> {
        let endpoint = self.config.endpoint_for(model)?;
        marker.message.endpoint = Some(endpoint.to_string());
        if self
            .provider
            .get_model(model)
            .await
            .is_err_and(|e| e.kind() == ErrorKind::NotFound)
        {
            self.provider
                .create_model(CreateModelRequest::new(model.clone()))
                .await?;
            marker.created_model = true;
        }
        let request =
            CreateVersionRequest::new(model.clone(), &marker.message.artifact, &self.config.image)
                .with_description(format!(
                    "deployed from {} (ETag {}) by mlm-lambda",
                    marker.message.artifact,
                    marker.message.etag.as_deref().unwrap_or("unknown")
                ));
        let version = self.provider.create_version(request).await?.version;
        marker.message.version = Some(version);
        self.save(marker, saved).await?;
        let variant = VariantSpec::serverless(
            VariantName::new("primary")?,
            VersionRef::new(model.clone(), version),
            ServerlessConfig::new(self.config.memory_mb, self.config.max_concurrency),
        );
        match self.provider.get_endpoint(&endpoint).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                marker.created_endpoint = true;
                self.save(marker, saved).await?;
                let request = CreateEndpointRequest::new(endpoint.clone(), vec![variant]);
                self.provider.create_endpoint(request).await?;
            }
            Err(e) => return Err(e),
            Ok(_) => {
                let request =
                    UpdateEndpointRequest::new(endpoint.clone()).with_variants(vec![variant]);
                self.provider.update_endpoint(request).await?;
            }
        }
        marker.state = MarkerState::Waiting;
        self.save(marker, saved).await?;
        Ok(endpoint)
    }

    /// Waits for `endpoint` until shortly before `deadline`: ready → the message; failed →
    /// cleaned up and the error sent; still starting → left for a tick (or failed after
    /// [`GIVE_UP_AFTER`]).
    async fn wait_and_finish(
        &self,
        endpoint: &EndpointName,
        mut marker: Marker,
        saved: Saved,
        deadline: Instant,
    ) -> mlm_core::Result<Outcome> {
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(MARGIN);
        let options = WaitOptions::with_timeout(budget.max(Duration::from_millis(1)))
            .with_intervals(Duration::from_millis(200), Duration::from_secs(5));
        match self.provider.wait_until_ready(endpoint, options).await {
            Ok(_) => {
                marker.message.status = "InService".into();
                self.send_and_close(marker, saved).await
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                if age(&marker) < GIVE_UP_AFTER {
                    return Ok(Outcome::Waiting);
                }
                self.fail(marker, saved, e).await
            }
            Err(e) => self.fail(marker, saved, e).await,
        }
    }

    /// Deletes what this deploy created, sends the error, closes the marker.
    async fn fail(
        &self,
        mut marker: Marker,
        saved: Saved,
        error: Error,
    ) -> mlm_core::Result<Outcome> {
        tracing::warn!(artifact = marker.message.artifact, "deploy failed: {error}");
        if let Err(cleanup) = self.clean_up(&marker).await {
            tracing::error!(
                artifact = marker.message.artifact,
                "clean-up incomplete: {cleanup}"
            );
        }
        marker.message.status = "Failed".into();
        marker.message.error = Some(error.to_string());
        self.send_and_close(marker, saved).await
    }

    async fn clean_up(&self, marker: &Marker) -> mlm_core::Result<()> {
        let p = self.provider;
        let endpoint = marker
            .message
            .endpoint
            .as_deref()
            .map(EndpointName::new)
            .transpose()?;
        if let (true, Some(endpoint)) = (marker.created_endpoint, &endpoint) {
            match p.delete_endpoint(endpoint).await {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let wait = WaitOptions::with_timeout(Duration::from_secs(120));
            p.wait_until_deleted(endpoint, wait).await?;
        }
        let model = marker
            .message
            .model
            .as_deref()
            .map(ModelName::new)
            .transpose()?;
        if let (Some(model), Some(version)) = (&model, marker.message.version) {
            p.delete_version(model, version).await?;
        }
        if let (true, Some(model)) = (marker.created_model, &model) {
            p.delete_model(model).await?;
        }
        Ok(())
    }

    async fn send_and_close(
        &self,
        mut marker: Marker,
        mut saved: Saved,
    ) -> mlm_core::Result<Outcome> {
        let body = serde_json::to_string(&marker.message)
            .map_err(|e| Error::provider("cannot write the message", e))?;
        self.sqs
            .send_message()
            .queue_url(&self.config.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                Error::provider(
                    format!("cannot send to {}", self.config.queue_url),
                    aws_sdk_sqs::Error::from(e),
                )
            })?;
        marker.state = MarkerState::Done;
        self.save(&marker, &mut saved).await?;
        Ok(Outcome::Sent(marker.message))
    }

    /// Saves the marker over the revision last written; another invocation that took it over
    /// meanwhile is a `Conflict`.
    async fn save(&self, marker: &Marker, saved: &mut Saved) -> mlm_core::Result<()> {
        match self
            .markers
            .replace(&saved.key, marker, &saved.etag)
            .await?
        {
            Some(etag) => {
                saved.etag = etag;
                Ok(())
            }
            None => Err(Error::conflict(format!(
                "the deploy of {} was taken over by another invocation",
                marker.message.artifact
            ))),
        }
    }
}

/// How long ago the deploy of `marker` started.
fn age(marker: &Marker) -> Duration {
    (Utc::now() - marker.started_at)
        .to_std()
        .unwrap_or_default()
}

/// A marker's key and the ETag of its last write.
struct Saved {
    key: String,
    etag: String,
}

/// `<sha256 of bucket, key, ETag and version>.json` (in the `s3-deploys` state folder).
fn marker_key(event: &ObjectCreated) -> String {
    let mut hasher = Sha256::new();
    for part in [
        event.bucket.name.as_str(),
        event.object.key.as_str(),
        event.object.etag.as_deref().unwrap_or(""),
        event.object.version_id.as_deref().unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}.json")
}
