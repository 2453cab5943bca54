//! `mlm versions`.

use mlm_core::{Approval, CreateVersionRequest, ModelName, ModelRegistry, UpdateVersionRequest};

use super::{list, pairs};
use crate::cli::{VersionArg, VersionFields, VersionsCommand};
use crate::failure::Failure;
use crate::output::Output;

/// The request for a version of `model` with `fields`.
pub(super) fn version_request(
    model: ModelName,
    artifact: String,
    fields: VersionFields,
) -> CreateVersionRequest {
    let mut request = CreateVersionRequest::new(model, artifact, fields.image);
    request.environment = pairs(fields.environment);
    if let Some(approval) = fields.approval {
        request.approval = approval;
    }
    request.description = fields.description;
    request
}

pub(super) async fn run(
    command: VersionsCommand,
    mlm: &dyn ModelRegistry,
    out: Output,
) -> Result<(), Failure> {
    match command {
        VersionsCommand::List(a) => {
            out.print(&list(&a.page, |p| mlm.list_versions(&a.model, p)).await?)
        }
        VersionsCommand::Get(a) => out.print(&mlm.get_version(&a.model, a.version).await?),
        VersionsCommand::Create(a) => {
            let request = version_request(a.model, a.artifact, a.version);
            out.print(&mlm.create_version(request).await?)
        }
        VersionsCommand::Approve(a) => approve(mlm, a, Approval::Approved, out).await,
        VersionsCommand::Reject(a) => approve(mlm, a, Approval::Rejected, out).await,
        VersionsCommand::Delete(a) => {
            mlm.delete_version(&a.model, a.version).await?;
            out.note(&format!(
                "deleted version {} of model '{}'",
                a.version, a.model
            ))
        }
    }
}

async fn approve(
    mlm: &dyn ModelRegistry,
    a: VersionArg,
    approval: Approval,
    out: Output,
) -> Result<(), Failure> {
    let request = UpdateVersionRequest::new().with_approval(approval);
    out.print(&mlm.update_version(&a.model, a.version, request).await?)
}
