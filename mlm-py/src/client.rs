//! [`NativeClient`]: the core traits of one backend, as Python methods returning
//! [`Operation`]s.
//!
//! Arguments are checked when the method is called (names, request shapes), so mistakes
//! raise at once; the provider is only called when the operation runs.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::FutureExt;
use mlm_client::HttpProvider;
use mlm_core::BaselineName;
use mlm_core::drift::{CreateBaselineRequest, DriftReportRequest, DriftThresholds, SampleSource};
use mlm_core::pipeline::{ApplyPipelineRequest, ApprovalEvent, PipelineSpec, PromoteRequest};
use mlm_core::{
    AlarmDefinition, AlarmName, CaptureQuery, CreateEndpointRequest, CreateModelRequest,
    CreateVersionRequest, EndpointManagerExt, EndpointName, Error, EventQuery, InvokeRequest,
    MetricQuery, ModelName, NewEvent, PageRequest, PipelineName, Provider, StageName,
    UpdateEndpointRequest, UpdateModelRequest, UpdateVersionRequest, VariantName, WaitOptions,
};
use mlm_local::{LocalConfig, LocalProvider};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{from_py, parse, to_py, to_value};
use crate::errors::to_py_err;
use crate::operation::{OpFuture, Operation, Output};

/// A client of one backend. Build it with `open_local`, `open_http` or `open_aws`.
#[pyclass(frozen, module = "mlm._mlm")]
pub(crate) struct NativeClient {
    /// `None` once closed.
    provider: RwLock<Option<Arc<dyn Provider>>>,
    /// The local backend, to stop its instances on close (and then drop it, which releases
    /// its data directory).
    local: Mutex<Option<LocalProvider>>,
    /// `local`, `http` or `aws`.
    kind: &'static str,
    /// Where it points: the data directory or the URL.
    target: String,
}

fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py_err(py, Error::invalid(message))
}

fn model_name(py: Python<'_>, name: &str) -> PyResult<ModelName> {
    ModelName::new(name).map_err(|e| to_py_err(py, e))
}

fn endpoint_name(py: Python<'_>, name: &str) -> PyResult<EndpointName> {
    EndpointName::new(name).map_err(|e| to_py_err(py, e))
}

fn alarm_name(py: Python<'_>, name: &str) -> PyResult<AlarmName> {
    AlarmName::new(name).map_err(|e| to_py_err(py, e))
}

fn baseline_name(py: Python<'_>, name: &str) -> PyResult<BaselineName> {
    BaselineName::new(name).map_err(|e| to_py_err(py, e))
}

fn pipeline_name(py: Python<'_>, name: &str) -> PyResult<PipelineName> {
    PipelineName::new(name).map_err(|e| to_py_err(py, e))
}

/// Who the timeline records for this process's promotions, cancels and approvals (a server
/// records its caller instead).
const PYTHON_ACTOR: &str = "user:python";

fn page(page_size: Option<u32>, page_token: Option<String>) -> PageRequest {
    let mut page = PageRequest::first();
    page.page_size = page_size;
    page.page_token = page_token;
    page
}

fn seconds(py: Python<'_>, what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| invalid(py, format!("{what} must be a number of seconds >= 0")))
}

/// Boxes an operation's future.
fn op<F>(future: F) -> Operation
where
    F: Future<Output = mlm_core::Result<Output>> + Send + 'static,
{
    Operation::new(future.boxed())
}

fn json<T: serde::Serialize>(value: mlm_core::Result<T>) -> mlm_core::Result<Output> {
    to_value(&value?).map(Output::Json)
}

impl NativeClient {
    fn apply_pipeline(
        &self,
        py: Python<'_>,
        spec: PipelineSpec,
        dry_run: bool,
    ) -> PyResult<Operation> {
        let mut request = ApplyPipelineRequest::new(spec);
        request.dry_run = dry_run;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.apply_pipeline(request).await) }))
    }

    fn new(provider: Arc<dyn Provider>, local: Option<LocalProvider>, target: String) -> Self {
        let kind = match provider.name() {
            "local" => "local",
            "http" => "http",
            _ => "aws",
        };
        Self {
            provider: RwLock::new(Some(provider)),
            local: Mutex::new(local),
            kind,
            target,
        }
    }

    fn provider(&self, py: Python<'_>) -> PyResult<Arc<dyn Provider>> {
        self.provider
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                to_py_err(
                    py,
                    Error::failed_precondition(format!(
                        "this {} client is closed: open a new one",
                        self.kind
                    )),
                )
            })
    }
}

/// The local backend's configuration: `config` (a dict of `LocalConfig` fields) or the TOML
/// file `config_path` (either `LocalConfig` fields at the top level, or an `mlm serve`
/// configuration with a `[local]` section), else the defaults `mlm serve` uses
/// ([`LocalConfig::discover`]); `data_dir` overrides the configured directory.
fn local_config(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
    config_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> PyResult<LocalConfig> {
    let mut config = match (config, config_path) {
        (Some(_), Some(_)) => {
            return Err(invalid(py, "give either config or config_path, not both"));
        }
        (Some(dict), None) => parse::<LocalConfig>("config", dict)?,
        (None, Some(path)) => LocalConfig::from_toml_file(&path).map_err(|e| to_py_err(py, e))?,
        (None, None) => LocalConfig::discover(&std::env::current_dir().unwrap_or_default()),
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    Ok(config)
}

/// An [`mlm_aws::AwsConfig`] from a dict of its fields. serde_json's errors name neither the
/// key nor the field, so each key is read on its own first: a mistake names its key.
fn aws_config(py: Python<'_>, dict: &Bound<'_, PyAny>) -> PyResult<mlm_aws::AwsConfig> {
    let dict = dict
        .cast::<PyDict>()
        .map_err(|_| invalid(py, "the AWS config must be a dict of AwsConfig fields"))?;
    let mut fields = serde_json::Map::new();
    for (key, value) in dict.iter() {
        let key: String = key
            .extract()
            .map_err(|_| invalid(py, "the AWS config's keys must be strings"))?;
        let value = from_py(&value).map_err(|e| invalid(py, format!("{key}: {}", e.value(py))))?;
        let one = serde_json::Map::from_iter([(key.clone(), value.clone())]);
        serde_json::from_value::<mlm_aws::AwsConfig>(serde_json::Value::Object(one))
            .map_err(|e| invalid(py, format!("{key}: {e}")))?;
        fields.insert(key, value);
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| invalid(py, format!("AWS config: {e}")))
}

#[pymethods]
impl NativeClient {
    /// Opens the local backend (see `local_config`).
    #[staticmethod]
    #[pyo3(signature = (data_dir=None, config=None, config_path=None))]
    fn open_local(
        py: Python<'_>,
        data_dir: Option<PathBuf>,
        config: Option<Bound<'_, PyAny>>,
        config_path: Option<PathBuf>,
    ) -> PyResult<Operation> {
        let config = local_config(py, config.as_ref(), config_path, data_dir)?;
        Ok(op(async move {
            let target = config.data_dir.display().to_string();
            let local = LocalProvider::open(config).await?;
            Ok(Output::Client(Self::new(
                Arc::new(local.clone()),
                Some(local),
                target,
            )))
        }))
    }

    /// Connects to an `mlm serve` REST server; `ca_certificate` is a PEM file of a CA to trust
    /// besides the platform's roots (a server with a private CA's certificate).
    #[staticmethod]
    #[pyo3(signature = (url, token=None, ca_certificate=None))]
    fn open_http(url: String, token: Option<String>, ca_certificate: Option<PathBuf>) -> Operation {
        op(async move {
            let mut builder = HttpProvider::builder(url.clone()).token(token);
            if let Some(path) = ca_certificate {
                let pem = std::fs::read(&path).map_err(|e| {
                    Error::invalid(format!(
                        "ca_certificate: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                builder = builder.ca_certificate_pem(pem);
            }
            let provider = builder.connect().await?;
            Ok(Output::Client(Self::new(Arc::new(provider), None, url)))
        })
    }

    /// Opens the AWS backend: the SDK's default chain (environment, profile, SSO, instance
    /// roles) with `config` (a dict of `mlm_aws::AwsConfig` fields) applied over it.
    #[staticmethod]
    #[pyo3(signature = (config=None))]
    fn open_aws(py: Python<'_>, config: Option<Bound<'_, PyAny>>) -> PyResult<Operation> {
        let config = match config {
            Some(dict) => aws_config(py, &dict)?,
            None => mlm_aws::AwsConfig::default(),
        };
        let builder =
            mlm_aws::AwsProviderBuilder::from_config(&config).map_err(|e| to_py_err(py, e))?;
        Ok(op(async move {
            let provider = builder.build().await?;
            let region = provider.region().to_string();
            Ok(Output::Client(Self::new(Arc::new(provider), None, region)))
        }))
    }

    /// `local`, `http` or `aws`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The data directory (local) or the server's URL (http) or the region (aws).
    #[getter]
    fn target(&self) -> &str {
        &self.target
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.provider
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// What the backend supports (the core `Capabilities` as a dict).
    fn capabilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let caps = self.provider(py)?.capabilities();
        to_py(py, &to_value(&caps).map_err(|e| to_py_err(py, e))?)
    }

    /// Closes the client; the local backend drains and stops its instances (its endpoints
    /// come back the next time the data directory is opened). Closing twice is harmless.
    fn close(&self) -> Operation {
        let provider = self
            .provider
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner()).take();
        op(async move {
            drop(provider);
            if let Some(local) = local {
                local.shutdown().await;
            }
            Ok(Output::Unit)
        })
    }

    // ---- models ----

    fn create_model(&self, py: Python<'_>, request: Bound<'_, PyAny>) -> PyResult<Operation> {
        let req: CreateModelRequest = parse("create_model", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.create_model(req).await) }))
    }

    fn get_model(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = model_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_model(&name).await) }))
    }

    #[pyo3(signature = (page_size=None, page_token=None))]
    fn list_models(
        &self,
        py: Python<'_>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_models(page).await) }))
    }

    fn update_model(
        &self,
        py: Python<'_>,
        name: &str,
        request: Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let name = model_name(py, name)?;
        let req: UpdateModelRequest = parse("update_model", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.update_model(&name, req).await) }))
    }

    fn delete_model(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = model_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_model(&name).await?;
            Ok(Output::Unit)
        }))
    }

    // ---- versions ----

    fn create_version(&self, py: Python<'_>, request: Bound<'_, PyAny>) -> PyResult<Operation> {
        let req: CreateVersionRequest = parse("create_version", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.create_version(req).await) }))
    }

    fn get_version(&self, py: Python<'_>, model: &str, version: u32) -> PyResult<Operation> {
        let model = model_name(py, model)?;
        let p = self.provider(py)?;
        Ok(op(
            async move { json(p.get_version(&model, version).await) },
        ))
    }

    #[pyo3(signature = (model, page_size=None, page_token=None))]
    fn list_versions(
        &self,
        py: Python<'_>,
        model: &str,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let model = model_name(py, model)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_versions(&model, page).await) }))
    }

    fn update_version(
        &self,
        py: Python<'_>,
        model: &str,
        version: u32,
        request: Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let model = model_name(py, model)?;
        let req: UpdateVersionRequest = parse("update_version", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            json(p.update_version(&model, version, req).await)
        }))
    }

    fn delete_version(&self, py: Python<'_>, model: &str, version: u32) -> PyResult<Operation> {
        let model = model_name(py, model)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_version(&model, version).await?;
            Ok(Output::Unit)
        }))
    }

    // ---- endpoints ----

    fn create_endpoint(&self, py: Python<'_>, request: Bound<'_, PyAny>) -> PyResult<Operation> {
        let req: CreateEndpointRequest = parse("create_endpoint", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.create_endpoint(req).await) }))
    }

    fn get_endpoint(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = endpoint_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_endpoint(&name).await) }))
    }

    #[pyo3(signature = (page_size=None, page_token=None))]
    fn list_endpoints(
        &self,
        py: Python<'_>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_endpoints(page).await) }))
    }

    fn update_endpoint(&self, py: Python<'_>, request: Bound<'_, PyAny>) -> PyResult<Operation> {
        let req: UpdateEndpointRequest = parse("update_endpoint", &request)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.update_endpoint(req).await) }))
    }

    fn delete_endpoint(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = endpoint_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_endpoint(&name).await?;
            Ok(Output::Unit)
        }))
    }

    /// Polls until the endpoint is `InService` (the core's `wait_until_ready`), reporting
    /// every description it reads as a progress event.
    fn wait_until_ready(
        &self,
        py: Python<'_>,
        name: &str,
        timeout: f64,
        initial_interval: f64,
        max_interval: f64,
    ) -> PyResult<Operation> {
        let name = endpoint_name(py, name)?;
        let options = WaitOptions::with_timeout(seconds(py, "timeout", timeout)?).with_intervals(
            seconds(py, "initial_interval", initial_interval)?,
            seconds(py, "max_interval", max_interval)?,
        );
        let p = self.provider(py)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let future: OpFuture = async move {
            let mut report = |endpoint: &mlm_core::Endpoint| {
                if let Ok(value) = to_value(endpoint) {
                    // The receiver is gone only when nobody watches: nothing to do.
                    let _ = tx.send(value);
                }
            };
            json(p.wait_until_ready_with(&name, options, &mut report).await)
        }
        .boxed();
        Ok(Operation::with_progress(future, Some(rx)))
    }

    /// Packs `dir`, uploads it (progress events `{"sent", "total"}`) and registers it as
    /// `request` (whose `artifact_uri` is not used).
    #[pyo3(signature = (dir, request, destination=None))]
    fn push_version(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        request: Bound<'_, PyAny>,
        destination: Option<String>,
    ) -> PyResult<Operation> {
        let version: CreateVersionRequest = parse("push_version", &request)?;
        let p = self.provider(py)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let report = move |sent: u64, total: u64| {
            // The receiver is gone only when nobody watches: nothing to do.
            let _ = tx.send(serde_json::json!({ "sent": sent, "total": total }));
        };
        let mut options = mlm_core::UploadOptions::default().with_progress(Arc::new(report));
        options.destination = destination;
        let push = mlm_core::archive::PushRequest::new(dir, version).with_options(options);
        let future: OpFuture =
            async move { json(mlm_core::archive::push_version(p.as_ref(), push).await) }.boxed();
        Ok(Operation::with_progress(future, Some(rx)))
    }

    /// Polls until the endpoint no longer exists, reporting every description it reads while
    /// it does as a progress event.
    fn wait_until_deleted(
        &self,
        py: Python<'_>,
        name: &str,
        timeout: f64,
        initial_interval: f64,
        max_interval: f64,
    ) -> PyResult<Operation> {
        let name = endpoint_name(py, name)?;
        let options = WaitOptions::with_timeout(seconds(py, "timeout", timeout)?).with_intervals(
            seconds(py, "initial_interval", initial_interval)?,
            seconds(py, "max_interval", max_interval)?,
        );
        let p = self.provider(py)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let future: OpFuture = async move {
            let mut report = |endpoint: &mlm_core::Endpoint| {
                if let Ok(value) = to_value(endpoint) {
                    let _ = tx.send(value);
                }
            };
            p.wait_until_deleted_with(&name, options, &mut report)
                .await?;
            Ok(Output::Unit)
        }
        .boxed();
        Ok(Operation::with_progress(future, Some(rx)))
    }

    /// Sends one inference request.
    #[pyo3(signature = (endpoint, body, content_type, accept=None, target_variant=None))]
    fn invoke(
        &self,
        py: Python<'_>,
        endpoint: &str,
        body: Vec<u8>,
        content_type: String,
        accept: Option<String>,
        target_variant: Option<&str>,
    ) -> PyResult<Operation> {
        let mut req = InvokeRequest::new(endpoint_name(py, endpoint)?, content_type, body);
        req.accept = accept;
        if let Some(v) = target_variant {
            req = req.with_target_variant(VariantName::new(v).map_err(|e| to_py_err(py, e))?);
        }
        let p = self.provider(py)?;
        Ok(op(async move { Ok(Output::Invoke(p.invoke(req).await?)) }))
    }

    // ---- observability ----

    fn endpoint_overview(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = endpoint_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.endpoint_overview(&name).await) }))
    }

    #[pyo3(signature = (page_size=None, page_token=None))]
    fn list_overviews(
        &self,
        py: Python<'_>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_overviews(page).await) }))
    }

    fn query_metrics(&self, py: Python<'_>, query: Bound<'_, PyAny>) -> PyResult<Operation> {
        let query: MetricQuery = parse("metrics query", &query)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.query_metrics(query).await) }))
    }

    #[pyo3(signature = (query, page_size=None, page_token=None))]
    fn list_captures(
        &self,
        py: Python<'_>,
        query: Bound<'_, PyAny>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let query: CaptureQuery = parse("capture query", &query)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_captures(query, page).await) }))
    }

    // ---- alarms ----

    fn put_alarm(&self, py: Python<'_>, definition: Bound<'_, PyAny>) -> PyResult<Operation> {
        let definition: AlarmDefinition = parse("alarm", &definition)?;
        definition.validate().map_err(|e| to_py_err(py, e))?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.put_alarm(definition).await) }))
    }

    fn get_alarm(&self, py: Python<'_>, endpoint: &str, name: &str) -> PyResult<Operation> {
        let (endpoint, name) = (endpoint_name(py, endpoint)?, alarm_name(py, name)?);
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_alarm(&endpoint, &name).await) }))
    }

    #[pyo3(signature = (endpoint, page_size=None, page_token=None))]
    fn list_alarms(
        &self,
        py: Python<'_>,
        endpoint: &str,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(
            async move { json(p.list_alarms(&endpoint, page).await) },
        ))
    }

    fn delete_alarm(&self, py: Python<'_>, endpoint: &str, name: &str) -> PyResult<Operation> {
        let (endpoint, name) = (endpoint_name(py, endpoint)?, alarm_name(py, name)?);
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_alarm(&endpoint, &name).await?;
            Ok(Output::Unit)
        }))
    }

    // ---- deployments ----

    #[pyo3(signature = (endpoint, page_size=None, page_token=None))]
    fn list_deployments(
        &self,
        py: Python<'_>,
        endpoint: &str,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move {
            json(p.list_deployments(&endpoint, page).await)
        }))
    }

    fn get_deployment(&self, py: Python<'_>, endpoint: &str, id: String) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        Ok(op(
            async move { json(p.get_deployment(&endpoint, &id).await) },
        ))
    }

    fn stop_deployment(&self, py: Python<'_>, endpoint: &str, id: String) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        Ok(op(
            async move { json(p.stop_deployment(&endpoint, &id).await) },
        ))
    }

    // ---- dashboards ----

    fn put_dashboard(&self, py: Python<'_>, endpoint: &str) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.put_dashboard(&endpoint).await) }))
    }

    fn get_dashboard(&self, py: Python<'_>, endpoint: &str) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_dashboard(&endpoint).await) }))
    }

    // ---- events ----

    #[pyo3(signature = (endpoint, kind=None, since=None, page_size=None, page_token=None))]
    fn list_events(
        &self,
        py: Python<'_>,
        endpoint: &str,
        kind: Option<String>,
        since: Option<String>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let mut query = EventQuery::new(endpoint_name(py, endpoint)?);
        query.kind = kind;
        query.since = since
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| Error::invalid(format!("since: '{text}' is not an RFC 3339 time")))
            })
            .transpose()
            .map_err(|e| to_py_err(py, e))?;
        query.validate().map_err(|e| to_py_err(py, e))?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_events(query, page).await) }))
    }

    fn record_event(
        &self,
        py: Python<'_>,
        endpoint: &str,
        event: Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let event: NewEvent = parse("event", &event)?;
        event.validate().map_err(|e| to_py_err(py, e))?;
        let p = self.provider(py)?;
        Ok(op(
            async move { json(p.record_event(&endpoint, event).await) },
        ))
    }

    // ---- drift ----

    /// `source`: `{"samples": [...]}` or `{"window": {"start", "end", "variant"}}`.
    fn create_baseline(
        &self,
        py: Python<'_>,
        endpoint: &str,
        name: &str,
        source: Bound<'_, PyAny>,
    ) -> PyResult<Operation> {
        let (endpoint, name) = (endpoint_name(py, endpoint)?, baseline_name(py, name)?);
        let source: SampleSource = parse("samples", &source)?;
        let request = CreateBaselineRequest::new(endpoint, name, source);
        let p = self.provider(py)?;
        Ok(op(async move { json(p.create_baseline(request).await) }))
    }

    fn get_baseline(&self, py: Python<'_>, endpoint: &str, name: &str) -> PyResult<Operation> {
        let (endpoint, name) = (endpoint_name(py, endpoint)?, baseline_name(py, name)?);
        let p = self.provider(py)?;
        Ok(op(
            async move { json(p.get_baseline(&endpoint, &name).await) },
        ))
    }

    #[pyo3(signature = (endpoint, page_size=None, page_token=None))]
    fn list_baselines(
        &self,
        py: Python<'_>,
        endpoint: &str,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let endpoint = endpoint_name(py, endpoint)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(
            async move { json(p.list_baselines(&endpoint, page).await) },
        ))
    }

    fn delete_baseline(&self, py: Python<'_>, endpoint: &str, name: &str) -> PyResult<Operation> {
        let (endpoint, name) = (endpoint_name(py, endpoint)?, baseline_name(py, name)?);
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_baseline(&endpoint, &name).await?;
            Ok(Output::Unit)
        }))
    }

    #[pyo3(signature = (endpoint, baseline, source, thresholds=None))]
    fn drift_report(
        &self,
        py: Python<'_>,
        endpoint: &str,
        baseline: &str,
        source: Bound<'_, PyAny>,
        thresholds: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Operation> {
        let (endpoint, baseline) = (endpoint_name(py, endpoint)?, baseline_name(py, baseline)?);
        let source: SampleSource = parse("samples", &source)?;
        let thresholds: DriftThresholds = match thresholds {
            Some(t) => parse("thresholds", &t)?,
            None => DriftThresholds::default(),
        };
        thresholds.validate().map_err(|e| to_py_err(py, e))?;
        let request =
            DriftReportRequest::new(endpoint, baseline, source).with_thresholds(thresholds);
        let p = self.provider(py)?;
        Ok(op(async move { json(p.drift_report(request).await) }))
    }

    // ---- pipelines ----

    /// A pipeline file: smoke-test files are read relative to its directory.
    #[pyo3(signature = (path, dry_run=false))]
    fn apply_pipeline_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        dry_run: bool,
    ) -> PyResult<Operation> {
        let spec = PipelineSpec::read_file(&path).map_err(|e| to_py_err(py, e))?;
        self.apply_pipeline(py, spec, dry_run)
    }

    /// A pipeline's YAML or JSON text: smoke-test files are read relative to the current
    /// directory.
    #[pyo3(signature = (text, dry_run=false))]
    fn apply_pipeline_text(
        &self,
        py: Python<'_>,
        text: &str,
        dry_run: bool,
    ) -> PyResult<Operation> {
        let spec = PipelineSpec::parse_in(text, std::path::Path::new("."))
            .map_err(|e| to_py_err(py, e))?;
        self.apply_pipeline(py, spec, dry_run)
    }

    fn get_pipeline(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = pipeline_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_pipeline(&name).await) }))
    }

    #[pyo3(signature = (page_size=None, page_token=None))]
    fn list_pipelines(
        &self,
        py: Python<'_>,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_pipelines(page).await) }))
    }

    fn delete_pipeline(&self, py: Python<'_>, name: &str) -> PyResult<Operation> {
        let name = pipeline_name(py, name)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            p.delete_pipeline(&name).await?;
            Ok(Output::Unit)
        }))
    }

    #[pyo3(signature = (pipeline, page_size=None, page_token=None))]
    fn list_runs(
        &self,
        py: Python<'_>,
        pipeline: &str,
        page_size: Option<u32>,
        page_token: Option<String>,
    ) -> PyResult<Operation> {
        let pipeline = pipeline_name(py, pipeline)?;
        let p = self.provider(py)?;
        let page = page(page_size, page_token);
        Ok(op(async move { json(p.list_runs(&pipeline, page).await) }))
    }

    fn get_run(&self, py: Python<'_>, pipeline: &str, run_id: String) -> PyResult<Operation> {
        let pipeline = pipeline_name(py, pipeline)?;
        let p = self.provider(py)?;
        Ok(op(async move { json(p.get_run(&pipeline, &run_id).await) }))
    }

    fn promote(
        &self,
        py: Python<'_>,
        pipeline: &str,
        version: u32,
        stage: &str,
    ) -> PyResult<Operation> {
        let pipeline = pipeline_name(py, pipeline)?;
        let stage = StageName::new(stage).map_err(|e| to_py_err(py, e))?;
        let request = PromoteRequest::new(pipeline, version, stage, PYTHON_ACTOR);
        let p = self.provider(py)?;
        Ok(op(async move { json(p.promote(request).await) }))
    }

    fn cancel_run(&self, py: Python<'_>, pipeline: &str, run_id: String) -> PyResult<Operation> {
        let pipeline = pipeline_name(py, pipeline)?;
        let p = self.provider(py)?;
        Ok(op(async move {
            json(p.cancel_run(&pipeline, &run_id, PYTHON_ACTOR).await)
        }))
    }

    fn start_pipeline_runs(
        &self,
        py: Python<'_>,
        model: &str,
        version: u32,
    ) -> PyResult<Operation> {
        let mut event = ApprovalEvent::new(model_name(py, model)?, version);
        event.actor = PYTHON_ACTOR.into();
        let p = self.provider(py)?;
        Ok(op(async move { json(p.version_approved(event).await) }))
    }

    fn __repr__(&self) -> String {
        format!("<mlm NativeClient {} {}>", self.kind, self.target)
    }
}
