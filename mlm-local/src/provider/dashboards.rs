//! Dashboards: none on the local backend (`Dashboards` answers `Unsupported`).

use async_trait::async_trait;
use mlm_core::{Dashboard, Dashboards, EndpointName, Error, Result};

use super::LocalProvider;

#[async_trait]
impl Dashboards for LocalProvider {
    async fn put_dashboard(&self, _endpoint: &EndpointName) -> Result<Dashboard> {
        Err(no_dashboards())
    }

    async fn get_dashboard(&self, _endpoint: &EndpointName) -> Result<Dashboard> {
        Err(no_dashboards())
    }
}

fn no_dashboards() -> Error {
    Error::unsupported(
        "the local backend has no dashboards (CloudWatch dashboards are AWS only): watch the \
         endpoint with `mlm top` or its metrics; a local view will come with the web console",
    )
}
