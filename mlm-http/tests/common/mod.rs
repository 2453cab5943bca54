//! Test support: a `Provider` made of the core's mockall mocks, sample core values, and
//! request helpers.

#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use mlm_core::{
    Capabilities, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, Endpoint,
    EndpointManager, EndpointName, EndpointOverview, InvokeRequest, InvokeResponse, MetricQuery,
    MetricSeries, MockEndpointManager, MockModelRegistry, MockObservability, Model, ModelName,
    ModelRegistry, ModelVersion, Observability, Page, PageRequest, Provider, Result,
    UpdateEndpointRequest, UpdateModelRequest, UpdateVersionRequest,
};
use mlm_http::{AppState, Auth, Limits, app};
use tower::ServiceExt;

/// A provider whose three traits are mocks.
pub(crate) struct Mocks {
    pub models: MockModelRegistry,
    pub endpoints: MockEndpointManager,
    pub observe: MockObservability,
    pub alarms: mlm_core::MockAlarms,
    pub deployments: mlm_core::MockDeployments,
    pub events: mlm_core::MockEvents,
    pub captures: mlm_core::MockCaptures,
    pub drift: mlm_core::drift::MockDrift,
    pub pipelines: mlm_core::pipeline::MockPipelines,
    pub artifacts: mlm_core::MockArtifacts,
    pub dashboards: mlm_core::MockDashboards,
    pub caps: Capabilities,
}

impl Default for Mocks {
    fn default() -> Self {
        Self {
            models: MockModelRegistry::new(),
            endpoints: MockEndpointManager::new(),
            observe: MockObservability::new(),
            alarms: mlm_core::MockAlarms::new(),
            deployments: mlm_core::MockDeployments::new(),
            events: mlm_core::MockEvents::new(),
            captures: mlm_core::MockCaptures::new(),
            drift: mlm_core::drift::MockDrift::new(),
            pipelines: mlm_core::pipeline::MockPipelines::new(),
            artifacts: mlm_core::MockArtifacts::new(),
            dashboards: mlm_core::MockDashboards::new(),
            caps: Capabilities::NONE,
        }
    }
}

#[async_trait]
impl ModelRegistry for Mocks {
    async fn create_model(&self, request: CreateModelRequest) -> Result<Model> {
        self.models.create_model(request).await
    }
    async fn get_model(&self, name: &ModelName) -> Result<Model> {
        self.models.get_model(name).await
    }
    async fn list_models(&self, page: PageRequest) -> Result<Page<Model>> {
        self.models.list_models(page).await
    }
    async fn update_model(&self, name: &ModelName, request: UpdateModelRequest) -> Result<Model> {
        self.models.update_model(name, request).await
    }
    async fn delete_model(&self, name: &ModelName) -> Result<()> {
        self.models.delete_model(name).await
    }
    async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion> {
        self.models.create_version(request).await
    }
    async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
        self.models.get_version(model, version).await
    }
    async fn list_versions(
        &self,
        model: &ModelName,
        page: PageRequest,
    ) -> Result<Page<ModelVersion>> {
        self.models.list_versions(model, page).await
    }
    async fn update_version(
        &self,
        model: &ModelName,
        version: u32,
        request: UpdateVersionRequest,
    ) -> Result<ModelVersion> {
        self.models.update_version(model, version, request).await
    }
    async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
        self.models.delete_version(model, version).await
    }
}

#[async_trait]
impl EndpointManager for Mocks {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        self.endpoints.create_endpoint(request).await
    }
    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
        self.endpoints.get_endpoint(name).await
    }
    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        self.endpoints.list_endpoints(page).await
    }
    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        self.endpoints.update_endpoint(request).await
    }
    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        self.endpoints.delete_endpoint(name).await
    }
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        self.endpoints.invoke(request).await
    }
}

#[async_trait]
impl Observability for Mocks {
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
        self.observe.endpoint_overview(name).await
    }
    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
        self.observe.list_overviews(page).await
    }
    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
        self.observe.query_metrics(query).await
    }
}

#[async_trait]
impl mlm_core::Alarms for Mocks {
    async fn put_alarm(&self, d: mlm_core::AlarmDefinition) -> Result<mlm_core::Alarm> {
        self.alarms.put_alarm(d).await
    }
    async fn get_alarm(
        &self,
        e: &EndpointName,
        n: &mlm_core::AlarmName,
    ) -> Result<mlm_core::Alarm> {
        self.alarms.get_alarm(e, n).await
    }
    async fn list_alarms(&self, e: &EndpointName, p: PageRequest) -> Result<Page<mlm_core::Alarm>> {
        self.alarms.list_alarms(e, p).await
    }
    async fn delete_alarm(&self, e: &EndpointName, n: &mlm_core::AlarmName) -> Result<()> {
        self.alarms.delete_alarm(e, n).await
    }
}

#[async_trait]
impl mlm_core::Deployments for Mocks {
    async fn list_deployments(
        &self,
        e: &EndpointName,
        p: PageRequest,
    ) -> Result<Page<mlm_core::Deployment>> {
        self.deployments.list_deployments(e, p).await
    }
    async fn get_deployment(&self, e: &EndpointName, id: &str) -> Result<mlm_core::Deployment> {
        self.deployments.get_deployment(e, id).await
    }
    async fn stop_deployment(&self, e: &EndpointName, id: &str) -> Result<mlm_core::Deployment> {
        self.deployments.stop_deployment(e, id).await
    }
}

#[async_trait]
impl mlm_core::Events for Mocks {
    async fn list_events(
        &self,
        q: mlm_core::EventQuery,
        p: PageRequest,
    ) -> Result<Page<mlm_core::EndpointEvent>> {
        self.events.list_events(q, p).await
    }
    async fn record_event(
        &self,
        e: &EndpointName,
        n: mlm_core::NewEvent,
    ) -> Result<mlm_core::EndpointEvent> {
        self.events.record_event(e, n).await
    }
}

#[async_trait]
impl mlm_core::Captures for Mocks {
    async fn list_captures(
        &self,
        q: mlm_core::CaptureQuery,
        p: PageRequest,
    ) -> Result<Page<mlm_core::CapturedRecord>> {
        self.captures.list_captures(q, p).await
    }
}

#[async_trait]
impl mlm_core::drift::Drift for Mocks {
    async fn create_baseline(
        &self,
        r: mlm_core::drift::CreateBaselineRequest,
    ) -> Result<mlm_core::drift::Baseline> {
        self.drift.create_baseline(r).await
    }
    async fn get_baseline(
        &self,
        e: &EndpointName,
        n: &mlm_core::BaselineName,
    ) -> Result<mlm_core::drift::Baseline> {
        self.drift.get_baseline(e, n).await
    }
    async fn list_baselines(
        &self,
        e: &EndpointName,
        p: PageRequest,
    ) -> Result<Page<mlm_core::drift::Baseline>> {
        self.drift.list_baselines(e, p).await
    }
    async fn delete_baseline(&self, e: &EndpointName, n: &mlm_core::BaselineName) -> Result<()> {
        self.drift.delete_baseline(e, n).await
    }
    async fn drift_report(
        &self,
        r: mlm_core::drift::DriftReportRequest,
    ) -> Result<mlm_core::drift::DriftReport> {
        self.drift.drift_report(r).await
    }
}

#[async_trait]
impl mlm_core::pipeline::Pipelines for Mocks {
    async fn apply_pipeline(
        &self,
        r: mlm_core::pipeline::ApplyPipelineRequest,
    ) -> Result<mlm_core::pipeline::PipelinePlan> {
        self.pipelines.apply_pipeline(r).await
    }
    async fn get_pipeline(
        &self,
        n: &mlm_core::PipelineName,
    ) -> Result<mlm_core::pipeline::Pipeline> {
        self.pipelines.get_pipeline(n).await
    }
    async fn list_pipelines(&self, p: PageRequest) -> Result<Page<mlm_core::pipeline::Pipeline>> {
        self.pipelines.list_pipelines(p).await
    }
    async fn delete_pipeline(&self, n: &mlm_core::PipelineName) -> Result<()> {
        self.pipelines.delete_pipeline(n).await
    }
    async fn list_runs(
        &self,
        n: &mlm_core::PipelineName,
        p: PageRequest,
    ) -> Result<Page<mlm_core::pipeline::PipelineRun>> {
        self.pipelines.list_runs(n, p).await
    }
    async fn get_run(
        &self,
        n: &mlm_core::PipelineName,
        id: &str,
    ) -> Result<mlm_core::pipeline::PipelineRun> {
        self.pipelines.get_run(n, id).await
    }
    async fn version_approved(
        &self,
        e: mlm_core::pipeline::ApprovalEvent,
    ) -> Result<Vec<mlm_core::pipeline::PipelineRun>> {
        self.pipelines.version_approved(e).await
    }
    async fn promote(
        &self,
        r: mlm_core::pipeline::PromoteRequest,
    ) -> Result<mlm_core::pipeline::PipelineRun> {
        self.pipelines.promote(r).await
    }
    async fn cancel_run(
        &self,
        n: &mlm_core::PipelineName,
        id: &str,
        actor: &str,
    ) -> Result<mlm_core::pipeline::PipelineRun> {
        self.pipelines.cancel_run(n, id, actor).await
    }
}

#[async_trait]
impl mlm_core::Artifacts for Mocks {
    async fn upload_artifact(
        &self,
        u: mlm_core::ArtifactUpload,
    ) -> Result<mlm_core::UploadedArtifact> {
        self.artifacts.upload_artifact(u).await
    }
}

#[async_trait]
impl mlm_core::Dashboards for Mocks {
    async fn put_dashboard(&self, e: &EndpointName) -> Result<mlm_core::Dashboard> {
        self.dashboards.put_dashboard(e).await
    }
    async fn get_dashboard(&self, e: &EndpointName) -> Result<mlm_core::Dashboard> {
        self.dashboards.get_dashboard(e).await
    }
}

impl Provider for Mocks {
    fn name(&self) -> &str {
        "mock"
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}

pub(crate) const OPERATOR: &str = "operator-token-0123456789";
pub(crate) const READER: &str = "reader-token-0123456789";

/// The app over `mocks` with authentication off.
pub(crate) fn open_app(mocks: Mocks) -> axum::Router {
    app(AppState::new(Arc::new(mocks)))
}

/// The app over `mocks` with an operator and a reader token.
pub(crate) fn secured_app(mocks: Mocks) -> axum::Router {
    let tokens =
        mlm_http::auth::parse_token_list(&format!("{OPERATOR}:operator,{READER}:reader")).unwrap();
    app(AppState::new(Arc::new(mocks)).with_auth(Auth::new(tokens)))
}

/// The app over `mocks` with small body limits.
pub(crate) fn limited_app(mocks: Mocks, body: usize, invoke: usize) -> axum::Router {
    app(AppState::new(Arc::new(mocks)).with_limits(Limits::new(body, invoke)))
}

/// A finished response: status, headers and body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a problem document with `status` and `slug`; returns it.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16, slug: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type"
        );
        let p = self.json();
        assert_eq!(
            p["type"],
            format!("https://mlm.dev/problems/{slug}"),
            "type; body: {p}"
        );
        assert_eq!(p["status"], status);
        assert!(p["title"].is_string());
        assert!(p["detail"].is_string());
        let id = p["request_id"].as_str().expect("request_id in the problem");
        assert_eq!(
            Some(id),
            self.header("x-request-id"),
            "request id matches the header"
        );
        p
    }
}

/// Sends `request` through `app`.
pub(crate) async fn send(app: axum::Router, request: Request<Body>) -> Answer {
    let response: Response<Body> = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub(crate) fn with_json(method: &str, uri: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap()
}

pub(crate) fn model(name: &str) -> Model {
    let mut m = Model::new(
        ModelName::new(name).unwrap(),
        Some("d".into()),
        Default::default(),
        now(),
    );
    m.latest_version = Some(2);
    m
}

pub(crate) fn version(model: &str, n: u32) -> ModelVersion {
    serde_json::from_value(serde_json::json!({
        "model": model, "version": n, "artifact_uri": "s3://b/k", "artifact_digest": "sha256:00",
        "image": "img", "environment": {"A": "1"}, "approval": "approved", "description": null,
        "created_at": now(), "updated_at": now(),
    }))
    .unwrap()
}

pub(crate) fn endpoint(name: &str, variants: &[&str]) -> Endpoint {
    let variants: Vec<_> = variants
        .iter()
        .map(|v| {
            serde_json::json!({
                "name": v, "model_version": {"model": "m", "version": 1},
                "instance_type": "ml.m5.large", "desired_instance_count": 2,
                "current_instance_count": 2, "weight": 0.5, "serverless": null,
                "autoscaling": {"min_instances": 1, "max_instances": 3,
                    "metric": "invocations_per_instance", "target_value": 100.0},
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "name": name, "status": "InService", "failure_reason": null, "tags": {"team": "ml"},
        "data_capture": {"destination_uri": "s3://cap", "sampling_percent": 20,
            "capture_input": true, "capture_output": false},
        "deployment": {"traffic": {"type": "canary", "percent": 10, "bake_seconds": 60},
            "rollback_alarms": ["a"]},
        "managed": true, "created_at": now(), "updated_at": now(), "variants": variants,
    }))
    .unwrap()
}

pub(crate) fn overview(name: &str) -> EndpointOverview {
    use mlm_core::{Instance, InstanceStatus, Measurement, VariantName};
    let e = endpoint(name, &["primary"]);
    let mut a = Instance::new(
        "primary-1",
        VariantName::new("primary").unwrap(),
        InstanceStatus::InService,
    );
    a.metrics.cpu_utilization = Some(Measurement::instance(12.5));
    a.metrics.memory_utilization = Some(Measurement::aggregate(40.0));
    a.metrics.in_flight_requests = Some(Measurement::instance(0.0));
    a.started_at = Some(now());
    let b = Instance::new(
        "primary-2",
        VariantName::new("primary").unwrap(),
        InstanceStatus::Pending,
    );
    EndpointOverview::new(&e, vec![a, b], now())
}
