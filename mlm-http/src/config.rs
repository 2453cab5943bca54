//! The `[server]` section of the `mlm` configuration file (TOML) and the startup rules it
//! implies.
//!
//! ```toml
//! [server]
//! bind = "127.0.0.1:8080"
//! tokens = [{ token = "an-operator-token-0123", role = "operator" }]
//! token_env = "MLM_TOKENS"          # default; holds "token:role,token:role"
//! max_body_bytes = 1048576          # JSON bodies (1 MiB)
//! max_invoke_body_bytes = 6291456   # invocation bodies (6 MiB)
//! max_artifact_bytes = 10737418240  # uploaded model archives (10 GiB)
//! header_read_timeout_secs = 10     # a started request head must arrive within this
//! idle_timeout_secs = 60            # a connection without a request in progress closes
//! max_connections = 512             # default: half the open-file limit (at most 16384)
//! cors_allowed_origins = ["https://ui.example.com"]  # besides loopback origins
//! tls_cert = "/etc/mlm/cert.pem"    # HTTPS: certificate chain (PEM), the server's first
//! tls_key = "/etc/mlm/key.pem"      # and its private key (PEM); both or neither
//! ```
//!
//! `tls_cert` and `tls_key` (or `mlm serve --tls-cert/--tls-key`, each overriding its key)
//! make the server terminate TLS itself ([`crate::tls`]); relative paths are read from the
//! working directory. Both files are read and checked at start-up: a missing or unreadable
//! file, one without a PEM certificate or private key, or a key that does not belong to the
//! certificate stops the server with an error naming the file. The files are not re-read while
//! it runs: restart it to pick up a renewed certificate.
//!
//! Tokens on a non-loopback address without TLS are allowed, with a loud warning at start-up
//! ([`cleartext_token_warning`]): they would cross the network in clear text, which is only
//! right behind a TLS-terminating proxy on the same host.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{ApiToken, Auth, AuthConfigError, Role, parse_token_list};
use crate::origin::AllowedOrigins;
use crate::server::{
    ConnectionLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, default_max_connections,
};
use crate::state::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INVOKE_BODY_BYTES, Limits};
use crate::tls::TlsIdentity;

/// The address served when neither the file nor `--bind` says.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The environment variable read for tokens unless `token_env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "MLM_TOKENS";

/// One token in the configuration file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret (at least 16 visible ASCII characters, no `,` or `:`).
    pub token: String,
    /// What it may do.
    pub role: Role,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`; `--bind` overrides).
    #[serde(default)]
    pub bind: Option<SocketAddr>,
    /// Accepted tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Environment variable with more tokens as `token:role,token:role` (default
    /// `MLM_TOKENS`; when set explicitly, the variable must exist).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Largest JSON request body, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Largest invocation body, in bytes (default 6 MiB).
    #[serde(default)]
    pub max_invoke_body_bytes: Option<usize>,
    /// Largest uploaded model archive, in bytes (default 10 GiB).
    #[serde(default)]
    pub max_artifact_bytes: Option<u64>,
    /// Seconds a client has to send a whole request head once its first byte has arrived
    /// (default 10); slower connections are closed.
    #[serde(default)]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a connection may stay open with no request in progress and no bytes moving, and
    /// a request body may stall (default 60).
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// Open connections at most (default: half the open-file limit, at most 16384); must be
    /// below the open-file limit. At the cap, new connections wait until one closes.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Browser origins (`https://ui.example.com`) that may call the API and get CORS answers,
    /// besides loopback ones; without tokens, other origins are refused.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// PEM file with the certificate chain to serve HTTPS with, the server's certificate first
    /// (`--tls-cert` overrides); needs `tls_key`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert`'s certificate (`--tls-key` overrides);
    /// needs `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// A configuration the server refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl From<AuthConfigError> for ConfigError {
    fn from(e: AuthConfigError) -> Self {
        Self(e.0)
    }
}

impl ServerConfig {
    /// The body limits.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let body = self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let invoke = self
            .max_invoke_body_bytes
            .unwrap_or(DEFAULT_MAX_INVOKE_BODY_BYTES);
        let artifact = self
            .max_artifact_bytes
            .unwrap_or(crate::state::DEFAULT_MAX_ARTIFACT_BYTES);
        if body == 0 || invoke == 0 || artifact == 0 {
            return Err(ConfigError(
                "max_body_bytes, max_invoke_body_bytes and max_artifact_bytes must be greater \
                 than 0"
                    .into(),
            ));
        }
        Ok(Limits::new(body, invoke).with_max_artifact_bytes(artifact))
    }

    /// The connection timeouts and cap for a process that may open `fd_limit` files.
    pub fn connection_limits(&self, fd_limit: u64) -> Result<ConnectionLimits, ConfigError> {
        let secs = |value: Option<u64>, default: Duration, key: &str| match value {
            None => Ok(default),
            Some(0) => Err(ConfigError(format!("{key} must be greater than 0"))),
            Some(n) => Ok(Duration::from_secs(n)),
        };
        let max_connections = match self.max_connections {
            None => default_max_connections(fd_limit),
            Some(0) => return Err(ConfigError("max_connections must be greater than 0".into())),
            // Connections at the fd limit would starve the backend of descriptors.
            Some(n) if n as u64 >= fd_limit => {
                return Err(ConfigError(format!(
                    "max_connections {n} must be below the open-file limit ({fd_limit}), which \
                     the backend's processes, logs and sockets share: lower it or raise the \
                     limit (ulimit -n)"
                )));
            }
            Some(n) => n,
        };
        Ok(ConnectionLimits {
            header_read_timeout: secs(
                self.header_read_timeout_secs,
                DEFAULT_HEADER_READ_TIMEOUT,
                "header_read_timeout_secs",
            )?,
            idle_timeout: secs(
                self.idle_timeout_secs,
                DEFAULT_IDLE_TIMEOUT,
                "idle_timeout_secs",
            )?,
            max_connections,
        })
    }

    /// The browser origins allowed besides loopback ones.
    pub fn allowed_origins(&self) -> Result<AllowedOrigins, ConfigError> {
        AllowedOrigins::new(&self.cors_allowed_origins)
            .map_err(|e| ConfigError(format!("[server] cors_allowed_origins: {e}")))
    }

    /// The tokens from the file and from the token environment variable, read with `env`.
    pub fn auth(&self, env: impl Fn(&str) -> Option<String>) -> Result<Auth, ConfigError> {
        let mut tokens = self
            .tokens
            .iter()
            .map(|t| ApiToken::new(&t.token, t.role))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError(format!("[server] tokens: {e}")))?;
        let var = self.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV);
        match env(var) {
            Some(list) => tokens
                .extend(parse_token_list(&list).map_err(|e| ConfigError(format!("{var}: {e}")))?),
            None if self.token_env.is_some() => {
                return Err(ConfigError(format!(
                    "[server] token_env names {var}, but {var} is not set"
                )));
            }
            None => {}
        }
        Ok(Auth::new(tokens))
    }

    /// The certificate and key files to serve HTTPS with, `cli_cert`/`cli_key` (the command
    /// line's) overriding the file's: `None` for plain HTTP, an error when only one is set.
    pub fn tls_files(
        &self,
        cli_cert: Option<&Path>,
        cli_key: Option<&Path>,
    ) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
        let cert = cli_cert.or(self.tls_cert.as_deref());
        let key = cli_key.or(self.tls_key.as_deref());
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some((cert.to_path_buf(), key.to_path_buf()))),
            (Some(_), None) => Err(ConfigError(
                "tls_cert is set but tls_key is not: HTTPS needs the certificate's private key                  too ([server] tls_key or --tls-key), or neither for plain HTTP"
                    .into(),
            )),
            (None, Some(_)) => Err(ConfigError(
                "tls_key is set but tls_cert is not: HTTPS needs the certificate chain too                  ([server] tls_cert or --tls-cert), or neither for plain HTTP"
                    .into(),
            )),
        }
    }

    /// The TLS identity to serve HTTPS with ([`tls_files`](Self::tls_files), read and
    /// checked), or `None` for plain HTTP.
    pub fn tls(
        &self,
        cli_cert: Option<&Path>,
        cli_key: Option<&Path>,
    ) -> Result<Option<TlsIdentity>, ConfigError> {
        self.tls_files(cli_cert, cli_key)?
            .map(|(cert, key)| TlsIdentity::from_pem_files(&cert, &key))
            .transpose()
    }

    /// The address to serve: `cli` if given, else the file's, else the default.
    pub fn bind(&self, cli: Option<SocketAddr>) -> SocketAddr {
        cli.or(self.bind)
            .unwrap_or_else(|| DEFAULT_BIND.parse().expect("the default address parses"))
    }
}

/// Refuses a non-loopback address without authentication. An IPv4-mapped IPv6 address
/// (`[::ffff:127.0.0.1]`) is judged as the IPv4 address it carries.
pub fn check_exposure(addr: SocketAddr, auth: &Auth) -> Result<(), ConfigError> {
    if auth.is_enabled() || addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "refusing to listen on {addr} without authentication: configure tokens ([server] tokens \
         in the config file, or {DEFAULT_TOKEN_ENV}=\"token:operator\") or bind a loopback \
         address such as 127.0.0.1"
    )))
}

/// The warning to give at start-up when bearer tokens would cross the network in clear text:
/// tokens are configured, the address is not loopback and TLS is off. `None` otherwise.
pub fn cleartext_token_warning(addr: SocketAddr, auth: &Auth, tls: bool) -> Option<String> {
    if !auth.is_enabled() || tls || addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "serving plain HTTP on {addr} with bearer tokens: tokens and data cross the network in \
         CLEAR TEXT, where anyone on the path can read and replay them. Set [server] tls_cert \
         and tls_key (or --tls-cert/--tls-key) to serve HTTPS, or bind 127.0.0.1 behind a \
         TLS-terminating proxy"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_file_and_env() {
        let config: ServerConfig = toml::from_str(
            r#"
            tokens = [{ token = "file-token-0123456789", role = "reader" }]
            "#,
        )
        .unwrap();
        let auth = config
            .auth(|v| (v == "MLM_TOKENS").then(|| "env-token-0123456789:operator".into()))
            .unwrap();
        assert_eq!(auth.role_of("file-token-0123456789"), Some(Role::Reader));
        assert_eq!(auth.role_of("env-token-0123456789"), Some(Role::Operator));
        assert!(config.auth(|_| None).unwrap().role_of("x").is_none());
    }

    #[test]
    fn explicit_token_env_must_exist() {
        let config = ServerConfig {
            token_env: Some("MY_TOKENS".into()),
            ..ServerConfig::default()
        };
        let err = config.auth(|_| None).unwrap_err();
        assert!(err.0.contains("MY_TOKENS is not set"), "{err}");
    }

    #[test]
    fn connection_limits_have_defaults_and_refuse_zero() {
        let limits = ServerConfig::default().connection_limits(256).unwrap();
        assert_eq!(limits.max_connections, 128);
        assert_eq!(limits.header_read_timeout, DEFAULT_HEADER_READ_TIMEOUT);
        assert_eq!(limits.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        let config: ServerConfig = toml::from_str(
            "header_read_timeout_secs = 2\nidle_timeout_secs = 3\nmax_connections = 100",
        )
        .unwrap();
        let limits = config.connection_limits(256).unwrap();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(limits.idle_timeout, Duration::from_secs(3));
        assert_eq!(limits.max_connections, 100);
        for bad in [
            "header_read_timeout_secs = 0",
            "idle_timeout_secs = 0",
            "max_connections = 0",
            "max_connections = 256",
        ] {
            let config: ServerConfig = toml::from_str(bad).unwrap();
            let err = config.connection_limits(256).unwrap_err();
            assert!(
                err.0.contains(bad.split(' ').next().unwrap()),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ServerConfig>("bindd = \"x\"").is_err());
    }

    #[test]
    fn exposure_rules() {
        let open = Auth::disabled();
        assert!(check_exposure("127.0.0.1:1".parse().unwrap(), &open).is_ok());
        assert!(check_exposure("[::1]:1".parse().unwrap(), &open).is_ok());
        // IPv4-mapped IPv6 loopback is loopback; a mapped public address is not.
        assert!(check_exposure("[::ffff:127.0.0.1]:1".parse().unwrap(), &open).is_ok());
        assert!(check_exposure("[::ffff:10.0.0.1]:1".parse().unwrap(), &open).is_err());
        let err = check_exposure("0.0.0.0:8080".parse().unwrap(), &open).unwrap_err();
        assert!(err.0.contains("without authentication"), "{err}");
        let closed = Auth::new(parse_token_list("a-long-token-0123456789:reader").unwrap());
        assert!(check_exposure("0.0.0.0:8080".parse().unwrap(), &closed).is_ok());
    }

    #[test]
    fn cleartext_tokens_on_the_network_are_warned_about() {
        let open = Auth::disabled();
        let closed = Auth::new(parse_token_list("a-long-token-0123456789:reader").unwrap());
        let public = "0.0.0.0:8080".parse().unwrap();
        let warning = cleartext_token_warning(public, &closed, false).unwrap();
        assert!(
            warning.contains("CLEAR TEXT") && warning.contains("tls_cert"),
            "{warning}"
        );
        // TLS on, loopback (mapped too), or no tokens to leak: nothing to say.
        assert!(cleartext_token_warning(public, &closed, true).is_none());
        for loopback in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(cleartext_token_warning(loopback.parse().unwrap(), &closed, false).is_none());
        }
        assert!(
            cleartext_token_warning("[::ffff:10.0.0.1]:1".parse().unwrap(), &closed, false)
                .is_some()
        );
        assert!(cleartext_token_warning(public, &open, false).is_none());
    }

    #[test]
    fn tls_needs_both_files() {
        let none = ServerConfig::default();
        assert_eq!(none.tls_files(None, None).unwrap(), None);
        assert!(none.tls(None, None).unwrap().is_none());
        let cert_only: ServerConfig = toml::from_str("tls_cert = \"cert.pem\"").unwrap();
        let err = cert_only.tls(None, None).unwrap_err();
        assert!(err.0.contains("tls_key is not"), "{err}");
        let key_only: ServerConfig = toml::from_str("tls_key = \"key.pem\"").unwrap();
        let err = key_only.tls_files(None, None).unwrap_err();
        assert!(err.0.contains("tls_cert is not"), "{err}");
        // The command line completes or overrides the file, key by key.
        let (cert, key) = cert_only
            .tls_files(None, Some(Path::new("cli-key.pem")))
            .unwrap()
            .unwrap();
        assert_eq!(
            (cert.as_path(), key.as_path()),
            (Path::new("cert.pem"), Path::new("cli-key.pem"))
        );
        let (cert, _) = cert_only
            .tls_files(Some(Path::new("cli.pem")), Some(Path::new("k.pem")))
            .unwrap()
            .unwrap();
        assert_eq!(cert, Path::new("cli.pem"));
    }

    #[test]
    fn tls_files_are_read_at_startup() {
        let dir = std::env::temp_dir().join(format!("mlm-tls-config-{}", std::process::id()));
        let config = ServerConfig {
            tls_cert: Some(dir.join("absent-cert.pem")),
            tls_key: Some(dir.join("absent-key.pem")),
            ..ServerConfig::default()
        };
        let err = config.tls(None, None).unwrap_err();
        assert!(
            err.0.starts_with("tls_cert: cannot read ") && err.0.contains("absent-cert.pem"),
            "{err}"
        );
    }
}
