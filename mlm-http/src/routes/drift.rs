//! `/v1/endpoints/{endpoint}/baselines` and `/drift-reports`: baselines of an endpoint's
//! traffic, and reports comparing a window of traffic with one. The statistics are the core's
//! ([`mlm_core::drift`]); the backend keeps the baselines and reads captured traffic.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mlm_core::drift::{CreateBaselineRequest, SampleSource, parse_samples_jsonl};
use mlm_core::{BaselineName, EndpointName};
use serde::Deserialize;
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::{ListParams, json};
use crate::extract::{ApiJson, ApiPath, QueryPairs, endpoint_name, media_type, read_body};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::{wire, wire_drift};

/// A baseline in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct BaselinePath {
    /// The endpoint's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    endpoint: String,
    /// The baseline's name, unique within the endpoint.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "launch"
    )]
    baseline: String,
}

impl BaselinePath {
    fn names(&self) -> Result<(EndpointName, BaselineName), ApiError> {
        let baseline = BaselineName::new(&self.baseline)?;
        Ok((endpoint_name(&self.endpoint)?, baseline))
    }
}

/// The name of a JSON Lines upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct UploadParams {
    /// The baseline's name: required for a JSON Lines upload; a JSON body may give it here
    /// instead of in the body (given in both, the two must be the same).
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    name: Option<String>,
}

fn is_json_lines(headers: &HeaderMap) -> bool {
    let essence = media_type(headers);
    matches!(
        essence.as_deref(),
        Some("application/x-ndjson" | "application/jsonl" | "application/jsonlines")
    )
}

/// The name and samples of an upload: JSON Lines with `?name=`, or a JSON body naming the
/// baseline in the body, the query or both (then alike).
async fn upload(
    state: &AppState,
    mut query: QueryPairs,
    request: Request,
) -> Result<(String, SampleSource), ApiError> {
    let query_name = query.take_one("name")?;
    query.finish(&["name"])?;
    if !is_json_lines(request.headers()) {
        let ApiJson(mut body) =
            ApiJson::<wire_drift::CreateBaseline>::from_request(request, state).await?;
        let name = match (body.name.take(), query_name) {
            (Some(body), Some(query)) if body != query => {
                return Err(ApiError::invalid(format!(
                    "the body names the baseline '{body}' and the query '{query}': give one name"
                )));
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => {
                return Err(ApiError::invalid(
                    "name the baseline: `name` in the body or `?name=` in the query",
                ));
            }
        };
        return Ok((name, body.source()?));
    }
    let name = query_name.ok_or_else(|| {
        ApiError::invalid("a JSON Lines upload names the baseline in the query: ?name=…")
    })?;
    let bytes = read_body(request, state.limits().max_invoke_body_bytes).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| ApiError::invalid(format!("the JSON Lines body is not UTF-8: {e}")))?;
    Ok((name, SampleSource::Samples(parse_samples_jsonl(text)?)))
}

/// Build a baseline
///
/// Profiles samples of the endpoint's traffic: per input field, decile bins and quantiles of
/// numbers, counts of categories, counts of text tokens; and the predicted labels. Send a JSON
/// body (`CreateBaseline`) with the `samples`, or a `window` of the endpoint's captured
/// traffic (data capture on; at most 10,000 records); or JSON Lines (`application/x-ndjson`,
/// up to the invocation body limit) with `?name=`: each line a request body, or
/// `{"input": …, "output": …}`; errors name the bad line. A backend without a place for
/// baselines answers `400 unsupported`; the aws backend keeps them beside the captured data,
/// so there the endpoint needs data capture on (a `failed_precondition` problem otherwise).
#[utoipa::path(
    post,
    path = "/v1/endpoints/{endpoint}/baselines",
    tag = "drift",
    params(EndpointPath, UploadParams),
    request_body(content(
        (wire_drift::CreateBaseline = "application/json"),
        (String = "application/x-ndjson",
            example = "{\"sentence\": \"The home team won the final\"}\n{\"input\": {\"sentence\": \"Stocks rallied\"}, \"output\": {\"label\": 3}}\n")
    )),
    responses((status = 201, description = "The baseline", body = mlm_core::drift::Baseline))
)]
pub(crate) async fn create_baseline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    query: QueryPairs,
    request: Request,
) -> Result<Response, ApiError> {
    let endpoint = endpoint_name(&path.endpoint)?;
    let (name, source) = upload(&state, query, request).await?;
    let request = CreateBaselineRequest::new(endpoint, BaselineName::new(name)?, source);
    request.validate()?;
    let created = state.provider().create_baseline(request).await?;
    json(StatusCode::CREATED, &created)
}

/// List an endpoint's baselines
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/baselines",
    tag = "drift",
    params(EndpointPath, ListParams),
    responses((status = 200, description = "A page of baselines", body = wire::BaselinePage))
)]
pub(crate) async fn list_baselines(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let endpoint = endpoint_name(&path.endpoint)?;
    let params = ListParams::parse(query)?;
    let page = state
        .provider()
        .list_baselines(&endpoint, params.page())
        .await?;
    json(StatusCode::OK, &page)
}

/// Describe a baseline
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/baselines/{baseline}",
    tag = "drift",
    params(BaselinePath),
    responses((status = 200, description = "The baseline", body = mlm_core::drift::Baseline))
)]
pub(crate) async fn get_baseline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<BaselinePath>,
) -> Result<Response, ApiError> {
    let (endpoint, name) = path.names()?;
    let baseline = state.provider().get_baseline(&endpoint, &name).await?;
    json(StatusCode::OK, &baseline)
}

/// Delete a baseline
#[utoipa::path(
    delete,
    path = "/v1/endpoints/{endpoint}/baselines/{baseline}",
    tag = "drift",
    params(BaselinePath),
    responses((status = 204, description = "The baseline was deleted"))
)]
pub(crate) async fn delete_baseline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<BaselinePath>,
) -> Result<StatusCode, ApiError> {
    let (endpoint, name) = path.names()?;
    state.provider().delete_baseline(&endpoint, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Compare a window of traffic with a baseline
///
/// Per input field: PSI and Kolmogorov–Smirnov for numbers, Jensen–Shannon distance for
/// categories and text tokens; the predicted labels' chi-square p-value; each against its
/// threshold, and the `drift_score` (the worst statistic's ratio to its threshold: above 1
/// when something drifted). The window is the `samples` sent in the body, or a `window` of the
/// endpoint's captured traffic (at most 10,000 records). The report is not stored, but its
/// score is recorded as the endpoint's `drift_score` metric, which alarms can watch.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{endpoint}/drift-reports",
    tag = "drift",
    params(EndpointPath),
    request_body = wire_drift::CreateDriftReport,
    responses((status = 200, description = "The report", body = mlm_core::drift::DriftReport))
)]
pub(crate) async fn create_drift_report(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(body): ApiJson<wire_drift::CreateDriftReport>,
) -> Result<Response, ApiError> {
    let request = body.into_domain(endpoint_name(&path.endpoint)?)?;
    let report = state.provider().drift_report(request).await?;
    json(StatusCode::OK, &report)
}
