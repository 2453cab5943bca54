//! `/v1/endpoints/{endpoint}/dashboard`: an endpoint's monitoring dashboard (CloudWatch on
//! AWS).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::endpoints::EndpointPath;
use super::json;
use crate::extract::{ApiPath, endpoint_name};
use crate::problem::ApiError;
use crate::state::AppState;

/// Create or update an endpoint's dashboard
///
/// Builds the endpoint's monitoring dashboard from the endpoint as it is now: invocations,
/// 4xx/5xx errors, model latency (p50, p90, average), each variant's CPU, GPU and memory
/// utilisation, and the state of its alarms. `action` says whether it was `created` or
/// `updated`; put it again after changing the endpoint's variants or alarms. Deleting the
/// endpoint deletes it. AWS only (a CloudWatch dashboard): other backends answer
/// `400 unsupported` (see `/v1/capabilities`, `dashboards`).
#[utoipa::path(
    put,
    path = "/v1/endpoints/{endpoint}/dashboard",
    tag = "observability",
    params(EndpointPath),
    responses((status = 200, description = "The dashboard, created or updated", body = mlm_core::Dashboard))
)]
pub(crate) async fn put_dashboard(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let dashboard = state.provider().put_dashboard(&name).await?;
    json(StatusCode::OK, &dashboard)
}

/// Describe an endpoint's dashboard
///
/// Its name, console URL and widget titles (`action` is `null`). `404` until it is put.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/dashboard",
    tag = "observability",
    params(EndpointPath),
    responses((status = 200, description = "The dashboard", body = mlm_core::Dashboard))
)]
pub(crate) async fn get_dashboard(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let dashboard = state.provider().get_dashboard(&name).await?;
    json(StatusCode::OK, &dashboard)
}
