//! The function against the AWS emulator (moto serves SageMaker, S3, SQS; mlm-aws's test
//! harness starts it): each event kind from its fixture through [`Handler::handle`].

#[path = "../../mlm-aws/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Account, IMAGE, MotoAccount};
use lambda_runtime::{Context, LambdaEvent};
use mlm_aws::AwsProvider;
use mlm_core::pipeline::{ApplyPipelineRequest, PipelineSpec, Pipelines};
use mlm_core::{
    Approval, CreateModelRequest, CreateVersionRequest, EndpointManager, EndpointName, ErrorKind,
    ModelName, ModelRegistry, PageRequest, PipelineName, Provider,
};
use mlm_http::{AppState, Auth};
use mlm_lambda::Handler;
use mlm_lambda::config::{DeployConfig, KeyPattern, LambdaConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "lambda-operator-token-0123";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An invocation with `seconds` left.
fn invocation(payload: Value, seconds: u64) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    context.deadline = (now + Duration::from_secs(seconds)).as_millis() as u64;
    LambdaEvent::new(payload, context)
}

/// One account: a bucket (`models/` and `mlm-state/`), a queue, the provider and the function.
struct Setup {
    account: Account,
    bucket: String,
    queue: String,
    sqs: aws_sdk_sqs::Client,
    provider: AwsProvider,
    handler: Handler,
}

async fn setup(tokens: Option<&str>) -> Setup {
    let account = Account::new();
    account.configure(json!({ "updating_seconds": 0.3 })).await;
    let bucket = account
        .capture_destination()
        .await
        .trim_start_matches("s3://")
        .trim_end_matches("/captures")
        .to_owned();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&account.sdk_config())
            .interceptor(MotoAccount(account.id.clone()))
            .build(),
    );
    let queue = sqs
        .create_queue()
        .queue_name("mlm-deploys")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let state = format!("s3://{bucket}/mlm-state");
    let provider = account
        .builder()
        .with_pipelines_uri(&state)
        .build()
        .await
        .unwrap();
    let mut config = LambdaConfig::default();
    config.state_uri = Some(state);
    let pattern = KeyPattern::parse("models/{model}/{anything}/model.tar.gz").unwrap();
    config.deploy = Some(DeployConfig::new(pattern, IMAGE, &queue));
    let auth = match tokens {
        Some(list) => Auth::new(mlm_http::auth::parse_token_list(list).unwrap()),
        None => Auth::disabled(),
    };
    let handler = Handler::new(provider.clone(), sqs.clone(), config, auth).unwrap();
    Setup {
        account,
        bucket,
        queue,
        sqs,
        provider,
        handler,
    }
}

impl Setup {
    /// Puts an object and answers the `Object Created` event S3 would send for it.
    async fn put(&self, key: &str, body: &[u8]) -> Value {
        let put = self
            .account
            .s3()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
        let mut event = fixture("object-created.json");
        event["detail"]["bucket"]["name"] = json!(self.bucket);
        event["detail"]["object"]["key"] = json!(key);
        event["detail"]["object"]["size"] = json!(body.len());
        event["detail"]["object"]["etag"] = json!(put.e_tag().unwrap().trim_matches('"'));
        event["detail"]["object"]["version-id"] = json!(put.version_id());
        event
    }

    /// Every message on the queue now, parsed.
    async fn messages(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = got.messages();
            if batch.is_empty() {
                return all;
            }
            for m in batch {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn handle(&self, event: Value) -> Value {
        self.handler.handle(invocation(event, 120)).await.unwrap()
    }
}

/// A small `model.tar.gz`.
fn archive() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weights.json"), b"{\"w\": [1, 2, 3]}").unwrap();
    let mut bytes = Vec::new();
    mlm_core::archive::pack_model_dir(dir.path(), &mut bytes).unwrap();
    bytes
}

/// Issue 14's done-when: an HTTP API v2 event for `GET /v1/overview` answers the body `mlm
/// serve`'s router answers over the same backend; tokens are checked as there; a base64 body
/// reaches the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_events_are_served_by_the_router() {
    let tokens = format!("{TOKEN}:operator");
    let s = setup(Some(&tokens)).await;
    s.provider
        .create_model(CreateModelRequest::new(ModelName::new("news").unwrap()))
        .await
        .unwrap();
    let mut event = fixture("http-get-overview.json");
    event["headers"]["authorization"] = json!(format!("Bearer {TOKEN}"));
    let answer = s.handle(event.clone()).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["isBase64Encoded"], false);
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();

    let shared: Arc<dyn Provider> = Arc::new(s.provider.clone());
    let auth = Auth::new(mlm_http::auth::parse_token_list(&tokens).unwrap());
    let served = mlm_http::app(AppState::new(shared).with_auth(auth))
        .oneshot(
            http::Request::get("/v1/overview")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(served.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(body, serde_json::from_slice::<Value>(&bytes).unwrap());

    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let refused = s.handle(event.clone()).await;
    assert_eq!(refused["statusCode"], 401, "{refused}");

    let mut create = event;
    create["headers"]["authorization"] = json!(format!("Bearer {TOKEN}"));
    create["headers"]["content-type"] = json!("application/json");
    create["rawPath"] = json!("/v1/models");
    create["requestContext"]["http"]["method"] = json!("POST");
    create["requestContext"]["http"]["path"] = json!("/v1/models");
    create["isBase64Encoded"] = json!(true);
    use base64::Engine;
    create["body"] = json!(base64::engine::general_purpose::STANDARD.encode(r#"{"name":"churn"}"#));
    let created = s.handle(create).await;
    assert_eq!(created["statusCode"], 201, "{created}");
    assert!(
        created["headers"]["location"]
            .as_str()
            .unwrap()
            .ends_with("/v1/models/churn")
    );
}

/// Seed 004 (issue 14's done-when): `models/news/v7/model.tar.gz` put in S3 → version 1 of
/// `news` (created), a serverless endpoint `news` InService, exactly one message; the same
/// event again changes nothing and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_an_archive_in_s3_deploys_once_and_tells_sqs() {
    let s = setup(None).await;
    let event = s.put("models/news/v7/model.tar.gz", &archive()).await;
    let answer = s.handle(event.clone()).await;
    assert_eq!(answer["outcome"], "sent", "{answer}");

    let messages = s.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["status"], "InService", "{m}");
    assert_eq!(
        (m["model"].clone(), m["version"].clone()),
        (json!("news"), json!(1))
    );
    assert_eq!(m["endpoint"], "news");
    assert_eq!(
        m["artifact"],
        format!("s3://{}/models/news/v7/model.tar.gz", s.bucket)
    );
    assert_eq!(m["etag"], event["detail"]["object"]["etag"]);
    assert!(m.get("error").is_none(), "{m}");

    let endpoint = s
        .provider
        .get_endpoint(&EndpointName::new("news").unwrap())
        .await
        .unwrap();
    let variant = &endpoint.variants[0];
    let serverless = variant.serverless.as_ref().expect("a serverless variant");
    assert_eq!(
        (serverless.memory_mb, serverless.max_concurrency),
        (2048, 5)
    );
    assert_eq!(variant.model_version.as_ref().map(|v| v.version), Some(1));

    let again = s.handle(event).await;
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert!(s.messages().await.is_empty(), "a duplicate sends nothing");
    let model = ModelName::new("news").unwrap();
    let versions = s
        .provider
        .list_versions(&model, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 1, "one version for one object");

    // A new archive under the same model: the next version, the endpoint updated.
    let next = s.put("models/news/v8/model.tar.gz", &archive()).await;
    assert_eq!(s.handle(next).await["message"]["version"], 2);
    assert_eq!(s.messages().await.len(), 1);
}

/// Failures (issue 14): a key that names a model badly and a SageMaker deployment failure
/// each send one `Failed` message with the error and leave no model, version or endpoint;
/// other files under the prefix are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_send_the_error_and_leave_nothing() {
    let s = setup(None).await;
    let ignored = s.put("models/news/v7/README.md", b"notes").await;
    assert_eq!(s.handle(ignored).await["outcome"], "ignored");

    let bad = s.put("models/Bad_Name/v1/model.tar.gz", &archive()).await;
    let answer = s.handle(bad).await;
    assert_eq!(answer["message"]["status"], "Failed", "{answer}");
    let error = answer["message"]["error"].as_str().unwrap();
    assert!(error.contains("Bad_Name"), "{error}");

    // The emulator fails the endpoint's creation, as SageMaker does when health checks fail:
    // the endpoint, the version and the model this deploy made are deleted.
    fail_next(&s, "create", "churn").await;
    let failing = s.put("models/churn/v1/model.tar.gz", &archive()).await;
    let answer = s.handle(failing).await;
    assert_eq!(answer["message"]["status"], "Failed", "{answer}");
    assert_eq!(answer["message"]["version"], 1);
    let churn = EndpointName::new("churn").unwrap();
    let gone = s.provider.get_endpoint(&churn).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    let model = s
        .provider
        .get_model(&ModelName::new("churn").unwrap())
        .await;
    assert_eq!(model.unwrap_err().kind(), ErrorKind::NotFound);

    // A failed update of an existing endpoint: SageMaker rolled it back to the version it
    // served; the new version is deleted, the model and the endpoint stay.
    let first = s.put("models/news/v1/model.tar.gz", &archive()).await;
    assert_eq!(s.handle(first).await["message"]["status"], "InService");
    fail_next(&s, "update", "news").await;
    let second = s.put("models/news/v2/model.tar.gz", &archive()).await;
    let answer = s.handle(second).await;
    assert_eq!(answer["message"]["status"], "Failed", "{answer}");
    let news = ModelName::new("news").unwrap();
    let versions = s.provider.list_versions(&news, PageRequest::first()).await;
    let numbers: Vec<u32> = versions.unwrap().items.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1], "the failed version is gone");
    let endpoint = s
        .provider
        .get_endpoint(&EndpointName::new("news").unwrap())
        .await
        .unwrap();
    assert_eq!(
        endpoint.variants[0]
            .model_version
            .as_ref()
            .map(|v| v.version),
        Some(1)
    );

    let messages = s.messages().await;
    let statuses: Vec<&str> = messages
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["Failed", "Failed", "InService", "Failed"],
        "one message each"
    );
}

/// Queues a failure of the next `create` or `update` of `endpoint` in the emulator.
async fn fail_next(s: &Setup, what: &str, endpoint: &str) {
    let path = format!("/_mlm/fail-next-{what}");
    let body = json!({ "endpoint": endpoint });
    let (status, text) = s.account.control("POST", &path, Some(body)).await;
    assert_eq!(status, 200, "{text}");
}

/// An endpoint not ready before the invocation's deadline is handed off: the schedule's next
/// tick sends the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_outlives_its_invocation_is_finished_by_the_tick() {
    let s = setup(None).await;
    s.account
        .configure(json!({ "creating_seconds": 1.0 }))
        .await;
    let event = s.put("models/news/v1/model.tar.gz", &archive()).await;
    // No time left to wait: the endpoint is still Creating when the invocation returns.
    let answer = s.handler.handle(invocation(event, 1)).await.unwrap();
    assert_eq!(answer["outcome"], "waiting", "{answer}");
    assert!(s.messages().await.is_empty());

    let still = s.handle(fixture("scheduled.json")).await;
    assert_eq!(still["finished"][0]["outcome"], "waiting", "{still}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ticked = s.handle(fixture("scheduled.json")).await;
    assert_eq!(
        ticked["finished"][0]["message"]["status"], "InService",
        "{ticked}"
    );
    assert_eq!(s.messages().await.len(), 1);
    let again = s.handle(fixture("scheduled.json")).await;
    assert_eq!(again["finished"], json!([]), "finished once");
}

/// `SageMaker Model Package State Change` with `Approved` starts the model's pipeline run
/// once however often it is delivered; other statuses start nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_event_starts_the_pipeline_run_once() {
    let s = setup(None).await;
    let model = ModelName::new("news").unwrap();
    s.provider
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    let spec = PipelineSpec::parse(
        "pipeline: news\nmodel: news\nstages:\n  - name: staging\n    endpoint: news-staging\n    \
         requires_approval: true\n    variants: [{name: primary, instance_type: ml.m5.large}]\n",
    )
    .unwrap();
    s.provider
        .apply_pipeline(ApplyPipelineRequest::new(spec))
        .await
        .unwrap();
    let request = CreateVersionRequest::new(model.clone(), "s3://mlm-test/model.tar.gz", IMAGE)
        .with_approval(Approval::Approved);
    s.provider.create_version(request).await.unwrap();

    let mut rejected = fixture("model-package-approved.json");
    rejected["detail"]["ModelApprovalStatus"] = json!("Rejected");
    assert_eq!(s.handle(rejected).await["runs"], json!([]));

    let approved = fixture("model-package-approved.json");
    let answer = s.handle(approved.clone()).await;
    assert_eq!(answer["runs"], json!(["news/v1"]), "{answer}");
    s.handle(approved).await;
    let pipeline = PipelineName::new("news").unwrap();
    let runs = s
        .provider
        .list_runs(&pipeline, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "one run for two deliveries");
}

/// `MLM_TOKENS_SECRET_ARN`: the API tokens are read from a Secrets Manager secret; a secret
/// that is not there is an error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_from_a_secrets_manager_secret() {
    let account = Account::new();
    let client = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&account.sdk_config())
            .interceptor(MotoAccount(account.id.clone()))
            .build(),
    );
    let list = format!("{TOKEN}:operator");
    let created = client
        .create_secret()
        .name("mlm-api-tokens")
        .secret_string(&list)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap();
    let read = mlm_lambda::tokens_from_secret(&client, arn).await.unwrap();
    assert_eq!(read, list);
    assert!(mlm_http::auth::parse_token_list(&read).is_ok());
    let missing = arn.replace("mlm-api-tokens", "nope");
    let error = mlm_lambda::tokens_from_secret(&client, &missing)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
}

/// A deploy an invocation left `working` (it died mid-way) is failed by the tick once stale:
/// what it made is deleted and the error sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_invocation_died_is_failed_by_the_tick() {
    let s = setup(None).await;
    let model = ModelName::new("orphan").unwrap();
    s.provider
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    let artifact = format!("s3://{}/models/orphan/v1/model.tar.gz", s.bucket);
    let request = CreateVersionRequest::new(model.clone(), &artifact, IMAGE);
    s.provider.create_version(request).await.unwrap();
    // What a dead invocation leaves: its marker, `working` for an hour.
    let marker = json!({
        "state": "working",
        "started_at": (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339(),
        "message": {"model": "orphan", "version": 1, "endpoint": null, "status": "Failed",
                    "artifact": artifact, "etag": "abc"},
        "created_model": true,
        "created_endpoint": false,
    });
    let folder = s.provider.state_folder("s3-deploys").unwrap();
    folder.create("dead.json", &marker).await.unwrap().unwrap();

    let ticked = s.handle(fixture("scheduled.json")).await;
    let message = &ticked["finished"][0]["message"];
    assert_eq!(message["status"], "Failed", "{ticked}");
    let error = message["error"].as_str().unwrap();
    assert!(error.contains("ended before"), "{ticked}");
    let gone = s.provider.get_model(&model).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "what it made is deleted");
    assert_eq!(s.messages().await.len(), 1);
    let again = s.handle(fixture("scheduled.json")).await;
    assert_eq!(again["finished"], json!([]), "failed once");
}
