//! # mlm-http
//!
//! The REST adapter of **mlm** as a library: an OpenAPI 3.1 server (axum on hyper) over any
//! [`mlm_core::Provider`]. The `mlm` binary (crate `mlm-cli`) serves it; `mlm-client`'s
//! `HttpProvider` talks to it, so everything written against the core traits also runs
//! remotely. Responses are the core types (their schemas come from `mlm-core`'s `openapi`
//! feature); [`wire`] holds the stricter request bodies.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mlm_http::server::{ConnectionLimits, serve};
//! use mlm_http::{AppState, app, shutdown_signal};
//!
//! # async fn run(provider: Arc<dyn mlm_core::Provider>) -> std::io::Result<()> {
//! let state = AppState::new(provider);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app(state), ConnectionLimits::default(), shutdown_signal()).await;
//! # Ok(())
//! # }
//! ```
//!
//! ## The API in brief
//! `/v1/models`, `/v1/models/{model}/versions`, `/v1/endpoints` (with `/instances`,
//! `/overview`, `/metrics` and `/invocations`), `/v1/overview`, `/v1/capabilities`, plus
//! `/healthz`, `/readyz`, `/openapi.json` and `/docs` (Swagger UI). `docs/openapi.json` is the
//! full description.
//!
//! ## Decisions
//! - **Errors** are RFC 9457 problem documents with `type` `https://mlm.dev/problems/<slug>`,
//!   the slug being [`mlm_core::ErrorKind::as_str`] for core errors (`not_found` 404,
//!   `already_exists` 409, `invalid_argument` 400, `failed_precondition` 409, `conflict` 409,
//!   `permission_denied` 403, `unauthenticated` 401, `throttled` 429 + `Retry-After`,
//!   `unsupported` 400, `timeout` 504, `provider` 502) and HTTP-layer slugs otherwise
//!   (`etag_mismatch` 412, `payload_too_large` 413, `unsupported_media_type` 415,
//!   `method_not_allowed` 405, `no_route` 404, `not_ready` 503, `unavailable` 503 +
//!   `Retry-After`, `internal` 500). Every invalid input is a `400` (no `422`): malformed
//!   JSON, unknown fields, bad names, bad query values.
//! - **`unsupported` is a `400`**, not a `501`: the request asks the backend for a capability it
//!   lacks (`/v1/capabilities` lists them), which the client has to change; the server is not
//!   at fault. The slug tells it from `invalid_argument`.
//! - **Retryable provider errors are `503 unavailable`** with `Retry-After: 1` and
//!   `retryable: true` (e.g. an endpoint with no healthy instance right now); a provider error
//!   that retrying will not fix stays `502 provider`. Both keep their detail out of the body.
//!   Bodies are read as the spec states them: an array where an object belongs and a key
//!   given twice are `400`s too, and `2.0` is the integer 2, as in JSON Schema.
//!   Server errors carry a generic detail; the log has the full error under the request id.
//! - **Pagination**: `limit` 1–100 (default 50); a value outside is a `400`, like the core's
//!   `page_size`, so the same request fails the same way in-process and over HTTP.
//! - **Limits**: JSON bodies 1 MiB, invocation bodies 6 MiB (both configurable, [`Limits`]).
//! - **Long-running operations**: endpoint create/update/delete answer `202` with `Location`
//!   (create/update also with the endpoint's current state and its `ETag`).
//! - **ETags** are strong: the first 128 bits of the SHA-256 of the exact JSON body. `If-Match`
//!   on `PATCH`/`DELETE` reads the resource first and compares; a missing resource fails any
//!   `If-Match`, `*` included, with `412` (RFC 9110), and so does an empty `If-Match` list. The
//!   check and the change are two provider calls, so a change in between is not detected.
//!   The precondition is evaluated after the body has been checked as far as the server can
//!   without changing anything (its shape, the core request's `validate()`, and for endpoints
//!   the update planned against the current endpoint), so a request that would fail without
//!   `If-Match` fails the same way with it (RFC 9110 section 13.2.1): an invalid body is a
//!   `400` whatever the tag. The header's grammar is RFC 9110's (a comma inside a quoted tag
//!   belongs to the tag; empty list elements are skipped).
//! - **Endpoint update shorthand**: a top-level `instance_count`/`instance_type`/
//!   `model_version` applies to the endpoint's only variant; with several variants it is a
//!   `400` asking to name the variant in `changes`.
//! - **Auth**: see [`auth`]; `reader` tokens may not invoke endpoints (invocation is a `POST`).
//! - **Browsers** (see [`origin`]): without tokens, a `Host` that is not a loopback name is a
//!   `421 host_not_allowed` (DNS rebinding) and an `Origin` that is neither loopback nor in
//!   `[server] cors_allowed_origins` a `403 origin_not_allowed` (cross-site requests, even the
//!   `text/plain` ones that need no preflight). With tokens neither applies. CORS answers go
//!   to loopback and listed origins only, with or without tokens.
//! - **Metrics**: `metric` is required (repeatable or comma-separated); the window defaults to
//!   the last hour, the period to 60 s, the statistic to each metric's own (`sum` for
//!   invocations and errors, `average` otherwise).
//! - **Query strings are strict**: an unknown parameter is a `400`, like an unknown body field;
//!   a `page_token` that is not lowercase hex of even length (the form of every token the
//!   server issues) is a `400` without reaching the provider.
//! - **Routes beyond the brief**: `GET /v1/endpoints/{endpoint}/overview` (one endpoint's
//!   overview, what `mlm_client::HttpProvider` uses for `endpoint_overview`) and
//!   `GET /v1/capabilities` (the backend's name and capabilities).
//! - **Connections** (see [`server`]): `mlm serve` closes a connection with no request in
//!   progress and no bytes moving after `idle_timeout_secs` (60), one whose started request
//!   head has not fully arrived after `header_read_timeout_secs` (10), and fails a request
//!   body that stalls for the idle timeout. At most `max_connections` are open (default: half
//!   the open-file limit, which start-up raises to the hard limit); at the cap it stops
//!   accepting until one closes, so newcomers wait in the listen backlog rather than being
//!   dropped, and the timeouts guarantee a slot frees.
//! - **HTTPS** (see [`tls`]): with `[server] tls_cert` and `tls_key` (PEM files), `mlm serve`
//!   terminates TLS itself (rustls, TLS 1.2/1.3, ALPN `http/1.1`); a handshake must finish
//!   within the header-read timeout. Tokens on a non-loopback address without TLS start the
//!   server with a loud warning ([`config::cleartext_token_warning`]): put TLS in front, here
//!   or in a proxy.
//! - **OpenAPI links**: the create operations link to the operations that use what they
//!   return (model → get/update/delete/versions, version → get/update/delete, endpoint →
//!   get/update/delete/invoke/overview/instances/metrics), passing the `ETag` as `If-Match` to
//!   updates and deletes, for generated clients and schemathesis's stateful phase.
//! - **Written for generated clients** (`scripts/generated-clients.sh` runs a Python and a
//!   TypeScript client generated from `docs/openapi.json`): invocation JSON bodies and answers
//!   are named object schemas, optional request fields carry no `default` (generators make
//!   such fields required), nullable response keys are `required`, `TrafficShift`'s variants
//!   are named schemas behind a `discriminator`, the statuses and the declared `ProblemType`
//!   URIs carry `x-enum-varnames`, and security is set once at the top level.
//! - **Router = spec**: every route is registered through `utoipa_axum::routes!`, so the router
//!   and the OpenAPI document come from the same registrations; only Swagger UI (`/docs`) is
//!   added outside it.

pub mod auth;
pub mod config;
pub mod extract;
pub mod openapi;
pub mod origin;
mod pipeline_schema;
pub mod problem;
// utoipa's `params(..)` expands to fully qualified paths, which `unused_qualifications`
// reports at the attribute; the handlers themselves are checked like everything else.
#[allow(unused_qualifications)]
mod routes;
pub mod server;
pub mod state;
mod strict;
pub mod tls;
pub mod wire;
pub mod wire_drift;

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::{ApiToken, Auth, Caller, Role};
pub use pipeline_schema::{pipeline_schema, pipeline_schema_pretty};
pub use problem::{ApiError, Problem, ProblemType};
pub use routes::endpoints::{TARGET_VARIANT_HEADER, VARIANT_HEADER};
pub use state::{AppState, Limits};

use crate::problem::REQUEST_ID_HEADER;

/// The router of the whole API over `state`: `/v1` (behind the bearer-token check when tokens
/// are configured), the public routes, Swagger UI at `/docs`, and the layers every request
/// goes through (request id, tracing, problem rendering, panic catching, the `Host`/`Origin`
/// guard of [`origin`] and CORS).
pub fn app(state: AppState) -> Router {
    let (v1, _) = routes::v1_routes().split_for_parts();
    let v1 = v1.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    let (public, _) = routes::public_routes().split_for_parts();
    let docs = SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json"));
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    Router::new()
        .merge(v1)
        .merge(public)
        .merge(docs)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(drop_malformed_request_id))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                ]))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let id = request
                                .headers()
                                .get(REQUEST_ID_HEADER)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id = %id,
                            )
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn(problem::render_problems))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn_with_state(state.clone(), origin::guard))
                .layer(origin::cors_layer(state.allowed_origins().clone())),
        )
        .with_state(state)
}

/// Whether an incoming request id is kept: 1-128 ASCII letters, digits, `-`, `_`, `.`, `:`.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

async fn drop_malformed_request_id(mut request: Request, next: Next) -> Response {
    let valid = request
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .map(|v| v.to_str().map(is_valid_request_id).unwrap_or(false))
        .collect::<Vec<_>>();
    if valid != [true] && !valid.is_empty() {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ProblemType::NoRoute,
        format!(
            "no route for {method} {}; see /openapi.json or /docs",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ProblemType::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM, for [`server::serve`]'s `shutdown`.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: finishing in-flight requests"),
        () = terminate => tracing::info!("SIGTERM received: finishing in-flight requests"),
    }
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
