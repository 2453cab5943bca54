//! The health monitor: every `health_interval` it samples the instances' resource use, notices
//! instances that died or stopped answering `/ping`, and restarts them with a backoff that
//! belongs to the instance's slot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::{EndpointName, InstanceStatus, MetricKind, Result};

use super::Inner;
use crate::instance::{InstanceHandle, Probe};
use crate::metrics::{ProcessFigures, Sample};
use crate::router::{EndpointRuntime, VariantRoute};

/// Every `health_interval`: sample resources, notice dead or hung instances, restart them with
/// backoff. Holds only a weak reference, so it ends when the provider is dropped.
pub(super) async fn monitor_loop(weak: std::sync::Weak<Inner>) {
    let mut ping_failures = PingFailures::new();
    while let Some(inner) = super::next_tick(&weak, |c| c.health_interval).await {
        check_all_endpoints(&inner, &mut ping_failures).await;
    }
}

/// Unanswered pings in a row, per endpoint and instance.
type PingFailures = HashMap<(EndpointName, String), u32>;

/// One round of the monitor: samples every instance process at once, then checks each endpoint.
async fn check_all_endpoints(inner: &Arc<Inner>, ping_failures: &mut PingFailures) {
    let runtimes = inner.runtimes();
    let pids: Vec<u32> = runtimes
        .iter()
        .flat_map(|rt| {
            rt.table()
                .iter()
                .flat_map(|r| r.instances.iter().map(|i| i.pid))
                .collect::<Vec<_>>()
        })
        .collect();
    let figures = inner
        .sampler
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sample(&pids);
    let now = Utc::now();
    for rt in runtimes {
        check_endpoint(inner, &rt, &figures, now, ping_failures).await;
    }
}

/// Records the samples of an endpoint's instances, checks each instance's health, and drops the
/// metrics of instances no longer in the routing table.
async fn check_endpoint(
    inner: &Arc<Inner>,
    rt: &Arc<EndpointRuntime>,
    figures: &HashMap<u32, ProcessFigures>,
    now: DateTime<Utc>,
    ping_failures: &mut PingFailures,
) {
    let table = rt.table();
    let mut samples = Vec::new();
    for route in table.iter() {
        let vcpus = inner.vcpus_of(route);
        for instance in &route.instances {
            samples.extend(instance_samples(
                instance,
                figures.get(&instance.pid),
                vcpus,
                now,
            ));
            check_instance(inner, rt, instance, ping_failures).await;
        }
    }
    rt.record(samples);
    let live: Vec<&str> = table
        .iter()
        .flat_map(|r| r.instances.iter().map(|i| i.id.as_str()))
        .collect();
    rt.metrics
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain_instances(&live);
}

impl Inner {
    /// The vCPUs of a variant's instance type (at least 1): CPU use is reported per vCPU.
    fn vcpus_of(&self, route: &VariantRoute) -> u32 {
        self.config
            .instance_types
            .get(route.spec.instance_type.as_deref().unwrap_or_default())
            .and_then(|p| p.vcpus)
            .unwrap_or(1)
            .max(1)
    }
}

/// One instance's samples at `now`: its in-flight requests, and what was measured of its
/// process (`figures`), with CPU use divided over the instance type's `vcpus`.
fn instance_samples(
    instance: &InstanceHandle,
    figures: Option<&ProcessFigures>,
    vcpus: u32,
    now: DateTime<Utc>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let id = instance.key.clone();
    let mut push = |kind, value| {
        samples.push(Sample {
            at: now,
            variant: instance.variant_key.clone(),
            instance: id.clone(),
            kind,
            value,
        })
    };
    push(
        MetricKind::InFlightRequests,
        f64::from(instance.in_flight.load(Ordering::SeqCst)),
    );
    if let Some(f) = figures {
        if let Some(cpu) = f.cpu_percent {
            push(MetricKind::CpuUtilization, cpu / f64::from(vcpus));
        }
        if let Some(m) = f.memory_percent {
            push(MetricKind::MemoryUtilization, m);
        }
        if let Some(g) = f.gpu_percent {
            push(MetricKind::GpuUtilization, g);
        }
        if let Some(g) = f.gpu_memory_percent {
            push(MetricKind::GpuMemoryUtilization, g);
        }
    }
    samples
}

/// Marks a dead or unresponsive instance Failed and schedules its restart.
async fn check_instance(
    inner: &Arc<Inner>,
    rt: &Arc<EndpointRuntime>,
    instance: &Arc<InstanceHandle>,
    ping_failures: &mut PingFailures,
) {
    let key = (rt.name.clone(), instance.id.clone());
    match instance.status() {
        InstanceStatus::InService => {
            let reason = if let Some(exit) = instance.has_exited().await {
                Some(exit)
            } else {
                match instance.ping(&inner.client, Duration::from_secs(2)).await {
                    Probe::Healthy => {
                        ping_failures.remove(&key);
                        forget_backoff_when_settled(rt, instance);
                        None
                    }
                    // Our own shortage says nothing about the instance: no strike against it.
                    Probe::LocalResources => {
                        tracing::warn!(
                            endpoint = %rt.name,
                            instance = instance.id,
                            "cannot health-check the instance: this server is out of file \
                             descriptors or ports; raise the fd limit or lower max_connections"
                        );
                        None
                    }
                    Probe::Unhealthy => {
                        let failures = ping_failures.entry(key.clone()).or_default();
                        *failures += 1;
                        (*failures >= 3).then(|| "stopped answering /ping".to_string())
                    }
                }
            };
            if let Some(reason) = reason {
                ping_failures.remove(&key);
                instance.set_status(InstanceStatus::Failed);
                inner.log(
                    &rt.name,
                    "instance_failed",
                    Some(&format!(
                        "{}: {reason}; last output: {}",
                        instance.id,
                        instance.output_tail()
                    )),
                );
                schedule_restart(inner.clone(), rt.clone(), instance.clone());
            }
        }
        InstanceStatus::Failed => schedule_restart(inner.clone(), rt.clone(), instance.clone()),
        _ => {}
    }
}

/// Lets a slot's restart backoff start afresh once its instance has been healthy for long.
fn forget_backoff_when_settled(rt: &EndpointRuntime, instance: &InstanceHandle) {
    let settled = (Utc::now() - instance.started_at)
        .to_std()
        .is_ok_and(|age| age >= BACKOFF_RESET_AFTER);
    if settled {
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        if restarts.get(&instance.id).is_some_and(|s| !s.in_progress) {
            restarts.remove(&instance.id);
        }
    }
}

/// How long a restarted instance must stay healthy before its slot's restart backoff starts
/// again from the shortest delay.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

/// The delay before restart number `attempt` of one slot: 0.5 s doubling to 30 s.
fn restart_delay(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.clamp(1, 7).saturating_sub(1)))
        .min(Duration::from_secs(30))
}

/// Restarts a failed instance after an exponential backoff; at most one restart per instance
/// runs at a time. The backoff belongs to the slot, not to the process: the replacement
/// inherits the attempt count, which resets only after [`BACKOFF_RESET_AFTER`] of health, so
/// an instance that crashes soon after every start is restarted less and less often.
fn schedule_restart(inner: Arc<Inner>, rt: Arc<EndpointRuntime>, failed: Arc<InstanceHandle>) {
    let attempts = {
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        let state = restarts.entry(failed.id.clone()).or_default();
        if state.in_progress {
            return;
        }
        state.in_progress = true;
        state.attempts += 1;
        state.attempts
    };
    let delay = restart_delay(attempts);
    inner.log(
        &rt.name,
        "restart_scheduled",
        Some(&format!(
            "{} in {:.1}s (attempt {attempts})",
            failed.id,
            delay.as_secs_f64()
        )),
    );
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let outcome = restart(&inner, &rt, &failed).await;
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = restarts.remove(&failed.id).unwrap_or_default();
        state.in_progress = false;
        match outcome {
            Ok(Some(replacement)) => {
                restarts.insert(replacement, state);
            }
            Ok(None) => {}
            Err(e) => {
                restarts.insert(failed.id.clone(), state);
                drop(restarts);
                inner.log(
                    &rt.name,
                    "restart_failed",
                    Some(&format!("{}: {e}", failed.id)),
                );
            }
        }
    });
}

/// Replaces `failed` in the routing table with a new instance; answers the new instance's id,
/// or `None` when there was nothing to replace any more.
async fn restart(
    inner: &Arc<Inner>,
    rt: &Arc<EndpointRuntime>,
    failed: &Arc<InstanceHandle>,
) -> Result<Option<String>> {
    if inner.shutting_down.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let _work = rt.work.lock().await;
    let table = rt.table();
    let Some(route) = table
        .iter()
        .find(|r| r.instances.iter().any(|i| Arc::ptr_eq(i, failed)))
    else {
        return Ok(None); // replaced or removed by lifecycle work meanwhile
    };
    failed.kill().await;
    let _ = inner.store.forget_process(rt.name.as_str(), &failed.id);
    let mut replacement = inner
        .start_instances(rt, &route.spec, 1, &rt.deleting)
        .await?;
    let new = replacement.pop().expect("one instance was started");
    let new_table: Vec<VariantRoute> = table
        .iter()
        .map(|r| VariantRoute {
            spec: r.spec.clone(),
            fleet: r.fleet,
            instances: r
                .instances
                .iter()
                .map(|i| {
                    if Arc::ptr_eq(i, failed) {
                        new.clone()
                    } else {
                        i.clone()
                    }
                })
                .collect(),
        })
        .collect();
    rt.set_table(new_table);
    inner.log(
        &rt.name,
        "instance_restarted",
        Some(&format!("{} replaced {}", new.id, failed.id)),
    );
    Ok(Some(new.id.clone()))
}
