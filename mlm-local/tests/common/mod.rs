//! Shared setup: a `LocalProvider` in a temporary data directory running the example AG_NEWS
//! classifier (`examples/agnews-classifier`) as its runtime, with real processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::conformance::{Fixture, SampleInvocation};
use mlm_core::{
    Approval, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, InvokeRequest, ModelName, ModelRegistry, VersionRef,
    WaitOptions,
};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

pub(crate) const RUNTIME: &str = "agnews-classifier";
pub(crate) const SPORTS: &str = "Baseball is one of the most popular sports in the United States.";

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

pub(crate) fn example_dir() -> PathBuf {
    repo_root().join("examples").join("agnews-classifier")
}

pub(crate) fn model_dir() -> PathBuf {
    example_dir().join("model")
}

/// The configuration tests use: the example runtime, artifacts from the example folder, fast
/// health checks and drains.
pub(crate) fn config(data_dir: &Path) -> LocalConfig {
    LocalConfig::in_dir(data_dir)
        .with_artifact_root(example_dir())
        .with_runtime(
            RUNTIME,
            RuntimeConfig::new(
                "python3",
                [
                    "-I".to_string(),
                    example_dir().join("serve.py").display().to_string(),
                ],
            ),
        )
        .with_health_interval(Duration::from_millis(200))
        .with_drain_timeout(Duration::from_secs(10))
        .with_startup_timeout(Duration::from_secs(30))
}

pub(crate) fn wait() -> WaitOptions {
    WaitOptions::with_timeout(Duration::from_secs(60))
        .with_intervals(Duration::from_millis(50), Duration::from_millis(300))
}

pub(crate) fn sample() -> SampleInvocation {
    SampleInvocation {
        content_type: "application/json".into(),
        body: serde_json::json!({ "sentence": SPORTS })
            .to_string()
            .into_bytes(),
        expected: "Sports".into(),
    }
}

/// A fresh provider in its own temporary data directory.
pub(crate) async fn provider() -> (tempfile::TempDir, LocalProvider) {
    let dir = tempfile::tempdir().expect("temp dir");
    let provider = LocalProvider::open(config(dir.path()))
        .await
        .expect("open the local provider");
    (dir, provider)
}

pub(crate) async fn fixture() -> Fixture {
    let (dir, provider) = provider().await;
    Fixture::new(
        Arc::new(provider),
        model_dir().display().to_string(),
        RUNTIME,
        ["ml.m5.large".to_string(), "ml.c5.xlarge".to_string()],
        sample(),
    )
    .with_wait(wait())
    .keep(dir)
}

/// `model`, registered first unless it already exists.
pub(crate) async fn ensure_model(p: &LocalProvider, model: &str) -> ModelName {
    let model = ModelName::new(model).unwrap();
    if p.get_model(&model).await.is_err() {
        p.create_model(CreateModelRequest::new(model.clone()))
            .await
            .unwrap();
    }
    model
}

/// A request for a version of `model`: the example model, served by `runtime`.
pub(crate) fn version_request(model: ModelName, runtime: &str) -> CreateVersionRequest {
    CreateVersionRequest::new(model, model_dir().display().to_string(), runtime)
}

/// Registers an approved version of `model` (created if missing) on `runtime`, with the
/// environment variables `env`.
pub(crate) async fn register(
    p: &LocalProvider,
    model: &str,
    runtime: &str,
    env: &[(&str, &str)],
) -> VersionRef {
    let model = ensure_model(p, model).await;
    let mut request = version_request(model, runtime).with_approval(Approval::Approved);
    for (k, v) in env {
        request = request.with_env(*k, *v);
    }
    p.create_version(request).await.unwrap().reference()
}

/// The request for a single-variant endpoint `name` on `count` `ml.m5.large` instances.
pub(crate) fn endpoint_request(
    name: &str,
    version: VersionRef,
    count: u32,
) -> CreateEndpointRequest {
    CreateEndpointRequest::single(
        EndpointName::new(name).unwrap(),
        version,
        "ml.m5.large",
        count,
    )
}

/// Starts creating the endpoint of [`endpoint_request`], without waiting for it.
pub(crate) async fn create_endpoint(
    p: &LocalProvider,
    name: &str,
    version: VersionRef,
    count: u32,
) -> EndpointName {
    let request = endpoint_request(name, version, count);
    let endpoint = request.name.clone();
    p.create_endpoint(request).await.unwrap();
    endpoint
}

/// The details of `endpoint`'s events named `event`, oldest first.
pub(crate) fn events(p: &LocalProvider, endpoint: &EndpointName, event: &str) -> Vec<String> {
    let mut found: Vec<String> = p
        .endpoint_events(endpoint, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.event == event)
        .map(|e| e.detail.unwrap_or_default())
        .collect();
    found.reverse();
    found
}

/// Asserts that `model` has no versions (nothing was registered).
pub(crate) async fn assert_no_versions(p: &LocalProvider, model: &ModelName) {
    let versions = p
        .list_versions(model, mlm_core::PageRequest::first())
        .await
        .unwrap();
    assert!(versions.items.is_empty());
}

/// Creates the endpoint of [`endpoint_request`] and waits until it serves.
pub(crate) async fn deploy(
    p: &LocalProvider,
    endpoint: &str,
    version: VersionRef,
    count: u32,
) -> EndpointName {
    let endpoint = create_endpoint(p, endpoint, version, count).await;
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    endpoint
}

/// Classifies the sports sentence on `endpoint`: the category the model answered.
pub(crate) async fn classify(
    p: &LocalProvider,
    endpoint: &EndpointName,
) -> mlm_core::Result<String> {
    let answer = p
        .invoke(InvokeRequest::json(
            endpoint.clone(),
            &serde_json::json!({ "sentence": SPORTS }),
        ))
        .await?;
    Ok(answer.json()?["category"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// One request a [`Load`] made: when it started, and the category answered or the error.
#[derive(Debug)]
pub(crate) struct Call {
    pub started: DateTime<Utc>,
    pub outcome: mlm_core::Result<String>,
}

impl Call {
    /// Answered, and correctly.
    pub(crate) fn ok(&self) -> bool {
        matches!(&self.outcome, Ok(c) if c == "Sports")
    }
}

/// Clients classifying continuously: `workers` loops, each pausing `pause` between requests,
/// at most `max_per_worker` requests each, until [`finish`](Self::finish).
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Call>>>,
}

impl Load {
    pub(crate) fn start(
        p: &LocalProvider,
        endpoint: &EndpointName,
        workers: usize,
        pause: Duration,
        max_per_worker: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                let (p, endpoint, stop) = (p.clone(), endpoint.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut calls = Vec::new();
                    while calls.len() < max_per_worker && !stop.load(Ordering::SeqCst) {
                        let started = Utc::now();
                        let outcome = classify(&p, &endpoint).await;
                        calls.push(Call { started, outcome });
                        tokio::time::sleep(pause).await;
                    }
                    calls
                })
            })
            .collect();
        Self { stop, workers }
    }

    /// Stops the clients; every request they made, in no particular order.
    pub(crate) async fn finish(self) -> Vec<Call> {
        self.stop.store(true, Ordering::SeqCst);
        let mut calls = Vec::new();
        for worker in self.workers {
            calls.extend(worker.await.expect("a load worker panicked"));
        }
        calls
    }
}
