//! Issue 9, defect 3: with this server out of file descriptors (300 idle client connections
//! under a 256-fd limit), the health monitor could not open a socket for `/ping`, took that for
//! a dead instance and killed a healthy one. A check the server could not make is not held
//! against the instance. In its own test binary because it lowers the process's fd limit.

mod common;

use std::time::Duration;

use mlm_core::{EndpointManager, EndpointManagerExt, InvokeRequest};
use mlm_local::LocalProvider;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_does_not_kill_healthy_instances() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path()).with_health_interval(Duration::from_millis(100));
    let p = LocalProvider::open(config).await.unwrap();
    let version = common::register(&p, "steady", common::RUNTIME, &[]).await;
    let endpoint = common::create_endpoint(&p, "steady", version, 1).await;
    p.wait_until_ready(&endpoint, common::wait()).await.unwrap();
    let pids = p.instance_pids(&endpoint);

    // Take every descriptor this process may still open, for ten health-check rounds (three
    // failed checks used to be enough to condemn an instance).
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, soft.min(512), hard).unwrap();
    let mut hoard = Vec::new();
    let exhausted = loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(e) => break e,
        }
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop(hoard);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert_eq!(
        exhausted.raw_os_error(),
        Some(nix::libc::EMFILE),
        "{exhausted}"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        p.instance_pids(&endpoint),
        pids,
        "the healthy instance was replaced"
    );
    let events = p.endpoint_events(&endpoint, 100).unwrap();
    assert!(
        !events.iter().any(|e| e.event == "instance_failed"),
        "{events:?}"
    );
    let answer = p
        .invoke(InvokeRequest::json(
            endpoint.clone(),
            &serde_json::json!({ "sentence": common::SPORTS }),
        ))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&answer.body).contains("Sports"));
    p.shutdown().await;
}
