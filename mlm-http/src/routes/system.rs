//! Health, readiness, capabilities and the spec.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use mlm_core::PageRequest;

use super::json;
use crate::problem::{ApiError, ProblemType};
use crate::state::AppState;
use crate::wire;

/// How long `/readyz` waits for the provider.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server's backend supports
///
/// The provider's name and capabilities; operations outside them answer `400 unsupported`.
#[utoipa::path(
    get,
    path = "/v1/capabilities",
    tag = "system",
    responses((status = 200, description = "The backend", body = wire::ProviderInfo))
)]
pub(crate) async fn get_capabilities(State(state): State<AppState>) -> Result<Response, ApiError> {
    let provider = state.provider();
    json(
        StatusCode::OK,
        &wire::ProviderInfo {
            provider: provider.name().to_string(),
            capabilities: provider.capabilities(),
        },
    )
}

/// Liveness
///
/// `200` while the process is up; needs no token.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "system",
    security(()),
    responses((status = 200, description = "The process is up", body = wire::Health))
)]
pub(crate) async fn healthz() -> Result<Response, ApiError> {
    health("ok")
}

/// A `200` [`wire::Health`] saying `status`.
fn health(status: &str) -> Result<Response, ApiError> {
    json(
        StatusCode::OK,
        &wire::Health {
            status: status.into(),
        },
    )
}

/// Readiness
///
/// `200` when the provider answers (a one-item model listing succeeds within 5 s), `503`
/// otherwise; needs no token.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "system",
    security(()),
    responses((status = 200, description = "The provider is reachable", body = wire::Health))
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let probe = state
        .provider()
        .list_models(PageRequest::first().with_page_size(1));
    let failure = match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => return health("ready"),
        Ok(Err(e)) => format!("readiness probe failed: {e}"),
        Err(_) => format!("readiness probe timed out after {READY_TIMEOUT:?}"),
    };
    Err(ApiError::new(ProblemType::NotReady, "").with_log(failure))
}

/// The OpenAPI description
///
/// This document (OpenAPI 3.1); needs no token. Swagger UI renders it at `/docs`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "system",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub(crate) async fn openapi_json() -> Result<Response, ApiError> {
    json(StatusCode::OK, crate::openapi::openapi_value())
}
