//! Regression tests for the defects an independent probe found (issue 9): API input that ran
//! commands, requests that could start unbounded processes, an accepted delete that could be
//! undone, retries that hit a dead instance again, oversize answers passed on as successes,
//! crash loops without backoff, and model output shown in `failure_reason`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{SPORTS, wait};
use mlm_core::{
    EndpointManager, EndpointManagerExt, EndpointName, EndpointStatus, ErrorKind, InvokeRequest,
    ModelRegistry, Observability, ObservabilityExt, UpdateEndpointRequest, VariantChange,
    VariantName,
};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

fn odd_runtime(args: &[&str]) -> RuntimeConfig {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/odd_runtime.py");
    let mut all = vec!["-I".to_string(), script.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    RuntimeConfig::new("python3", all)
}

async fn open(config: LocalConfig) -> LocalProvider {
    LocalProvider::open(config)
        .await
        .expect("open the provider")
}

fn scale(endpoint: EndpointName, count: u32) -> UpdateEndpointRequest {
    let primary = VariantName::new("primary").unwrap();
    UpdateEndpointRequest::new(endpoint)
        .with_change(VariantChange::new(primary).with_instance_count(count))
}

fn sports(endpoint: &EndpointName) -> InvokeRequest {
    InvokeRequest::json(endpoint.clone(), &serde_json::json!({ "sentence": SPORTS }))
}

/// Processes whose command line contains `needle`.
/// Live processes running exactly `sleep <marker>` (the exact argument list, so other
/// processes whose command lines happen to contain the marker, such as a linker's hashes,
/// do not count).
fn processes_running(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let argv: Vec<&[u8]> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .collect();
            matches!(argv.as_slice(), [program, arg]
                if program.ends_with(b"sleep") && *arg == marker.as_bytes())
                && state.split_whitespace().nth(2) != Some("Z")
        })
        .count()
}

/// Defect 1: `{"PYTHONWARNINGS": "all:0:antigravity.x:0:0", "BROWSER": "/bin/sh -c …"}` ran a
/// shell command as the server's user; `PATH` chose another binary; `SAGEMAKER_*` redirected
/// the instance. Each is refused with a 400 naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_environment_cannot_run_commands() {
    let (_dir, p) = common::provider().await;
    let model = common::ensure_model(&p, "probe").await;
    let marker = _dir.path().join("marker");
    let browser = format!("/bin/sh -c 'id > {}' #%s", marker.display());
    let probes: [&[(&str, &str)]; 5] = [
        &[
            ("PYTHONWARNINGS", "all:0:antigravity.x:0:0"),
            ("BROWSER", &browser),
        ],
        &[("PATH", "/tmp/evil")],
        &[("LD_PRELOAD", "/tmp/evil.so")],
        &[("SAGEMAKER_BIND_TO_PORT", "80")],
        &[("node_options", "--require /tmp/evil.js")],
    ];
    for env in probes {
        let mut request = common::version_request(model.clone(), common::RUNTIME);
        for (k, v) in env {
            request = request.with_env(*k, *v);
        }
        let err = p.create_version(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{env:?}: {err}");
        let first = env.iter().map(|(k, _)| *k).min().unwrap();
        assert!(err.to_string().contains(&format!("'{first}'")), "{err}");
    }
    assert!(!marker.exists(), "a command ran");
    // Nothing was registered.
    common::assert_no_versions(&p, &model).await;
}

/// Defect 1: the operator narrows a runtime to an allow-list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_allow_list_limits_version_variables() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    let runtime = config.runtimes[common::RUNTIME]
        .clone()
        .with_allowed_env(["MLM_EXAMPLE_*"]);
    config = config.with_runtime("narrow", runtime);
    let p = open(config).await;
    let model = common::ensure_model(&p, "narrow").await;
    let request = |k: &str| common::version_request(model.clone(), "narrow").with_env(k, "1");
    p.create_version(request("MLM_EXAMPLE_DELAY_MS"))
        .await
        .unwrap();
    let err = p.create_version(request("DEBUG")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string()
            .contains("'DEBUG' is not allowed by runtime 'narrow' (allowed: MLM_EXAMPLE_*)"),
        "{err}"
    );
    // A bad pattern in the operator's config is refused at start-up.
    let bad = common::config(&dir.path().join("other")).with_runtime(
        "bad",
        RuntimeConfig::new("x", ["y"]).with_allowed_env(["A B"]),
    );
    assert!(LocalProvider::open(bad).await.is_err());
}

/// Defect 2: one request asked for 10 variants × 100 instances and was accepted. The
/// per-endpoint cap answers 400, the server cap 409, both with the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_counts_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(common::config(dir.path()).with_max_instances(3, 2)).await;
    let v = common::register(&p, "capped", common::RUNTIME, &[]).await;
    let err = p
        .create_endpoint(common::endpoint_request("huge", v.clone(), 100))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("asks for 100 instances"), "{err}");
    assert!(err.to_string().contains("at most 2 per endpoint"), "{err}");

    let first = common::create_endpoint(&p, "first", v.clone(), 2).await;
    let err = p
        .create_endpoint(common::endpoint_request("second", v.clone(), 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(
        err.to_string().contains("at most 3 (max_instances)")
            && err
                .to_string()
                .contains("other endpoints have 2: at most 1 are free"),
        "{err}"
    );
    let second = common::create_endpoint(&p, "second", v.clone(), 1).await;
    p.wait_until_ready(&first, wait()).await.unwrap();
    p.wait_until_ready(&second, wait()).await.unwrap();
    // Scaling up counts too; scaling within the cap is fine.
    let err = p
        .update_endpoint(scale(second.clone(), 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    p.update_endpoint(scale(first.clone(), 1)).await.unwrap();
    p.wait_until_ready(&first, wait()).await.unwrap();
    p.update_endpoint(scale(second.clone(), 2)).await.unwrap();
    p.wait_until_ready(&second, wait()).await.unwrap();
    p.shutdown().await;
}

/// Defect 2: instances start with bounded parallelism, not all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_start_a_few_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path())
        // Starts but never answers /ping; the argument marks this test's processes.
        .with_runtime("mute", RuntimeConfig::new("sleep", ["121"]))
        .with_startup_timeout(Duration::from_secs(120));
    config.max_parallel_starts = 1;
    let p = open(config).await;
    let v = common::register(&p, "mute", "mute", &[]).await;
    let endpoint = common::create_endpoint(&p, "mute", v, 3).await;
    // Wait for the first to start (a loaded machine may take a while), then give the others
    // every chance to start too: with one start slot, they must not.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while processes_running("121") == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processes_running("121"), 1, "one start at a time");
    p.delete_endpoint(&endpoint).await.unwrap();
    p.wait_until_deleted(&endpoint, wait()).await.unwrap();
    assert_eq!(processes_running("121"), 0);
}

/// Defect 4: an update that finished after a DELETE was accepted wrote `InService` over
/// `Deleting`. Once a delete is accepted the endpoint is never reported serving again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_delete_is_never_undone_by_an_update() {
    let dir = tempfile::tempdir().unwrap();
    // Slow to answer its first /ping, so the update is still starting when the delete comes.
    let slow = RuntimeConfig::new(
        "sh",
        [
            "-c".to_string(),
            format!(
                "sleep 1; exec python3 -I {}",
                common::example_dir().join("serve.py").display()
            ),
        ],
    );
    let p = open(common::config(dir.path()).with_runtime("slow", slow)).await;
    let v = common::register(&p, "racy", "slow", &[]).await;
    let endpoint = common::create_endpoint(&p, "racy", v, 1).await;
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    p.update_endpoint(scale(endpoint.clone(), 2)).await.unwrap();
    p.delete_endpoint(&endpoint).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match p.get_endpoint(&endpoint).await {
            Ok(e) => assert_eq!(e.status, EndpointStatus::Deleting, "after the delete"),
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            Err(e) => panic!("{e}"),
        }
        assert!(std::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Defect 5: a refused connection did not take the instance out, and retries picked at random
/// again: 4 of 124 requests failed with 502 while a healthy instance existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_is_taken_out_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // The monitor would notice in time too; this test is about the router alone.
    let config = common::config(dir.path()).with_health_interval(Duration::from_secs(3600));
    let p = open(config).await;
    let v = common::register(&p, "survivor", common::RUNTIME, &[]).await;
    let endpoint = common::create_endpoint(&p, "survivor", v, 2).await;
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    let pids = p.instance_pids(&endpoint);
    let victim = nix::unistd::Pid::from_raw(pids[0] as i32);
    nix::sys::signal::kill(victim, nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = nix::sys::wait::waitpid(victim, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..60 {
        let answer = p.invoke(sports(&endpoint)).await;
        assert!(answer.is_ok(), "request {i} failed: {answer:?}");
    }
    let rows = p.instances(&endpoint).await.unwrap();
    let failed = rows
        .iter()
        .filter(|r| r.status == mlm_core::InstanceStatus::Failed)
        .count();
    assert_eq!(failed, 1, "the dead instance is out of rotation: {rows:?}");

    // With no instance left, the answer is retryable (503 over HTTP), not a bare failure.
    let other = nix::unistd::Pid::from_raw(pids[1] as i32);
    nix::sys::signal::kill(other, nix::sys::signal::Signal::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = p.invoke(sports(&endpoint)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider, "{err}");
    assert!(err.is_retryable(), "{err}");
}

/// Defect 6: a 7 MiB answer reached the client as `200 application/json` with a complaint as
/// its body. It is an error now, counted as a model error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_answer_is_an_error_not_a_200() {
    let dir = tempfile::tempdir().unwrap();
    let big = odd_runtime(&["--answer-bytes", &(7 * 1024 * 1024).to_string()]);
    let p = open(common::config(dir.path()).with_runtime("big", big)).await;
    let v = common::register(&p, "chatty", "big", &[]).await;
    let endpoint = common::create_endpoint(&p, "chatty", v, 1).await;
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    let err = p.invoke(sports(&endpoint)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider, "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("more than 6 MiB"), "{err}");
    let series = p
        .query_metrics(
            mlm_core::MetricQuery::last(
                endpoint.clone(),
                vec![mlm_core::MetricKind::InvocationErrors5xx],
                Duration::from_secs(300),
                60,
            )
            .with_statistic(mlm_core::Statistic::Sum),
        )
        .await
        .unwrap();
    let errors: f64 = series[0].points.iter().map(|p| p.value).sum();
    assert_eq!(errors, 1.0, "counted as a model error");
}

/// The endpoint's events named `event`, oldest first, once there are at least `count`.
async fn events(
    p: &LocalProvider,
    endpoint: &EndpointName,
    event: &str,
    count: usize,
) -> Vec<mlm_local::LifecycleEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut found: Vec<_> = p
            .endpoint_events(endpoint, 1000)
            .unwrap()
            .into_iter()
            .filter(|e| e.event == event)
            .collect();
        if found.len() >= count {
            found.reverse();
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} '{event}' events: {:?}",
            found.len(),
            p.endpoint_events(endpoint, 1000).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Defect 8: each restart got a new instance id, so the backoff started over every time:
/// 30 restarts in 30 s. The backoff belongs to the slot: attempts count up across
/// replacements and the scheduled pauses double.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let crashy = odd_runtime(&["--exit-after-ms", "300"]);
    let config = common::config(dir.path())
        .with_runtime("crashy", crashy)
        .with_health_interval(Duration::from_millis(100));
    let p = open(config).await;
    let v = common::register(&p, "crashy", "crashy", &[]).await;
    let endpoint = common::create_endpoint(&p, "crashy", v, 1).await;
    // Each event says which attempt of the slot it is and how long the restart waits; the
    // waits are slept as scheduled. (Gaps between restarts also depend on start-up times,
    // which vary too much on a loaded machine to assert on.)
    let scheduled = events(&p, &endpoint, "restart_scheduled", 3).await;
    let details: Vec<&str> = scheduled
        .iter()
        .map(|e| e.detail.as_deref().unwrap_or_default())
        .collect();
    for (detail, expected) in details.iter().zip([
        "in 0.5s (attempt 1)",
        "in 1.0s (attempt 2)",
        "in 2.0s (attempt 3)",
    ]) {
        assert!(
            detail.ends_with(expected),
            "{detail} should end with {expected}: {details:?}"
        );
    }
    // Three different processes, so each restart replaced the one before.
    let restarted = events(&p, &endpoint, "instance_restarted", 2).await;
    assert_ne!(restarted[0].detail, restarted[1].detail);
    p.delete_endpoint(&endpoint).await.unwrap();
    p.wait_until_deleted(&endpoint, wait()).await.unwrap();
}

/// Defect 9: a start failure's `failure_reason` quoted the model's output to every reader of
/// the API. The output goes to the operator's logs (events, server log) only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_output_stays_out_of_failure_reason() {
    let (_dir, p) = common::provider().await;
    let leak = [("MLM_EXAMPLE_FAIL_START", "secret=hunter2")];
    let v = common::register(&p, "leaky", common::RUNTIME, &leak).await;
    let endpoint = common::create_endpoint(&p, "leaky", v, 1).await;
    assert!(p.wait_until_ready(&endpoint, wait()).await.is_err());
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::Failed);
    let reason = e.failure_reason.unwrap_or_default();
    assert!(reason.contains("exit status: 3"), "{reason}");
    assert!(!reason.contains("hunter2"), "model output leaked: {reason}");
    let logged = events(&p, &endpoint, "instance_start_failed", 1).await;
    assert!(
        logged[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("hunter2"),
        "the operator still sees it: {logged:?}"
    );
}

/// Issue 10: the router caps the requests one instance is sent at once; more wait in line
/// for a free slot, and are throttled when none frees in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_an_instances_cap_wait_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_in_flight_per_instance = 1;
    config.invoke_timeout = Duration::from_millis(1500);
    let p = open(config).await;
    let slow = [("MLM_EXAMPLE_DELAY_MS", "400")];
    let v = common::register(&p, "queued", common::RUNTIME, &slow).await;
    let endpoint = common::create_endpoint(&p, "queued", v, 1).await;
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (p, endpoint) = (p.clone(), endpoint.clone());
            tokio::spawn(async move { p.invoke(sports(&endpoint)).await })
        })
        .collect();
    let mut most = 0.0_f64;
    while calls.iter().any(|c| !c.is_finished()) {
        let rows = p.instances(&endpoint).await.unwrap();
        let in_flight = rows[0].metrics.in_flight_requests.map_or(0.0, |m| m.value);
        most = most.max(in_flight);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answered = 0;
    let mut throttled = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => answered += 1,
            Err(e) if e.kind() == ErrorKind::Throttled => throttled += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(most, 1.0, "the instance never has more than its cap");
    // 400 ms each, one at a time, 1.5 s to wait: a few are answered, the rest throttled.
    assert!(answered >= 2, "{answered} answered");
    assert!(throttled >= 1, "{throttled} throttled");
}
