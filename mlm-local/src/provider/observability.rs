//! Overviews, instance rows and metrics: the `Observability` half of the local backend.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chrono::Utc;
use mlm_core::{
    EndpointName, EndpointOverview, Error, Instance, InstanceMetrics, Measurement, MetricKind,
    MetricQuery, MetricSeries, Observability, Page, PageRequest, ResourceKind, Result,
};

use super::{Inner, LocalProvider};
use crate::router::EndpointRuntime;
use crate::store::StoredEndpoint;

#[async_trait]
impl Observability for LocalProvider {
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
        let stored = self.inner.store.get_endpoint(name)?;
        Ok(self.inner.overview(stored))
    }

    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
        let page = self.inner.store.list_endpoints(&page)?;
        Ok(page.map(|s| self.inner.overview(s)))
    }

    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
        query.validate()?;
        let rt = self
            .inner
            .runtime(&query.endpoint)
            .ok_or_else(|| Error::not_found(ResourceKind::Endpoint, &query.endpoint))?;
        let ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ring.query(&query))
    }
}

impl Inner {
    fn overview(&self, stored: StoredEndpoint) -> EndpointOverview {
        let endpoint = self.describe(stored);
        let instances = self
            .runtime(&endpoint.name)
            .map(|rt| self.instance_rows(&rt))
            .unwrap_or_default();
        EndpointOverview::new(&endpoint, instances, Utc::now())
    }

    fn instance_rows(&self, rt: &EndpointRuntime) -> Vec<Instance> {
        let ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
        rt.table()
            .iter()
            .flat_map(|route| route.instances.iter())
            .map(|i| {
                let figure = |kind| ring.latest(&i.id, kind).map(Measurement::instance);
                let mut metrics = InstanceMetrics::default();
                metrics.gpu_utilization = figure(MetricKind::GpuUtilization);
                metrics.gpu_memory_utilization = figure(MetricKind::GpuMemoryUtilization);
                metrics.cpu_utilization = figure(MetricKind::CpuUtilization);
                metrics.memory_utilization = figure(MetricKind::MemoryUtilization);
                // In-flight is exact and live, straight from the router.
                metrics.in_flight_requests = Some(Measurement::instance(f64::from(
                    i.in_flight.load(Ordering::SeqCst),
                )));
                let mut row = Instance::new(i.id.clone(), i.variant.clone(), i.status());
                row.metrics = metrics;
                row.started_at = Some(i.started_at);
                row
            })
            .collect()
    }
}
