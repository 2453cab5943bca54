//! Reading captured records back: the `Captures` half of the local backend.

use async_trait::async_trait;
use mlm_core::backend::paginate_sorted;
use mlm_core::{CaptureQuery, CapturedRecord, Captures, Error, Page, PageRequest, Result};

use super::LocalProvider;
use crate::capture::{captures_root, flush, read_records};

#[async_trait]
impl Captures for LocalProvider {
    async fn list_captures(
        &self,
        query: CaptureQuery,
        page: PageRequest,
    ) -> Result<Page<CapturedRecord>> {
        query.validate()?;
        page.size()?;
        // NotFound for an endpoint that does not exist (its old captures stay on disk).
        self.inner.store.get_endpoint(&query.endpoint)?;
        // Records queued before this call are on disk before it reads.
        flush(&self.inner.captures).await;
        let root = captures_root(&self.inner.config.data_dir);
        let records = tokio::task::spawn_blocking(move || read_records(&root, &query))
            .await
            .map_err(|e| Error::provider("the capture reader stopped", e))??;
        paginate_sorted(records, &page, CapturedRecord::sort_key)
    }
}
