//! Serverless variants on the local backend: no instance until a request arrives, then one
//! instance process started while the request waits (a cold start), taking at most
//! `max_concurrency` requests at once (more are throttled at once, in the router); drained and
//! stopped after `serverless_idle` without a request (scale to zero) unless the variant has
//! provisioned concurrency; restarted when its process uses more than `memory_mb`.
//!
//! Every change is an endpoint event: `serverless_cold_start`, `serverless_scaled_to_zero`,
//! `serverless_memory_exceeded`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mlm_core::{Error, InstanceStatus, Result, VariantName, VariantSpec};

use super::Inner;
use crate::instance::InstanceHandle;
use crate::router::{EndpointRuntime, VariantRoute};

/// The instances a variant starts with: a serverless one has one when it has provisioned
/// concurrency (kept warm), else none until a request arrives.
pub(super) fn initial_count(spec: &VariantSpec) -> u32 {
    spec.serverless.map_or(spec.instance_count, |s| {
        u32::from(s.provisioned_concurrency.is_some())
    })
}

/// Instance slots a variant may take on this server (for the instance caps): one for a
/// serverless variant.
pub(super) fn slots(spec: &VariantSpec) -> u32 {
    if spec.serverless.is_some() {
        1
    } else {
        spec.instance_count
    }
}

/// Whether a request to `target` (or by weight) may go to `route`, which is serverless and has
/// no instance serving.
fn is_cold(route: &VariantRoute, target: Option<&VariantName>) -> bool {
    let eligible = match target {
        Some(t) => &route.spec.name == t,
        None => route.spec.weight > 0.0,
    };
    eligible && route.spec.serverless.is_some() && route.healthy_count() == 0
}

/// A process's resident memory in bytes (Linux `/proc/<pid>/status`, `VmRSS`).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

const MIB: u64 = 1024 * 1024;

impl Inner {
    /// Before a request is routed: cold-starts every serverless variant it may go to that has
    /// no instance serving, and waits until each answers `/ping`. Requests arriving meanwhile
    /// wait for the same start.
    pub(super) async fn warm_serverless(
        &self,
        rt: &EndpointRuntime,
        target: Option<&VariantName>,
    ) -> Result<()> {
        // The common case, without a lock: nothing is cold.
        if !rt.table().iter().any(|r| is_cold(r, target)) {
            return Ok(());
        }
        let _serverless = rt.serverless.lock().await;
        // Read again: a request that held the lock may have started them meanwhile.
        let cold: Vec<VariantRoute> = rt
            .table()
            .iter()
            .filter(|r| is_cold(r, target))
            .cloned()
            .collect();
        for route in cold {
            self.cold_start(rt, &route).await?;
        }
        Ok(())
    }

    /// Starts the instance of a cold serverless variant, puts it in the table, and records
    /// how long that took. Callers hold `rt.serverless`.
    async fn cold_start(&self, rt: &EndpointRuntime, route: &VariantRoute) -> Result<()> {
        let started = Instant::now();
        let instance = self
            .start_instances(rt, &route.spec, 1, &rt.deleting)
            .await?
            .pop()
            .ok_or_else(|| Error::provider_msg("the cold start started nothing", true))?;
        let millis = started.elapsed().as_millis();
        let placed = rt.edit_table(|table| {
            let slot = table
                .iter_mut()
                .find(|r| r.fleet == route.fleet && r.spec == route.spec);
            slot.map(|r| r.instances.push(instance.clone())).is_some()
        });
        if !placed {
            self.stop_all(&rt.name, &[instance]).await;
            return Err(Error::provider_msg(
                format!("endpoint '{}' changed during a cold start; retry", rt.name),
                true,
            ));
        }
        self.log(
            &rt.name,
            "serverless_cold_start",
            Some(&format!(
                "variant '{}' cold-started instance {} in {millis} ms",
                route.spec.name, instance.id
            )),
        );
        Ok(())
    }

    /// One round of serverless upkeep on an endpoint: restarts instances over their
    /// `memory_mb`, and stops those idle for `serverless_idle` (unless provisioned).
    pub(super) async fn tend_serverless(&self, rt: &EndpointRuntime) {
        let table = rt.table();
        let serverless = table.iter().filter_map(|r| Some((r, r.spec.serverless?)));
        let mut over_memory = Vec::new();
        let mut idle = Vec::new();
        for (route, config) in serverless {
            for instance in &route.instances {
                if instance.status() != InstanceStatus::InService {
                    continue;
                }
                let limit = u64::from(config.memory_mb) * MIB;
                match resident_bytes(instance.pid) {
                    Some(used) if used > limit => {
                        over_memory.push((route.clone(), instance.clone(), used))
                    }
                    _ if config.provisioned_concurrency.is_none()
                        && instance.idle_for() >= self.config.serverless_idle =>
                    {
                        idle.push((route.spec.name.clone(), instance.clone()))
                    }
                    _ => {}
                }
            }
        }
        if over_memory.is_empty() && idle.is_empty() {
            return;
        }
        let _serverless = rt.serverless.lock().await;
        for (route, instance, used) in over_memory {
            self.restart_over_memory(rt, &route, &instance, used).await;
        }
        for (variant, instance) in idle {
            self.scale_to_zero(rt, &variant, &instance).await;
        }
    }

    /// Takes an idle serverless instance out of the table, drains and stops it. Callers hold
    /// `rt.serverless`.
    async fn scale_to_zero(
        &self,
        rt: &EndpointRuntime,
        variant: &VariantName,
        instance: &Arc<InstanceHandle>,
    ) {
        // A request may have come since the instance was found idle.
        if instance.idle_for() < self.config.serverless_idle || !self.remove(rt, instance) {
            return;
        }
        self.stop_all(&rt.name, std::slice::from_ref(instance))
            .await;
        let idle = self.config.serverless_idle.as_secs_f64();
        self.log(
            &rt.name,
            "serverless_scaled_to_zero",
            Some(&format!(
                "variant '{variant}' stopped instance {} after {idle:.1} s without a request",
                instance.id
            )),
        );
    }

    /// Replaces a serverless instance that uses more than its `memory_mb` with a fresh one,
    /// then drains and stops it (no request fails). Callers hold `rt.serverless`.
    async fn restart_over_memory(
        &self,
        rt: &EndpointRuntime,
        route: &VariantRoute,
        instance: &Arc<InstanceHandle>,
        used: u64,
    ) {
        let limit = route.spec.serverless.map_or(0, |s| s.memory_mb);
        let fresh = self.start_instances(rt, &route.spec, 1, &rt.deleting).await;
        let replaced = match fresh.map(|mut v| v.pop()) {
            Ok(Some(fresh)) => {
                let swapped = rt.edit_table(|table| {
                    let slot = table
                        .iter_mut()
                        .flat_map(|r| r.instances.iter_mut())
                        .find(|i| Arc::ptr_eq(i, instance));
                    slot.map(|i| *i = fresh.clone()).is_some()
                });
                if !swapped {
                    self.stop_all(&rt.name, &[fresh]).await;
                    return;
                }
                format!("replaced by instance {}", fresh.id)
            }
            // No replacement: the instance goes anyway; the next request cold-starts one.
            _ if self.remove(rt, instance) => "stopped; the next request cold-starts".into(),
            _ => return,
        };
        self.stop_all(&rt.name, std::slice::from_ref(instance))
            .await;
        self.log(
            &rt.name,
            "serverless_memory_exceeded",
            Some(&format!(
                "instance {} of variant '{}' used {} MiB, over its memory_mb of {limit}; {replaced}",
                instance.id,
                route.spec.name,
                used.div_ceil(MIB)
            )),
        );
    }

    /// Takes `instance` out of the routing table; false when it was no longer there.
    fn remove(&self, rt: &EndpointRuntime, instance: &Arc<InstanceHandle>) -> bool {
        rt.edit_table(|table| {
            table.iter_mut().any(|r| {
                let before = r.instances.len();
                r.instances.retain(|i| !Arc::ptr_eq(i, instance));
                r.instances.len() < before
            })
        })
    }
}

/// Every `health_interval`: serverless upkeep of every endpoint. Holds only a weak reference,
/// so it ends when the provider is dropped.
pub(super) async fn serverless_loop(weak: std::sync::Weak<Inner>) {
    while let Some(inner) = super::next_tick(&weak, |c| c.health_interval).await {
        for rt in inner.runtimes() {
            if !rt.deleting.load(Ordering::SeqCst) {
                inner.tend_serverless(&rt).await;
            }
        }
    }
}
