//! Reading endpoints: DescribeEndpoint and DescribeEndpointConfig (cached as `crate::cache`
//! explains), assembled into the core view; a describe also applies autoscaling a create or
//! update left pending and finishes pending clean-up.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::types::{CaptureMode, ProductionVariant};
use chrono::Utc;
use mlm_core::{
    CreateEndpointRequest, DataCaptureConfig, DeploymentPolicy, Endpoint, EndpointName,
    EndpointStatus, Error, ModelName, Page, PageRequest, ResourceKind, Result, ServerlessConfig,
    Variant, VersionRef,
};

use super::{TAG_VARIANT_VERSION, endpoint_target};
use crate::autoscaling::TAG_AUTOSCALING;
use crate::cache::{ConfigInfo, ConfigVariant, Described, RuntimeVariant};
use crate::error::{Target, from_sdk};
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_DEPLOYMENT, TAG_MANAGED, TAG_RECORD, TAG_TARGET_CONFIG,
    decode_json,
};
use crate::provider::{Inner, every_item, next_page_token, ordered, page_token, to_utc, user_tags};

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

/// A config's data capture in mlm's terms (`None` when capture is off). A sampling percentage
/// that does not fit is an error, not a silently missing setting.
fn data_capture_of(
    config: &str,
    c: &aws_sdk_sagemaker::types::DataCaptureConfig,
) -> Result<Option<DataCaptureConfig>> {
    if !c.enable_capture().unwrap_or(true) {
        return Ok(None);
    }
    let percent = c.initial_sampling_percentage().unwrap_or(0);
    let sampling = u8::try_from(percent).map_err(|_| {
        Error::provider_msg(
            format!(
                "endpoint configuration '{config}' has a data capture sampling percentage of \
                 {percent}"
            ),
            false,
        )
    })?;
    let mut capture = DataCaptureConfig::new(c.destination_s3_uri().unwrap_or_default(), sampling);
    let has =
        |mode: CaptureMode| (c.capture_options().iter()).any(|o| o.capture_mode() == Some(&mode));
    capture.capture_input = has(CaptureMode::Input);
    capture.capture_output = has(CaptureMode::Output);
    Ok(Some(capture))
}

/// `VariantStatus[].Status` of the pending deployment's variants, else of the live variants.
fn variant_stages(out: &DescribeEndpointOutput) -> Vec<String> {
    let status = |s: &aws_sdk_sagemaker::types::ProductionVariantStatus| {
        s.status().map(|s| s.as_str().to_string())
    };
    let pending: Vec<String> = (out.pending_deployment_summary().into_iter())
        .flat_map(|p| p.production_variants())
        .flat_map(|v| v.variant_status())
        .filter_map(status)
        .collect();
    if !pending.is_empty() {
        return pending;
    }
    (out.production_variants().iter())
        .flat_map(|v| v.variant_status())
        .filter_map(status)
        .collect()
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
            variant_stages: variant_stages(&out),
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

    /// Runs `f` on the description of each listed endpoint (a few at once, keeping the
    /// order), leaving out endpoints deleted since the list and those `f` leaves out.
    pub(crate) async fn each_listed<U, F, Fut>(
        &self,
        listed: Vec<(String, chrono::DateTime<Utc>)>,
        f: F,
    ) -> Result<Vec<U>>
    where
        F: Fn(Arc<Described>) -> Fut,
        Fut: Future<Output = Result<Option<U>>>,
    {
        let f = &f;
        let found = ordered(listed, self.settings.concurrency, |(name, lm)| async move {
            match self.describe_cached(&name, lm).await {
                Ok(d) => f(d).await,
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        Ok(found.into_iter().flatten().collect())
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
            variants.push(self.config_variant(v, &tags).await?);
        }
        let data_capture = match out.data_capture_config() {
            Some(c) => data_capture_of(name, c)?,
            None => None,
        };
        let info = Arc::new(ConfigInfo {
            arn,
            created: to_utc(out.creation_time()),
            variants,
            data_capture,
            record: decode_json(&tags, TAG_RECORD),
        });
        self.caches
            .configs
            .lock()
            .expect("cache lock")
            .insert(name.to_string(), info.clone());
        Ok(info)
    }

    /// A variant of a config: its version from the config's tags, or, for configs made outside
    /// mlm, from its SageMaker model (none when that model is not from the registry).
    async fn config_variant(
        &self,
        v: &ProductionVariant,
        tags: &BTreeMap<String, String>,
    ) -> Result<ConfigVariant> {
        let variant = v.variant_name().unwrap_or_default().to_string();
        let model = v.model_name().unwrap_or_default().to_string();
        let version = match tags
            .get(&format!("{TAG_VARIANT_VERSION}{variant}"))
            .and_then(|s| parse_version_ref(s))
        {
            Some(r) => Some(r),
            None => self.version_of_model(&model).await,
        };
        Ok(ConfigVariant {
            instance_type: v.instance_type().map(|t| t.as_str().to_string()),
            initial_count: count(v.initial_instance_count()).unwrap_or(0),
            weight: v.initial_variant_weight().unwrap_or(1.0),
            serverless: v.serverless_config().map(|s| {
                let mut config = ServerlessConfig::new(
                    count(s.memory_size_in_mb()).unwrap_or(0),
                    count(s.max_concurrency()).unwrap_or(0),
                );
                config.provisioned_concurrency = count(s.provisioned_concurrency());
                config
            }),
            autoscaling: decode_json(tags, &format!("{TAG_AUTOSCALING}{variant}")),
            name: variant,
            version,
        })
    }

    /// The version a SageMaker model was built from (models made outside mlm): the model
    /// package it deploys, if any; `None` when it was not built from the model registry.
    async fn version_of_model(&self, model: &str) -> Option<VersionRef> {
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
                return Some(VersionRef::new(g, v));
            }
        }
        None
    }

    /// The endpoint's tags, remembered per LastModifiedTime for listings.
    pub(crate) async fn endpoint_tags(&self, d: &Described) -> Result<BTreeMap<String, String>> {
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
                let mut v = cv.to_variant()?;
                if let Some(r) = d.variants.iter().find(|r| r.name == cv.name) {
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
        template.deployment = decode_json::<DeploymentPolicy>(tags, TAG_DEPLOYMENT);
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
        let mut e = self.assemble(&d, &tags).await?;
        e.last_deployment = self.last_deployment(&d, &tags).await?;
        // After the deployment's outcome is recorded: clean-up deletes the models it ran.
        self.finish_cleanup(&d, &mut tags).await;
        with_scaling_error(&mut e, scaling_error);
        Ok(e)
    }

    /// One page of endpoints, each described (from the cache when unchanged).
    pub(super) async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        let (summaries, next) = self.endpoint_summaries(&page).await?;
        let items = self
            .each_listed(summaries, |d| async move {
                let mut tags = match self.endpoint_tags(&d).await {
                    Ok(t) => t,
                    Err(Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let scaling_error = self.settle_autoscaling(&d, &mut tags).await;
                let mut e = self.assemble(&d, &tags).await?;
                e.last_deployment = self.last_deployment(&d, &tags).await?;
                with_scaling_error(&mut e, scaling_error);
                Ok(Some(e))
            })
            .await?;
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    /// Every endpoint (managed or not) whose current or pending config serves `version`.
    pub(crate) async fn endpoints_serving(&self, version: &VersionRef) -> Result<Vec<String>> {
        let summaries: Vec<_> = every_item!(self.sm.list_endpoints(), None)?
            .iter()
            .map(|s| {
                (
                    s.endpoint_name().unwrap_or_default().to_string(),
                    to_utc(s.last_modified_time()),
                )
            })
            .collect();
        self.each_listed(summaries, |d| async move {
            let mut configs = vec![d.config_name.clone()];
            configs.extend(d.pending_config.clone());
            for c in configs {
                if c.is_empty() {
                    continue;
                }
                match self.config(&c).await {
                    Ok(info)
                        if info
                            .variants
                            .iter()
                            .any(|v| v.version.as_ref() == Some(version)) =>
                    {
                        return Ok(Some(d.name.clone()));
                    }
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        })
        .await
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

    #[test]
    fn data_capture_is_read_in_mlm_terms() {
        use aws_sdk_sagemaker::types::{CaptureOption, DataCaptureConfig as Sm};
        let input = CaptureOption::builder()
            .capture_mode(CaptureMode::Input)
            .build();
        let sm = |enabled, percent| {
            Sm::builder()
                .enable_capture(enabled)
                .initial_sampling_percentage(percent)
                .destination_s3_uri("s3://bucket/capture")
                .capture_options(input.clone())
                .build()
        };
        let mut expected = DataCaptureConfig::new("s3://bucket/capture", 20);
        expected.capture_output = false;
        assert_eq!(data_capture_of("c", &sm(true, 20)).unwrap(), Some(expected));
        assert_eq!(data_capture_of("c", &sm(false, 20)).unwrap(), None);
        assert!(matches!(
            data_capture_of("c", &sm(true, -1)),
            Err(Error::Provider { .. })
        ));
    }
}
