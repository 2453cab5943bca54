//! mlm's deployment policy as SageMaker's `DeploymentConfig`.

use aws_sdk_sagemaker::types::builders::TrafficRoutingConfigBuilder;
use aws_sdk_sagemaker::types::{
    Alarm, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType,
    DeploymentConfig, RollingUpdatePolicy, TrafficRoutingConfig, TrafficRoutingConfigType,
};
use mlm_core::{DeploymentPolicy, Error, Result, TrafficShift};

use crate::naming::alarm_name;

/// SageMaker's bounds of `MaximumExecutionTimeoutInSeconds`.
const EXECUTION_TIMEOUT: (u64, u64) = (600, 28_800);
/// Time allowed for provisioning the new fleet (SageMaker can take up to an hour).
const PROVISIONING_ALLOWANCE: u64 = 3600;

/// The share of traffic (blue/green) or of the instances (rolling) on the new fleet after
/// traffic step `step` (1-based) of `policy`; no policy is all at once.
pub(crate) fn step_share(policy: Option<&DeploymentPolicy>, step: usize) -> u8 {
    let step = step.max(1);
    let cumulative = |p: u8| (usize::from(p) * step).min(100) as u8;
    match policy.map(|p| &p.traffic) {
        Some(TrafficShift::Canary { percent, .. }) if step == 1 => *percent,
        Some(TrafficShift::Linear { step_percent, .. }) => cumulative(*step_percent),
        Some(TrafficShift::Rolling { batch_percent, .. }) => cumulative(*batch_percent),
        _ => 100,
    }
}

/// Seconds the policy waits in all: its bakes (blue/green: one per step, the canary's final
/// step included; rolling: one per batch) and the termination wait.
fn planned_waits(policy: &DeploymentPolicy) -> u64 {
    let steps = |share: u8| 100u64.div_ceil(u64::from(share.max(1)));
    let termination = u64::from(policy.termination_wait_seconds);
    match &policy.traffic {
        TrafficShift::Canary { bake_seconds, .. } => 2 * u64::from(*bake_seconds) + termination,
        TrafficShift::Linear {
            step_percent,
            interval_seconds,
        } => steps(*step_percent) * u64::from(*interval_seconds) + termination,
        TrafficShift::Rolling {
            batch_percent,
            interval_seconds,
            ..
        } => steps(*batch_percent) * u64::from(*interval_seconds),
        _ => termination,
    }
}

/// `MaximumExecutionTimeoutInSeconds`: the planned waits plus time to provision, within
/// SageMaker's bounds; a policy that waits longer than SageMaker lets a deployment run is
/// refused here rather than timed out there.
fn execution_timeout(policy: &DeploymentPolicy) -> Result<i32> {
    let (low, high) = EXECUTION_TIMEOUT;
    let waits = planned_waits(policy);
    if waits >= high {
        return Err(Error::invalid(format!(
            "deployment: this {} policy waits {waits} s in all (bakes, intervals and the \
             termination wait); SageMaker ends a deployment after at most {high} s: use \
             larger steps or shorter waits",
            policy.traffic.as_str()
        )));
    }
    Ok((waits + PROVISIONING_ALLOWANCE).clamp(low, high) as i32)
}

/// The traffic routing of a blue/green update, waiting `wait_seconds` after each step.
fn shift(kind: TrafficRoutingConfigType, wait_seconds: u32) -> TrafficRoutingConfigBuilder {
    TrafficRoutingConfig::builder()
        .r#type(kind)
        .wait_interval_in_seconds(wait_seconds as i32)
}

/// A share of the new fleet.
fn percent_of_capacity(percent: u8) -> CapacitySize {
    CapacitySize::builder()
        .r#type(CapacitySizeType::CapacityPercent)
        .value(i32::from(percent))
        .build()
}

/// Blue/green for all at once, canary and linear.
fn blue_green(policy: &DeploymentPolicy, timeout: i32) -> BlueGreenUpdatePolicy {
    let routing = match &policy.traffic {
        TrafficShift::Canary {
            percent,
            bake_seconds,
        } => shift(TrafficRoutingConfigType::Canary, *bake_seconds)
            .canary_size(percent_of_capacity(*percent)),
        TrafficShift::Linear {
            step_percent,
            interval_seconds,
        } => shift(TrafficRoutingConfigType::Linear, *interval_seconds)
            .linear_step_size(percent_of_capacity(*step_percent)),
        _ => shift(TrafficRoutingConfigType::AllAtOnce, 0),
    };
    BlueGreenUpdatePolicy::builder()
        .traffic_routing_configuration(routing.build())
        .termination_wait_in_seconds(policy.termination_wait_seconds as i32)
        .maximum_execution_timeout_in_seconds(timeout)
        .build()
}

/// SageMaker's deployment guardrails for `policy` on `endpoint`: rollback alarms are mlm
/// alarms of the endpoint, named as CloudWatch knows them.
pub(crate) fn deployment_config(
    endpoint: &str,
    policy: &DeploymentPolicy,
) -> Result<DeploymentConfig> {
    let timeout = execution_timeout(policy)?;
    let mut config = DeploymentConfig::builder();
    config = match &policy.traffic {
        TrafficShift::Rolling {
            batch_percent,
            interval_seconds,
            rollback_batch_percent,
        } => {
            if policy.termination_wait_seconds > 0 {
                return Err(Error::invalid(
                    "deployment: SageMaker's rolling updates replace instances in place and \
                     keep no old fleet, so termination_wait_seconds must be 0 (it applies to \
                     all_at_once, canary and linear)",
                ));
            }
            config.rolling_update_policy(
                RollingUpdatePolicy::builder()
                    .maximum_batch_size(percent_of_capacity(*batch_percent))
                    .wait_interval_in_seconds(*interval_seconds as i32)
                    .maximum_execution_timeout_in_seconds(timeout)
                    .set_rollback_maximum_batch_size(
                        rollback_batch_percent.map(percent_of_capacity),
                    )
                    .build(),
            )
        }
        _ => config.blue_green_update_policy(blue_green(policy, timeout)),
    };
    if !policy.rollback_alarms.is_empty() {
        let mut rollback = AutoRollbackConfig::builder();
        for a in &policy.rollback_alarms {
            let name = alarm_name(endpoint, a.as_str());
            rollback = rollback.alarms(Alarm::builder().alarm_name(name).build());
        }
        config = config.auto_rollback_configuration(rollback.build());
    }
    Ok(config.build())
}

#[cfg(test)]
mod tests {
    use mlm_core::AlarmName;

    use super::*;

    fn routing(config: &DeploymentConfig) -> &TrafficRoutingConfig {
        config
            .blue_green_update_policy()
            .and_then(|p| p.traffic_routing_configuration())
            .expect("blue/green")
    }

    #[test]
    fn canary_with_rollback_alarms() {
        let canary = DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 600,
        })
        .with_rollback_alarm(AlarmName::new("errors").unwrap())
        .with_rollback_alarm(AlarmName::new("latency").unwrap());
        let config = deployment_config("news", &canary).unwrap();
        let r = routing(&config);
        assert_eq!(r.r#type(), Some(&TrafficRoutingConfigType::Canary));
        assert_eq!(r.wait_interval_in_seconds(), Some(600));
        let size = r.canary_size().unwrap();
        assert_eq!(size.r#type(), Some(&CapacitySizeType::CapacityPercent));
        assert_eq!(size.value(), Some(10));
        let blue_green = config.blue_green_update_policy().unwrap();
        assert_eq!(blue_green.termination_wait_in_seconds(), Some(0));
        // Two bakes of 600 s plus an hour to provision.
        assert_eq!(
            blue_green.maximum_execution_timeout_in_seconds(),
            Some(4800)
        );
        let alarms: Vec<_> = config
            .auto_rollback_configuration()
            .unwrap()
            .alarms()
            .iter()
            .filter_map(|a| a.alarm_name())
            .collect();
        assert_eq!(alarms, ["mlm/news/errors", "mlm/news/latency"]);
        assert!(config.rolling_update_policy().is_none());
    }

    #[test]
    fn linear_and_all_at_once_with_termination_wait() {
        let mut linear = DeploymentPolicy::new(TrafficShift::Linear {
            step_percent: 20,
            interval_seconds: 300,
        });
        linear.termination_wait_seconds = 120;
        let config = deployment_config("news", &linear).unwrap();
        let r = routing(&config);
        assert_eq!(r.r#type(), Some(&TrafficRoutingConfigType::Linear));
        assert_eq!(r.linear_step_size().and_then(|s| s.value()), Some(20));
        assert_eq!(r.wait_interval_in_seconds(), Some(300));
        let blue_green = config.blue_green_update_policy().unwrap();
        assert_eq!(blue_green.termination_wait_in_seconds(), Some(120));
        // Five steps of 300 s, 120 s of termination wait, an hour to provision.
        assert_eq!(
            blue_green.maximum_execution_timeout_in_seconds(),
            Some(5220)
        );
        assert!(config.auto_rollback_configuration().is_none());

        let config = deployment_config("news", &DeploymentPolicy::new(TrafficShift::AllAtOnce));
        let config = config.unwrap();
        let r = routing(&config);
        assert_eq!(r.r#type(), Some(&TrafficRoutingConfigType::AllAtOnce));
        assert_eq!(r.wait_interval_in_seconds(), Some(0));
        assert!(r.canary_size().is_none() && r.linear_step_size().is_none());
    }

    #[test]
    fn rolling_updates_replace_batches_of_capacity() {
        let rolling = DeploymentPolicy::new(TrafficShift::Rolling {
            batch_percent: 25,
            interval_seconds: 60,
            rollback_batch_percent: Some(50),
        })
        .with_rollback_alarm(AlarmName::new("errors").unwrap());
        let config = deployment_config("news", &rolling).unwrap();
        assert!(config.blue_green_update_policy().is_none());
        let p = config.rolling_update_policy().unwrap();
        let batch = p.maximum_batch_size().unwrap();
        assert_eq!(batch.r#type(), Some(&CapacitySizeType::CapacityPercent));
        assert_eq!(batch.value(), Some(25));
        assert_eq!(p.wait_interval_in_seconds(), Some(60));
        assert_eq!(
            p.rollback_maximum_batch_size().and_then(|s| s.value()),
            Some(50)
        );
        assert_eq!(p.maximum_execution_timeout_in_seconds(), Some(3840));
        assert!(config.auto_rollback_configuration().is_some());

        let mut waits = rolling.clone();
        waits.termination_wait_seconds = 10;
        let err = deployment_config("news", &waits).unwrap_err();
        assert!(
            err.to_string().contains("termination_wait_seconds"),
            "{err}"
        );
        let mut all_at_once_back = rolling;
        all_at_once_back.traffic = TrafficShift::Rolling {
            batch_percent: 25,
            interval_seconds: 60,
            rollback_batch_percent: None,
        };
        let config = deployment_config("news", &all_at_once_back).unwrap();
        assert!(
            config
                .rolling_update_policy()
                .unwrap()
                .rollback_maximum_batch_size()
                .is_none()
        );
    }

    #[test]
    fn policies_longer_than_sagemaker_allows_are_refused() {
        let slow = DeploymentPolicy::new(TrafficShift::Linear {
            step_percent: 10,
            interval_seconds: 3600,
        });
        let err = deployment_config("news", &slow).unwrap_err();
        assert_eq!(err.kind(), mlm_core::ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("36000 s"), "{err}");
        // Short policies still get SageMaker's minimum.
        let quick = DeploymentPolicy::new(TrafficShift::AllAtOnce);
        assert_eq!(execution_timeout(&quick).unwrap(), 3600);
    }

    #[test]
    fn traffic_shares_per_step() {
        let canary = DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 60,
        });
        assert_eq!(step_share(Some(&canary), 1), 10);
        assert_eq!(step_share(Some(&canary), 2), 100);
        let linear = DeploymentPolicy::new(TrafficShift::Linear {
            step_percent: 30,
            interval_seconds: 60,
        });
        let shares: Vec<u8> = (1..=5).map(|s| step_share(Some(&linear), s)).collect();
        assert_eq!(shares, [30, 60, 90, 100, 100]);
        assert_eq!(step_share(None, 1), 100);
    }
}
