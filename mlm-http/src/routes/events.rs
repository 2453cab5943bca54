//! `/v1/endpoints/{endpoint}/events`: an endpoint's timeline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use mlm_core::EventQuery;
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::observe::parse_time;
use super::{ListParams, json};
use crate::extract::{ApiJson, ApiPath, QueryPairs, endpoint_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// Filters of the event list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventFilters {
    /// Only events of this kind.
    #[param(pattern = "^[a-z][a-z0-9_]*$", min_length = 1, max_length = 64)]
    kind: Option<String>,
    /// Only events at or after this time, RFC 3339.
    since: Option<DateTime<Utc>>,
}

/// List an endpoint's events
///
/// Newest first: what the backend did and why (lifecycle changes, autoscaling decisions with
/// their figures, serverless cold starts — source `system`) and what callers recorded (e.g.
/// load-test results — source `user`). `501 unsupported` on backends that keep no events.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/events",
    tag = "events",
    params(EndpointPath, EventFilters, ListParams),
    responses((status = 200, description = "A page of events", body = wire::EventPage))
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    mut query: QueryPairs,
) -> Result<Response, ApiError> {
    let filters = EventFilters {
        kind: query.take_one("kind")?,
        since: parse_time("since", query.take_one("since")?)?,
    };
    let mut filter = EventQuery::new(endpoint_name(&path.endpoint)?);
    filter.kind = filters.kind;
    filter.since = filters.since;
    filter.validate()?;
    let params = ListParams::parse_after(query, &["kind", "since"])?;
    let page = state.provider().list_events(filter, params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Record an event
///
/// Adds a `user` event to the endpoint's timeline, e.g. a load test's result, so consoles can
/// chart it next to the metrics.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{endpoint}/events",
    tag = "events",
    params(EndpointPath),
    request_body = wire::RecordEvent,
    responses((status = 201, description = "The event as recorded", body = mlm_core::EndpointEvent))
)]
pub(crate) async fn record_event(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(body): ApiJson<wire::RecordEvent>,
) -> Result<Response, ApiError> {
    let endpoint = endpoint_name(&path.endpoint)?;
    let event = body.into_domain()?;
    let recorded = state.provider().record_event(&endpoint, event).await?;
    json(StatusCode::CREATED, &recorded)
}
