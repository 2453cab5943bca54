//! Creating endpoints: one SageMaker Model per variant, one EndpointConfig, one Endpoint, with
//! deterministic names so a retry reuses them, and nothing left behind by a failure.

use std::collections::BTreeSet;

use aws_sdk_sagemaker::types::{
    CaptureMode, CaptureOption, ContainerDefinition, MetricsConfig, ProductionVariant,
    ProductionVariantInstanceType, ProductionVariantServerlessConfig,
};
use mlm_core::{
    CreateEndpointRequest, DataCaptureConfig, Endpoint, EndpointName, Error, ResourceKind, Result,
    VariantSpec,
};

use super::{TAG_VARIANT_VERSION, endpoint_target};
use crate::autoscaling::{NO_CONFIG, TAG_AUTOSCALING, tracking_config};
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_DEPLOYMENT, TAG_ENDPOINT, TAG_MANAGED, TAG_TARGET_CONFIG,
    config_name, encode_text, model_name,
};
use crate::provider::{Inner, sm_tags};

pub(super) fn is_valid_instance_type(t: &str) -> bool {
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
pub(super) fn config_content(
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

impl Inner {
    /// Validates the request, makes the config and models, then the endpoint.
    pub(super) async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        request.validate()?;
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
        self.role()?;
        let name = request.name.as_str();
        // SageMaker rejects a duplicate name, but only after we made models and a config, and
        // emulators overwrite silently: check first.
        match self.describe(name).await {
            Ok(_) => return Err(Error::already_exists(ResourceKind::Endpoint, name)),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let enhanced = self.settings.enhanced_metrics;
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
        self.create_config(
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
        let created = self
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
                && let Err(c) = self.cleanup(name, &BTreeSet::new(), None).await
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
            Error::FailedPrecondition(format!(
                "no SageMaker execution role is configured: set {} or call \
                 AwsProviderBuilder::with_execution_role_arn",
                crate::builder::EXECUTION_ROLE_ENV
            ))
        })
    }

    /// Creates the models and the config for `variants`; on failure deletes what it made.
    pub(super) async fn create_config(
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
}
