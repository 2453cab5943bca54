//! Promotion pipelines: each approved version of a model goes through stages (staging, then
//! production…), each an endpoint with its shape, rollout policy, alarms and smoke test; a
//! stage that requires it waits for a user's promotion. See ADR 0009.
//!
//! - [`PipelineSpec`]: the pipeline file (YAML or JSON), validated with the same rules as the
//!   calls its stages make.
//! - [`Pipelines`]: the trait every [`Provider`](crate::Provider) offers; backends implement
//!   it with [`PipelineEngine`] over their [`PipelineStore`].
//! - [`PipelineEngine::tick`]: what moves runs; backends call it from a loop (local) or a
//!   poller / event handler (AWS).

mod api;
mod engine;
mod run;
mod service;
mod spec;

pub use api::{
    ApplyPipelineRequest, ApprovalEvent, ENGINE_ACTOR, PipelinePlan, PipelineStore, Pipelines,
    PromoteRequest, StagePlan,
};
#[cfg(any(test, feature = "mock"))]
pub use api::{MockPipelineStore, MockPipelines};
pub use engine::PipelineEngine;
pub use run::{
    MAX_RUN_STEPS, Pipeline, PipelineRecord, PipelineRun, PipelineStep, RunState, RunSummary,
    StageRun, StageState, StageStatus, run_id,
};
pub use spec::{
    MAX_SMOKE_REQUESTS, MAX_SMOKE_TIMEOUT_SECONDS, MAX_SOAK_SECONDS, MAX_STAGES, PipelineSpec,
    SmokeRequest, SmokeRequests, SmokeTest, StageAlarm, StageSpec, StageVariant, answer_matches,
    parse_smoke_requests,
};
