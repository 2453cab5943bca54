//! Updating endpoints: counts and weights in place, anything else through a new config.

use std::collections::BTreeSet;

use aws_sdk_sagemaker::types::{
    Alarm, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType,
    DeploymentConfig, DesiredWeightAndCapacity, TrafficRoutingConfig, TrafficRoutingConfigType,
    VariantProperty, VariantPropertyType,
};
use mlm_core::{
    DeploymentPolicy, Endpoint, Error, Result, TrafficShift, UpdateEndpointRequest, UpdateKind,
    Variant, VariantSpec,
};

use super::create::{config_content, is_valid_instance_type};
use super::endpoint_target;
use crate::autoscaling::tracking_config;
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_CLEANUP, TAG_DEPLOYMENT, TAG_TARGET_CONFIG, config_name,
    encode_text, text_keys,
};
use crate::provider::Inner;

fn deployment_config(policy: &DeploymentPolicy) -> DeploymentConfig {
    let routing = match &policy.traffic {
        TrafficShift::Canary {
            percent,
            bake_seconds,
        } => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::Canary)
            .wait_interval_in_seconds(*bake_seconds as i32)
            .canary_size(
                CapacitySize::builder()
                    .r#type(CapacitySizeType::CapacityPercent)
                    .value(i32::from(*percent))
                    .build(),
            )
            .build(),
        TrafficShift::Linear {
            step_percent,
            interval_seconds,
        } => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::Linear)
            .wait_interval_in_seconds(*interval_seconds as i32)
            .linear_step_size(
                CapacitySize::builder()
                    .r#type(CapacitySizeType::CapacityPercent)
                    .value(i32::from(*step_percent))
                    .build(),
            )
            .build(),
        _ => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::AllAtOnce)
            .wait_interval_in_seconds(0)
            .build(),
    };
    let mut config = DeploymentConfig::builder().blue_green_update_policy(
        BlueGreenUpdatePolicy::builder()
            .traffic_routing_configuration(routing)
            .build(),
    );
    if !policy.rollback_alarms.is_empty() {
        let mut rollback = AutoRollbackConfig::builder();
        for a in &policy.rollback_alarms {
            rollback = rollback.alarms(Alarm::builder().alarm_name(a).build());
        }
        config = config.auto_rollback_configuration(rollback.build());
    }
    config.build()
}

impl Inner {
    /// Checks the plan, then updates in place or through a new config.
    pub(super) async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        let name = request.name.as_str();
        let target = endpoint_target(name);
        let current = self.get_endpoint(name).await?;
        if !current.status.accepts_updates() {
            return Err(Error::FailedPrecondition(format!(
                "endpoint '{name}' is {}: wait until it is InService before updating it",
                current.status
            )));
        }
        let plan = request.plan(&current)?;
        for v in &plan.target {
            if v.autoscaling.is_some() && v.serverless.is_some() {
                return Err(Error::invalid(format!(
                    "variant '{}': serverless variants cannot have an autoscaling policy",
                    v.name
                )));
            }
            if let Some(a) = &v.autoscaling {
                // Checked now: the policy is applied only once the endpoint is InService.
                tracking_config(name, v.name.as_str(), a)?;
            }
            if let Some(t) = &v.instance_type
                && !is_valid_instance_type(t)
            {
                return Err(Error::invalid(format!(
                    "variant '{}': '{t}' is not a SageMaker instance type (ml.<family>.<size>)",
                    v.name
                )));
            }
        }
        let d = self.describe(name).await?;
        self.caches.forget_endpoint(name);
        match plan.kind {
            UpdateKind::CapacityOnly => {
                let mut call = self
                    .sm
                    .update_endpoint_weights_and_capacities()
                    .endpoint_name(name);
                for v in &plan.target {
                    let mut w = DesiredWeightAndCapacity::builder()
                        .variant_name(v.name.as_str())
                        .desired_weight(v.weight);
                    // Always send the count (an entry without it resets the count on some
                    // emulators); serverless variants have none.
                    if v.serverless.is_none() {
                        w = w.desired_instance_count(v.instance_count as i32);
                    }
                    call = call.desired_weights_and_capacities(w.build());
                }
                call.send().await.map_err(|e| from_sdk(e, Some(&target)))?;
            }
            UpdateKind::NewConfig => {
                if !current.managed {
                    return Err(Error::FailedPrecondition(format!(
                        "endpoint '{name}' was not created by mlm: only its counts and weights \
                         can be changed through mlm"
                    )));
                }
                let capture = current.data_capture.clone();
                let enhanced = self.settings.enhanced_metrics;
                let config = config_name(
                    name,
                    &config_content(
                        name,
                        Some(&d.config_name),
                        &plan.target,
                        capture.as_ref(),
                        enhanced,
                    ),
                );
                let tags = self.endpoint_tags(&d).await?;
                let previous_target = tags.get(TAG_TARGET_CONFIG).cloned();
                // Mark the target first, so a concurrent clean-up keeps the new config.
                self.set_tags(
                    &d.arn,
                    vec![],
                    vec![
                        (TAG_TARGET_CONFIG.to_string(), config.clone()),
                        (TAG_CLEANUP.to_string(), "pending".to_string()),
                    ],
                    &target,
                )
                .await?;
                let started = async {
                    self.create_config(&request.name, &config, &plan.target, capture.as_ref())
                        .await?;
                    let mut exclude = Vec::new();
                    let changed = |f: &dyn Fn(&Variant, &VariantSpec) -> bool| {
                        plan.target
                            .iter()
                            .any(|t| current.variants.iter().any(|c| c.name == t.name && f(c, t)))
                    };
                    if changed(&|c, t| c.desired_instance_count != t.instance_count) {
                        exclude.push(
                            VariantProperty::builder()
                                .variant_property_type(VariantPropertyType::DesiredInstanceCount)
                                .build(),
                        );
                    }
                    if changed(&|c, t| c.weight != t.weight) {
                        exclude.push(
                            VariantProperty::builder()
                                .variant_property_type(VariantPropertyType::DesiredWeight)
                                .build(),
                        );
                    }
                    let mut call = self
                        .sm
                        .update_endpoint()
                        .endpoint_name(name)
                        .endpoint_config_name(&config)
                        .retain_all_variant_properties(request.retain_autoscaled_counts);
                    if request.retain_autoscaled_counts && !exclude.is_empty() {
                        call = call.set_exclude_retained_variant_properties(Some(exclude));
                    }
                    if let Some(p) = request.deployment.as_ref().or(current.deployment.as_ref()) {
                        call = call.deployment_config(deployment_config(p));
                    }
                    call.send().await.map_err(|e| from_sdk(e, Some(&target)))
                }
                .await;
                if let Err(e) = started {
                    // Undo: the endpoint still runs its old config; drop what we made.
                    let restore = previous_target.unwrap_or_else(|| d.config_name.clone());
                    let _ = self
                        .set_tags(
                            &d.arn,
                            vec![],
                            vec![(TAG_TARGET_CONFIG.to_string(), restore)],
                            &target,
                        )
                        .await;
                    let keep = BTreeSet::from([d.config_name.clone()]);
                    if let Err(c) = self.cleanup(name, &keep, None).await {
                        tracing::warn!(endpoint = name, error = %c, "clean-up after a failed update failed");
                    }
                    return Err(e);
                }
                if let Some(p) = &request.deployment {
                    let json = serde_json::to_string(p)
                        .map_err(|e| Error::provider("encode policy", e))?;
                    let old = text_keys(&tags, TAG_DEPLOYMENT);
                    self.set_tags(&d.arn, old, encode_text(TAG_DEPLOYMENT, &json), &target)
                        .await?;
                }
                // Autoscaling changes are applied once the endpoint is InService on the new
                // config (AWS refuses them while it is Updating); a pending change keeps its
                // starting point.
                let any_policy = current.variants.iter().any(|v| v.autoscaling.is_some())
                    || plan.target.iter().any(|v| v.autoscaling.is_some());
                if any_policy && !tags.contains_key(TAG_AUTOSCALING_PENDING) {
                    self.set_tags(
                        &d.arn,
                        vec![],
                        vec![(TAG_AUTOSCALING_PENDING.to_string(), d.config_name.clone())],
                        &target,
                    )
                    .await?;
                }
            }
        }
        self.caches.forget_endpoint(name);
        self.get_endpoint(name).await
    }
}
