//! `mlm versions`.

use mlm_core::{Approval, CreateVersionRequest, ModelRegistry, UpdateVersionRequest};

use super::{list, pairs};
use crate::cli::{VersionArg, VersionsCommand};
use crate::failure::Failure;
use crate::output::Output;

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
            let mut request = CreateVersionRequest::new(a.model, a.artifact, a.image);
            request.environment = pairs(a.environment);
            if let Some(approval) = a.approval {
                request.approval = approval;
            }
            request.description = a.description;
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
