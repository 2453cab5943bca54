//! mlm on AWS Lambda: one function (`bootstrap`) behind API Gateway and EventBridge.
//!
//! - **HTTP API** requests (payload format 2.0) are served by `mlm serve`'s router over the
//!   AWS backend, with its authentication: tokens from a Secrets Manager secret or the
//!   environment ([`config`]), or none when API Gateway's authorizer guards the API.
//! - **`SageMaker Model Package State Change`**: an approval starts the model's pipeline runs
//!   ([`approval`]).
//! - **S3 `Object Created`**: a model archive is registered, deployed serverless and
//!   announced on SQS ([`s3_deploy`]).
//! - **The schedule's tick**: moves pipelines on and finishes deploys that outlived their
//!   invocation.
//!
//! [`Handler::handle`] is the whole function; `main` only runs it on `lambda_runtime`, so
//! tests call it with fixtures.

pub mod approval;
pub mod config;
pub mod events;
pub mod http;
pub mod s3_deploy;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::LambdaEvent;
use mlm_aws::{AwsProvider, AwsProviderBuilder, StateFolder};
use mlm_core::{Error, Provider, Result};
use mlm_http::{AppState, Auth, app};
use serde_json::{Value, json};

use crate::config::LambdaConfig;
use crate::events::Incoming;
use crate::s3_deploy::{Outcome, S3Deployer};

/// The function: the router, the backend and what the events need.
pub struct Handler {
    router: axum::Router,
    provider: AwsProvider,
    sqs: aws_sdk_sqs::Client,
    markers: Option<StateFolder>,
    config: LambdaConfig,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("provider", &self.provider)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// The function as configured by its environment (`main`).
    pub async fn from_env() -> Result<Self> {
        let config = LambdaConfig::from_vars(|name| std::env::var(name).ok())?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let mut builder = AwsProviderBuilder::from_env();
        if let Some(uri) = &config.state_uri {
            builder = builder.with_pipelines_uri(uri);
        }
        if let Some(uri) = &config.artifacts_uri {
            builder = builder.with_artifacts_uri(uri);
        }
        let provider = builder.build().await?;
        let tokens = match &config.tokens_secret_arn {
            Some(arn) => {
                let client = aws_sdk_secretsmanager::Client::new(&sdk);
                Some(tokens_from_secret(&client, arn).await?)
            }
            None => config.tokens.clone(),
        };
        let auth = match tokens {
            Some(list) => {
                Auth::new(mlm_http::auth::parse_token_list(&list).map_err(|e| Error::invalid(e.0))?)
            }
            None => Auth::disabled(),
        };
        Self::new(provider, aws_sdk_sqs::Client::new(&sdk), config, auth)
    }

    /// The function over `provider`, sending deploy messages with `sqs`.
    pub fn new(
        provider: AwsProvider,
        sqs: aws_sdk_sqs::Client,
        config: LambdaConfig,
        auth: Auth,
    ) -> Result<Self> {
        let markers = match &config.state_uri {
            Some(_) => Some(provider.state_folder("s3-deploys")?),
            None => None,
        };
        let shared: Arc<dyn Provider> = Arc::new(provider.clone());
        Ok(Self {
            router: app(AppState::new(shared).with_auth(auth)),
            provider,
            sqs,
            markers,
            config,
        })
    }

    /// Handles one invocation; the answer is API Gateway's response for HTTP requests and a
    /// summary of what was done for events. An error fails the invocation (EventBridge
    /// retries it, then the dead-letter queue keeps it).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value> {
        let deadline = deadline_of(&event.context);
        let incoming = Incoming::classify(event.payload)
            .map_err(|e| Error::invalid(format!("the event does not parse: {e}")))?;
        match incoming {
            Incoming::Http(request) => {
                let answer = http::serve(self.router.clone(), request)
                    .await
                    .map_err(Error::invalid)?;
                serde_json::to_value(answer).map_err(|e| Error::provider("cannot answer", e))
            }
            Incoming::Approval(event) => {
                let runs = approval::state_changed(&self.provider, &event.detail).await?;
                let ids: Vec<String> = runs
                    .iter()
                    .map(|r| format!("{}/{}", r.pipeline, r.id))
                    .collect();
                Ok(json!({ "runs": ids }))
            }
            Incoming::ObjectCreated(event) => {
                let outcome = self
                    .deployer()?
                    .object_created(&event.detail, deadline)
                    .await?;
                Ok(summary(&outcome))
            }
            Incoming::Tick => self.tick().await,
            Incoming::Other(what) => {
                tracing::info!(what, "not an event this function handles: ignored");
                Ok(json!({ "ignored": what }))
            }
        }
    }

    /// Pipelines one step on; deploys left waiting finished if they are ready.
    async fn tick(&self) -> Result<Value> {
        if self.config.state_uri.is_some() {
            self.provider.tick_pipelines().await?;
        }
        let finished = match (&self.config.deploy, &self.markers) {
            (Some(_), Some(_)) => self.deployer()?.finish_waiting().await?,
            _ => Vec::new(),
        };
        Ok(json!({ "finished": finished.iter().map(summary).collect::<Vec<_>>() }))
    }

    fn deployer(&self) -> Result<S3Deployer<'_>> {
        match (&self.config.deploy, &self.markers) {
            (Some(config), Some(markers)) => Ok(S3Deployer {
                provider: &self.provider,
                markers,
                sqs: &self.sqs,
                config,
            }),
            _ => Err(Error::failed_precondition(
                "S3 deploys need MLM_DEPLOY_IMAGE, MLM_NOTIFY_QUEUE_URL and MLM_STATE_URI",
            )),
        }
    }
}

/// What became of a deploy event, for the invocation's answer and logs.
fn summary(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Ignored => json!({ "outcome": "ignored" }),
        Outcome::Duplicate => json!({ "outcome": "duplicate" }),
        Outcome::Waiting => json!({ "outcome": "waiting" }),
        Outcome::Sent(message) => json!({ "outcome": "sent", "message": message }),
    }
}

/// The invocation's deadline as an `Instant` (a context without one: a minute from now).
fn deadline_of(context: &lambda_runtime::Context) -> Instant {
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .ok()
        .filter(|_| context.deadline > 0)
        .unwrap_or(Duration::from_secs(60));
    Instant::now() + left
}

/// The token list (`token:role,…`) kept in the Secrets Manager secret `arn`.
pub async fn tokens_from_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String> {
    let secret = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            Error::provider(
                format!("cannot read the tokens secret {arn}"),
                aws_sdk_secretsmanager::Error::from(e),
            )
        })?;
    secret
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(format!("the tokens secret {arn} holds no text")))
}
