//! Where baselines are kept: the narrow [`DriftBaselines`] trait a backend implements.

use async_trait::async_trait;

use super::profile::Baseline;
use super::report::DriftReport;
use crate::error::Result;
use crate::names::{BaselineName, EndpointName};
use crate::page::{Page, PageRequest};

/// An endpoint's drift baselines. Reports are computed from them by
/// [`DriftReport::compare`](super::DriftReport::compare), the same on every backend; a backend
/// only keeps the baselines (the local one in its SQLite store).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DriftBaselines: Send + Sync {
    /// Stores a new baseline. `NotFound` if its endpoint is missing, `AlreadyExists` if the
    /// endpoint has a baseline of that name.
    async fn create_baseline(&self, baseline: Baseline) -> Result<Baseline>;
    /// One baseline. `NotFound` if the endpoint or the baseline is missing.
    async fn get_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<Baseline>;
    /// An endpoint's baselines by name.
    async fn list_baselines(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Baseline>>;
    /// Deletes a baseline. `NotFound` if the endpoint or the baseline is missing.
    async fn delete_baseline(&self, endpoint: &EndpointName, name: &BaselineName) -> Result<()>;
    /// Records a report's `drift_score` as the endpoint's
    /// [`MetricKind::DriftScore`](crate::MetricKind::DriftScore) at the report's time, so
    /// alarms can fire on it. `NotFound` if the endpoint is missing.
    async fn record_drift_score(&self, report: &DriftReport) -> Result<()>;
}
