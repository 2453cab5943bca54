//! The conformance suite: one contract, checked against every backend.
//!
//! A backend crate calls [`conformance_tests!`](crate::conformance_tests) in an integration test
//! with an async factory that returns a [`Fixture`]; the macro expands to one `#[tokio::test]`
//! per case in [`cases`], so each case passes or fails on its own line. The calling crate needs
//! `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
//!
//! ```text
//! async fn fixture() -> mlm_core::conformance::Fixture { /* start the backend */ }
//! mlm_core::conformance_tests!(fixture);
//! ```
//!
//! Optional features are never skipped silently: when a backend's [`Capabilities`] say it lacks
//! one, the case checks that asking for it fails with `Unsupported` instead.
//!
//! [`Capabilities`]: crate::Capabilities

pub mod cases;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};

use crate::ext::{EndpointManagerExt, ModelRegistryExt, WaitOptions};
use crate::model::Environment;
use crate::names::{AlarmName, EndpointName};
use crate::traits::Provider;

/// A request the backend's models answer, and what the answer must contain.
#[derive(Debug, Clone)]
pub struct SampleInvocation {
    /// MIME type of `body`.
    pub content_type: String,
    /// The payload.
    pub body: Vec<u8>,
    /// A substring the answer must contain.
    pub expected: String,
}

/// Backend-specific steps the suite calls at fixed points.
#[async_trait]
pub trait FixtureHooks: Send + Sync {
    /// Called before each invocation the suite makes (an emulator may queue its answer here).
    async fn before_invoke(&self, _endpoint: &EndpointName, _sample: &SampleInvocation) {}

    /// Called while a version made with [`Fixture::failing_environment`] takes canary traffic
    /// under a rollback alarm on its 5xx answers. A backend whose metrics are real does
    /// nothing; one whose metrics are canned (an emulator) puts the alarm in `ALARM` here, as
    /// the provider's own evaluation of those answers would.
    async fn errors_observed(&self, _endpoint: &EndpointName, _alarm: &AlarmName) {}
}

/// The environment that makes the example runtime answer `500` to every request (see
/// `examples/agnews-classifier/README.md`).
pub const FAILING_ENVIRONMENT: [(&str, &str); 1] = [("MLM_EXAMPLE_ERROR_RATE", "1")];

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("provider", &self.provider.name())
            .field("artifact_uri", &self.artifact_uri)
            .field("image", &self.image)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Everything a case needs: the provider and inputs it accepts.
pub struct Fixture {
    /// The backend under test.
    pub provider: Arc<dyn Provider>,
    /// An artifact URI the backend accepts.
    pub artifact_uri: String,
    /// An image (AWS) or runtime name (local) the backend accepts.
    pub image: String,
    /// Two different instance types the backend accepts.
    pub instance_types: [String; 2],
    /// A request the deployed model answers.
    pub invocation: SampleInvocation,
    /// How long and how often to poll endpoints.
    pub wait: WaitOptions,
    /// Optional backend hooks.
    pub hooks: Option<Arc<dyn FixtureHooks>>,
    /// The environment of a version that answers `5xx` to every request (default
    /// [`FAILING_ENVIRONMENT`]).
    pub failing_environment: Environment,
    /// Where endpoints created with data capture send records (`destination_uri`): an S3
    /// URI on AWS, a label locally. Default `s3://mlm-conformance-captures/captures`.
    pub capture_destination: String,
    /// Whatever must live as long as the test (temp dirs, child processes, servers).
    pub keep_alive: Vec<Box<dyn Any + Send + Sync>>,
    prefix: String,
    counter: AtomicU32,
}

impl Fixture {
    /// A fixture for `provider` with the inputs it accepts.
    pub fn new(
        provider: Arc<dyn Provider>,
        artifact_uri: impl Into<String>,
        image: impl Into<String>,
        instance_types: [String; 2],
        invocation: SampleInvocation,
    ) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Unique per process, fixture and moment, so cases may share one backend.
        let prefix = format!(
            "c{:x}{:x}{:x}",
            std::process::id() % 0xffff,
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos % 0xfffff
        );
        Self {
            provider,
            artifact_uri: artifact_uri.into(),
            image: image.into(),
            instance_types,
            invocation,
            wait: WaitOptions::default(),
            hooks: None,
            failing_environment: FAILING_ENVIRONMENT
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            capture_destination: "s3://mlm-conformance-captures/captures".into(),
            keep_alive: Vec::new(),
            prefix,
            counter: AtomicU32::new(0),
        }
    }

    /// Sets the wait options.
    pub fn with_wait(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }

    /// Sets backend hooks.
    pub fn with_hooks(mut self, hooks: Arc<dyn FixtureHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Sets where data capture sends records.
    pub fn with_capture_destination(mut self, uri: impl Into<String>) -> Self {
        self.capture_destination = uri.into();
        self
    }

    /// Keeps `value` alive for the duration of the test.
    pub fn keep(mut self, value: impl Any + Send + Sync) -> Self {
        self.keep_alive.push(Box::new(value));
        self
    }

    /// A fresh valid resource name starting with `base`.
    pub fn unique(&self, base: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{base}-{}-{n}", self.prefix)
    }

    /// Deletes whatever this fixture's cases created and left behind (every name made by
    /// [`unique`](Self::unique) carries the fixture's prefix), so a failed case leaks nothing
    /// on a real account. Best effort: what cannot be deleted is reported on stderr.
    pub async fn clean_up(&self) {
        let p = &*self.provider;
        let mine = |name: &str| name.contains(&self.prefix);
        // Pipelines first, so none deploys again while their endpoints go.
        let pipelines: Vec<_> = crate::all_pages(|page| p.list_pipelines(page))
            .collect()
            .await;
        for pipeline in pipelines
            .into_iter()
            .flatten()
            .filter(|x| mine(x.spec.pipeline.as_str()))
        {
            let name = &pipeline.spec.pipeline;
            for run in &pipeline.active_runs {
                report(name, p.cancel_run(name, &run.id, "conformance").await);
            }
            report(name, p.delete_pipeline(name).await);
        }
        let endpoints: Vec<_> = p.list_all_endpoints().collect().await;
        for endpoint in endpoints
            .into_iter()
            .flatten()
            .filter(|e| mine(e.name.as_str()))
        {
            let _ = p.wait_until_ready(&endpoint.name, self.wait).await;
            report(&endpoint.name, p.delete_endpoint(&endpoint.name).await);
            report(
                &endpoint.name,
                p.wait_until_deleted(&endpoint.name, self.wait).await,
            );
        }
        let models: Vec<_> = p.list_all_models().collect().await;
        for model in models
            .into_iter()
            .flatten()
            .filter(|m| mine(m.name.as_str()))
        {
            let versions: Vec<_> = p.list_all_versions(&model.name).collect().await;
            for v in versions.into_iter().flatten() {
                report(&model.name, p.delete_version(&model.name, v.version).await);
            }
            report(&model.name, p.delete_model(&model.name).await);
        }
    }
}

fn report<T>(resource: &impl std::fmt::Display, outcome: crate::Result<T>) {
    if let Err(e) = outcome
        && e.kind() != crate::ErrorKind::NotFound
    {
        eprintln!("conformance clean-up of {resource} failed: {e}");
    }
}

/// Runs one case, then [`Fixture::clean_up`] whether it passed or panicked (the panic is then
/// resumed, so the case still fails).
pub async fn run_case<'a, F>(fixture: &'a Fixture, case: impl FnOnce(&'a Fixture) -> F)
where
    F: Future<Output = ()> + 'a,
{
    let outcome = std::panic::AssertUnwindSafe(case(fixture))
        .catch_unwind()
        .await;
    fixture.clean_up().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each built from `$factory().await`.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory;
            model_create_get_round_trip,
            model_create_duplicate_is_already_exists,
            model_get_missing_is_not_found,
            model_delete_missing_is_not_found,
            model_update_changes_only_given_fields,
            model_list_pages_return_each_model_once,
            model_delete_with_versions_is_failed_precondition,
            model_delete_then_get_is_not_found,
            version_numbers_start_at_one_and_increase,
            version_create_get_round_trip,
            version_for_missing_model_is_not_found,
            version_invalid_input_is_invalid_argument,
            version_approval_transitions,
            version_list_pages_return_each_version_once,
            version_get_missing_is_not_found,
            version_delete_then_get_is_not_found,
            endpoint_create_reaches_in_service_with_requested_count,
            endpoint_create_duplicate_is_already_exists,
            endpoint_get_missing_is_not_found,
            endpoint_for_missing_version_is_not_found,
            endpoint_invalid_request_is_invalid_argument,
            endpoint_list_includes_created_endpoints,
            endpoint_scale_up_and_down,
            endpoint_change_instance_type,
            endpoint_deploy_another_version,
            endpoint_traffic_weights_across_two_variants,
            endpoint_update_missing_is_not_found,
            endpoint_delete_then_get_is_not_found,
            version_delete_while_deployed_is_failed_precondition,
            overview_reports_status_and_instance_counts,
            list_overviews_includes_endpoint,
            metrics_on_idle_endpoint_are_empty_series,
            metrics_invalid_query_is_invalid_argument,
            invoke_returns_model_answer,
            invoke_missing_endpoint_is_not_found,
            serverless_variant_or_unsupported,
            deployment_policy_or_unsupported,
            autoscaling_or_unsupported,
            data_capture_records_come_back_or_unsupported,
            deployment_policy_rules_are_invalid_argument,
            alarm_crud_and_state,
            alarm_invalid_or_missing_endpoint,
            every_create_and_update_is_a_deployment,
            canary_update_completes_with_its_phases,
            failing_canary_is_rolled_back_by_its_alarm,
            stopping_a_deployment_rolls_it_back,
            events_timeline_or_unsupported,
            drift_over_captured_traffic_or_unsupported,
            pipeline_promotes_approved_versions_or_unsupported,
            push_packs_uploads_and_registers_a_directory,
            dashboard_or_unsupported,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $factory().await;
                $crate::conformance::run_case(&fixture, $crate::conformance::cases::$case).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every public case in `cases.rs` is registered in [`conformance_tests!`], so none is
    /// silently left out of the suite, and nothing registered is missing.
    #[test]
    fn every_case_is_registered() {
        let defined: std::collections::BTreeSet<&str> = include_str!("cases.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split_once("(fx: &Fixture)").map(|(name, _)| name))
            .collect();
        let this = include_str!("mod.rs");
        let start = this
            .find("$crate::__conformance_cases!(")
            .expect("the case list");
        let end = start + this[start..].find(");").expect("its end");
        let registered: std::collections::BTreeSet<&str> = this[start..end]
            .lines()
            .skip(2)
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty())
            .collect();
        assert!(defined.len() >= 38, "{defined:?}");
        assert_eq!(defined, registered);
    }
}
