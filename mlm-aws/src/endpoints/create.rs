//! Creating endpoints: one SageMaker Model per variant, one EndpointConfig, one Endpoint, with
//! deterministic names so a retry reuses them, and nothing left behind by a failure.

use aws_sdk_sagemaker::types::{
    CaptureMode, CaptureOption, ContainerDefinition, MetricsConfig, ProductionVariant,
    ProductionVariantInstanceType, ProductionVariantServerlessConfig,
};
use mlm_core::{
    CreateEndpointRequest, DataCaptureConfig, Endpoint, EndpointName, Error, ResourceKind, Result,
    VariantSpec,
};

use super::cleanup::Sweep;
use super::{TAG_VARIANT_VERSION, endpoint_target};
use crate::autoscaling::{NO_CONFIG, TAG_AUTOSCALING, tracking_config};
use crate::deployments::Record;
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_DEPLOYMENT, TAG_ENDPOINT, TAG_MANAGED, TAG_TARGET_CONFIG,
    TAG_VERSION, config_name, encode_text, model_name,
};
use crate::provider::{Inner, sm_tags};

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

/// Rejects an instance type SageMaker would not know (create and update check it).
pub(super) fn check_instance_type(v: &VariantSpec) -> Result<()> {
    match &v.instance_type {
        Some(t) if !is_valid_instance_type(t) => Err(Error::invalid(format!(
            "variant '{}': '{t}' is not a SageMaker instance type (ml.<family>.<size>)",
            v.name
        ))),
        _ => Ok(()),
    }
}

/// Rejects an autoscaling policy AWS would refuse. Checked before anything is made: the
/// policy itself is applied only once the endpoint is InService.
pub(super) fn check_autoscaling(endpoint: &str, v: &VariantSpec) -> Result<()> {
    if v.autoscaling.is_some() && v.serverless.is_some() {
        return Err(Error::invalid(format!(
            "variant '{}': serverless variants cannot have an autoscaling policy",
            v.name
        )));
    }
    if let Some(a) = &v.autoscaling {
        tracking_config(endpoint, v.name.as_str(), a)?;
    }
    Ok(())
}

/// A config to make for an endpoint: one deployment. Its name is a hash of its content, so
/// making the same config again is a retry of the same request.
pub(super) struct NewConfig<'a> {
    pub endpoint: &'a EndpointName,
    pub name: String,
    pub variants: &'a [VariantSpec],
    pub capture: Option<&'a DataCaptureConfig>,
    /// What its tags record about the deployment.
    pub record: Record,
}

impl<'a> NewConfig<'a> {
    /// The config of `variants` for `endpoint`. `record` names the config an update replaces;
    /// `last_asked` is the config the endpoint's last deployment asked for, so an update that
    /// repeats one that was rolled back is a new deployment with a new name, while a retry of
    /// one that never started reuses the name.
    pub(super) fn new(
        endpoint: &'a EndpointName,
        record: Record,
        last_asked: Option<&str>,
        variants: &'a [VariantSpec],
        capture: Option<&'a DataCaptureConfig>,
        enhanced_metrics: bool,
    ) -> Self {
        let e = endpoint.as_str();
        let content = serde_json::json!({
            "endpoint": e,
            "previous": record.previous,
            "last_asked": last_asked,
            "variants": variants,
            "data_capture": capture,
            "enhanced_metrics": enhanced_metrics,
        });
        Self {
            endpoint,
            name: config_name(e, &content.to_string()),
            variants,
            capture,
            record,
        }
    }
}

/// The tags of a new endpoint: the user's, and mlm's bookkeeping.
fn endpoint_tags(request: &CreateEndpointRequest, config: &str) -> Result<Vec<(String, String)>> {
    let mut tags: Vec<(String, String)> = request.tags.clone().into_iter().collect();
    tags.push((TAG_MANAGED.to_string(), "true".to_string()));
    tags.push((TAG_TARGET_CONFIG.to_string(), config.to_string()));
    if request.variants.iter().any(|v| v.autoscaling.is_some()) {
        // Applied by the first describe that sees the endpoint InService.
        tags.push((TAG_AUTOSCALING_PENDING.to_string(), NO_CONFIG.to_string()));
    }
    if let Some(p) = &request.deployment {
        let json = serde_json::to_string(p).map_err(|e| Error::provider("encode policy", e))?;
        tags.extend(encode_text(TAG_DEPLOYMENT, &json));
    }
    Ok(tags)
}

/// The tags of a new config: what each variant serves and its autoscaling policy (configs are
/// immutable, so describes can trust them), and the deployment's record.
fn config_tags(config: &NewConfig<'_>) -> Result<Vec<(String, String)>> {
    let mut tags = vec![
        (TAG_MANAGED.to_string(), "true".to_string()),
        (TAG_ENDPOINT.to_string(), config.endpoint.to_string()),
    ];
    tags.extend(config.record.tags()?);
    for v in config.variants {
        tags.push((
            format!("{TAG_VARIANT_VERSION}{}", v.name),
            v.model_version.to_string(),
        ));
        if let Some(a) = &v.autoscaling {
            let json =
                serde_json::to_string(a).map_err(|e| Error::provider("encode autoscaling", e))?;
            tags.extend(encode_text(&format!("{TAG_AUTOSCALING}{}", v.name), &json));
        }
    }
    Ok(tags)
}

/// Variant `i` of `config`, served by the SageMaker model of the same index.
fn production_variant(config: &str, i: usize, v: &VariantSpec) -> ProductionVariant {
    let pv = ProductionVariant::builder()
        .variant_name(v.name.as_str())
        .model_name(model_name(config, i))
        .initial_variant_weight(v.weight);
    match (&v.serverless, &v.instance_type) {
        (Some(s), _) => pv.serverless_config(
            ProductionVariantServerlessConfig::builder()
                .memory_size_in_mb(s.memory_mb as i32)
                .max_concurrency(s.max_concurrency as i32)
                .set_provisioned_concurrency(s.provisioned_concurrency.map(|p| p as i32))
                .build(),
        ),
        (None, Some(t)) => pv
            .instance_type(ProductionVariantInstanceType::from(t.as_str()))
            .initial_instance_count(v.instance_count as i32),
        (None, None) => pv,
    }
    .build()
}

/// mlm's data capture settings in SageMaker's terms.
fn data_capture(c: &DataCaptureConfig) -> aws_sdk_sagemaker::types::DataCaptureConfig {
    let option = |mode| CaptureOption::builder().capture_mode(mode).build();
    let mut dc = aws_sdk_sagemaker::types::DataCaptureConfig::builder()
        .enable_capture(true)
        .initial_sampling_percentage(i32::from(c.sampling_percent))
        .destination_s3_uri(&c.destination_uri);
    if c.capture_input {
        dc = dc.capture_options(option(CaptureMode::Input));
    }
    if c.capture_output {
        dc = dc.capture_options(option(CaptureMode::Output));
    }
    dc.build()
}

impl Inner {
    /// Validates the request, makes the config and models, then the endpoint.
    pub(super) async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        request.validate()?;
        for v in &request.variants {
            check_instance_type(v)?;
            check_autoscaling(request.name.as_str(), v)?;
        }
        self.role()?;
        let name = request.name.as_str();
        // SageMaker rejects a duplicate name, but only after we made models and a config, and
        // emulators overwrite silently: check first.
        match self.describe(name).await {
            Ok(_) => return Err(Error::already_exists(ResourceKind::Endpoint, name)),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let config = NewConfig::new(
            &request.name,
            Record::new(None, None),
            None,
            &request.variants,
            request.data_capture.as_ref(),
            self.settings.enhanced_metrics,
        );
        self.create_config(&config).await?;
        let created = self
            .sm
            .create_endpoint()
            .endpoint_name(name)
            .endpoint_config_name(&config.name)
            .set_tags(Some(sm_tags(endpoint_tags(&request, &config.name)?)))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))));
        if let Err(e) = created {
            // Half-way: remove the config and models made for it.
            if !matches!(e, Error::AlreadyExists { .. })
                && let Err(c) = self.cleanup(name, Sweep::All).await
            {
                tracing::warn!(endpoint = name, error = %c, "clean-up after a failed create failed");
            }
            return Err(e);
        }
        self.caches.forget_endpoint(name);
        self.get_endpoint(name).await
    }

    fn role(&self) -> Result<&str> {
        self.settings.execution_role_arn.as_deref().ok_or_else(|| {
            Error::failed_precondition(format!(
                "no SageMaker execution role is configured: set {} or call \
                 AwsProviderBuilder::with_execution_role_arn",
                crate::builder::EXECUTION_ROLE_ENV
            ))
        })
    }

    /// Creates the models and the config; on failure deletes the models it made.
    pub(super) async fn create_config(&self, config: &NewConfig<'_>) -> Result<()> {
        let role = self.role()?.to_string();
        // Resolve every version first: nothing is created for a request that names a missing one.
        let mut arns = Vec::new();
        for v in config.variants {
            self.describe_version(&v.model_version.model, v.model_version.version)
                .await?;
            arns.push(
                self.package_arn(&v.model_version.model, v.model_version.version)
                    .await?,
            );
        }
        let mut made_models = Vec::new();
        let result = async {
            for (i, (v, arn)) in config.variants.iter().zip(&arns).enumerate() {
                let name = model_name(&config.name, i);
                if self
                    .create_model(config.endpoint, &name, &role, arn, v)
                    .await?
                {
                    made_models.push(name);
                }
            }
            self.create_endpoint_config(config).await
        }
        .await;
        if result.is_err() {
            for m in &made_models {
                let _ = self.delete_model(m).await;
            }
        }
        result
    }

    /// CreateModel from a registry package; `false` if it exists already (same deterministic
    /// name = a retry of this very request).
    async fn create_model(
        &self,
        endpoint: &EndpointName,
        name: &str,
        role: &str,
        package_arn: &str,
        v: &VariantSpec,
    ) -> Result<bool> {
        let created = self
            .sm
            .create_model()
            .model_name(name)
            .execution_role_arn(role)
            .containers(
                ContainerDefinition::builder()
                    .model_package_name(package_arn)
                    .build(),
            )
            .set_tags(Some(sm_tags([
                (TAG_MANAGED.to_string(), "true".to_string()),
                (TAG_ENDPOINT.to_string(), endpoint.to_string()),
                (TAG_VERSION.to_string(), v.model_version.to_string()),
            ])))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))));
        match created {
            Ok(_) => Ok(true),
            Err(Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// CreateEndpointConfig; one that exists already is a retry of this very request.
    async fn create_endpoint_config(&self, config: &NewConfig<'_>) -> Result<()> {
        let tags = config_tags(config)?;
        let mut call = self
            .sm
            .create_endpoint_config()
            .endpoint_config_name(&config.name)
            .set_data_capture_config(config.capture.map(data_capture));
        for (i, v) in config.variants.iter().enumerate() {
            call = call.production_variants(production_variant(&config.name, i, v));
        }
        // Per-instance metrics exist only with enhanced metrics, and configs are immutable:
        // turn them on at creation (not available for serverless-only configs).
        let provisioned = config.variants.iter().any(|v| v.serverless.is_none());
        if self.settings.enhanced_metrics && provisioned {
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
            .map_err(|e| from_sdk(e, Some(&endpoint_target(&config.name))))
        {
            Ok(_) | Err(Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use mlm_core::{
        AutoscalingPolicy, ModelName, ScalingMetric, ServerlessConfig, VariantName, VersionRef,
    };

    use super::*;

    fn version() -> VersionRef {
        VersionRef::new(ModelName::new("m").unwrap(), 1)
    }

    fn spec(instance_type: &str) -> VariantSpec {
        VariantSpec::new(
            VariantName::new("primary").unwrap(),
            version(),
            instance_type,
            2,
        )
    }

    #[test]
    fn instance_types_must_look_like_sagemaker_ones() {
        assert!(check_instance_type(&spec("ml.m5.large")).is_ok());
        for bad in [
            "m5.large",
            "ml.m5",
            "ml..large",
            "ml.m5.large.x",
            "ml.m5.lar-ge",
        ] {
            assert!(
                matches!(
                    check_instance_type(&spec(bad)),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn serverless_variants_cannot_autoscale() {
        let policy = AutoscalingPolicy::new(1, 3, ScalingMetric::CpuUtilization, 70.0);
        let mut v = spec("ml.m5.large");
        v.autoscaling = Some(policy.clone());
        assert!(check_autoscaling("e", &v).is_ok());
        let name = VariantName::new("primary").unwrap();
        let mut v = VariantSpec::serverless(name, version(), ServerlessConfig::new(2048, 5));
        v.autoscaling = Some(policy);
        assert!(matches!(
            check_autoscaling("e", &v),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn variants_and_capture_in_sagemaker_terms() {
        let pv = production_variant("cfg", 1, &spec("ml.m5.large").with_weight(0.5));
        assert_eq!(pv.model_name(), Some("cfg-1"));
        assert_eq!(pv.initial_instance_count(), Some(2));
        assert_eq!(pv.initial_variant_weight(), Some(0.5));
        assert!(pv.serverless_config().is_none());
        let name = VariantName::new("sls").unwrap();
        let config = ServerlessConfig::new(2048, 5).with_provisioned_concurrency(2);
        let pv = production_variant("cfg", 0, &VariantSpec::serverless(name, version(), config));
        let sls = pv.serverless_config().unwrap();
        assert_eq!(
            (sls.memory_size_in_mb(), sls.max_concurrency()),
            (Some(2048), Some(5))
        );
        assert_eq!(sls.provisioned_concurrency(), Some(2));
        let mut c = DataCaptureConfig::new("s3://bucket/capture", 20);
        c.capture_output = false;
        let dc = data_capture(&c);
        assert_eq!(dc.initial_sampling_percentage(), Some(20));
        assert_eq!(dc.destination_s3_uri(), Some("s3://bucket/capture"));
        let modes: Vec<_> = dc
            .capture_options()
            .iter()
            .filter_map(|o| o.capture_mode())
            .collect();
        assert_eq!(modes, [&CaptureMode::Input]);
    }
}
