//! Drift baselines: the `DriftBaselines` half of the local backend, kept in SQLite with the
//! endpoint they belong to (deleting the endpoint deletes them), and drift scores recorded in
//! the endpoint's metric history, where alarms read them.

use async_trait::async_trait;
use mlm_core::drift::{Baseline, DriftBaselines, DriftReport};
use mlm_core::{
    BaselineName, EndpointName, EndpointStatus, Error, MetricKind, Page, PageRequest, Result,
};

use super::LocalProvider;
use crate::metrics::Sample;

#[async_trait]
impl DriftBaselines for LocalProvider {
    async fn create_baseline(&self, baseline: Baseline) -> Result<Baseline> {
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

    async fn record_drift_score(&self, report: &DriftReport) -> Result<()> {
        self.inner.store.get_endpoint(&report.endpoint)?;
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
        Ok(())
    }
}
