//! Promotion pipelines on AWS, against the emulator (issue 13): seed 001's pipeline file as
//! shipped in `examples/`, its state in S3, moved by the poller a long-lived server runs.
//!
//! moto runs no model: the smoke test's four requests get answers queued in the emulator (the
//! categories the example model gives), and a version whose environment sets
//! `MLM_EXAMPLE_ERROR_RATE=1` answers `ModelError`, as the emulator fills that gap.

mod common;

use std::time::Duration;

use common::{ARTIFACT, Account, IMAGE};
use mlm_aws::AwsProvider;
use mlm_core::pipeline::{
    ApplyPipelineRequest, PipelineRun, PipelineSpec, Pipelines, PromoteRequest, RunState,
};
use mlm_core::{
    Approval, CreateModelRequest, CreateVersionRequest, EndpointManager, EndpointName, ErrorKind,
    ModelName, ModelRegistry, PipelineName, StageName,
};

/// What the example model answers to the smoke test's sentences, in the file's order.
const CATEGORIES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

fn seed_pipeline() -> PipelineSpec {
    let dir = common::repo_root().join("examples/agnews-classifier");
    let text = std::fs::read_to_string(dir.join("pipeline.yml")).unwrap();
    // The emulator bakes at a fifth of the time; a shorter bake keeps the test short too.
    let text = text.replace("bake_seconds: 30", "bake_seconds: 5");
    PipelineSpec::parse_in(&text, &dir).unwrap()
}

async fn approve(p: &AwsProvider, env: &[(&str, &str)]) -> u32 {
    let mut request = CreateVersionRequest::new(ModelName::new("news").unwrap(), ARTIFACT, IMAGE)
        .with_approval(Approval::Approved);
    for (k, v) in env {
        request = request.with_env(*k, *v);
    }
    p.create_version(request).await.unwrap().version
}

async fn wait_for_run(
    p: &AwsProvider,
    id: &str,
    done: impl Fn(&PipelineRun) -> bool,
) -> PipelineRun {
    let pipeline = PipelineName::new("news").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        match p.get_run(&pipeline, id).await {
            Ok(run) if done(&run) => return run,
            Ok(run) if tokio::time::Instant::now() > deadline => panic!("timed out: {run:#?}"),
            Err(e) if e.kind() != ErrorKind::NotFound => panic!("{e}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// (version, instance type, instance count, serverless max concurrency) of each variant.
async fn served(p: &AwsProvider, name: &str) -> Vec<(u32, Option<String>, u32, Option<u32>)> {
    let e = p
        .get_endpoint(&EndpointName::new(name).unwrap())
        .await
        .unwrap();
    e.variants
        .iter()
        .map(|v| {
            (
                v.model_version.as_ref().unwrap().version,
                v.instance_type.clone(),
                v.desired_instance_count,
                v.serverless.map(|s| s.max_concurrency),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_on_the_emulator() {
    let account = Account::new();
    account
        .configure(serde_json::json!({"updating_seconds": 0.3, "deployment_time_scale": 0.2}))
        .await;
    let state = account
        .capture_destination()
        .await
        .replace("/captures", "/state");
    let p = account
        .builder()
        .with_pipelines_uri(state.clone())
        .build()
        .await
        .unwrap();
    let _poller = p.spawn_pipeline_poller(Some(Duration::from_millis(300)));
    for category in CATEGORIES {
        let answer = serde_json::json!({"category": category}).to_string();
        account.queue_answer(&answer, None).await;
    }
    let model = ModelName::new("news").unwrap();
    p.create_model(CreateModelRequest::new(model))
        .await
        .unwrap();
    p.apply_pipeline(ApplyPipelineRequest::new(seed_pipeline()))
        .await
        .unwrap();

    // Approve v1: staging serves it on one ml.m5.large; production is untouched.
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    let v1 = approve(&p, &[]).await;
    wait_for_run(&p, "v1", waiting).await;
    assert_eq!(
        served(&p, "news-staging").await,
        vec![(v1, Some("ml.m5.large".into()), 1, None)]
    );
    let prod = p
        .get_endpoint(&EndpointName::new("news-prod").unwrap())
        .await;
    assert_eq!(prod.unwrap_err().kind(), ErrorKind::NotFound);

    // Promote: production serves v1 serverless, max concurrency 2.
    let promote = |v| {
        let stage = StageName::new("production").unwrap();
        PromoteRequest::new(PipelineName::new("news").unwrap(), v, stage, "user:ops")
    };
    p.promote(promote(v1)).await.unwrap();
    let run = wait_for_run(&p, "v1", |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    assert_eq!(served(&p, "news-prod").await, vec![(v1, None, 0, Some(2))]);

    // Approve v2: staging serves v2 (a canary on SageMaker) while production serves v1.
    let v2 = approve(&p, &[]).await;
    wait_for_run(&p, &format!("v{v2}"), waiting).await;
    assert_eq!(served(&p, "news-staging").await[0].0, v2);
    assert_eq!(served(&p, "news-prod").await[0].0, v1);

    // v3 fails its smoke test: staging is rolled back to v2; promoting v3 is refused.
    let v3 = approve(&p, &[("MLM_EXAMPLE_ERROR_RATE", "1")]).await;
    let run = wait_for_run(&p, &format!("v{v3}"), |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Failed, "{run:#?}");
    assert!(
        run.reason.as_deref().unwrap().contains("smoke test failed"),
        "{run:#?}"
    );
    assert_eq!(served(&p, "news-staging").await[0].0, v2);
    assert_eq!(served(&p, "news-prod").await[0].0, v1);
    let refused = p.promote(promote(v3)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(refused.message().contains("smoke test failed"), "{refused}");

    // The state is in S3: another provider (a restarted server, a Lambda) reads the same runs.
    let other = account
        .builder()
        .with_pipelines_uri(state)
        .build()
        .await
        .unwrap();
    let again = other
        .get_run(&PipelineName::new("news").unwrap(), "v1")
        .await
        .unwrap();
    assert_eq!(again.state, RunState::Succeeded);
}
