//! The [`Pipelines`](super::Pipelines) operations, written once over a backend's store:
//! backends implement the trait by calling these.

use chrono::Utc;
use futures::TryStreamExt;

use super::api::{ApplyPipelineRequest, ApprovalEvent, PipelinePlan, PromoteRequest, StagePlan};
use super::engine::PipelineEngine;
use super::run::{
    Pipeline, PipelineRecord, PipelineRun, RunState, StageState, StageStatus, run_id,
};
use super::spec::{PipelineSpec, StageSpec};
use crate::error::{Error, ResourceKind, Result};
use crate::ext::all_pages;
use crate::model::Approval;
use crate::names::PipelineName;
use crate::page::{Page, PageRequest, paginate_sorted};

/// Runs a pipeline's `GET` lists among its ended runs.
const RECENT_RUNS: usize = 10;
/// Saves retried when a run changed between read and write (the engine moved it).
const SAVE_ATTEMPTS: usize = 5;

impl PipelineEngine<'_> {
    /// [`Pipelines::apply_pipeline`](super::Pipelines::apply_pipeline).
    pub async fn apply(&self, request: ApplyPipelineRequest) -> Result<PipelinePlan> {
        let spec = request.spec;
        spec.validate()?;
        for stage in &spec.stages {
            if let Some(smoke) = &stage.smoke_test {
                smoke.inline_requests().map_err(|e| {
                    Error::invalid(format!("stage '{}': {}", stage.name, e.message()))
                })?;
            }
        }
        self.provider.get_model(&spec.model).await?;
        let existing = match self.store.pipeline(&spec.pipeline).await {
            Ok(record) => Some(record),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        self.check_endpoints_are_free(&spec).await?;
        let action = match &existing {
            None => "created",
            Some(r) if r.spec == spec => "unchanged",
            Some(_) => "updated",
        };
        let mut stages = Vec::with_capacity(spec.stages.len());
        for stage in &spec.stages {
            stages.push(self.plan_stage(&spec, stage).await?);
        }
        if !request.dry_run && action != "unchanged" {
            let now = Utc::now();
            let approved_before = match &existing {
                Some(r) => r.approved_before.clone(),
                None => self.approved_versions(&spec).await?,
            };
            let record = PipelineRecord {
                created_at: existing.map_or(now, |r| r.created_at),
                updated_at: now,
                spec: spec.clone(),
                approved_before,
            };
            self.store.put_pipeline(&record).await?;
        }
        Ok(PipelinePlan {
            pipeline: spec.pipeline,
            dry_run: request.dry_run,
            action: action.into(),
            stages,
        })
    }

    /// The numbers of the model's approved versions.
    pub(super) async fn approved_versions(&self, spec: &PipelineSpec) -> Result<Vec<u32>> {
        let versions: Vec<_> = all_pages(|page| self.provider.list_versions(&spec.model, page))
            .try_collect()
            .await?;
        Ok(versions
            .into_iter()
            .filter(|v| v.approval == Approval::Approved)
            .map(|v| v.version)
            .collect())
    }

    /// One endpoint, one pipeline: two pipelines deploying to one endpoint would undo each
    /// other's work.
    async fn check_endpoints_are_free(&self, spec: &PipelineSpec) -> Result<()> {
        for other in self.store.all_pipelines().await? {
            if other.spec.pipeline == spec.pipeline {
                continue;
            }
            for stage in &spec.stages {
                if other
                    .spec
                    .stages
                    .iter()
                    .any(|s| s.endpoint == stage.endpoint)
                {
                    return Err(Error::conflict(format!(
                        "endpoint '{}' of stage '{}' is already a stage of pipeline '{}'",
                        stage.endpoint, stage.name, other.spec.pipeline
                    )));
                }
            }
        }
        Ok(())
    }

    async fn plan_stage(&self, spec: &PipelineSpec, stage: &StageSpec) -> Result<StagePlan> {
        let endpoint = self.endpoint(&stage.endpoint).await?;
        let serving = endpoint
            .iter()
            .flat_map(|e| &e.variants)
            .filter_map(|v| v.model_version.as_ref())
            .filter(|v| v.model == spec.model)
            .map(|v| v.version)
            .collect::<Vec<_>>();
        let shape = stage
            .variants
            .iter()
            .map(|v| match (&v.serverless, &v.instance_type) {
                (Some(s), _) => format!(
                    "{}: serverless {} MB, max concurrency {}",
                    v.name, s.memory_mb, s.max_concurrency
                ),
                (None, t) => format!(
                    "{}: {} x {}",
                    v.name,
                    v.instance_count.unwrap_or(1),
                    t.as_deref().unwrap_or_default()
                ),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut changes = Vec::new();
        let action = match &endpoint {
            None => {
                changes.push(format!("create endpoint '{}' ({shape})", stage.endpoint));
                "create_endpoint"
            }
            Some(_) => {
                let policy = stage.deployment_policy(spec)?;
                changes.push(format!(
                    "update endpoint '{}' ({shape}), traffic shift {}",
                    stage.endpoint,
                    policy.traffic.as_str()
                ));
                "update_endpoint"
            }
        };
        for alarm in stage.alarm_definitions(spec)? {
            let verb = match self.provider.get_alarm(&stage.endpoint, &alarm.name).await {
                Ok(live) if live.definition == alarm => continue,
                Ok(_) => "update",
                Err(_) => "create",
            };
            changes.push(format!("{verb} alarm '{}'", alarm.name));
        }
        if stage.requires_approval {
            changes.insert(0, "wait for a promotion".into());
        }
        if let Some(smoke) = &stage.smoke_test {
            let n = smoke.inline_requests().map(<[_]>::len).unwrap_or_default();
            changes.push(format!("send {n} smoke-test requests"));
        }
        if stage.soak_seconds > 0 {
            changes.push(format!("soak {} s", stage.soak_seconds));
        }
        Ok(StagePlan {
            stage: stage.name.clone(),
            action: action.into(),
            serving,
            changes,
        })
    }

    /// [`Pipelines::get_pipeline`](super::Pipelines::get_pipeline).
    pub async fn get(&self, name: &PipelineName) -> Result<Pipeline> {
        let record = self.store.pipeline(name).await?;
        self.describe(record).await
    }

    async fn describe(&self, record: PipelineRecord) -> Result<Pipeline> {
        let mut stages = Vec::with_capacity(record.spec.stages.len());
        for stage in &record.spec.stages {
            let endpoint = self.endpoint(&stage.endpoint).await?;
            stages.push(StageStatus {
                name: stage.name.clone(),
                endpoint: stage.endpoint.clone(),
                endpoint_status: endpoint.as_ref().map(|e| e.status),
                live_version: endpoint.as_ref().and_then(|e| {
                    e.variants
                        .iter()
                        .filter_map(|v| v.model_version.as_ref())
                        .filter(|v| v.model == record.spec.model)
                        .map(|v| v.version)
                        .max()
                }),
            });
        }
        let mut runs = self.store.all_runs(&record.spec.pipeline).await?;
        runs.sort_by_key(|r| std::cmp::Reverse(r.model_version.version));
        let (ended, active): (Vec<_>, Vec<_>) =
            runs.into_iter().partition(|r| r.state.is_terminal());
        let mut recent: Vec<_> = ended.iter().map(PipelineRun::summary).collect();
        recent.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
        recent.truncate(RECENT_RUNS);
        Ok(Pipeline {
            spec: record.spec,
            stages,
            active_runs: active,
            recent_runs: recent,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// [`Pipelines::list_pipelines`](super::Pipelines::list_pipelines).
    pub async fn list(&self, page: PageRequest) -> Result<Page<Pipeline>> {
        let mut records = self.store.all_pipelines().await?;
        records.sort_by(|a, b| a.spec.pipeline.cmp(&b.spec.pipeline));
        let page = paginate_sorted(records, &page, |r| r.spec.pipeline.to_string())?;
        let mut items = Vec::with_capacity(page.items.len());
        for record in page.items {
            items.push(self.describe(record).await?);
        }
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// [`Pipelines::delete_pipeline`](super::Pipelines::delete_pipeline).
    pub async fn delete(&self, name: &PipelineName) -> Result<()> {
        let runs = self.store.all_runs(name).await?;
        if let Some(busy) = runs.iter().find(|r| {
            r.stages
                .iter()
                .any(|s| matches!(s.state, StageState::Deploying | StageState::RollingBack))
        }) {
            return Err(Error::failed_precondition(format!(
                "pipeline '{name}' is deploying version {}: cancel run {} first",
                busy.model_version.version, busy.id
            )));
        }
        self.store.remove_pipeline(name).await
    }

    /// [`Pipelines::list_runs`](super::Pipelines::list_runs): newest version first.
    pub async fn runs(
        &self,
        pipeline: &PipelineName,
        page: PageRequest,
    ) -> Result<Page<PipelineRun>> {
        self.store.pipeline(pipeline).await?;
        let mut runs = self.store.all_runs(pipeline).await?;
        runs.sort_by_key(|r| std::cmp::Reverse(r.model_version.version));
        // Keys ascend as versions descend.
        paginate_sorted(runs, &page, |r| {
            format!("{:010}", u32::MAX - r.model_version.version)
        })
    }

    /// [`Pipelines::get_run`](super::Pipelines::get_run).
    pub async fn run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun> {
        self.store.pipeline(pipeline).await?;
        self.store.run(pipeline, id).await
    }

    /// [`Pipelines::version_approved`](super::Pipelines::version_approved).
    pub async fn version_approved(&self, event: ApprovalEvent) -> Result<Vec<PipelineRun>> {
        let version = self
            .provider
            .get_version(&event.model, event.version)
            .await?;
        if version.approval != Approval::Approved {
            return Err(Error::failed_precondition(format!(
                "version {} of model '{}' is {}, not approved: pipelines deploy approved \
                 versions only",
                event.version,
                event.model,
                version.approval.as_str()
            )));
        }
        let mut runs = Vec::new();
        for record in self.store.all_pipelines().await? {
            if record.spec.model != event.model {
                continue;
            }
            let run = PipelineRun::queued(&record.spec, event.version, &event.actor, Utc::now());
            if !self.store.insert_run(&run).await? {
                tracing::info!(pipeline = %record.spec.pipeline, run = %run.id, "approval delivered again: the run exists");
            }
            runs.push(self.store.run(&record.spec.pipeline, &run.id).await?);
        }
        Ok(runs)
    }

    /// [`Pipelines::promote`](super::Pipelines::promote).
    pub async fn promote(&self, request: PromoteRequest) -> Result<PipelineRun> {
        let record = self.store.pipeline(&request.pipeline).await?;
        let stage = record.spec.stage(&request.stage)?;
        if !stage.requires_approval {
            return Err(Error::failed_precondition(format!(
                "stage '{}' does not require a promotion: versions enter it when the stage \
                 before succeeds",
                stage.name
            )));
        }
        let id = run_id(request.version);
        self.save_with_retry(&request.pipeline, &id, |run| promote_run(run, &request))
            .await
    }

    /// [`Pipelines::cancel_run`](super::Pipelines::cancel_run).
    pub async fn cancel(
        &self,
        pipeline: &PipelineName,
        id: &str,
        actor: &str,
    ) -> Result<PipelineRun> {
        self.store.pipeline(pipeline).await?;
        self.save_with_retry(pipeline, id, |run| {
            let now = Utc::now();
            match run.state {
                s if s.is_terminal() => Err(Error::failed_precondition(format!(
                    "run {} of pipeline '{pipeline}' has already ended ({})",
                    run.id,
                    s.as_str()
                ))),
                RunState::Running => {
                    run.cancel_requested_by = Some(actor.to_owned());
                    run.step(None, "cancel_requested", actor, "cancel requested", now);
                    Ok(())
                }
                _ => {
                    let why = format!("cancelled by {actor}");
                    run.end(RunState::Cancelled, Some(why), actor, now);
                    Ok(())
                }
            }
        })
        .await
    }

    /// Reads a run, changes it with `change` and saves it, again from a fresh read when the
    /// engine saved it meanwhile.
    async fn save_with_retry(
        &self,
        pipeline: &PipelineName,
        id: &str,
        change: impl Fn(&mut PipelineRun) -> Result<()>,
    ) -> Result<PipelineRun> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut run = match self.store.run(pipeline, id).await {
                Err(Error::NotFound { .. }) => {
                    return Err(Error::not_found(
                        ResourceKind::PipelineRun,
                        format!("{pipeline}/{id}"),
                    ));
                }
                other => other?,
            };
            change(&mut run)?;
            match self.store.update_run(&mut run).await {
                Err(Error::Conflict(_)) => continue,
                other => return other.map(|()| run),
            }
        }
        Err(Error::conflict(format!(
            "run {id} of pipeline '{pipeline}' kept changing; try again"
        )))
    }
}

/// Lets `run` into `request.stage` when it waits there; otherwise says why it cannot.
fn promote_run(run: &mut PipelineRun, request: &PromoteRequest) -> Result<()> {
    let version = request.version;
    if run.state.is_terminal() {
        let why = match &run.reason {
            Some(reason) => format!(": {reason}"),
            None => " (it serves in every stage)".to_owned(),
        };
        return Err(Error::conflict(format!(
            "version {version} cannot be promoted: its run {}{why}",
            run.state.as_str()
        )));
    }
    let Some(stage) = run.stages.iter_mut().find(|s| s.name == request.stage) else {
        return Err(Error::conflict(format!(
            "run {} has no stage '{}' (the pipeline changed since it started)",
            run.id, request.stage
        )));
    };
    if stage.state != StageState::AwaitingPromotion {
        return Err(Error::conflict(format!(
            "version {version} is not waiting for a promotion to '{}' (that stage is {}; the \
             run is {})",
            request.stage,
            stage.state.as_str(),
            run.state.as_str()
        )));
    }
    stage.state = StageState::Pending;
    stage.promoted_by = Some(request.actor.clone());
    run.state = RunState::Queued;
    let message = format!("version {version} promoted to '{}'", request.stage);
    run.step(
        Some(&request.stage),
        "promoted",
        &request.actor,
        message,
        Utc::now(),
    );
    Ok(())
}
