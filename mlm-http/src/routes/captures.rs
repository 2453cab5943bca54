//! `/v1/endpoints/{endpoint}/captures`: the records data capture wrote.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use mlm_core::CaptureQuery;
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::observe::parse_time;
use super::{ListParams, json};
use crate::extract::{ApiPath, QueryPairs, endpoint_name, variant_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// Which records to list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; they are parsed from the query pairs.
pub(crate) struct CaptureParams {
    /// Window start (inclusive), RFC 3339.
    #[param(value_type = String, format = DateTime)]
    start: String,
    /// Window end (exclusive), RFC 3339; default now. At most 7 days after `start`.
    #[param(value_type = Option<String>, format = DateTime)]
    end: Option<String>,
    /// Only records of this variant.
    #[param(pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", max_length = 63)]
    variant: Option<String>,
}

/// List captured records
///
/// The requests and answers data capture recorded in the window, oldest first, each with the
/// variant that served it; records are in SageMaker's capture format. `501` where the backend
/// does not capture data.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/captures",
    tag = "observability",
    params(EndpointPath, CaptureParams, ListParams),
    responses((status = 200, description = "A page of records", body = wire::CapturePage))
)]
pub(crate) async fn list_captures(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    mut query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let start = parse_time("start", query.take_one("start")?)?
        .ok_or_else(|| ApiError::invalid("query parameter 'start' is required"))?;
    let end = parse_time("end", query.take_one("end")?)?.unwrap_or_else(Utc::now);
    let variant = query
        .take_one("variant")?
        .as_deref()
        .map(variant_name)
        .transpose()?;
    let page = ListParams::parse(query)?.page();
    let mut capture_query = CaptureQuery::new(name, start, end);
    capture_query.variant = variant;
    capture_query.validate()?;
    let records = state.provider().list_captures(capture_query, page).await?;
    json(StatusCode::OK, &records)
}
