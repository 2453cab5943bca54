//! Guarded rollouts and alarms on the local backend (issue 11), with real instance processes
//! and clients sending requests throughout: a canary of a failing version rolled back by its
//! alarm, the same canary of a good version completing, rolling and linear updates, a rolling
//! update rolled back, a stop, a new fleet that cannot start, a restart during a deployment,
//! and alarms' states under real traffic.
//!
//! The figures of the first test are in `docs/benchmarks.md`; print them with
//! `cargo test -p mlm-local --test rollouts -- --nocapture canary`.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Call, Load, classify, deploy, provider, register};
use mlm_core::{
    AlarmDefinition, AlarmName, AlarmState, Alarms, Comparison, Deployment, DeploymentPhase,
    DeploymentPolicy, Deployments, Endpoint, EndpointManager, EndpointManagerExt, EndpointName,
    EndpointStatus, Error, ErrorKind, MetricKind, PageRequest, Statistic, TrafficShift,
    TreatMissingData, UpdateEndpointRequest, VariantChange, VariantName, VersionRef, WaitOptions,
};
use mlm_local::LocalProvider;

fn primary() -> VariantName {
    VariantName::new("primary").unwrap()
}

fn alarm_name(name: &str) -> AlarmName {
    AlarmName::new(name).unwrap()
}

/// The alarm: "5xx sum > 0 over 1 period of 10 s".
fn errors_alarm(endpoint: &EndpointName) -> AlarmDefinition {
    AlarmDefinition::new(
        alarm_name("errors"),
        endpoint.clone(),
        MetricKind::InvocationErrors5xx,
        Statistic::Sum,
        Comparison::GreaterThan,
        0.0,
        10,
    )
}

/// A canary of `percent` % baked for `bake_seconds`, guarded by the alarm `errors`.
fn guarded_canary(percent: u8, bake_seconds: u32) -> DeploymentPolicy {
    DeploymentPolicy::new(TrafficShift::Canary {
        percent,
        bake_seconds,
    })
    .with_rollback_alarm(alarm_name("errors"))
}

/// Registers two versions of `model` — v1, and v2 with the environment `v2_env` — and
/// deploys v1 on `count` instances.
async fn two_versions(
    p: &LocalProvider,
    model: &str,
    v2_env: &[(&str, &str)],
    count: u32,
) -> (VersionRef, VersionRef, EndpointName) {
    let v1 = register(p, model, common::RUNTIME, &[]).await;
    let v2 = register(p, model, common::RUNTIME, v2_env).await;
    let endpoint = deploy(p, model, v1.clone(), count).await;
    (v1, v2, endpoint)
}

/// A v2 that differs from v1 only in what it is: it answers as v1 does.
const SAME_BUT_NEW: &[(&str, &str)] = &[("MLM_EXAMPLE_DELAY_MS", "1")];

/// Every call succeeded, and there were more than `at_least`.
fn assert_all_ok(calls: &[Call], at_least: usize) {
    let failed: Vec<_> = calls.iter().filter(|c| !c.ok()).collect();
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    assert!(
        calls.len() > at_least,
        "the clients barely ran: {}",
        calls.len()
    );
}

/// Starts moving `endpoint` to `version` under `policy`; the id of its deployment.
async fn update_to(
    p: &LocalProvider,
    endpoint: &EndpointName,
    version: VersionRef,
    policy: DeploymentPolicy,
) -> String {
    let mut request = UpdateEndpointRequest::new(endpoint.clone())
        .with_change(VariantChange::new(primary()).with_model_version(version));
    request.deployment = Some(policy);
    let e = p.update_endpoint(request).await.unwrap();
    assert_eq!(e.status, EndpointStatus::Updating);
    e.last_deployment.expect("the update is a deployment").id
}

/// Rolls `endpoint` out to `version` under `policy` and waits until it serves: the endpoint,
/// and its deployment's timeline.
async fn roll_out(
    p: &LocalProvider,
    endpoint: &EndpointName,
    version: VersionRef,
    policy: DeploymentPolicy,
) -> (Endpoint, Vec<String>) {
    let id = update_to(p, endpoint, version, policy).await;
    let e = p.wait_until_ready(endpoint, long_wait()).await.unwrap();
    let d = p.get_deployment(endpoint, &id).await.unwrap();
    assert!(
        matches!(d.phase, DeploymentPhase::Completed),
        "{:?}",
        d.phase
    );
    (e, timeline(&d))
}

/// Long enough for a 20 s bake and an alarm period.
fn long_wait() -> WaitOptions {
    WaitOptions::with_timeout(Duration::from_secs(120))
        .with_intervals(Duration::from_millis(50), Duration::from_millis(200))
}

/// The deployment's timeline as `phase` or `phase percent` tags.
fn timeline(d: &Deployment) -> Vec<String> {
    d.timeline
        .iter()
        .map(|c| match &c.phase {
            DeploymentPhase::Shifting { percent } | DeploymentPhase::Baking { percent } => {
                format!("{} {percent}", c.phase.as_str())
            }
            other => other.as_str().to_string(),
        })
        .collect()
}

/// How a canary of 10 % with a bake starts.
const CANARY_START: [&str; 3] = ["provisioning", "shifting 10", "baking 10"];

/// When the deployment first entered the phase tagged `tag`.
fn entered(d: &Deployment, tag: &str) -> DateTime<Utc> {
    d.timeline
        .iter()
        .find(|c| c.phase.as_str() == tag)
        .unwrap_or_else(|| panic!("no {tag} in {:?}", timeline(d)))
        .at
}

/// Waits until the deployment is in the phase tagged `tag`.
async fn until_phase(p: &LocalProvider, endpoint: &EndpointName, id: &str, tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = p.get_deployment(endpoint, id).await.unwrap();
        if d.phase.as_str() == tag {
            return;
        }
        assert!(
            !d.phase.is_terminal() && Instant::now() < deadline,
            "never reached {tag}: {:?}",
            timeline(&d)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_5xx(call: &Call) -> bool {
    matches!(&call.outcome, Err(Error::Provider { message, .. }) if message.contains("(500)"))
}

/// Done-when of issue 11: a canary (10 %, bake 20 s) of a version that answers 500 to every
/// request, guarded by "5xx sum > 0 over 1 period of 10 s", is rolled back automatically,
/// with clients calling all along: they see 5xx only while the canary takes traffic, on about
/// a tenth of the requests then; afterwards every request succeeds on the old version; the
/// history says why; and `wait_until_ready` reports the rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_of_a_failing_version_is_rolled_back_by_its_alarm() {
    let (_dir, p) = provider().await;
    let failing = [("MLM_EXAMPLE_ERROR_RATE", "1")];
    let (good, bad, endpoint) = two_versions(&p, "guarded", &failing, 1).await;
    let old_pids = p.instance_pids(&endpoint);
    p.put_alarm(errors_alarm(&endpoint)).await.unwrap();
    let load = Load::start(&p, &endpoint, 3, Duration::from_millis(5), 50_000);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let asked = Instant::now();
    let id = update_to(&p, &endpoint, bad, guarded_canary(10, 20)).await;
    let err = p
        .wait_until_ready(&endpoint, long_wait())
        .await
        .unwrap_err();
    let waited = asked.elapsed();
    assert!(matches!(err, Error::RolledBack(_)), "{err}");
    assert!(err.to_string().contains("alarm 'errors'"), "{err}");
    // Afterwards, every request succeeds on the old version.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = load.finish().await;

    let d = p.get_deployment(&endpoint, &id).await.unwrap();
    let phases = timeline(&d);
    assert_eq!(phases[..3], CANARY_START, "{phases:?}");
    assert_eq!(phases[3..], ["rolling_back", "rolled_back"], "{phases:?}");
    let DeploymentPhase::RolledBack { reason, alarm } = &d.phase else {
        panic!("{:?}", d.phase)
    };
    assert_eq!(alarm.as_ref(), Some(&alarm_name("errors")));
    assert!(reason.contains("threshold crossed"), "{reason}");
    let (shifted, ended) = (entered(&d, "shifting"), d.ended_at.unwrap());
    let figures = canary_figures(&calls, d.started_at, shifted, ended);
    println!(
        "guarded rollout (canary 10 %, bake 20 s, version answering 500): {figures}; rolled \
         back {:.1} s after the shift, {:.1} s after the update was asked for",
        (ended - shifted).as_seconds_f64(),
        waited.as_secs_f64()
    );
    figures.check();
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].model_version, Some(good));
    assert!(
        e.failure_reason.unwrap_or_default().contains("rolled back"),
        "the endpoint says why"
    );
    assert_eq!(
        p.instance_pids(&endpoint),
        old_pids,
        "the canary fleet is gone"
    );
    let events = p.endpoint_events(&endpoint, 200).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "alarm_state"
                && e.detail.as_deref().unwrap_or("").contains("-> ALARM")),
        "the alarm's change is an event: {events:?}"
    );
}

/// What the clients saw during a canary.
#[derive(Debug)]
struct CanaryFigures {
    requests: usize,
    during_deployment: usize,
    while_canary: usize,
    failed: usize,
    failed_outside_canary: usize,
    other_errors: Vec<String>,
    failed_after_rollback: usize,
}

/// A request's start is read just before it is routed; this much earlier still counts as
/// "while the canary took traffic" (a client thread can be descheduled in between).
const ROUTING_SLACK: chrono::TimeDelta = chrono::TimeDelta::milliseconds(100);

fn canary_figures(
    calls: &[Call],
    started: DateTime<Utc>,
    shifted: DateTime<Utc>,
    ended: DateTime<Utc>,
) -> CanaryFigures {
    let within =
        |c: &&Call, from: DateTime<Utc>, to| c.started >= from - ROUTING_SLACK && c.started <= to;
    let failed: Vec<&Call> = calls.iter().filter(|c| is_5xx(c)).collect();
    CanaryFigures {
        requests: calls.len(),
        during_deployment: calls.iter().filter(|c| within(c, started, ended)).count(),
        while_canary: calls.iter().filter(|c| within(c, shifted, ended)).count(),
        failed: failed.len(),
        failed_outside_canary: failed.iter().filter(|c| !within(c, shifted, ended)).count(),
        other_errors: calls
            .iter()
            .filter(|c| !c.ok() && !is_5xx(c))
            .map(|c| format!("{:?}", c.outcome))
            .collect(),
        failed_after_rollback: calls
            .iter()
            .filter(|c| c.started > ended && !c.ok())
            .count(),
    }
}

impl std::fmt::Display for CanaryFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = |part: usize, of: usize| 100.0 * part as f64 / of.max(1) as f64;
        write!(
            f,
            "{} requests, {} during the deployment, {} from the shift to the end of the \
             rollback; {} \
             answered 5xx = {:.1} % of the deployment's requests, {:.1} % of the latter \
             (chance allows up to {:.0})",
            self.requests,
            self.during_deployment,
            self.while_canary,
            self.failed,
            percent(self.failed, self.during_deployment),
            percent(self.failed, self.while_canary),
            self.bound(),
        )
    }
}

impl CanaryFigures {
    /// Most failures a 10 % canary explains: 10 % of the requests it overlapped, plus four
    /// standard deviations of chance (each request goes to the canary with p = 0.1) and two.
    /// Over a few hundred requests that is about 15 %.
    fn bound(&self) -> f64 {
        let n = self.while_canary as f64;
        0.1 * n + 4.0 * (n * 0.1 * 0.9).sqrt() + 2.0
    }

    fn check(&self) {
        assert!(self.other_errors.is_empty(), "{:?}", self.other_errors);
        assert!(self.failed > 0, "the canary never took traffic: {self}");
        assert_eq!(
            self.failed_outside_canary, 0,
            "5xx outside the canary: {self}"
        );
        assert!(
            self.failed as f64 <= self.bound(),
            "more of the canary's requests failed than 10 % allows: {self}"
        );
        assert_eq!(self.failed_after_rollback, 0, "{self}");
    }
}

/// The same flow with a good version completes: the alarm stays OK through the bake (a
/// period with requests and no error reads 0, not "no data"), the old fleet is kept for the
/// termination wait, no request fails, and the endpoint serves the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_of_a_good_version_completes() {
    let (_dir, p) = provider().await;
    let (_, v2, endpoint) = two_versions(&p, "steady", SAME_BUT_NEW, 1).await;
    let old_pids = p.instance_pids(&endpoint);
    p.put_alarm(errors_alarm(&endpoint)).await.unwrap();
    let load = Load::start(&p, &endpoint, 2, Duration::from_millis(20), 20_000);
    let mut policy = guarded_canary(10, 20);
    policy.termination_wait_seconds = 2;
    let id = update_to(&p, &endpoint, v2.clone(), policy.clone()).await;
    until_phase(&p, &endpoint, &id, "baking").await;
    assert_eq!(p.instance_pids(&endpoint).len(), 2, "both fleets run");
    let during = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(during.status, EndpointStatus::Updating);
    assert_eq!(during.variants[0].current_instance_count, Some(1));
    let e = p.wait_until_ready(&endpoint, long_wait()).await.unwrap();
    let calls = load.finish().await;

    assert_all_ok(&calls, 200);
    assert_eq!(e.variants[0].model_version, Some(v2));
    assert_eq!(e.failure_reason, None);
    let new_pids = p.instance_pids(&endpoint);
    assert_eq!(new_pids.len(), 1);
    assert!(
        !old_pids.contains(&new_pids[0]),
        "the old fleet still serves"
    );
    let phases = timeline(&p.get_deployment(&endpoint, &id).await.unwrap());
    assert_eq!(phases[..3], CANARY_START, "{phases:?}");
    let rest = ["shifting 100", "baking 100", "completed"];
    assert_eq!(phases[3..], rest, "{phases:?}");
    assert_eq!(e.last_deployment.unwrap().id, id);
    assert_eq!(
        e.deployment,
        Some(policy),
        "the update's policy is the endpoint's now"
    );
    let alarm = p.get_alarm(&endpoint, &alarm_name("errors")).await.unwrap();
    assert_eq!(alarm.state, AlarmState::Ok, "{}", alarm.state_reason);
    let history = p
        .list_deployments(&endpoint, PageRequest::first())
        .await
        .unwrap();
    let ids: Vec<_> = history.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["2", "1"], "the update, then the create, newest first");
}

/// Rolling replaces the instances in batches, linear shifts in steps; neither fails a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_and_linear_updates_step_through_without_failing_requests() {
    let (_dir, p) = provider().await;
    let (v1, v2, endpoint) = two_versions(&p, "stepwise", SAME_BUT_NEW, 2).await;
    let old_pids = p.instance_pids(&endpoint);
    let load = Load::start(&p, &endpoint, 4, Duration::from_millis(5), 20_000);
    let rolling = DeploymentPolicy::new(TrafficShift::Rolling {
        batch_percent: 50,
        interval_seconds: 1,
        rollback_batch_percent: Some(50),
    });
    let (e, phases) = roll_out(&p, &endpoint, v2.clone(), rolling).await;
    assert_eq!(e.variants[0].model_version, Some(v2));
    let pids = p.instance_pids(&endpoint);
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|pid| !old_pids.contains(pid)));
    let batches = ["shifting 50", "baking 50", "shifting 100", "baking 100"];
    assert_eq!(phases[1..5], batches, "{phases:?}");
    let linear = DeploymentPolicy::new(TrafficShift::Linear {
        step_percent: 50,
        interval_seconds: 1,
    });
    let (_, phases) = roll_out(&p, &endpoint, v1, linear).await;
    let steps = ["shifting 50", "baking 50", "shifting 100", "completed"];
    assert_eq!(phases[1..], steps, "{phases:?}");
    let calls = load.finish().await;
    assert_all_ok(&calls, 100);
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
}

/// A rolling update whose alarm fires brings back the old instances it had replaced (half of
/// them at a time, as `rollback_batch_percent` says) before the new ones go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_rolled_back_restores_the_old_instances() {
    let (_dir, p) = provider().await;
    let failing = [("MLM_EXAMPLE_ERROR_RATE", "1")];
    let (v1, bad, endpoint) = two_versions(&p, "rollingback", &failing, 2).await;
    let old_pids = p.instance_pids(&endpoint);
    p.put_alarm(errors_alarm(&endpoint)).await.unwrap();
    let load = Load::start(&p, &endpoint, 2, Duration::from_millis(10), 50_000);
    let rolling = DeploymentPolicy::new(TrafficShift::Rolling {
        batch_percent: 50,
        interval_seconds: 60,
        rollback_batch_percent: Some(50),
    })
    .with_rollback_alarm(alarm_name("errors"));
    let id = update_to(&p, &endpoint, bad, rolling).await;
    let err = p
        .wait_until_ready(&endpoint, long_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RolledBack(_)), "{err}");
    let ended = Utc::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = load.finish().await;
    let phases = timeline(&p.get_deployment(&endpoint, &id).await.unwrap());
    let expected = [
        "provisioning",
        "shifting 50",
        "baking 50",
        "rolling_back",
        "rolled_back",
    ];
    assert_eq!(phases, expected);
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.variants[0].model_version, Some(v1));
    assert_eq!(e.variants[0].current_instance_count, Some(2));
    let pids = p.instance_pids(&endpoint);
    assert_eq!(pids.len(), 2, "two old instances, none new");
    let kept = pids.iter().filter(|pid| old_pids.contains(pid)).count();
    assert_eq!(kept, 1, "one old instance was replaced, then brought back");
    let after: Vec<_> = calls.iter().filter(|c| c.started > ended).collect();
    assert!(
        !after.is_empty() && after.iter().all(|c| c.ok()),
        "{after:?}"
    );
}

/// A user stops a baking canary: it rolls back at once, its rollback alarm cannot be deleted
/// while it runs, and an ended deployment cannot be stopped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_deployment_rolls_it_back() {
    let (_dir, p) = provider().await;
    let (v1, v2, endpoint) = two_versions(&p, "halted", SAME_BUT_NEW, 1).await;
    let old_pids = p.instance_pids(&endpoint);
    p.put_alarm(errors_alarm(&endpoint)).await.unwrap();
    let id = update_to(&p, &endpoint, v2.clone(), guarded_canary(50, 3600)).await;
    until_phase(&p, &endpoint, &id, "baking").await;
    let err = p
        .delete_alarm(&endpoint, &alarm_name("errors"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let err = p
        .update_endpoint(
            UpdateEndpointRequest::new(endpoint.clone())
                .with_change(VariantChange::new(primary()).with_instance_count(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::FailedPrecondition,
        "one at a time: {err}"
    );

    let stopping = p.stop_deployment(&endpoint, &id).await.unwrap();
    assert_eq!(stopping.phase.as_str(), "rolling_back");
    let err = p
        .wait_until_ready(&endpoint, long_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RolledBack(_)), "{err}");
    assert!(err.to_string().contains("stopped by a user"), "{err}");
    let d = p.get_deployment(&endpoint, &id).await.unwrap();
    assert!(
        matches!(&d.phase, DeploymentPhase::RolledBack { reason, alarm: None }
            if reason == "stopped by a user"),
        "{:?}",
        d.phase
    );
    let err = p.stop_deployment(&endpoint, &id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.variants[0].model_version, Some(v1.clone()));
    assert_eq!(p.instance_pids(&endpoint), old_pids);
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
    // Ended: the alarm is free again, and unknown deployments are not found.
    p.delete_alarm(&endpoint, &alarm_name("errors"))
        .await
        .unwrap();
    let err = p.get_deployment(&endpoint, "99").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A rollback alarm must exist, or it could never roll anything back.
    let mut unguarded = UpdateEndpointRequest::new(endpoint.clone())
        .with_change(VariantChange::new(primary()).with_model_version(v2));
    unguarded.deployment = Some(guarded_canary(10, 60));
    let err = p.update_endpoint(unguarded).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("rollback alarm 'errors'"), "{err}");
    // A create has nothing to roll back to.
    let fresh = common::create_endpoint(&p, "halted-fresh", v1, 1).await;
    let err = p.stop_deployment(&fresh, "1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
}

/// A new fleet that never becomes healthy fails the deployment; the old one keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_fleet_that_cannot_start_fails_the_deployment() {
    let (_dir, p) = provider().await;
    let broken = [("MLM_EXAMPLE_FAIL_START", "no GPU")];
    let (v1, broken, endpoint) = two_versions(&p, "stuck", &broken, 1).await;
    let canary = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 60,
    });
    let id = update_to(&p, &endpoint, broken, canary).await;
    let err = p
        .wait_until_ready(&endpoint, long_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeploymentFailed(_)), "{err}");
    assert!(err.to_string().contains("exit status: 3"), "{err}");
    let d = p.get_deployment(&endpoint, &id).await.unwrap();
    assert_eq!(timeline(&d), ["provisioning", "failed"]);
    let e = p.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].model_version, Some(v1));
    assert_eq!(classify(&p, &endpoint).await.unwrap(), "Sports");
}

/// A server that stops during a deployment comes back on the previous configuration, and the
/// deployment says it was rolled back and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_running_when_the_server_stops_is_rolled_back_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalProvider::open(common::config(dir.path()))
        .await
        .unwrap();
    let (v1, v2, endpoint) = two_versions(&first, "interrupted", SAME_BUT_NEW, 1).await;
    first.put_alarm(errors_alarm(&endpoint)).await.unwrap();
    let id = update_to(&first, &endpoint, v2, guarded_canary(10, 3600)).await;
    until_phase(&first, &endpoint, &id, "baking").await;
    first.simulate_crash();

    // The rollout notices the shutdown within a watch interval and lets the data dir go.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match LocalProvider::open(common::config(dir.path())).await {
            Ok(p) => break p,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::FailedPrecondition, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let err = second
        .wait_until_ready(&endpoint, long_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RolledBack(_)), "{err}");
    assert!(err.to_string().contains("server stopped"), "{err}");
    let e = second.get_endpoint(&endpoint).await.unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].model_version, Some(v1));
    assert_eq!(classify(&second, &endpoint).await.unwrap(), "Sports");
    let alarm = second.get_alarm(&endpoint, &alarm_name("errors")).await;
    assert!(alarm.is_ok(), "alarms survive a restart: {alarm:?}");
    second.shutdown().await;
}

/// Alarm CRUD: checked definitions, paging by name, a replaced definition keeps its state,
/// deletes; and, with real traffic, OK → ALARM → OK, and each missing-data treatment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_kept_checked_and_follow_the_traffic() {
    let (_dir, p) = provider().await;
    let version = register(&p, "watched", common::RUNTIME, &[]).await;
    let endpoint = deploy(&p, "watched", version, 1).await;
    alarm_definitions_are_checked(&p, &endpoint).await;

    let busy = |name: &str, missing| {
        AlarmDefinition::new(
            alarm_name(name),
            endpoint.clone(),
            MetricKind::Invocations,
            Statistic::Sum,
            Comparison::GreaterThan,
            5.0,
            10,
        )
        .with_missing_data(missing)
    };
    p.put_alarm(busy("busy", TreatMissingData::Missing))
        .await
        .unwrap();
    p.put_alarm(busy("busy-or-silent", TreatMissingData::Breaching))
        .await
        .unwrap();
    p.put_alarm(busy("busy-not-silent", TreatMissingData::NotBreaching))
        .await
        .unwrap();
    // Breaching when missing: it tells "no error" (0) from "no data" apart.
    let errors = errors_alarm(&endpoint).with_missing_data(TreatMissingData::Breaching);
    p.put_alarm(errors).await.unwrap();
    let page = p
        .list_alarms(&endpoint, PageRequest::first().with_page_size(2))
        .await
        .unwrap();
    let names: Vec<_> = page
        .items
        .iter()
        .map(|a| a.definition.name.as_str())
        .collect();
    assert_eq!(names, ["busy", "busy-not-silent"]);
    assert!(page.next_page_token.is_some());

    // No traffic yet.
    until_state(&p, &endpoint, "busy", AlarmState::InsufficientData).await;
    until_state(&p, &endpoint, "busy-or-silent", AlarmState::Alarm).await;
    until_state(&p, &endpoint, "busy-not-silent", AlarmState::Ok).await;
    until_state(&p, &endpoint, "errors", AlarmState::Alarm).await;
    // A burst: more than 5 requests in a period, none failing.
    for _ in 0..20 {
        classify(&p, &endpoint).await.unwrap();
    }
    until_state(&p, &endpoint, "busy", AlarmState::Alarm).await;
    until_state(&p, &endpoint, "errors", AlarmState::Ok).await;
    // A trickle: a request every 4 s, at most 3 in a period.
    let trickle = Load::start(&p, &endpoint, 1, Duration::from_secs(4), 100);
    until_state(&p, &endpoint, "busy", AlarmState::Ok).await;
    let calls = trickle.finish().await;
    assert!(calls.iter().all(Call::ok), "{calls:?}");
    let events = p.endpoint_events(&endpoint, 200).unwrap();
    let busy_changes: Vec<_> = events
        .iter()
        .rev()
        .filter(|e| e.event == "alarm_state")
        .filter_map(|e| e.detail.as_deref())
        .filter(|d| d.starts_with("alarm 'busy':"))
        .map(|d| d.split(':').nth(1).unwrap_or_default().trim())
        .collect();
    assert_eq!(
        busy_changes,
        ["INSUFFICIENT_DATA -> ALARM", "ALARM -> OK"],
        "{events:?}"
    );
}

/// Waits (at most three 10 s periods) until the alarm `name` is in `state`.
async fn until_state(p: &LocalProvider, endpoint: &EndpointName, name: &str, state: AlarmState) {
    let deadline = Instant::now() + Duration::from_secs(35);
    loop {
        let alarm = p.get_alarm(endpoint, &alarm_name(name)).await.unwrap();
        if alarm.state == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "alarm '{name}' is {} ({}), not {state}",
            alarm.state,
            alarm.state_reason
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `put_alarm`, `get_alarm` and `delete_alarm` refuse, and a replace that keeps state.
async fn alarm_definitions_are_checked(p: &LocalProvider, endpoint: &EndpointName) {
    let mut notify = errors_alarm(endpoint);
    notify.actions = vec!["arn:aws:sns:eu-west-1:123456789012:alerts".into()];
    let err = p.put_alarm(notify).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let nowhere = errors_alarm(&EndpointName::new("nowhere").unwrap());
    let err = p.put_alarm(nowhere).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let odd = errors_alarm(endpoint).for_variant(VariantName::new("shadow").unwrap());
    let err = p.put_alarm(odd).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let mut bad = errors_alarm(endpoint);
    bad.period_seconds = 45;
    let err = p.put_alarm(bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let scratch = |threshold| {
        let mut a = errors_alarm(endpoint).for_variant(primary());
        a.name = alarm_name("scratch");
        a.threshold = threshold;
        a
    };
    let created = p.put_alarm(scratch(1.0)).await.unwrap();
    assert_eq!(created.state, AlarmState::InsufficientData);
    let replaced = p.put_alarm(scratch(2.0)).await.unwrap();
    assert_eq!(replaced.definition.threshold, 2.0);
    assert_eq!(
        replaced.state_since, created.state_since,
        "the state is kept"
    );
    let name = alarm_name("scratch");
    assert_eq!(p.get_alarm(endpoint, &name).await.unwrap(), replaced);
    p.delete_alarm(endpoint, &name).await.unwrap();
    for err in [
        p.get_alarm(endpoint, &name).await.unwrap_err(),
        p.delete_alarm(endpoint, &name).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
}
