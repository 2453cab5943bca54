//! What every handler shares: the provider, the tokens, the body limits, the allowed
//! browser origins and, when the backend keeps them, drift baselines.

use std::sync::Arc;

use mlm_core::Provider;

use crate::auth::Auth;
use crate::origin::AllowedOrigins;

/// Default limit of management request bodies: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default limit of invocation bodies: 6 MiB (SageMaker's real-time payload limit).
pub const DEFAULT_MAX_INVOKE_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Default limit of uploaded archives: 10 GiB (the local artifact store's default too).
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// Request body limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest JSON body of the management routes.
    pub max_body_bytes: usize,
    /// Largest body of `POST /v1/endpoints/{endpoint}/invocations`.
    pub max_invoke_body_bytes: usize,
    /// Largest archive of `POST /v1/models/{model}/artifacts`.
    pub max_artifact_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_invoke_body_bytes: DEFAULT_MAX_INVOKE_BODY_BYTES,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }
}

impl Limits {
    /// Sets both limits.
    pub fn new(max_body_bytes: usize, max_invoke_body_bytes: usize) -> Self {
        Self {
            max_body_bytes,
            max_invoke_body_bytes,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }

    /// Sets the largest uploaded archive.
    pub fn with_max_artifact_bytes(mut self, bytes: u64) -> Self {
        self.max_artifact_bytes = bytes;
        self
    }
}

/// The state of the router: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn Provider>,
    auth: Auth,
    limits: Limits,
    origins: AllowedOrigins,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("provider", &self.inner.provider.name())
            .field("auth", &self.inner.auth)
            .field("limits", &self.inner.limits)
            .field("origins", &self.inner.origins)
            .finish()
    }
}

impl AppState {
    /// State over `provider` with authentication off and default limits.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                auth: Auth::disabled(),
                limits: Limits::default(),
                origins: AllowedOrigins::default(),
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                provider: shared.provider.clone(),
                auth: shared.auth.clone(),
                limits: shared.limits,
                origins: shared.origins.clone(),
            },
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Sets the accepted tokens.
    pub fn with_auth(self, auth: Auth) -> Self {
        self.map(|i| i.auth = auth)
    }

    /// Sets the body limits.
    pub fn with_limits(self, limits: Limits) -> Self {
        self.map(|i| i.limits = limits)
    }

    /// Sets the browser origins allowed besides loopback ones (see [`crate::origin`]).
    pub fn with_allowed_origins(self, origins: AllowedOrigins) -> Self {
        self.map(|i| i.origins = origins)
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.inner.provider
    }

    /// The tokens.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The body limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The browser origins allowed besides loopback ones.
    pub fn allowed_origins(&self) -> &AllowedOrigins {
        &self.inner.origins
    }
}
