//! `/v1/endpoints/{endpoint}/deployments`: the history of an endpoint's creates and updates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::{ListParams, json};
use crate::extract::{ApiPath, QueryPairs, endpoint_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// A deployment in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DeploymentPath {
    /// The endpoint's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    endpoint: String,
    /// The deployment's id (see `Deployment.id`).
    #[param(
        pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        min_length = 1,
        max_length = 128
    )]
    deployment: String,
}

impl DeploymentPath {
    fn parts(&self) -> Result<(mlm_core::EndpointName, &str), ApiError> {
        let id = &self.deployment;
        mlm_core::Deployment::check_id(id)?;
        Ok((endpoint_name(&self.endpoint)?, id))
    }
}

/// List an endpoint's deployments
///
/// Every create and update, newest first, with its policy, its phase timeline and how it
/// ended (`completed`, `rolled_back` with the alarm that fired, or `failed`).
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/deployments",
    tag = "deployments",
    params(EndpointPath, ListParams),
    responses((status = 200, description = "A page of deployments", body = wire::DeploymentPage))
)]
pub(crate) async fn list_deployments(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let params = ListParams::parse(query)?;
    let page = state
        .provider()
        .list_deployments(&name, params.page())
        .await?;
    json(StatusCode::OK, &page)
}

/// Describe a deployment
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/deployments/{deployment}",
    tag = "deployments",
    params(DeploymentPath),
    responses((status = 200, description = "The deployment", body = mlm_core::Deployment))
)]
pub(crate) async fn get_deployment(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DeploymentPath>,
) -> Result<Response, ApiError> {
    let (endpoint, id) = path.parts()?;
    let deployment = state.provider().get_deployment(&endpoint, id).await?;
    json(StatusCode::OK, &deployment)
}

/// Stop a deployment
///
/// Rolls a running deployment back: traffic returns to the previous fleet and the deployment
/// ends `rolled_back`. Answers at once (`202`) with the deployment as it stands; a deployment
/// that has ended answers `409 failed_precondition`.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{endpoint}/deployments/{deployment}/stop",
    tag = "deployments",
    params(DeploymentPath),
    responses((status = 202, description = "Rollback started", body = mlm_core::Deployment))
)]
pub(crate) async fn stop_deployment(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<DeploymentPath>,
) -> Result<Response, ApiError> {
    let (endpoint, id) = path.parts()?;
    let deployment = state.provider().stop_deployment(&endpoint, id).await?;
    json(StatusCode::ACCEPTED, &deployment)
}
