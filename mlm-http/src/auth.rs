//! Bearer-token authentication with two roles.
//!
//! Tokens come from the config file (`[server] tokens = [{ token, role }]`) and from an
//! environment variable (`MLM_TOKENS` unless `[server] token_env` names another) holding
//! `token:role` pairs separated by commas, e.g. `MLM_TOKENS="s3cr3t-0123456789ab:operator,
//! r3ad-0123456789abcd:reader"`. A token is at least [`MIN_TOKEN_LEN`] visible ASCII characters
//! without `,`, `:` or spaces.
//!
//! - `reader` may use `GET` and `HEAD` only (so it cannot invoke endpoints);
//! - `operator` may do everything.
//!
//! Tokens are compared in constant time: both sides are hashed with SHA-256 and the digests
//! compared with [`subtle`], so neither content nor length leaks through timing.

use std::fmt;
use std::str::FromStr;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{ApiError, ProblemType};
use crate::state::AppState;

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read-only: `GET` and `HEAD`.
    Reader,
    /// Everything.
    Operator,
}

impl Role {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Operator => "operator",
        }
    }

    /// Whether this role may make a request with `method`.
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Self::Operator => true,
            Self::Reader => method == Method::GET || method == Method::HEAD,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reader" => Ok(Self::Reader),
            "operator" => Ok(Self::Operator),
            other => Err(AuthConfigError(format!(
                "role '{other}' is not reader or operator"
            ))),
        }
    }
}

/// A token configuration problem, with a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(pub String);

/// One accepted token (only its SHA-256 digest is kept).
#[derive(Clone)]
pub struct ApiToken {
    digest: [u8; 32],
    role: Role,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl ApiToken {
    /// A token with `role`; fails when the token is too short or has forbidden characters.
    pub fn new(token: &str, role: Role) -> Result<Self, AuthConfigError> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(AuthConfigError(format!(
                "a {role} token is {} characters long: tokens need at least {MIN_TOKEN_LEN}",
                token.len()
            )));
        }
        if let Some(bad) = token
            .chars()
            .find(|c| !c.is_ascii_graphic() || *c == ',' || *c == ':')
        {
            return Err(AuthConfigError(format!(
                "a {role} token contains {bad:?}: use visible ASCII without ',' and ':'"
            )));
        }
        Ok(Self {
            digest: digest(token),
            role,
        })
    }

    /// The token's role.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// Parses `token:role` pairs separated by commas (the `MLM_TOKENS` format). Empty entries are
/// ignored.
pub fn parse_token_list(list: &str) -> Result<Vec<ApiToken>, AuthConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (token, role) = entry.rsplit_once(':').ok_or_else(|| {
                AuthConfigError(
                    "a token entry has no role: write token:reader or token:operator".into(),
                )
            })?;
            ApiToken::new(token.trim(), role.parse()?)
        })
        .collect()
}

/// The tokens a server accepts; empty means authentication is off.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<ApiToken>,
}

impl Auth {
    /// Authentication with these tokens (none: off).
    pub fn new(tokens: Vec<ApiToken>) -> Self {
        Self { tokens }
    }

    /// No authentication.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether any token is configured.
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The role of `token`, if it is one of ours. Every configured token is compared.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let candidate = digest(token);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&candidate)) {
                found = Some(t.role);
            }
        }
        found
    }

    /// Authenticates and authorises a request with `method` and `Authorization` header value,
    /// and says who called.
    pub fn authorize(
        &self,
        method: &Method,
        authorization: Option<&str>,
    ) -> Result<Caller, ApiError> {
        if !self.is_enabled() {
            return Ok(Caller::anonymous());
        }
        let Some(value) = authorization else {
            return Err(ApiError::unauthenticated(
                "this request needs a bearer token: send Authorization: Bearer <token>",
                false,
            ));
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(ApiError::unauthenticated(
                    "the Authorization header must use the Bearer scheme: Bearer <token>",
                    false,
                ));
            }
        };
        let role = self.role_of(token).ok_or_else(|| {
            ApiError::unauthenticated("the bearer token is not valid for this server", true)
        })?;
        if !role.allows(method) {
            return Err(ApiError::new(
                ProblemType::Kind(mlm_core::ErrorKind::PermissionDenied),
                format!("a {role} token may only read (GET); {method} needs an operator token"),
            ));
        }
        Ok(Caller(format!("user:{role}")))
    }
}

/// Who called, as a pipeline's timeline records it: `user:<role>` (`user:operator`), or
/// `user:anonymous` with authentication off. [`require_token`] puts it in the request's
/// extensions; as an extractor it reads it from there (anonymous if absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

impl Caller {
    /// The caller of a server without tokens.
    pub fn anonymous() -> Self {
        Self("user:anonymous".into())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(Self::anonymous))
    }
}

/// Middleware on the `/v1` routes: checks the bearer token and the role.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match state.auth().authorize(request.method(), authorization) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: &str = "operator-token-0123456789";
    const RD: &str = "reader-token-0123456789";

    fn auth() -> Auth {
        Auth::new(parse_token_list(&format!("{OP}:operator, {RD}:Reader,")).unwrap())
    }

    #[test]
    fn token_list_format() {
        assert_eq!(auth().tokens.len(), 2);
        assert!(parse_token_list("short:operator").is_err());
        assert!(parse_token_list("operator-token-0123456789").is_err());
        assert!(parse_token_list("operator-token-0123456789:admin").is_err());
        assert!(parse_token_list("").unwrap().is_empty());
        assert!(!format!("{:?}", auth().tokens).contains(OP));
    }

    #[test]
    fn roles() {
        let a = auth();
        assert_eq!(a.role_of(OP), Some(Role::Operator));
        assert_eq!(a.role_of(RD), Some(Role::Reader));
        assert_eq!(a.role_of("nope"), None);
        assert!(
            a.authorize(&Method::GET, Some(&format!("Bearer {RD}")))
                .is_ok()
        );
        assert!(
            a.authorize(&Method::HEAD, Some(&format!("bearer {RD}")))
                .is_ok()
        );
        let e = a
            .authorize(&Method::POST, Some(&format!("Bearer {RD}")))
            .unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(
            a.authorize(&Method::DELETE, Some(&format!("Bearer {OP}")))
                .unwrap(),
            Caller("user:operator".into())
        );
        assert_eq!(a.authorize(&Method::GET, None).unwrap_err().status(), 401);
        assert_eq!(
            a.authorize(&Method::GET, Some(&format!("Basic {OP}")))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            Auth::disabled().authorize(&Method::POST, None).unwrap(),
            Caller::anonymous()
        );
    }
}
