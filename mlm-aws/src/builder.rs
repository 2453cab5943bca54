//! [`AwsProviderBuilder`]: where the AWS settings come from and how the clients retry and time
//! out (the clients themselves are made in `clients`).

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_types::SdkConfig;
use aws_types::region::Region;
use mlm_core::{Error, Result};

use crate::clients::ClientFactory;
use crate::config::AwsConfig;
use crate::provider::{AwsProvider, Inner, Settings};

/// Environment variable naming the IAM role SageMaker assumes to run models
/// (read by [`AwsProviderBuilder::from_env`]).
pub const EXECUTION_ROLE_ENV: &str = "MLM_SAGEMAKER_EXECUTION_ROLE_ARN";

/// Builds an [`AwsProvider`].
///
/// ```no_run
/// # async fn run() -> mlm_core::Result<()> {
/// use std::time::Duration;
/// let provider = mlm_aws::AwsProviderBuilder::from_env()
///     .with_region("eu-west-1")
///     .with_execution_role_arn("arn:aws:iam::123456789012:role/sagemaker-exec")
///     .with_max_attempts(5)
///     .with_operation_timeout(Duration::from_secs(30))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Defaults: the SDK's standard retry mode with 3 attempts, a 20 s timeout per attempt and
/// 60 s per operation on control-plane calls (the SDK itself sets none), 70 s per attempt for
/// invocations (SageMaker allows models 60 s), enhanced (per-instance) metrics on for new
/// endpoints, and a 10 s cache for live figures.
///
/// The settings that belong in a configuration file are also an [`AwsConfig`], applied with
/// [`with_config`](Self::with_config).
#[derive(Debug, Clone)]
pub struct AwsProviderBuilder {
    load_env: bool,
    sdk_config: Option<SdkConfig>,
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    static_credentials: Option<(String, String)>,
    max_attempts: u32,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    invoke_timeout: Duration,
    interceptors: Vec<SharedInterceptor>,
    sagemaker: Option<aws_sdk_sagemaker::Client>,
    runtime: Option<aws_sdk_sagemakerruntime::Client>,
    cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    autoscaling: Option<aws_sdk_applicationautoscaling::Client>,
    settings: Settings,
}

impl Default for AwsProviderBuilder {
    fn default() -> Self {
        Self {
            load_env: false,
            sdk_config: None,
            region: None,
            profile: None,
            endpoint_url: None,
            static_credentials: None,
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(20),
            operation_timeout: Duration::from_secs(60),
            invoke_timeout: Duration::from_secs(70),
            interceptors: Vec::new(),
            sagemaker: None,
            runtime: None,
            cloudwatch: None,
            autoscaling: None,
            settings: Settings::default(),
        }
    }
}

impl AwsProviderBuilder {
    /// A builder with nothing configured: give it an SDK config, or credentials, region and
    /// endpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that loads AWS settings with the SDK's default chain (environment, profile,
    /// SSO, web identity, ECS, IMDS) when built, and reads the execution role from
    /// `MLM_SAGEMAKER_EXECUTION_ROLE_ARN` if set.
    pub fn from_env() -> Self {
        let mut builder = Self {
            load_env: true,
            ..Self::default()
        };
        if let Ok(role) = std::env::var(EXECUTION_ROLE_ENV)
            && !role.trim().is_empty()
        {
            builder.settings.execution_role_arn = Some(role);
        }
        builder
    }

    /// [`from_env`](Self::from_env) with `config` applied over it (see
    /// [`with_config`](Self::with_config)): what `mlm serve` and `mlm.Client.aws` use.
    pub fn from_config(config: &AwsConfig) -> Result<Self> {
        Self::from_env().with_config(config)
    }

    /// Applies the fields `config` sets, each through its `with_*` setter (a field left unset
    /// keeps what the builder has). Fails with `InvalidArgument`, naming the field, when a
    /// value is bad (see [`AwsConfig::validate`]); nothing is applied then.
    ///
    /// ```
    /// # fn main() -> mlm_core::Result<()> {
    /// let mut config = mlm_aws::AwsConfig::default();
    /// config.max_attempts = Some(0);
    /// let err = mlm_aws::AwsProviderBuilder::from_env().with_config(&config).unwrap_err();
    /// assert!(err.to_string().contains("max_attempts"));
    /// # Ok(()) }
    /// ```
    pub fn with_config(mut self, config: &AwsConfig) -> Result<Self> {
        let c = config.check()?;
        if let Some(region) = c.region {
            self = self.with_region(region);
        }
        if let Some(profile) = c.profile {
            self = self.with_profile(profile);
        }
        if let Some(url) = c.endpoint_url {
            self = self.with_endpoint_url(url);
        }
        if let Some(arn) = c.execution_role_arn {
            self = self.with_execution_role_arn(arn);
        }
        if let Some(uri) = c.pipelines_uri {
            self = self.with_pipelines_uri(uri);
        }
        if let Some(uri) = c.artifacts_uri {
            self = self.with_artifacts_uri(uri);
        }
        if let Some(every) = c.pipeline_poll {
            self = self.with_pipeline_poll(every);
        }
        if let Some(n) = c.max_attempts {
            self = self.with_max_attempts(n);
        }
        if let Some(t) = c.attempt_timeout {
            self = self.with_attempt_timeout(t);
        }
        if let Some(t) = c.operation_timeout {
            self = self.with_operation_timeout(t);
        }
        if let Some(t) = c.invoke_timeout {
            self = self.with_invoke_timeout(t);
        }
        if let Some(on) = c.enhanced_metrics {
            self = self.with_enhanced_metrics(on);
        }
        if let Some(ttl) = c.metrics_ttl {
            self = self.with_metrics_ttl(ttl);
        }
        if let Some(n) = c.concurrency {
            self = self.with_concurrency(n);
        }
        Ok(self)
    }

    /// Uses this SDK configuration (region, credentials, HTTP client, ...) instead of loading one.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// Overrides the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every request to this URL (an emulator, a VPC endpoint).
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses fixed credentials (tests, emulators) instead of the default chain.
    pub fn with_static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.static_credentials = Some((access_key_id.into(), secret_access_key.into()));
        self
    }

    /// Keeps pipeline state in `uri` (`s3://bucket/prefix`); without it pipelines are
    /// `Unsupported`.
    pub fn with_pipelines_uri(mut self, uri: impl Into<String>) -> Self {
        self.settings.pipelines_uri = Some(uri.into());
        self
    }

    /// Uploads pushed archives under `uri` (`s3://bucket/prefix`) unless a push names its
    /// destination.
    pub fn with_artifacts_uri(mut self, uri: impl Into<String>) -> Self {
        self.settings.artifacts_uri = Some(uri.into());
        self
    }

    /// Archives larger than `bytes` upload in parts of `bytes` (default 8 MiB; S3 refuses
    /// parts under 5 MiB but the last).
    pub fn with_upload_part_bytes(mut self, bytes: u64) -> Self {
        self.settings.upload_part_bytes = bytes.max(1);
        self
    }

    /// How often a long-lived server's pipeline poller ticks (default 30 s).
    pub fn with_pipeline_poll(mut self, every: Duration) -> Self {
        self.settings.pipeline_poll = every;
        self
    }

    /// The IAM role SageMaker assumes to run the models of new endpoints (required to create
    /// endpoints).
    pub fn with_execution_role_arn(mut self, arn: impl Into<String>) -> Self {
        self.settings.execution_role_arn = Some(arn.into());
        self
    }

    /// Attempts per call in the SDK's standard retry mode (1 = no retries; tests expecting
    /// errors use 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Timeout of one attempt of a control-plane call.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Timeout of a whole control-plane call including retries.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Timeout of one invocation attempt.
    pub fn with_invoke_timeout(mut self, timeout: Duration) -> Self {
        self.invoke_timeout = timeout;
        self
    }

    /// Turns per-instance (enhanced) metrics of new endpoint configurations on or off
    /// (default on).
    pub fn with_enhanced_metrics(mut self, on: bool) -> Self {
        self.settings.enhanced_metrics = on;
        self
    }

    /// How long live figures in overviews are reused (default 10 s, SageMaker's publishing
    /// interval for enhanced metrics; zero re-reads them on every call).
    pub fn with_metrics_ttl(mut self, ttl: Duration) -> Self {
        self.settings.metrics_ttl = ttl;
        self
    }

    /// How many describe calls run at once when listing (default 8).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n.max(1);
        self
    }

    /// Injection seam: adds an SDK interceptor to every client built here (for example one
    /// that adds a header). Not applied to clients given with `with_*_client`.
    pub fn with_interceptor(mut self, interceptor: impl Intercept + 'static) -> Self {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    /// Injection seam: uses this SageMaker client as is.
    pub fn with_sagemaker_client(mut self, client: aws_sdk_sagemaker::Client) -> Self {
        self.sagemaker = Some(client);
        self
    }

    /// Injection seam: uses this SageMaker runtime client as is.
    pub fn with_runtime_client(mut self, client: aws_sdk_sagemakerruntime::Client) -> Self {
        self.runtime = Some(client);
        self
    }

    /// Injection seam: uses this CloudWatch client as is.
    pub fn with_cloudwatch_client(mut self, client: aws_sdk_cloudwatch::Client) -> Self {
        self.cloudwatch = Some(client);
        self
    }

    /// Injection seam: uses this Application Auto Scaling client as is.
    pub fn with_autoscaling_client(
        mut self,
        client: aws_sdk_applicationautoscaling::Client,
    ) -> Self {
        self.autoscaling = Some(client);
        self
    }

    /// Uses the named profile of the shared AWS config and credentials files (with
    /// [`from_env`](Self::from_env); like `AWS_PROFILE`).
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Loads configuration if asked to and builds the provider.
    pub async fn build(self) -> Result<AwsProvider> {
        let sdk = self.sdk_config().await;
        let region = self
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                Error::invalid(
                    "no AWS region: set AWS_REGION, a profile region, or call with_region",
                )
            })?;
        let factory = ClientFactory {
            sdk: &sdk,
            region: &region,
            endpoint_url: self.endpoint_url.as_deref(),
            retry: RetryConfig::standard().with_max_attempts(self.max_attempts),
            interceptors: &self.interceptors,
        };
        let control = TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build();
        let invoke = TimeoutConfig::builder()
            .operation_attempt_timeout(self.invoke_timeout)
            .build();
        // Injected clients are used as they are.
        let inner = Inner::new(
            self.sagemaker
                .unwrap_or_else(|| factory.sagemaker(control.clone())),
            self.runtime.unwrap_or_else(|| factory.runtime(invoke)),
            self.cloudwatch
                .unwrap_or_else(|| factory.cloudwatch(control.clone())),
            self.autoscaling
                .unwrap_or_else(|| factory.autoscaling(control.clone())),
            factory.s3(control),
            region,
            self.settings,
        )?;
        Ok(AwsProvider {
            inner: Arc::new(inner),
        })
    }

    /// The SDK configuration: the one given, the default chain's, or one with just the
    /// static credentials.
    async fn sdk_config(&self) -> SdkConfig {
        if let Some(c) = &self.sdk_config {
            return c.clone();
        }
        if self.load_env {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if let Some(r) = &self.region {
                loader = loader.region(Region::new(r.clone()));
            }
            if let Some(p) = &self.profile {
                loader = loader.profile_name(p);
            }
            if let Some((ak, sk)) = &self.static_credentials {
                loader = loader.credentials_provider(static_creds(ak, sk));
            }
            return loader.load().await;
        }
        let mut b = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
        if let Some((ak, sk)) = &self.static_credentials {
            b = b.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(static_creds(
                    ak, sk,
                )),
            );
        }
        b.build()
    }
}

fn static_creds(ak: &str, sk: &str) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(ak, sk, None, None, "mlm-static")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(toml: &str) -> AwsConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_config_sets_every_setting_it_names() {
        let config = config_from(
            r#"
            region = "eu-west-1"
            profile = "ml"
            endpoint_url = "http://127.0.0.1:5000"
            execution_role_arn = "arn:aws:iam::123456789012:role/from-config"
            max_attempts = 1
            attempt_timeout_secs = 2.5
            operation_timeout_secs = 30
            invoke_timeout_secs = 90
            enhanced_metrics = false
            metrics_ttl_secs = 0
            concurrency = 3
            "#,
        );
        let b = AwsProviderBuilder::new().with_config(&config).unwrap();
        assert_eq!(b.region.as_deref(), Some("eu-west-1"));
        assert_eq!(b.profile.as_deref(), Some("ml"));
        assert_eq!(b.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            b.settings.execution_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/from-config")
        );
        assert_eq!(b.max_attempts, 1);
        assert_eq!(b.attempt_timeout, Duration::from_millis(2500));
        assert_eq!(b.operation_timeout, Duration::from_secs(30));
        assert_eq!(b.invoke_timeout, Duration::from_secs(90));
        assert!(!b.settings.enhanced_metrics);
        assert_eq!(b.settings.metrics_ttl, Duration::ZERO);
        assert_eq!(b.settings.concurrency, 3);
    }

    #[test]
    fn unset_fields_keep_what_the_builder_has() {
        let before = AwsProviderBuilder::from_env()
            .with_region("us-east-2")
            .with_execution_role_arn("arn:aws:iam::123456789012:role/set-before")
            .with_max_attempts(4);
        let b = before
            .clone()
            .with_config(&config_from("concurrency = 2"))
            .unwrap();
        assert!(b.load_env);
        assert_eq!(b.region.as_deref(), Some("us-east-2"));
        assert_eq!(
            b.settings.execution_role_arn,
            before.settings.execution_role_arn
        );
        assert_eq!(b.max_attempts, 4);
        assert_eq!(b.attempt_timeout, Duration::from_secs(20));
        assert_eq!(b.operation_timeout, Duration::from_secs(60));
        assert_eq!(b.invoke_timeout, Duration::from_secs(70));
        assert!(b.settings.enhanced_metrics);
        assert_eq!(b.settings.metrics_ttl, Duration::from_secs(10));
        assert_eq!(b.settings.concurrency, 2);
    }

    #[test]
    fn from_config_loads_the_environment_and_applies_the_config() {
        let b = AwsProviderBuilder::from_config(&config_from(
            "execution_role_arn = \"arn:aws:iam::123456789012:role/wins\"",
        ))
        .unwrap();
        assert!(b.load_env);
        // The configured role wins over MLM_SAGEMAKER_EXECUTION_ROLE_ARN, whatever it is.
        assert_eq!(
            b.settings.execution_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/wins")
        );
    }

    #[test]
    fn a_bad_value_fails_naming_the_field_and_applies_nothing() {
        for (toml, field) in [
            ("max_attempts = 0", "max_attempts"),
            ("attempt_timeout_secs = -1", "attempt_timeout_secs"),
            ("operation_timeout_secs = nan", "operation_timeout_secs"),
            ("invoke_timeout_secs = 0", "invoke_timeout_secs"),
            ("metrics_ttl_secs = -inf", "metrics_ttl_secs"),
            ("concurrency = 0", "concurrency"),
            ("region = \"\"", "region"),
            ("profile = \"\"", "profile"),
            ("endpoint_url = \"\"", "endpoint_url"),
            ("execution_role_arn = \"\"", "execution_role_arn"),
        ] {
            let err = AwsProviderBuilder::new()
                .with_config(&config_from(toml))
                .unwrap_err();
            assert_eq!(err.kind(), mlm_core::ErrorKind::InvalidArgument, "{toml}");
            assert!(err.message().starts_with(field), "{toml}: {err}");
        }
    }

    #[tokio::test]
    async fn a_configured_provider_builds_without_calling_aws() {
        let config = config_from(
            "region = \"eu-west-1\"\nendpoint_url = \"http://127.0.0.1:9\"\nmax_attempts = 1",
        );
        let provider = AwsProviderBuilder::new()
            .with_static_credentials("testing", "testing")
            .with_config(&config)
            .unwrap()
            .build()
            .await
            .unwrap();
        assert_eq!(provider.inner.region, "eu-west-1");
    }
}
