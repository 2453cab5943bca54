//! # mlm-client
//!
//! The Rust client of an `mlm` REST server. [`HttpProvider`] implements the core traits
//! ([`mlm_core::Provider`]) over HTTP or HTTPS, so code written against them runs against a
//! remote server unchanged; answers are the core types themselves (one schema, see
//! `docs/architecture.md`). [`protocol`] is the vocabulary both ends share: problem documents
//! and the API's headers.
//!
//! HTTPS works out of the box (rustls with the platform's root certificates, feature `rustls`,
//! on by default); [`HttpProviderBuilder::ca_certificate_pem`] trusts a private CA as well.
//!
//! ```no_run
//! use mlm_client::HttpProvider;
//! use mlm_core::{ModelRegistry, PageRequest};
//!
//! # async fn run() -> mlm_core::Result<()> {
//! let mlm = HttpProvider::builder("https://mlm.internal:8443")
//!     .token(Some("s3cret".into()))
//!     .ca_certificate_pem(std::fs::read("ca.pem").unwrap())
//!     .connect()
//!     .await?;
//! for model in mlm.list_models(PageRequest::first()).await?.items {
//!     println!("{}", model.name);
//! }
//! # Ok(())
//! # }
//! ```

mod body;
pub mod protocol;
mod provider;

pub use provider::{DEFAULT_TIMEOUT, HttpProvider, HttpProviderBuilder};
