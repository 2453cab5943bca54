//! The pipeline engine: moves runs through their stages over any [`Provider`].
//!
//! Each call of [`PipelineEngine::tick`] looks at every pipeline once: it queues runs for
//! versions approved since the pipeline was applied, starts the next run when none is
//! running, and takes the running run as far as it can without waiting. Every decision is
//! saved (compare-and-swap on the run's revision) *before* the call it leads to, so a
//! process that dies between the two resumes at the saved step: a deployment that never
//! started, or was rolled back because the server stopped
//! ([`INTERRUPTED_REASON`](crate::INTERRUPTED_REASON)), is issued again; one that runs is
//! watched.

use chrono::Utc;

use super::api::{ENGINE_ACTOR, PipelineStore};
use super::run::{PipelineRecord, PipelineRun, RunState, StageState};
use super::spec::{PipelineSpec, StageSpec, answer_matches};
use crate::Provider;
use crate::deployment::{DeploymentPhase, INTERRUPTED_REASON};
use crate::endpoint::{
    CreateEndpointRequest, DeploymentPolicy, Endpoint, InvokeRequest, TrafficShift,
    UpdateEndpointRequest, VariantSpec,
};
use crate::error::{Error, Result};
use crate::model::Approval;
use crate::names::EndpointName;

/// Deploy attempts per stage before an interrupted deployment counts as failed.
const MAX_ATTEMPTS: u32 = 3;
/// Steps one tick takes per run before it lets the other pipelines have a turn.
const STEPS_PER_TICK: usize = 16;

/// What a step asks for next.
enum Next {
    /// Take the next step now.
    Go,
    /// Wait for the next tick (a deployment runs, a soak lasts, a promotion is due).
    Wait,
}

/// The engine over a backend and the store it keeps pipelines in. Cheap: make one per call.
pub struct PipelineEngine<'a> {
    pub(super) provider: &'a dyn Provider,
    pub(super) store: &'a dyn PipelineStore,
}

impl std::fmt::Debug for PipelineEngine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineEngine")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

impl<'a> PipelineEngine<'a> {
    /// An engine deploying through `provider`, keeping its state in `store`.
    pub fn new(provider: &'a dyn Provider, store: &'a dyn PipelineStore) -> Self {
        Self { provider, store }
    }

    /// Looks at every pipeline once (see the module's documentation). A pipeline that fails
    /// is logged and retried next tick; the others go on.
    pub async fn tick(&self) -> Result<()> {
        for record in self.store.all_pipelines().await? {
            if let Err(e) = self.tick_pipeline(&record).await {
                tracing::warn!(pipeline = %record.spec.pipeline, "pipeline step failed: {e}");
            }
        }
        Ok(())
    }

    async fn tick_pipeline(&self, record: &PipelineRecord) -> Result<()> {
        let mut runs = self.store.all_runs(&record.spec.pipeline).await?;
        self.queue_new_approvals(record, &mut runs).await?;
        let running = match runs.iter().position(|r| r.state == RunState::Running) {
            Some(i) => Some(runs.swap_remove(i)),
            None => self.start_next(&mut runs).await?,
        };
        if let Some(mut run) = running {
            for _ in 0..STEPS_PER_TICK {
                if let Next::Wait = self.step(&record.spec, &mut run).await? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Queues (and adds to `runs`) a run for every approved version that has none and was
    /// not approved already when the pipeline was first applied.
    async fn queue_new_approvals(
        &self,
        record: &PipelineRecord,
        runs: &mut Vec<PipelineRun>,
    ) -> Result<()> {
        let spec = &record.spec;
        for version in self.approved_versions(spec).await? {
            let known = runs.iter().any(|r| r.model_version.version == version);
            if !known && !record.approved_before.contains(&version) {
                let run = PipelineRun::queued(spec, version, "registry", Utc::now());
                if self.store.insert_run(&run).await? {
                    runs.push(run);
                }
            }
        }
        Ok(())
    }

    /// Starts the run that goes next when none is running: a promoted one first (oldest
    /// first), else the newest queued one, which supersedes older queued runs.
    async fn start_next(&self, runs: &mut Vec<PipelineRun>) -> Result<Option<PipelineRun>> {
        let pick = runs
            .iter()
            .filter(|r| r.state == RunState::Queued && promoted(r))
            .min_by_key(|r| r.model_version.version)
            .or_else(|| {
                runs.iter()
                    .filter(|r| r.state == RunState::Queued)
                    .max_by_key(|r| r.model_version.version)
            })
            .map(|r| r.id.clone());
        let Some(id) = pick else { return Ok(None) };
        let index = runs.iter().position(|r| r.id == id).unwrap_or_default();
        let mut run = runs.swap_remove(index);
        let now = Utc::now();
        if !promoted(&run) {
            let newest = run.model_version.version;
            for older in runs.iter_mut().filter(|r| {
                r.model_version.version < newest && r.state == RunState::Queued && !promoted(r)
            }) {
                let why = format!("superseded by version {newest}");
                older.end(RunState::Superseded, Some(why), ENGINE_ACTOR, now);
                self.store.update_run(older).await?;
            }
        }
        run.state = RunState::Running;
        run.step(None, "started", ENGINE_ACTOR, "the run started", now);
        self.store.update_run(&mut run).await?;
        Ok(Some(run))
    }

    /// A newer version now waits for a promotion to `stage`: older runs waiting there are
    /// superseded (the newest proven version is the one to promote).
    async fn supersede_older_waiting(&self, run: &PipelineRun, stage: &StageSpec) -> Result<()> {
        let newest = run.model_version.version;
        for mut older in self.store.all_runs(&run.pipeline).await? {
            let waits_here = older
                .stages
                .iter()
                .any(|s| s.name == stage.name && s.state == StageState::AwaitingPromotion);
            if older.model_version.version < newest && waits_here {
                let why = format!(
                    "superseded by version {newest}, which waits for '{}'",
                    stage.name
                );
                older.end(RunState::Superseded, Some(why), ENGINE_ACTOR, Utc::now());
                self.store.update_run(&mut older).await?;
            }
        }
        Ok(())
    }

    /// Takes one step of a running run.
    async fn step(&self, spec: &PipelineSpec, run: &mut PipelineRun) -> Result<Next> {
        // A pipeline deleted while a tick held its record moves nothing more.
        if let Err(Error::NotFound { .. }) = self.store.pipeline(&run.pipeline).await {
            return Ok(Next::Wait);
        }
        let Some(i) = run.current_stage() else {
            run.end(RunState::Succeeded, None, ENGINE_ACTOR, Utc::now());
            self.store.update_run(run).await?;
            return Ok(Next::Wait);
        };
        let Ok(stage) = spec.stage(&run.stages[i].name).cloned() else {
            let why = format!(
                "stage '{}' was removed from the pipeline",
                run.stages[i].name
            );
            return self.fail(run, why).await;
        };
        let state = run.stages[i].state;
        if let Some(actor) = run.cancel_requested_by.clone()
            && state != StageState::RollingBack
        {
            return self.carry_out_cancel(&stage, run, i, &actor).await;
        }
        match state {
            StageState::Pending => self.enter_stage(spec, &stage, run, i).await,
            StageState::Deploying => self.watch_deployment(spec, &stage, run, i).await,
            StageState::SmokeTesting => self.smoke_test(&stage, run, i).await,
            StageState::Soaking => self.soak(spec, &stage, run, i).await,
            StageState::RollingBack => self.watch_rollback(run, i).await,
            StageState::AwaitingPromotion => {
                run.state = RunState::AwaitingPromotion;
                self.store.update_run(run).await?;
                Ok(Next::Wait)
            }
            StageState::Succeeded | StageState::Failed | StageState::Skipped => {
                let why = format!("stage '{}' ended {}", stage.name, state.as_str());
                self.fail(run, why).await
            }
        }
    }

    /// Ends the run `failed` with `why`.
    async fn fail(&self, run: &mut PipelineRun, why: String) -> Result<Next> {
        run.end(RunState::Failed, Some(why), ENGINE_ACTOR, Utc::now());
        self.store.update_run(run).await?;
        Ok(Next::Wait)
    }

    async fn enter_stage(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
    ) -> Result<Next> {
        let version = &run.model_version;
        let current = self
            .provider
            .get_version(&version.model, version.version)
            .await?;
        if current.approval != Approval::Approved {
            let why = format!(
                "version {} is no longer approved ({})",
                version.version,
                current.approval.as_str()
            );
            return self.fail(run, why).await;
        }
        let now = Utc::now();
        if stage.requires_approval && run.stages[i].promoted_by.is_none() {
            let message = format!(
                "version {} waits for a promotion to '{}'",
                version.version, stage.name
            );
            run.move_stage(
                i,
                StageState::AwaitingPromotion,
                "awaiting_promotion",
                message,
            );
            run.state = RunState::AwaitingPromotion;
            self.store.update_run(run).await?;
            self.supersede_older_waiting(run, stage).await?;
            return Ok(Next::Wait);
        }
        let endpoint = self.endpoint(&stage.endpoint).await?;
        if let Some(e) = &endpoint
            && e.status.is_transitional()
        {
            return Ok(Next::Wait);
        }
        let target = stage.variant_specs(version);
        let previous = endpoint.as_ref().map(current_specs);
        if previous.as_ref() == Some(&target) {
            let message = format!(
                "'{}' already serves version {}",
                stage.endpoint, version.version
            );
            return self.deployed(spec, stage, run, i, message, false).await;
        }
        let stage_run = &mut run.stages[i];
        stage_run.previous = previous;
        stage_run.started_at = Some(now);
        let message = match &stage_run.previous {
            None => format!("creating endpoint '{}'", stage.endpoint),
            Some(_) => format!(
                "updating endpoint '{}' ({})",
                stage.endpoint,
                stage.deployment_policy(spec)?.traffic.as_str()
            ),
        };
        self.deploy(spec, stage, run, i, "deploying", message).await
    }

    /// Saves the stage as deploying, then creates or updates its endpoint and records the
    /// deployment.
    async fn deploy(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
        kind: &str,
        message: String,
    ) -> Result<Next> {
        run.stages[i].attempts += 1;
        run.stages[i].deployment = None;
        run.move_stage(i, StageState::Deploying, kind, message);
        self.store.update_run(run).await?;
        match self.issue_deployment(spec, stage, run).await {
            Ok(endpoint) => {
                run.stages[i].deployment = endpoint.last_deployment.map(|d| d.id);
                self.store.update_run(run).await?;
                Ok(Next::Wait)
            }
            // Retried by `watch_deployment` while attempts remain.
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                let why = format!("stage '{}': {}", stage.name, e.message());
                run.stages[i].state = StageState::Failed;
                run.stages[i].reason = Some(e.message());
                self.fail(run, why).await
            }
        }
    }

    /// Creates the stage's endpoint, or puts its alarms and updates it with its policy.
    async fn issue_deployment(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &PipelineRun,
    ) -> Result<Endpoint> {
        let variants = stage.variant_specs(&run.model_version);
        if self.endpoint(&stage.endpoint).await?.is_none() {
            let create = CreateEndpointRequest::new(stage.endpoint.clone(), variants);
            return self.provider.create_endpoint(create).await;
        }
        for alarm in stage.alarm_definitions(spec)? {
            self.provider.put_alarm(alarm).await?;
        }
        let mut update = UpdateEndpointRequest::new(stage.endpoint.clone()).with_variants(variants);
        update.deployment = Some(stage.deployment_policy(spec)?);
        self.provider.update_endpoint(update).await
    }

    /// The endpoint named `name`, or `None` when it does not exist.
    pub(super) async fn endpoint(&self, name: &EndpointName) -> Result<Option<Endpoint>> {
        match self.provider.get_endpoint(name).await {
            Ok(e) => Ok(Some(e)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn watch_deployment(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
    ) -> Result<Next> {
        let endpoint = self.endpoint(&stage.endpoint).await?;
        if let Some(e) = &endpoint
            && e.status.is_transitional()
        {
            return Ok(Next::Wait);
        }
        let ours = endpoint.as_ref().and_then(|e| {
            e.last_deployment
                .as_ref()
                .filter(|d| Some(&d.id) == run.stages[i].deployment.as_ref())
        });
        let served = endpoint.as_ref().is_some_and(|e| {
            same_versions(&current_specs(e), &stage.variant_specs(&run.model_version))
        });
        match ours.map(|d| &d.phase) {
            Some(DeploymentPhase::Completed) | None if served => {
                let created = run.stages[i].previous.is_none();
                let message = format!(
                    "'{}' serves version {}",
                    stage.endpoint, run.model_version.version
                );
                self.deployed(spec, stage, run, i, message, created).await
            }
            Some(DeploymentPhase::RolledBack { reason, .. }) if reason != INTERRUPTED_REASON => {
                let why = format!("the deployment was rolled back: {reason}");
                self.stage_failed(run, i, why).await
            }
            Some(DeploymentPhase::Failed { reason }) => {
                let why = format!("the deployment failed: {reason}");
                self.stage_failed(run, i, why).await
            }
            _ if endpoint
                .as_ref()
                .is_some_and(|e| e.status.is_terminal_failure()) =>
            {
                let reason = endpoint.and_then(|e| e.failure_reason).unwrap_or_default();
                self.stage_failed(run, i, format!("the endpoint failed: {reason}"))
                    .await
            }
            _ if run.stages[i].attempts >= MAX_ATTEMPTS => {
                let why = format!("the deployment was interrupted {MAX_ATTEMPTS} times");
                self.stage_failed(run, i, why).await
            }
            _ => {
                let message = "the deployment was interrupted (the server stopped?); deploying \
                               again"
                    .to_owned();
                self.deploy(spec, stage, run, i, "redeploying", message)
                    .await
            }
        }
    }

    /// The version serves in the stage: alarms of a new endpoint are put, the smoke test is
    /// next.
    async fn deployed(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
        message: String,
        created: bool,
    ) -> Result<Next> {
        if created {
            for alarm in stage.alarm_definitions(spec)? {
                self.provider.put_alarm(alarm).await?;
            }
        }
        run.move_stage(i, StageState::SmokeTesting, "deployed", message);
        self.store.update_run(run).await?;
        Ok(Next::Go)
    }

    /// The deployment itself failed (the backend already rolled it back): the stage fails.
    async fn stage_failed(&self, run: &mut PipelineRun, i: usize, why: String) -> Result<Next> {
        let stage = run.stages[i].name.clone();
        run.stages[i].state = StageState::Failed;
        run.stages[i].reason = Some(why.clone());
        run.step(
            Some(&stage),
            "stage_failed",
            ENGINE_ACTOR,
            why.clone(),
            Utc::now(),
        );
        self.fail(run, format!("stage '{stage}' failed: {why}"))
            .await
    }

    async fn smoke_test(&self, stage: &StageSpec, run: &mut PipelineRun, i: usize) -> Result<Next> {
        let now = Utc::now();
        let outcome = match &stage.smoke_test {
            None => Ok("no smoke test".to_owned()),
            Some(smoke) => self.send_smoke_requests(stage, smoke).await,
        };
        match outcome {
            Ok(message) => {
                run.move_stage(i, StageState::Soaking, "smoke_test_passed", message);
                self.store.update_run(run).await?;
                Ok(Next::Go)
            }
            Err(why) => {
                let why = format!("smoke test failed: {why}");
                run.step(
                    Some(&stage.name),
                    "smoke_test_failed",
                    ENGINE_ACTOR,
                    why.clone(),
                    now,
                );
                self.roll_back(run, i, why).await
            }
        }
    }

    /// Sends the stage's requests in order; the first failure is the answer.
    async fn send_smoke_requests(
        &self,
        stage: &StageSpec,
        smoke: &super::spec::SmokeTest,
    ) -> std::result::Result<String, String> {
        let requests = smoke.inline_requests().map_err(|e| e.message())?;
        let timeout = std::time::Duration::from_secs(smoke.timeout_seconds.into());
        for (n, request) in requests.iter().enumerate() {
            let which = format!("request {} of {}", n + 1, requests.len());
            let call = self
                .provider
                .invoke(InvokeRequest::json(stage.endpoint.clone(), &request.body));
            let answer = match tokio::time::timeout(timeout, call).await {
                Err(_) => return Err(format!("{which}: no answer in {timeout:?}")),
                Ok(Err(e)) => return Err(format!("{which}: {}", e.message())),
                Ok(Ok(answer)) => answer,
            };
            if let Some(expected) = &request.expect {
                let got = answer
                    .json()
                    .map_err(|e| format!("{which}: {}", e.message()))?;
                if !answer_matches(expected, &got) {
                    return Err(format!("{which}: expected {expected}, got {got}"));
                }
            }
        }
        Ok(format!("{} requests answered as expected", requests.len()))
    }

    async fn soak(
        &self,
        spec: &PipelineSpec,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
    ) -> Result<Next> {
        // Only alarms that fired since this version started count: one still in ALARM from
        // the version before (the errors of a rolled-back version) says nothing about it.
        let started = run.stages[i].started_at;
        for alarm in stage.alarm_definitions(spec)? {
            let live = self
                .provider
                .get_alarm(&stage.endpoint, &alarm.name)
                .await?;
            let since_this_version = started.is_none_or(|t| live.state_since >= t);
            if live.state == crate::AlarmState::Alarm && since_this_version {
                let why = format!(
                    "alarm '{}' fired while soaking: {}",
                    alarm.name, live.state_reason
                );
                return self.roll_back(run, i, why).await;
            }
        }
        let now = Utc::now();
        let since = run.stages[i].state_since.unwrap_or(now);
        if (now - since).num_seconds() < i64::from(stage.soak_seconds) {
            return Ok(Next::Wait);
        }
        let message = format!("'{}' succeeded", stage.name);
        run.move_stage(i, StageState::Succeeded, "stage_succeeded", message);
        self.store.update_run(run).await?;
        Ok(Next::Go)
    }

    /// Saves the stage as rolling back with `why`; [`Self::watch_rollback`] returns its
    /// endpoint to what it served before (or deletes it when the stage created it).
    async fn roll_back(&self, run: &mut PipelineRun, i: usize, why: String) -> Result<Next> {
        run.stages[i].reason = Some(why.clone());
        run.move_stage(i, StageState::RollingBack, "rolling_back", why);
        self.store.update_run(run).await?;
        Ok(Next::Go)
    }

    async fn restore_previous(&self, run: &PipelineRun, i: usize) -> Result<()> {
        let stage = &run.stages[i];
        match &stage.previous {
            None => self.provider.delete_endpoint(&stage.endpoint).await,
            Some(previous) => {
                let mut update = UpdateEndpointRequest::new(stage.endpoint.clone())
                    .with_variants(previous.clone());
                update.deployment = Some(DeploymentPolicy::new(TrafficShift::AllAtOnce));
                self.provider.update_endpoint(update).await.map(|_| ())
            }
        }
    }

    async fn watch_rollback(&self, run: &mut PipelineRun, i: usize) -> Result<Next> {
        let stage = &run.stages[i];
        let endpoint = self.endpoint(&stage.endpoint).await?;
        if endpoint
            .as_ref()
            .is_some_and(|e| e.status.is_transitional())
        {
            return Ok(Next::Wait);
        }
        let restored = match (&stage.previous, &endpoint) {
            (None, None) => true,
            (Some(previous), Some(e)) => same_versions(&current_specs(e), previous),
            _ => false,
        };
        if !restored {
            self.restore_previous(run, i).await?;
            return Ok(Next::Wait);
        }
        let message = match &stage.previous {
            None => format!("'{}' was deleted: it did not exist before", stage.endpoint),
            Some(_) => format!("'{}' serves what it served before", stage.endpoint),
        };
        let why = stage.reason.clone().unwrap_or_default();
        let name = stage.name.clone();
        let now = Utc::now();
        run.stages[i].state = StageState::Failed;
        run.step(Some(&name), "rolled_back", ENGINE_ACTOR, message, now);
        match run.cancel_requested_by.clone() {
            Some(actor) => run.end(RunState::Cancelled, Some(why), &actor, now),
            None => {
                let why = format!("stage '{name}' failed: {why}");
                run.end(RunState::Failed, Some(why), ENGINE_ACTOR, now);
            }
        }
        self.store.update_run(run).await?;
        Ok(Next::Wait)
    }

    /// A user cancelled a running run: a running deployment is stopped, a deployed but
    /// unproven version is rolled back, then the run ends `cancelled`.
    async fn carry_out_cancel(
        &self,
        stage: &StageSpec,
        run: &mut PipelineRun,
        i: usize,
        actor: &str,
    ) -> Result<Next> {
        let why = format!("cancelled by {actor}");
        match run.stages[i].state {
            StageState::Deploying => {
                if let Some(id) = run.stages[i].deployment.clone() {
                    match self.provider.stop_deployment(&stage.endpoint, &id).await {
                        Ok(_) | Err(Error::FailedPrecondition(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                self.roll_back(run, i, why).await
            }
            StageState::SmokeTesting | StageState::Soaking => self.roll_back(run, i, why).await,
            _ => {
                run.end(RunState::Cancelled, Some(why), actor, Utc::now());
                self.store.update_run(run).await?;
                Ok(Next::Wait)
            }
        }
    }
}

/// Whether a user promoted `run` into a stage it has not entered yet.
fn promoted(run: &PipelineRun) -> bool {
    run.stages
        .iter()
        .any(|s| s.state == StageState::Pending && s.promoted_by.is_some())
}

/// The variants an endpoint serves, as specs (variants without a version are left out).
fn current_specs(endpoint: &Endpoint) -> Vec<VariantSpec> {
    endpoint
        .variants
        .iter()
        .filter_map(|v| v.to_spec())
        .collect()
}

/// Whether two variant sets have the same variants serving the same versions (shapes may
/// differ: autoscaling changes counts, backends fill in defaults).
fn same_versions(a: &[VariantSpec], b: &[VariantSpec]) -> bool {
    let key = |specs: &[VariantSpec]| {
        let mut k: Vec<_> = specs
            .iter()
            .map(|v| (v.name.clone(), v.model_version.clone()))
            .collect();
        k.sort();
        k
    };
    key(a) == key(b)
}
