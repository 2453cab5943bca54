//! Serverless variants on the local backend (issue 12), with real instance processes: no
//! instance until the first request, which waits for a cold start (an endpoint event with the
//! time it took); at most `max_concurrency` requests in the model, the rest throttled at once;
//! scale to zero after the idle time, and a cold start again on the next request; an instance
//! over its `memory_mb` is replaced, and provisioned concurrency keeps one warm.

mod common;

use std::time::{Duration, Instant};

use common::{classify, events, register};
use mlm_core::{
    CreateEndpointRequest, Endpoint, EndpointManager, EndpointManagerExt, EndpointName,
    EndpointStatus, ErrorKind, Observability, ServerlessConfig, VariantName, VariantSpec,
    VersionRef,
};
use mlm_local::LocalProvider;

/// Idle time after which a serverless instance is stopped, in these tests.
const IDLE: Duration = Duration::from_secs(2);

async fn provider(dir: &std::path::Path) -> LocalProvider {
    let config = common::config(dir).with_serverless_idle(IDLE);
    LocalProvider::open(config).await.unwrap()
}

/// Creates a single-variant serverless endpoint and waits until it is `InService`.
async fn deploy(
    p: &LocalProvider,
    name: &str,
    version: VersionRef,
    config: ServerlessConfig,
) -> EndpointName {
    let variant = VariantName::new("primary").unwrap();
    let spec = VariantSpec::serverless(variant, version, config);
    let endpoint = EndpointName::new(name).unwrap();
    p.create_endpoint(CreateEndpointRequest::new(endpoint.clone(), vec![spec]))
        .await
        .unwrap();
    p.wait_until_ready(&endpoint, common::wait()).await.unwrap();
    endpoint
}

/// The milliseconds a cold-start event reports (`... in 812 ms`).
fn cold_start_ms(detail: &str) -> u64 {
    let figure = detail
        .strip_suffix(" ms")
        .and_then(|d| d.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no ms figure in {detail:?}"));
    figure.parse().unwrap()
}

/// Waits (at most 60 s) until `done` holds of the endpoint's instance pids.
async fn until_pids(p: &LocalProvider, endpoint: &EndpointName, done: impl Fn(&[u32]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&p.instance_pids(endpoint)) {
        assert!(
            Instant::now() < deadline,
            "instances of {endpoint}: {:?}",
            p.instance_pids(endpoint)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a process with `pid` still exists.
fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

async fn described(p: &LocalProvider, endpoint: &EndpointName) -> Endpoint {
    p.get_endpoint(endpoint).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_concurrency_throttles_the_rest_and_idle_scales_to_zero_then_cold_starts() {
    let dir = tempfile::tempdir().unwrap();
    let p = provider(dir.path()).await;
    // Every request is held 500 ms in the model, so the 6 clients below overlap.
    let version = register(
        &p,
        "news",
        common::RUNTIME,
        &[("MLM_EXAMPLE_DELAY_MS", "500")],
    )
    .await;
    let endpoint = deploy(&p, "sls", version, ServerlessConfig::new(2048, 2)).await;

    // No instance until a request arrives; the endpoint is in service all the same.
    assert!(p.instance_pids(&endpoint).is_empty());
    let e = described(&p, &endpoint).await;
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].current_instance_count, Some(0));
    assert!(events(&p, &endpoint, "serverless_cold_start").is_empty());

    // The first request waits for a cold start, which is reported with its time.
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
    let first_pid = p.instance_pids(&endpoint);
    assert_eq!(first_pid.len(), 1);
    let cold = events(&p, &endpoint, "serverless_cold_start");
    assert_eq!(cold.len(), 1, "{cold:?}");
    assert!(cold_start_ms(&cold[0]) > 0, "{cold:?}");

    // 6 clients at once: 2 requests are in the model, the 4 others are throttled at once (had
    // they waited for a slot, or had more than 2 been let in, more than 2 would be answered).
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (p, endpoint) = (p.clone(), endpoint.clone());
            tokio::spawn(async move { classify(&p, &endpoint).await })
        })
        .collect();
    let mut answered = 0;
    let mut throttled = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(category) => {
                assert_eq!(category, "Sports");
                answered += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
                throttled.push(e.to_string());
            }
        }
    }
    assert_eq!((answered, throttled.len()), (2, 4), "{throttled:?}");
    assert!(throttled[0].contains("max_concurrency"), "{throttled:?}");
    assert_eq!(
        p.instance_pids(&endpoint),
        first_pid,
        "one instance throughout"
    );

    // Idle for the idle time: the instance is drained and stopped; the endpoint stays up.
    // Out of the table first, then drained and stopped.
    let reported = || !events(&p, &endpoint, "serverless_scaled_to_zero").is_empty();
    until_pids(&p, &endpoint, |pids| pids.is_empty() && reported()).await;
    assert!(!alive(first_pid[0]), "the idle instance's process is gone");
    let zero = events(&p, &endpoint, "serverless_scaled_to_zero");
    assert_eq!(zero.len(), 1, "{zero:?}");
    let e = described(&p, &endpoint).await;
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].current_instance_count, Some(0));
    let overview = p.endpoint_overview(&endpoint).await.unwrap();
    assert_eq!(overview.status, EndpointStatus::InService);
    assert_eq!((overview.instance_count, overview.instances.len()), (0, 0));

    // The next request cold-starts a fresh instance, and that is reported too.
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
    let second_pid = p.instance_pids(&endpoint);
    assert_eq!(second_pid.len(), 1);
    assert_ne!(second_pid, first_pid);
    let cold = events(&p, &endpoint, "serverless_cold_start");
    assert_eq!(cold.len(), 2, "{cold:?}");
    cold_start_ms(&cold[1]);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_over_memory_mb_is_replaced_and_provisioned_concurrency_keeps_one_warm() {
    let dir = tempfile::tempdir().unwrap();
    let p = provider(dir.path()).await;
    // The model grows to 1100 MiB with its first answer: over a 1024 MB variant.
    let env = [("MLM_EXAMPLE_ALLOCATE_MB", "1100")];
    let version = register(&p, "news", common::RUNTIME, &env).await;
    let config = ServerlessConfig::new(1024, 2).with_provisioned_concurrency(1);
    let endpoint = deploy(&p, "warm", version, config).await;

    // Provisioned: one instance from the start, and no cold start for the first request.
    let warm = p.instance_pids(&endpoint);
    assert_eq!(warm.len(), 1);
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
    assert!(events(&p, &endpoint, "serverless_cold_start").is_empty());

    // The instance now holds more than its memory_mb: it is replaced by a fresh one.
    let reported = || !events(&p, &endpoint, "serverless_memory_exceeded").is_empty();
    until_pids(&p, &endpoint, |_| reported()).await;
    let fresh = p.instance_pids(&endpoint);
    assert!(fresh.len() == 1 && fresh != warm, "{fresh:?}");
    assert!(!alive(warm[0]), "the instance over memory was stopped");
    let exceeded = events(&p, &endpoint, "serverless_memory_exceeded");
    assert_eq!(exceeded.len(), 1, "{exceeded:?}");
    assert!(
        exceeded[0].contains("over its memory_mb of 1024") && exceeded[0].contains("replaced by"),
        "{exceeded:?}"
    );
    let used: u64 = exceeded[0]
        .split(" used ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|mib| mib.parse().ok())
        .unwrap_or_else(|| panic!("no MiB figure in {exceeded:?}"));
    assert!(used > 1024, "{exceeded:?}");

    // Left idle for longer than the idle time, the fresh instance stays (provisioned).
    tokio::time::sleep(IDLE * 2).await;
    assert_eq!(p.instance_pids(&endpoint), fresh);
    assert!(events(&p, &endpoint, "serverless_scaled_to_zero").is_empty());
    let e = described(&p, &endpoint).await;
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].current_instance_count, Some(1));
    p.shutdown().await;
}
