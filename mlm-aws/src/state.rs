//! JSON records in one S3 folder, written create-only (`If-None-Match: *`) or
//! compare-and-swap (`If-Match: <ETag>`): how a stateless server, its replicas and a Lambda
//! share state (pipelines and runs, the Lambda's deploy markers) without a database.

use aws_sdk_s3::primitives::ByteStream;
use mlm_core::{Error, ResourceKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::captures::split_s3_uri;
use crate::error::{Target, from_sdk};

/// A conditional write's ETag, or `None` when its precondition failed.
fn unless_changed(written: Result<String>) -> Result<Option<String>> {
    match written {
        Ok(etag) => Ok(Some(etag)),
        Err(Error::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The precondition of a write.
pub(crate) enum Condition<'a> {
    None,
    Absent,
    Matches(&'a str),
}

/// A folder of JSON records in S3 (`s3://bucket/prefix/<name>/`); keys are relative to it.
#[derive(Debug, Clone)]
pub struct StateFolder {
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// `<prefix>/<name>/` (or `<name>/`).
    folder: String,
}

impl StateFolder {
    /// The folder `name` under `uri` (`s3://bucket/prefix`).
    pub(crate) fn new(s3: aws_sdk_s3::Client, uri: &str, name: &str) -> Result<Self> {
        let (bucket, prefix) = split_s3_uri(uri)?;
        let folder = match prefix {
            "" => format!("{name}/"),
            p => format!("{p}/{name}/"),
        };
        Ok(Self {
            s3,
            bucket: bucket.to_owned(),
            folder,
        })
    }

    fn target(&self, key: &str) -> Target {
        Target::new(
            ResourceKind::Pipeline,
            format!("(state) s3://{}/{}{key}", self.bucket, self.folder),
        )
    }

    /// The record at `key`, or `None`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, String)>> {
        match self.read(key, &self.target(key)).await {
            Ok(found) => Ok(Some(found)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `value` at `key` unless a record is there: its ETag, or `None` when one was.
    pub async fn create<T: Serialize>(&self, key: &str, value: &T) -> Result<Option<String>> {
        let target = self.target(key);
        unless_changed(self.write(key, value, Condition::Absent, &target).await)
    }

    /// Replaces the record at `key` if it is still the one read (or written) with `etag`: the
    /// new ETag, or `None` when it changed since.
    pub async fn replace<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        etag: &str,
    ) -> Result<Option<String>> {
        let target = self.target(key);
        unless_changed(
            self.write(key, value, Condition::Matches(etag), &target)
                .await,
        )
    }

    /// The keys of the records under `prefix` (relative to the folder).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.keys(prefix).await
    }

    /// An object's JSON and its ETag; `NotFound` names `target`.
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
        target: &Target,
    ) -> Result<(T, String)> {
        let full = format!("{}{key}", self.folder);
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(target)))?;
        let etag = object.e_tag().unwrap_or_default().to_owned();
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Error::provider(format!("cannot read s3://{}/{full}", self.bucket), e))?
            .into_bytes();
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::provider_msg(
                format!("s3://{}/{full} is not mlm's: {e}", self.bucket),
                false,
            )
        })?;
        Ok((value, etag))
    }

    /// Writes `value` at `key` under `condition` and gives the new ETag; a failed
    /// precondition is `Conflict`.
    pub(crate) async fn write(
        &self,
        key: &str,
        value: &impl Serialize,
        condition: Condition<'_>,
        target: &Target,
    ) -> Result<String> {
        let body =
            serde_json::to_vec(value).map_err(|e| Error::provider("cannot serialise state", e))?;
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.folder))
            .content_type("application/json")
            .body(ByteStream::from(body));
        put = match condition {
            Condition::None => put,
            Condition::Absent => put.if_none_match("*"),
            Condition::Matches(etag) => put.if_match(etag),
        };
        let written = put.send().await.map_err(|e| from_sdk(e, Some(target)))?;
        Ok(written.e_tag().unwrap_or_default().to_owned())
    }

    /// Deletes the object at `key`.
    pub(crate) async fn delete(&self, key: &str, target: &Target) -> Result<()> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.folder))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(target)))?;
        Ok(())
    }

    /// The keys under `prefix`, relative to the folder.
    pub(crate) async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{prefix}", self.folder))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(e, None))?;
            keys.extend(page.contents().iter().filter_map(|o| {
                o.key()
                    .and_then(|k| k.strip_prefix(&self.folder))
                    .map(str::to_owned)
            }));
        }
        Ok(keys)
    }
}
