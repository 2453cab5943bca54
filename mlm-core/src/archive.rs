//! A model directory as a deterministic `model.tar.gz`: the same directory always gives the
//! same bytes, so the same digest, whoever packs it and when. [`push_version`] packs, uploads
//! ([`Artifacts`]) and registers the next version in one call.
//!
//! Entries are sorted by path; each header has a fixed time, owner 0/0, mode 0644 (0755 when
//! executable) and no user names (`tar::HeaderMode::Deterministic`); the gzip header has no
//! file name and time 0. Symbolic links are refused (their target is outside what a digest
//! can vouch for), as is anything that is not a file or a directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::artifact::{ArtifactUpload, Artifacts, UploadOptions, UploadedArtifact};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{CreateModelRequest, CreateVersionRequest, ModelVersion};
use crate::traits::ModelRegistry;

/// What packing wrote: the digest of the archive's bytes and their count.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Packed {
    /// `sha256:<hex>` of the archive.
    pub digest: String,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// Files packed.
    pub files: u64,
}

/// Packs `dir` (its content, not the folder itself) into `out` as a deterministic
/// `model.tar.gz`.
pub fn pack_model_dir(dir: &Path, out: impl Write) -> Result<Packed> {
    let io = |what: &str, e: std::io::Error| Error::invalid(format!("{what}: {e}"));
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let hashing = Hashing::new(out);
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(hashing, flate2::Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry =
            entry.map_err(|e| Error::invalid(format!("cannot read {}: {e}", dir.display())))?;
        let path = entry.path();
        let name = path
            .strip_prefix(dir)
            .map_err(|_| Error::invalid("a path outside the directory"))?;
        let kind = entry.file_type();
        if kind.is_dir() {
            tar.append_dir(name, path)
                .map_err(|e| io("cannot pack a directory", e))?;
        } else if kind.is_file() {
            tar.append_path_with_name(path, name)
                .map_err(|e| io(&format!("cannot pack {}", path.display()), e))?;
            files += 1;
        } else {
            return Err(Error::invalid(format!(
                "{} is not a regular file or directory (symbolic links are not packed)",
                path.display()
            )));
        }
    }
    let gz = tar
        .into_inner()
        .map_err(|e| io("cannot finish the archive", e))?;
    let hashing = gz
        .finish()
        .map_err(|e| io("cannot finish the archive", e))?;
    let (digest, bytes) = hashing
        .finish()
        .map_err(|e| io("cannot write the archive", e))?;
    Ok(Packed {
        digest,
        bytes,
        files,
    })
}

/// A model directory to push as the next version of a model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushRequest {
    /// The directory; its content becomes the archive's root.
    pub dir: PathBuf,
    /// The version to register; its `artifact_uri` is replaced by the uploaded one.
    pub version: CreateVersionRequest,
    /// Where to upload and who hears how it goes.
    pub options: UploadOptions,
}

impl PushRequest {
    /// Pushes `dir` as `version` (its `artifact_uri` is not used).
    pub fn new(dir: impl Into<PathBuf>, version: CreateVersionRequest) -> Self {
        Self {
            dir: dir.into(),
            version,
            options: UploadOptions::default(),
        }
    }

    /// Uploads with `options`.
    pub fn with_options(mut self, options: UploadOptions) -> Self {
        self.options = options;
        self
    }
}

/// What [`push_version`] did (serialized as the CLI's and Python's answer).
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Pushed {
    /// The registered version.
    pub version: ModelVersion,
    /// Where the archive went; its `digest` is the archive's.
    pub artifact: UploadedArtifact,
    /// Files packed.
    pub files: u64,
    /// The model did not exist and was created.
    pub model_created: bool,
}

/// Packs `request.dir` into a deterministic `model.tar.gz` (a temporary file), uploads it and
/// registers it as the next version of `request.version.model`, creating the model when it
/// does not exist.
///
/// A version that cannot be registered leaves no model behind that this call created; the
/// uploaded archive stays (it is stored by digest, so pushing again reuses it).
pub async fn push_version<P>(provider: &P, request: PushRequest) -> Result<Pushed>
where
    P: ModelRegistry + Artifacts + ?Sized,
{
    let dir = request.dir.clone();
    let (file, packed) = tokio::task::spawn_blocking(move || {
        let mut file = tempfile::Builder::new()
            .prefix("mlm-push-")
            .suffix(".tar.gz")
            .tempfile()
            .map_err(|e| Error::invalid(format!("cannot write a temporary archive: {e}")))?;
        let packed = pack_model_dir(&dir, std::io::BufWriter::new(file.as_file_mut()))?;
        Ok::<_, Error>((file, packed))
    })
    .await
    .map_err(|e| Error::provider("packing stopped", e))??;
    let mut upload = ArtifactUpload::new(
        request.version.model.clone(),
        file.path().to_path_buf(),
        packed.digest.clone(),
        packed.bytes,
    );
    upload.options = request.options;
    let artifact = provider.upload_artifact(upload).await?;
    drop(file);

    let model = request.version.model.clone();
    let model_created = match provider.get_model(&model).await {
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            provider
                .create_model(CreateModelRequest::new(model.clone()))
                .await?;
            true
        }
        Err(e) => return Err(e),
    };
    let mut version = request.version;
    version.artifact_uri = artifact.uri.clone();
    match provider.create_version(version).await {
        Ok(version) => Ok(Pushed {
            version,
            artifact,
            files: packed.files,
            model_created,
        }),
        Err(e) => {
            if model_created && let Err(cleanup) = provider.delete_model(&model).await {
                tracing::warn!(%model, "the model created for a failed push stays: {cleanup}");
            }
            Err(e)
        }
    }
}

/// Counts and hashes what passes through to `inner`.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::default(),
            bytes: 0,
        }
    }

    /// Flushes `inner` (a buffered writer would otherwise lose its error on drop) and gives
    /// the digest and the byte count.
    fn finish(mut self) -> std::io::Result<(String, u64)> {
        self.inner.flush()?;
        let hex = crate::artifact::hex(&self.hasher.finalize());
        Ok((format!("sha256:{hex}"), self.bytes))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "sha256:6c2b5c91b4ec39330e8608ac1e497ff8aca47d736ac6f61b60b889593f6d8c8a";

    fn model_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        std::fs::write(dir.path().join("weights.json"), b"{\"w\": [1, 2, 3]}").unwrap();
        std::fs::write(dir.path().join("code/serve.py"), b"print('hi')\n").unwrap();
        dir
    }

    #[test]
    fn the_same_directory_gives_the_same_bytes() {
        let (a, b) = (model_dir(), model_dir());
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let packed = pack_model_dir(a.path(), &mut first).unwrap();
        // Other times: the archive does not carry them.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(b.path().join("weights.json"), b"{\"w\": [1, 2, 3]}").unwrap();
        let again = pack_model_dir(b.path(), &mut second).unwrap();
        assert_eq!(first, second);
        assert_eq!(packed, again);
        assert_eq!(packed.files, 2);
        assert_eq!(packed.bytes, first.len() as u64);
        // The entries, sorted, relative to the directory.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&first[..]));
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["code", "code/serve.py", "weights.json"]);
        // The bytes themselves, so a change of tar or gzip backend that changes them shows.
        assert_eq!(packed.digest, GOLDEN, "update GOLDEN only on purpose");
    }

    #[test]
    fn a_changed_file_changes_the_digest_and_links_are_refused() {
        let dir = model_dir();
        let before = pack_model_dir(dir.path(), std::io::sink()).unwrap();
        std::fs::write(dir.path().join("weights.json"), b"{\"w\": [1, 2, 4]}").unwrap();
        let after = pack_model_dir(dir.path(), std::io::sink()).unwrap();
        assert_ne!(before.digest, after.digest);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
            let e = pack_model_dir(dir.path(), std::io::sink()).unwrap_err();
            assert!(e.message().contains("symbolic links"), "{e}");
        }
        assert!(pack_model_dir(&dir.path().join("nope"), std::io::sink()).is_err());
    }
}
