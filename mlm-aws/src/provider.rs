//! [`AwsProvider`] and what its trait implementations share: clients, caches, tags,
//! times and page tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::backend::{decode_cursor, encode_cursor};
use mlm_core::{
    Capabilities, EndpointEvent, EndpointName, Error, EventQuery, Events, NewEvent, Page,
    PageRequest, Provider, Result,
};

use crate::error::{Target, from_sdk};

/// Tunables set through the builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub execution_role_arn: Option<String>,
    /// `s3://bucket/prefix` where pipelines keep their state.
    pub pipelines_uri: Option<String>,
    /// How often `spawn_pipeline_poller` ticks by default.
    pub pipeline_poll: Duration,
    /// `s3://bucket/prefix` where pushed archives go unless a push names a destination.
    pub artifacts_uri: Option<String>,
    /// Archive uploads larger than this go in parts of this size.
    pub upload_part_bytes: u64,
    pub enhanced_metrics: bool,
    pub metrics_ttl: Duration,
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            execution_role_arn: None,
            pipelines_uri: None,
            pipeline_poll: Duration::from_secs(30),
            artifacts_uri: None,
            upload_part_bytes: 8 * 1024 * 1024,
            enhanced_metrics: true,
            metrics_ttl: Duration::from_secs(10),
            concurrency: 8,
        }
    }
}

/// The AWS backend: SageMaker model registry and endpoints, CloudWatch figures, invocation
/// through the SageMaker runtime.
///
/// Cheap to clone (one `Arc`); build it with [`AwsProviderBuilder`](crate::AwsProviderBuilder).
#[derive(Clone)]
pub struct AwsProvider {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub sm: aws_sdk_sagemaker::Client,
    pub rt: aws_sdk_sagemakerruntime::Client,
    pub cw: aws_sdk_cloudwatch::Client,
    pub aas: aws_sdk_applicationautoscaling::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    pub settings: Settings,
    /// `arn:<partition>:sagemaker:<region>:<account>`, learned from the first ARN seen.
    pub arn_prefix: Mutex<Option<String>>,
    pub caches: crate::cache::Caches,
    /// Where pipelines keep their state, when configured.
    pub pipelines: Option<crate::pipelines::S3PipelineStore>,
}

impl Inner {
    pub(crate) fn new(
        sm: aws_sdk_sagemaker::Client,
        rt: aws_sdk_sagemakerruntime::Client,
        cw: aws_sdk_cloudwatch::Client,
        aas: aws_sdk_applicationautoscaling::Client,
        s3: aws_sdk_s3::Client,
        region: String,
        settings: Settings,
    ) -> Result<Self> {
        let pipelines = settings
            .pipelines_uri
            .as_deref()
            .map(|uri| crate::pipelines::S3PipelineStore::new(s3.clone(), uri))
            .transpose()?;
        Ok(Self {
            sm,
            rt,
            cw,
            aas,
            s3,
            region,
            settings,
            arn_prefix: Mutex::new(None),
            caches: crate::cache::Caches::default(),
            pipelines,
        })
    }

    /// Remembers the account's ARN prefix from any SageMaker ARN.
    pub(crate) fn learn_arn(&self, arn: &str) {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() == 6 && parts[2] == "sagemaker" {
            let prefix = parts[..5].join(":");
            *self.arn_prefix.lock().expect("arn lock") = Some(prefix);
        }
    }

    pub(crate) fn known_arn_prefix(&self) -> Option<String> {
        self.arn_prefix.lock().expect("arn lock").clone()
    }

    /// Tags of a SageMaker resource, as a map (later duplicates win).
    pub(crate) async fn tags(
        &self,
        arn: &str,
        target: &Target,
    ) -> Result<BTreeMap<String, String>> {
        let tags = every_item!(self.sm.list_tags().resource_arn(arn), Some(target))?;
        Ok(tags
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    /// Replaces tags: removes `remove` (and every key in `add`, so stores that append
    /// duplicates stay clean), then adds `add`.
    pub(crate) async fn set_tags(
        &self,
        arn: &str,
        remove: Vec<String>,
        add: Vec<(String, String)>,
        target: &Target,
    ) -> Result<()> {
        let mut keys: Vec<String> = remove;
        keys.extend(add.iter().map(|(k, _)| k.clone()));
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            for chunk in keys.chunks(50) {
                self.sm
                    .delete_tags()
                    .resource_arn(arn)
                    .set_tag_keys(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, Some(target)))?;
            }
        }
        if !add.is_empty() {
            for chunk in add.chunks(50) {
                self.sm
                    .add_tags()
                    .resource_arn(arn)
                    .set_tags(Some(sm_tags(chunk.iter().cloned())))
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, Some(target)))?;
            }
        }
        Ok(())
    }
}

/// Every item of a SageMaker list call (`$call`: the fluent builder), read 100 a page through
/// the SDK's paginator, which stops at an empty or repeated token. Errors map as for single
/// calls, about `$target`. A macro, because each operation has its own paginator type.
macro_rules! every_item {
    ($call:expr, $target:expr) => {
        $call
            .into_paginator()
            .page_size(100)
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| $crate::error::from_sdk(e, $target))
    };
}
pub(crate) use every_item;

/// Builds SageMaker tags.
pub(crate) fn sm_tags(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Vec<aws_sdk_sagemaker::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_sagemaker::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// The user-visible tags (without `mlm:`/`aws:` keys).
pub(crate) fn user_tags(all: &BTreeMap<String, String>) -> mlm_core::Tags {
    all.iter()
        .filter(|(k, _)| !crate::naming::is_reserved_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// SDK time → chrono.
pub(crate) fn to_utc(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// chrono → SDK time.
pub(crate) fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

const TOKEN_TAG: &str = "sm1:";

/// Our page token → SageMaker's `NextToken` (or `InvalidArgument`).
pub(crate) fn page_token(page: &PageRequest) -> Result<Option<String>> {
    match page.page_token.as_deref() {
        None => Ok(None),
        Some(t) => {
            let raw = decode_cursor(t)?;
            raw.strip_prefix(TOKEN_TAG)
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| {
                    Error::invalid(format!("page_token '{t}' is not a token this API issued"))
                })
        }
    }
}

/// SageMaker's `NextToken` → our opaque page token.
pub(crate) fn next_page_token(next: Option<&str>) -> Option<String> {
    next.filter(|s| !s.is_empty())
        .map(|s| encode_cursor(&format!("{TOKEN_TAG}{s}")))
}

/// Runs `f` over `items` with at most `n` at once, keeping the order.
pub(crate) async fn ordered<T, U, F, Fut>(items: Vec<T>, n: usize, f: F) -> Result<Vec<U>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<U>>,
{
    use futures::StreamExt;
    futures::stream::iter(items.into_iter().map(f))
        .buffered(n.max(1))
        .collect::<Vec<Result<U>>>()
        .await
        .into_iter()
        .collect()
}

/// A map that remembers immutable things (configs, models) by name.
pub(crate) type Memo<T> = Mutex<HashMap<String, Arc<T>>>;

impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::ALL;
        // Nowhere in SageMaker or CloudWatch keeps an endpoint timeline mlm could write to.
        capabilities.events = false;
        capabilities.pipelines = self.inner.pipelines.is_some();
        capabilities
    }
}

/// No event store on AWS (see [`Capabilities::events`]): both calls say so.
#[async_trait::async_trait]
impl Events for AwsProvider {
    async fn list_events(
        &self,
        _query: EventQuery,
        _page: PageRequest,
    ) -> Result<Page<EndpointEvent>> {
        Err(no_events())
    }

    async fn record_event(
        &self,
        _endpoint: &EndpointName,
        _event: NewEvent,
    ) -> Result<EndpointEvent> {
        Err(no_events())
    }
}

fn no_events() -> Error {
    Error::unsupported(
        "the aws backend keeps no endpoint events: use the deployments, alarms and CloudWatch \
         metrics of the endpoint instead",
    )
}

impl AwsProvider {
    /// The region this provider talks to.
    pub fn region(&self) -> &str {
        &self.inner.region
    }
}
