//! Autoscaling of endpoint variants through Application Auto Scaling.
//!
//! Each variant with an [`AutoscalingPolicy`] is a scalable target (`endpoint/<e>/variant/<v>`,
//! `sagemaker:variant:DesiredInstanceCount`) with one target-tracking policy named
//! `mlm-<variant>-target-tracking`. What mlm asked for is also recorded in the tags of the
//! endpoint configuration (`mlm:a:<variant>`), which is what describes report: configurations
//! are immutable, and a change of policy always makes a new one.
//!
//! AWS refuses to register a variant of an endpoint that is not `InService`, so nothing is
//! registered while an endpoint is Creating/Updating: a create or update that changes
//! autoscaling tags the endpoint `mlm:autoscaling-from` = the config whose autoscaling is in
//! place (`-`: none), and the first describe (or list) that sees the endpoint `InService`
//! brings Application Auto Scaling from that config to the one the endpoint runs
//! ([`Inner::reconcile_autoscaling`]) and removes the tag. A failure is reported in the
//! endpoint's `failure_reason` and retried on the next describe.

use aws_sdk_applicationautoscaling::error::ProvideErrorMetadata;
use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, MetricDimension, MetricStatistic, MetricType, PolicyType,
    PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use mlm_core::{AutoscalingPolicy, Error, Result, ScalingMetric};

use crate::endpoints::endpoint_target;
use crate::error::from_sdk;
use crate::provider::Inner;

/// Config tag prefix holding a variant's policy: `mlm:a:<variant>` (see `encode_text`).
pub(crate) const TAG_AUTOSCALING: &str = "mlm:a:";

/// The value of `mlm:autoscaling-from` when no config's autoscaling is in place.
pub(crate) const NO_CONFIG: &str = "-";

/// The Application Auto Scaling resource id of a variant.
pub(crate) fn resource_id(endpoint: &str, variant: &str) -> String {
    format!("endpoint/{endpoint}/variant/{variant}")
}

/// The name of the policy mlm puts on a variant.
pub(crate) fn policy_name(variant: &str) -> String {
    format!("mlm-{variant}-target-tracking")
}

fn dimension(name: &str, value: &str) -> Result<MetricDimension> {
    MetricDimension::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| Error::provider("build a metric dimension", e))
}

fn customized(
    endpoint: &str,
    variant: &str,
    namespace: &str,
    metric: &str,
) -> Result<CustomizedMetricSpecification> {
    Ok(CustomizedMetricSpecification::builder()
        .metric_name(metric)
        .namespace(namespace)
        .dimensions(dimension("EndpointName", endpoint)?)
        .dimensions(dimension("VariantName", variant)?)
        .statistic(MetricStatistic::Average)
        .build())
}

/// The target-tracking configuration of `policy` for a variant.
pub(crate) fn tracking_config(
    endpoint: &str,
    variant: &str,
    policy: &AutoscalingPolicy,
) -> Result<TargetTrackingScalingPolicyConfiguration> {
    let predefined = |t: MetricType| {
        PredefinedMetricSpecification::builder()
            .predefined_metric_type(t)
            .build()
            .map_err(|e| Error::provider("build a predefined metric", e))
    };
    let cooldown = |s: Option<u32>| s.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    // Unset cooldowns are left out: Application Auto Scaling's defaults (300 s) apply.
    let mut b = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(policy.target_value)
        .set_scale_in_cooldown(cooldown(policy.scale_in_cooldown_seconds))
        .set_scale_out_cooldown(cooldown(policy.scale_out_cooldown_seconds));
    b = match policy.metric {
        ScalingMetric::InvocationsPerInstance => b.predefined_metric_specification(predefined(
            MetricType::SageMakerVariantInvocationsPerInstance,
        )?),
        ScalingMetric::ConcurrentRequests => b.predefined_metric_specification(predefined(
            MetricType::SageMakerVariantConcurrentRequestsPerModelHighResolution,
        )?),
        ScalingMetric::CpuUtilization => b.customized_metric_specification(customized(
            endpoint,
            variant,
            "/aws/sagemaker/Endpoints",
            "CPUUtilization",
        )?),
        ScalingMetric::GpuUtilization => b.customized_metric_specification(customized(
            endpoint,
            variant,
            "/aws/sagemaker/Endpoints",
            "GPUUtilization",
        )?),
        other => {
            return Err(Error::unsupported(format!(
                "autoscaling on {other:?} is not supported by the AWS backend"
            )));
        }
    };
    b.build()
        .map_err(|e| Error::provider("build a target-tracking configuration", e))
}

impl Inner {
    /// Brings the scalable targets and policies of a settled (`InService`) endpoint from those
    /// of config `applied` (or none: [`NO_CONFIG`]) to those of config `running`: variants
    /// that lost their policy are deregistered, new or changed policies are applied
    /// (registering again updates min/max in place). Safe to repeat.
    pub(crate) async fn reconcile_autoscaling(
        &self,
        endpoint: &str,
        applied: &str,
        running: &str,
    ) -> Result<()> {
        if applied == running {
            return Ok(());
        }
        let now = self.config(running).await?;
        let before = if applied == NO_CONFIG {
            None
        } else {
            match self.config(applied).await {
                Ok(c) => Some(c),
                // Cleaned up by a concurrent describe that reconciled first: re-apply all.
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        let before = before
            .as_ref()
            .map(|c| c.variants.as_slice())
            .unwrap_or(&[]);
        let dropped: Vec<String> = before
            .iter()
            .filter(|b| {
                b.autoscaling.is_some()
                    && !now
                        .variants
                        .iter()
                        .any(|n| n.name == b.name && n.autoscaling.is_some())
            })
            .map(|b| b.name.clone())
            .collect();
        self.remove_autoscaling(endpoint, &dropped).await?;
        let changed: Vec<(String, AutoscalingPolicy)> = now
            .variants
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.autoscaling.clone()?)))
            .filter(|(name, policy)| {
                !before
                    .iter()
                    .any(|b| &b.name == name && b.autoscaling.as_ref() == Some(policy))
            })
            .collect();
        self.apply_autoscaling(endpoint, &changed).await
    }

    /// Registers the scalable target and puts the policy of each `(variant, policy)`.
    pub(crate) async fn apply_autoscaling(
        &self,
        endpoint: &str,
        variants: &[(String, AutoscalingPolicy)],
    ) -> Result<()> {
        let target = endpoint_target(endpoint);
        for (variant, policy) in variants {
            let variant = variant.as_str();
            let config = tracking_config(endpoint, variant, policy)?;
            let id = resource_id(endpoint, variant);
            self.aas
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Sagemaker)
                .resource_id(&id)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .min_capacity(policy.min_instances as i32)
                .max_capacity(policy.max_instances as i32)
                .send()
                .await
                .map_err(|e| from_sdk(e, Some(&target)))?;
            self.aas
                .put_scaling_policy()
                .policy_name(policy_name(variant))
                .service_namespace(ServiceNamespace::Sagemaker)
                .resource_id(&id)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .policy_type(PolicyType::TargetTrackingScaling)
                .target_tracking_scaling_policy_configuration(config)
                .send()
                .await
                .map_err(|e| from_sdk(e, Some(&target)))?;
        }
        Ok(())
    }

    /// Deletes mlm's policy and deregisters the scalable target of each of `variants`;
    /// already-gone ones count as removed.
    pub(crate) async fn remove_autoscaling(
        &self,
        endpoint: &str,
        variants: &[String],
    ) -> Result<()> {
        let target = endpoint_target(endpoint);
        for variant in variants {
            let id = resource_id(endpoint, variant);
            // AWS deletes a target's policies with it; some emulators do not.
            let deleted = self
                .aas
                .delete_scaling_policy()
                .policy_name(policy_name(variant))
                .service_namespace(ServiceNamespace::Sagemaker)
                .resource_id(&id)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .send()
                .await;
            if let Err(e) = deleted
                && !is_gone(e.code(), e.message())
            {
                return Err(from_sdk(e, Some(&target)));
            }
            let deregistered = self
                .aas
                .deregister_scalable_target()
                .service_namespace(ServiceNamespace::Sagemaker)
                .resource_id(&id)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .send()
                .await;
            if let Err(e) = deregistered
                && !is_gone(e.code(), e.message())
            {
                return Err(from_sdk(e, Some(&target)));
            }
        }
        Ok(())
    }
}

/// Whether Application Auto Scaling said the target or policy does not exist (AWS:
/// `ObjectNotFoundException`; moto: a `ValidationException` "No scalable target found ...").
fn is_gone(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ObjectNotFoundException")
        || (code == Some("ValidationException")
            && message.is_some_and(|m| {
                m.starts_with("No scalable target found")
                    || m.starts_with("No scaling policy found")
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_metrics() {
        assert_eq!(resource_id("e", "v"), "endpoint/e/variant/v");
        assert_eq!(policy_name("v"), "mlm-v-target-tracking");
        let p = AutoscalingPolicy::new(1, 3, ScalingMetric::CpuUtilization, 70.0);
        let c = tracking_config("e", "v", &p).unwrap();
        let m = c.customized_metric_specification().unwrap();
        assert_eq!(m.namespace(), Some("/aws/sagemaker/Endpoints"));
        assert_eq!(m.dimensions().len(), 2);
        assert_eq!(
            (c.scale_in_cooldown(), c.scale_out_cooldown()),
            (None, None)
        );
        let p = AutoscalingPolicy::new(1, 3, ScalingMetric::ConcurrentRequests, 5.0)
            .with_cooldowns(600, 60);
        let c = tracking_config("e", "v", &p).unwrap();
        assert_eq!(
            (c.scale_in_cooldown(), c.scale_out_cooldown()),
            (Some(600), Some(60))
        );
        assert_eq!(
            c.predefined_metric_specification()
                .unwrap()
                .predefined_metric_type(),
            &MetricType::SageMakerVariantConcurrentRequestsPerModelHighResolution
        );
        assert!(is_gone(Some("ObjectNotFoundException"), None));
        assert!(!is_gone(Some("ValidationException"), Some("bad")));
    }
}
