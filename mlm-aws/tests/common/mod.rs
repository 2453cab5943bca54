//! Shared setup: one AWS emulator (moto + mlm's gap fillers, `testing/aws-emulator`) per test
//! binary, and one random AWS account per fixture (header `x-moto-account-id`), so tests run
//! in parallel without seeing each other's resources.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use mlm_aws::{AwsProvider, AwsProviderBuilder};
use mlm_core::conformance::{Fixture, FixtureHooks, SampleInvocation};
use mlm_core::{
    CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, Endpoint, EndpointManager,
    EndpointName, EndpointOverview, InvokeRequest, InvokeResponse, MetricQuery, MetricSeries,
    Model, ModelName, ModelRegistry, ModelVersion, Observability, Page, PageRequest, Provider,
    Result, UpdateEndpointRequest, UpdateModelRequest, UpdateVersionRequest, WaitOptions,
};

pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ARTIFACT: &str = "s3://mlm-test/model.tar.gz";
pub(crate) const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlm-test-serving:1.0";
pub(crate) const INSTANCE_TYPES: [&str; 2] = ["ml.m5.large", "ml.c5.xlarge"];
pub(crate) const ANSWER: &str = r#"{"label": "Sports", "score": 0.97}"#;

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// The emulator's Python: `MLM_EMULATOR_PYTHON`, else `.venv/bin/python` in the workspace.
pub(crate) fn python() -> PathBuf {
    let configured = std::env::var_os("MLM_EMULATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let path = if configured.is_relative() {
        repo_root().join(configured)
    } else {
        configured
    };
    if !path.exists() {
        panic!(
            "the AWS emulator's Python was not found at {}.\n\
             Run scripts/test.sh (it makes .venv), or make a venv yourself:\n  \
             python3 -m venv /tmp/awsvenv && /tmp/awsvenv/bin/pip install -r \
             testing/aws-emulator/requirements.txt\n\
             and set MLM_EMULATOR_PYTHON=/tmp/awsvenv/bin/python",
            path.display()
        );
    }
    path
}

pub(crate) struct Emulator {
    pub url: String,
    // Held so the child's stdin stays open: the emulator exits when this process does.
    _child: Mutex<Child>,
    _dir: tempfile::TempDir,
}

/// The emulator of this test binary, started on first use.
pub(crate) fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(start_emulator)
}

fn start_emulator() -> Emulator {
    let dir = tempfile::tempdir().expect("temp dir");
    let port_file = dir.path().join("port");
    // A watchdog thread ends the emulator when our end of its stdin closes, i.e. when this
    // test binary exits for any reason.
    let launcher = format!(
        "import os, sys, threading, runpy\n\
         threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
         sys.argv = ['mlm_aws_emulator', '--host', '127.0.0.1', '--port', '0', '--quiet', \
         '--port-file', {:?}]\n\
         runpy.run_module('mlm_aws_emulator', run_name='__main__')\n",
        port_file.display().to_string()
    );
    let mut child = Command::new(python())
        .arg("-c")
        .arg(launcher)
        .current_dir(repo_root().join("testing").join("aws-emulator"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the AWS emulator");
    let deadline = Instant::now() + Duration::from_secs(60);
    let port = loop {
        if let Ok(text) = std::fs::read_to_string(&port_file)
            && let Ok(port) = text.trim().parse::<u16>()
        {
            break port;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the AWS emulator exited at start ({status}); see its output above");
        }
        assert!(
            Instant::now() < deadline,
            "the AWS emulator did not start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Emulator {
        url: format!("http://127.0.0.1:{port}"),
        _child: Mutex::new(child),
        _dir: dir,
    }
}

/// Adds `x-moto-account-id` to every request.
#[derive(Debug, Clone)]
pub(crate) struct MotoAccount(pub String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        ctx.request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A random 12-digit account id.
pub(crate) fn random_account() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random_range(100_000_000_000..1_000_000_000_000);
    n.to_string()
}

/// One isolated account on the shared emulator.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub url: String,
}

impl Account {
    pub(crate) fn new() -> Self {
        Self {
            id: random_account(),
            url: emulator().url.clone(),
        }
    }

    pub(crate) fn role(&self) -> String {
        format!("arn:aws:iam::{}:role/mlm-test-execution", self.id)
    }

    /// A builder pointed at the emulator in this account, without retries.
    pub(crate) fn builder(&self) -> AwsProviderBuilder {
        AwsProviderBuilder::new()
            .with_region(REGION)
            .with_endpoint_url(&self.url)
            .with_static_credentials("AKIDMLMTEST", "mlm-test-secret")
            .with_interceptor(MotoAccount(self.id.clone()))
            .with_execution_role_arn(self.role())
            .with_max_attempts(1)
            .with_attempt_timeout(Duration::from_secs(30))
    }

    pub(crate) async fn provider(&self) -> AwsProvider {
        self.builder().build().await.expect("build the provider")
    }

    pub(crate) fn sdk_config(&self) -> aws_types::SdkConfig {
        aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "AKIDMLMTEST",
                        "mlm-test-secret",
                        None,
                        None,
                        "test",
                    ),
                ),
            )
            .build()
    }

    /// A raw SageMaker client in this account (to look behind the provider's back).
    pub(crate) fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        let conf = aws_sdk_sagemaker::config::Builder::from(&self.sdk_config())
            .interceptor(MotoAccount(self.id.clone()))
            .build();
        aws_sdk_sagemaker::Client::from_conf(conf)
    }

    /// A raw CloudWatch client in this account.
    pub(crate) fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk_config())
            .interceptor(MotoAccount(self.id.clone()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }

    /// A raw Application Auto Scaling client in this account.
    pub(crate) fn autoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        let conf = aws_sdk_applicationautoscaling::config::Builder::from(&self.sdk_config())
            .interceptor(MotoAccount(self.id.clone()))
            .build();
        aws_sdk_applicationautoscaling::Client::from_conf(conf)
    }

    /// A raw S3 client in this account (path-style, as the emulator serves one host).
    pub(crate) fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config())
            .force_path_style(true)
            .interceptor(MotoAccount(self.id.clone()))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A new S3 bucket for data capture, as `s3://bucket/captures` (bucket names are global,
    /// so it carries the account id).
    pub(crate) async fn capture_destination(&self) -> String {
        let bucket = format!("mlm-captures-{}", self.id);
        self.s3()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create the capture bucket");
        format!("s3://{bucket}/captures")
    }

    /// Calls the emulator's control API (`/_mlm/...`, `/moto-api/...`) in this account.
    pub(crate) async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, String) {
        http(&self.url, method, path, &self.id, body).await
    }

    /// Per-operation request counts of this account.
    pub(crate) async fn requests(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.control("GET", "/_mlm/requests", None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("request counts are JSON")
    }

    pub(crate) async fn reset_requests(&self) {
        let (status, body) = self.control("POST", "/_mlm/requests/reset", None).await;
        assert_eq!(status, 200, "{body}");
    }

    pub(crate) async fn configure(&self, config: serde_json::Value) {
        let (status, body) = self.control("POST", "/_mlm/config", Some(config)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Queues the answer of the next invocation.
    pub(crate) async fn queue_answer(&self, body: &str, variant: Option<&str>) {
        let mut result = serde_json::json!({"Body": body, "ContentType": "application/json"});
        if let Some(v) = variant {
            result["InvokedProductionVariant"] = v.into();
        }
        let (status, text) = self
            .control(
                "POST",
                "/moto-api/static/sagemaker/endpoint-results",
                Some(serde_json::json!({
                    "account_id": self.id, "region": REGION, "results": [result]
                })),
            )
            .await;
        assert!(status < 300, "queue answer: {status} {text}");
    }

    /// What SageMaker's enhanced metrics would publish: per-instance CPU and memory figures
    /// for each running instance of `endpoint` (moto has no instances and publishes nothing).
    pub(crate) async fn publish_instance_metrics(&self, endpoint: &str) {
        let sm = self.sagemaker();
        let Ok(d) = sm.describe_endpoint().endpoint_name(endpoint).send().await else {
            return;
        };
        let cw = self.cloudwatch();
        let mut data = Vec::new();
        for v in d.production_variants() {
            let variant = v.variant_name().unwrap_or_default();
            for k in 0..v.current_instance_count().unwrap_or(0) {
                let id = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (endpoint, variant, k).hash(&mut h);
                    format!("i-{:016x}", h.finish())
                };
                for (metric, value) in [("CPUUtilization", 50.0), ("MemoryUtilization", 40.0)] {
                    data.push(
                        aws_sdk_cloudwatch::types::MetricDatum::builder()
                            .metric_name(metric)
                            .value(value)
                            .timestamp(aws_smithy_types::DateTime::from(
                                std::time::SystemTime::now(),
                            ))
                            .dimensions(dim("EndpointName", endpoint))
                            .dimensions(dim("VariantName", variant))
                            .dimensions(dim("InstanceId", &id))
                            .build(),
                    );
                }
            }
        }
        if data.is_empty() {
            return;
        }
        cw.put_metric_data()
            .namespace("/aws/sagemaker/Endpoints")
            .set_metric_data(Some(data))
            .send()
            .await
            .expect("put simulated instance metrics");
    }
}

impl Default for Account {
    fn default() -> Self {
        Self::new()
    }
}

fn dim(name: &str, value: &str) -> aws_sdk_cloudwatch::types::Dimension {
    aws_sdk_cloudwatch::types::Dimension::builder()
        .name(name)
        .value(value)
        .build()
}

/// A minimal HTTP/1.1 client for the emulator's control API.
pub(crate) async fn http(
    base: &str,
    method: &str,
    path: &str,
    account: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the emulator");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nx-moto-account-id: {account}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send to the emulator");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .expect("read from the emulator");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A new approved version of `model` (registered first if missing).
pub(crate) async fn version(p: &AwsProvider, model: &str) -> mlm_core::VersionRef {
    let name = ModelName::new(model).unwrap();
    if p.get_model(&name).await.is_err() {
        p.create_model(CreateModelRequest::new(name.clone()))
            .await
            .unwrap();
    }
    let v = p
        .create_version(
            CreateVersionRequest::new(name, ARTIFACT, IMAGE)
                .with_approval(mlm_core::Approval::Approved),
        )
        .await
        .unwrap();
    v.reference()
}

pub(crate) fn wait() -> WaitOptions {
    WaitOptions::with_timeout(Duration::from_secs(60))
        .with_intervals(Duration::from_millis(50), Duration::from_millis(250))
}

pub(crate) fn sample() -> SampleInvocation {
    SampleInvocation {
        content_type: "application/json".into(),
        body: br#"{"sentence": "Baseball is one of the most popular sports."}"#.to_vec(),
        expected: "Sports".into(),
    }
}

/// Queues the sample's answer before each invocation the suite makes.
struct QueueAnswers(Account);

#[async_trait]
impl FixtureHooks for QueueAnswers {
    async fn before_invoke(&self, _endpoint: &EndpointName, _sample: &SampleInvocation) {
        self.0.queue_answer(ANSWER, None).await;
    }

    /// moto's invocations are canned and publish no 5xx figures: the alarm goes to ALARM as
    /// CloudWatch would put it after the failing version's answers.
    async fn errors_observed(&self, endpoint: &EndpointName, alarm: &mlm_core::AlarmName) {
        self.0
            .cloudwatch()
            .set_alarm_state()
            .alarm_name(format!("mlm/{endpoint}/{alarm}"))
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("Threshold Crossed: 1 datapoint [12.0] was greater than 0.0")
            .send()
            .await
            .expect("SetAlarmState");
    }
}

/// The provider under test plus a stand-in for SageMaker's enhanced-metrics publishing: before
/// each overview it publishes per-instance figures for the endpoint's running instances, as
/// AWS does every 10 s for endpoints with enhanced metrics (moto publishes none). Everything
/// else is passed straight through.
pub(crate) struct WithInstanceMetrics {
    pub inner: AwsProvider,
    pub account: Account,
}

#[async_trait]
impl ModelRegistry for WithInstanceMetrics {
    async fn create_model(&self, r: CreateModelRequest) -> Result<Model> {
        self.inner.create_model(r).await
    }
    async fn get_model(&self, n: &ModelName) -> Result<Model> {
        self.inner.get_model(n).await
    }
    async fn list_models(&self, p: PageRequest) -> Result<Page<Model>> {
        self.inner.list_models(p).await
    }
    async fn update_model(&self, n: &ModelName, r: UpdateModelRequest) -> Result<Model> {
        self.inner.update_model(n, r).await
    }
    async fn delete_model(&self, n: &ModelName) -> Result<()> {
        self.inner.delete_model(n).await
    }
    async fn create_version(&self, r: CreateVersionRequest) -> Result<ModelVersion> {
        self.inner.create_version(r).await
    }
    async fn get_version(&self, m: &ModelName, v: u32) -> Result<ModelVersion> {
        self.inner.get_version(m, v).await
    }
    async fn list_versions(&self, m: &ModelName, p: PageRequest) -> Result<Page<ModelVersion>> {
        self.inner.list_versions(m, p).await
    }
    async fn update_version(
        &self,
        m: &ModelName,
        v: u32,
        r: UpdateVersionRequest,
    ) -> Result<ModelVersion> {
        self.inner.update_version(m, v, r).await
    }
    async fn delete_version(&self, m: &ModelName, v: u32) -> Result<()> {
        self.inner.delete_version(m, v).await
    }
}

#[async_trait]
impl EndpointManager for WithInstanceMetrics {
    async fn create_endpoint(&self, r: CreateEndpointRequest) -> Result<Endpoint> {
        self.inner.create_endpoint(r).await
    }
    async fn get_endpoint(&self, n: &EndpointName) -> Result<Endpoint> {
        self.inner.get_endpoint(n).await
    }
    async fn list_endpoints(&self, p: PageRequest) -> Result<Page<Endpoint>> {
        self.inner.list_endpoints(p).await
    }
    async fn update_endpoint(&self, r: UpdateEndpointRequest) -> Result<Endpoint> {
        self.inner.update_endpoint(r).await
    }
    async fn delete_endpoint(&self, n: &EndpointName) -> Result<()> {
        self.inner.delete_endpoint(n).await
    }
    async fn invoke(&self, r: InvokeRequest) -> Result<InvokeResponse> {
        self.inner.invoke(r).await
    }
}

#[async_trait]
impl Observability for WithInstanceMetrics {
    async fn endpoint_overview(&self, n: &EndpointName) -> Result<EndpointOverview> {
        self.account.publish_instance_metrics(n.as_str()).await;
        self.inner.endpoint_overview(n).await
    }
    async fn list_overviews(&self, p: PageRequest) -> Result<Page<EndpointOverview>> {
        self.inner.list_overviews(p).await
    }
    async fn query_metrics(&self, q: MetricQuery) -> Result<Vec<MetricSeries>> {
        self.inner.query_metrics(q).await
    }
}

#[async_trait]
impl mlm_core::Alarms for WithInstanceMetrics {
    async fn put_alarm(&self, d: mlm_core::AlarmDefinition) -> Result<mlm_core::Alarm> {
        self.inner.put_alarm(d).await
    }
    async fn get_alarm(
        &self,
        e: &EndpointName,
        n: &mlm_core::AlarmName,
    ) -> Result<mlm_core::Alarm> {
        self.inner.get_alarm(e, n).await
    }
    async fn list_alarms(&self, e: &EndpointName, p: PageRequest) -> Result<Page<mlm_core::Alarm>> {
        self.inner.list_alarms(e, p).await
    }
    async fn delete_alarm(&self, e: &EndpointName, n: &mlm_core::AlarmName) -> Result<()> {
        self.inner.delete_alarm(e, n).await
    }
}

#[async_trait]
impl mlm_core::Deployments for WithInstanceMetrics {
    async fn list_deployments(
        &self,
        e: &EndpointName,
        p: PageRequest,
    ) -> Result<Page<mlm_core::Deployment>> {
        self.inner.list_deployments(e, p).await
    }
    async fn get_deployment(&self, e: &EndpointName, id: &str) -> Result<mlm_core::Deployment> {
        self.inner.get_deployment(e, id).await
    }
    async fn stop_deployment(&self, e: &EndpointName, id: &str) -> Result<mlm_core::Deployment> {
        self.inner.stop_deployment(e, id).await
    }
}

#[async_trait]
impl mlm_core::Events for WithInstanceMetrics {
    async fn list_events(
        &self,
        q: mlm_core::EventQuery,
        p: PageRequest,
    ) -> Result<Page<mlm_core::EndpointEvent>> {
        self.inner.list_events(q, p).await
    }
    async fn record_event(
        &self,
        e: &EndpointName,
        n: mlm_core::NewEvent,
    ) -> Result<mlm_core::EndpointEvent> {
        self.inner.record_event(e, n).await
    }
}

#[async_trait]
impl mlm_core::Captures for WithInstanceMetrics {
    async fn list_captures(
        &self,
        q: mlm_core::CaptureQuery,
        p: PageRequest,
    ) -> Result<Page<mlm_core::CapturedRecord>> {
        self.inner.list_captures(q, p).await
    }
}

#[async_trait]
impl mlm_core::drift::Drift for WithInstanceMetrics {
    async fn create_baseline(
        &self,
        r: mlm_core::drift::CreateBaselineRequest,
    ) -> Result<mlm_core::drift::Baseline> {
        self.inner.create_baseline(r).await
    }
    async fn get_baseline(
        &self,
        e: &EndpointName,
        n: &mlm_core::BaselineName,
    ) -> Result<mlm_core::drift::Baseline> {
        self.inner.get_baseline(e, n).await
    }
    async fn list_baselines(
        &self,
        e: &EndpointName,
        p: PageRequest,
    ) -> Result<Page<mlm_core::drift::Baseline>> {
        self.inner.list_baselines(e, p).await
    }
    async fn delete_baseline(&self, e: &EndpointName, n: &mlm_core::BaselineName) -> Result<()> {
        self.inner.delete_baseline(e, n).await
    }
    async fn drift_report(
        &self,
        r: mlm_core::drift::DriftReportRequest,
    ) -> Result<mlm_core::drift::DriftReport> {
        self.inner.drift_report(r).await
    }
}

#[async_trait]
impl mlm_core::Artifacts for WithInstanceMetrics {
    async fn upload_artifact(
        &self,
        u: mlm_core::ArtifactUpload,
    ) -> Result<mlm_core::UploadedArtifact> {
        self.inner.upload_artifact(u).await
    }
}

#[async_trait]
impl mlm_core::Dashboards for WithInstanceMetrics {
    async fn put_dashboard(&self, e: &EndpointName) -> Result<mlm_core::Dashboard> {
        self.inner.put_dashboard(e).await
    }
    async fn get_dashboard(&self, e: &EndpointName) -> Result<mlm_core::Dashboard> {
        self.inner.get_dashboard(e).await
    }
}

// The engine runs over the wrapper, so pipelines see the instance figures too.
mlm_core::pipelines_over_store!(WithInstanceMetrics, |provider| provider
    .inner
    .pipeline_store());

impl Provider for WithInstanceMetrics {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> mlm_core::Capabilities {
        self.inner.capabilities()
    }
}

/// The conformance fixture: a provider in a fresh account of the shared emulator.
pub(crate) async fn fixture() -> Fixture {
    let account = Account::new();
    // Guarded updates take time, as on SageMaker, so waiters see their phases: 0.3 s to
    // provision, 0.5 s per traffic step, bakes at a fifth of their length.
    account
        .configure(serde_json::json!({
            "updating_seconds": 0.3, "traffic_step_seconds": 0.5, "deployment_time_scale": 0.2
        }))
        .await;
    let captures = account.capture_destination().await;
    // Pipelines keep their state beside the captures; a fast poller moves their runs.
    let provider = account
        .builder()
        .with_pipelines_uri(captures.replace("/captures", "/mlm-state"))
        .with_artifacts_uri(captures.replace("/captures", "/models"))
        .build()
        .await
        .expect("build the provider");
    let poller = provider.spawn_pipeline_poller(Some(Duration::from_millis(300)));
    let wrapped = WithInstanceMetrics {
        inner: provider,
        account: account.clone(),
    };
    Fixture::new(
        Arc::new(wrapped),
        ARTIFACT,
        IMAGE,
        INSTANCE_TYPES.map(String::from),
        sample(),
    )
    .with_wait(wait())
    .with_capture_destination(captures)
    .with_hooks(Arc::new(QueueAnswers(account)))
    // The poller ends with the test's runtime.
    .keep(poller)
}
