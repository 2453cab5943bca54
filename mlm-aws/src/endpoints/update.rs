//! Updating endpoints: counts and weights in place, anything else through a new config.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types::{DesiredWeightAndCapacity, VariantProperty, VariantPropertyType};
use mlm_core::{Endpoint, Error, Result, UpdateEndpointRequest, UpdateKind, Variant, VariantSpec};

use super::cleanup::Sweep;
use super::create::{NewConfig, check_autoscaling, check_instance_type};
use super::endpoint_target;
use crate::cache::Described;
use crate::deployments::{Record, deployment_config};
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_CLEANUP, TAG_DEPLOYMENT, TAG_TARGET_CONFIG, encode_text, text_keys,
};
use crate::provider::Inner;

/// The variant properties this update sets itself, so SageMaker must not carry the running
/// values over when it retains autoscaled counts.
fn changed_properties(current: &[Variant], target: &[VariantSpec]) -> Vec<VariantProperty> {
    let changed = |f: &dyn Fn(&Variant, &VariantSpec) -> bool| {
        target
            .iter()
            .any(|t| current.iter().any(|c| c.name == t.name && f(c, t)))
    };
    let property = |t| VariantProperty::builder().variant_property_type(t).build();
    let mut exclude = Vec::new();
    if changed(&|c, t| c.desired_instance_count != t.instance_count) {
        exclude.push(property(VariantPropertyType::DesiredInstanceCount));
    }
    if changed(&|c, t| c.weight != t.weight) {
        exclude.push(property(VariantPropertyType::DesiredWeight));
    }
    exclude
}

impl Inner {
    /// Checks the plan, then updates in place or through a new config.
    pub(super) async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        let name = request.name.as_str();
        let current = self.get_endpoint(name).await?;
        if !current.status.accepts_updates() {
            return Err(Error::failed_precondition(format!(
                "endpoint '{name}' is {}: wait until it is InService before updating it",
                current.status
            )));
        }
        let plan = request.plan(&current)?;
        // Variants without a model version (made outside mlm) can only be in a capacity-only
        // plan, which leaves their type and autoscaling as they are.
        let specs: Vec<VariantSpec> = match plan.kind {
            UpdateKind::NewConfig => plan.specs()?,
            UpdateKind::CapacityOnly => plan.target.iter().filter_map(Variant::to_spec).collect(),
        };
        for v in &specs {
            check_autoscaling(name, v)?;
            check_instance_type(v)?;
        }
        let d = self.describe(name).await?;
        self.caches.forget_endpoint(name);
        match plan.kind {
            UpdateKind::CapacityOnly => self.update_capacity(name, &plan.target).await?,
            UpdateKind::NewConfig => self.update_config(&request, &current, &d, &specs).await?,
        }
        self.caches.forget_endpoint(name);
        self.get_endpoint(name).await
    }

    /// Counts and weights only: `UpdateEndpointWeightsAndCapacities`, no new config.
    async fn update_capacity(&self, name: &str, target: &[Variant]) -> Result<()> {
        let mut call = self
            .sm
            .update_endpoint_weights_and_capacities()
            .endpoint_name(name);
        for v in target {
            let mut w = DesiredWeightAndCapacity::builder()
                .variant_name(v.name.as_str())
                .desired_weight(v.weight);
            // Always send the count (an entry without it resets the count on some
            // emulators); serverless variants have none.
            if v.serverless.is_none() {
                w = w.desired_instance_count(v.desired_instance_count as i32);
            }
            call = call.desired_weights_and_capacities(w.build());
        }
        call.send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))?;
        Ok(())
    }

    /// Anything else: a new config and `UpdateEndpoint`, undone if it does not start; the
    /// endpoint's tags record what was asked for.
    async fn update_config(
        &self,
        request: &UpdateEndpointRequest,
        current: &Endpoint,
        d: &Described,
        target: &[VariantSpec],
    ) -> Result<()> {
        let name = request.name.as_str();
        if !current.managed {
            return Err(Error::failed_precondition(format!(
                "endpoint '{name}' was not created by mlm: only its counts and weights \
                 can be changed through mlm"
            )));
        }
        let policy = request.deployment.as_ref().or(current.deployment.as_ref());
        if let Some(p) = policy {
            // Checked before anything is made: SageMaker would only fail the update later.
            deployment_config(name, p)?;
            self.check_alarms_exist(name, &p.rollback_alarms).await?;
        }
        let tags = self.endpoint_tags(d).await?;
        let previous_target = tags.get(TAG_TARGET_CONFIG).cloned();
        let config = NewConfig::new(
            &request.name,
            Record::new(Some(&d.config_name), policy),
            previous_target.as_deref(),
            target,
            current.data_capture.as_ref(),
            self.settings.enhanced_metrics,
        );
        // Mark the target first, so a concurrent clean-up keeps the new config.
        let marks = vec![
            (TAG_TARGET_CONFIG.to_string(), config.name.clone()),
            (TAG_CLEANUP.to_string(), "pending".to_string()),
        ];
        self.set_tags(&d.arn, vec![], marks, &endpoint_target(name))
            .await?;
        if let Err(e) = self.start_update(request, current, &config).await {
            self.undo_update(d, previous_target, &config.name).await;
            return Err(e);
        }
        self.record_update(request, current, d, &tags, target).await
    }

    /// Creates the new config and moves the endpoint to it, under the deployment's policy.
    async fn start_update(
        &self,
        request: &UpdateEndpointRequest,
        current: &Endpoint,
        config: &NewConfig<'_>,
    ) -> Result<()> {
        self.create_config(config).await?;
        let exclude = changed_properties(&current.variants, config.variants);
        let mut call = self
            .sm
            .update_endpoint()
            .endpoint_name(request.name.as_str())
            .endpoint_config_name(&config.name)
            .retain_all_variant_properties(request.retain_autoscaled_counts);
        if request.retain_autoscaled_counts && !exclude.is_empty() {
            call = call.set_exclude_retained_variant_properties(Some(exclude));
        }
        if let Some(p) = &config.record.policy {
            call = call.deployment_config(deployment_config(request.name.as_str(), p)?);
        }
        call.send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(request.name.as_str()))))?;
        Ok(())
    }

    /// After a failed start the endpoint still runs its old config: point the target tag back
    /// and drop what the update made (it was never a deployment).
    async fn undo_update(&self, d: &Described, previous_target: Option<String>, made: &str) {
        let restore = previous_target.unwrap_or_else(|| d.config_name.clone());
        let restored = vec![(TAG_TARGET_CONFIG.to_string(), restore)];
        let _ = self
            .set_tags(&d.arn, vec![], restored, &endpoint_target(&d.name))
            .await;
        if let Err(c) = self.cleanup(&d.name, Sweep::Config(made)).await {
            tracing::warn!(endpoint = d.name, error = %c, "clean-up after a failed update failed");
        }
    }

    /// Records the update's deployment policy, and leaves autoscaling changes to the first
    /// describe that sees the endpoint InService on the new config (AWS refuses them while it
    /// is Updating); a change already pending keeps its starting point.
    async fn record_update(
        &self,
        request: &UpdateEndpointRequest,
        current: &Endpoint,
        d: &Described,
        tags: &BTreeMap<String, String>,
        target: &[VariantSpec],
    ) -> Result<()> {
        let resource = endpoint_target(&d.name);
        if let Some(p) = &request.deployment {
            let json = serde_json::to_string(p).map_err(|e| Error::provider("encode policy", e))?;
            let old = text_keys(tags, TAG_DEPLOYMENT);
            self.set_tags(&d.arn, old, encode_text(TAG_DEPLOYMENT, &json), &resource)
                .await?;
        }
        let any_policy = current.variants.iter().any(|v| v.autoscaling.is_some())
            || target.iter().any(|v| v.autoscaling.is_some());
        if any_policy && !tags.contains_key(TAG_AUTOSCALING_PENDING) {
            let from = vec![(TAG_AUTOSCALING_PENDING.to_string(), d.config_name.clone())];
            self.set_tags(&d.arn, vec![], from, &resource).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mlm_core::{ModelName, VariantName, VersionRef};

    use super::*;

    #[test]
    fn only_properties_the_update_sets_are_excluded_from_retention() {
        let version = VersionRef::new(ModelName::new("m").unwrap(), 1);
        let spec = VariantSpec::new(VariantName::new("a").unwrap(), version, "ml.m5.large", 2);
        let current = [Variant::from_spec(&spec)];
        assert!(changed_properties(&current, std::slice::from_ref(&spec)).is_empty());
        let mut target = spec.clone().with_weight(0.5);
        target.instance_count = 3;
        let types: Vec<_> = changed_properties(&current, &[target])
            .iter()
            .filter_map(|p| p.variant_property_type().cloned())
            .collect();
        assert_eq!(
            types,
            [
                VariantPropertyType::DesiredInstanceCount,
                VariantPropertyType::DesiredWeight
            ]
        );
    }
}
