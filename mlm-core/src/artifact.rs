//! Uploading a packed model (`model.tar.gz`) to where a backend's versions read artifacts.
//!
//! Packing happens on the caller's side ([`crate::archive::pack_model_dir`]); a backend only
//! ever receives the archive's bytes, never a path to read. [`crate::archive::push_version`]
//! composes packing, [`Artifacts::upload_artifact`] and `create_version`.
//!
//! | backend | where the archive goes | the version's `artifact_uri` |
//! |---|---|---|
//! | local | unpacked into the artifact store (same checks as any import) | `store:sha256:<hex>` (the store's digest) |
//! | AWS | `<destination or [aws] artifacts_uri>/<model>/sha256-<hex>/model.tar.gz`, multipart above a threshold | that `s3://` URI |
//! | HTTP | `POST /v1/models/{model}/artifacts`, the body streamed | what the server's backend answered |
//!
//! Uploads are content-addressed: the same archive uploaded twice is stored once and the
//! second answer says `reused`.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::names::ModelName;

/// Called as an upload goes on: bytes sent so far, and the total.
pub type UploadProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Where an upload goes (instead of the backend's configured place) and who hears how it goes.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Where to put it instead of the backend's configured place (AWS: `s3://bucket/prefix`);
    /// backends without a choice refuse it.
    pub destination: Option<String>,
    /// Told of the bytes sent as the upload goes on.
    pub progress: Option<UploadProgress>,
}

impl UploadOptions {
    /// Puts the archive under `destination` instead of the backend's configured place.
    pub fn with_destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: UploadProgress) -> Self {
        self.progress = Some(progress);
        self
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("destination", &self.destination)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// An archive to upload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ArtifactUpload {
    /// The model the archive is a version of (it names the place on AWS).
    pub model: ModelName,
    /// A `model.tar.gz` the caller wrote.
    pub file: PathBuf,
    /// `sha256:<hex>` of the file; backends that store it by digest check it.
    pub digest: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Destination and progress.
    pub options: UploadOptions,
}

impl ArtifactUpload {
    /// An upload of `file` (of `bytes` bytes, digest `digest`) for `model`.
    pub fn new(model: ModelName, file: PathBuf, digest: impl Into<String>, bytes: u64) -> Self {
        Self {
            model,
            file,
            digest: digest.into(),
            bytes,
            options: UploadOptions::default(),
        }
    }

    /// Uploads with `options`.
    pub fn with_options(mut self, options: UploadOptions) -> Self {
        self.options = options;
        self
    }

    /// The lowercase hex of [`Self::digest`], or `InvalidArgument`.
    pub fn digest_hex(&self) -> Result<&str> {
        sha256_hex(&self.digest)
    }

    /// Checks the file's bytes are [`Self::digest`] (reads the whole file: call it off the
    /// async threads). `InvalidArgument` when the file changed or was cut short since it was
    /// packed or received, or cannot be read. Every backend checks before storing.
    pub fn verify(&self) -> Result<()> {
        let expected = self.digest_hex()?;
        let unreadable =
            |e: std::io::Error| Error::invalid(format!("cannot read {}: {e}", self.file.display()));
        let mut file = std::fs::File::open(&self.file).map_err(unreadable)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
        let actual = hex(&hasher.finalize());
        if actual != expected {
            return Err(Error::invalid(format!(
                "the archive is sha256:{actual}, not {}: it changed or was cut short",
                self.digest
            )));
        }
        Ok(())
    }

    /// Reports `sent` of the total to the progress callback, if any.
    pub fn report(&self, sent: u64) {
        if let Some(progress) = &self.options.progress {
            progress(sent, self.bytes);
        }
    }
}

/// Lowercase hex of `bytes` (a digest's).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<64 lowercase hex digits>` as its hex part, or `InvalidArgument`.
pub fn sha256_hex(digest: &str) -> Result<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "'{digest}' is not a digest: sha256: and 64 lowercase hex digits"
            ))
        })
}

/// Where an uploaded archive is, for `create_version`'s `artifact_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct UploadedArtifact {
    /// The URI to register the version with.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "store:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        )
    )]
    pub uri: String,
    /// `sha256:<hex>` of the archive as uploaded.
    pub digest: String,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// Parts it was sent in (1 unless a multipart upload).
    pub parts: u32,
    /// The same archive was there already: nothing was sent again.
    pub reused: bool,
}

impl UploadedArtifact {
    /// An answer for `uri`.
    pub fn new(uri: impl Into<String>, digest: impl Into<String>, bytes: u64) -> Self {
        Self {
            uri: uri.into(),
            digest: digest.into(),
            bytes,
            parts: 1,
            reused: false,
        }
    }

    /// Sent in `parts` parts.
    pub fn with_parts(mut self, parts: u32) -> Self {
        self.parts = parts;
        self
    }

    /// Marks it as found already stored.
    pub fn reused(mut self, reused: bool) -> Self {
        self.reused = reused;
        self
    }
}

/// Storing packed models where the backend's versions read them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Artifacts: Send + Sync {
    /// Stores the archive and says which `artifact_uri` to register it under.
    /// `InvalidArgument` for a digest that does not match the bytes or an archive the backend
    /// cannot read; on AWS also without a destination (`[aws] artifacts_uri` or one given).
    /// A failed upload leaves nothing behind.
    async fn upload_artifact(&self, upload: ArtifactUpload) -> Result<UploadedArtifact>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_and_lowercase_hex() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(sha256_hex(&format!("sha256:{hex}")).unwrap(), hex);
        for bad in [
            hex.to_string(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("md5:{hex}"),
            format!("sha256:{hex}/../x"),
        ] {
            assert!(sha256_hex(&bad).is_err(), "{bad}");
        }
    }
}
