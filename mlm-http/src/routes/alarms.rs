//! `/v1/endpoints/{endpoint}/alarms`: alarms on an endpoint's metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::{ListParams, json};
use crate::extract::{ApiJson, ApiPath, QueryPairs, endpoint_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// An alarm in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AlarmPath {
    /// The endpoint's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    endpoint: String,
    /// The alarm's name, unique within the endpoint.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "errors-5xx"
    )]
    alarm: String,
}

impl AlarmPath {
    fn names(&self) -> Result<(mlm_core::EndpointName, mlm_core::AlarmName), ApiError> {
        let alarm = mlm_core::AlarmName::new(&self.alarm)?;
        Ok((endpoint_name(&self.endpoint)?, alarm))
    }
}

/// List an endpoint's alarms
///
/// By name, each with its live state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/alarms",
    tag = "alarms",
    params(EndpointPath, ListParams),
    responses((status = 200, description = "A page of alarms", body = wire::AlarmPage))
)]
pub(crate) async fn list_alarms(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let params = ListParams::parse(query)?;
    let page = state.provider().list_alarms(&name, params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Create or replace an alarm
///
/// CloudWatch's semantics on every backend: the alarm fires when `datapoints_to_alarm` of the
/// last `evaluation_periods` periods breach. Name it in a deployment policy's
/// `rollback_alarms` to roll updates back when it fires.
#[utoipa::path(
    put,
    path = "/v1/endpoints/{endpoint}/alarms/{alarm}",
    tag = "alarms",
    params(AlarmPath),
    request_body = wire::PutAlarm,
    responses((status = 200, description = "The alarm as it is now", body = mlm_core::Alarm))
)]
pub(crate) async fn put_alarm(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AlarmPath>,
    ApiJson(body): ApiJson<wire::PutAlarm>,
) -> Result<Response, ApiError> {
    let (endpoint, name) = path.names()?;
    let definition = body.into_domain(endpoint, name)?;
    let alarm = state.provider().put_alarm(definition).await?;
    json(StatusCode::OK, &alarm)
}

/// Describe an alarm
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/alarms/{alarm}",
    tag = "alarms",
    params(AlarmPath),
    responses((status = 200, description = "The alarm with its state", body = mlm_core::Alarm))
)]
pub(crate) async fn get_alarm(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AlarmPath>,
) -> Result<Response, ApiError> {
    let (endpoint, name) = path.names()?;
    let alarm = state.provider().get_alarm(&endpoint, &name).await?;
    json(StatusCode::OK, &alarm)
}

/// Delete an alarm
///
/// An alarm a running deployment uses for rollback cannot be deleted (`409
/// failed_precondition`).
#[utoipa::path(
    delete,
    path = "/v1/endpoints/{endpoint}/alarms/{alarm}",
    tag = "alarms",
    params(AlarmPath),
    responses((status = 204, description = "The alarm was deleted"))
)]
pub(crate) async fn delete_alarm(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AlarmPath>,
) -> Result<StatusCode, ApiError> {
    let (endpoint, name) = path.names()?;
    state.provider().delete_alarm(&endpoint, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
