//! `/v1/endpoints`: create, change, delete and call endpoints.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use mlm_core::{EndpointName, InvokeRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use super::models::IfMatchHeader;
use super::{ListParams, Tagged, check_if_match, found, json};
use crate::extract::{ApiJson, ApiPath, IfMatch, QueryPairs, RawBody, endpoint_name, variant_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

pub use mlm_client::protocol::{TARGET_VARIANT_HEADER, VARIANT_HEADER};

/// An endpoint in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct EndpointPath {
    /// The endpoint's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    pub(crate) endpoint: String,
}

/// Headers of an invocation.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct InvokeHeaders {
    /// Send to this variant instead of choosing by weight.
    #[param(
        rename = "x-mlm-target-variant",
        nullable = false,
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    target_variant: Option<String>,
}

fn location_of(name: &str) -> String {
    format!("/v1/endpoints/{name}")
}

fn tagged(endpoint: &mlm_core::Endpoint) -> Result<Tagged, ApiError> {
    Tagged::new(endpoint)
}

/// List endpoints
///
/// Endpoints by name, including ones the provider has that mlm did not create
/// (`managed: false`).
#[utoipa::path(
    get,
    path = "/v1/endpoints",
    tag = "endpoints",
    params(ListParams),
    responses((status = 200, description = "A page of endpoints", body = wire::EndpointPage))
)]
pub(crate) async fn list_endpoints(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let params = ListParams::parse(query)?;
    let page = state.provider().list_endpoints(params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Create an endpoint
///
/// Starts creating the endpoint and answers at once (`202`) with its current state, usually
/// `Creating`; poll its URL until `InService`.
#[utoipa::path(
    post,
    path = "/v1/endpoints",
    tag = "endpoints",
    request_body = wire::CreateEndpoint,
    responses((
        status = 202,
        description = "Creation started",
        body = mlm_core::Endpoint,
        headers(
            ("Location" = String, description = "The endpoint's URL, to poll"),
            ("ETag" = String, description = "The endpoint's entity tag")
        ),
        links(
            ("GetEndpoint" = (operation_id = "get_endpoint",
                parameters(("endpoint" = "$response.body#/name")))),
            ("UpdateEndpoint" = (operation_id = "update_endpoint",
                parameters(("endpoint" = "$response.body#/name"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("DeleteEndpoint" = (operation_id = "delete_endpoint",
                parameters(("endpoint" = "$response.body#/name"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("InvokeEndpoint" = (operation_id = "invoke_endpoint",
                parameters(("endpoint" = "$response.body#/name")))),
            ("GetEndpointOverview" = (operation_id = "get_endpoint_overview",
                parameters(("endpoint" = "$response.body#/name")))),
            ("ListInstances" = (operation_id = "list_instances",
                parameters(("endpoint" = "$response.body#/name")))),
            ("QueryMetrics" = (operation_id = "query_metrics",
                parameters(("endpoint" = "$response.body#/name"))))
        )
    ))
)]
pub(crate) async fn create_endpoint(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::CreateEndpoint>,
) -> Result<Response, ApiError> {
    let request = body.into_domain()?;
    let endpoint = state.provider().create_endpoint(request).await?;
    let location = location_of(endpoint.name.as_str());
    Ok(tagged(&endpoint)?.respond(StatusCode::ACCEPTED, Some(&location)))
}

/// Describe an endpoint
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}",
    tag = "endpoints",
    params(EndpointPath),
    responses((
        status = 200,
        description = "The endpoint",
        body = mlm_core::Endpoint,
        headers(("ETag" = String, description = "The endpoint's entity tag"))
    ))
)]
pub(crate) async fn get_endpoint(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let endpoint = state.provider().get_endpoint(&name).await?;
    Ok(tagged(&endpoint)?.respond(StatusCode::OK, None))
}

/// The current endpoint when `If-Match` needs it (`None` without `If-Match`, or when the
/// endpoint does not exist, which fails any `If-Match`).
async fn current_if_needed(
    state: &AppState,
    name: &EndpointName,
    if_match: &IfMatch,
) -> Result<Option<mlm_core::Endpoint>, ApiError> {
    if !if_match.is_present() {
        return Ok(None);
    }
    found(state.provider().get_endpoint(name).await)
}

/// Checks `If-Match` against `current` (`412` when it does not match).
fn check_endpoint(
    name: &EndpointName,
    if_match: &IfMatch,
    current: Option<&mlm_core::Endpoint>,
) -> Result<(), ApiError> {
    check_if_match(if_match, &format!("endpoint '{name}'"), current)
}

/// The update `body` asks for, checked as far as it can be without the provider: against
/// `current` when `If-Match` fetched it (as the provider will plan it), on its own otherwise.
fn checked_update(
    body: wire::UpdateEndpoint,
    name: &EndpointName,
    current: Option<&mlm_core::Endpoint>,
) -> Result<mlm_core::UpdateEndpointRequest, ApiError> {
    let request = body.into_domain(name.clone())?;
    if let Some(current) = current {
        request.plan(current)?;
    }
    Ok(request)
}

/// Change an endpoint
///
/// Scale, change instance types, deploy other versions, shift traffic, or replace the variant
/// set. Starts the update and answers at once (`202`) with the endpoint's current state; poll
/// its URL until `InService` again. An endpoint that is not `InService` answers `409
/// failed_precondition`.
#[utoipa::path(
    patch,
    path = "/v1/endpoints/{endpoint}",
    tag = "endpoints",
    params(EndpointPath, IfMatchHeader),
    request_body = wire::UpdateEndpoint,
    responses((
        status = 202,
        description = "Update started",
        body = mlm_core::Endpoint,
        headers(
            ("Location" = String, description = "The endpoint's URL, to poll"),
            ("ETag" = String, description = "The endpoint's entity tag")
        )
    ))
)]
pub(crate) async fn update_endpoint(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<wire::UpdateEndpoint>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let current = current_if_needed(&state, &name, &if_match).await?;
    // The body is checked in full before the precondition (RFC 9110 section 13.2.1).
    let request = checked_update(body, &name, current.as_ref())?;
    check_endpoint(&name, &if_match, current.as_ref())?;
    let endpoint = state.provider().update_endpoint(request).await?;
    let location = location_of(endpoint.name.as_str());
    Ok(tagged(&endpoint)?.respond(StatusCode::ACCEPTED, Some(&location)))
}

/// Delete an endpoint
///
/// Starts deleting the endpoint and what mlm created for it, and answers at once (`202`); its
/// URL answers `404` once it is gone.
#[utoipa::path(
    delete,
    path = "/v1/endpoints/{endpoint}",
    tag = "endpoints",
    params(EndpointPath, IfMatchHeader),
    responses((
        status = 202,
        description = "Deletion started",
        headers(("Location" = String, description = "The endpoint's URL, to poll until 404"))
    ))
)]
pub(crate) async fn delete_endpoint(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    if_match: IfMatch,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let current = current_if_needed(&state, &name, &if_match).await?;
    check_endpoint(&name, &if_match, current.as_ref())?;
    state.provider().delete_endpoint(&name).await?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    if let Ok(location) = HeaderValue::from_str(&location_of(name.as_str())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Invoke an endpoint
///
/// Sends the body, unchanged and with its `Content-Type` (default
/// `application/octet-stream`) and `Accept`, to the model, and answers with the model's body
/// and content type. The variant that answered is in `x-mlm-variant`. Bodies up to the
/// server's invocation limit (default 6 MiB) are accepted.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{endpoint}/invocations",
    tag = "invocations",
    params(EndpointPath, InvokeHeaders),
    request_body(
        description = "The model's input, in any format it accepts",
        content(
            (wire::InvocationBody = "application/json",
                example = json!({"sentence": "Stocks rallied after the earnings report"})),
            (String = "text/plain"),
            (wire::Binary = "application/octet-stream")
        )
    ),
    responses((
        status = 200,
        description = "The model's answer, unchanged",
        content(
            (wire::InvocationAnswer = "application/json",
                example = json!({
                    "label": 3,
                    "category": "Business",
                    "scores": {"World": 0.02, "Sports": 0.01, "Business": 0.9, "Sci/Tech": 0.07}
                })),
            (String = "text/plain"),
            (wire::Binary = "application/octet-stream")
        ),
        headers(("x-mlm-variant" = String, description = "The variant that answered, when known"))
    ))
)]
pub(crate) async fn invoke_endpoint(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let text = |h: &str| -> Result<Option<String>, ApiError> {
        headers
            .get(h)
            .map(|v| {
                v.to_str()
                    .map(str::to_string)
                    .map_err(|_| ApiError::invalid(format!("the {h} header is not visible ASCII")))
            })
            .transpose()
    };
    let content_type = text(header::CONTENT_TYPE.as_str())?
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let mut request = InvokeRequest::new(name, content_type, body.to_vec());
    request.accept = text(header::ACCEPT.as_str())?.filter(|a| !a.trim().is_empty());
    if let Some(target) = text(TARGET_VARIANT_HEADER)? {
        request.target_variant = Some(variant_name(&target)?);
    }
    let answer = state.provider().invoke(request).await?;
    let mut response = Response::new(Body::from(answer.body));
    let content_type = HeaderValue::from_str(&answer.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if let Some(variant) = answer
        .variant
        .and_then(|v| HeaderValue::from_str(v.as_str()).ok())
    {
        response.headers_mut().insert(VARIANT_HEADER, variant);
    }
    Ok(response)
}
