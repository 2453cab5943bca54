//! Rolling out a new configuration beside the one in force, with SageMaker's deployment
//! guardrails.
//!
//! The new ("next") fleet starts beside the current one (`provisioning`); the router then
//! sends it a share of the requests, step by step (`shifting{percent}`), watching each step
//! for its wait (`baking{percent}`):
//! - `all_at_once` (and no policy): 100 %;
//! - `canary{percent, bake_seconds}`: `percent`, baked for `bake_seconds`, then 100 %;
//! - `linear{step_percent, interval_seconds}`: `step_percent`, twice that, … each baked for
//!   `interval_seconds`, then 100 %;
//! - `rolling{batch_percent, interval_seconds, rollback_batch_percent}`: the instances are
//!   replaced in place, `batch_percent` of the target count at a time: each batch of new
//!   instances starts, takes its share of traffic (by instance count) and as many old instances
//!   drain, then the batch bakes for `interval_seconds` (the last one too).
//!
//! At 100 % the old fleet is kept, without traffic, for `termination_wait_seconds` (shown as
//! `baking{100}`), then the deployment is `completed` and the old fleet drains.
//!
//! **Rollback alarms** are read at every step and every 200 ms while a step bakes (they are
//! evaluated as each of their periods completes; see `alarms`). An alarm counts only when it
//! went to `ALARM` after traffic first moved to the new fleet: one already in `ALARM` when
//! the deployment starts describes the old fleet, and rolling back to that fleet would not help
//! (it would also block the very update meant to fix it). SageMaker, likewise, watches the
//! alarms while traffic shifts and bakes. On `ALARM`, or when a user stops the deployment,
//! all traffic goes back to the old fleet at once (a rolling update first restarts the old
//! instances it drained, `rollback_batch_percent` of them at a time, traffic following the
//! instance counts), the new fleet drains and stops, and the deployment ends `rolled_back`.
//! A new fleet that cannot start ends the deployment `failed`; the old configuration keeps
//! serving either way. Requests in flight are never dropped: instances drain before they stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::{
    AlarmName, AlarmState, Deployment, DeploymentPhase, DeploymentPolicy, EndpointName,
    EndpointStatus, Error, Result, TrafficShift, Variant, VariantName, VariantSpec,
};
use tokio::time::Instant;

use super::Inner;
use super::deployments::STOPPED_BY_USER;
use crate::instance::InstanceHandle;
use crate::router::{EndpointRuntime, Fleet, VariantRoute};

/// How often a baking step looks at its rollback alarms and for a stop.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// One step of a rollout.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    /// Share of requests on the next fleet.
    percent: u8,
    /// Instances of each target variant in the next fleet, in target order.
    next: Vec<u32>,
    /// Instances kept of each current variant, in table order; `None`: all of them.
    current: Option<Vec<u32>>,
    /// How long the step is watched before the next one.
    wait: Duration,
}

fn seconds(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// `part` of `part + rest`, in percent (rounded down).
fn share(part: u32, rest: u32) -> u8 {
    let total = u64::from(part) + u64::from(rest);
    if total == 0 {
        return 0;
    }
    (u64::from(part) * 100 / total) as u8
}

/// The steps `policy` takes to move from the current fleet (`current`: instances per variant)
/// to `target`. The last step is 100 % and waits out the termination wait.
fn steps(policy: Option<&DeploymentPolicy>, target: &[VariantSpec], current: &[u32]) -> Vec<Step> {
    let full: Vec<u32> = target
        .iter()
        .map(super::serverless::initial_count)
        .collect();
    let shift = |percent: u8, wait: u32| Step {
        percent,
        next: full.clone(),
        current: None,
        wait: seconds(wait),
    };
    let mut steps = match policy.map(|p| &p.traffic) {
        Some(TrafficShift::Canary {
            percent,
            bake_seconds,
        }) => vec![shift(*percent, *bake_seconds), shift(100, 0)],
        Some(TrafficShift::Linear {
            step_percent,
            interval_seconds,
        }) => (1..)
            .map(|k| u32::from(*step_percent).max(1) * k)
            .take_while(|p| *p < 100)
            .map(|p| shift(p as u8, *interval_seconds))
            .chain([shift(100, 0)])
            .collect(),
        Some(TrafficShift::Rolling {
            batch_percent,
            interval_seconds,
            ..
        }) => rolling_steps(
            full.first().copied().unwrap_or(1),
            *batch_percent,
            current,
            seconds(*interval_seconds),
        ),
        _ => vec![shift(100, 0)],
    };
    if let Some(last) = steps.last_mut() {
        last.wait += seconds(policy.map_or(0, |p| p.termination_wait_seconds));
    }
    steps
}

/// A rolling update of one variant to `target` instances: batches of `batch_percent` of them
/// replace as many of the current instances, traffic following the instance counts. The
/// old instances of the last batch stay (without traffic) until the deployment completes.
fn rolling_steps(target: u32, batch_percent: u8, current: &[u32], wait: Duration) -> Vec<Step> {
    let target = target.max(1);
    let batch = (target * u32::from(batch_percent)).div_ceil(100).max(1);
    let mut steps = Vec::new();
    let mut next = 0;
    let mut kept = current.to_vec();
    while next < target {
        next = (next + batch).min(target);
        let percent = if next < target {
            kept = current
                .iter()
                .map(|n| (n * (target - next)).div_ceil(target))
                .collect();
            share(next, kept.iter().sum())
        } else {
            100
        };
        steps.push(Step {
            percent,
            next: vec![next],
            current: Some(kept.clone()),
            wait,
        });
    }
    steps
}

/// Why a rollout stops going forward.
#[derive(Debug)]
enum Abort {
    /// A rollback alarm went to `ALARM`.
    Alarm { alarm: AlarmName, reason: String },
    /// A user stopped the deployment.
    Stopped,
    /// The new fleet could not start.
    Failed(String),
    /// The endpoint is being deleted, or the server shuts down: nothing is left to do.
    Gone,
}

/// One running rollout.
struct Rollout {
    inner: Arc<Inner>,
    rt: Arc<EndpointRuntime>,
    endpoint: EndpointName,
    id: String,
    target: Vec<VariantSpec>,
    policy: Option<DeploymentPolicy>,
    /// Instances of each current variant when the deployment started (what a rollback
    /// restores), in table order.
    original: Vec<u32>,
    /// When traffic first moved: rollback alarms count from then on, and from then on a
    /// rollback has something to undo.
    shifted_at: Option<DateTime<Utc>>,
}

/// Rolls `deployment` out to `target` and records how it ends.
pub(super) async fn run_rollout(
    inner: Arc<Inner>,
    rt: Arc<EndpointRuntime>,
    deployment: Deployment,
    target: Vec<VariantSpec>,
) {
    let original = rt
        .table()
        .iter()
        .filter(|r| r.fleet == Fleet::Current)
        .map(|r| r.instances.len() as u32)
        .collect();
    let mut rollout = Rollout {
        inner,
        endpoint: rt.name.clone(),
        rt,
        id: deployment.id,
        target,
        policy: deployment.policy,
        original,
        shifted_at: None,
    };
    match rollout.forward().await {
        Ok(()) => rollout.complete().await,
        Err(Abort::Gone) => {
            tracing::info!(endpoint = %rollout.endpoint, "deployment {} abandoned", rollout.id);
        }
        Err(abort) => rollout.roll_back(abort).await,
    }
}

impl Rollout {
    /// Provisions the next fleet and moves traffic to it step by step, up to `completed`.
    async fn forward(&mut self) -> std::result::Result<(), Abort> {
        let steps = steps(self.policy.as_ref(), &self.target, &self.original);
        self.grow_next(&steps[0].next).await?;
        for step in &steps {
            self.enter(DeploymentPhase::Shifting {
                percent: step.percent,
            })?;
            self.grow_next(&step.next).await?;
            self.check()?;
            self.shifted_at.get_or_insert_with(Utc::now);
            self.rt.set_split(step.percent);
            if let Some(kept) = &step.current {
                self.shrink_current(kept).await;
            }
            if !step.wait.is_zero() {
                self.enter(DeploymentPhase::Baking {
                    percent: step.percent,
                })?;
                self.watch(step.wait).await?;
            }
        }
        self.check()?;
        // Recorded before the old fleet goes: a stop that came first wins, and rolls back.
        self.enter(DeploymentPhase::Completed)
    }

    fn enter(&self, phase: DeploymentPhase) -> std::result::Result<(), Abort> {
        if self.inner.advance(&self.endpoint, &self.id, phase) {
            Ok(())
        } else {
            Err(Abort::Stopped)
        }
    }

    /// Whether to go on: not deleted, not stopped, no rollback alarm fired since traffic moved.
    fn check(&self) -> std::result::Result<(), Abort> {
        if self.rt.deleting.load(Ordering::SeqCst)
            || self.inner.shutting_down.load(Ordering::SeqCst)
        {
            return Err(Abort::Gone);
        }
        if self.rt.stop_deployment.load(Ordering::SeqCst) {
            return Err(Abort::Stopped);
        }
        let Some(since) = self.shifted_at else {
            return Ok(());
        };
        for name in self.policy.iter().flat_map(|p| &p.rollback_alarms) {
            match self.inner.store.get_alarm(&self.endpoint, name) {
                Ok(a) if a.state == AlarmState::Alarm && a.state_since >= since => {
                    return Err(Abort::Alarm {
                        alarm: name.clone(),
                        reason: a.state_reason,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(endpoint = %self.endpoint, "rollback alarm: {e}"),
            }
        }
        Ok(())
    }

    /// Waits `wait`, checking every [`WATCH_INTERVAL`] (and at once on a stop).
    async fn watch(&self, wait: Duration) -> std::result::Result<(), Abort> {
        let deadline = Instant::now() + wait;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let pause = (deadline - now).min(WATCH_INTERVAL);
            let _ = tokio::time::timeout(pause, self.rt.stop_signal.notified()).await;
        }
    }

    /// Instances in `fleet`, of the variant `name` or (no name) of every variant.
    fn count(&self, fleet: Fleet, name: Option<&VariantName>) -> u32 {
        self.rt
            .table()
            .iter()
            .filter(|r| r.fleet == fleet && name.is_none_or(|n| &r.spec.name == n))
            .map(|r| r.instances.len() as u32)
            .sum()
    }

    /// Starts next-fleet instances until each target variant has `counts` of them.
    async fn grow_next(&self, counts: &[u32]) -> std::result::Result<(), Abort> {
        for (spec, &want) in self.target.iter().zip(counts) {
            let have = self.count(Fleet::Next, Some(&spec.name));
            if want <= have {
                continue;
            }
            let cancel = &self.rt.stop_deployment;
            let started = self
                .inner
                .start_instances(&self.rt, spec, want - have, cancel)
                .await
                .map_err(|e| self.start_failure(&e))?;
            self.join(Fleet::Next, spec, started).await?;
        }
        Ok(())
    }

    /// Adds started instances to a fleet's route of `spec`, unless the endpoint went away
    /// meanwhile (then they stop).
    async fn join(
        &self,
        fleet: Fleet,
        spec: &VariantSpec,
        started: Vec<Arc<InstanceHandle>>,
    ) -> std::result::Result<(), Abort> {
        let work = self.rt.work.lock().await;
        if self.rt.deleting.load(Ordering::SeqCst)
            || self.inner.shutting_down.load(Ordering::SeqCst)
        {
            drop(work);
            self.inner.stop_all(&self.endpoint, &started).await;
            return Err(Abort::Gone);
        }
        self.rt.edit_table(|table| {
            match table
                .iter_mut()
                .find(|r| r.fleet == fleet && r.spec.name == spec.name)
            {
                Some(route) => route.instances.extend(started),
                None => table.push(VariantRoute {
                    spec: spec.clone(),
                    instances: started,
                    fleet,
                }),
            }
        });
        Ok(())
    }

    fn start_failure(&self, e: &Error) -> Abort {
        if self.rt.deleting.load(Ordering::SeqCst)
            || self.inner.shutting_down.load(Ordering::SeqCst)
        {
            Abort::Gone
        } else if self.rt.stop_deployment.load(Ordering::SeqCst) {
            Abort::Stopped
        } else {
            Abort::Failed(format!("the new fleet did not start: {}", e.message()))
        }
    }

    /// Drains current-fleet instances beyond `kept` (per variant, in table order).
    async fn shrink_current(&self, kept: &[u32]) {
        let retiring: Vec<Arc<InstanceHandle>> = {
            let _work = self.rt.work.lock().await;
            self.rt.edit_table(|table| {
                table
                    .iter_mut()
                    .filter(|r| r.fleet == Fleet::Current)
                    .zip(kept)
                    .flat_map(|(r, &keep)| {
                        let keep = (keep as usize).min(r.instances.len());
                        r.instances.split_off(keep)
                    })
                    .collect()
            })
        };
        self.inner.stop_all(&self.endpoint, &retiring).await;
    }

    /// Takes the routes of `leaving` out of the table (the others are then the current
    /// fleet), stops splitting traffic, and drains and stops what left.
    async fn retire(&self, leaving: Fleet) {
        let retiring: Vec<Arc<InstanceHandle>> = {
            let _work = self.rt.work.lock().await;
            self.rt.set_split(0);
            self.rt.edit_table(|table| {
                let (gone, stay): (Vec<_>, Vec<_>) = std::mem::take(table)
                    .into_iter()
                    .partition(|r| r.fleet == leaving);
                *table = stay
                    .into_iter()
                    .map(|mut r| {
                        r.fleet = Fleet::Current;
                        r
                    })
                    .collect();
                gone.into_iter().flat_map(|r| r.instances).collect()
            })
        };
        self.inner.stop_all(&self.endpoint, &retiring).await;
    }

    /// The next fleet is the endpoint now: the old one drains and the record says so.
    async fn complete(&self) {
        // Requests that still read the old split find no next fleet, and take any.
        self.retire(Fleet::Current).await;
        let variants: Vec<Variant> = self.target.iter().map(Variant::from_spec).collect();
        self.inner.update_stored(&self.endpoint, |s| {
            s.endpoint.variants = variants;
            s.pending = None;
            s.endpoint.status = EndpointStatus::InService;
            s.endpoint.failure_reason = None;
        });
        self.inner.log(&self.endpoint, "updated", Some(&self.id));
    }

    /// Returns all traffic to the old fleet and ends the deployment `rolled_back` or
    /// `failed`, saying why on the endpoint.
    async fn roll_back(&self, abort: Abort) {
        let end = match abort {
            Abort::Alarm { alarm, reason } => DeploymentPhase::RolledBack {
                reason,
                alarm: Some(alarm),
            },
            Abort::Stopped => DeploymentPhase::RolledBack {
                reason: STOPPED_BY_USER.into(),
                alarm: None,
            },
            Abort::Failed(reason) => DeploymentPhase::Failed { reason },
            Abort::Gone => return,
        };
        if self.shifted_at.is_some() {
            let (reason, alarm) = match &end {
                DeploymentPhase::RolledBack { reason, alarm } => (reason.clone(), alarm.clone()),
                DeploymentPhase::Failed { reason } => (reason.clone(), None),
                _ => unreachable!("a rollback ends rolled back or failed"),
            };
            self.inner.advance(
                &self.endpoint,
                &self.id,
                DeploymentPhase::RollingBack { reason, alarm },
            );
            self.inner.update_stored(&self.endpoint, |s| {
                s.endpoint.status = EndpointStatus::RollingBack;
            });
        }
        if let Err(e) = self.restore_current().await {
            return self.rollback_failed(&end, &e);
        }
        self.retire(Fleet::Next).await;
        self.settle(end, EndpointStatus::InService);
    }

    /// Brings the current fleet back to its size before the deployment (a rolling update
    /// drained some of it), `rollback_batch_percent` of it at a time, traffic following the
    /// instance counts.
    async fn restore_current(&self) -> Result<()> {
        let total: u32 = self.original.iter().sum();
        let batch = match self.policy.as_ref().map(|p| &p.traffic) {
            Some(TrafficShift::Rolling {
                rollback_batch_percent: Some(p),
                ..
            }) => (total * u32::from(*p)).div_ceil(100).max(1),
            _ => u32::MAX,
        };
        let specs: Vec<VariantSpec> = self
            .rt
            .table()
            .iter()
            .filter(|r| r.fleet == Fleet::Current)
            .map(|r| r.spec.clone())
            .collect();
        for (spec, &want) in specs.iter().zip(&self.original) {
            loop {
                let have = self.count(Fleet::Current, Some(&spec.name));
                if have >= want {
                    break;
                }
                let count = (want - have).min(batch);
                let started = self
                    .inner
                    .start_instances(&self.rt, spec, count, &self.rt.deleting)
                    .await?;
                if self.join(Fleet::Current, spec, started).await.is_err() {
                    return Ok(()); // deleted meanwhile: nothing to restore
                }
                let (old, new) = (
                    self.count(Fleet::Current, None),
                    self.count(Fleet::Next, None),
                );
                self.rt.set_split(share(new, old));
            }
        }
        Ok(())
    }

    /// The old fleet could not be brought back: the new one keeps serving what it serves.
    fn rollback_failed(&self, end: &DeploymentPhase, e: &Error) {
        let why = match end {
            DeploymentPhase::RolledBack { reason, .. } | DeploymentPhase::Failed { reason } => {
                reason.as_str()
            }
            _ => "",
        };
        let failed = DeploymentPhase::Failed {
            reason: format!(
                "{why}; the rollback failed too, the old fleet did not start: {}",
                e.message()
            ),
        };
        self.settle(failed, EndpointStatus::UpdateRollbackFailed);
    }

    fn settle(&self, end: DeploymentPhase, status: EndpointStatus) {
        self.inner
            .settle_deployment(&self.endpoint, &self.id, end, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::{ModelName, VersionRef};

    fn target(count: u32) -> Vec<VariantSpec> {
        vec![VariantSpec::new(
            VariantName::new("primary").unwrap(),
            VersionRef::new(ModelName::new("m").unwrap(), 2),
            "ml.m5.large",
            count,
        )]
    }

    fn percents(steps: &[Step]) -> Vec<u8> {
        steps.iter().map(|s| s.percent).collect()
    }

    #[test]
    fn blue_green_policies_shift_by_percent_and_wait_out_the_termination_wait() {
        let all = steps(None, &target(2), &[2]);
        assert_eq!(percents(&all), [100]);
        assert_eq!(all[0].wait, Duration::ZERO);
        let mut canary = DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 20,
        });
        canary.termination_wait_seconds = 5;
        let canary = steps(Some(&canary), &target(2), &[2]);
        assert_eq!(percents(&canary), [10, 100]);
        assert_eq!(canary[0].wait, seconds(20));
        assert_eq!(canary[1].wait, seconds(5));
        assert!(canary.iter().all(|s| s.next == [2] && s.current.is_none()));
        let linear = DeploymentPolicy::new(TrafficShift::Linear {
            step_percent: 30,
            interval_seconds: 4,
        });
        let linear = steps(Some(&linear), &target(1), &[1]);
        assert_eq!(percents(&linear), [30, 60, 90, 100]);
        assert_eq!(linear[2].wait, seconds(4));
        assert_eq!(linear[3].wait, Duration::ZERO);
    }

    #[test]
    fn rolling_replaces_batches_and_keeps_the_last_old_batch_until_the_end() {
        let policy = DeploymentPolicy::new(TrafficShift::Rolling {
            batch_percent: 25,
            interval_seconds: 3,
            rollback_batch_percent: None,
        });
        let s = steps(Some(&policy), &target(4), &[4]);
        assert_eq!(percents(&s), [25, 50, 75, 100]);
        let next: Vec<u32> = s.iter().map(|s| s.next[0]).collect();
        assert_eq!(next, [1, 2, 3, 4]);
        let kept: Vec<u32> = s.iter().map(|s| s.current.as_ref().unwrap()[0]).collect();
        assert_eq!(kept, [3, 2, 1, 1]);
        assert!(s.iter().all(|s| s.wait == seconds(3)));
        // A batch is at least one instance.
        let one = steps(Some(&policy), &target(1), &[1]);
        assert_eq!(percents(&one), [100]);
    }

    #[test]
    fn shares_round_down_and_never_divide_by_zero() {
        assert_eq!(share(1, 2), 33);
        assert_eq!(share(0, 0), 0);
        assert_eq!(share(3, 0), 100);
    }
}
