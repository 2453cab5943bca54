//! Autoscaling on the local backend (issue 12), with real instance processes: under load an
//! endpoint with min 1 / max 3 tracking requests in flight per instance scales 1 → 3, then
//! back to 1 after the load stops and the scale-in cooldown passes, with no failed request;
//! the decisions are endpoint events, and the policy survives a restart.
//!
//! Print the figures (they are in `docs/benchmarks.md`) with
//! `cargo test -p mlm-local --all-features --test autoscaling -- --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::{Load, events, register};
use mlm_core::{
    AutoscalingPolicy, CreateEndpointRequest, Endpoint, EndpointManager, EndpointManagerExt,
    EndpointName, EndpointStatus, ErrorKind, ScalingMetric, UpdateEndpointRequest, VariantChange,
    VariantName, VariantSpec,
};
use mlm_local::{LocalConfig, LocalProvider};

/// Clients sending requests back to back.
const CLIENTS: usize = 6;
/// Requests in flight per instance the policy holds: 6 clients need 3 instances.
const TARGET_IN_FLIGHT: f64 = 2.0;
/// How long the model takes per request, so requests pile up in flight.
const MODEL_DELAY_MS: &str = "300";

fn primary() -> VariantName {
    VariantName::new("primary").unwrap()
}

/// The tests' configuration with quick autoscaling: evaluated every 500 ms over a 2 s window;
/// scale-in cooldown 4 s, scale-out cooldown 1 s.
fn config(dir: &std::path::Path) -> LocalConfig {
    common::config(dir).with_autoscaling(
        Duration::from_millis(500),
        Duration::from_secs(2),
        Duration::from_secs(4),
        Duration::from_secs(1),
    )
}

fn policy() -> AutoscalingPolicy {
    AutoscalingPolicy::new(1, 3, ScalingMetric::ConcurrentRequests, TARGET_IN_FLIGHT)
}

/// Waits (at most 60 s) until `endpoint` is `InService` with `count` instances wanted and
/// running; the endpoint then.
async fn until_count(p: &LocalProvider, endpoint: &EndpointName, count: u32) -> Endpoint {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let e = p.get_endpoint(endpoint).await.unwrap();
        let v = &e.variants[0];
        if e.status == EndpointStatus::InService
            && v.desired_instance_count == count
            && v.current_instance_count == Some(count)
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoint} did not settle at {count} instance(s): {:?} {:?}",
            e.status,
            e.variants
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens the data directory again once the previous provider has let it go.
async fn reopen(dir: &std::path::Path) -> LocalProvider {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match LocalProvider::open(config(dir)).await {
            Ok(p) => return p,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::FailedPrecondition, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_scales_out_to_max_and_back_in_after_the_cooldown_without_failures() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::open(config(dir.path())).await.unwrap();
    let version = register(
        &p,
        "scaled",
        common::RUNTIME,
        &[("MLM_EXAMPLE_DELAY_MS", MODEL_DELAY_MS)],
    )
    .await;
    let name = EndpointName::new("scaled").unwrap();
    let spec = VariantSpec::new(primary(), version, "ml.m5.large", 1).with_autoscaling(policy());
    p.create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec]))
        .await
        .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(p.instance_pids(&name).len(), 1);

    let loaded = Instant::now();
    let load = Load::start(&p, &name, CLIENTS, Duration::ZERO, 100_000);
    let scaled_out = until_count(&p, &name, 3).await;
    let time_to_scale_out = loaded.elapsed();
    assert_eq!(scaled_out.variants[0].autoscaling, Some(policy()));
    // Serve a while at 3: the count holds on target.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = load.finish().await;
    let stopped = Instant::now();
    until_count(&p, &name, 1).await;
    let time_to_scale_in = stopped.elapsed();

    let failed: Vec<_> = calls.iter().filter(|c| !c.ok()).collect();
    let outs = events(&p, &name, "autoscaling_scale_out");
    let ins = events(&p, &name, "autoscaling_scale_in");
    println!(
        "autoscaling 1 -> 3 -> 1 (concurrent_requests, target {TARGET_IN_FLIGHT} per \
         instance, {CLIENTS} clients, model delay {MODEL_DELAY_MS} ms): scale-out after \
         {:.1}s, scale-in {:.1}s after the load stopped (scale-in cooldown 4 s, window 2 s); \
         {} requests, {} failed\n  scale-out events: {outs:?}\n  scale-in events: {ins:?}",
        time_to_scale_out.as_secs_f64(),
        time_to_scale_in.as_secs_f64(),
        calls.len(),
        failed.len(),
    );
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    assert!(calls.len() > 20, "the clients barely ran: {}", calls.len());
    assert!(!outs.is_empty() && !ins.is_empty(), "{outs:?} {ins:?}");
    assert!(
        outs[0].contains("concurrent_requests") && outs[0].contains("target 2"),
        "the event gives the figures: {}",
        outs[0]
    );
    assert!(ins.last().unwrap().contains("→ 1"), "{ins:?}");
    assert_eq!(
        p.instance_pids(&name).len(),
        1,
        "the extra processes stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policies_are_checked_kept_across_restarts_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::open(config(dir.path())).await.unwrap();
    assert!(mlm_core::Provider::capabilities(&p).autoscaling);
    let version = register(&p, "kept", common::RUNTIME, &[]).await;
    let name = EndpointName::new("kept").unwrap();
    let spec = |max: u32| {
        VariantSpec::new(primary(), version.clone(), "ml.m5.large", 1).with_autoscaling(
            AutoscalingPolicy::new(1, max, ScalingMetric::InvocationsPerInstance, 1000.0)
                .with_cooldowns(60, 30),
        )
    };
    // More than this server gives one endpoint (8 by default): the policy could never be met.
    let err = p
        .create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec(9)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.to_string().contains("max_instances_per_endpoint"),
        "{err}"
    );
    p.create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec(3)]))
        .await
        .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();

    // A user's explicit count within the bounds applies; one outside them is refused.
    let update = |count| {
        UpdateEndpointRequest::new(name.clone())
            .with_change(VariantChange::new(primary()).with_instance_count(count))
    };
    let err = p.update_endpoint(update(4)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    p.update_endpoint(update(2)).await.unwrap();
    until_count(&p, &name, 2).await;

    p.shutdown().await;
    drop(p);
    let p = reopen(dir.path()).await;
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].autoscaling, spec(3).autoscaling);
    assert_eq!(e.variants[0].desired_instance_count, 2);
    // No traffic, and a 60 s scale-in cooldown since the endpoint came back: it stays at 2.
    tokio::time::sleep(Duration::from_secs(2)).await;
    until_count(&p, &name, 2).await;
    assert!(events(&p, &name, "autoscaling_scale_in").is_empty());
    p.shutdown().await;
}
