//! A model directory as a deterministic `model.tar.gz` (issue 14, work in progress): the same
//! directory always gives the same bytes, so the same digest, whoever packs it and when.
//!
//! Entries are sorted by path; each header has a fixed time, owner 0/0, mode 0644 (0755 when
//! executable) and no user names (`tar::HeaderMode::Deterministic`); the gzip header has no
//! file name and time 0. Symbolic links are refused (their target is outside what a digest
//! can vouch for), as is anything that is not a file or a directory.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

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
    let (digest, bytes) = hashing.finish();
    Ok(Packed {
        digest,
        bytes,
        files,
    })
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

    fn finish(self) -> (String, u64) {
        let hex: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("sha256:{hex}"), self.bytes)
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
