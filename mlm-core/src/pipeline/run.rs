//! What a pipeline is doing: runs (one per approved version), their stages and timeline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spec::PipelineSpec;
use crate::endpoint::VariantSpec;
use crate::model::VersionRef;
use crate::names::{EndpointName, PipelineName, StageName};

/// Most steps a run's timeline keeps (the oldest go first).
pub const MAX_RUN_STEPS: usize = 200;

/// A pipeline as stored, with what each stage serves and the runs in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Pipeline {
    /// The pipeline as applied.
    pub spec: PipelineSpec,
    /// Each stage and the version of the model its endpoint serves now.
    pub stages: Vec<StageStatus>,
    /// Runs that have not ended (queued, running, awaiting promotion), newest first.
    pub active_runs: Vec<PipelineRun>,
    /// The latest ended runs, newest first (at most 10; all are in `…/runs`).
    pub recent_runs: Vec<RunSummary>,
    /// When it was first applied.
    pub created_at: DateTime<Utc>,
    /// When it was last applied.
    pub updated_at: DateTime<Utc>,
}

/// A pipeline as a backend keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PipelineRecord {
    /// The pipeline as applied.
    pub spec: PipelineSpec,
    /// When it was first applied.
    pub created_at: DateTime<Utc>,
    /// When it was last applied.
    pub updated_at: DateTime<Utc>,
    /// The versions that were approved already when it was first applied: the engine's look
    /// at the registry does not deploy them (an approval event still does).
    #[serde(default)]
    pub approved_before: Vec<u32>,
}

/// One stage and what it serves now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct StageStatus {
    /// The stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: StageName,
    /// Its endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub endpoint: EndpointName,
    /// The endpoint's status; none when it does not exist (yet).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub endpoint_status: Option<crate::EndpointStatus>,
    /// The version of the pipeline's model the endpoint serves; none when it serves none.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub live_version: Option<u32>,
}

/// Where a run is, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Waiting for the pipeline's running run to finish.
    Queued,
    /// Deploying or checking a stage.
    Running,
    /// Waiting for a user to promote the version to the next stage.
    AwaitingPromotion,
    /// Every stage serves the version.
    Succeeded,
    /// A stage failed (and was rolled back); later stages were not touched.
    Failed,
    /// A user cancelled it.
    Cancelled,
    /// A newer approved version started before this one finished its stages.
    Superseded,
}

impl RunState {
    /// True once the run has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Superseded
        )
    }

    /// True once nothing happens without someone: the run ended, or waits for a promotion
    /// (what `--wait` and Python's `run.wait()` wait for).
    pub fn is_settled(self) -> bool {
        self.is_terminal() || self == Self::AwaitingPromotion
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::AwaitingPromotion => "awaiting_promotion",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Superseded => "superseded",
        }
    }
}

/// Where one stage of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StageState {
    /// Not reached yet.
    Pending,
    /// Waiting for a user to promote the version into it.
    AwaitingPromotion,
    /// The endpoint is being created or updated.
    Deploying,
    /// The smoke-test requests are being sent.
    SmokeTesting,
    /// Watching the stage's alarms for `soak_seconds`.
    Soaking,
    /// Returning the endpoint to what it served before.
    RollingBack,
    /// The stage serves the version.
    Succeeded,
    /// The stage failed; its endpoint serves what it served before.
    Failed,
    /// Not reached: the run ended before.
    Skipped,
}

impl StageState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingPromotion => "awaiting_promotion",
            Self::Deploying => "deploying",
            Self::SmokeTesting => "smoke_testing",
            Self::Soaking => "soaking",
            Self::RollingBack => "rolling_back",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One stage of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct StageRun {
    /// The stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: StageName,
    /// Its endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub endpoint: EndpointName,
    /// Where it is.
    pub state: StageState,
    /// The deployment that put the version on the endpoint, once started.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub deployment: Option<String>,
    /// Who promoted the version into this stage, for stages that require it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub promoted_by: Option<String>,
    /// Why it failed.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reason: Option<String>,
    /// When the deployment started.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub started_at: Option<DateTime<Utc>>,
    /// When the current state began (the soak ends `soak_seconds` after it).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub state_since: Option<DateTime<Utc>>,
    /// What the endpoint served before (none: it did not exist), kept to roll back to.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>, required = true))]
    pub previous: Option<Vec<VariantSpec>>,
    /// Deploy attempts (a restart re-issues a deployment that never started or was lost).
    pub attempts: u32,
}

/// One entry in a run's timeline: who or what did what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PipelineStep {
    /// When.
    pub at: DateTime<Utc>,
    /// The stage it concerns, if one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, required = true))]
    pub stage: Option<StageName>,
    /// What happened: `queued`, `started`, `deploying`, `deployed`, `smoke_test_passed`,
    /// `smoke_test_failed`, `soaked`, `awaiting_promotion`, `promoted`, `rolled_back`,
    /// `stage_failed`, `succeeded`, `failed`, `cancelled`, `superseded`, `redeploying`.
    pub kind: String,
    /// Who: a user (`user:<name>`) or `pipeline`.
    pub actor: String,
    /// Why, in words.
    pub message: String,
}

/// One model version's way through a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PipelineRun {
    /// `v<version>`: one run per version, so an approval delivered twice starts one run.
    pub id: String,
    /// The pipeline.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pipeline: PipelineName,
    /// The version it deploys.
    pub model_version: VersionRef,
    /// Where it is.
    pub state: RunState,
    /// Why it failed, was cancelled or superseded.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reason: Option<String>,
    /// Its stages, in the pipeline's order.
    pub stages: Vec<StageRun>,
    /// What happened, oldest first.
    pub steps: Vec<PipelineStep>,
    /// Who cancelled it, while the cancel is being carried out.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub cancel_requested_by: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every saved change; a save from an older revision is refused.
    pub revision: u64,
}

/// A run in a list: its id, version, state and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct RunSummary {
    /// The run.
    pub id: String,
    /// The version.
    pub version: u32,
    /// How it ended or where it is.
    pub state: RunState,
    /// Why it failed, was cancelled or superseded.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reason: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The id of a version's run.
pub fn run_id(version: u32) -> String {
    format!("v{version}")
}

impl PipelineRun {
    /// A queued run of `version` through `spec`'s stages.
    pub fn queued(spec: &PipelineSpec, version: u32, actor: &str, now: DateTime<Utc>) -> Self {
        let mut run = Self {
            id: run_id(version),
            pipeline: spec.pipeline.clone(),
            model_version: VersionRef::new(spec.model.clone(), version),
            state: RunState::Queued,
            reason: None,
            stages: spec
                .stages
                .iter()
                .map(|s| StageRun {
                    name: s.name.clone(),
                    endpoint: s.endpoint.clone(),
                    state: StageState::Pending,
                    deployment: None,
                    promoted_by: None,
                    reason: None,
                    started_at: None,
                    state_since: None,
                    previous: None,
                    attempts: 0,
                })
                .collect(),
            steps: Vec::new(),
            cancel_requested_by: None,
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        run.step(
            None,
            "queued",
            actor,
            format!("version {version} was approved"),
            now,
        );
        run
    }

    /// Adds a step to the timeline.
    pub fn step(
        &mut self,
        stage: Option<&StageName>,
        kind: &str,
        actor: &str,
        message: impl Into<String>,
        now: DateTime<Utc>,
    ) {
        self.steps.push(PipelineStep {
            at: now,
            stage: stage.cloned(),
            kind: kind.to_owned(),
            actor: actor.to_owned(),
            message: message.into(),
        });
        if self.steps.len() > MAX_RUN_STEPS {
            self.steps.remove(0);
        }
        self.updated_at = now;
    }

    /// Moves stage `i` to `state` now, with a step of `kind` by the engine in the timeline.
    pub fn move_stage(&mut self, i: usize, state: StageState, kind: &str, message: String) {
        let now = Utc::now();
        let stage = &mut self.stages[i];
        stage.state = state;
        stage.state_since = Some(now);
        let name = stage.name.clone();
        self.step(Some(&name), kind, super::api::ENGINE_ACTOR, message, now);
    }

    /// Ends the run: `state`, `reason`, the stages not reached `skipped`.
    pub fn end(
        &mut self,
        state: RunState,
        reason: Option<String>,
        actor: &str,
        now: DateTime<Utc>,
    ) {
        for stage in &mut self.stages {
            if matches!(
                stage.state,
                StageState::Pending | StageState::AwaitingPromotion
            ) {
                stage.state = StageState::Skipped;
            }
        }
        let message = reason.clone().unwrap_or_else(|| {
            format!(
                "version {} serves in every stage",
                self.model_version.version
            )
        });
        self.state = state;
        self.reason = reason;
        self.cancel_requested_by = None;
        self.step(None, state.as_str(), actor, message, now);
    }

    /// The index of the first stage that has not succeeded.
    pub fn current_stage(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.state != StageState::Succeeded)
    }

    /// The run in a list.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            id: self.id.clone(),
            version: self.model_version.version,
            state: self.state,
            reason: self.reason.clone(),
            updated_at: self.updated_at,
        }
    }
}
