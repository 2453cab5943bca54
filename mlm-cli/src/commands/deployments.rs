//! `mlm deployments`.

use mlm_core::Deployments;

use super::list;
use crate::cli::DeploymentsCommand;
use crate::failure::Failure;
use crate::output::Output;

pub(super) async fn run(
    command: DeploymentsCommand,
    mlm: &dyn Deployments,
    out: Output,
) -> Result<(), Failure> {
    match command {
        DeploymentsCommand::List(a) => {
            out.print(&list(&a.page, |p| mlm.list_deployments(&a.endpoint, p)).await?)
        }
        DeploymentsCommand::Get(a) => out.print(&mlm.get_deployment(&a.endpoint, &a.id).await?),
        DeploymentsCommand::Stop(a) => out.print(&mlm.stop_deployment(&a.endpoint, &a.id).await?),
    }
}
