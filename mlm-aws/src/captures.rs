//! Data capture records, read from where SageMaker writes them:
//! `s3://bucket/prefix/{endpoint}/{variant}/yyyy/mm/dd/hh/{file}.jsonl`, one JSON Lines record
//! per invocation. Only the hour folders the window covers are listed.

use async_trait::async_trait;
use mlm_core::backend::paginate_sorted;
use mlm_core::{
    CaptureQuery, CaptureRecord, CapturedRecord, Captures, Error, Page, PageRequest, ResourceKind,
    Result, VariantName,
};

use crate::error::{Target, from_sdk};
use crate::provider::{AwsProvider, Inner};

/// Most objects one listing reads; a window with more asks for a shorter window.
const MAX_OBJECTS: usize = 10_000;

#[async_trait]
impl Captures for AwsProvider {
    async fn list_captures(
        &self,
        query: CaptureQuery,
        page: PageRequest,
    ) -> Result<Page<CapturedRecord>> {
        query.validate()?;
        page.size()?;
        let inner = &self.inner;
        let described = inner.describe(query.endpoint.as_str()).await?;
        let config = inner.config(&described.config_name).await?;
        // An endpoint that captures nothing has no records (moto describes one with an empty
        // destination).
        let capture = config
            .data_capture
            .as_ref()
            .filter(|c| !c.destination_uri.is_empty());
        let Some(capture) = capture else {
            return Ok(Page::last(Vec::new()));
        };
        let (bucket, prefix) = split_s3_uri(&capture.destination_uri)?;
        let variants: Vec<VariantName> = match &query.variant {
            Some(v) => vec![v.clone()],
            None => config
                .variants
                .iter()
                .filter_map(|v| VariantName::new(&v.name).ok())
                .collect(),
        };
        let mut records = Vec::new();
        for variant in variants {
            for folder in query.hour_folders(&variant) {
                let folder = match prefix {
                    "" => format!("{folder}/"),
                    p => format!("{p}/{folder}/"),
                };
                for key in inner.capture_keys(bucket, &folder).await? {
                    records.extend(
                        inner
                            .capture_file(bucket, &key)
                            .await?
                            .into_iter()
                            .filter(|r| query.contains(r.event_metadata.inference_time))
                            .map(|r| CapturedRecord::new(variant.clone(), r)),
                    );
                }
            }
        }
        records.sort_by_cached_key(CapturedRecord::sort_key);
        paginate_sorted(records, &page, CapturedRecord::sort_key)
    }
}

/// `s3://bucket/some/prefix` as (`bucket`, `some/prefix`).
pub(crate) fn split_s3_uri(uri: &str) -> Result<(&str, &str)> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| {
        Error::provider_msg(
            format!("'{uri}' is not an s3:// URI (s3://bucket/prefix)"),
            false,
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((bucket, prefix.trim_matches('/')))
}

impl Inner {
    /// The whole content of an S3 object; `NotFound` names `target`.
    pub(crate) async fn read_object(
        &self,
        bucket: &str,
        key: &str,
        target: &Target,
    ) -> Result<aws_sdk_s3::primitives::AggregatedBytes> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(target)))?;
        object
            .body
            .collect()
            .await
            .map_err(|e| Error::provider(format!("cannot read s3://{bucket}/{key}"), e))
    }

    /// The `.jsonl` keys under `folder`, by name.
    async fn capture_keys(&self, bucket: &str, folder: &str) -> Result<Vec<String>> {
        let target = Target::new(
            ResourceKind::Endpoint,
            format!("(captures) s3://{bucket}/{folder}"),
        );
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(folder)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(e, Some(&target)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.ends_with(".jsonl"))
                    .map(str::to_string),
            );
            if keys.len() > MAX_OBJECTS {
                return Err(Error::invalid(format!(
                    "more than {MAX_OBJECTS} capture files under s3://{bucket}/{folder}: ask for \
                     a shorter window"
                )));
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The records of one capture file; a line that does not parse is skipped.
    async fn capture_file(&self, bucket: &str, key: &str) -> Result<Vec<CaptureRecord>> {
        let target = Target::new(
            ResourceKind::Endpoint,
            format!("(captures) s3://{bucket}/{key}"),
        );
        let bytes = self.read_object(bucket, key, &target).await?.into_bytes();
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(key, "unreadable capture line: {e}");
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_prefix() {
        assert_eq!(split_s3_uri("s3://b/p/q/").unwrap(), ("b", "p/q"));
        assert_eq!(split_s3_uri("s3://b").unwrap(), ("b", ""));
        assert!(split_s3_uri("https://b/p").is_err());
    }
}
