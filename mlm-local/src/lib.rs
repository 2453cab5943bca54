//! # mlm-local
//!
//! The embedded mlm backend, and the default: everything runs on this machine, no cloud account
//! needed. State is kept in SQLite; each endpoint instance is a real local process of an
//! operator-configured runtime that speaks SageMaker's serving contract (`GET /ping`,
//! `POST /invocations`); an in-process router spreads invocations over instances by variant
//! weight and least outstanding requests.
//!
//! Updates are deployments: a new configuration starts beside the old one and takes traffic
//! as its policy says (all at once, canary, linear, or rolling batches), watched by rollback
//! alarms that the backend evaluates itself from the endpoint's metric history, with
//! CloudWatch's semantics; on an alarm, or when a user stops it, traffic returns to the old
//! configuration and the new one drains.
//!
//! ```no_run
//! use mlm_core::{CreateModelRequest, ModelName, ModelRegistry};
//! use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};
//!
//! # async fn demo() -> mlm_core::Result<()> {
//! let config = LocalConfig::in_dir(".mlm")
//!     .with_artifact_root("examples")
//!     .with_runtime(
//!         "agnews-classifier",
//!         RuntimeConfig::new("python3", ["-I", "examples/agnews-classifier/serve.py"]),
//!     );
//! let provider = LocalProvider::open(config).await?;
//! provider
//!     .create_model(CreateModelRequest::new(ModelName::new("news")?))
//!     .await?;
//! provider.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod artifacts;
mod capture;
mod config;
mod environment;
mod instance;
mod metrics;
mod provider;
mod router;
pub(crate) mod store;

pub use config::{EXAMPLE_RUNTIME, InstanceProfile, LocalConfig, RuntimeConfig};
pub use environment::{RESERVED_ENV, check_environment};
pub use provider::LocalProvider;
#[cfg(feature = "test-util")]
pub use store::LifecycleEvent;

/// The README's Rust example, compiled as a doc test so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
