//! The core conformance suite through HTTP: `HttpProvider` → the real server on a loopback
//! socket → `LocalProvider` with real instance processes (the example AG_NEWS classifier).
//!
//! Every case must give the same results as the suite run in-process by mlm-local, which shows
//! the REST mapping (status codes, problem types, wire types, paging) loses nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlm_client::HttpProvider;
use mlm_core::conformance::{Fixture, SampleInvocation};
use mlm_core::{
    Approval, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, ModelName, ModelRegistry, ServerlessConfig, VariantName,
    VariantSpec, WaitOptions,
};
use mlm_http::{AppState, Auth, app, auth::parse_token_list};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

const RUNTIME: &str = "agnews-classifier";
const TOKEN: &str = "conformance-operator-token";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .join("examples")
        .join("agnews-classifier")
}

fn config(data_dir: &Path) -> LocalConfig {
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

/// Stops the server task when the fixture is dropped (instances stop with the provider).
struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `local` on a loopback port, with the operator token [`TOKEN`].
async fn serve(local: LocalProvider) -> (Server, SocketAddr) {
    let auth = Auth::new(parse_token_list(&format!("{TOKEN}:operator")).expect("token"));
    let router = app(AppState::new(Arc::new(local)).with_auth(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let server = Server(tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    }));
    (server, addr)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalProvider::open(config(dir.path()))
        .await
        .expect("open the local provider");
    let (server, addr) = serve(local).await;
    let http = HttpProvider::connect(format!("http://{addr}"), Some(TOKEN.into()))
        .await
        .expect("connect to the server");
    assert_eq!(http.remote_name(), "local");
    let sample = SampleInvocation {
        content_type: "application/json".into(),
        body: serde_json::json!({
            "sentence": "Baseball is one of the most popular sports in the United States."
        })
        .to_string()
        .into_bytes(),
        expected: "Sports".into(),
    };
    Fixture::new(
        Arc::new(http),
        example_dir().join("model").display().to_string(),
        RUNTIME,
        ["ml.m5.large".to_string(), "ml.c5.xlarge".to_string()],
        sample,
    )
    .with_wait(
        WaitOptions::with_timeout(Duration::from_secs(60))
            .with_intervals(Duration::from_millis(50), Duration::from_millis(300)),
    )
    .keep(server)
    .keep(dir)
}

mlm_core::conformance_tests!(fixture);

/// Over REST, a request beyond a serverless variant's `max_concurrency` is a 429 problem that
/// says so, with a `Retry-After`, while the request in the model is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_serverless_invoke_is_a_429_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalProvider::open(config(dir.path())).await.unwrap();
    let model = ModelName::new("news").unwrap();
    local
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    let artifact = example_dir().join("model").display().to_string();
    let version = CreateVersionRequest::new(model, artifact, RUNTIME)
        .with_approval(Approval::Approved)
        .with_env("MLM_EXAMPLE_DELAY_MS", "1000");
    let version = local.create_version(version).await.unwrap().reference();
    let name = EndpointName::new("sls").unwrap();
    let spec = VariantSpec::serverless(
        VariantName::new("primary").unwrap(),
        version,
        ServerlessConfig::new(2048, 1),
    );
    local
        .create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec]))
        .await
        .unwrap();
    let wait = WaitOptions::with_timeout(Duration::from_secs(60));
    local.wait_until_ready(&name, wait).await.unwrap();
    let (_server, addr) = serve(local).await;
    let http = reqwest::Client::new();
    let invoke = || {
        http.post(format!("http://{addr}/v1/endpoints/sls/invocations"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(r#"{"sentence": "Baseball is one of the most popular sports."}"#)
            .send()
    };
    // The first request cold-starts the instance; then two at once: one is in the model.
    assert_eq!(invoke().await.unwrap().status(), 200);
    let (a, b) = futures::join!(invoke(), invoke());
    let (a, b) = (a.unwrap(), b.unwrap());
    let (answered, throttled) = if a.status() == 429 { (b, a) } else { (a, b) };
    assert_eq!(answered.status(), 200);
    assert_eq!(throttled.status(), 429);
    assert_eq!(
        throttled.headers()["content-type"],
        "application/problem+json"
    );
    assert!(throttled.headers().contains_key("retry-after"));
    let problem: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("max_concurrency"), "{problem}");
}
