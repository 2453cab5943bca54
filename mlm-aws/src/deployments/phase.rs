//! Where a deployment is, read from one DescribeEndpoint.
//!
//! While the endpoint is `Updating`, `PendingDeploymentSummary` names the config being
//! deployed and `VariantStatus[].Status` the stage: `Creating`/`Updating` (the new fleet is
//! provisioned), `ActivatingTraffic` (a traffic step), `Baking` (the step is watched),
//! `Deleting` (the old fleet goes). SageMaker does not say which step: it is counted from the
//! bakes mlm has seen, so a step mlm did not observe at all shows as the next one late.
//! Once the endpoint has settled, the config it runs decides: the deployment's config means
//! completed; another one, after the deployment started, means it was rolled back (SageMaker
//! leaves the endpoint `InService` on the old config, a *silent* rollback).

use chrono::{DateTime, Utc};
use mlm_core::{Deployment, DeploymentPhase, EndpointStatus};

use super::policy::step_share;
use crate::cache::Described;

/// What one description says about a deployment.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen {
    /// It is in this phase.
    Phase(DeploymentPhase),
    /// Traffic is going back to the old fleet.
    RollingBack,
    /// It was rolled back.
    RolledBack,
}

/// How far a variant stage is; the least advanced variant sets the deployment's stage.
fn progress(stage: &str) -> u8 {
    match stage {
        "Creating" | "Updating" => 0,
        "ActivatingTraffic" => 1,
        "Baking" => 2,
        _ => 3,
    }
}

/// The phase the variant stages show, given the phase recorded so far; `None` when they show
/// nothing new (no stages, or the old fleet being deleted after the last bake).
fn traffic_phase(stages: &[String], current: &Deployment) -> Option<DeploymentPhase> {
    let stage = stages.iter().min_by_key(|s| progress(s))?;
    let bakes = (current.timeline.iter())
        .filter(|c| matches!(c.phase, DeploymentPhase::Baking { .. }))
        .count();
    let policy = current.policy.as_ref();
    match (stage.as_str(), &current.phase) {
        ("Creating" | "Updating", _) => Some(DeploymentPhase::Provisioning),
        ("ActivatingTraffic", _) => Some(DeploymentPhase::Shifting {
            percent: step_share(policy, bakes + 1),
        }),
        ("Baking", DeploymentPhase::Baking { .. }) => None,
        ("Baking", DeploymentPhase::Shifting { percent }) => {
            Some(DeploymentPhase::Baking { percent: *percent })
        }
        ("Baking", _) => Some(DeploymentPhase::Baking {
            percent: step_share(policy, bakes + 1),
        }),
        _ => None,
    }
}

/// What `d` says about `current`, the deployment of `config` that started at `started`
/// (SageMaker's clock: the config's creation time); `None` when it says nothing new.
pub(super) fn seen(
    d: &Described,
    config: &str,
    started: DateTime<Utc>,
    current: &Deployment,
) -> Option<Seen> {
    let reason = || {
        format!(
            "endpoint is {}: {}",
            d.status,
            d.failure_reason
                .as_deref()
                .unwrap_or("SageMaker gave no reason")
        )
    };
    match d.status {
        EndpointStatus::RollingBack => Some(Seen::RollingBack),
        EndpointStatus::Failed
        | EndpointStatus::UpdateRollbackFailed
        | EndpointStatus::OutOfService => {
            Some(Seen::Phase(DeploymentPhase::Failed { reason: reason() }))
        }
        _ if d.pending_config.as_deref() == Some(config) => {
            traffic_phase(&d.variant_stages, current).map(Seen::Phase)
        }
        EndpointStatus::Creating if d.config_name == config => {
            Some(Seen::Phase(DeploymentPhase::Provisioning))
        }
        EndpointStatus::InService if d.config_name == config => {
            Some(Seen::Phase(DeploymentPhase::Completed))
        }
        // The endpoint changed after the deployment began, and runs another config.
        EndpointStatus::InService if d.last_modified >= started => Some(Seen::RolledBack),
        // Settled before the deployment began (UpdateEndpoint is yet to be called), or busy
        // with something else (capacity, system updates): nothing new.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use mlm_core::{DeploymentKind, DeploymentPolicy, EndpointName, TrafficShift};

    use super::*;

    fn described(status: EndpointStatus, config: &str, pending: Option<&str>) -> Described {
        Described {
            name: "news".into(),
            arn: String::new(),
            status,
            failure_reason: None,
            config_name: config.into(),
            pending_config: pending.map(str::to_string),
            variant_stages: Vec::new(),
            variants: Vec::new(),
            created: DateTime::UNIX_EPOCH,
            last_modified: DateTime::UNIX_EPOCH + TimeDelta::seconds(100),
        }
    }

    fn canary() -> Deployment {
        let policy = DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 600,
        });
        Deployment::start(
            "new",
            EndpointName::new("news").unwrap(),
            DeploymentKind::Update,
            Vec::new(),
            Some(policy),
            DateTime::UNIX_EPOCH + TimeDelta::seconds(50),
        )
    }

    /// Feeds stages one by one, as polls would see them; the phases entered.
    fn walk(stages: &[&str]) -> Vec<DeploymentPhase> {
        let mut dep = canary();
        let started = dep.started_at;
        let mut d = described(EndpointStatus::Updating, "old", Some("new"));
        for (i, stage) in stages.iter().enumerate() {
            d.variant_stages = vec![stage.to_string()];
            if let Some(Seen::Phase(p)) = seen(&d, "new", started, &dep) {
                dep.enter(p, started + TimeDelta::seconds(i as i64 + 1));
            }
        }
        dep.timeline.into_iter().map(|c| c.phase).collect()
    }

    #[test]
    fn a_canary_shifts_bakes_then_shifts_the_rest() {
        use DeploymentPhase::*;
        let phases = walk(&[
            "Creating",
            "ActivatingTraffic",
            "Baking",
            "Baking",
            "ActivatingTraffic",
            "Baking",
            "Deleting",
        ]);
        assert_eq!(
            phases,
            [
                Provisioning,
                Shifting { percent: 10 },
                Baking { percent: 10 },
                Shifting { percent: 100 },
                Baking { percent: 100 },
            ]
        );
        // A bake seen without its shift takes the step's share.
        assert_eq!(walk(&["Baking"]), [Provisioning, Baking { percent: 10 }]);
    }

    #[test]
    fn the_least_advanced_variant_sets_the_stage() {
        let dep = canary();
        let mut d = described(EndpointStatus::Updating, "old", Some("new"));
        d.variant_stages = vec!["Baking".into(), "Creating".into()];
        assert_eq!(
            seen(&d, "new", dep.started_at, &dep),
            Some(Seen::Phase(DeploymentPhase::Provisioning))
        );
    }

    #[test]
    fn settled_endpoints_tell_the_outcome() {
        let dep = canary();
        let started = dep.started_at;
        let done = described(EndpointStatus::InService, "new", None);
        assert_eq!(
            seen(&done, "new", started, &dep),
            Some(Seen::Phase(DeploymentPhase::Completed))
        );
        let back = described(EndpointStatus::InService, "old", None);
        assert_eq!(seen(&back, "new", started, &dep), Some(Seen::RolledBack));
        // Not changed since the deployment began: UpdateEndpoint has not run yet.
        let mut before = back.clone();
        before.last_modified = started - TimeDelta::seconds(1);
        assert_eq!(seen(&before, "new", started, &dep), None);
        let rolling = described(EndpointStatus::RollingBack, "old", Some("new"));
        assert_eq!(
            seen(&rolling, "new", started, &dep),
            Some(Seen::RollingBack)
        );
        let mut failed = described(EndpointStatus::UpdateRollbackFailed, "old", None);
        failed.failure_reason = Some("capacity".into());
        let Some(Seen::Phase(DeploymentPhase::Failed { reason })) =
            seen(&failed, "new", started, &dep)
        else {
            panic!("failed");
        };
        assert_eq!(reason, "endpoint is UpdateRollbackFailed: capacity");
        // Capacity-only updates after the deployment: nothing new.
        let scaling = described(EndpointStatus::Updating, "new", None);
        assert_eq!(seen(&scaling, "new", started, &dep), None);
        let creating = described(EndpointStatus::Creating, "new", None);
        assert_eq!(
            seen(&creating, "new", started, &dep),
            Some(Seen::Phase(DeploymentPhase::Provisioning))
        );
    }
}
