//! Data capture records, read from where SageMaker writes them (S3).

use async_trait::async_trait;
use mlm_core::{CaptureQuery, CapturedRecord, Captures, Error, Page, PageRequest, Result};

use crate::provider::AwsProvider;

#[async_trait]
impl Captures for AwsProvider {
    async fn list_captures(
        &self,
        query: CaptureQuery,
        page: PageRequest,
    ) -> Result<Page<CapturedRecord>> {
        query.validate()?;
        page.size()?;
        Err(Error::unsupported("reading captured records on AWS"))
    }
}
