//! Autoscaling: target tracking of a variant's instance count, as Application Auto Scaling
//! does it for SageMaker variants, with the same [`AutoscalingPolicy`].
//!
//! Every `autoscaling_interval` a sibling of the health monitor looks at each `InService`
//! endpoint (never one that is creating, updating or rolling out: that tick is skipped) and,
//! for each variant with a policy, reads its metric from the endpoint's metric history over
//! the last `autoscaling_window`, but never from before the endpoint last changed (the
//! figures of an older fleet say nothing about this one):
//! - `invocations_per_instance`: invocations per instance per minute (SageMaker's
//!   `InvocationsPerInstance`);
//! - `concurrent_requests`: requests in flight per instance, averaged over the monitor's
//!   samples;
//! - `cpu_utilization` / `gpu_utilization`: the instances' average, in % (CPU per vCPU of the
//!   instance type). Without GPU figures (no NVIDIA driver) a GPU policy has no data and never
//!   scales: it is accepted, as SageMaker accepts it, and holds the count.
//!
//! The count wanted is `ceil(current × metric / target)`, clamped to
//! `[min_instances, max_instances]`. A scale-out happens at once unless the variant scaled out
//! less than its scale-out cooldown ago; a scale-in (by as much as the metric justifies) waits
//! until the endpoint has not changed for its scale-in cooldown (any scaling, update or create
//! restarts it, so the count never falls right after it rose). Cooldowns come from the policy,
//! else from `scale_in_cooldown_secs` / `scale_out_cooldown_secs` of the configuration.
//!
//! A decision is an endpoint event (`autoscaling_scale_out` / `autoscaling_scale_in`, with the
//! figures), and runs as SageMaker runs it: the endpoint is `Updating` (user updates wait)
//! while the count changes in place through the same path as a capacity update — new
//! instances take traffic once they answer, leaving ones drain first, so no request fails.
//! The server's instance caps apply as to any update (`autoscaling_blocked` says when they
//! stop a scale-out). The policy is part of the stored variant, so it survives a restart.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::{
    AutoscalingPolicy, EndpointStatus, MetricKind, ScalingMetric, Variant, VariantName, VariantSpec,
};

use super::Inner;
use super::endpoints::{commit_resize, resize};
use crate::router::{AutoscalerMemory, EndpointRuntime, Fleet};

/// Evaluates every policy each `autoscaling_interval`; ends when the provider is dropped.
pub(super) async fn autoscale_loop(weak: Weak<Inner>) {
    while let Some(inner) = super::next_tick(&weak, |c| c.autoscaling_interval).await {
        for rt in inner.runtimes() {
            evaluate_endpoint(&inner, &rt);
        }
    }
}

/// What one evaluation of one variant looks at.
#[derive(Debug, Clone)]
pub(super) struct Evaluation<'a> {
    pub policy: &'a AutoscalingPolicy,
    /// Instances the variant has now.
    pub current: u32,
    /// The tracked metric over the window; `None`: no data.
    pub metric: Option<f64>,
    pub now: DateTime<Utc>,
    /// When the endpoint last changed (scaled, updated, created).
    pub changed_at: DateTime<Utc>,
    /// When the autoscaler last scaled this variant out.
    pub scaled_out_at: Option<DateTime<Utc>>,
    pub scale_in_cooldown: Duration,
    pub scale_out_cooldown: Duration,
    /// A deployment runs (or the endpoint is not `InService`): nothing changes.
    pub busy: bool,
}

/// What an evaluation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Keep the count, and why.
    Hold(&'static str),
    /// Go to this many instances.
    Scale(u32),
}

/// The count the metric asks for: `ceil(current × metric / target)` within the policy's
/// bounds (a metric that is not a number holds the count). A hair is taken off before
/// rounding up, so a metric exactly at the target holds the count despite floating-point
/// noise.
pub(super) fn desired_count(policy: &AutoscalingPolicy, current: u32, metric: f64) -> u32 {
    let raw = (f64::from(current) * metric / policy.target_value - 1e-9).ceil();
    let wanted = if raw.is_finite() {
        raw.clamp(0.0, f64::from(u32::MAX)) as u32
    } else {
        current
    };
    wanted.clamp(policy.min_instances, policy.max_instances)
}

/// Target tracking with cooldowns (see the module documentation).
pub(super) fn decide(e: &Evaluation<'_>) -> Decision {
    if e.busy {
        return Decision::Hold("a deployment is running");
    }
    let Some(metric) = e.metric else {
        return Decision::Hold("no data");
    };
    let wanted = desired_count(e.policy, e.current, metric);
    let since = |t: DateTime<Utc>| (e.now - t).to_std().unwrap_or_default();
    if wanted > e.current {
        if e.scaled_out_at
            .is_some_and(|t| since(t) < e.scale_out_cooldown)
        {
            return Decision::Hold("scale-out cooldown");
        }
        Decision::Scale(wanted)
    } else if wanted < e.current {
        if since(e.changed_at) < e.scale_in_cooldown {
            return Decision::Hold("scale-in cooldown");
        }
        Decision::Scale(wanted)
    } else {
        Decision::Hold("on target")
    }
}

/// The tracked metric of `variant` (with `current` instances) from `since` to `now`.
fn observe(
    rt: &EndpointRuntime,
    variant: &VariantName,
    metric: ScalingMetric,
    current: u32,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Option<f64> {
    let (since, now) = window;
    let ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
    let values = |kind| ring.values_since(variant.as_str(), kind, since);
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    match metric {
        ScalingMetric::InvocationsPerInstance => {
            let minutes = (now - since).num_milliseconds() as f64 / 60_000.0;
            let calls = values(MetricKind::Invocations).len() as f64;
            (current > 0 && minutes > 0.0).then(|| calls / f64::from(current) / minutes)
        }
        ScalingMetric::ConcurrentRequests => mean(values(MetricKind::InFlightRequests)),
        ScalingMetric::CpuUtilization => mean(values(MetricKind::CpuUtilization)),
        ScalingMetric::GpuUtilization => mean(values(MetricKind::GpuUtilization)),
        _ => None,
    }
}

/// One tick for one endpoint: the first variant whose policy asks for a change starts it
/// (the endpoint is then `Updating`, and the others wait for the next tick).
fn evaluate_endpoint(inner: &Arc<Inner>, rt: &Arc<EndpointRuntime>) {
    let Ok(stored) = inner.store.get_endpoint(&rt.name) else {
        return;
    };
    let endpoint = &stored.endpoint;
    let table = rt.table();
    let busy = endpoint.status != EndpointStatus::InService
        || stored.pending.is_some()
        || table.iter().any(|r| r.fleet == Fleet::Next);
    let now = Utc::now();
    let window = chrono::Duration::from_std(inner.config.autoscaling_window)
        .unwrap_or(chrono::Duration::seconds(60));
    let since = (now - window).max(endpoint.updated_at);
    // Less than one monitor round since the last change is too little to judge by.
    if (now - since).to_std().unwrap_or_default() < inner.config.health_interval {
        return;
    }
    for variant in &endpoint.variants {
        let Some(policy) = &variant.autoscaling else {
            continue;
        };
        let Some(route) = table
            .iter()
            .find(|r| r.fleet == Fleet::Current && r.spec.name == variant.name)
        else {
            continue;
        };
        let current = route.instances.len() as u32;
        let metric = observe(rt, &variant.name, policy.metric, current, (since, now));
        let evaluation = Evaluation {
            policy,
            current,
            metric,
            now,
            changed_at: endpoint.updated_at,
            scaled_out_at: rt.memory().scaled_out_at.get(&variant.name).copied(),
            scale_in_cooldown: cooldown(
                policy.scale_in_cooldown_seconds,
                inner.config.scale_in_cooldown,
            ),
            scale_out_cooldown: cooldown(
                policy.scale_out_cooldown_seconds,
                inner.config.scale_out_cooldown,
            ),
            busy,
        };
        if let Decision::Scale(to) = decide(&evaluation) {
            let why = format!(
                "variant '{}': {} → {to} instance(s); {} {:.2} over the last {:.1}s, target {}",
                variant.name,
                current,
                metric_name(policy.metric),
                metric.unwrap_or_default(),
                (now - since).num_milliseconds() as f64 / 1000.0,
                policy.target_value
            );
            let change = Change {
                variant: variant.name.clone(),
                from: current,
                to,
                why,
            };
            tokio::spawn(apply(inner.clone(), rt.clone(), change));
            return;
        }
    }
}

fn cooldown(policy: Option<u32>, default: Duration) -> Duration {
    policy.map_or(default, |s| Duration::from_secs(u64::from(s)))
}

/// The snake_case name of a metric, as policies spell it.
fn metric_name(metric: ScalingMetric) -> String {
    serde_json::to_value(metric)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{metric:?}"))
}

impl EndpointRuntime {
    fn memory(&self) -> std::sync::MutexGuard<'_, AutoscalerMemory> {
        self.autoscaler.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One decided change of one variant's count.
struct Change {
    variant: VariantName,
    from: u32,
    to: u32,
    /// The event's detail: what, why, the figures.
    why: String,
}

/// Carries out a decision: under `control`, checks the endpoint is still `InService` and the
/// server has room, marks it `Updating` and records the event; then resizes in place.
async fn apply(inner: Arc<Inner>, rt: Arc<EndpointRuntime>, change: Change) {
    let Some(target) = begin(&inner, &rt, &change).await else {
        return;
    };
    let _work = rt.work.lock().await;
    let resized = resize(&inner, &rt, &target, &rt.deleting).await;
    if let Some(e) = resized.failure {
        inner.stop_all(&rt.name, &resized.started).await;
        inner.update_stored(&rt.name, |s| {
            s.pending = None;
            s.endpoint.status = EndpointStatus::InService;
        });
        let detail = format!("variant '{}': {}", change.variant, e.message());
        inner.log(&rt.name, "autoscaling_failed", Some(&detail));
        return;
    }
    commit_resize(&inner, &rt, &target, resized.table, &resized.retiring).await;
    if change.to > change.from {
        rt.memory()
            .scaled_out_at
            .insert(change.variant.clone(), Utc::now());
    }
    let detail = format!("variant '{}': {} instance(s)", change.variant, change.to);
    inner.log(&rt.name, "autoscaled", Some(&detail));
}

/// The checked start of a change: the target variant set, with the endpoint now `Updating`
/// and the decision logged; `None` when the endpoint moved on or the server has no room.
async fn begin(inner: &Inner, rt: &EndpointRuntime, change: &Change) -> Option<Vec<VariantSpec>> {
    let _control = inner.control.lock().await;
    let name = &rt.name;
    let mut stored = inner.store.get_endpoint(name).ok()?;
    if stored.endpoint.status != EndpointStatus::InService || stored.pending.is_some() {
        return None;
    }
    let target: Vec<VariantSpec> = stored
        .endpoint
        .variants
        .iter()
        .filter_map(Variant::to_spec)
        .map(|mut v| {
            if v.name == change.variant {
                v.instance_count = change.to;
            }
            v
        })
        .collect();
    if let Err(e) = inner.check_capacity(name, &target) {
        let detail = format!("{}; {}", change.why, e.message());
        // Said once, not at every tick while the server stays full.
        if !std::mem::replace(&mut rt.memory().blocked, true) {
            inner.log(name, "autoscaling_blocked", Some(&detail));
        }
        return None;
    }
    rt.memory().blocked = false;
    stored.endpoint.status = EndpointStatus::Updating;
    stored.endpoint.updated_at = Utc::now();
    stored.pending = Some(target.clone());
    inner.store.put_endpoint(&stored).ok()?;
    let event = if change.to > change.from {
        "autoscaling_scale_out"
    } else {
        "autoscaling_scale_in"
    };
    inner.log(name, event, Some(&change.why));
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AutoscalingPolicy {
        AutoscalingPolicy::new(1, 3, ScalingMetric::ConcurrentRequests, 2.0)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    /// One instance, 60 s after the last change, no scale-out yet, cooldowns 30 s each.
    fn evaluation(policy: &AutoscalingPolicy, current: u32, metric: f64) -> Evaluation<'_> {
        Evaluation {
            policy,
            current,
            metric: Some(metric),
            now: at(60),
            changed_at: at(0),
            scaled_out_at: None,
            scale_in_cooldown: Duration::from_secs(30),
            scale_out_cooldown: Duration::from_secs(30),
            busy: false,
        }
    }

    #[test]
    fn desired_count_tracks_the_target_within_bounds() {
        let p = policy();
        assert_eq!(
            desired_count(&p, 1, 6.0),
            3,
            "6 in flight on 1: 3 at 2 each"
        );
        assert_eq!(desired_count(&p, 1, 60.0), 3, "clamped to max");
        assert_eq!(desired_count(&p, 3, 0.0), 1, "clamped to min");
        assert_eq!(desired_count(&p, 2, 2.0), 2, "on target: held");
        assert_eq!(desired_count(&p, 3, 1.4), 3, "4.2 in all needs 3 instances");
        assert_eq!(desired_count(&p, 3, 1.0), 2, "3 in all needs 2 instances");
        assert_eq!(
            desired_count(&p, 2, 2.000_000_000_1),
            2,
            "noise is not a scale-out"
        );
        assert_eq!(desired_count(&p, 2, f64::NAN), 2, "not a number: held");
        let wide = AutoscalingPolicy::new(2, 100, ScalingMetric::CpuUtilization, 50.0);
        assert_eq!(desired_count(&wide, 4, 80.0), 7, "ceil(4 x 80 / 50)");
        assert_eq!(desired_count(&wide, 4, f64::INFINITY), 4);
        assert_eq!(desired_count(&wide, 1, 0.0), 2, "never below min");
    }

    #[test]
    fn scale_out_at_once_and_after_its_cooldown() {
        let p = policy();
        assert_eq!(decide(&evaluation(&p, 1, 6.0)), Decision::Scale(3));
        let mut recent = evaluation(&p, 2, 6.0);
        recent.scaled_out_at = Some(at(40));
        assert_eq!(decide(&recent), Decision::Hold("scale-out cooldown"));
        recent.scaled_out_at = Some(at(30));
        assert_eq!(decide(&recent), Decision::Scale(3), "30 s have passed");
        // A recent change of another kind does not hold a scale-out back.
        let mut changed = evaluation(&p, 1, 6.0);
        changed.changed_at = at(59);
        assert_eq!(decide(&changed), Decision::Scale(3));
    }

    #[test]
    fn scale_in_only_after_the_cooldown_since_the_last_change() {
        let p = policy();
        let mut e = evaluation(&p, 3, 0.5);
        assert_eq!(decide(&e), Decision::Scale(1), "1.5 in all fits on 1");
        e.changed_at = at(45);
        assert_eq!(decide(&e), Decision::Hold("scale-in cooldown"));
        e.metric = Some(1.0);
        e.changed_at = at(0);
        assert_eq!(
            decide(&e),
            Decision::Scale(2),
            "no further than the metric justifies"
        );
    }

    #[test]
    fn nothing_changes_during_a_deployment_or_without_data() {
        let p = policy();
        let mut e = evaluation(&p, 1, 6.0);
        e.busy = true;
        assert_eq!(decide(&e), Decision::Hold("a deployment is running"));
        e.busy = false;
        e.metric = None;
        assert_eq!(decide(&e), Decision::Hold("no data"));
        assert_eq!(decide(&evaluation(&p, 2, 2.0)), Decision::Hold("on target"));
    }

    #[test]
    fn metric_names_are_the_policy_spelling() {
        assert_eq!(
            metric_name(ScalingMetric::InvocationsPerInstance),
            "invocations_per_instance"
        );
        assert_eq!(
            cooldown(Some(7), Duration::from_secs(300)),
            Duration::from_secs(7)
        );
        assert_eq!(
            cooldown(None, Duration::from_secs(300)),
            Duration::from_secs(300)
        );
    }
}
