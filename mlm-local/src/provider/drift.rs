//! Drift baselines: the `DriftBaselines` half of the local backend, kept in SQLite with the
//! endpoint they belong to (deleting the endpoint deletes them).

use async_trait::async_trait;
use mlm_core::drift::{Baseline, DriftBaselines};
use mlm_core::{BaselineName, EndpointName, EndpointStatus, Error, Page, PageRequest, Result};

use super::LocalProvider;

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
}
