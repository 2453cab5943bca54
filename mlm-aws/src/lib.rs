//! # mlm-aws
//!
//! The AWS backend of **mlm**: [`AwsProvider`] implements the `mlm-core` traits on SageMaker
//! (model registry, endpoints, invocation, deployments with guardrails) and CloudWatch (live
//! figures, metric history, alarms).
//!
//! | mlm | AWS |
//! | --- | --- |
//! | model | ModelPackageGroup |
//! | version *n* | ModelPackage version *n* (image, artifact, environment in its InferenceSpecification; approval = `ModelApprovalStatus`) |
//! | endpoint | Endpoint + one EndpointConfig + one SageMaker Model per variant, named deterministically and tagged `mlm:managed=true` |
//! | capacity-only update | `UpdateEndpointWeightsAndCapacities` |
//! | other update | new EndpointConfig + `UpdateEndpoint`, verified afterwards (silent rollbacks are reported in `failure_reason`), superseded models deleted once the endpoint has settled (superseded configs are the deployment history: the newest 20 are kept) |
//! | variant autoscaling | Application Auto Scaling scalable target (`endpoint/<e>/variant/<v>`) + a target-tracking policy, recorded in the config's tags |
//! | overview | DescribeEndpoint (only when `LastModifiedTime` changed or the endpoint is transitional) + batched `GetMetricData` |
//! | alarm | CloudWatch metric alarm `mlm/<endpoint>/<alarm>` on the variant's SageMaker metric, tagged |
//! | dashboard | CloudWatch dashboard `mlm-<endpoint>`: invocations, 4xx/5xx, model latency, per-variant CPU/GPU/memory, the endpoint's alarms; deleted with the endpoint |
//! | deployment | the EndpointConfig of a create or update (`DeploymentConfig` from the policy, rollback alarms in `AutoRollbackConfiguration`); phases from `PendingDeploymentSummary`/`VariantStatus`, the outcome from the config that is live afterwards; history and observed phases kept on the configs' tags |
//!
//! See the module docs of `endpoints`, `deployments`, `alarms`, `dashboards`, `metrics` and `registry` (in
//! the source) for the
//! details, and [`AwsProviderBuilder`] for configuration ([`AwsConfig`] for the settings that
//! belong in a configuration file).
//!
//! ```no_run
//! # async fn run() -> mlm_core::Result<()> {
//! use mlm_core::{EndpointManager, EndpointName};
//! let provider = mlm_aws::AwsProviderBuilder::from_env()
//!     .with_execution_role_arn("arn:aws:iam::123456789012:role/sagemaker-exec")
//!     .build()
//!     .await?;
//! let endpoint = provider.get_endpoint(&EndpointName::new("news")?).await?;
//! println!("{} is {}", endpoint.name, endpoint.status);
//! # Ok(()) }
//! ```
//!
//! AWS SDK types appear in the public API only in the injection seams of the builder
//! ([`AwsProviderBuilder::with_sdk_config`], `with_*_client`, `with_interceptor`).

mod alarms;
mod artifacts;
mod autoscaling;
mod builder;
mod cache;
mod captures;
mod clients;
mod config;
mod dashboards;
mod deployments;
mod drift;
mod endpoints;
mod error;
pub mod instance_types;
mod metrics;
mod naming;
mod pipelines;
mod provider;
mod registry;
mod state;

pub use builder::{AwsProviderBuilder, EXECUTION_ROLE_ENV};
pub use config::AwsConfig;
pub use metrics::MAX_QUERIES_PER_CALL;
pub use provider::AwsProvider;
pub use state::StateFolder;
