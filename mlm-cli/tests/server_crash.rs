//! Issue 9, defect 9: after a `kill -9` of `mlm serve`, its instance processes kept running
//! (serving, holding ports) until the next start on the same data dir. They end with it now.
#![cfg(all(target_os = "linux", feature = "local"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlm_client::HttpProvider;
use mlm_core::{
    Approval, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, ModelName, ModelRegistry, VersionRef, WaitOptions,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_end_when_the_server_is_killed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_mlm"))
        .current_dir(&root)
        .env_remove("MLM_TOKENS")
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
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
        .unwrap()
        .to_string();

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
