//! Endpoints on SageMaker, done safely.
//!
//! **Create**: one SageMaker Model per variant (from the version's ModelPackage ARN), one
//! EndpointConfig (variants, weights, serverless, data capture, enhanced metrics), one
//! Endpoint. Names are deterministic ([`crate::naming`]); a failure half-way deletes what this
//! call created, and a retry of the same request reuses the same names. Variants with an
//! autoscaling policy get an Application Auto Scaling target and target-tracking policy
//! ([`crate::autoscaling`]) once the endpoint is `InService` (AWS refuses them before): the
//! endpoint is tagged `mlm:autoscaling-from`, and the first describe that sees it `InService`
//! applies them. The policy is also recorded in the config's tags, which is what describes
//! report.
//!
//! **Update**: counts and weights only → `UpdateEndpointWeightsAndCapacities` (no new config).
//! Anything else → a new EndpointConfig + `UpdateEndpoint`, keeping autoscaled counts unless
//! the request changes them; once the endpoint is `InService` on the new config, policies that
//! changed are re-applied and removed ones deregistered (tag `mlm:autoscaling-from`, as for
//! create; a failure shows in [`Endpoint::failure_reason`] and is retried on the next describe).
//! The endpoint is tagged with the config the update asked for (`mlm:target-config`); once
//! the endpoint has settled, a describe compares it with the config it actually runs. A
//! mismatch is SageMaker's *silent rollback*: the endpoint is `InService` on the old config,
//! and mlm reports it in [`Endpoint::failure_reason`] ("the update to configuration X did not
//! take effect ...", with SageMaker's reason).
//! Superseded configs and models are deleted on the first describe that sees the endpoint
//! settled (tag `mlm:cleanup`) and its autoscaling applied, never while it is
//! Creating/Updating, and never the config it runs or is moving to.
//!
//! **Delete**: the variants' scalable targets, the endpoint, then every config and model mlm
//! made for it (found by name); already-gone parts count as deleted.
//!
//! Endpoints created outside mlm are listed and described with `managed: false`. Their variants'
//! versions come from the ModelPackage their SageMaker model was built from; a model not built
//! from a registry package is reported as version 0 of a model named after the SageMaker model.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sagemaker::types::{
    Alarm, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType, CaptureMode,
    CaptureOption, ContainerDefinition, DeploymentConfig, DesiredWeightAndCapacity, MetricsConfig,
    ProductionVariant, ProductionVariantInstanceType, ProductionVariantServerlessConfig,
    TrafficRoutingConfig, TrafficRoutingConfigType, VariantProperty, VariantPropertyType,
};
use chrono::Utc;
use mlm_core::{
    CreateEndpointRequest, DataCaptureConfig, DeploymentPolicy, Endpoint, EndpointManager,
    EndpointName, EndpointStatus, Error, InvokeRequest, InvokeResponse, ModelName, Page,
    PageRequest, ResourceKind, Result, ServerlessConfig, TrafficShift, UpdateEndpointRequest,
    UpdateKind, Variant, VariantName, VariantSpec, VersionRef,
};

use crate::autoscaling::{NO_CONFIG, TAG_AUTOSCALING, tracking_config};
use crate::cache::{ConfigInfo, ConfigVariant, Described, RuntimeVariant};
use crate::error::{Target, from_sdk};
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_CLEANUP, TAG_DEPLOYMENT, TAG_ENDPOINT, TAG_MANAGED,
    TAG_TARGET_CONFIG, config_name, config_of_model, decode_text, encode_text, endpoint_key,
    is_config_of, model_name, text_keys,
};
use crate::provider::{
    AwsProvider, Inner, next_page_token, ordered, page_token, sm_tags, to_utc, user_tags,
};

/// Config tag holding the version a variant serves: `mlm:v:<variant>` = `model/version`.
const TAG_VARIANT_VERSION: &str = "mlm:v:";

pub(crate) fn endpoint_target(name: &str) -> Target {
    Target::new(ResourceKind::Endpoint, name)
}

fn parse_status(s: Option<&aws_sdk_sagemaker::types::EndpointStatus>) -> EndpointStatus {
    // An unknown future status is treated as transitional, so it is re-read, never cached.
    s.and_then(|s| s.as_str().parse().ok())
        .unwrap_or(EndpointStatus::SystemUpdating)
}

fn count(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// A `model/version` tag value.
fn parse_version_ref(s: &str) -> Option<VersionRef> {
    let (m, v) = s.rsplit_once('/')?;
    Some(VersionRef::new(ModelName::new(m).ok()?, v.parse().ok()?))
}

fn is_valid_instance_type(t: &str) -> bool {
    let mut parts = t.split('.');
    parts.next() == Some("ml")
        && parts
            .next()
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .next()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts.next().is_none()
}

/// The canonical content of a config, hashed into its name.
fn config_content(
    endpoint: &str,
    previous: Option<&str>,
    variants: &[VariantSpec],
    capture: Option<&DataCaptureConfig>,
    enhanced: bool,
) -> String {
    serde_json::json!({
        "endpoint": endpoint,
        "previous": previous,
        "variants": variants,
        "data_capture": capture,
        "enhanced_metrics": enhanced,
    })
    .to_string()
}

/// Adds why pending autoscaling could not be applied to the endpoint's failure reason.
fn with_scaling_error(e: &mut Endpoint, error: Option<String>) {
    if let Some(a) = error {
        e.failure_reason = Some(match e.failure_reason.take() {
            Some(r) => format!("{r}; {a}"),
            None => a,
        });
    }
}

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
    /// One page of ListEndpoints by name: each endpoint's name and last change, and our token
    /// for the next page. The list and the overview read pages the same way.
    pub(crate) async fn endpoint_summaries(
        &self,
        page: &PageRequest,
    ) -> Result<(Vec<(String, chrono::DateTime<Utc>)>, Option<String>)> {
        let size = page.size()?;
        let out = self
            .sm
            .list_endpoints()
            .max_results(size as i32)
            .set_next_token(page_token(page)?)
            .sort_by(aws_sdk_sagemaker::types::EndpointSortKey::Name)
            .sort_order(aws_sdk_sagemaker::types::OrderKey::Ascending)
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        let summaries = out
            .endpoints()
            .iter()
            .map(|s| {
                (
                    s.endpoint_name().unwrap_or_default().to_string(),
                    to_utc(s.last_modified_time()),
                )
            })
            .collect();
        Ok((summaries, next_page_token(out.next_token())))
    }

    fn role(&self) -> Result<&str> {
        self.settings.execution_role_arn.as_deref().ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "no SageMaker execution role is configured: set {} or call \
                 AwsProviderBuilder::with_execution_role_arn",
                crate::builder::EXECUTION_ROLE_ENV
            ))
        })
    }

    /// DescribeEndpoint, parsed, refreshing the cache.
    pub(crate) async fn describe(&self, name: &str) -> Result<Arc<Described>> {
        let out = self
            .sm
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))?;
        let arn = out.endpoint_arn().unwrap_or_default().to_string();
        self.learn_arn(&arn);
        let d = Arc::new(Described {
            name: name.to_string(),
            arn,
            status: parse_status(out.endpoint_status()),
            failure_reason: out
                .failure_reason()
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            config_name: out.endpoint_config_name().unwrap_or_default().to_string(),
            pending_config: out
                .pending_deployment_summary()
                .and_then(|p| p.endpoint_config_name())
                .map(str::to_string),
            variants: out
                .production_variants()
                .iter()
                .map(|v| RuntimeVariant {
                    name: v.variant_name().unwrap_or_default().to_string(),
                    desired_count: count(v.desired_instance_count()),
                    current_count: count(v.current_instance_count()),
                    weight: v.current_weight().or(v.desired_weight()),
                })
                .collect(),
            created: to_utc(out.creation_time()),
            last_modified: to_utc(out.last_modified_time()),
        });
        self.caches
            .described
            .lock()
            .expect("cache lock")
            .insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The cached description if `last_modified` matches and the endpoint is settled.
    pub(crate) async fn describe_cached(
        &self,
        name: &str,
        last_modified: chrono::DateTime<Utc>,
    ) -> Result<Arc<Described>> {
        let cached = self
            .caches
            .described
            .lock()
            .expect("cache lock")
            .get(name)
            .cloned();
        match cached {
            Some(d) if d.last_modified == last_modified && !d.status.is_transitional() => Ok(d),
            _ => self.describe(name).await,
        }
    }

    /// DescribeEndpointConfig (+ its tags), remembered forever: configs are immutable.
    pub(crate) async fn config(&self, name: &str) -> Result<Arc<ConfigInfo>> {
        if let Some(c) = self.caches.configs.lock().expect("cache lock").get(name) {
            return Ok(c.clone());
        }
        let _fetching = self.caches.config_fetch.lock().await;
        if let Some(c) = self.caches.configs.lock().expect("cache lock").get(name) {
            return Ok(c.clone());
        }
        let target = Target::new(ResourceKind::Endpoint, format!("(configuration) {name}"));
        let out = self
            .sm
            .describe_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&target)))?;
        let arn = out.endpoint_config_arn().unwrap_or_default().to_string();
        let tags = self.tags(&arn, &target).await.unwrap_or_default();
        let mut variants = Vec::new();
        for v in out.production_variants() {
            let variant = v.variant_name().unwrap_or_default().to_string();
            let model = v.model_name().unwrap_or_default().to_string();
            let version = match tags
                .get(&format!("{TAG_VARIANT_VERSION}{variant}"))
                .and_then(|s| parse_version_ref(s))
            {
                Some(r) => r,
                None => self.version_of_model(&model).await?,
            };
            variants.push(ConfigVariant {
                instance_type: v.instance_type().map(|t| t.as_str().to_string()),
                initial_count: count(v.initial_instance_count()).unwrap_or(0),
                weight: v.initial_variant_weight().unwrap_or(1.0),
                serverless: v.serverless_config().map(|s| {
                    ServerlessConfig::new(
                        count(s.memory_size_in_mb()).unwrap_or(0),
                        count(s.max_concurrency()).unwrap_or(0),
                    )
                }),
                autoscaling: decode_text(&tags, &format!("{TAG_AUTOSCALING}{variant}"))
                    .and_then(|s| serde_json::from_str(&s).ok()),
                name: variant,
                version,
            });
        }
        let data_capture = out
            .data_capture_config()
            .filter(|c| c.enable_capture().unwrap_or(true))
            .and_then(|c| {
                let modes: Vec<String> = c
                    .capture_options()
                    .iter()
                    .filter_map(|o| o.capture_mode().map(|m| m.as_str().to_string()))
                    .collect();
                serde_json::from_value(serde_json::json!({
                    "destination_uri": c.destination_s3_uri().unwrap_or_default(),
                    "sampling_percent": c.initial_sampling_percentage().unwrap_or(0),
                    "capture_input": modes.iter().any(|m| m == "Input"),
                    "capture_output": modes.iter().any(|m| m == "Output"),
                }))
                .ok()
            });
        let info = Arc::new(ConfigInfo {
            variants,
            data_capture,
        });
        self.caches
            .configs
            .lock()
            .expect("cache lock")
            .insert(name.to_string(), info.clone());
        Ok(info)
    }

    /// The version a SageMaker model was built from (models made outside mlm).
    async fn version_of_model(&self, model: &str) -> Result<VersionRef> {
        let out = self.sm.describe_model().model_name(model).send().await;
        let package = out.ok().and_then(|o| {
            o.containers()
                .iter()
                .chain(o.primary_container())
                .find_map(|c| c.model_package_name().map(str::to_string))
        });
        if let Some(arn) = package {
            // .../model-package/<group>/<version>
            let mut parts = arn.rsplit('/');
            if let (Some(v), Some(g)) = (parts.next(), parts.next())
                && let (Ok(v), Ok(g)) = (v.parse::<u32>(), ModelName::new(g))
            {
                return Ok(VersionRef::new(g, v));
            }
        }
        // Not from the registry: version 0 of a "model" named after the SageMaker model.
        let sanitized: String = model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(mlm_core::MAX_NAME_LEN)
            .collect();
        let name = ModelName::new(sanitized.trim_matches('-'))
            .or_else(|_| ModelName::new("unregistered"))?;
        Ok(VersionRef::new(name, 0))
    }

    /// The endpoint's tags, remembered per LastModifiedTime for listings.
    async fn endpoint_tags(&self, d: &Described) -> Result<BTreeMap<String, String>> {
        self.tags(&d.arn, &endpoint_target(&d.name)).await
    }

    /// Assembles the core view of an endpoint.
    pub(crate) async fn assemble(
        &self,
        d: &Described,
        tags: &BTreeMap<String, String>,
    ) -> Result<Endpoint> {
        let config = self.config(&d.config_name).await?;
        let managed = tags.get(TAG_MANAGED).is_some_and(|v| v == "true");
        let variants: Vec<Variant> = config
            .variants
            .iter()
            .filter_map(|cv| {
                let name = VariantName::new(&cv.name).ok()?;
                let runtime = d.variants.iter().find(|r| r.name == cv.name);
                let spec = match (&cv.serverless, &cv.instance_type) {
                    (Some(s), _) => VariantSpec::serverless(name, cv.version.clone(), *s),
                    (None, t) => VariantSpec::new(
                        name,
                        cv.version.clone(),
                        t.clone().unwrap_or_default(),
                        cv.initial_count,
                    ),
                };
                let mut spec = spec.with_weight(cv.weight);
                spec.autoscaling = cv.autoscaling.clone();
                let mut v = Variant::from_spec(&spec);
                if let Some(r) = runtime {
                    if cv.serverless.is_none() {
                        if let Some(n) = r.desired_count {
                            v.desired_instance_count = n;
                        }
                        v.current_instance_count = r.current_count;
                    }
                    if let Some(w) = r.weight {
                        v.weight = w;
                    }
                }
                Some(v)
            })
            .collect();
        let name = EndpointName::new(&d.name)?;
        let mut template = CreateEndpointRequest::new(name, vec![]);
        template.tags = user_tags(tags);
        template.data_capture = config.data_capture.clone();
        template.deployment = decode_text(tags, TAG_DEPLOYMENT)
            .and_then(|s| serde_json::from_str::<DeploymentPolicy>(&s).ok());
        let mut e = Endpoint::from_request(&template, d.status, d.created);
        e.variants = variants;
        e.managed = managed;
        e.updated_at = d.last_modified;
        e.failure_reason = self.failure_reason(d, tags);
        Ok(e)
    }

    /// SageMaker's failure reason, or the silent rollback of mlm's last update.
    fn failure_reason(&self, d: &Described, tags: &BTreeMap<String, String>) -> Option<String> {
        let target = tags.get(TAG_TARGET_CONFIG);
        let rolled_back =
            !d.status.is_transitional() && target.is_some_and(|t| *t != d.config_name);
        if rolled_back {
            Some(format!(
                "the update to endpoint configuration '{}' did not take effect: the endpoint \
                 still runs '{}' ({})",
                target.map(String::as_str).unwrap_or_default(),
                d.config_name,
                d.failure_reason
                    .as_deref()
                    .unwrap_or("SageMaker gave no reason")
            ))
        } else {
            d.failure_reason.clone()
        }
    }

    /// Applies the autoscaling a create or update left pending (tag `mlm:autoscaling-from`)
    /// once the endpoint is `InService`, then removes the tag (from `tags` too). Returns why it
    /// could not be applied; it is retried on the next call.
    pub(crate) async fn settle_autoscaling(
        &self,
        d: &Described,
        tags: &mut BTreeMap<String, String>,
    ) -> Option<String> {
        let applied = tags.get(TAG_AUTOSCALING_PENDING)?.clone();
        if d.status != EndpointStatus::InService {
            return None;
        }
        let target = endpoint_target(&d.name);
        let done = async {
            self.reconcile_autoscaling(&d.name, &applied, &d.config_name)
                .await?;
            self.set_tags(
                &d.arn,
                vec![TAG_AUTOSCALING_PENDING.to_string()],
                vec![],
                &target,
            )
            .await
        }
        .await;
        match done {
            Ok(()) => {
                tags.remove(TAG_AUTOSCALING_PENDING);
                None
            }
            Err(e) => {
                tracing::warn!(endpoint = d.name, error = %e, "applying autoscaling failed; will retry");
                Some(format!(
                    "the autoscaling of endpoint configuration '{}' could not be applied (mlm \
                     retries on the next describe): {e}",
                    d.config_name
                ))
            }
        }
    }

    /// Describes an endpoint, applying pending autoscaling and finishing pending clean-up when
    /// it has settled.
    pub(crate) async fn get_endpoint(&self, name: &str) -> Result<Endpoint> {
        let d = self.describe(name).await?;
        let mut tags = self.endpoint_tags(&d).await?;
        let scaling_error = self.settle_autoscaling(&d, &mut tags).await;
        // Clean-up waits for autoscaling: it needs the config whose autoscaling is in place.
        if tags.contains_key(TAG_CLEANUP)
            && !tags.contains_key(TAG_AUTOSCALING_PENDING)
            && !d.status.is_transitional()
        {
            // Keep what runs; delete what was made before the endpoint's last change (superseded
            // or rolled back), but not a config an update in flight has just made.
            let mut keep = BTreeSet::from([d.config_name.clone()]);
            keep.extend(d.pending_config.clone());
            match self.cleanup(name, &keep, Some(d.last_modified)).await {
                Ok(()) => {
                    if self
                        .set_tags(
                            &d.arn,
                            vec![TAG_CLEANUP.to_string()],
                            vec![],
                            &endpoint_target(name),
                        )
                        .await
                        .is_ok()
                    {
                        tags.remove(TAG_CLEANUP);
                    }
                }
                Err(e) => {
                    tracing::warn!(endpoint = name, error = %e, "clean-up of superseded configurations failed; will retry")
                }
            }
        }
        let mut e = self.assemble(&d, &tags).await?;
        with_scaling_error(&mut e, scaling_error);
        Ok(e)
    }

    /// Deletes the configs and models mlm made for `endpoint`, except the configs in `keep`
    /// and their models. Already-gone resources count as deleted.
    pub(crate) async fn cleanup(
        &self,
        endpoint: &str,
        keep: &BTreeSet<String>,
        made_before: Option<chrono::DateTime<Utc>>,
    ) -> Result<()> {
        let old_enough = |t: Option<&aws_smithy_types::DateTime>| {
            made_before.is_none_or(|limit| t.is_some_and(|t| to_utc(Some(t)) <= limit))
        };
        let key = endpoint_key(endpoint);
        let mut configs = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sm
                .list_endpoint_configs()
                .name_contains(&key)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(e, None))?;
            configs.extend(
                out.endpoint_configs()
                    .iter()
                    .filter(|c| old_enough(c.creation_time()))
                    .filter_map(|c| c.endpoint_config_name())
                    .filter(|n| is_config_of(endpoint, n) && !keep.contains(*n))
                    .map(str::to_string),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut models = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sm
                .list_models()
                .name_contains(&key)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(e, None))?;
            models.extend(
                out.models()
                    .iter()
                    .filter(|m| old_enough(m.creation_time()))
                    .filter_map(|m| m.model_name())
                    .filter(|n| config_of_model(endpoint, n).is_some_and(|c| !keep.contains(&c)))
                    .map(str::to_string),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for c in configs {
            self.delete_config(&c).await?;
        }
        for m in models {
            self.delete_model(&m).await?;
        }
        Ok(())
    }

    async fn delete_config(&self, name: &str) -> Result<()> {
        match self
            .sm
            .delete_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => {
                self.caches.configs.lock().expect("cache lock").remove(name);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn delete_model(&self, name: &str) -> Result<()> {
        match self
            .sm
            .delete_model()
            .model_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates the models and the config for `variants`; on failure deletes what it made.
    async fn create_config(
        &self,
        endpoint: &EndpointName,
        config: &str,
        variants: &[VariantSpec],
        capture: Option<&DataCaptureConfig>,
    ) -> Result<()> {
        let role = self.role()?.to_string();
        // Resolve every version first: nothing is created for a request that names a missing one.
        let mut arns = Vec::new();
        for v in variants {
            self.describe_version(&v.model_version.model, v.model_version.version)
                .await?;
            arns.push(
                self.package_arn(&v.model_version.model, v.model_version.version)
                    .await?,
            );
        }
        let mut made_models = Vec::new();
        let result = async {
            for (i, (v, arn)) in variants.iter().zip(&arns).enumerate() {
                let name = model_name(config, i);
                let created = self
                    .sm
                    .create_model()
                    .model_name(&name)
                    .execution_role_arn(&role)
                    .containers(
                        ContainerDefinition::builder()
                            .model_package_name(arn)
                            .build(),
                    )
                    .set_tags(Some(sm_tags([
                        (TAG_MANAGED.to_string(), "true".to_string()),
                        (TAG_ENDPOINT.to_string(), endpoint.to_string()),
                        (
                            crate::naming::TAG_VERSION.to_string(),
                            v.model_version.to_string(),
                        ),
                    ])))
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, Some(&endpoint_target(&name))));
                match created {
                    Ok(_) => made_models.push(name),
                    // Same deterministic name = a retry of this very request.
                    Err(Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut tags = vec![
                (TAG_MANAGED.to_string(), "true".to_string()),
                (TAG_ENDPOINT.to_string(), endpoint.to_string()),
            ];
            let mut call = self
                .sm
                .create_endpoint_config()
                .endpoint_config_name(config);
            for (i, v) in variants.iter().enumerate() {
                tags.push((
                    format!("{TAG_VARIANT_VERSION}{}", v.name),
                    v.model_version.to_string(),
                ));
                if let Some(a) = &v.autoscaling {
                    let json = serde_json::to_string(a)
                        .map_err(|e| Error::provider("encode autoscaling", e))?;
                    tags.extend(encode_text(&format!("{TAG_AUTOSCALING}{}", v.name), &json));
                }
                let mut pv = ProductionVariant::builder()
                    .variant_name(v.name.as_str())
                    .model_name(model_name(config, i))
                    .initial_variant_weight(v.weight);
                match (&v.serverless, &v.instance_type) {
                    (Some(s), _) => {
                        pv = pv.serverless_config(
                            ProductionVariantServerlessConfig::builder()
                                .memory_size_in_mb(s.memory_mb as i32)
                                .max_concurrency(s.max_concurrency as i32)
                                .build(),
                        );
                    }
                    (None, Some(t)) => {
                        pv = pv
                            .instance_type(ProductionVariantInstanceType::from(t.as_str()))
                            .initial_instance_count(v.instance_count as i32);
                    }
                    (None, None) => {}
                }
                call = call.production_variants(pv.build());
            }
            if let Some(c) = capture {
                let mut dc = aws_sdk_sagemaker::types::DataCaptureConfig::builder()
                    .enable_capture(true)
                    .initial_sampling_percentage(i32::from(c.sampling_percent))
                    .destination_s3_uri(&c.destination_uri);
                if c.capture_input {
                    dc = dc.capture_options(
                        CaptureOption::builder()
                            .capture_mode(CaptureMode::Input)
                            .build(),
                    );
                }
                if c.capture_output {
                    dc = dc.capture_options(
                        CaptureOption::builder()
                            .capture_mode(CaptureMode::Output)
                            .build(),
                    );
                }
                call = call.data_capture_config(dc.build());
            }
            // Per-instance metrics exist only with enhanced metrics, and configs are immutable:
            // turn them on at creation (not available for serverless-only configs).
            if self.settings.enhanced_metrics && variants.iter().any(|v| v.serverless.is_none()) {
                call = call.metrics_config(
                    MetricsConfig::builder()
                        .enable_enhanced_metrics(true)
                        .metric_publish_frequency_in_seconds(10)
                        .build(),
                );
            }
            match call
                .set_tags(Some(sm_tags(tags)))
                .send()
                .await
                .map_err(|e| from_sdk(e, Some(&endpoint_target(config))))
            {
                Ok(_) | Err(Error::AlreadyExists { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        .await;
        if let Err(e) = result {
            for m in &made_models {
                let _ = self.delete_model(m).await;
            }
            return Err(match e {
                // SageMaker's words for a bad instance type are a validation error.
                Error::NotFound { .. } => e,
                other => other,
            });
        }
        Ok(())
    }

    /// Every endpoint (managed or not) whose current or pending config serves `version`.
    pub(crate) async fn endpoints_serving(&self, version: &VersionRef) -> Result<Vec<String>> {
        let mut summaries = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sm
                .list_endpoints()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(e, None))?;
            for s in out.endpoints() {
                summaries.push((
                    s.endpoint_name().unwrap_or_default().to_string(),
                    to_utc(s.last_modified_time()),
                ));
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let found = ordered(
            summaries,
            self.settings.concurrency,
            |(name, lm)| async move {
                let d = match self.describe_cached(&name, lm).await {
                    Ok(d) => d,
                    Err(Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let mut configs = vec![d.config_name.clone()];
                configs.extend(d.pending_config.clone());
                for c in configs {
                    if c.is_empty() {
                        continue;
                    }
                    match self.config(&c).await {
                        Ok(info) if info.variants.iter().any(|v| &v.version == version) => {
                            return Ok(Some(name));
                        }
                        Ok(_) | Err(Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(None)
            },
        )
        .await?;
        Ok(found.into_iter().flatten().collect())
    }
}

#[async_trait]
impl EndpointManager for AwsProvider {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        request.validate()?;
        let inner = &self.inner;
        for v in &request.variants {
            if let Some(t) = &v.instance_type
                && !is_valid_instance_type(t)
            {
                return Err(Error::invalid(format!(
                    "variant '{}': '{t}' is not a SageMaker instance type (ml.<family>.<size>)",
                    v.name
                )));
            }
            if v.autoscaling.is_some() && v.serverless.is_some() {
                return Err(Error::invalid(format!(
                    "variant '{}': serverless variants cannot have an autoscaling policy",
                    v.name
                )));
            }
            if let Some(a) = &v.autoscaling {
                // Checked now: the policy is applied only once the endpoint is InService.
                tracking_config(request.name.as_str(), v.name.as_str(), a)?;
            }
        }
        inner.role()?;
        let name = request.name.as_str();
        // SageMaker rejects a duplicate name, but only after we made models and a config, and
        // emulators overwrite silently: check first.
        match inner.describe(name).await {
            Ok(_) => return Err(Error::already_exists(ResourceKind::Endpoint, name)),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let enhanced = inner.settings.enhanced_metrics;
        let config = config_name(
            name,
            &config_content(
                name,
                None,
                &request.variants,
                request.data_capture.as_ref(),
                enhanced,
            ),
        );
        inner
            .create_config(
                &request.name,
                &config,
                &request.variants,
                request.data_capture.as_ref(),
            )
            .await?;
        let mut tags: Vec<(String, String)> = request.tags.clone().into_iter().collect();
        tags.push((TAG_MANAGED.to_string(), "true".to_string()));
        tags.push((TAG_TARGET_CONFIG.to_string(), config.clone()));
        if request.variants.iter().any(|v| v.autoscaling.is_some()) {
            // Applied by the first describe that sees the endpoint InService.
            tags.push((TAG_AUTOSCALING_PENDING.to_string(), NO_CONFIG.to_string()));
        }
        if let Some(p) = &request.deployment {
            let json = serde_json::to_string(p).map_err(|e| Error::provider("encode policy", e))?;
            tags.extend(encode_text(TAG_DEPLOYMENT, &json));
        }
        let created = inner
            .sm
            .create_endpoint()
            .endpoint_name(name)
            .endpoint_config_name(&config)
            .set_tags(Some(sm_tags(tags)))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))));
        if let Err(e) = created {
            // Half-way: remove the config and models made for it.
            if !matches!(e, Error::AlreadyExists { .. })
                && let Err(c) = inner.cleanup(name, &BTreeSet::new(), None).await
            {
                tracing::warn!(endpoint = name, error = %c, "clean-up after a failed create failed");
            }
            return Err(e);
        }
        inner.caches.forget_endpoint(name);
        inner.get_endpoint(name).await
    }

    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
        self.inner.get_endpoint(name.as_str()).await
    }

    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        let inner = &self.inner;
        let (summaries, next) = inner.endpoint_summaries(&page).await?;
        let items = ordered(
            summaries,
            inner.settings.concurrency,
            |(name, lm)| async move {
                let d = match inner.describe_cached(&name, lm).await {
                    Ok(d) => d,
                    // Deleted between the list and the describe.
                    Err(Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let mut tags = match inner.endpoint_tags(&d).await {
                    Ok(t) => t,
                    Err(Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let scaling_error = inner.settle_autoscaling(&d, &mut tags).await;
                let mut e = inner.assemble(&d, &tags).await?;
                with_scaling_error(&mut e, scaling_error);
                Ok(Some(e))
            },
        )
        .await?;
        Ok(Page {
            items: items.into_iter().flatten().collect(),
            next_page_token: next,
        })
    }

    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        let inner = &self.inner;
        let name = request.name.as_str();
        let target = endpoint_target(name);
        let current = inner.get_endpoint(name).await?;
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
        let d = inner.describe(name).await?;
        inner.caches.forget_endpoint(name);
        match plan.kind {
            UpdateKind::CapacityOnly => {
                let mut call = inner
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
                let enhanced = inner.settings.enhanced_metrics;
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
                let tags = inner.endpoint_tags(&d).await?;
                let previous_target = tags.get(TAG_TARGET_CONFIG).cloned();
                // Mark the target first, so a concurrent clean-up keeps the new config.
                inner
                    .set_tags(
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
                    inner
                        .create_config(&request.name, &config, &plan.target, capture.as_ref())
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
                    let mut call = inner
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
                    let _ = inner
                        .set_tags(
                            &d.arn,
                            vec![],
                            vec![(TAG_TARGET_CONFIG.to_string(), restore)],
                            &target,
                        )
                        .await;
                    let keep = BTreeSet::from([d.config_name.clone()]);
                    if let Err(c) = inner.cleanup(name, &keep, None).await {
                        tracing::warn!(endpoint = name, error = %c, "clean-up after a failed update failed");
                    }
                    return Err(e);
                }
                if let Some(p) = &request.deployment {
                    let json = serde_json::to_string(p)
                        .map_err(|e| Error::provider("encode policy", e))?;
                    let old = text_keys(&tags, TAG_DEPLOYMENT);
                    inner
                        .set_tags(&d.arn, old, encode_text(TAG_DEPLOYMENT, &json), &target)
                        .await?;
                }
                // Autoscaling changes are applied once the endpoint is InService on the new
                // config (AWS refuses them while it is Updating); a pending change keeps its
                // starting point.
                let any_policy = current.variants.iter().any(|v| v.autoscaling.is_some())
                    || plan.target.iter().any(|v| v.autoscaling.is_some());
                if any_policy && !tags.contains_key(TAG_AUTOSCALING_PENDING) {
                    inner
                        .set_tags(
                            &d.arn,
                            vec![],
                            vec![(TAG_AUTOSCALING_PENDING.to_string(), d.config_name.clone())],
                            &target,
                        )
                        .await?;
                }
            }
        }
        inner.caches.forget_endpoint(name);
        inner.get_endpoint(name).await
    }

    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        let inner = &self.inner;
        let name = name.as_str();
        let d = inner.describe(name).await?;
        let tags = inner.endpoint_tags(&d).await.unwrap_or_default();
        // Stop scaling first (any variant of the current or pending config, or of the config
        // whose autoscaling is still in place, with a policy).
        let mut scaled = Vec::new();
        let applied = tags.get(TAG_AUTOSCALING_PENDING);
        for c in std::iter::once(&d.config_name)
            .chain(d.pending_config.as_ref())
            .chain(applied)
        {
            if c.is_empty() || c == NO_CONFIG {
                continue;
            }
            match inner.config(c).await {
                Ok(info) => scaled.extend(
                    info.variants
                        .iter()
                        .filter(|v| v.autoscaling.is_some())
                        .map(|v| v.name.clone()),
                ),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        scaled.sort();
        scaled.dedup();
        inner.remove_autoscaling(name, &scaled).await?;
        match inner
            .sm
            .delete_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        inner.caches.forget_endpoint(name);
        if tags.get(TAG_MANAGED).is_some_and(|v| v == "true") {
            inner.cleanup(name, &BTreeSet::new(), None).await?;
        }
        Ok(())
    }

    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        let name = request.endpoint.as_str();
        let mut call = self
            .inner
            .rt
            .invoke_endpoint()
            .endpoint_name(name)
            .content_type(&request.content_type)
            .body(aws_smithy_types::Blob::new(request.body));
        if let Some(a) = &request.accept {
            call = call.accept(a);
        }
        if let Some(v) = &request.target_variant {
            call = call.target_variant(v.as_str());
        }
        let out = call
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))?;
        let variant = out
            .invoked_production_variant()
            .and_then(|v| VariantName::new(v).ok());
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        Ok(InvokeResponse::new(
            out.body().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
            content_type,
            variant,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_errors_join_the_failure_reason() {
        let name = EndpointName::new("e").unwrap();
        let mut e = Endpoint::from_request(
            &CreateEndpointRequest::new(name, vec![]),
            EndpointStatus::InService,
            Utc::now(),
        );
        with_scaling_error(&mut e, None);
        assert_eq!(e.failure_reason, None);
        with_scaling_error(&mut e, Some("a".into()));
        assert_eq!(e.failure_reason.as_deref(), Some("a"));
        with_scaling_error(&mut e, Some("b".into()));
        assert_eq!(e.failure_reason.as_deref(), Some("a; b"));
    }
}
