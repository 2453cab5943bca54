//! `/v1/models/{model}/artifacts`: a packed model uploaded as the request body.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::IntoParams;

use super::json;
use super::models::ModelPath;
use crate::extract::{ApiPath, QueryPairs, model_name};
use crate::problem::{ApiError, ProblemType};
use crate::state::AppState;
use crate::wire;

/// What the upload is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct UploadParams {
    /// `sha256:` and the 64 lowercase hex digits of the body: a body that does not match is
    /// refused.
    #[param(pattern = "^sha256:[0-9a-f]{64}$")]
    digest: String,
    /// Where to put it instead of the backend's configured place (AWS: `s3://bucket/prefix`;
    /// the local backend takes none).
    destination: Option<String>,
}

/// Upload a packed model
///
/// The body is a `model.tar.gz` (`mlm models push` packs a directory deterministically); it
/// is stored where the backend's versions read artifacts, by digest, so the same archive
/// uploaded twice is stored once (`reused`). Register it with `POST
/// /v1/models/{model}/versions` and the answered `uri` as `artifact_uri`. `413` above the
/// server's `max_artifact_bytes`.
#[utoipa::path(
    post,
    path = "/v1/models/{model}/artifacts",
    tag = "models",
    params(ModelPath, UploadParams),
    request_body(
        description = "The archive (`model.tar.gz`)",
        content((wire::Binary = "application/gzip"))
    ),
    responses((status = 201, description = "Where the archive is", body = mlm_core::UploadedArtifact))
)]
pub(crate) async fn upload_artifact(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
    mut query: QueryPairs,
    request: Request,
) -> Result<Response, ApiError> {
    let model = model_name(&path.model)?;
    let digest = query
        .take_one("digest")?
        .ok_or_else(|| ApiError::invalid("query parameter 'digest' is required (sha256:<hex>)"))?;
    let destination = query.take_one("destination")?;
    query.finish(&["digest", "destination"])?;
    mlm_core::sha256_hex(&digest)?;
    let (file, bytes) = receive(request, state.limits().max_artifact_bytes, &digest).await?;
    let mut options = mlm_core::UploadOptions::default();
    options.destination = destination;
    let upload = mlm_core::ArtifactUpload::new(model, file.path().to_path_buf(), digest, bytes)
        .with_options(options);
    let stored = state.provider().upload_artifact(upload).await?;
    json(StatusCode::CREATED, &stored)
}

/// Streams the body into a temporary file (removed when dropped) within `limit`, and checks
/// it is `digest`.
async fn receive(
    request: Request,
    limit: u64,
    digest: &str,
) -> Result<(tempfile::NamedTempFile, u64), ApiError> {
    let too_large = || {
        ApiError::new(
            ProblemType::PayloadTooLarge,
            format!("the archive is larger than this server accepts ({limit} bytes)"),
        )
    };
    let file = tempfile::Builder::new()
        .prefix("mlm-upload-")
        .tempfile()
        .map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(ApiError::internal)?);
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    let mut body = request.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("the body could not be read: {e}")))?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(too_large());
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if format!("sha256:{actual}") != digest {
        return Err(ApiError::invalid(format!(
            "the body is sha256:{actual}, not {digest}: it changed or was cut short on the way"
        )));
    }
    Ok((file, bytes))
}
