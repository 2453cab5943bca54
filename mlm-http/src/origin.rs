//! What browsers may do: the `Host` and `Origin` checks of a server without tokens (against DNS
//! rebinding and cross-site requests), and CORS for the origins allowed.
//!
//! Without tokens, anything that can reach the loopback port can use the API, and a browser
//! can be made to: a page on `evil.example` whose name later resolves to 127.0.0.1 (DNS
//! rebinding) sends `Host: evil.example`, and a page that posts across origins (a form, or a
//! `text/plain` fetch that needs no preflight) sends its own `Origin`. So, with no tokens:
//!
//! - a `Host` that is not a loopback name (`localhost`, `localhost.`, `127.x.y.z`, `[::1]`,
//!   `[::ffff:127.x.y.z]`, with or without a port) is a `421 host_not_allowed`; a request with
//!   no `Host` at all (HTTP/1.0 tools) cannot come from a browser and passes;
//! - an `Origin` that is neither a loopback origin nor listed in `[server]
//!   cors_allowed_origins` is a `403 origin_not_allowed` (`Origin: null` included).
//!
//! With tokens neither check applies: a bearer token is not an ambient credential a browser
//! adds on its own. Either way, CORS answers (and preflights) are given to loopback origins and
//! the listed ones only.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header, uri::Authority};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::problem::{ApiError, ProblemType, REQUEST_ID_HEADER};
use crate::routes::endpoints::{TARGET_VARIANT_HEADER, VARIANT_HEADER};
use crate::state::AppState;

/// Browser origins allowed besides loopback ones, as `scheme://host[:port]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// The origins in `list`; an entry that is not `http(s)://host[:port]` is an error.
    pub fn new<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Result<Self, String> {
        list.into_iter()
            .map(|entry| {
                let entry = entry.as_ref();
                normalize_origin(entry).ok_or_else(|| {
                    format!(
                        "'{entry}' is not an origin: write scheme://host[:port], e.g. \
                         https://ui.example.com (no path, no '*')"
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(AllowedOrigins)
    }

    /// Whether a browser request with `Origin: origin` may use the API.
    pub fn allows(&self, origin: &str) -> bool {
        is_loopback_origin(origin) || normalize_origin(origin).is_some_and(|o| self.0.contains(&o))
    }
}

/// `scheme://host[:port]` in lowercase without a default port, if `origin` is one.
fn normalize_origin(origin: &str) -> Option<String> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    if !matches!(scheme.as_str(), "http" | "https") || !bare || authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    let default_port = if scheme == "http" { 80 } else { 443 };
    Some(match authority.port_u16().filter(|p| *p != default_port) {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Whether `host` (a `Host` header: a name or address, maybe with a port) names this machine
/// over loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let Ok(authority) = host.parse::<Authority>() else {
        return false;
    };
    if authority.as_str().contains('@') {
        return false;
    }
    let name = authority.host();
    if name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether `origin` is `http(s)://` a loopback host.
pub fn is_loopback_origin(origin: &str) -> bool {
    normalize_origin(origin)
        .and_then(|o| o.split_once("://").map(|(_, host)| is_loopback_host(host)))
        .unwrap_or(false)
}

/// Middleware: without tokens, refuses non-loopback `Host`s and foreign `Origin`s.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.auth().is_enabled() {
        return next.run(request).await;
    }
    let host = match request.headers().get(header::HOST) {
        Some(value) => Some(value.to_str().unwrap_or("")),
        None => request.uri().authority().map(Authority::as_str),
    };
    if let Some(host) = host.filter(|h| !is_loopback_host(h)) {
        return ApiError::new(
            ProblemType::HostNotAllowed,
            format!(
                "this server has authentication off and answers only requests addressed to a \
                 loopback name (localhost, 127.0.0.1, [::1]), not '{host}'; configure tokens to \
                 serve other names"
            ),
        )
        .into_response();
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !state.allowed_origins().allows(origin) {
            return ApiError::new(
                ProblemType::OriginNotAllowed,
                format!(
                    "browser requests from origin '{origin}' are refused: this server has \
                     authentication off and accepts only loopback origins and those in \
                     [server] cors_allowed_origins"
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// CORS for loopback origins and `origins`: the methods and headers the API uses.
pub fn cors_layer(origins: AllowedOrigins) -> CorsLayer {
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        origin.to_str().is_ok_and(|o| origins.allows(o))
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(TARGET_VARIANT_HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(VARIANT_HEADER),
        ])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "0.0.0.0",
            "[::2]",
            "[::ffff:10.0.0.1]",
            "user@localhost",
            "",
            "local host",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(is_loopback_origin("http://localhost:3000"));
        assert!(is_loopback_origin("https://127.0.0.1"));
        assert!(is_loopback_origin("http://[::1]:8080"));
        for bad in [
            "null",
            "http://evil.example",
            "file://",
            "ftp://localhost",
            "",
        ] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
        let list =
            AllowedOrigins::new(["https://UI.example.com:443", "http://a.example:8080"]).unwrap();
        assert!(list.allows("https://ui.example.com"));
        assert!(list.allows("http://a.example:8080"));
        assert!(!list.allows("http://a.example"));
        assert!(!list.allows("https://ui.example.com.evil"));
        assert!(list.allows("http://localhost:5173"));
        for bad in ["*", "ui.example.com", "https://ui.example.com/app", "null"] {
            assert!(AllowedOrigins::new([bad]).is_err(), "{bad}");
        }
    }
}
