//! Promotion pipelines on the local backend (issue 13), with the example classifier as real
//! processes: seed 001's configuration end to end, an approval delivered twice, and a server
//! that dies mid-run and finishes the run once after it starts again.

mod common;

use std::time::Duration;

use common::{RUNTIME, config, ensure_model, version_request};
use mlm_core::pipeline::{
    ApplyPipelineRequest, ApprovalEvent, PipelineRun, PipelineSpec, Pipelines, PromoteRequest,
    RunState, StageState,
};
use mlm_core::{
    Approval, Deployments, EndpointManager, EndpointName, ErrorKind, ModelName, ModelRegistry,
    PageRequest, PhaseName, PipelineName, StageName, UpdateVersionRequest,
};
use mlm_local::LocalProvider;

/// Seed 001's pipeline file as shipped in `examples/`, its smoke-test file read the way
/// clients read it, with a shorter canary bake so the test does not wait 30 s per version.
fn seed_pipeline(bake_seconds: u32) -> PipelineSpec {
    let dir = common::example_dir();
    let text = std::fs::read_to_string(dir.join("pipeline.yml")).expect("the example pipeline");
    let text = text.replace("bake_seconds: 30", &format!("bake_seconds: {bake_seconds}"));
    PipelineSpec::parse_in(&text, &dir).expect("the example and its smoke-test file")
}

fn names() -> (PipelineName, EndpointName, EndpointName, StageName) {
    (
        PipelineName::new("news").unwrap(),
        EndpointName::new("news-staging").unwrap(),
        EndpointName::new("news-prod").unwrap(),
        StageName::new("production").unwrap(),
    )
}

/// Registers a pending version of `news`, then approves it, as a user would.
async fn approve_new_version(p: &LocalProvider, env: &[(&str, &str)]) -> u32 {
    let model = ensure_model(p, "news").await;
    let mut request = version_request(model.clone(), RUNTIME);
    for (k, v) in env {
        request = request.with_env(*k, *v);
    }
    let version = p.create_version(request).await.unwrap().version;
    let approve = UpdateVersionRequest::new().with_approval(Approval::Approved);
    p.update_version(&model, version, approve).await.unwrap();
    version
}

async fn wait_for_run(
    p: &LocalProvider,
    id: &str,
    done: impl Fn(&PipelineRun) -> bool,
) -> PipelineRun {
    let pipeline = names().0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        match p.get_run(&pipeline, id).await {
            Ok(run) if done(&run) => return run,
            Ok(run) if tokio::time::Instant::now() > deadline => panic!("timed out: {run:#?}"),
            Err(e) if e.kind() != ErrorKind::NotFound => panic!("{e}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The versions `endpoint` serves, and how: (instance type, count, serverless max concurrency).
async fn served(
    p: &LocalProvider,
    endpoint: &EndpointName,
) -> Vec<(u32, Option<String>, u32, Option<u32>)> {
    let e = p.get_endpoint(endpoint).await.unwrap();
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

fn steps(run: &PipelineRun, kind: &str) -> usize {
    run.steps.iter().filter(|s| s.kind == kind).count()
}

/// v3 answers 5xx: its smoke test fails, staging is rolled back to v2, production (v1) is
/// untouched, and promoting v3 is refused with the reason.
async fn failing_version_is_rolled_back_in_staging(p: &LocalProvider, v1: u32, v2: u32) -> u32 {
    let (pipeline, staging, prod, production) = names();
    let promote = |v| PromoteRequest::new(pipeline.clone(), v, production.clone(), "user:ops");
    // v3 answers 5xx: its smoke test fails, staging is rolled back to v2, production untouched.
    let v3 = approve_new_version(p, &[("MLM_EXAMPLE_ERROR_RATE", "1")]).await;
    let run = wait_for_run(p, &format!("v{v3}"), |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Failed, "{run:#?}");
    let reason = run.reason.clone().unwrap();
    assert!(
        reason.contains("smoke test failed: request 1 of 4"),
        "{reason}"
    );
    assert_eq!(run.stages[0].state, StageState::Failed);
    assert_eq!(run.stages[1].state, StageState::Skipped);
    assert_eq!(steps(&run, "rolled_back"), 1, "{run:#?}");
    assert_eq!(served(p, &staging).await[0].0, v2);
    assert_eq!(served(p, &prod).await[0].0, v1);
    let refused = p.promote(promote(v3)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(refused.message().contains("smoke test failed"), "{refused}");

    v3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_staging_then_promoted_serverless_production() {
    let (_dir, p) = common::provider().await;
    let (pipeline, staging, prod, production) = names();
    ensure_model(&p, "news").await;
    let plan = p
        .apply_pipeline(ApplyPipelineRequest::new(seed_pipeline(2)))
        .await
        .unwrap();
    assert_eq!(plan.action, "created");

    // Approve v1: staging serves it on one ml.m5.large; production is untouched.
    let v1 = approve_new_version(&p, &[]).await;
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    let run = wait_for_run(&p, "v1", waiting).await;
    assert_eq!(
        served(&p, &staging).await,
        vec![(v1, Some("ml.m5.large".into()), 1, None)]
    );
    assert_eq!(
        p.get_endpoint(&prod).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(steps(&run, "smoke_test_passed"), 1, "{run:#?}");

    // Promote: production serves v1 serverless, max concurrency 2.
    let promote = |v| PromoteRequest::new(pipeline.clone(), v, production.clone(), "user:ops");
    p.promote(promote(v1)).await.unwrap();
    let run = wait_for_run(&p, "v1", |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let promoted = run.steps.iter().find(|s| s.kind == "promoted").unwrap();
    assert_eq!(promoted.actor, "user:ops");
    assert_eq!(served(&p, &prod).await, vec![(v1, None, 0, Some(2))]);

    // Approve v2: staging serves v2 (through the canary) while production still serves v1.
    let v2 = approve_new_version(&p, &[]).await;
    wait_for_run(&p, &format!("v{v2}"), waiting).await;
    assert_eq!(served(&p, &staging).await[0].0, v2);
    let v1_run = p.get_run(&pipeline, "v1").await.unwrap();
    assert_eq!(
        v1_run.state,
        RunState::Succeeded,
        "an ended run is not superseded"
    );
    assert_eq!(served(&p, &prod).await[0].0, v1);
    let latest = p
        .list_deployments(&staging, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        latest.items[0].policy.as_ref().unwrap().traffic.as_str(),
        "canary"
    );

    let v3 = failing_version_is_rolled_back_in_staging(&p, v1, v2).await;

    // The pipeline says what each stage serves and what happened.
    let described = p.get_pipeline(&pipeline).await.unwrap();
    let live: Vec<_> = described.stages.iter().map(|s| s.live_version).collect();
    assert_eq!(live, vec![Some(v2), Some(v1)]);
    assert_eq!(described.active_runs.len(), 1, "v2 awaits its promotion");
    let ended: Vec<_> = described
        .recent_runs
        .iter()
        .map(|r| (r.version, r.state))
        .collect();
    assert!(ended.contains(&(v1, RunState::Succeeded)) && ended.contains(&(v3, RunState::Failed)));

    // v4 proves itself in staging: v2, which waited for the same promotion, is superseded.
    let v4 = approve_new_version(&p, &[]).await;
    wait_for_run(&p, &format!("v{v4}"), waiting).await;
    let v2_run = p.get_run(&pipeline, &format!("v{v2}")).await.unwrap();
    assert_eq!(v2_run.state, RunState::Superseded, "{v2_run:#?}");
    let refused = p.promote(promote(v2)).await.unwrap_err();
    assert!(
        refused.message().contains("superseded by version"),
        "{refused}"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_versions_are_never_deployed_and_approvals_start_one_run() {
    let (_dir, p) = common::provider().await;
    let (pipeline, staging, ..) = names();
    let model = ensure_model(&p, "news").await;
    // Approved before the pipeline existed: not deployed by it, even when edited later.
    let old = version_request(model.clone(), RUNTIME).with_approval(Approval::Approved);
    let old = p.create_version(old).await.unwrap().version;
    p.apply_pipeline(ApplyPipelineRequest::new(seed_pipeline(1)))
        .await
        .unwrap();
    let edit = UpdateVersionRequest::new().with_description("retrained notes");
    p.update_version(&model, old, edit).await.unwrap();
    let rejected = p
        .create_version(version_request(model.clone(), RUNTIME).with_approval(Approval::Rejected))
        .await
        .unwrap()
        .version;
    let event = ApprovalEvent::new(model.clone(), rejected);
    let refused = p.version_approved(event).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::FailedPrecondition, "{refused}");

    // The same approval delivered twice (and found by the loop too): one run.
    let pending = p
        .create_version(version_request(model.clone(), RUNTIME))
        .await
        .unwrap();
    let approve = UpdateVersionRequest::new().with_approval(Approval::Approved);
    p.update_version(&model, pending.version, approve)
        .await
        .unwrap();
    let event = ApprovalEvent::new(model.clone(), pending.version);
    let first = p.version_approved(event.clone()).await.unwrap();
    let second = p.version_approved(event).await.unwrap();
    assert_eq!(first[0].id, second[0].id);
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    let run = wait_for_run(&p, &first[0].id, waiting).await;
    assert_eq!(steps(&run, "queued"), 1, "{run:#?}");
    assert_eq!(steps(&run, "started"), 1, "{run:#?}");
    let runs = p.list_runs(&pipeline, PageRequest::first()).await.unwrap();
    assert_eq!(
        runs.items.len(),
        1,
        "the rejected version has no run: {runs:?}"
    );
    assert_eq!(p.get_endpoint(&staging).await.unwrap().variants.len(), 1);
    p.shutdown().await;
}

/// The server dies (as with `kill -9`) while staging bakes a canary of v2; started again, the
/// backend rolls the interrupted update back, and the pipeline deploys v2 again and finishes
/// the run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_by_a_crash_resumes_and_finishes_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::open(config(dir.path())).await.unwrap();
    let (_, staging, ..) = names();
    ensure_model(&p, "news").await;
    p.apply_pipeline(ApplyPipelineRequest::new(seed_pipeline(20)))
        .await
        .unwrap();
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    approve_new_version(&p, &[]).await;
    wait_for_run(&p, "v1", waiting).await;
    let v2 = approve_new_version(&p, &[]).await;
    let id = format!("v{v2}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = p
            .list_deployments(&staging, PageRequest::first())
            .await
            .unwrap();
        if d.items[0].phase.name() == PhaseName::Baking {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no canary bake: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.simulate_crash();

    // The rollout notices the shutdown within a watch interval and lets the data dir go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let p = loop {
        match LocalProvider::open(config(dir.path())).await {
            Ok(p) => break p,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::FailedPrecondition, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let run = wait_for_run(&p, &id, |r| r.state != RunState::Running).await;
    assert_eq!(run.state, RunState::AwaitingPromotion, "{run:#?}");
    assert_eq!(steps(&run, "redeploying"), 1, "{run:#?}");
    assert_eq!(steps(&run, "deployed"), 1, "{run:#?}");
    assert_eq!(steps(&run, "awaiting_promotion"), 1, "{run:#?}");
    assert_eq!(served(&p, &staging).await[0].0, v2);
    let runs = p.list_runs(&names().0, PageRequest::first()).await.unwrap();
    assert_eq!(runs.items.len(), 2, "{runs:?}");
    let model = ModelName::new("news").unwrap();
    assert!(p.get_version(&model, v2).await.is_ok());
    p.shutdown().await;
}

/// Cancelling a run while its canary bakes stops the deployment: staging serves the previous
/// version and the run ends `cancelled`, saying who cancelled it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_run_rolls_its_stage_back() {
    let (_dir, p) = common::provider().await;
    let (pipeline, staging, ..) = names();
    ensure_model(&p, "news").await;
    p.apply_pipeline(ApplyPipelineRequest::new(seed_pipeline(60)))
        .await
        .unwrap();
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    let v1 = approve_new_version(&p, &[]).await;
    wait_for_run(&p, "v1", waiting).await;
    let v2 = approve_new_version(&p, &[]).await;
    let id = format!("v{v2}");
    let baking = |r: &PipelineRun| r.stages[0].deployment.is_some();
    wait_for_run(&p, &id, baking).await;
    let cancelled = p.cancel_run(&pipeline, &id, "user:ops").await.unwrap();
    assert_eq!(cancelled.cancel_requested_by.as_deref(), Some("user:ops"));
    let run = wait_for_run(&p, &id, |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Cancelled, "{run:#?}");
    assert_eq!(run.reason.as_deref(), Some("cancelled by user:ops"));
    assert_eq!(served(&p, &staging).await[0].0, v1);
    let again = p.cancel_run(&pipeline, &id, "user:ops").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::FailedPrecondition);
    p.shutdown().await;
}
