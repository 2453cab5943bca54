//! Deployments: the `Deployments` half of the local backend, and the bookkeeping every create
//! and update does.
//!
//! Every create and update is recorded as a [`Deployment`] (ids "1", "2", … per endpoint) and
//! moves through its phases as the work in `endpoints` and `rollout` goes. Records are changed
//! one at a time (`Inner::change_deployment`), so a user's stop and the rollout's next step
//! never overwrite each other: once a stop has put a deployment in `rolling_back`, the rollout
//! can only roll it back.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chrono::Utc;
use mlm_core::{
    Deployment, DeploymentKind, DeploymentPhase, DeploymentPolicy, DeploymentSummary, Deployments,
    EndpointName, EndpointStatus, Error, Page, PageRequest, Result, Variant,
};

use super::{Inner, LocalProvider};
use crate::store::StoredEndpoint;

/// Why a deployment a user stopped was rolled back.
pub(super) const STOPPED_BY_USER: &str = "stopped by a user";

#[async_trait]
impl Deployments for LocalProvider {
    async fn list_deployments(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Deployment>> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.list_deployments(endpoint, &page)
    }

    async fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.get_deployment(endpoint, id)
    }

    async fn stop_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        self.inner.store.get_endpoint(endpoint)?;
        let deployment = self.inner.change_deployment(endpoint, id, |d| {
            if d.phase.is_terminal() {
                return Err(Error::failed_precondition(format!(
                    "deployment {id} of endpoint '{endpoint}' has ended ({}): there is nothing \
                     to stop",
                    d.phase.as_str()
                )));
            }
            if d.kind == DeploymentKind::Create {
                return Err(Error::failed_precondition(format!(
                    "deployment {id} creates endpoint '{endpoint}': there is no previous \
                     configuration to return to; delete the endpoint instead"
                )));
            }
            if !matches!(d.phase, DeploymentPhase::RollingBack { .. }) {
                d.enter(stopped(), Utc::now());
            }
            Ok(())
        })?;
        if let Some(rt) = self.inner.runtime(endpoint) {
            rt.stop_deployment.store(true, Ordering::SeqCst);
            rt.stop_signal.notify_one();
        }
        self.inner.log(
            endpoint,
            "deployment",
            Some(&format!("{id}: stop requested")),
        );
        Ok(deployment)
    }
}

/// The phase a user's stop puts a running deployment in.
fn stopped() -> DeploymentPhase {
    DeploymentPhase::RollingBack {
        reason: STOPPED_BY_USER.into(),
        alarm: None,
    }
}

/// A phase as the event log shows it (`shifting 10%`, `rolled_back: why`).
fn phase_text(phase: &DeploymentPhase) -> String {
    let name = phase.as_str();
    match phase {
        DeploymentPhase::Shifting { percent } | DeploymentPhase::Baking { percent } => {
            format!("{name} {percent}%")
        }
        DeploymentPhase::RollingBack { reason, .. }
        | DeploymentPhase::RolledBack { reason, .. }
        | DeploymentPhase::Failed { reason } => format!("{name}: {reason}"),
        _ => name.to_string(),
    }
}

impl Inner {
    /// Reads, changes and writes a deployment record, one change at a time across the server.
    pub(super) fn change_deployment(
        &self,
        endpoint: &EndpointName,
        id: &str,
        change: impl FnOnce(&mut Deployment) -> Result<()>,
    ) -> Result<Deployment> {
        let _one_at_a_time = self
            .deployment_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut deployment = self.store.get_deployment(endpoint, id)?;
        change(&mut deployment)?;
        self.store.put_deployment(&deployment)?;
        Ok(deployment)
    }

    /// Moves a running deployment to `phase` and logs it. False when a user stopped the
    /// deployment meanwhile and `phase` goes forward: it may then only roll back.
    pub(super) fn advance(
        &self,
        endpoint: &EndpointName,
        id: &str,
        phase: DeploymentPhase,
    ) -> bool {
        let backwards = matches!(
            phase,
            DeploymentPhase::RollingBack { .. }
                | DeploymentPhase::RolledBack { .. }
                | DeploymentPhase::Failed { .. }
        );
        let mut stopped = false;
        let mut entered = false;
        let changed = self.change_deployment(endpoint, id, |d| {
            stopped = !backwards && matches!(d.phase, DeploymentPhase::RollingBack { .. });
            if !stopped && d.phase != phase && !d.phase.is_terminal() {
                d.enter(phase.clone(), Utc::now());
                entered = true;
            }
            Ok(())
        });
        match changed {
            Ok(_) if entered => {
                let detail = format!("{id}: {}", phase_text(&phase));
                self.log(endpoint, "deployment", Some(&detail));
            }
            Ok(_) => {}
            // The endpoint was deleted meanwhile, and its deployments with it.
            Err(e) => tracing::debug!(endpoint = %endpoint, "deployment {id} not recorded: {e}"),
        }
        !stopped
    }

    /// The latest deployment of an endpoint, in brief, for its description.
    pub(super) fn last_deployment(&self, endpoint: &EndpointName) -> Option<DeploymentSummary> {
        match self.store.latest_deployment(endpoint) {
            Ok(latest) => latest.map(|d| d.summary()),
            Err(e) => {
                tracing::warn!(endpoint = %endpoint, "cannot read deployments: {e}");
                None
            }
        }
    }

    /// Records a new deployment and clears a stop left from an earlier one.
    pub(super) fn start_deployment(
        &self,
        endpoint: &EndpointName,
        kind: DeploymentKind,
        target: Vec<Variant>,
        policy: Option<DeploymentPolicy>,
    ) -> Result<Deployment> {
        let deployment = self
            .store
            .insert_deployment(endpoint, kind, target, policy)?;
        if let Some(rt) = self.runtime(endpoint) {
            rt.stop_deployment.store(false, Ordering::SeqCst);
        }
        self.log(
            endpoint,
            "deployment",
            Some(&format!("{}: provisioning", deployment.id)),
        );
        Ok(deployment)
    }

    /// At start, settles what a server that stopped left of an endpoint's latest deployment:
    /// an update that had completed keeps its configuration (the old fleet was draining); one
    /// that was running is rolled back, and the previous configuration is restored; a create
    /// keeps running, and recovery finishes it: its id is returned.
    pub(super) fn recover_deployment(&self, stored: &mut StoredEndpoint) -> Result<Option<String>> {
        let name = stored.endpoint.name.clone();
        let latest = self.store.latest_deployment(&name)?;
        let pending = stored.pending.take();
        match latest {
            Some(d) if d.kind == DeploymentKind::Create && !d.phase.is_terminal() => {
                return Ok(Some(d.id));
            }
            Some(d) if d.phase == DeploymentPhase::Completed => {
                if let Some(target) = pending {
                    stored.endpoint.variants = target.iter().map(Variant::from_spec).collect();
                }
            }
            Some(d) if !d.phase.is_terminal() => {
                let rolled_back = DeploymentPhase::RolledBack {
                    reason: mlm_core::INTERRUPTED_REASON.into(),
                    alarm: None,
                };
                self.advance(&name, &d.id, rolled_back.clone());
                stored.endpoint.failure_reason =
                    rolled_back.to_error(&name, &d.id).map(|e| e.message());
            }
            // Written before deployments were recorded.
            _ if pending.is_some() => {
                stored.endpoint.failure_reason = Some(
                    "the server restarted during an update; the previous configuration was \
                     restored"
                        .into(),
                );
            }
            _ => {}
        }
        Ok(None)
    }

    /// Ends deployment `id` `end` (rolled back or failed, with the previous configuration in
    /// force) and puts the endpoint in `status`, its failure reason saying what happened.
    pub(super) fn settle_deployment(
        &self,
        endpoint: &EndpointName,
        id: &str,
        end: DeploymentPhase,
        status: EndpointStatus,
    ) {
        let event = end.as_str();
        self.advance(endpoint, id, end);
        let reason = self
            .store
            .get_deployment(endpoint, id)
            .ok()
            .and_then(|d| d.outcome().err())
            .map(|e| e.message());
        self.log(endpoint, event, reason.as_deref());
        self.update_stored(endpoint, |s| {
            s.pending = None;
            s.endpoint.status = status;
            s.endpoint.failure_reason = reason;
        });
    }
}
