//! `/v1/pipelines`: promotion pipelines (apply, read, delete), their runs (read, promote,
//! cancel) and `/v1/models/{model}/versions/{version}/pipeline-runs`, the approval event that
//! starts runs. The engine is the core's ([`mlm_core::pipeline`]); every handler is one
//! provider call. The timeline records the caller as `user:<role>` ([`Caller`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mlm_core::pipeline::{ApplyPipelineRequest, ApprovalEvent, PipelineSpec, PromoteRequest};
use mlm_core::{PipelineName, StageName};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::models::VersionPath;
use super::{ListParams, json};
use crate::auth::Caller;
use crate::extract::{
    ApiJson, ApiPath, QueryPairs, is_json, media_type, model_name, read_body, version_number,
};
use crate::problem::{ApiError, ProblemType};
use crate::state::AppState;
use crate::wire;

/// A pipeline in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PipelinePath {
    /// The pipeline's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    pipeline: String,
}

impl PipelinePath {
    fn name(&self) -> Result<PipelineName, ApiError> {
        Ok(PipelineName::new(&self.pipeline)?)
    }
}

/// A run of a pipeline in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunPath {
    /// The pipeline's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news"
    )]
    pipeline: String,
    /// The run: `v<version>`.
    #[param(pattern = "^v[0-9]{1,10}$", example = "v1")]
    run: String,
}

impl RunPath {
    fn parts(&self) -> Result<(PipelineName, &str), ApiError> {
        Ok((PipelineName::new(&self.pipeline)?, &self.run))
    }
}

/// Plan only.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ApplyParams {
    /// `true`: answer the plan and keep nothing.
    dry_run: Option<bool>,
}

/// Let a run awaiting promotion go on into a stage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 3, "stage": "production"}))]
pub(crate) struct Promotion {
    /// The version (its run is `v<version>`).
    #[schema(minimum = 0, maximum = 4294967295_u32)]
    pub(crate) version: u32,
    /// The stage it enters.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub(crate) stage: String,
}

/// Whether the body is YAML (`application/yaml`, `application/x-yaml`, `text/yaml`) or JSON;
/// anything else is a `415`.
fn check_pipeline_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = media_type(headers);
    let yaml = matches!(
        essence.as_deref(),
        Some("application/yaml" | "application/x-yaml" | "text/yaml")
    );
    if yaml || is_json(headers) {
        return Ok(());
    }
    Err(ApiError::new(
        ProblemType::UnsupportedMediaType,
        "send the pipeline file as YAML (Content-Type: application/yaml) or JSON \
         (application/json)",
    ))
}

/// Reads the pipeline file in the body and checks it names the pipeline of the path.
async fn pipeline_body(
    state: &AppState,
    name: &PipelineName,
    request: Request,
) -> Result<PipelineSpec, ApiError> {
    check_pipeline_media_type(request.headers())?;
    let bytes = read_body(request, state.limits().max_body_bytes).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| ApiError::invalid(format!("the pipeline file is not UTF-8: {e}")))?;
    let spec = PipelineSpec::parse(text)?;
    if &spec.pipeline != name {
        return Err(ApiError::invalid(format!(
            "the file's `pipeline` is '{}' but the path names '{name}': they must be the same",
            spec.pipeline
        )));
    }
    Ok(spec)
}

/// Apply a pipeline
///
/// Creates or replaces the pipeline from its file, YAML (`application/yaml`; also
/// `application/x-yaml`, `text/yaml`) or JSON, whose `pipeline` must be the name in the path.
/// Errors name the field and, for YAML, the line. Smoke tests must be inline: the server never
/// reads paths (`mlm pipelines apply` and the Python client inline `requests: file.jsonl`).
/// Answers the plan: what each stage's next deployment creates or changes; `201` when the
/// pipeline was created. With `?dry_run=true` nothing is kept.
#[utoipa::path(
    put,
    path = "/v1/pipelines/{pipeline}",
    tag = "pipelines",
    params(PipelinePath, ApplyParams),
    request_body(content(
        (mlm_core::pipeline::PipelineSpec = "application/json"),
        (mlm_core::pipeline::PipelineSpec = "application/yaml")
    )),
    responses(
        (status = 200, description = "The plan (updated, unchanged, or a dry run)", body = mlm_core::pipeline::PipelinePlan),
        (status = 201, description = "The plan: the pipeline was created", body = mlm_core::pipeline::PipelinePlan)
    )
)]
pub(crate) async fn apply_pipeline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<PipelinePath>,
    mut query: QueryPairs,
    request: Request,
) -> Result<Response, ApiError> {
    let name = path.name()?;
    let dry_run = query
        .take_parsed::<bool>("dry_run", "true or false")?
        .unwrap_or(false);
    query.finish(&["dry_run"])?;
    let spec = pipeline_body(&state, &name, request).await?;
    let mut apply = ApplyPipelineRequest::new(spec);
    apply.dry_run = dry_run;
    let plan = state.provider().apply_pipeline(apply).await?;
    let status = if plan.action == "created" && !plan.dry_run {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json(status, &plan)
}

/// List pipelines
#[utoipa::path(
    get,
    path = "/v1/pipelines",
    tag = "pipelines",
    params(ListParams),
    responses((status = 200, description = "A page of pipelines", body = wire::PipelinePage))
)]
pub(crate) async fn list_pipelines(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let params = ListParams::parse(query)?;
    let page = state.provider().list_pipelines(params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Describe a pipeline
///
/// The pipeline as applied, the version each stage's endpoint serves, the runs in progress
/// and the latest ended ones.
#[utoipa::path(
    get,
    path = "/v1/pipelines/{pipeline}",
    tag = "pipelines",
    params(PipelinePath),
    responses((status = 200, description = "The pipeline", body = mlm_core::pipeline::Pipeline))
)]
pub(crate) async fn get_pipeline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<PipelinePath>,
) -> Result<Response, ApiError> {
    let pipeline = state.provider().get_pipeline(&path.name()?).await?;
    json(StatusCode::OK, &pipeline)
}

/// Delete a pipeline
///
/// Deletes the pipeline and its runs; the stages' endpoints stay. `409 failed_precondition`
/// while a run is deploying.
#[utoipa::path(
    delete,
    path = "/v1/pipelines/{pipeline}",
    tag = "pipelines",
    params(PipelinePath),
    responses((status = 204, description = "The pipeline was deleted"))
)]
pub(crate) async fn delete_pipeline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<PipelinePath>,
) -> Result<StatusCode, ApiError> {
    state.provider().delete_pipeline(&path.name()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a pipeline's runs
///
/// One run per approved version, newest version first.
#[utoipa::path(
    get,
    path = "/v1/pipelines/{pipeline}/runs",
    tag = "pipelines",
    params(PipelinePath, ListParams),
    responses((status = 200, description = "A page of runs", body = wire::PipelineRunPage))
)]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<PipelinePath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = path.name()?;
    let params = ListParams::parse(query)?;
    let page = state.provider().list_runs(&name, params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Describe a run
///
/// Its stages and timeline: who or what did what, when and why.
#[utoipa::path(
    get,
    path = "/v1/pipelines/{pipeline}/runs/{run}",
    tag = "pipelines",
    params(RunPath),
    responses((status = 200, description = "The run", body = mlm_core::pipeline::PipelineRun))
)]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
) -> Result<Response, ApiError> {
    let (pipeline, id) = path.parts()?;
    let run = state.provider().get_run(&pipeline, id).await?;
    json(StatusCode::OK, &run)
}

/// Cancel a run
///
/// A running deployment is stopped and the stage rolled back; the run ends `cancelled`.
/// `409 failed_precondition` once it has ended.
#[utoipa::path(
    post,
    path = "/v1/pipelines/{pipeline}/runs/{run}/cancel",
    tag = "pipelines",
    params(RunPath),
    responses((status = 200, description = "The run", body = mlm_core::pipeline::PipelineRun))
)]
pub(crate) async fn cancel_run(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let (pipeline, id) = path.parts()?;
    let run = state
        .provider()
        .cancel_run(&pipeline, id, &caller.0)
        .await?;
    json(StatusCode::OK, &run)
}

/// Promote a version
///
/// Lets the version's run, awaiting promotion into `stage`, go on. `409 conflict` says why
/// when it cannot: the version failed, was superseded, or waits for another stage.
#[utoipa::path(
    post,
    path = "/v1/pipelines/{pipeline}/promotions",
    tag = "pipelines",
    params(PipelinePath),
    request_body = Promotion,
    responses((status = 200, description = "The run", body = mlm_core::pipeline::PipelineRun))
)]
pub(crate) async fn promote(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<PipelinePath>,
    caller: Caller,
    ApiJson(body): ApiJson<Promotion>,
) -> Result<Response, ApiError> {
    let stage = StageName::new(body.stage)?;
    let request = PromoteRequest::new(path.name()?, body.version, stage, caller.0);
    let run = state.provider().promote(request).await?;
    json(StatusCode::OK, &run)
}

/// Start a version's pipeline runs
///
/// The version's approval as an event: queues one run of the version in each pipeline of
/// the model, once; sent again it answers the same runs. `409 failed_precondition` if the
/// version is not approved.
#[utoipa::path(
    post,
    path = "/v1/models/{model}/versions/{version}/pipeline-runs",
    tag = "pipelines",
    params(VersionPath),
    responses((status = 200, description = "The version's runs, one per pipeline of the model", body = Vec<mlm_core::pipeline::PipelineRun>))
)]
pub(crate) async fn start_runs(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let mut event = ApprovalEvent::new(model_name(&path.model)?, version_number(&path.version)?);
    event.actor = caller.0;
    let runs = state.provider().version_approved(event).await?;
    json(StatusCode::OK, &runs)
}
