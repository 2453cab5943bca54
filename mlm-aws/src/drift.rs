//! Drift on AWS. Baselines are JSON objects beside the endpoint's captured data, at
//! `s3://bucket/prefix/mlm-baselines/{endpoint}/{baseline}.json` (the capture destination's
//! bucket and prefix; outside the `{endpoint}/{variant}/yyyy/...` folders SageMaker writes).
//! Drift needs captured traffic on AWS, so an endpoint without data capture has nowhere to
//! keep baselines: `FailedPrecondition`. Like captured data, baselines outlive their endpoint.
//!
//! Reports publish `drift_score` to CloudWatch as `mlm/DriftScore` with the dimensions
//! `EndpointName` and `VariantName` (each variant the window covered), which is where
//! metric queries and alarms read it.

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use mlm_core::backend::paginate_sorted;
use mlm_core::drift::{
    Baseline, CreateBaselineRequest, Drift, DriftReport, DriftReportRequest, SampleSource,
};
use mlm_core::{
    BaselineName, EndpointName, Error, ErrorKind, MetricKind, Page, PageRequest, ResourceKind,
    Result,
};

use crate::captures::split_s3_uri;
use crate::error::{Target, from_sdk};
use crate::metrics::metric_of;
use crate::provider::{AwsProvider, Inner, to_smithy};

/// The folder under the capture destination that holds baselines.
const BASELINES_FOLDER: &str = "mlm-baselines";

/// Where an endpoint's baselines are kept.
struct BaselineFolder {
    endpoint: EndpointName,
    bucket: String,
    /// `prefix/mlm-baselines/{endpoint}/`.
    folder: String,
}

impl BaselineFolder {
    fn key(&self, name: &BaselineName) -> String {
        format!("{}{name}.json", self.folder)
    }

    fn target(&self, name: &BaselineName) -> Target {
        Target::new(ResourceKind::Baseline, format!("{}/{name}", self.endpoint))
    }
}

#[async_trait]
impl Drift for AwsProvider {
    async fn create_baseline(&self, request: CreateBaselineRequest) -> Result<Baseline> {
        let folder = self.inner.baseline_folder(&request.endpoint).await?;
        match self.inner.read_baseline(&folder, &request.name).await {
            Ok(_) => {
                let target = folder.target(&request.name);
                return Err(Error::already_exists(target.kind, target.name));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let baseline = Baseline::from_source(self, request, Utc::now()).await?;
        self.inner.write_baseline(&folder, &baseline).await?;
        Ok(baseline)
    }

    async fn get_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<Baseline> {
        let folder = self.inner.baseline_folder(endpoint).await?;
        self.inner.read_baseline(&folder, name).await
    }

    async fn list_baselines(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Baseline>> {
        page.size()?;
        let folder = self.inner.baseline_folder(endpoint).await?;
        let names = self.inner.baseline_names(&folder).await?;
        let names = paginate_sorted(names, &page, |n| n.to_string())?;
        let mut items = Vec::with_capacity(names.items.len());
        for name in &names.items {
            items.push(self.inner.read_baseline(&folder, name).await?);
        }
        Ok(Page {
            items,
            next_page_token: names.next_page_token,
        })
    }

    async fn delete_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<()> {
        let folder = self.inner.baseline_folder(endpoint).await?;
        // S3 deletes are silent about missing keys: look first, so a typo is a 404.
        self.inner.read_baseline(&folder, name).await?;
        self.inner
            .s3
            .delete_object()
            .bucket(&folder.bucket)
            .key(folder.key(name))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&folder.target(name))))?;
        Ok(())
    }

    async fn drift_report(&self, request: DriftReportRequest) -> Result<DriftReport> {
        let baseline = self
            .get_baseline(&request.endpoint, &request.baseline)
            .await?;
        let variant = match &request.source {
            SampleSource::Window(window) => window.variant.clone(),
            _ => None,
        };
        let report = DriftReport::from_source(self, &baseline, request, Utc::now()).await?;
        self.inner
            .publish_drift_score(&report, variant.as_ref().map(|v| v.as_str()))
            .await?;
        Ok(report)
    }
}

impl Inner {
    /// The folder of `endpoint`'s baselines; `FailedPrecondition` without data capture.
    async fn baseline_folder(&self, endpoint: &EndpointName) -> Result<BaselineFolder> {
        let described = self.describe(endpoint.as_str()).await?;
        let config = self.config(&described.config_name).await?;
        let destination = config
            .data_capture
            .as_ref()
            .map(|c| c.destination_uri.as_str())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                Error::failed_precondition(format!(
                    "endpoint '{endpoint}' has no data capture: on the aws backend drift \
                     baselines are kept beside the captured data, so turn data capture on first"
                ))
            })?;
        let (bucket, prefix) = split_s3_uri(destination)?;
        let folder = match prefix {
            "" => format!("{BASELINES_FOLDER}/{endpoint}/"),
            p => format!("{p}/{BASELINES_FOLDER}/{endpoint}/"),
        };
        Ok(BaselineFolder {
            endpoint: endpoint.clone(),
            bucket: bucket.to_string(),
            folder,
        })
    }

    async fn read_baseline(
        &self,
        folder: &BaselineFolder,
        name: &BaselineName,
    ) -> Result<Baseline> {
        let target = folder.target(name);
        let key = folder.key(name);
        let bytes = self
            .read_object(&folder.bucket, &key, &target)
            .await?
            .into_bytes();
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::provider_msg(
                format!("s3://{}/{key} is not a baseline: {e}", folder.bucket),
                false,
            )
        })
    }

    async fn write_baseline(&self, folder: &BaselineFolder, baseline: &Baseline) -> Result<()> {
        let body = serde_json::to_vec(baseline)
            .map_err(|e| Error::provider("cannot serialise a baseline", e))?;
        self.s3
            .put_object()
            .bucket(&folder.bucket)
            .key(folder.key(&baseline.name))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&folder.target(&baseline.name))))?;
        Ok(())
    }

    /// The names of the baselines in `folder`, sorted.
    async fn baseline_names(&self, folder: &BaselineFolder) -> Result<Vec<BaselineName>> {
        let mut names = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&folder.bucket)
            .prefix(&folder.folder)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(e, None))?;
            names.extend(page.contents().iter().filter_map(|o| {
                let file = o.key()?.strip_prefix(&folder.folder)?;
                BaselineName::new(file.strip_suffix(".json")?).ok()
            }));
        }
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }

    /// Publishes the report's score for `variant`, or for every variant of the endpoint.
    async fn publish_drift_score(&self, report: &DriftReport, variant: Option<&str>) -> Result<()> {
        let (namespace, metric) = metric_of(MetricKind::DriftScore).expect("mapped");
        let variants: Vec<String> = match variant {
            Some(v) => vec![v.to_string()],
            None => {
                let described = self.describe(report.endpoint.as_str()).await?;
                let config = self.config(&described.config_name).await?;
                config.variants.iter().map(|v| v.name.clone()).collect()
            }
        };
        let dimension =
            |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
        let data = variants
            .iter()
            .map(|v| {
                MetricDatum::builder()
                    .metric_name(metric)
                    .dimensions(dimension("EndpointName", report.endpoint.as_str()))
                    .dimensions(dimension("VariantName", v))
                    .timestamp(to_smithy(report.created_at))
                    .value(report.drift_score)
                    .unit(StandardUnit::None)
                    .build()
            })
            .collect();
        self.cw
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        Ok(())
    }
}
