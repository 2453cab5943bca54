//! Issue 9, defect 9: after a `kill -9` of `mlm serve`, its instance processes kept running
//! (serving, holding ports) until the next start on the same data dir. They end with it now.
#![cfg(all(target_os = "linux", feature = "local"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlm_client::HttpProvider;
use mlm_core::pipeline::{ApplyPipelineRequest, PipelineRun, PipelineSpec, Pipelines, RunState};
use mlm_core::{
    Approval, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, ModelName, ModelRegistry, PageRequest, PipelineName,
    VersionRef, WaitOptions,
};

/// Live processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The fields after the command name: state, ppid, …
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            fields.next() == Some(parent.to_string().as_str()) && state != Some("Z")
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Starts `mlm serve` on the local backend in `data_dir`, on a free loopback port, without
/// tokens: the process and its base URL.
fn start_server(data_dir: &std::path::Path) -> (std::process::Child, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut server = Command::new(env!("CARGO_BIN_EXE_mlm"))
        .current_dir(&root)
        .env_remove("MLM_TOKENS")
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_end_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start_server(dir.path());
    let mlm = HttpProvider::connect(&base, None).await.unwrap();
    let model = ModelName::new("orphans").unwrap();
    mlm.create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    mlm.create_version(
        CreateVersionRequest::new(
            model.clone(),
            "examples/agnews-classifier/model",
            "agnews-classifier",
        )
        .with_approval(Approval::Approved),
    )
    .await
    .unwrap();
    let endpoint = EndpointName::new("orphans").unwrap();
    mlm.create_endpoint(CreateEndpointRequest::single(
        endpoint.clone(),
        VersionRef::new(model, 1),
        "ml.m5.large",
        2,
    ))
    .await
    .unwrap();
    let wait = WaitOptions::with_timeout(Duration::from_secs(90))
        .with_intervals(Duration::from_millis(100), Duration::from_millis(500));
    mlm.wait_until_ready(&endpoint, wait).await.unwrap();
    let instances = children_of(server.id());
    assert_eq!(instances.len(), 2, "two instance processes: {instances:?}");

    server.kill().unwrap(); // SIGKILL: no drain, no clean-up of its own
    server.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while instances.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = instances.iter().filter(|pid| alive(**pid)).collect();
    for pid in &left {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(left.is_empty(), "instances outlived the server: {left:?}");
}

/// Polls run `id` of pipeline `news` until `done`.
async fn wait_for_run(
    mlm: &HttpProvider,
    id: &str,
    done: impl Fn(&PipelineRun) -> bool,
) -> PipelineRun {
    let pipeline = PipelineName::new("news").unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match mlm.get_run(&pipeline, id).await {
            Ok(run) if done(&run) => return run,
            Ok(run) if Instant::now() > deadline => panic!("timed out: {run:#?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn approve_a_version(mlm: &HttpProvider) -> u32 {
    let request = CreateVersionRequest::new(
        ModelName::new("news").unwrap(),
        "examples/agnews-classifier/model",
        "agnews-classifier",
    )
    .with_approval(Approval::Approved);
    mlm.create_version(request).await.unwrap().version
}

/// Issue 13: `kill -9` of the server while a pipeline's canary bakes in staging; started again
/// on the same data directory, the server deploys the version again and finishes the run
/// once (one deployment that counted, one wait for the promotion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_run_survives_a_kill_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start_server(dir.path());
    let mlm = HttpProvider::connect(&base, None).await.unwrap();
    let model = ModelName::new("news").unwrap();
    mlm.create_model(CreateModelRequest::new(model))
        .await
        .unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/agnews-classifier");
    let text = std::fs::read_to_string(root.join("pipeline.yml")).unwrap();
    let text = text.replace("bake_seconds: 30", "bake_seconds: 20");
    let spec = PipelineSpec::parse_in(&text, &root).unwrap();
    mlm.apply_pipeline(ApplyPipelineRequest::new(spec))
        .await
        .unwrap();
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    approve_a_version(&mlm).await;
    wait_for_run(&mlm, "v1", waiting).await;
    let v2 = approve_a_version(&mlm).await;
    let id = format!("v{v2}");
    // The canary's deployment has started: the server dies in the middle of it.
    wait_for_run(&mlm, &id, |r| r.stages[0].deployment.is_some()).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, base) = start_server(dir.path());
    let mlm = HttpProvider::connect(&base, None).await.unwrap();
    let run = wait_for_run(&mlm, &id, |r| r.state != RunState::Running).await;
    assert_eq!(run.state, RunState::AwaitingPromotion, "{run:#?}");
    let count = |kind: &str| run.steps.iter().filter(|s| s.kind == kind).count();
    assert_eq!(count("redeploying"), 1, "{run:#?}");
    assert_eq!(count("deployed"), 1, "{run:#?}");
    assert_eq!(count("awaiting_promotion"), 1, "{run:#?}");
    let staging = mlm
        .get_endpoint(&EndpointName::new("news-staging").unwrap())
        .await
        .unwrap();
    assert_eq!(
        staging.variants[0].model_version.as_ref().unwrap().version,
        v2
    );
    let runs = mlm
        .list_runs(&PipelineName::new("news").unwrap(), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 2, "{runs:?}");
    server.kill().unwrap();
    server.wait().unwrap();
}
