//! Alarms and deployments (issue 11): scaffolding until the backend implements them.

use async_trait::async_trait;
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, Alarms, Deployment, Deployments, EndpointName, Error, Page,
    PageRequest, Result,
};

use super::LocalProvider;

fn not_yet() -> Error {
    Error::unsupported("alarms and deployments are not implemented on this backend yet")
}

#[async_trait]
impl Alarms for LocalProvider {
    async fn put_alarm(&self, _: AlarmDefinition) -> Result<Alarm> {
        Err(not_yet())
    }
    async fn get_alarm(&self, _: &EndpointName, _: &AlarmName) -> Result<Alarm> {
        Err(not_yet())
    }
    async fn list_alarms(&self, _: &EndpointName, _: PageRequest) -> Result<Page<Alarm>> {
        Err(not_yet())
    }
    async fn delete_alarm(&self, _: &EndpointName, _: &AlarmName) -> Result<()> {
        Err(not_yet())
    }
}

#[async_trait]
impl Deployments for LocalProvider {
    async fn list_deployments(&self, _: &EndpointName, _: PageRequest) -> Result<Page<Deployment>> {
        Err(not_yet())
    }
    async fn get_deployment(&self, _: &EndpointName, _: &str) -> Result<Deployment> {
        Err(not_yet())
    }
    async fn stop_deployment(&self, _: &EndpointName, _: &str) -> Result<Deployment> {
        Err(not_yet())
    }
}
