//! The narrow [`Drift`] trait a backend implements: it keeps baselines; the statistics and the
//! reading of captured traffic are the core's ([`Baseline::from_source`],
//! [`DriftReport::from_source`]).

use async_trait::async_trait;

use super::profile::Baseline;
use super::report::DriftReport;
use super::source::{CreateBaselineRequest, DriftReportRequest};
use crate::error::Result;
use crate::names::{BaselineName, EndpointName};
use crate::page::{Page, PageRequest};

/// Drift: an endpoint's baselines, and reports comparing a window of its traffic with one.
/// Backends without a place for baselines answer `Unsupported`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Drift: Send + Sync {
    /// Builds and stores a baseline from samples or a window of captured traffic.
    /// `NotFound` if the endpoint is missing, `AlreadyExists` if it has a baseline of that
    /// name, `InvalidArgument` when there is nothing to profile.
    async fn create_baseline(&self, request: CreateBaselineRequest) -> Result<Baseline>;
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
    /// Compares a window with a baseline, and records the report's `drift_score` as the
    /// endpoint's [`MetricKind::DriftScore`](crate::MetricKind::DriftScore) at the report's
    /// time, so alarms can fire on it. Reports are not stored. `NotFound` if the endpoint or
    /// the baseline is missing.
    async fn drift_report(&self, request: DriftReportRequest) -> Result<DriftReport>;
}
