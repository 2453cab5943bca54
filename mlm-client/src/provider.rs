//! [`HttpProvider`]: the core traits over the REST API, so code written against
//! [`mlm_core::Provider`] runs against a remote `mlm` server unchanged.
//!
//! Problem documents are mapped back to the core [`Error`] by their `type`, with the resource
//! kind and name for `not_found`/`already_exists`, `Retry-After` for `throttled`, `retryable`
//! for `provider`, and `unavailable` (503) as a retryable provider error, so a caller sees the
//! same errors as in-process.
//!
//! ```no_run
//! use mlm_core::{ModelRegistry, PageRequest};
//! use mlm_client::HttpProvider;
//!
//! # async fn run() -> mlm_core::Result<()> {
//! let mlm = HttpProvider::connect("http://127.0.0.1:8080", None).await?;
//! for model in mlm.list_models(PageRequest::first()).await?.items {
//!     println!("{}", model.name);
//! }
//! # Ok(())
//! # }
//! ```

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use mlm_core::BaselineName;
use mlm_core::drift::{Baseline, CreateBaselineRequest, Drift, DriftReport, DriftReportRequest};
use mlm_core::pipeline::{
    ApplyPipelineRequest, ApprovalEvent, Pipeline, PipelinePlan, PipelineRun, Pipelines,
    PromoteRequest,
};
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, Alarms, ArtifactUpload, Artifacts, Capabilities,
    CaptureQuery, CapturedRecord, Captures, CreateEndpointRequest, CreateModelRequest,
    CreateVersionRequest, Dashboard, Dashboards, Deployment, Deployments, Endpoint, EndpointEvent,
    EndpointManager, EndpointName, EndpointOverview, Error, EventQuery, Events, InvokeRequest,
    InvokeResponse, MetricQuery, MetricSeries, Model, ModelName, ModelRegistry, ModelVersion,
    NewEvent, Observability, Page, PageRequest, PipelineName, Provider, ResourceKind, Result,
    UpdateEndpointRequest, UpdateModelRequest, UpdateVersionRequest, UploadedArtifact, VariantName,
};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::body;
use crate::protocol::{
    PROBLEM_TYPE_BASE, Problem, ProblemType, TARGET_VARIANT_HEADER, VARIANT_HEADER,
};

/// Default time limit of one request (invocations included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A [`Provider`] backed by an `mlm` server's REST API.
///
/// [`Provider::name`] is `http`; [`HttpProvider::remote_name`] is the server's own backend.
pub struct HttpProvider {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// The time limit of one request (uploads get more).
    timeout: Duration,
    remote: RwLock<ServerInfo>,
}

/// What `GET /v1/capabilities` answers.
#[derive(Debug, Clone, Deserialize)]
struct ServerInfo {
    provider: String,
    capabilities: Capabilities,
}

/// The part of `GET /v1/endpoints/{endpoint}/metrics`'s answer the client returns.
#[derive(Deserialize)]
struct MetricsAnswer {
    series: Vec<MetricSeries>,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a call is about, to name the resource of a `404` that does not say.
struct Subject {
    kind: ResourceKind,
    name: String,
}

fn subject(kind: ResourceKind, name: impl std::fmt::Display) -> Subject {
    Subject {
        kind,
        name: name.to_string(),
    }
}

fn unexpected(e: &dyn std::fmt::Display) -> Error {
    Error::provider_msg(
        format!("the server's answer is not what this client understands: {e}"),
        false,
    )
}

impl HttpProvider {
    /// A provider for the server at `base_url` (`http://host:port` or `https://…`), sending
    /// `token` as a bearer token if given. Makes no request: [`Provider::capabilities`] reports
    /// [`Capabilities::NONE`] until [`refresh_capabilities`](Self::refresh_capabilities);
    /// [`connect`](Self::connect) does both. [`builder`](Self::builder) sets more.
    pub fn new(base_url: impl Into<String>, token: Option<String>) -> Result<Self> {
        Self::builder(base_url).token(token).build()
    }

    /// [`new`](Self::new) with a time limit per request.
    pub fn with_timeout(
        base_url: impl Into<String>,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self> {
        Self::builder(base_url)
            .token(token)
            .timeout(timeout)
            .build()
    }

    /// A builder for the server at `base_url`: token, time limit, extra trusted CA.
    pub fn builder(base_url: impl Into<String>) -> HttpProviderBuilder {
        HttpProviderBuilder {
            base_url: base_url.into(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
            ca_pem: None,
        }
    }

    /// Connects to the server at `base_url` and reads its backend and capabilities.
    pub async fn connect(base_url: impl Into<String>, token: Option<String>) -> Result<Self> {
        Self::builder(base_url).token(token).connect().await
    }

    /// Reads the server's backend name and capabilities (`GET /v1/capabilities`).
    pub async fn refresh_capabilities(&self) -> Result<Capabilities> {
        let info: ServerInfo = self
            .json(
                self.request(Method::GET, "/v1/capabilities"),
                &subject(ResourceKind::Runtime, "capabilities"),
            )
            .await?;
        let caps = info.capabilities;
        if let Ok(mut remote) = self.remote.write() {
            *remote = info;
        }
        Ok(caps)
    }

    /// The name of the server's backend (`local`, `aws`), as of the last
    /// [`refresh_capabilities`](Self::refresh_capabilities).
    pub fn remote_name(&self) -> String {
        self.remote
            .read()
            .map(|r| r.provider.clone())
            .unwrap_or_default()
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        builder
    }

    fn paged(&self, path: &str, page: &PageRequest) -> RequestBuilder {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(size) = page.page_size {
            query.push(("limit", size.to_string()));
        }
        if let Some(token) = &page.page_token {
            query.push(("page_token", token.clone()));
        }
        self.request(Method::GET, path).query(&query)
    }

    /// Sends `builder`; a non-2xx answer becomes the core error it stands for.
    async fn send(&self, builder: RequestBuilder, about: &Subject) -> Result<reqwest::Response> {
        let response = builder.send().await.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Err(error_from_response(status, &headers, &body, about))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        about: &Subject,
    ) -> Result<T> {
        let response = self.send(builder, about).await?;
        let url = response.url().path().to_string();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::provider(
                format!("the server's answer to {url} is not what this client understands"),
                e,
            )
        })
    }

    async fn json_with<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        about: &Subject,
    ) -> Result<T> {
        self.json(self.request(method, path).json(body), about)
            .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, about: &Subject) -> Result<T> {
        self.json(self.request(Method::GET, path), about).await
    }

    async fn delete(&self, path: &str, about: &Subject) -> Result<()> {
        self.send(self.request(Method::DELETE, path), about).await?;
        Ok(())
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            return Error::timeout(format!(
                "the mlm server at {} did not answer in time",
                self.base
            ));
        }
        // reqwest's own text ("error sending request") hides the reason (refused, TLS, DNS):
        // the causes say it.
        let reason = mlm_core::error_chain(&e);
        let retryable = e.is_connect() || e.is_request() || e.is_body();
        Error::provider_msg(
            format!("cannot talk to the mlm server at {}: {reason}", self.base),
            retryable,
        )
        .with_source(e)
    }
}

/// Builds an [`HttpProvider`]; from [`HttpProvider::builder`].
#[derive(Debug, Clone)]
pub struct HttpProviderBuilder {
    base_url: String,
    token: Option<String>,
    timeout: Duration,
    ca_pem: Option<Vec<u8>>,
}

impl HttpProviderBuilder {
    /// Sends `token` as a bearer token (`None`: no `Authorization` header).
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The time limit of one request (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also trusts the CA certificate(s) in `pem` (PEM text), next to the platform's roots:
    /// for a server whose certificate a private CA signed.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The provider; makes no request.
    pub fn build(self) -> Result<HttpProvider> {
        let base = self.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::invalid(format!(
                "base URL '{base}' must start with http:// or https://"
            )));
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("mlm-client/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_pem {
            http = add_ca(http, pem)?;
        } else if base.starts_with("https://") && !cfg!(feature = "rustls") {
            return Err(Error::invalid(format!(
                "base URL '{base}' needs HTTPS, and this build of mlm-client has no TLS \
                 (feature `rustls`)"
            )));
        }
        let http = http
            .build()
            .map_err(|e| Error::provider("cannot build the HTTP client", e))?;
        Ok(HttpProvider {
            base,
            timeout: self.timeout,
            token: self.token,
            http,
            remote: RwLock::new(ServerInfo {
                provider: "unknown".into(),
                capabilities: Capabilities::NONE,
            }),
        })
    }

    /// [`build`](Self::build), then reads the server's backend and capabilities.
    pub async fn connect(self) -> Result<HttpProvider> {
        let provider = self.build()?;
        provider.refresh_capabilities().await?;
        Ok(provider)
    }
}

#[cfg(feature = "rustls")]
fn add_ca(http: reqwest::ClientBuilder, pem: &[u8]) -> Result<reqwest::ClientBuilder> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| Error::invalid(format!("the CA certificate is not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::invalid(
            "the CA certificate file holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certificates
        .into_iter()
        .fold(http, reqwest::ClientBuilder::add_root_certificate))
}

#[cfg(not(feature = "rustls"))]
fn add_ca(_: reqwest::ClientBuilder, _: &[u8]) -> Result<reqwest::ClientBuilder> {
    Err(Error::invalid(
        "a CA certificate needs HTTPS, and this build of mlm-client has no TLS (feature `rustls`)",
    ))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Maps an error answer of the API to the core [`Error`] it stands for.
fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    about: &Subject,
) -> Error {
    let retry_after = header_str(headers, header::RETRY_AFTER.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let problem = serde_json::from_slice::<Problem>(body).ok();
    let Some(problem) = problem else {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Error::provider_msg(
            format!("the server answered {status} without a problem document: {text}"),
            status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
        );
    };
    let detail = problem.detail.clone();
    let with_id = || match &problem.request_id {
        Some(id) => format!("{detail} (request id {id})"),
        None => detail.clone(),
    };
    let resource = || {
        let kind = problem
            .resource_kind
            .as_ref()
            .and_then(|k| serde_json::from_value(serde_json::Value::String(k.clone())).ok())
            .unwrap_or(about.kind);
        let name = problem
            .resource_name
            .clone()
            .unwrap_or_else(|| about.name.clone());
        (kind, name)
    };
    let kind = problem
        .problem_type
        .strip_prefix(PROBLEM_TYPE_BASE)
        .and_then(ProblemType::from_slug);
    use mlm_core::ErrorKind as K;
    let error = match kind {
        Some(ProblemType::Kind(K::NotFound)) => {
            let (kind, name) = resource();
            Error::not_found(kind, name)
        }
        Some(ProblemType::Kind(K::AlreadyExists)) => {
            let (kind, name) = resource();
            Error::already_exists(kind, name)
        }
        Some(
            ProblemType::Kind(K::InvalidArgument)
            | ProblemType::PayloadTooLarge
            | ProblemType::UnsupportedMediaType,
        ) => Error::invalid(detail),
        Some(ProblemType::Kind(K::FailedPrecondition)) => Error::failed_precondition(detail),
        Some(ProblemType::Kind(K::Conflict) | ProblemType::EtagMismatch) => Error::conflict(detail),
        Some(
            ProblemType::Kind(K::PermissionDenied)
            | ProblemType::HostNotAllowed
            | ProblemType::OriginNotAllowed,
        ) => Error::permission_denied(detail),
        Some(ProblemType::Kind(K::Unauthenticated)) => Error::unauthenticated(detail),
        Some(ProblemType::Kind(K::Throttled)) => Error::throttled(detail, retry_after),
        Some(ProblemType::Kind(K::Timeout)) => Error::timeout(detail),
        Some(ProblemType::Kind(K::Unsupported)) => Error::unsupported(detail),
        Some(ProblemType::Kind(K::RolledBack)) => Error::RolledBack(detail.into()),
        Some(ProblemType::Kind(K::DeploymentFailed)) => Error::DeploymentFailed(detail.into()),
        Some(ProblemType::MethodNotAllowed | ProblemType::NoRoute) => Error::unsupported(format!(
            "the server does not offer this operation ({detail}); it may run an older mlm"
        )),
        Some(ProblemType::Kind(K::Provider)) => {
            Error::provider_msg(with_id(), problem.retryable.unwrap_or(false))
        }
        Some(ProblemType::Unavailable) => Error::provider_msg(with_id(), true),
        _ => Error::provider_msg(with_id(), status.is_server_error()),
    };
    // The provider's own request id (AWS's), which the server sends for its 5xx answers.
    match problem.aws_request_id {
        Some(id) => error.with_request_id(id),
        None => error,
    }
}

#[async_trait]
impl ModelRegistry for HttpProvider {
    async fn create_model(&self, request: CreateModelRequest) -> Result<Model> {
        let about = subject(ResourceKind::Model, &request.name);
        let body = body::create_model(&request)?;
        self.json_with(Method::POST, "/v1/models", &body, &about)
            .await
    }

    async fn get_model(&self, name: &ModelName) -> Result<Model> {
        let about = subject(ResourceKind::Model, name);
        self.get(&format!("/v1/models/{name}"), &about).await
    }

    async fn list_models(&self, page: PageRequest) -> Result<Page<Model>> {
        let about = subject(ResourceKind::Model, "");
        self.json(self.paged("/v1/models", &page), &about).await
    }

    async fn update_model(&self, name: &ModelName, request: UpdateModelRequest) -> Result<Model> {
        let about = subject(ResourceKind::Model, name);
        let body = body::update_model(&request)?;
        self.json_with(Method::PATCH, &format!("/v1/models/{name}"), &body, &about)
            .await
    }

    async fn delete_model(&self, name: &ModelName) -> Result<()> {
        let about = subject(ResourceKind::Model, name);
        self.delete(&format!("/v1/models/{name}"), &about).await
    }

    async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion> {
        let about = subject(ResourceKind::Model, &request.model);
        let body = body::create_version(&request)?;
        let path = format!("/v1/models/{}/versions", request.model);
        self.json_with(Method::POST, &path, &body, &about).await
    }

    async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
        let about = subject(ResourceKind::ModelVersion, format!("{model}/{version}"));
        self.get(&format!("/v1/models/{model}/versions/{version}"), &about)
            .await
    }

    async fn list_versions(
        &self,
        model: &ModelName,
        page: PageRequest,
    ) -> Result<Page<ModelVersion>> {
        let about = subject(ResourceKind::Model, model);
        let path = format!("/v1/models/{model}/versions");
        self.json(self.paged(&path, &page), &about).await
    }

    async fn update_version(
        &self,
        model: &ModelName,
        version: u32,
        request: UpdateVersionRequest,
    ) -> Result<ModelVersion> {
        let about = subject(ResourceKind::ModelVersion, format!("{model}/{version}"));
        let body = body::update_version(&request)?;
        let path = format!("/v1/models/{model}/versions/{version}");
        self.json_with(Method::PATCH, &path, &body, &about).await
    }

    async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
        let about = subject(ResourceKind::ModelVersion, format!("{model}/{version}"));
        self.delete(&format!("/v1/models/{model}/versions/{version}"), &about)
            .await
    }
}

#[async_trait]
impl EndpointManager for HttpProvider {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        let about = subject(ResourceKind::Endpoint, &request.name);
        let body = body::create_endpoint(&request)?;
        self.json_with(Method::POST, "/v1/endpoints", &body, &about)
            .await
    }

    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
        let about = subject(ResourceKind::Endpoint, name);
        self.get(&format!("/v1/endpoints/{name}"), &about).await
    }

    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        let about = subject(ResourceKind::Endpoint, "");
        self.json(self.paged("/v1/endpoints", &page), &about).await
    }

    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        let about = subject(ResourceKind::Endpoint, &request.name);
        let body = body::update_endpoint(&request)?;
        let path = format!("/v1/endpoints/{}", request.name);
        self.json_with(Method::PATCH, &path, &body, &about).await
    }

    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        let about = subject(ResourceKind::Endpoint, name);
        self.delete(&format!("/v1/endpoints/{name}"), &about).await
    }

    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        let about = subject(ResourceKind::Endpoint, &request.endpoint);
        let content_type = HeaderValue::from_str(&request.content_type).map_err(|_| {
            Error::invalid(format!(
                "content type '{}' is not a valid header value",
                request.content_type
            ))
        })?;
        let mut builder = self
            .request(
                Method::POST,
                &format!("/v1/endpoints/{}/invocations", request.endpoint),
            )
            .header(header::CONTENT_TYPE, content_type);
        if let Some(accept) = &request.accept {
            let accept = HeaderValue::from_str(accept).map_err(|_| {
                Error::invalid(format!("accept '{accept}' is not a valid header value"))
            })?;
            builder = builder.header(header::ACCEPT, accept);
        }
        if let Some(target) = &request.target_variant {
            builder = builder.header(TARGET_VARIANT_HEADER, target.as_str());
        }
        let response = self.send(builder.body(request.body), &about).await?;
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        let content_type = header_str(&headers, header::CONTENT_TYPE.as_str())
            .unwrap_or("application/octet-stream")
            .to_string();
        let variant = header_str(&headers, VARIANT_HEADER)
            .map(VariantName::new)
            .transpose()
            .map_err(|e| unexpected(&e))?;
        Ok(InvokeResponse::new(body.to_vec(), content_type, variant))
    }
}

#[async_trait]
impl Observability for HttpProvider {
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
        let about = subject(ResourceKind::Endpoint, name);
        self.get(&format!("/v1/endpoints/{name}/overview"), &about)
            .await
    }

    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
        let about = subject(ResourceKind::Endpoint, "");
        self.json(self.paged("/v1/overview", &page), &about).await
    }

    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
        let about = subject(ResourceKind::Endpoint, &query.endpoint);
        let mut params: Vec<(&str, String)> = Vec::new();
        for kind in &query.kinds {
            params.push(("metric", kind.as_str().to_string()));
        }
        let time = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        params.push(("start", time(query.start)));
        params.push(("end", time(query.end)));
        params.push(("period", query.period_seconds.to_string()));
        if let Some(statistic) = query.statistic {
            params.push(("statistic", statistic.as_str().to_string()));
        }
        if let Some(v) = &query.variant {
            params.push(("variant", v.to_string()));
        }
        if let Some(i) = &query.instance {
            params.push(("instance", i.clone()));
        }
        let answer: MetricsAnswer = self
            .json(
                self.request(
                    Method::GET,
                    &format!("/v1/endpoints/{}/metrics", query.endpoint),
                )
                .query(&params),
                &about,
            )
            .await?;
        Ok(answer.series)
    }
}

#[async_trait]
impl Alarms for HttpProvider {
    async fn put_alarm(&self, definition: AlarmDefinition) -> Result<Alarm> {
        let about = subject(ResourceKind::Alarm, &definition.name);
        let path = format!(
            "/v1/endpoints/{}/alarms/{}",
            definition.endpoint, definition.name
        );
        let body = body::put_alarm(&definition)?;
        self.json_with(Method::PUT, &path, &body, &about).await
    }

    async fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm> {
        let about = subject(ResourceKind::Alarm, name);
        self.get(&format!("/v1/endpoints/{endpoint}/alarms/{name}"), &about)
            .await
    }

    async fn list_alarms(&self, endpoint: &EndpointName, page: PageRequest) -> Result<Page<Alarm>> {
        let about = subject(ResourceKind::Endpoint, endpoint);
        let path = format!("/v1/endpoints/{endpoint}/alarms");
        self.json(self.paged(&path, &page), &about).await
    }

    async fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()> {
        let about = subject(ResourceKind::Alarm, name);
        self.delete(&format!("/v1/endpoints/{endpoint}/alarms/{name}"), &about)
            .await
    }
}

#[async_trait]
impl Deployments for HttpProvider {
    async fn list_deployments(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Deployment>> {
        let about = subject(ResourceKind::Endpoint, endpoint);
        let path = format!("/v1/endpoints/{endpoint}/deployments");
        self.json(self.paged(&path, &page), &about).await
    }

    async fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        let about = subject(ResourceKind::Deployment, format!("{endpoint}/{id}"));
        let path = format!("/v1/endpoints/{endpoint}/deployments/{}", path_segment(id)?);
        self.get(&path, &about).await
    }

    async fn stop_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        let about = subject(ResourceKind::Deployment, format!("{endpoint}/{id}"));
        let path = format!(
            "/v1/endpoints/{endpoint}/deployments/{}/stop",
            path_segment(id)?
        );
        self.json(self.request(Method::POST, &path), &about).await
    }
}

#[async_trait]
impl Events for HttpProvider {
    async fn list_events(
        &self,
        query: EventQuery,
        page: PageRequest,
    ) -> Result<Page<EndpointEvent>> {
        query.validate()?;
        let about = subject(ResourceKind::Endpoint, &query.endpoint);
        let path = format!("/v1/endpoints/{}/events", query.endpoint);
        let mut filters: Vec<(&str, String)> = Vec::new();
        if let Some(kind) = &query.kind {
            filters.push(("kind", kind.clone()));
        }
        if let Some(since) = query.since {
            filters.push((
                "since",
                since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ));
        }
        self.json(self.paged(&path, &page).query(&filters), &about)
            .await
    }

    async fn record_event(
        &self,
        endpoint: &EndpointName,
        event: NewEvent,
    ) -> Result<EndpointEvent> {
        event.validate()?;
        let about = subject(ResourceKind::Endpoint, endpoint);
        let path = format!("/v1/endpoints/{endpoint}/events");
        self.json_with(Method::POST, &path, &event, &about).await
    }
}

#[async_trait]
impl Captures for HttpProvider {
    async fn list_captures(
        &self,
        query: CaptureQuery,
        page: PageRequest,
    ) -> Result<Page<CapturedRecord>> {
        query.validate()?;
        let about = subject(ResourceKind::Endpoint, &query.endpoint);
        let time = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        let mut params = vec![("start", time(query.start)), ("end", time(query.end))];
        if let Some(v) = &query.variant {
            params.push(("variant", v.to_string()));
        }
        let path = format!("/v1/endpoints/{}/captures", query.endpoint);
        self.json(self.paged(&path, &page).query(&params), &about)
            .await
    }
}

#[async_trait]
impl Drift for HttpProvider {
    async fn create_baseline(&self, request: CreateBaselineRequest) -> Result<Baseline> {
        request.validate()?;
        let about = subject(ResourceKind::Endpoint, &request.endpoint);
        let path = format!("/v1/endpoints/{}/baselines", request.endpoint);
        self.json_with(Method::POST, &path, &request, &about).await
    }

    async fn get_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<Baseline> {
        let about = subject(ResourceKind::Baseline, format!("{endpoint}/{name}"));
        self.get(
            &format!("/v1/endpoints/{endpoint}/baselines/{name}"),
            &about,
        )
        .await
    }

    async fn list_baselines(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Baseline>> {
        let about = subject(ResourceKind::Endpoint, endpoint);
        let path = format!("/v1/endpoints/{endpoint}/baselines");
        self.json(self.paged(&path, &page), &about).await
    }

    async fn delete_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<()> {
        let about = subject(ResourceKind::Baseline, format!("{endpoint}/{name}"));
        self.delete(
            &format!("/v1/endpoints/{endpoint}/baselines/{name}"),
            &about,
        )
        .await
    }

    async fn drift_report(&self, request: DriftReportRequest) -> Result<DriftReport> {
        request.validate()?;
        let about = subject(
            ResourceKind::Baseline,
            format!("{}/{}", request.endpoint, request.baseline),
        );
        let path = format!("/v1/endpoints/{}/drift-reports", request.endpoint);
        self.json_with(Method::POST, &path, &request, &about).await
    }
}

/// Endpoint dashboards over `/v1/endpoints/{endpoint}/dashboard`.
#[async_trait]
impl Dashboards for HttpProvider {
    async fn put_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
        let about = subject(ResourceKind::Endpoint, endpoint);
        let path = format!("/v1/endpoints/{endpoint}/dashboard");
        self.json(self.request(Method::PUT, &path), &about).await
    }

    async fn get_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
        let about = subject(ResourceKind::Dashboard, endpoint);
        self.get(&format!("/v1/endpoints/{endpoint}/dashboard"), &about)
            .await
    }
}

/// Promotion pipelines over `/v1/pipelines`. The server records its caller (`user:<role>`) in
/// runs' timelines, so the `actor` of [`PromoteRequest`] and [`Pipelines::cancel_run`] is not
/// sent.
#[async_trait]
impl Pipelines for HttpProvider {
    async fn apply_pipeline(&self, request: ApplyPipelineRequest) -> Result<PipelinePlan> {
        let name = &request.spec.pipeline;
        let about = subject(ResourceKind::Pipeline, name);
        let builder = self
            .request(Method::PUT, &format!("/v1/pipelines/{name}"))
            .query(&[("dry_run", request.dry_run)])
            .json(&request.spec);
        self.json(builder, &about).await
    }

    async fn get_pipeline(&self, name: &PipelineName) -> Result<Pipeline> {
        let about = subject(ResourceKind::Pipeline, name);
        self.get(&format!("/v1/pipelines/{name}"), &about).await
    }

    async fn list_pipelines(&self, page: PageRequest) -> Result<Page<Pipeline>> {
        let about = subject(ResourceKind::Pipeline, "");
        self.json(self.paged("/v1/pipelines", &page), &about).await
    }

    async fn delete_pipeline(&self, name: &PipelineName) -> Result<()> {
        let about = subject(ResourceKind::Pipeline, name);
        self.delete(&format!("/v1/pipelines/{name}"), &about).await
    }

    async fn list_runs(
        &self,
        pipeline: &PipelineName,
        page: PageRequest,
    ) -> Result<Page<PipelineRun>> {
        let about = subject(ResourceKind::Pipeline, pipeline);
        let path = format!("/v1/pipelines/{pipeline}/runs");
        self.json(self.paged(&path, &page), &about).await
    }

    async fn get_run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun> {
        let about = subject(ResourceKind::PipelineRun, format!("{pipeline}/{id}"));
        let id = run_segment(id, &about)?;
        self.get(&format!("/v1/pipelines/{pipeline}/runs/{id}"), &about)
            .await
    }

    async fn version_approved(&self, event: ApprovalEvent) -> Result<Vec<PipelineRun>> {
        let about = subject(
            ResourceKind::ModelVersion,
            format!("{}/{}", event.model, event.version),
        );
        let path = format!(
            "/v1/models/{}/versions/{}/pipeline-runs",
            event.model, event.version
        );
        self.json(self.request(Method::POST, &path), &about).await
    }

    async fn promote(&self, request: PromoteRequest) -> Result<PipelineRun> {
        let about = subject(ResourceKind::Pipeline, &request.pipeline);
        let path = format!("/v1/pipelines/{}/promotions", request.pipeline);
        let body = serde_json::json!({"version": request.version, "stage": request.stage});
        self.json_with(Method::POST, &path, &body, &about).await
    }

    async fn cancel_run(
        &self,
        pipeline: &PipelineName,
        id: &str,
        _actor: &str,
    ) -> Result<PipelineRun> {
        let about = subject(ResourceKind::PipelineRun, format!("{pipeline}/{id}"));
        let id = run_segment(id, &about)?;
        let path = format!("/v1/pipelines/{pipeline}/runs/{id}/cancel");
        self.json(self.request(Method::POST, &path), &about).await
    }
}

/// A run id as one path segment: `v<version>`; anything else names no run.
fn run_segment<'a>(id: &'a str, about: &Subject) -> Result<&'a str> {
    match id.strip_prefix('v').map(str::parse::<u32>) {
        Some(Ok(_)) => Ok(id),
        _ => Err(Error::not_found(about.kind, &about.name)),
    }
}

/// A deployment id as one path segment ([`Deployment::check_id`]).
fn path_segment(id: &str) -> Result<&str> {
    Deployment::check_id(id).map(|()| id)
}

/// The body is streamed from the file, progress reported as it goes. The time limit grows
/// with the size (at least 1 MiB/s on top of the usual limit).
#[async_trait]
impl Artifacts for HttpProvider {
    async fn upload_artifact(&self, upload: ArtifactUpload) -> Result<UploadedArtifact> {
        use futures::TryStreamExt;
        let about = subject(ResourceKind::Model, &upload.model);
        let file = tokio::fs::File::open(&upload.file)
            .await
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", upload.file.display())))?;
        let mut query = vec![("digest", upload.digest.clone())];
        if let Some(destination) = &upload.options.destination {
            query.push(("destination", destination.clone()));
        }
        let reporter = upload.clone();
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(
            move |chunk| {
                sent += chunk.len() as u64;
                reporter.report(sent);
            },
        );
        let limit = self.timeout + Duration::from_secs(upload.bytes / (1024 * 1024));
        let builder = self
            .request(
                Method::POST,
                &format!("/v1/models/{}/artifacts", upload.model),
            )
            .query(&query)
            .header(header::CONTENT_TYPE, "application/gzip")
            .header(header::CONTENT_LENGTH, upload.bytes)
            .timeout(limit)
            .body(reqwest::Body::wrap_stream(stream));
        self.json(builder, &about).await
    }
}

impl Provider for HttpProvider {
    fn name(&self) -> &str {
        "http"
    }

    fn capabilities(&self) -> Capabilities {
        self.remote
            .read()
            .map(|r| r.capabilities)
            .unwrap_or(Capabilities::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(slug: &str, status: u16) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": format!("{PROBLEM_TYPE_BASE}{slug}"),
            "title": "x",
            "status": status,
            "detail": "what happened",
            "request_id": "r-1",
        }))
        .unwrap()
    }

    #[test]
    fn unknown_answers_become_provider_errors() {
        let about = subject(ResourceKind::Model, "m");
        let e = error_from_response(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>proxy error</html>",
            &about,
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("proxy error"), "{e}");
        let e = error_from_response(
            StatusCode::IM_A_TEAPOT,
            &HeaderMap::new(),
            &problem("teapot", 418),
            &about,
        );
        assert!(matches!(e, Error::Provider { .. }), "{e:?}");
    }

    #[test]
    fn not_found_without_resource_uses_the_subject() {
        let about = subject(ResourceKind::ModelVersion, "m/3");
        let e = error_from_response(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            &problem("not_found", 404),
            &about,
        );
        assert_eq!(e.to_string(), "model version 'm/3' not found");
    }

    #[test]
    fn the_aws_request_id_comes_back_as_the_errors_request_id() {
        let about = subject(ResourceKind::Model, "m");
        let body = serde_json::to_vec(&serde_json::json!({
            "type": format!("{PROBLEM_TYPE_BASE}provider"),
            "title": "Bad Gateway",
            "status": 502,
            "detail": "the model provider failed",
            "request_id": "r-1",
            "aws_request_id": "aws-7",
            "retryable": false,
        }))
        .unwrap();
        let e = error_from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &body, &about);
        assert_eq!(e.kind(), mlm_core::ErrorKind::Provider);
        assert_eq!(e.request_id(), Some("aws-7"));
        let e = error_from_response(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            &problem("not_found", 404),
            &about,
        );
        assert_eq!(e.request_id(), None);
    }
}
