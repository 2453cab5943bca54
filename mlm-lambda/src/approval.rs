//! `SageMaker Model Package State Change`: an approval starts the model's pipeline runs
//! (issue 13's engine, its state in S3); other statuses are logged and ignored.

use mlm_aws::AwsProvider;
use mlm_core::pipeline::{ApprovalEvent, PipelineRun, Pipelines};
use mlm_core::{ModelName, Result};

use crate::events::ModelPackageStateChange;

/// Starts the runs an approval calls for (one per pipeline of the model; the same event
/// delivered twice starts them once) and moves every pipeline on by one tick.
pub async fn state_changed(
    provider: &AwsProvider,
    change: &ModelPackageStateChange,
) -> Result<Vec<PipelineRun>> {
    if change.model_approval_status != "Approved" {
        tracing::info!(
            model = change.model_package_group_name,
            version = change.model_package_version,
            status = change.model_approval_status,
            "not an approval: ignored"
        );
        return Ok(Vec::new());
    }
    let model = ModelName::new(&change.model_package_group_name)?;
    let event = ApprovalEvent::new(model, change.model_package_version);
    let runs = provider.version_approved(event).await?;
    provider.tick_pipelines().await?;
    Ok(runs)
}
