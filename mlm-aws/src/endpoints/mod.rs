//! Endpoints on SageMaker, done safely.
//!
//! **Create**: one SageMaker Model per variant (from the version's ModelPackage ARN), one
//! EndpointConfig (variants, weights, serverless, data capture, enhanced metrics), one
//! Endpoint. Names are deterministic ([`crate::naming`]); a failure half-way deletes what this
//! call created, and a retry of the same request reuses the same names. Variants with an
//! autoscaling policy get an Application Auto Scaling target and target-tracking policy
//! ([`crate::autoscaling`]) once the endpoint is `InService` (AWS refuses them before): the
//! endpoint is tagged `mlm:autoscaling-from`, and the first describe that sees it `InService`
//! applies them. The policy is also recorded in the config's tags, which is what describes
//! report.
//!
//! **Update**: counts and weights only → `UpdateEndpointWeightsAndCapacities` (no new config).
//! Anything else → a new EndpointConfig + `UpdateEndpoint`, keeping autoscaled counts unless
//! the request changes them; once the endpoint is `InService` on the new config, policies that
//! changed are re-applied and removed ones deregistered (tag `mlm:autoscaling-from`, as for
//! create; a failure shows in [`Endpoint::failure_reason`] and is retried on the next describe).
//! The endpoint is tagged with the config the update asked for (`mlm:target-config`); once
//! the endpoint has settled, a describe compares it with the config it actually runs. A
//! mismatch is SageMaker's *silent rollback*: the endpoint is `InService` on the old config,
//! and mlm reports it in [`Endpoint::failure_reason`] ("the update to configuration X did not
//! take effect ...", with SageMaker's reason) and in the deployment (`crate::deployments`),
//! which makes waits fail with `RolledBack`.
//! Each config is a deployment, so superseded configs stay as the endpoint's history (the
//! newest `KEPT_DEPLOYMENTS`); their SageMaker models, and older configs, are deleted on the
//! first describe that sees the endpoint settled (tag `mlm:cleanup`) and its autoscaling
//! applied, never while it is Creating/Updating, and never the config it runs or is moving to.
//!
//! **Delete**: the variants' scalable targets, the endpoint, its alarms and dashboard, then
//! every config and model mlm made for it (found by name); already-gone parts count as deleted.
//!
//! Endpoints created outside mlm are listed and described with `managed: false`. Their variants'
//! versions come from the ModelPackage their SageMaker model was built from; a variant whose
//! model was not built from a registry package has no version (`model_version: None`). Such
//! variants can be scaled and reweighted; anything that would recreate them needs a version.
//!
//! The files follow these steps: `describe` (reading an endpoint, its config and tags, and
//! finishing what a create or update left pending), `create`, `update`, `cleanup` (deleting an
//! endpoint and what mlm made for it) and `invoke`.

mod cleanup;
mod create;
mod describe;
mod invoke;
mod update;

use async_trait::async_trait;
use mlm_core::{
    CreateEndpointRequest, Endpoint, EndpointManager, EndpointName, InvokeRequest, InvokeResponse,
    Page, PageRequest, ResourceKind, Result, UpdateEndpointRequest,
};

use crate::error::Target;
use crate::provider::AwsProvider;

#[async_trait]
impl EndpointManager for AwsProvider {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        self.inner.create_endpoint(request).await
    }

    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
        self.inner.get_endpoint(name.as_str()).await
    }

    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        self.inner.list_endpoints(page).await
    }

    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        self.inner.update_endpoint(request).await
    }

    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        self.inner.delete_endpoint(name.as_str()).await
    }

    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        self.inner.invoke(request).await
    }
}

/// Config tag holding the version a variant serves: `mlm:v:<variant>` = `model/version`.
const TAG_VARIANT_VERSION: &str = "mlm:v:";

pub(crate) fn endpoint_target(name: &str) -> Target {
    Target::new(ResourceKind::Endpoint, name)
}
