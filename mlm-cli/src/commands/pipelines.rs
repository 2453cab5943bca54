//! `mlm pipelines`: apply a pipeline file, read pipelines and runs, promote and cancel.

use std::path::Path;
use std::time::{Duration, Instant};

use comfy_table::{Cell, Table};
use mlm_core::pipeline::{
    ApplyPipelineRequest, Pipeline, PipelinePlan, PipelineRun, PipelineSpec, Pipelines,
    PromoteRequest, RunSummary,
};
use mlm_core::{Error, PipelineName};

use super::{list, read_input};
use crate::cli::{PipelineApplyArgs, PipelinesCommand, PromoteArgs, RunArg};
use crate::failure::Failure;
use crate::output::{Output, Row, Tabular, age, status_cell, table, timestamp};

/// Who the timeline records for this process's promotions and cancels (a server records its
/// caller instead).
const CLI_ACTOR: &str = "user:cli";

pub(super) async fn run(
    command: PipelinesCommand,
    mlm: &dyn Pipelines,
    out: Output,
) -> Result<(), Failure> {
    match command {
        PipelinesCommand::Apply(a) => apply(a, mlm, out).await,
        PipelinesCommand::List(page) => out.print(&list(&page, |p| mlm.list_pipelines(p)).await?),
        PipelinesCommand::Get(a) => {
            let pipeline = mlm.get_pipeline(&a.pipeline).await?;
            out.print_tables(&pipeline, |color| pipeline_tables(&pipeline, color), None)
        }
        PipelinesCommand::Delete(a) => {
            mlm.delete_pipeline(&a.pipeline).await?;
            out.note(&format!("deleted pipeline '{}'", a.pipeline))
        }
        PipelinesCommand::Runs(a) => {
            out.print(&list(&a.page, |p| mlm.list_runs(&a.pipeline, p)).await?)
        }
        PipelinesCommand::Run(a) => {
            let run = mlm.get_run(&a.pipeline, &run_id(&a)).await?;
            print_run(&run, out)
        }
        PipelinesCommand::Promote(a) => promote(a, mlm, out).await,
        PipelinesCommand::Cancel(a) => {
            let run = mlm.cancel_run(&a.pipeline, &run_id(&a), CLI_ACTOR).await?;
            print_run(&run, out)
        }
        PipelinesCommand::Schema => Err(Failure::runtime("this command needs no backend")),
    }
}

/// `v3` as given, or `3` as `v3`.
fn run_id(a: &RunArg) -> String {
    if a.run.parse::<u32>().is_ok() {
        format!("v{}", a.run)
    } else {
        a.run.clone()
    }
}

/// Reads a pipeline file (`-`: stdin, smoke-test files then relative to the current
/// directory) and inlines its smoke-test files.
pub(crate) fn read_pipeline_file(path: &Path) -> Result<PipelineSpec, Failure> {
    let spec = if path == Path::new("-") {
        let bytes = read_input(path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Failure::usage("the pipeline file on stdin is not UTF-8 text"))?;
        PipelineSpec::parse_in(&text, Path::new("."))
    } else {
        PipelineSpec::read_file(path)
    };
    spec.map_err(|e| {
        let mut failure = Failure::from(e);
        failure.prefix(&path.display().to_string());
        failure
    })
}

async fn apply(a: PipelineApplyArgs, mlm: &dyn Pipelines, out: Output) -> Result<(), Failure> {
    let spec = read_pipeline_file(&a.file)?;
    let mut request = ApplyPipelineRequest::new(spec);
    if a.dry_run {
        request = request.dry_run();
    }
    let plan = mlm.apply_pipeline(request).await?;
    let summary = plan_summary(&plan);
    out.print_tables(&plan, |_| vec![plan_table(&plan)], Some(&summary))
}

async fn promote(a: PromoteArgs, mlm: &dyn Pipelines, out: Output) -> Result<(), Failure> {
    let request = PromoteRequest::new(a.pipeline.clone(), a.version, a.stage, CLI_ACTOR);
    let mut run = mlm.promote(request).await?;
    if a.wait {
        run = wait_for_run(mlm, &a.pipeline, &run.id, a.timeout).await?;
    }
    print_run(&run, out)
}

/// Polls a run until it has ended or awaits a promotion.
async fn wait_for_run(
    mlm: &dyn Pipelines,
    pipeline: &PipelineName,
    id: &str,
    timeout: Duration,
) -> Result<PipelineRun, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let run = mlm.get_run(pipeline, id).await?;
        if run.state.is_settled() {
            return Ok(run);
        }
        if Instant::now() >= deadline {
            return Err(Error::timeout(format!(
                "run {id} of pipeline '{pipeline}' is still {} after {timeout:?}",
                run.state.as_str()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn print_run(run: &PipelineRun, out: Output) -> Result<(), Failure> {
    out.print_tables(run, |color| run_tables(run, color), None)
}

fn plan_summary(plan: &PipelinePlan) -> String {
    let kept = if plan.dry_run {
        "dry run: nothing was changed"
    } else {
        "applied"
    };
    format!("pipeline '{}': {} ({kept})\n", plan.pipeline, plan.action)
}

fn plan_table(plan: &PipelinePlan) -> Table {
    let mut t = table(&["STAGE", "ACTION", "SERVING", "CHANGES"]);
    for stage in &plan.stages {
        t.add_row(vec![
            Cell::new(&stage.stage),
            Cell::new(&stage.action),
            Cell::new(versions(&stage.serving)),
            Cell::new(stage.changes.join("\n")),
        ]);
    }
    t
}

fn versions(list: &[u32]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    let texts: Vec<String> = list.iter().map(u32::to_string).collect();
    texts.join(",")
}

/// A pipeline: its stages and what they serve, the active runs, the latest ended ones.
fn pipeline_tables(p: &Pipeline, color: bool) -> Vec<Table> {
    let mut summary = table(&[]);
    summary.add_row(vec!["Pipeline:".into(), p.spec.pipeline.to_string()]);
    summary.add_row(vec!["Model:".into(), p.spec.model.to_string()]);
    summary.add_row(vec!["Updated:".into(), timestamp(p.updated_at)]);
    let mut stages = table(&["STAGE", "ENDPOINT", "STATUS", "LIVE VERSION", "APPROVAL"]);
    for (status, spec) in p.stages.iter().zip(&p.spec.stages) {
        let endpoint_status = status.endpoint_status.map_or("-", |s| s.as_str());
        stages.add_row(vec![
            Cell::new(&status.name),
            Cell::new(&status.endpoint),
            status_cell(endpoint_status, color),
            Cell::new(status.live_version.map_or("-".into(), |v| v.to_string())),
            Cell::new(if spec.requires_approval {
                "required"
            } else {
                "-"
            }),
        ]);
    }
    let active: Vec<RunSummary> = p.active_runs.iter().map(PipelineRun::summary).collect();
    let runs: Vec<RunSummary> = active.into_iter().chain(p.recent_runs.clone()).collect();
    vec![summary, stages, runs.table(color)]
}

/// A run: what it deploys, its stages, then its timeline.
fn run_tables(run: &PipelineRun, color: bool) -> Vec<Table> {
    let mut summary = table(&[]);
    summary.add_row(vec!["Run:".into(), run.id.clone()]);
    summary.add_row(vec!["Pipeline:".into(), run.pipeline.to_string()]);
    summary.add_row(vec!["Version:".into(), run.model_version.to_string()]);
    summary.add_row(vec![
        Cell::new("State:"),
        status_cell(run.state.as_str(), color),
    ]);
    if let Some(reason) = &run.reason {
        summary.add_row(vec!["Reason:".into(), reason.clone()]);
    }
    let mut stages = table(&["STAGE", "ENDPOINT", "STATE", "DEPLOYMENT", "PROMOTED BY"]);
    for stage in &run.stages {
        stages.add_row(vec![
            Cell::new(&stage.name),
            Cell::new(&stage.endpoint),
            status_cell(stage.state.as_str(), color),
            Cell::new(stage.deployment.as_deref().unwrap_or("-")),
            Cell::new(stage.promoted_by.as_deref().unwrap_or("-")),
        ]);
    }
    let mut steps = table(&["AT", "STAGE", "STEP", "BY", "MESSAGE"]);
    for step in &run.steps {
        steps.add_row(vec![
            Cell::new(timestamp(step.at)),
            Cell::new(step.stage.as_ref().map_or("-", |s| s.as_str())),
            Cell::new(&step.kind),
            Cell::new(&step.actor),
            Cell::new(&step.message),
        ]);
    }
    vec![summary, stages, steps]
}

impl Row for Pipeline {
    const HEADERS: &'static [&'static str] = &["NAME", "MODEL", "STAGES", "ACTIVE RUNS", "AGE"];
    fn cells(&self, _: bool) -> Vec<Cell> {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| match s.live_version {
                Some(v) => format!("{}=v{v}", s.name),
                None => s.name.to_string(),
            })
            .collect();
        vec![
            Cell::new(&self.spec.pipeline),
            Cell::new(&self.spec.model),
            Cell::new(stages.join(",")),
            Cell::new(self.active_runs.len()),
            Cell::new(age(self.created_at)),
        ]
    }
}

impl Row for PipelineRun {
    const HEADERS: &'static [&'static str] = RunSummary::HEADERS;
    fn cells(&self, color: bool) -> Vec<Cell> {
        self.summary().cells(color)
    }
}

impl Row for RunSummary {
    const HEADERS: &'static [&'static str] = &["RUN", "VERSION", "STATE", "REASON", "UPDATED"];
    fn cells(&self, color: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.id),
            Cell::new(self.version),
            status_cell(self.state.as_str(), color),
            Cell::new(self.reason.as_deref().unwrap_or("")),
            Cell::new(age(self.updated_at)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_files_are_read_relative_to_the_pipeline_file() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/agnews-classifier/pipeline.yml");
        let spec = read_pipeline_file(&example).unwrap();
        let smoke = spec.stages[0].smoke_test.as_ref().unwrap();
        assert!(!smoke.inline_requests().unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let moved = dir.path().join("pipeline.yml");
        std::fs::copy(&example, &moved).unwrap();
        let failure = read_pipeline_file(&moved).unwrap_err();
        assert!(
            format!("{failure:?}").contains("smoke.jsonl"),
            "{failure:?}"
        );
        assert_eq!(failure.code(), 2);
    }
}
