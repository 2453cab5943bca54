//! Pipelines on AWS: the core's engine over this backend. Its state lives in S3 (see
//! `PipelineBucket`), so a stateless server or a Lambda can pick a run up where another left it.

use mlm_core::Error;

use crate::provider::AwsProvider;

mlm_core::pipelines_over_store!(AwsProvider, |provider| provider.pipeline_store());

impl AwsProvider {
    /// Where pipelines and runs are kept; `Unsupported` without `pipelines_uri`.
    pub fn pipeline_store(&self) -> Result<&dyn mlm_core::pipeline::PipelineStore, Error> {
        Err(Error::unsupported(
            "pipelines on AWS need a place for their state: set `pipelines_uri` (s3://bucket/prefix)",
        ))
    }
}
