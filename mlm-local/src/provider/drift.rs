//! Drift: the `Drift` half of the local backend. Baselines are kept in SQLite with the
//! endpoint they belong to (deleting the endpoint deletes them); reports read captured traffic
//! through the backend's own `Captures`, and their scores go into the endpoint's metric
//! history, where alarms read them.

use async_trait::async_trait;
use chrono::Utc;
use mlm_core::drift::{Baseline, CreateBaselineRequest, Drift, DriftReport, DriftReportRequest};
use mlm_core::{
    BaselineName, EndpointName, EndpointStatus, Error, MetricKind, Page, PageRequest, Result,
};

use super::LocalProvider;
use crate::metrics::Sample;

#[async_trait]
impl Drift for LocalProvider {
    async fn create_baseline(&self, request: CreateBaselineRequest) -> Result<Baseline> {
        self.inner.store.get_endpoint(&request.endpoint)?;
        let baseline = Baseline::from_source(self, request, Utc::now()).await?;
        // Under `control`, so a baseline is never added to an endpoint whose delete was accepted.
        let _control = self.inner.control.lock().await;
        let stored = self.inner.store.get_endpoint(&baseline.endpoint)?;
        if stored.endpoint.status == EndpointStatus::Deleting {
            return Err(Error::failed_precondition(format!(
                "endpoint '{}' is being deleted",
                baseline.endpoint
            )));
        }
        self.inner.store.insert_baseline(&baseline)?;
        self.inner.log(
            &baseline.endpoint,
            "baseline_created",
            Some(baseline.name.as_str()),
        );
        Ok(baseline)
    }

    async fn get_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<Baseline> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.get_baseline(endpoint, name)
    }

    async fn list_baselines(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Baseline>> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.list_baselines(endpoint, &page)
    }

    async fn delete_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<()> {
        let _control = self.inner.control.lock().await;
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.delete_baseline(endpoint, name)?;
        self.inner
            .log(endpoint, "baseline_deleted", Some(name.as_str()));
        Ok(())
    }

    async fn drift_report(&self, request: DriftReportRequest) -> Result<DriftReport> {
        let baseline = self
            .get_baseline(&request.endpoint, &request.baseline)
            .await?;
        let report = DriftReport::from_source(self, &baseline, request, Utc::now()).await?;
        self.record_drift_score(&report);
        Ok(report)
    }
}

impl LocalProvider {
    fn record_drift_score(&self, report: &DriftReport) {
        // An endpoint with no runtime (being created or deleted) has no metric history yet.
        if let Some(rt) = self.inner.runtime(&report.endpoint) {
            let mut ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
            ring.push(Sample {
                at: report.created_at,
                variant: "".into(),
                instance: "".into(),
                kind: MetricKind::DriftScore,
                value: report.drift_score,
            });
        }
    }
}
