//! `/v1/models` and `/v1/models/{model}/versions`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ListParams, Tagged, check_if_match, found, json};
use crate::extract::{ApiJson, ApiPath, IfMatch, QueryPairs, model_name, version_number};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// A model in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ModelPath {
    /// The model's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news-classifier"
    )]
    pub(crate) model: String,
}

/// A model version in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct VersionPath {
    /// The model's name.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63,
        example = "news-classifier"
    )]
    pub(crate) model: String,
    /// The version number.
    #[param(value_type = i64, minimum = 0, maximum = 4294967295_u32, example = 1)]
    pub(crate) version: String,
}

/// `If-Match` on models, versions and endpoints.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IfMatchHeader {
    /// Apply only if the resource's current `ETag` is one of these (or `*` for any existing
    /// resource); otherwise `412`. Weak tags never match; an empty list matches nothing.
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = r#"^[ \t]*(\*|((W/)?"[!#-~]*")?([ \t]*,[ \t]*((W/)?"[!#-~]*")?)*)[ \t]*$"#
    )]
    if_match: Option<String>,
}

fn location_of_model(name: &str) -> String {
    format!("/v1/models/{name}")
}

fn location_of_version(model: &str, version: u32) -> String {
    format!("/v1/models/{model}/versions/{version}")
}

/// List models
///
/// Models by name, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    params(ListParams),
    responses((status = 200, description = "A page of models", body = wire::ModelPage))
)]
pub(crate) async fn list_models(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let params = ListParams::parse(query)?;
    let page = state.provider().list_models(params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Register a model
///
/// Names are the idempotency key: registering a taken name is a `409 already_exists`.
#[utoipa::path(
    post,
    path = "/v1/models",
    tag = "models",
    request_body = wire::CreateModel,
    responses((
        status = 201,
        description = "The model was registered",
        body = mlm_core::Model,
        headers(
            ("Location" = String, description = "The model's URL"),
            ("ETag" = String, description = "The model's entity tag")
        ),
        links(
            ("GetModel" = (operation_id = "get_model",
                parameters(("model" = "$response.body#/name")))),
            ("UpdateModel" = (operation_id = "update_model",
                parameters(("model" = "$response.body#/name"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("DeleteModel" = (operation_id = "delete_model",
                parameters(("model" = "$response.body#/name"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("ListVersions" = (operation_id = "list_versions",
                parameters(("model" = "$response.body#/name")))),
            ("CreateVersion" = (operation_id = "create_version",
                parameters(("model" = "$response.body#/name"))))
        )
    ))
)]
pub(crate) async fn create_model(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<wire::CreateModel>,
) -> Result<Response, ApiError> {
    let request = body.into_domain()?;
    let model = state.provider().create_model(request).await?;
    let location = location_of_model(model.name.as_str());
    Ok(Tagged::new(&model)?.respond(StatusCode::CREATED, Some(&location)))
}

/// Describe a model
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "models",
    params(ModelPath),
    responses((
        status = 200,
        description = "The model",
        body = mlm_core::Model,
        headers(("ETag" = String, description = "The model's entity tag"))
    ))
)]
pub(crate) async fn get_model(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    let model = state.provider().get_model(&name).await?;
    Ok(Tagged::new(&model)?.respond(StatusCode::OK, None))
}

async fn check_model(
    state: &AppState,
    name: &mlm_core::ModelName,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    if !if_match.is_present() {
        return Ok(());
    }
    let current = found(state.provider().get_model(name).await)?;
    check_if_match(if_match, &format!("model '{name}'"), current.as_ref())
}

/// Change a model's description or tags
#[utoipa::path(
    patch,
    path = "/v1/models/{model}",
    tag = "models",
    params(ModelPath, IfMatchHeader),
    request_body = wire::UpdateModel,
    responses((
        status = 200,
        description = "The updated model",
        body = mlm_core::Model,
        headers(("ETag" = String, description = "The model's new entity tag"))
    ))
)]
pub(crate) async fn update_model(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<wire::UpdateModel>,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    // The body is checked in full before the precondition (RFC 9110 section 13.2.1).
    let request = body.into_domain();
    request.validate()?;
    check_model(&state, &name, &if_match).await?;
    let model = state.provider().update_model(&name, request).await?;
    Ok(Tagged::new(&model)?.respond(StatusCode::OK, None))
}

/// Delete a model
///
/// A model with versions cannot be deleted (`409 failed_precondition`): delete its versions
/// first.
#[utoipa::path(
    delete,
    path = "/v1/models/{model}",
    tag = "models",
    params(ModelPath, IfMatchHeader),
    responses((status = 204, description = "The model was deleted"))
)]
pub(crate) async fn delete_model(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let name = model_name(&path.model)?;
    check_model(&state, &name, &if_match).await?;
    state.provider().delete_model(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a model's versions
///
/// Oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/models/{model}/versions",
    tag = "versions",
    params(ModelPath, ListParams),
    responses((status = 200, description = "A page of versions", body = wire::VersionPage))
)]
pub(crate) async fn list_versions(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    let params = ListParams::parse(query)?;
    let page = state.provider().list_versions(&name, params.page()).await?;
    json(StatusCode::OK, &page)
}

/// Register a new version
///
/// Versions are numbered 1, 2, 3... and immutable: a new artifact is a new version.
#[utoipa::path(
    post,
    path = "/v1/models/{model}/versions",
    tag = "versions",
    params(ModelPath),
    request_body = wire::CreateVersion,
    responses((
        status = 201,
        description = "The version was registered",
        body = mlm_core::ModelVersion,
        headers(
            ("Location" = String, description = "The version's URL"),
            ("ETag" = String, description = "The version's entity tag")
        ),
        links(
            ("GetVersion" = (operation_id = "get_version",
                parameters(("model" = "$response.body#/model"),
                    ("version" = "$response.body#/version")))),
            ("UpdateVersion" = (operation_id = "update_version",
                parameters(("model" = "$response.body#/model"),
                    ("version" = "$response.body#/version"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("DeleteVersion" = (operation_id = "delete_version",
                parameters(("model" = "$response.body#/model"),
                    ("version" = "$response.body#/version"),
                    ("header.If-Match" = "$response.header.ETag")))),
            ("GetModel" = (operation_id = "get_model",
                parameters(("model" = "$response.body#/model"))))
        )
    ))
)]
pub(crate) async fn create_version(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
    ApiJson(body): ApiJson<wire::CreateVersion>,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    let version = state
        .provider()
        .create_version(body.into_domain(name))
        .await?;
    let location = location_of_version(version.model.as_str(), version.version);
    Ok(Tagged::new(&version)?.respond(StatusCode::CREATED, Some(&location)))
}

/// Describe a version
#[utoipa::path(
    get,
    path = "/v1/models/{model}/versions/{version}",
    tag = "versions",
    params(VersionPath),
    responses((
        status = 200,
        description = "The version",
        body = mlm_core::ModelVersion,
        headers(("ETag" = String, description = "The version's entity tag"))
    ))
)]
pub(crate) async fn get_version(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    let number = version_number(&path.version)?;
    let version = state.provider().get_version(&name, number).await?;
    Ok(Tagged::new(&version)?.respond(StatusCode::OK, None))
}

async fn check_version(
    state: &AppState,
    name: &mlm_core::ModelName,
    number: u32,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    if !if_match.is_present() {
        return Ok(());
    }
    let current = found(state.provider().get_version(name, number).await)?;
    check_if_match(
        if_match,
        &format!("model version '{name}/{number}'"),
        current.as_ref(),
    )
}

/// Approve, reject or describe a version
///
/// Only `approval` and `description` change. Artifacts, images and environments are
/// immutable: a body that sets them is a `400` (register a new version instead).
#[utoipa::path(
    patch,
    path = "/v1/models/{model}/versions/{version}",
    tag = "versions",
    params(VersionPath, IfMatchHeader),
    request_body = wire::UpdateVersion,
    responses((
        status = 200,
        description = "The updated version",
        body = mlm_core::ModelVersion,
        headers(("ETag" = String, description = "The version's new entity tag"))
    ))
)]
pub(crate) async fn update_version(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<wire::UpdateVersion>,
) -> Result<Response, ApiError> {
    let name = model_name(&path.model)?;
    let number = version_number(&path.version)?;
    let immutable = body.immutable_fields();
    if !immutable.is_empty() {
        return Err(ApiError::invalid(format!(
            "{} cannot change: a version's artifact, image and environment are immutable, and a \
             new artifact is a new version: POST /v1/models/{name}/versions instead",
            immutable.join(", ")
        )));
    }
    // The body is checked in full before the precondition (RFC 9110 section 13.2.1).
    let request = body.into_domain();
    request.validate()?;
    check_version(&state, &name, number, &if_match).await?;
    let version = state
        .provider()
        .update_version(&name, number, request)
        .await?;
    Ok(Tagged::new(&version)?.respond(StatusCode::OK, None))
}

/// Delete a version
///
/// A version an endpoint serves cannot be deleted (`409 failed_precondition`).
#[utoipa::path(
    delete,
    path = "/v1/models/{model}/versions/{version}",
    tag = "versions",
    params(VersionPath, IfMatchHeader),
    responses((status = 204, description = "The version was deleted"))
)]
pub(crate) async fn delete_version(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let name = model_name(&path.model)?;
    let number = version_number(&path.version)?;
    check_version(&state, &name, number, &if_match).await?;
    state.provider().delete_version(&name, number).await?;
    Ok(StatusCode::NO_CONTENT)
}
