//! Uploading packed models to S3 (`mlm models push`): content-addressed objects,
//! `<prefix>/<model>/sha256-<hex>/model.tar.gz` under `[aws] artifacts_uri` or the destination
//! given, so the same archive is uploaded once. Above one part
//! ([`AwsProviderBuilder::with_upload_part_bytes`], default 8 MiB) the upload is multipart,
//! four parts at a time; a failed multipart upload is aborted, so nothing half-made stays.
//!
//! A version registered with such a URI reports the digest in its key as its
//! `artifact_digest` ([`digest_of_uri`]).
//!
//! IAM: `s3:GetObject` (HeadObject), `s3:PutObject` (PutObject, CreateMultipartUpload,
//! UploadPart, CompleteMultipartUpload), `s3:AbortMultipartUpload`.
//!
//! [`AwsProviderBuilder::with_upload_part_bytes`]: crate::AwsProviderBuilder::with_upload_part_bytes

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt, TryStreamExt};
use mlm_core::{
    ArtifactUpload, Artifacts, Error, ResourceKind, Result, UploadedArtifact, sha256_hex,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::captures::split_s3_uri;
use crate::error::{Target, from_sdk};
use crate::provider::{AwsProvider, Inner};

/// Parts in flight at once.
const PARTS_AT_ONCE: usize = 4;
/// The file name SageMaker expects.
const ARCHIVE: &str = "model.tar.gz";

/// The `sha256:<hex>` an artifact URI written by an upload carries in its key.
pub(crate) fn digest_of_uri(uri: &str) -> Option<String> {
    let folder = uri.strip_suffix(ARCHIVE)?.strip_suffix('/')?;
    let hex = folder.rsplit('/').next()?.strip_prefix("sha256-")?;
    let digest = format!("sha256:{hex}");
    sha256_hex(&digest).is_ok().then_some(digest)
}

#[async_trait]
impl Artifacts for AwsProvider {
    async fn upload_artifact(&self, upload: ArtifactUpload) -> Result<UploadedArtifact> {
        let hex = upload.digest_hex()?.to_owned();
        let place = match (
            &upload.options.destination,
            &self.inner.settings.artifacts_uri,
        ) {
            (Some(given), _) => given.as_str(),
            (None, Some(configured)) => configured.as_str(),
            (None, None) => {
                return Err(Error::invalid(
                    "no place for artifacts: set [aws] artifacts_uri or give a destination \
                     (s3://bucket/prefix)",
                ));
            }
        };
        let (bucket, prefix) =
            split_s3_uri(place).map_err(|e| Error::invalid(e.message().to_owned()))?;
        let checked = upload.clone();
        tokio::task::spawn_blocking(move || checked.verify())
            .await
            .map_err(|e| Error::provider("hashing the archive stopped", e))??;
        let key = [
            prefix,
            upload.model.as_str(),
            &format!("sha256-{hex}"),
            ARCHIVE,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
        let uri = format!("s3://{bucket}/{key}");
        let object = Object { bucket, key: &key };
        let answer = UploadedArtifact::new(uri, upload.digest.clone(), upload.bytes);
        if self.inner.stored_size(&object).await? == Some(upload.bytes) {
            upload.report(upload.bytes);
            return Ok(answer.reused(true));
        }
        let part = self.inner.settings.upload_part_bytes.max(1);
        if upload.bytes <= part {
            self.inner.put_whole(&object, &upload).await?;
            return Ok(answer);
        }
        let parts = self.inner.put_in_parts(&object, &upload, part).await?;
        Ok(answer.with_parts(parts))
    }
}

/// Where an archive goes.
struct Object<'a> {
    bucket: &'a str,
    key: &'a str,
}

impl Object<'_> {
    fn target(&self) -> Target {
        Target::new(
            ResourceKind::ModelVersion,
            format!("(artifact) s3://{}/{}", self.bucket, self.key),
        )
    }
}

impl Inner {
    /// The size of the object, or `None` when there is none.
    async fn stored_size(&self, object: &Object<'_>) -> Result<Option<u64>> {
        let head = self
            .s3
            .head_object()
            .bucket(object.bucket)
            .key(object.key)
            .send()
            .await;
        match head {
            Ok(head) => Ok(head.content_length().map(|n| n.max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(from_sdk(e, Some(&object.target()))),
        }
    }

    async fn put_whole(&self, object: &Object<'_>, upload: &ArtifactUpload) -> Result<()> {
        let body = ByteStream::from_path(&upload.file)
            .await
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", upload.file.display())))?;
        self.s3
            .put_object()
            .bucket(object.bucket)
            .key(object.key)
            .metadata("sha256", &upload.digest)
            .content_type("application/gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&object.target())))?;
        upload.report(upload.bytes);
        Ok(())
    }

    /// A multipart upload of `part`-byte parts; aborted when any part fails.
    async fn put_in_parts(
        &self,
        object: &Object<'_>,
        upload: &ArtifactUpload,
        part: u64,
    ) -> Result<u32> {
        let target = object.target();
        let started = self
            .s3
            .create_multipart_upload()
            .bucket(object.bucket)
            .key(object.key)
            .metadata("sha256", &upload.digest)
            .content_type("application/gzip")
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&target)))?;
        let id = started
            .upload_id()
            .ok_or_else(|| Error::provider_msg("S3 started an upload without an id", false))?
            .to_owned();
        match self.send_parts(object, upload, part, &id).await {
            Ok(parts) => Ok(parts),
            Err(e) => {
                let abort = self
                    .s3
                    .abort_multipart_upload()
                    .bucket(object.bucket)
                    .key(object.key)
                    .upload_id(&id)
                    .send()
                    .await;
                if let Err(abort) = abort {
                    tracing::warn!(key = object.key, "an aborted upload stays: {abort}");
                }
                Err(e)
            }
        }
    }

    async fn send_parts(
        &self,
        object: &Object<'_>,
        upload: &ArtifactUpload,
        part: u64,
        id: &str,
    ) -> Result<u32> {
        let target = object.target();
        let count = upload.bytes.div_ceil(part);
        let sent = std::sync::atomic::AtomicU64::new(0);
        let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
            .map(|index| {
                let (target, sent) = (&target, &sent);
                async move {
                    let offset = index * part;
                    let len = part.min(upload.bytes - offset);
                    let body = read_part(&upload.file, offset, len).await?;
                    let number = i32::try_from(index + 1)
                        .map_err(|_| Error::invalid("the archive needs too many parts"))?;
                    let done = self
                        .s3
                        .upload_part()
                        .bucket(object.bucket)
                        .key(object.key)
                        .upload_id(id)
                        .part_number(number)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map_err(|e| from_sdk(e, Some(target)))?;
                    let total = sent.fetch_add(len, std::sync::atomic::Ordering::Relaxed) + len;
                    upload.report(total);
                    Ok::<_, Error>(
                        CompletedPart::builder()
                            .set_e_tag(done.e_tag().map(str::to_owned))
                            .part_number(number)
                            .build(),
                    )
                }
            })
            .buffer_unordered(PARTS_AT_ONCE)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.s3
            .complete_multipart_upload()
            .bucket(object.bucket)
            .key(object.key)
            .upload_id(id)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&target)))?;
        u32::try_from(count).map_err(|_| Error::invalid("the archive needs too many parts"))
    }
}

/// `len` bytes of `file` from `offset`.
async fn read_part(file: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let cannot = |e: std::io::Error| Error::invalid(format!("cannot read {}: {e}", file.display()));
    let mut opened = tokio::fs::File::open(file).await.map_err(cannot)?;
    opened
        .seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(cannot)?;
    let mut body = vec![0; usize::try_from(len).map_err(|_| Error::invalid("a part too big"))?];
    opened.read_exact(&mut body).await.map_err(cannot)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_uris_carry_their_digest() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let uri = format!("s3://b/models/news/sha256-{hex}/model.tar.gz");
        assert_eq!(digest_of_uri(&uri), Some(format!("sha256:{hex}")));
        assert_eq!(
            digest_of_uri(&format!("s3://b/sha256-{hex}/model.tar.gz")),
            Some(format!("sha256:{hex}"))
        );
        for other in [
            "s3://b/models/news/model.tar.gz".to_string(),
            format!("s3://b/sha256-{hex}/other.tar.gz"),
            format!("s3://b/sha256-{}/model.tar.gz", &hex[1..]),
            format!("s3://b/xsha256-{hex}/model.tar.gz"),
        ] {
            assert_eq!(digest_of_uri(&other), None, "{other}");
        }
    }
}
