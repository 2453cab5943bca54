//! Behaviour beyond the shared contract: recovery after a crash, instance restarts, updates
//! under load without failed requests, artifact confinement and the runtime allow-list.

mod common;

use std::time::Duration;

use common::{Load, classify, deploy, provider, wait};
use mlm_core::{
    Approval, CreateVersionRequest, EndpointManager, EndpointManagerExt, EndpointName,
    EndpointStatus, ErrorKind, ModelRegistry, Observability, UpdateEndpointRequest, VariantChange,
    VariantName, VersionRef,
};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

fn name<T: TryFrom<&'static str>>(s: &'static str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(s).expect("valid name")
}

async fn register(p: &LocalProvider, model: &str, env: &[(&str, &str)]) -> VersionRef {
    common::register(p, model, common::RUNTIME, env).await
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at /proc state too.
    let exists = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(false);
    exists && !zombie
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalProvider::open(common::config(dir.path()))
        .await
        .unwrap();
    let version = register(&first, "news", &[]).await;
    let endpoint = deploy(&first, "news", version.clone(), 2).await;
    let old_pids = first.instance_pids(&endpoint);
    assert_eq!(old_pids.len(), 2);

    // As if the server were killed with -9: instance processes are left running.
    first.simulate_crash();
    assert!(
        old_pids.iter().all(|p| alive(*p)),
        "the crash should leave the instances running"
    );

    let second = LocalProvider::open(common::config(dir.path()))
        .await
        .unwrap();
    let back = second.wait_until_ready(&endpoint, wait()).await.unwrap();
    assert_eq!(back.variants[0].current_instance_count, Some(2));
    assert_eq!(classify(&second, &endpoint).await.unwrap(), "Sports");
    let new_pids = second.instance_pids(&endpoint);
    assert!(new_pids.iter().all(|p| !old_pids.contains(p)));
    for _ in 0..50 {
        if old_pids.iter().all(|p| !alive(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        old_pids.iter().all(|p| !alive(*p)),
        "leftover instances were not stopped"
    );
    let model = second
        .get_version(&version.model, version.version)
        .await
        .unwrap();
    assert_eq!(
        model.approval,
        Approval::Approved,
        "registry state survived"
    );
    let events = second.endpoint_events(&endpoint, 20).unwrap();
    assert!(events.iter().any(|e| e.event == "recovering"), "{events:?}");
    second.shutdown().await;
    assert!(
        new_pids.iter().all(|p| !alive(*p)),
        "shutdown stops instances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let (dir, _first) = provider().await;
    let err = LocalProvider::open(common::config(dir.path()))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("in use"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instance_is_reported_and_restarted() {
    let (_dir, p) = provider().await;
    // The example server exits right after its first answer.
    let version = register(&p, "crashy", &[("MLM_EXAMPLE_CRASH_AFTER", "1")]).await;
    let endpoint = deploy(&p, "crashy", version, 1).await;
    let before = p.instance_pids(&endpoint);
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");

    let mut saw_failure = false;
    let mut restarted = false;
    for _ in 0..300 {
        let e = p.get_endpoint(&endpoint).await.unwrap();
        let o = p.endpoint_overview(&endpoint).await.unwrap();
        if e.status == EndpointStatus::SystemUpdating
            || o.instances
                .iter()
                .any(|i| i.status == mlm_core::InstanceStatus::Failed)
        {
            saw_failure = true;
            assert!(
                e.failure_reason.as_deref().unwrap_or("").contains("exited"),
                "the reason names the exit: {:?}",
                e.failure_reason
            );
        }
        let now = p.instance_pids(&endpoint);
        if !now.is_empty() && now != before && e.status == EndpointStatus::InService {
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_failure, "the crash was never reported");
    assert!(restarted, "the instance was not restarted");
    let events = p.endpoint_events(&endpoint, 20).unwrap();
    let failed = events
        .iter()
        .find(|e| e.event == "instance_failed")
        .expect("failure logged");
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("exit status: 1"),
        "{failed:?}"
    );
    assert!(
        events.iter().any(|e| e.event == "instance_restarted"),
        "{events:?}"
    );
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
}

/// Six clients as fast as they go (at most 2,000 requests each), until [`finish`].
fn load(p: &LocalProvider, endpoint: &EndpointName) -> Load {
    Load::start(p, endpoint, 6, Duration::ZERO, 2_000)
}

/// Lets the clients run a little longer, then stops them: the requests that failed, and how
/// many succeeded.
async fn finish(load: Load) -> (Vec<String>, usize) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = load.finish().await;
    let errors = calls
        .iter()
        .filter(|c| !c.ok())
        .map(|c| format!("{:?}", c.outcome))
        .collect();
    (errors, calls.iter().filter(|c| c.ok()).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_under_load_fails_no_request() {
    let (_dir, p) = provider().await;
    let version = register(&p, "busy", &[("MLM_EXAMPLE_DELAY_MS", "20")]).await;
    let endpoint = deploy(&p, "busy", version, 3).await;
    let load = load(&p, &endpoint);
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.update_endpoint(
        UpdateEndpointRequest::new(endpoint.clone())
            .with_change(VariantChange::new(name::<VariantName>("primary")).with_instance_count(1)),
    )
    .await
    .unwrap();
    let e = p.wait_until_ready(&endpoint, wait()).await.unwrap();
    assert_eq!(e.variants[0].current_instance_count, Some(1));
    let (errors, ok) = finish(load).await;
    assert!(
        errors.is_empty(),
        "requests failed while scaling down: {errors:?}"
    );
    assert!(ok > 20, "the load generator barely ran");
    assert_eq!(p.instance_pids(&endpoint).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_out_a_new_version_under_load_fails_no_request() {
    let (_dir, p) = provider().await;
    let v1 = register(&p, "rollout", &[("MLM_EXAMPLE_DELAY_MS", "20")]).await;
    let v2 = register(&p, "rollout", &[("MLM_EXAMPLE_DELAY_MS", "10")]).await;
    let endpoint = deploy(&p, "rollout", v1.clone(), 2).await;
    let old = p.instance_pids(&endpoint);
    let load = load(&p, &endpoint);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let updating = p
        .update_endpoint(UpdateEndpointRequest::new(endpoint.clone()).with_change(
            VariantChange::new(name::<VariantName>("primary")).with_model_version(v2.clone()),
        ))
        .await
        .unwrap();
    assert_eq!(updating.status, EndpointStatus::Updating);
    // A second update while one runs is refused, not queued or merged.
    let again =
        p.update_endpoint(UpdateEndpointRequest::new(endpoint.clone()).with_change(
            VariantChange::new(name::<VariantName>("primary")).with_instance_count(3),
        ))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::FailedPrecondition, "{again}");
    let e = p.wait_until_ready(&endpoint, wait()).await.unwrap();
    assert_eq!(e.variants[0].model_version, Some(v2));
    let (errors, ok) = finish(load).await;
    assert!(
        errors.is_empty(),
        "requests failed during the rollout: {errors:?}"
    );
    assert!(ok > 20, "the load generator barely ran");
    let new = p.instance_pids(&endpoint);
    assert_eq!(new.len(), 2);
    assert!(
        new.iter().all(|pid| !old.contains(pid)),
        "the old instances still serve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_outside_the_roots_are_refused() {
    let (_dir, p) = provider().await;
    let model = common::ensure_model(&p, "confined").await;
    let escape = common::model_dir().join("../../../mlm-local/Cargo.toml");
    for uri in [
        "/etc".to_string(),
        "file:///etc/passwd".to_string(),
        escape.display().to_string(),
        "s3://bucket/model.tar.gz".to_string(),
    ] {
        let err = p
            .create_version(CreateVersionRequest::new(
                model.clone(),
                &uri,
                common::RUNTIME,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{uri}: {err}");
        assert!(!err.to_string().contains("/etc/passwd\n"), "{err}");
    }
    common::assert_no_versions(&p, &model).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_keeps_its_artifact_when_the_source_changes() {
    let dir = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    for file in ["vocab.json", "weights.json"] {
        std::fs::copy(common::model_dir().join(file), source.path().join(file)).unwrap();
    }
    let config = common::config(dir.path()).with_artifact_root(source.path());
    let p = LocalProvider::open(config).await.unwrap();
    let model = common::ensure_model(&p, "immutable").await;
    let v = p
        .create_version(CreateVersionRequest::new(
            model.clone(),
            format!("file://{}", source.path().display()),
            common::RUNTIME,
        ))
        .await
        .unwrap();
    assert!(
        v.artifact_digest
            .as_deref()
            .unwrap_or("")
            .starts_with("sha256:")
    );
    // The source is emptied after registration: the version must not notice.
    std::fs::remove_file(source.path().join("weights.json")).unwrap();
    let endpoint = deploy(&p, "immutable", v.reference(), 1).await;
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_runtimes_run() {
    let (_dir, p) = provider().await;
    let model = common::ensure_model(&p, "allowlist").await;
    for image in ["/bin/sh", "python3", "bash -c 'rm -rf /'"] {
        let err = p
            .create_version(common::version_request(model.clone(), image))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{image}: {err}");
        assert!(
            err.to_string().contains("agnews-classifier"),
            "lists the configured: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_cannot_start_fails_the_endpoint_with_its_reason() {
    let (_dir, p) = provider().await;
    let version = register(
        &p,
        "broken",
        &[("MLM_EXAMPLE_FAIL_START", "missing GPU driver")],
    )
    .await;
    let endpoint = common::create_endpoint(&p, "broken", version, 1).await;
    let err = p.wait_until_ready(&endpoint, wait()).await.unwrap_err();
    // The create is a deployment, and it failed.
    assert_eq!(err.kind(), ErrorKind::DeploymentFailed, "{err}");
    assert!(err.to_string().contains("exit status: 3"), "{err}");
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::Failed);
    let reason = e.failure_reason.unwrap_or_default();
    assert!(reason.contains("exit status: 3"), "{reason}");
    // The model's own words are for the operator (issue 9): in the events, not the reason.
    assert!(!reason.contains("missing GPU driver"), "{reason}");
    let events = p.endpoint_events(&endpoint, 100).unwrap();
    assert!(
        events.iter().any(|e| e
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("missing GPU driver"))),
        "stderr is quoted in the events: {events:?}"
    );
    assert!(p.instance_pids(&endpoint).is_empty());
    // A failed endpoint can be deleted.
    p.delete_endpoint(&endpoint).await.unwrap();
    p.wait_until_deleted(&endpoint, wait()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_command_that_does_not_exist_fails_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config: LocalConfig = common::config(dir.path()).with_runtime(
        "ghost",
        RuntimeConfig::new("/nonexistent/mlm-runtime", Vec::<String>::new()),
    );
    let p = LocalProvider::open(config).await.unwrap();
    let model = common::ensure_model(&p, "ghost").await;
    let v = p
        .create_version(common::version_request(model, "ghost"))
        .await
        .unwrap();
    let endpoint = common::create_endpoint(&p, "ghost", v.reference(), 1).await;
    assert!(p.wait_until_ready(&endpoint, wait()).await.is_err());
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::Failed);
    assert!(
        e.failure_reason
            .unwrap_or_default()
            .contains("could not be started"),
        "the reason says the command failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_figures_come_from_the_processes() {
    let (_dir, p) = provider().await;
    let version = register(&p, "observed", &[("MLM_EXAMPLE_DELAY_MS", "300")]).await;
    let endpoint = deploy(&p, "observed", version, 1).await;
    // One slow request in flight is visible in the overview while it runs.
    let slow = {
        let (p, endpoint) = (p.clone(), endpoint.clone());
        tokio::spawn(async move { classify(&p, &endpoint).await })
    };
    let mut in_flight_seen = false;
    for _ in 0..25 {
        let o = p.endpoint_overview(&endpoint).await.unwrap();
        if o.instances[0].metrics.in_flight_requests.map(|m| m.value) == Some(1.0) {
            in_flight_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight_seen, "the in-flight request never showed");
    assert_eq!(slow.await.unwrap().unwrap(), "Sports");
    // CPU and memory are sampled by the monitor; GPU stays absent without NVML.
    let mut sampled = None;
    for _ in 0..50 {
        let o = p.endpoint_overview(&endpoint).await.unwrap();
        if o.instances[0].metrics.memory_utilization.is_some()
            && o.instances[0].metrics.cpu_utilization.is_some()
        {
            sampled = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = sampled.expect("CPU and memory were never sampled");
    let m = &o.instances[0].metrics;
    assert!(m.memory_utilization.unwrap().value > 0.0);
    assert_eq!(m.in_flight_requests.unwrap().value, 0.0);
    if !std::path::Path::new("/dev/nvidiactl").exists() {
        assert!(
            m.gpu_utilization.is_none(),
            "no GPU: the figure is absent, not zero"
        );
    }
    // The invocation shows up in the metric history.
    let series = p
        .query_metrics(
            mlm_core::MetricQuery::last(
                endpoint.clone(),
                vec![
                    mlm_core::MetricKind::Invocations,
                    mlm_core::MetricKind::ModelLatency,
                ],
                Duration::from_secs(300),
                60,
            )
            .with_statistic(mlm_core::Statistic::Sum),
        )
        .await
        .unwrap();
    let invocations: f64 = series[0].points.iter().map(|p| p.value).sum();
    assert_eq!(invocations, 1.0);
    let latency: f64 = series[1].points.iter().map(|p| p.value).sum();
    assert!(
        latency >= 300_000.0,
        "latency is in microseconds and includes the delay: {latency}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_endpoint_that_is_still_starting_does_not_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    // A runtime that starts but never answers /ping.
    let config = common::config(dir.path())
        .with_runtime("mute", RuntimeConfig::new("sleep", ["120"]))
        .with_startup_timeout(Duration::from_secs(120));
    let p = LocalProvider::open(config).await.unwrap();
    let model = common::ensure_model(&p, "mute").await;
    let v = p
        .create_version(common::version_request(model, "mute"))
        .await
        .unwrap();
    let endpoint = common::create_endpoint(&p, "mute", v.reference(), 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Not yet in the routing table, so found by their command line ("sleep 120", used only here).
    let mute = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c == b"sleep\x00120\x00")
            })
            .filter(|pid| alive(*pid))
            .count()
    };
    assert_eq!(mute(), 2, "both instances are starting");
    assert_eq!(
        p.get_endpoint(&endpoint).await.unwrap().status,
        EndpointStatus::Creating
    );
    let started = std::time::Instant::now();
    p.delete_endpoint(&endpoint).await.unwrap();
    let options = mlm_core::WaitOptions::with_timeout(Duration::from_secs(20))
        .with_intervals(Duration::from_millis(20), Duration::from_millis(100));
    p.wait_until_deleted(&endpoint, options).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the delete waited for the startup timeout"
    );
    assert_eq!(mute(), 0, "starting instances were not stopped");
}

/// Issue 14: the example model directory, pushed from outside every artifact root (packing
/// happens on the caller's side), is unpacked into the store and served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_directory_is_served() {
    let (_dir, p) = provider().await;
    let outside = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(common::model_dir()).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, outside.path().join(file.file_name().unwrap())).unwrap();
    }
    let request = CreateVersionRequest::new(name("pushed"), "", common::RUNTIME)
        .with_approval(Approval::Approved);
    let pushed = mlm_core::archive::push_version(
        &p,
        mlm_core::archive::PushRequest::new(outside.path(), request),
    )
    .await
    .unwrap();
    assert!(pushed.version.artifact_uri.starts_with("store:sha256:"));
    assert_eq!(
        pushed.version.artifact_uri,
        format!("store:{}", pushed.version.artifact_digest.clone().unwrap())
    );
    let endpoint = deploy(&p, "pushed", pushed.version.reference(), 1).await;
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
    // A store URI names only what is in the store.
    let missing = format!("store:sha256:{}", "1".repeat(64));
    let unknown = CreateVersionRequest::new(name("pushed"), missing, common::RUNTIME);
    let refused = p.create_version(unknown).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidArgument, "{refused}");
    p.delete_endpoint(&endpoint).await.unwrap();
    p.shutdown().await;
}
