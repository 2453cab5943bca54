//! The pipeline routes over a real socket, against the real local backend: pipeline files in
//! YAML and JSON (errors naming the line, the path's name, inline smoke tests), dry runs, the
//! approval event, promotions (operators only, recorded as the caller), cancels and deletes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlm_core::{
    Approval, CreateModelRequest, CreateVersionRequest, ModelName, ModelRegistry, Provider,
};
use mlm_http::{AppState, Auth, app, auth::parse_token_list};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const OPERATOR: &str = "pipelines-operator-token";
const READER: &str = "pipelines-reader-token";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agnews-classifier")
}

/// A gated pipeline: runs wait for a promotion before their first stage, so nothing deploys.
const GATED: &str = "\
pipeline: news
model: news
stages:
  - name: staging
    endpoint: news-staging
    requires_approval: true
    variants:
      - {name: primary, instance_type: ml.m5.large}
    smoke_test:
      requests:
        - {body: {sentence: Stocks rallied}}
";

struct Server {
    base: String,
    http: Client,
    local: Arc<LocalProvider>,
    _task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = RuntimeConfig::new(
            "python3",
            [
                "-I".to_string(),
                example_dir().join("serve.py").display().to_string(),
            ],
        );
        let config = LocalConfig::in_dir(dir.path())
            .with_artifact_root(example_dir())
            .with_runtime("agnews-classifier", runtime)
            .with_health_interval(Duration::from_millis(100));
        let local = Arc::new(LocalProvider::open(config).await.unwrap());
        let tokens = format!("{OPERATOR}:operator,{READER}:reader");
        let auth = Auth::new(parse_token_list(&tokens).unwrap());
        let provider: Arc<dyn Provider> = local.clone();
        let router = app(AppState::new(provider).with_auth(auth));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            http: Client::new(),
            local,
            _task: task,
            _dir: dir,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    async fn put_yaml(&self, path: &str, body: &str) -> (u16, Value) {
        let request = self
            .call(reqwest::Method::PUT, path, OPERATOR)
            .header("content-type", "application/yaml")
            .body(body.to_owned());
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        answer(
            self.call(reqwest::Method::GET, path, READER)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.call(reqwest::Method::POST, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    /// Registers the model `news` (a pipeline's model must exist).
    async fn model(&self) {
        let news = ModelName::new("news").unwrap();
        self.local
            .create_model(CreateModelRequest::new(news))
            .await
            .unwrap();
    }

    /// Registers version 1 of `news`, approved.
    async fn approved_version(&self) {
        let news = ModelName::new("news").unwrap();
        let artifact = example_dir().join("model").display().to_string();
        let version = CreateVersionRequest::new(news, artifact, "agnews-classifier")
            .with_approval(Approval::Approved);
        self.local.create_version(version).await.unwrap();
    }
}

async fn answer(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_files_are_checked_and_dry_runs_keep_nothing() {
    let server = Server::start().await;
    server.model().await;
    let bad = GATED.replace("requires_approval: true", "requires_approval: maybe");
    let (status, body) = server.put_yaml("/v1/pipelines/news", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        detail(&body).contains("stages[0].requires_approval"),
        "{body}"
    );
    assert!(detail(&body).contains("line 6"), "{body}");

    let (status, body) = server.put_yaml("/v1/pipelines/other", GATED).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        detail(&body).contains("'news'") && detail(&body).contains("'other'"),
        "{body}"
    );

    let file = GATED.replace(
        "\n        - {body: {sentence: Stocks rallied}}",
        " smoke.jsonl",
    );
    let (status, body) = server.put_yaml("/v1/pipelines/news", &file).await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).contains("smoke.jsonl"), "{body}");

    let (status, body) = server
        .put_yaml("/v1/pipelines/news?dry_run=true", GATED)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["dry_run"].as_bool(), body["action"].as_str()),
        (Some(true), Some("created"))
    );
    assert_eq!(body["stages"][0]["action"], "create_endpoint");
    let (status, _) = server.get("/v1/pipelines/news").await;
    assert_eq!(status, 404);

    let unsupported = server
        .call(reqwest::Method::PUT, "/v1/pipelines/news", OPERATOR)
        .header("content-type", "text/plain")
        .body(GATED)
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status().as_u16(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_started_promoted_by_operators_cancelled_and_deleted() {
    let server = Server::start().await;
    server.model().await;
    let (status, plan) = server.put_yaml("/v1/pipelines/news", GATED).await;
    assert_eq!(
        (status, plan["action"].as_str()),
        (201, Some("created")),
        "{plan}"
    );
    let (status, plan) = server.put_yaml("/v1/pipelines/news", GATED).await;
    assert_eq!(
        (status, plan["action"].as_str()),
        (200, Some("unchanged")),
        "{plan}"
    );
    // The same pipeline as JSON.
    let spec: Value =
        serde_json::to_value(mlm_core::pipeline::PipelineSpec::parse(GATED).unwrap()).unwrap();
    let (status, _) = answer(
        server
            .call(reqwest::Method::PUT, "/v1/pipelines/news", OPERATOR)
            .json(&spec)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    server.approved_version().await;
    let start = "/v1/models/news/versions/1/pipeline-runs";
    let (status, runs) = server.post(start, OPERATOR, None).await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs[0]["id"], "v1");
    let (_, again) = server.post(start, OPERATOR, None).await;
    assert_eq!(again.as_array().map(Vec::len), Some(1), "{again}");

    let run = wait_for_state(&server, "awaiting_promotion").await;
    assert_eq!(run["stages"][0]["state"], "awaiting_promotion");
    let (status, list) = server.get("/v1/pipelines/news/runs?limit=10").await;
    assert_eq!((status, list["items"][0]["id"].as_str()), (200, Some("v1")));
    let (status, pipeline) = server.get("/v1/pipelines/news").await;
    assert_eq!(status, 200);
    assert_eq!(pipeline["active_runs"][0]["id"], "v1", "{pipeline}");
    let (_, pipelines) = server.get("/v1/pipelines").await;
    assert_eq!(pipelines["items"][0]["spec"]["pipeline"], "news");

    let promotion = json!({"version": 1, "stage": "staging"});
    let promotions = "/v1/pipelines/news/promotions";
    let (status, _) = server
        .post(promotions, READER, Some(promotion.clone()))
        .await;
    assert_eq!(status, 403);
    let strict = json!({"version": 1, "stage": "staging", "by": "me"});
    let (status, _) = server.post(promotions, OPERATOR, Some(strict)).await;
    assert_eq!(status, 400);
    let wrong = json!({"version": 2, "stage": "staging"});
    let (status, body) = server.post(promotions, OPERATOR, Some(wrong)).await;
    assert_eq!(status, 404, "{body}");

    let (status, run) = server
        .post("/v1/pipelines/news/runs/v1/cancel", OPERATOR, None)
        .await;
    assert_eq!(
        (status, run["state"].as_str()),
        (200, Some("cancelled")),
        "{run}"
    );
    let last = run["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "user:operator", "{run}");
    let (status, body) = server.post(promotions, OPERATOR, Some(promotion)).await;
    assert_eq!(status, 409, "{body}");
    assert!(detail(&body).contains("cancelled"), "{body}");

    let delete = server.call(reqwest::Method::DELETE, "/v1/pipelines/news", OPERATOR);
    assert_eq!(delete.send().await.unwrap().status().as_u16(), 204);
    let (status, _) = server.get("/v1/pipelines/news/runs/v1").await;
    assert_eq!(status, 404);
}

async fn wait_for_state(server: &Server, state: &str) -> Value {
    for _ in 0..100 {
        let (status, run) = server.get("/v1/pipelines/news/runs/v1").await;
        assert_eq!(status, 200, "{run}");
        if run["state"] == state {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run v1 never reached {state}");
}
