//! The handlers, grouped by resource, and the routers that collect them with their OpenAPI
//! descriptions.

pub(crate) mod alarms;
pub(crate) mod artifacts;
pub(crate) mod captures;
pub(crate) mod dashboards;
pub(crate) mod deployments;
pub(crate) mod drift;
pub(crate) mod endpoints;
pub(crate) mod events;
pub(crate) mod models;
pub(crate) mod observe;
pub(crate) mod pipelines;
pub(crate) mod system;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mlm_core::{MAX_PAGE_SIZE, PageRequest};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{IfMatch, QueryPairs};
use crate::problem::ApiError;
use crate::state::AppState;
/// The `/v1` routes (authenticated when tokens are configured).
pub(crate) fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(models::list_models, models::create_model))
        .routes(routes!(
            models::get_model,
            models::update_model,
            models::delete_model
        ))
        .routes(routes!(models::list_versions, models::create_version))
        .routes(routes!(artifacts::upload_artifact))
        .routes(routes!(
            models::get_version,
            models::update_version,
            models::delete_version
        ))
        .routes(routes!(
            endpoints::list_endpoints,
            endpoints::create_endpoint
        ))
        .routes(routes!(
            endpoints::get_endpoint,
            endpoints::update_endpoint,
            endpoints::delete_endpoint
        ))
        .routes(routes!(endpoints::invoke_endpoint))
        .routes(routes!(alarms::list_alarms))
        .routes(routes!(
            alarms::get_alarm,
            alarms::put_alarm,
            alarms::delete_alarm
        ))
        .routes(routes!(deployments::list_deployments))
        .routes(routes!(deployments::get_deployment))
        .routes(routes!(deployments::stop_deployment))
        .routes(routes!(events::list_events, events::record_event))
        .routes(routes!(drift::list_baselines, drift::create_baseline))
        .routes(routes!(drift::get_baseline, drift::delete_baseline))
        .routes(routes!(drift::create_drift_report))
        .routes(routes!(pipelines::list_pipelines))
        .routes(routes!(
            pipelines::get_pipeline,
            pipelines::apply_pipeline,
            pipelines::delete_pipeline
        ))
        .routes(routes!(pipelines::list_runs))
        .routes(routes!(pipelines::get_run))
        .routes(routes!(pipelines::cancel_run))
        .routes(routes!(pipelines::promote))
        .routes(routes!(pipelines::start_runs))
        .routes(routes!(observe::list_instances))
        .routes(routes!(observe::get_endpoint_overview))
        .routes(routes!(observe::query_metrics))
        .routes(routes!(observe::list_overviews))
        .routes(routes!(captures::list_captures))
        .routes(routes!(
            dashboards::get_dashboard,
            dashboards::put_dashboard
        ))
        .routes(routes!(system::get_capabilities))
}

/// The routes anyone may call: health, readiness and the spec.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::openapi_json))
}

/// Paths that need no token (also in the spec's `security: []`).
pub(crate) const PUBLIC_PATHS: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// Paging of list routes.
#[derive(Debug, Clone, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Items per page, 1-100 (default 50); a value out of range is a `400`.
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<u32>,
    /// The `next_page_token` of the previous page, unchanged. Tokens are opaque, lowercase hex
    /// of even length; a token of that form that this server did not issue is a `400` too.
    #[param(min_length = 2, max_length = 4096, pattern = "^([0-9a-f]{2})+$")]
    page_token: Option<String>,
}

impl ListParams {
    /// Parses and checks `limit` and `page_token`; any other parameter is a `400`.
    pub(crate) fn parse(query: QueryPairs) -> Result<Self, ApiError> {
        Self::parse_after(query, &[])
    }

    /// Like [`Self::parse`], for a route whose own parameters (`taken`) were removed first.
    pub(crate) fn parse_after(mut query: QueryPairs, taken: &[&str]) -> Result<Self, ApiError> {
        let limit = query.take_parsed::<u32>("limit", "a whole number from 1 to 100")?;
        if let Some(n) = limit.filter(|n| !(1..=MAX_PAGE_SIZE).contains(n)) {
            return Err(ApiError::invalid(format!(
                "limit {n} is out of range: use 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let page_token = query.take_one("page_token")?;
        match page_token.as_deref() {
            Some("") => {
                return Err(ApiError::invalid(
                    "page_token is empty: omit it for the first page",
                ));
            }
            // Tokens are opaque but always lowercase hex of even length (`encode_cursor`);
            // anything else was not issued here.
            Some(t) if !is_page_token(t) => {
                return Err(ApiError::invalid(
                    "page_token is not a token this API issued: pass next_page_token unchanged",
                ));
            }
            _ => {}
        }
        let allowed: Vec<&str> = taken
            .iter()
            .copied()
            .chain(["limit", "page_token"])
            .collect();
        query.finish(&allowed)?;
        Ok(Self { limit, page_token })
    }

    /// The core page request.
    pub(crate) fn page(self) -> PageRequest {
        let mut page = PageRequest::first();
        page.page_size = self.limit;
        page.page_token = self.page_token;
        page
    }
}

/// Whether `token` has the form of the page tokens this API issues: lowercase hex of even
/// length, at most [`MAX_PAGE_TOKEN_LEN`] characters (the spec's `page_token` pattern).
pub(crate) fn is_page_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_PAGE_TOKEN_LEN
        && token.len().is_multiple_of(2)
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The longest `page_token` accepted.
pub(crate) const MAX_PAGE_TOKEN_LEN: usize = 4096;

/// A JSON body serialized once, with the strong `ETag` of exactly those bytes.
pub(crate) struct Tagged {
    bytes: Vec<u8>,
    etag: String,
}

impl Tagged {
    /// Serializes `body`.
    pub(crate) fn new<T: Serialize>(body: &T) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
        let etag = etag_of(&bytes);
        Ok(Self { bytes, etag })
    }

    /// The `ETag`.
    pub(crate) fn etag(&self) -> &str {
        &self.etag
    }

    /// A response with `status`, the body, its `ETag` and, if given, a `Location`.
    pub(crate) fn respond(self, status: StatusCode, location: Option<&str>) -> Response {
        let mut response = (status, self.bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

/// A strong entity tag: the first 128 bits of the body's SHA-256, hex, quoted.
pub(crate) fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// `Ok(None)` for a core `NotFound`, so `If-Match` can answer `412` for missing resources.
pub(crate) fn found<T>(result: mlm_core::Result<T>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(mlm_core::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks `If-Match` for `what` against `current`, the resource as it is now (`None` when it
/// does not exist, which fails any `If-Match`): `412` when it does not match.
pub(crate) fn check_if_match<T: Serialize>(
    if_match: &IfMatch,
    what: &str,
    current: Option<&T>,
) -> Result<(), ApiError> {
    let current = current.map(Tagged::new).transpose()?;
    if_match.check(what, current.as_ref().map(Tagged::etag))
}

/// A plain JSON response without `ETag`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
