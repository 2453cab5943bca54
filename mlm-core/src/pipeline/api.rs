//! The [`Pipelines`] trait a backend offers, and the narrow [`PipelineStore`] it implements
//! the trait with: the engine ([`super::engine`]) is the core's, the records are the
//! backend's.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::run::{PipelineRecord, PipelineRun};
use super::spec::PipelineSpec;
use super::Pipeline;
use crate::error::Result;
use crate::names::{ModelName, PipelineName, StageName};
use crate::page::{Page, PageRequest};

/// Who asks, as the timeline records it: `user:<name>`, or `pipeline` for the engine.
pub const ENGINE_ACTOR: &str = "pipeline";

/// Promotion pipelines: apply, read, promote, cancel. Backends without a place for pipeline
/// state answer `Unsupported`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Pipelines: Send + Sync {
    /// Creates or replaces a pipeline and returns the plan (what each stage will create or
    /// change); with `dry_run` nothing is kept. `InvalidArgument` names the field.
    async fn apply_pipeline(&self, request: ApplyPipelineRequest) -> Result<PipelinePlan>;
    /// A pipeline with what each stage serves and its runs. `NotFound` if missing.
    async fn get_pipeline(&self, name: &PipelineName) -> Result<Pipeline>;
    /// Pipelines by name.
    async fn list_pipelines(&self, page: PageRequest) -> Result<Page<Pipeline>>;
    /// Deletes a pipeline and its runs; its endpoints stay. `FailedPrecondition` while a run
    /// is deploying.
    async fn delete_pipeline(&self, name: &PipelineName) -> Result<()>;
    /// A pipeline's runs, newest version first.
    async fn list_runs(&self, pipeline: &PipelineName, page: PageRequest)
    -> Result<Page<PipelineRun>>;
    /// One run (`v<version>`).
    async fn get_run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun>;
    /// The approval of `model`'s `version` (a registry event): queues one run in each
    /// pipeline of the model, once; delivered again it returns the same runs.
    /// `FailedPrecondition` if the version is not approved.
    async fn version_approved(&self, event: ApprovalEvent) -> Result<Vec<PipelineRun>>;
    /// Lets a run awaiting promotion into `stage` go on. `Conflict` with the reason when the
    /// version failed, was superseded, or waits for another stage.
    async fn promote(&self, request: PromoteRequest) -> Result<PipelineRun>;
    /// Cancels a run: a running deployment is stopped and rolled back. `FailedPrecondition`
    /// once it has ended.
    async fn cancel_run(&self, pipeline: &PipelineName, id: &str, actor: &str)
    -> Result<PipelineRun>;
}

/// Apply a pipeline.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApplyPipelineRequest {
    /// The pipeline (smoke tests inline).
    pub spec: PipelineSpec,
    /// Plan only.
    pub dry_run: bool,
}

impl ApplyPipelineRequest {
    /// Apply `spec`.
    pub fn new(spec: PipelineSpec) -> Self {
        Self {
            spec,
            dry_run: false,
        }
    }

    /// Plan only.
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }
}

/// A version was approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalEvent {
    /// The model.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub model: ModelName,
    /// The version.
    pub version: u32,
    /// Who approved it (`user:<name>`, `registry`).
    #[serde(default = "registry_actor")]
    pub actor: String,
}

fn registry_actor() -> String {
    "registry".into()
}

impl ApprovalEvent {
    /// `model`'s `version` was approved in the registry.
    pub fn new(model: ModelName, version: u32) -> Self {
        Self {
            model,
            version,
            actor: registry_actor(),
        }
    }
}

/// Promote a version into a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PromoteRequest {
    /// The pipeline.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pipeline: PipelineName,
    /// The version.
    pub version: u32,
    /// The stage it enters.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage: StageName,
    /// Who promotes it.
    pub actor: String,
}

impl PromoteRequest {
    /// `actor` promotes `version` into `stage` of `pipeline`.
    pub fn new(
        pipeline: PipelineName,
        version: u32,
        stage: StageName,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            pipeline,
            version,
            stage,
            actor: actor.into(),
        }
    }
}

/// What applying a pipeline does, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PipelinePlan {
    /// The pipeline.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pipeline: PipelineName,
    /// Nothing was kept: the plan only.
    pub dry_run: bool,
    /// `created`, `updated` or `unchanged`.
    pub action: String,
    /// Each stage: what its next deployment creates or changes.
    pub stages: Vec<StagePlan>,
}

/// What a stage's next deployment does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct StagePlan {
    /// The stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage: StageName,
    /// `create_endpoint` (it does not exist) or `update_endpoint`.
    pub action: String,
    /// The versions of the model the endpoint serves now.
    pub serving: Vec<u32>,
    /// The changes, one sentence each.
    pub changes: Vec<String>,
}

/// Where a backend keeps pipelines and runs. The engine reads a run, decides, saves it with
/// [`PipelineStore::update_run`] (refused when someone saved it meanwhile) and only then
/// acts, so a restart resumes from the last saved step.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PipelineStore: Send + Sync {
    /// Creates or replaces a pipeline record.
    async fn put_pipeline(&self, record: &PipelineRecord) -> Result<()>;
    /// A pipeline record. `NotFound` if missing.
    async fn pipeline(&self, name: &PipelineName) -> Result<PipelineRecord>;
    /// Every pipeline record (there are few).
    async fn all_pipelines(&self) -> Result<Vec<PipelineRecord>>;
    /// Deletes a pipeline and its runs. `NotFound` if missing.
    async fn remove_pipeline(&self, name: &PipelineName) -> Result<()>;
    /// Adds a run; `false` (and nothing changes) if the pipeline has a run with its id.
    async fn insert_run(&self, run: &PipelineRun) -> Result<bool>;
    /// One run. `NotFound` if missing.
    async fn run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun>;
    /// Every run of a pipeline, in any order.
    async fn all_runs(&self, pipeline: &PipelineName) -> Result<Vec<PipelineRun>>;
    /// Saves `run` if the stored revision is `run.revision`, and bumps it; `Conflict`
    /// otherwise.
    async fn update_run(&self, run: &mut PipelineRun) -> Result<()>;
}

/// Implements [`Pipelines`] for a backend type with the core's [`PipelineEngine`] over the
/// store `$store` gives (a `Result<&dyn PipelineStore>`: a backend without one answers with
/// its error, usually `Unsupported`), so every backend's pipelines behave the same.
///
/// ```ignore
/// mlm_core::pipelines_over_store!(LocalProvider, |provider| Ok(&provider.inner.store));
/// ```
///
/// [`PipelineEngine`]: super::PipelineEngine
#[macro_export]
macro_rules! pipelines_over_store {
    ($ty:ty, |$provider:ident| $store:expr) => {
        #[$crate::__async_trait]
        impl $crate::pipeline::Pipelines for $ty {
            async fn apply_pipeline(
                &self,
                request: $crate::pipeline::ApplyPipelineRequest,
            ) -> $crate::Result<$crate::pipeline::PipelinePlan> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).apply(request).await
            }
            async fn get_pipeline(
                &self,
                name: &$crate::PipelineName,
            ) -> $crate::Result<$crate::pipeline::Pipeline> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).get(name).await
            }
            async fn list_pipelines(
                &self,
                page: $crate::PageRequest,
            ) -> $crate::Result<$crate::Page<$crate::pipeline::Pipeline>> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).list(page).await
            }
            async fn delete_pipeline(&self, name: &$crate::PipelineName) -> $crate::Result<()> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).delete(name).await
            }
            async fn list_runs(
                &self,
                pipeline: &$crate::PipelineName,
                page: $crate::PageRequest,
            ) -> $crate::Result<$crate::Page<$crate::pipeline::PipelineRun>> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).runs(pipeline, page).await
            }
            async fn get_run(
                &self,
                pipeline: &$crate::PipelineName,
                id: &str,
            ) -> $crate::Result<$crate::pipeline::PipelineRun> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).run(pipeline, id).await
            }
            async fn version_approved(
                &self,
                event: $crate::pipeline::ApprovalEvent,
            ) -> $crate::Result<Vec<$crate::pipeline::PipelineRun>> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store)
                    .version_approved(event)
                    .await
            }
            async fn promote(
                &self,
                request: $crate::pipeline::PromoteRequest,
            ) -> $crate::Result<$crate::pipeline::PipelineRun> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store).promote(request).await
            }
            async fn cancel_run(
                &self,
                pipeline: &$crate::PipelineName,
                id: &str,
                actor: &str,
            ) -> $crate::Result<$crate::pipeline::PipelineRun> {
                let $provider = self;
                let store: &dyn $crate::pipeline::PipelineStore = $store?;
                $crate::pipeline::PipelineEngine::new(self, store)
                    .cancel(pipeline, id, actor)
                    .await
            }
        }
    };
}
