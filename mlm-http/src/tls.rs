//! HTTPS for `mlm serve`: the certificate chain and private key (PEM) the server terminates
//! TLS with, read once at start-up with errors an operator can act on.
//!
//! rustls with the `ring` provider (chosen explicitly, whatever else the build enables),
//! TLS 1.2 and 1.3, ALPN `http/1.1` (the server speaks HTTP/1.1 only), no client
//! certificates. The certificate file holds the server's certificate first, then any
//! intermediates; the key file holds its private key (PKCS#8, PKCS#1 or SEC1).
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use mlm_http::server::{ConnectionLimits, serve_tls};
//! use mlm_http::tls::TlsIdentity;
//! let tls = TlsIdentity::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! serve_tls(listener, app, ConnectionLimits::default(), tls, std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;

/// A certificate chain and its private key, ready to accept TLS connections.
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<rustls::ServerConfig>,
    /// Certificates in the chain (the server's own first).
    chain_len: usize,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain_len", &self.chain_len)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Reads the certificate chain from `cert` and the private key from `key`, both PEM
    /// files, and checks that they belong together. Errors name the file (as `tls_cert` /
    /// `tls_key`) and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, ConfigError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| ConfigError(format!("{what}: cannot read {}: {e}", path.display())))
        };
        let cert_pem = read(cert, "tls_cert")?;
        let key_pem = read(key, "tls_key")?;
        Self::from_pem_named(
            &cert_pem,
            &key_pem,
            &format!("tls_cert {}", cert.display()),
            &format!("tls_key {}", key.display()),
        )
    }

    /// [`from_pem_files`](Self::from_pem_files) with the PEM text itself.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, ConfigError> {
        Self::from_pem_named(cert_pem, key_pem, "tls_cert", "tls_key")
    }

    fn from_pem_named(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_name: &str,
        key_name: &str,
    ) -> Result<Self, ConfigError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError(format!("{cert_name} is not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(ConfigError(format!(
                "{cert_name} holds no certificate (expected PEM text with a \
                 -----BEGIN CERTIFICATE----- section)"
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            pem::Error::NoItemsFound => ConfigError(format!(
                "{key_name} holds no private key (expected PEM text with a -----BEGIN PRIVATE \
                 KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY section)"
            )),
            e => ConfigError(format!("{key_name} is not valid PEM: {e}")),
        })?;
        let chain_len = chain.len();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError(format!("cannot set up TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    ConfigError(format!(
                        "{key_name} does not belong to the certificate in {cert_name} (their \
                         public keys differ; the certificate file must start with the server's \
                         own certificate)"
                    ))
                }
                e => ConfigError(format!("cannot use {cert_name} with {key_name}: {e}")),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            chain_len,
        })
    }

    /// How many certificates the chain holds (the server's own first).
    pub fn chain_len(&self) -> usize {
        self.chain_len
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn err(cert: &str, key: &str) -> String {
        TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes())
            .unwrap_err()
            .0
    }

    #[test]
    fn a_matching_pair_loads() {
        let (cert, key) = pair();
        let tls = TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(tls.chain_len(), 1);
        assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let e = err(&cert, &other_key);
        assert!(
            e.contains("tls_key does not belong to the certificate"),
            "{e}"
        );
        // The files swapped: neither holds what it should.
        let e = err(&key, &key);
        assert!(e.contains("tls_cert holds no certificate"), "{e}");
        let e = err(&cert, &cert);
        assert!(e.contains("tls_key holds no private key"), "{e}");
        let e = err("not PEM at all", &key);
        assert!(e.contains("tls_cert holds no certificate"), "{e}");
        let e = err(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            &key,
        );
        assert!(e.contains("tls_cert is not valid PEM"), "{e}");
        let e = err(&cert, "-----BEGIN PRIVATE KEY-----\nMIIB\n");
        assert!(e.contains("tls_key is not valid PEM"), "{e}");
    }

    #[test]
    fn files_are_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        TlsIdentity::from_pem_files(&cert_path, &key_path).unwrap();
        let missing = dir.path().join("missing.pem");
        let e = TlsIdentity::from_pem_files(&cert_path, &missing)
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("tls_key: cannot read ") && e.contains("missing.pem"),
            "{e}"
        );
        let e = TlsIdentity::from_pem_files(&key_path, &key_path)
            .unwrap_err()
            .0;
        assert!(
            e.starts_with(&format!(
                "tls_cert {} holds no certificate",
                key_path.display()
            )),
            "{e}"
        );
    }
}
