//! The local backend's content-addressed artifact store.
//!
//! A model version's `artifact_uri` names a local directory or a gzip-compressed tarball
//! (SageMaker's `model.tar.gz` layout: files at the archive root), as a plain path or a
//! `file://` URI. [`ArtifactStore::import`] copies it into the store when the version is
//! created, so the version stays immutable even if the source changes later. An uploaded
//! archive (`mlm models push`) is unpacked into the store by [`ArtifactStore::import_upload`]
//! first, and the version then names it `store:sha256:<hex>`. An upload no version refers to
//! goes with the next garbage collection (when a version is deleted).
//!
//! The URI comes from API callers and is untrusted, so this module is a security boundary:
//!
//! - only paths that resolve (symlinks and `..` included) under one of the operator-configured
//!   artifact roots are read, and a path outside the roots gets the same answer whether it
//!   exists or not, so the roots cannot be used to probe the rest of the filesystem;
//! - a directory may contain symlinks only to regular files inside the artifact's own
//!   directory; they are stored as regular files holding the target's content. Symlinks that
//!   leave the directory, dangle or point to directories (which could form cycles) reject the
//!   import, and so do special files (fifos, sockets, devices);
//! - tarballs are unpacked entry by entry by this module: absolute paths, `..` components,
//!   links and special entries reject the import, and GNU long names and pax headers are read
//!   with a size cap (the `tar` crate would buffer them without one);
//! - the number of entries and the bytes written are capped ([`ArtifactStore::with_limits`]),
//!   which also bounds how much of a compressed archive is inflated.
//!
//! Known limit: the checks are path-based, so someone who can rewrite files under an artifact
//! root *while* an import reads them may race them. Each copied file is re-checked after it is
//! opened (same device and inode as the entry that was checked), which narrows but does not
//! close that window; artifact roots should not be writable by untrusted parties.
//!
//! # Layout and digest
//!
//! An import is unpacked into `<store_dir>/.staging-<random>`, hashed, made read-only (files
//! `0444`, directories `0555`; modes of the source are not kept) and renamed to
//! `<store_dir>/sha256-<hex>`. If that directory exists already the staging copy is dropped:
//! same content, same artifact.
//!
//! The digest is `sha256:<hex>` of this byte stream, over every entry of the stored tree except
//! its root, sorted by the bytes of the entry's relative path (`/`-separated):
//!
//! - a regular file: `path`, a `0` byte, its length as 8 bytes big-endian, its content;
//! - a directory: `path`, `/`, a `0` byte (so empty directories count).
//!
//! Paths never contain `0` bytes and a file's path never ends in `/`, so the stream is
//! unambiguous. It depends only on names and contents, so the same tree imported from a
//! directory or from a tarball has the same digest.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use mlm_core::{ArtifactUpload, Error, Result};
use sha2::{Digest, Sha256};
use tar::EntryType;
use walkdir::WalkDir;

/// Prefix of the per-import staging directories inside the store.
const STAGING_PREFIX: &str = ".staging-";
/// Prefix of stored artifact directories: `sha256-<hex>`.
const ARTIFACT_PREFIX: &str = "sha256-";
/// `store:sha256:<hex>` names an artifact already in the store (an upload's answer).
pub(crate) const STORE_SCHEME: &str = "store:";
/// A staging directory not used by this process is only removed once it is this old, because
/// another process sharing the store may still be filling it.
const STALE_STAGING_AFTER: Duration = Duration::from_secs(60 * 60);
/// Cap on a GNU long name or pax header; real ones are a few hundred bytes.
const MAX_EXTENSION_BYTES: u64 = 64 * 1024;
/// Longest accepted path component and relative path in an archive (Linux's limits).
const MAX_NAME_BYTES: usize = 255;
const MAX_PATH_BYTES: usize = 4096;

/// Default of `max_total_bytes`: 10 GiB.
const DEFAULT_MAX_TOTAL_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// Default of `max_files`.
const DEFAULT_MAX_FILES: u64 = 100_000;

/// The content-addressed store of imported model artifacts.
///
/// Synchronous: async callers run it in `spawn_blocking`. It is `Send + Sync` and can be
/// shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct ArtifactStore {
    /// Canonical path of the store directory.
    store_dir: PathBuf,
    roots: Vec<Root>,
    max_total_bytes: u64,
    max_files: u64,
    /// Staging directories of imports running in this process, which GC must not touch.
    in_flight: Mutex<HashSet<PathBuf>>,
}

/// An artifact root as configured (made absolute and lexically normalized) and canonical.
#[derive(Debug)]
struct Root {
    lexical: PathBuf,
    canonical: PathBuf,
}

/// An artifact in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredArtifact {
    /// Content digest: `sha256:` and 64 lowercase hex digits (format in the module docs).
    pub digest: String,
    /// The stored directory; its files are read-only.
    pub path: PathBuf,
}

impl ArtifactStore {
    /// Opens the store at `store_dir` (created if missing) reading artifacts only from under
    /// `allowed_roots`.
    ///
    /// A root that does not exist or is not a directory is an [`Error::InvalidArgument`]
    /// naming it: roots are operator configuration.
    pub(crate) fn new(store_dir: impl Into<PathBuf>, allowed_roots: &[PathBuf]) -> Result<Self> {
        let store_dir = store_dir.into();
        fs::create_dir_all(&store_dir).map_err(|e| {
            Error::provider(
                format!("cannot create artifact store '{}'", store_dir.display()),
                e,
            )
        })?;
        let store_dir = fs::canonicalize(&store_dir).map_err(|e| {
            Error::provider(
                format!("cannot resolve artifact store '{}'", store_dir.display()),
                e,
            )
        })?;
        let cwd = current_dir()?;
        let mut roots = Vec::with_capacity(allowed_roots.len());
        for root in allowed_roots {
            let canonical = fs::canonicalize(root).map_err(|e| {
                Error::invalid(format!(
                    "artifact root '{}' does not exist or cannot be resolved: {e}",
                    root.display()
                ))
                .with_source(e)
            })?;
            if !canonical.is_dir() {
                return Err(Error::invalid(format!(
                    "artifact root '{}' is not a directory",
                    root.display()
                )));
            }
            roots.push(Root {
                lexical: normalize(&cwd.join(root)),
                canonical,
            });
        }
        if roots.is_empty() {
            tracing::warn!("no artifact roots configured: every artifact import will be rejected");
        }
        Ok(Self {
            store_dir,
            roots,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_files: DEFAULT_MAX_FILES,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Sets the per-import limits: total bytes of file content, and number of entries
    /// (files and directories, which both cost inodes). Defaults: 10 GiB and 100 000.
    pub(crate) fn with_limits(mut self, max_total_bytes: u64, max_files: u64) -> Self {
        self.max_total_bytes = max_total_bytes;
        self.max_files = max_files;
        self
    }

    /// Imports the directory or tarball `artifact_uri` names and returns the stored copy.
    ///
    /// Rejections (outside the roots, missing, unsafe entries, over the limits, not a
    /// directory or `.tar.gz`) are [`Error::InvalidArgument`]; failures of the store's own
    /// filesystem are [`Error::Provider`]. Nothing is left behind on error.
    pub(crate) fn import(&self, artifact_uri: &str) -> Result<StoredArtifact> {
        if let Some(digest) = artifact_uri.strip_prefix(STORE_SCHEME) {
            let path = self.path_of(digest)?;
            return Ok(StoredArtifact {
                digest: digest.to_owned(),
                path,
            });
        }
        let uri = show(artifact_uri.as_bytes());
        let requested = parse_uri(artifact_uri, &uri)?;
        let source = self.confine(&uri, &requested)?;
        // Importing the store (or a tree containing it) would read our own staging directory.
        if source.starts_with(&self.store_dir) || self.store_dir.starts_with(&source) {
            return Err(Error::invalid(format!(
                "artifact '{uri}' overlaps the artifact store"
            )));
        }
        let meta = fs::metadata(&source)
            .map_err(|e| Error::provider(format!("cannot read artifact '{uri}'"), e))?;

        self.stage(&uri, |dest, budget| {
            if meta.is_dir() {
                copy_dir(&uri, &source, dest, budget)
            } else if meta.is_file() {
                let file = open_checked(&uri, None, &source, &meta)?;
                let (file, gzip) = sniff_gzip(&uri, file)?;
                if gzip || has_tarball_extension(&requested) || has_tarball_extension(&source) {
                    unpack_tarball(&uri, file, dest, budget)
                } else {
                    Err(not_accepted(&uri))
                }
            } else {
                Err(not_accepted(&uri))
            }
        })
        .map(|(stored, _)| stored)
    }

    /// Imports an uploaded `model.tar.gz` (`mlm models push`, `POST …/artifacts`) and says
    /// whether the store had its content already.
    ///
    /// The file is one the caller wrote, never a path from API input, so it is not confined to
    /// the roots; its entries get every check any tarball gets. A file that is not its digest
    /// (changed or cut short on the way) is refused ([`ArtifactUpload::verify`]).
    pub(crate) fn import_upload(&self, upload: &ArtifactUpload) -> Result<(StoredArtifact, bool)> {
        let uri = "the uploaded archive";
        upload.verify()?;
        let read_error = |e| Error::provider("cannot read the uploaded archive", e);
        let opened = File::open(&upload.file).map_err(read_error)?;
        let (opened, gzip) = sniff_gzip(uri, opened)?;
        if !gzip {
            return Err(Error::invalid(
                "the uploaded archive is not gzip-compressed (model.tar.gz)",
            ));
        }
        self.stage(uri, |dest, budget| {
            unpack_tarball(uri, opened, dest, budget)
        })
    }

    /// Fills a staging directory with `fill`, digests it and moves it into the store; says
    /// whether the store had that content already.
    fn stage(
        &self,
        uri: &str,
        fill: impl FnOnce(&Path, &mut Budget<'_>) -> Result<()>,
    ) -> Result<(StoredArtifact, bool)> {
        let staging = Staging::new(self)?;
        let mut budget = Budget {
            uri,
            max_bytes: self.max_total_bytes,
            max_entries: self.max_files,
            bytes: 0,
            entries: 0,
        };
        fill(staging.path(), &mut budget)?;
        let hex = digest_tree(staging.path())?;
        let had = is_dir_no_follow(&self.artifact_path(&hex));
        let stored = self.commit(staging, &hex)?;
        tracing::info!(
            digest = %stored.digest,
            entries = budget.entries,
            bytes = budget.bytes,
            "imported artifact"
        );
        Ok((stored, had))
    }

    /// The stored directory of `digest` (`sha256:` and 64 lowercase hex digits).
    ///
    /// A malformed digest, or one that is not in the store, is an [`Error::InvalidArgument`].
    pub(crate) fn path_of(&self, digest: &str) -> Result<PathBuf> {
        let hex = parse_digest(digest)?;
        let path = self.artifact_path(hex);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(path),
            _ => Err(Error::invalid(format!(
                "artifact '{digest}' is not in the artifact store"
            ))),
        }
    }

    /// Deletes the stored artifacts whose digest is not in `keep`, and staging directories
    /// left by interrupted imports; returns how many directories were removed.
    ///
    /// Entries of the store directory it does not recognize are left alone. It keeps going
    /// past a failed removal and then returns the first error. Callers must not run it
    /// concurrently with an import whose version is not yet recorded in `keep`: that import
    /// may have returned an existing artifact this call then deletes.
    pub(crate) fn remove_unreferenced(&self, keep: &HashSet<String>) -> Result<usize> {
        let entries = fs::read_dir(&self.store_dir)
            .map_err(|e| Error::provider("cannot list the artifact store", e))?;
        let mut removed = 0;
        let mut first_error = None;
        for entry in entries {
            let entry = entry.map_err(|e| Error::provider("cannot list the artifact store", e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            let outcome = if let Some(hex) = name.strip_prefix(ARTIFACT_PREFIX) {
                if !is_digest_hex(hex) || keep.contains(&format!("sha256:{hex}")) {
                    continue;
                }
                self.remove_artifact(&path, hex)
            } else if name.starts_with(STAGING_PREFIX) {
                if !self.is_stale_staging(&path) {
                    continue;
                }
                remove_tree(&path)
            } else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(entry = name, "removed unreferenced artifact store entry");
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(entry = name, error = %e, "cannot remove artifact store entry");
                    first_error.get_or_insert(Error::provider(
                        format!("cannot remove '{name}' from the artifact store"),
                        e,
                    ));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }

    fn artifact_path(&self, hex: &str) -> PathBuf {
        self.store_dir.join(format!("{ARTIFACT_PREFIX}{hex}"))
    }

    /// Resolves `requested` and checks it lies under a root; returns the canonical path.
    fn confine(&self, uri: &str, requested: &Path) -> Result<PathBuf> {
        let outside = || {
            Error::invalid(format!(
                "artifact '{uri}' is not under a configured artifact root"
            ))
        };
        let absolute = current_dir()?.join(requested);
        // Lexical check first: paths outside the roots are refused before touching the
        // filesystem, so missing and forbidden look the same there.
        let lexical = normalize(&absolute);
        if !self
            .roots
            .iter()
            .any(|r| lexical.starts_with(&r.lexical) || lexical.starts_with(&r.canonical))
        {
            return Err(outside());
        }
        match fs::canonicalize(&absolute) {
            Ok(canonical) if self.under_canonical_root(&canonical) => Ok(canonical),
            Ok(_) => Err(outside()),
            Err(e) => {
                // Say "does not exist" only if the part that does exist resolves inside a
                // root; otherwise a symlink under a root could probe paths outside it.
                let anchor = absolute
                    .ancestors()
                    .skip(1)
                    .find_map(|a| fs::canonicalize(a).ok());
                match anchor {
                    Some(a) if self.under_canonical_root(&a) => match e.kind() {
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
                            Err(Error::invalid(format!("artifact '{uri}' does not exist")))
                        }
                        _ => Err(Error::provider(
                            format!("cannot resolve artifact '{uri}'"),
                            e,
                        )),
                    },
                    _ => Err(outside()),
                }
            }
        }
    }

    fn under_canonical_root(&self, canonical: &Path) -> bool {
        self.roots
            .iter()
            .any(|r| canonical.starts_with(&r.canonical))
    }

    /// Moves a complete staging tree to its content address.
    fn commit(&self, mut staging: Staging<'_>, hex: &str) -> Result<StoredArtifact> {
        let stored = StoredArtifact {
            digest: format!("sha256:{hex}"),
            path: self.artifact_path(hex),
        };
        if is_dir_no_follow(&stored.path) {
            tracing::debug!(digest = %stored.digest, "artifact already stored");
            return Ok(stored);
        }
        staging.sealed = true;
        seal(staging.path())
            .map_err(|e| Error::provider("cannot make the stored artifact read-only", e))?;
        match fs::rename(staging.path(), &stored.path) {
            Ok(()) => {
                staging.keep();
                Ok(stored)
            }
            // A concurrent import of the same content won the race: same artifact.
            Err(_) if is_dir_no_follow(&stored.path) => Ok(stored),
            Err(e) => Err(Error::provider(
                "cannot move the artifact into the artifact store",
                e,
            )),
        }
    }

    /// Removes a stored artifact, first renaming it out of its content address so that a crash
    /// halfway through leaves a staging directory for the next GC, never a partial artifact.
    fn remove_artifact(&self, path: &Path, hex: &str) -> io::Result<()> {
        let trash = self.store_dir.join(format!("{STAGING_PREFIX}gc-{hex}"));
        if fs::symlink_metadata(&trash).is_ok() {
            remove_tree(&trash)?;
        }
        fs::rename(path, &trash)?;
        remove_tree(&trash)
    }

    fn is_stale_staging(&self, path: &Path) -> bool {
        if lock(&self.in_flight).contains(path) {
            return false;
        }
        fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= STALE_STAGING_AFTER)
    }
}

/// A staging directory inside the store; removed on drop unless kept.
struct Staging<'a> {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    in_flight: &'a Mutex<HashSet<PathBuf>>,
    /// Whether it was made read-only, and so needs write permission back to be removed.
    sealed: bool,
}

impl<'a> Staging<'a> {
    fn new(store: &'a ArtifactStore) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&store.store_dir)
            .map_err(|e| Error::provider("cannot create a staging directory in the store", e))?;
        let path = dir.path().to_path_buf();
        lock(&store.in_flight).insert(path.clone());
        Ok(Staging {
            dir: Some(dir),
            path,
            in_flight: &store.in_flight,
            sealed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Disarms the cleanup: the directory was renamed into place.
    fn keep(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.sealed {
                let _ = unseal(dir.path());
            }
            if let Err(e) = dir.close() {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove staging directory");
            }
        }
        lock(self.in_flight).remove(&self.path);
    }
}

/// Counts what an import writes against the store's limits.
struct Budget<'a> {
    uri: &'a str,
    max_bytes: u64,
    max_entries: u64,
    bytes: u64,
    entries: u64,
}

impl Budget<'_> {
    fn add_entry(&mut self) -> Result<()> {
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(Error::invalid(format!(
                "artifact '{}' exceeds the limit of {} files and directories",
                self.uri, self.max_entries
            )));
        }
        Ok(())
    }

    fn add_bytes(&mut self, n: u64) -> Result<()> {
        match self.bytes.checked_add(n) {
            Some(total) if total <= self.max_bytes => {
                self.bytes = total;
                Ok(())
            }
            _ => Err(Error::invalid(format!(
                "artifact '{}' exceeds the limit of {} bytes",
                self.uri, self.max_bytes
            ))),
        }
    }

    /// Fails early if `n` more bytes would not fit, without counting them.
    fn check_bytes(&self, n: u64) -> Result<()> {
        match self.bytes.checked_add(n) {
            Some(total) if total <= self.max_bytes => Ok(()),
            _ => Err(Error::invalid(format!(
                "artifact '{}' exceeds the limit of {} bytes",
                self.uri, self.max_bytes
            ))),
        }
    }
}

/// Turns `artifact_uri` into a path: a plain path or a local `file://` URI.
fn parse_uri(artifact_uri: &str, uri: &str) -> Result<PathBuf> {
    if artifact_uri.trim().is_empty() {
        return Err(Error::invalid("artifact_uri must not be empty"));
    }
    if artifact_uri.contains('\0') {
        return Err(Error::invalid(format!(
            "artifact '{uri}' is not a valid path"
        )));
    }
    let Some((scheme, rest)) = artifact_uri.split_once("://") else {
        return Ok(PathBuf::from(artifact_uri));
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Ok(PathBuf::from(artifact_uri));
    }
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(Error::invalid(format!(
            "artifact '{uri}': the local backend reads only local paths under the configured \
             artifact roots, not {scheme}:// URIs"
        )));
    }
    let path = match rest.get(..9) {
        _ if rest.starts_with('/') => rest,
        Some(host) if host.eq_ignore_ascii_case("localhost") && rest[9..].starts_with('/') => {
            &rest[9..]
        }
        _ => {
            return Err(Error::invalid(format!(
                "artifact '{uri}': file URIs must name a local absolute path \
                 (file:///path or file://localhost/path)"
            )));
        }
    };
    Ok(PathBuf::from(path))
}

/// Resolves `.` and `..` without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::provider("cannot determine the current directory", e))
}

fn not_accepted(uri: &str) -> Error {
    Error::invalid(format!(
        "artifact '{uri}' is neither a directory nor a .tar.gz/.tgz archive, which is what the \
         local backend accepts"
    ))
}

fn has_tarball_extension(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|n| n.ends_with(".tar.gz") || n.ends_with(".tgz"))
}

/// Reads the gzip magic and rewinds.
fn sniff_gzip(uri: &str, mut file: File) -> Result<(File, bool)> {
    let read_error = |e| Error::provider(format!("cannot read artifact '{uri}'"), e);
    let mut magic = [0u8; 2];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    file.rewind().map_err(read_error)?;
    Ok((file, filled == 2 && magic == [0x1f, 0x8b]))
}

/// Opens `path` and checks it is still the regular file `expected` described, so a path
/// swapped for a symlink after it was checked is not followed out of the artifact. `name` is
/// the entry's relative path, or `None` for the artifact itself.
fn open_checked(uri: &str, name: Option<&str>, path: &Path, expected: &Metadata) -> Result<File> {
    let what = match name {
        Some(name) => format!("'{name}' of artifact '{uri}'"),
        None => format!("artifact '{uri}'"),
    };
    let file = File::open(path).map_err(|e| Error::provider(format!("cannot read {what}"), e))?;
    let actual = file
        .metadata()
        .map_err(|e| Error::provider(format!("cannot read {what}"), e))?;
    if !actual.is_file() || actual.dev() != expected.dev() || actual.ino() != expected.ino() {
        return Err(Error::invalid(format!(
            "{what} changed while it was being imported"
        )));
    }
    Ok(file)
}

fn write_error(e: io::Error) -> Error {
    Error::provider("cannot write to the artifact store", e)
}

fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
}

/// Copies `src` to `dst` in chunks, counting bytes against the budget as they arrive (the
/// declared size may lie or the source may grow); returns how many were copied.
fn copy_counted(
    src: &mut dyn Read,
    dst: &mut File,
    budget: &mut Budget<'_>,
    read_error: &dyn Fn(io::Error) -> Error,
) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        budget.add_bytes(n as u64)?;
        dst.write_all(&buf[..n]).map_err(write_error)?;
        copied += n as u64;
    }
}

/// Copies the directory `src` (canonical) into the empty directory `dest`.
fn copy_dir(uri: &str, src: &Path, dest: &Path, budget: &mut Budget<'_>) -> Result<()> {
    let walk = WalkDir::new(src)
        .follow_links(false)
        .follow_root_links(false);
    for entry in walk {
        let entry =
            entry.map_err(|e| Error::provider(format!("cannot read artifact '{uri}'"), e))?;
        let file_type = entry.file_type();
        if entry.depth() == 0 {
            if !file_type.is_dir() {
                return Err(Error::invalid(format!(
                    "artifact '{uri}' changed while it was being imported"
                )));
            }
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(src)
            .map_err(|_| Error::provider_msg("walked outside the artifact directory", false))?;
        let name = show(rel.as_os_str().as_bytes());
        let target = dest.join(rel);
        if file_type.is_dir() {
            budget.add_entry()?;
            fs::create_dir(&target).map_err(write_error)?;
        } else if file_type.is_file() {
            let meta = entry
                .metadata()
                .map_err(|e| Error::provider(format!("cannot read artifact '{uri}'"), e))?;
            copy_file(uri, &name, entry.path(), &meta, &target, budget)?;
        } else if file_type.is_symlink() {
            let (resolved, meta) = resolve_inner_symlink(uri, &name, src, entry.path())?;
            copy_file(uri, &name, &resolved, &meta, &target, budget)?;
        } else {
            return Err(Error::invalid(format!(
                "artifact '{uri}': '{name}' is a special file (fifo, socket or device), which \
                 artifacts may not contain"
            )));
        }
    }
    Ok(())
}

/// Resolves a symlink found in the artifact directory `src`: it must lead to a regular file
/// inside `src`. Returns the target and its metadata.
fn resolve_inner_symlink(
    uri: &str,
    name: &str,
    src: &Path,
    link: &Path,
) -> Result<(PathBuf, Metadata)> {
    let reject = |why: &str| Error::invalid(format!("artifact '{uri}': symlink '{name}' {why}"));
    let Ok(resolved) = fs::canonicalize(link) else {
        return Err(reject("is dangling or cannot be resolved"));
    };
    if !resolved.starts_with(src) {
        return Err(reject("points outside the artifact directory"));
    }
    let meta = fs::metadata(&resolved)
        .map_err(|e| Error::provider(format!("cannot read artifact '{uri}'"), e))?;
    if meta.is_dir() {
        return Err(reject(
            "points to a directory; only symlinks to files are supported",
        ));
    }
    if !meta.is_file() {
        return Err(reject("points to a special file"));
    }
    Ok((resolved, meta))
}

fn copy_file(
    uri: &str,
    name: &str,
    src: &Path,
    meta: &Metadata,
    dst: &Path,
    budget: &mut Budget<'_>,
) -> Result<()> {
    budget.add_entry()?;
    budget.check_bytes(meta.len())?;
    let mut input = open_checked(uri, Some(name), src, meta)?;
    let mut output = create_file(dst).map_err(write_error)?;
    let read_error = |e| Error::provider(format!("cannot read '{name}' of artifact '{uri}'"), e);
    copy_counted(&mut input, &mut output, budget, &read_error)?;
    Ok(())
}

/// GNU long name / pax headers seen since the last real entry.
#[derive(Default)]
struct PendingHeaders {
    long_name: Option<Vec<u8>>,
    long_link: bool,
    pax: Option<Vec<u8>>,
}

impl PendingHeaders {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && !self.long_link && self.pax.is_none()
    }
}

/// Unpacks a `.tar.gz` into the empty directory `dest`, one checked entry at a time.
fn unpack_tarball(uri: &str, file: File, dest: &Path, budget: &mut Budget<'_>) -> Result<()> {
    let mut archive = tar::Archive::new(MultiGzDecoder::new(BufReader::new(file)));
    // Raw mode: we handle long names and pax headers ourselves, with a size cap.
    let entries = archive
        .entries()
        .map_err(|e| not_a_tarball(uri, e))?
        .raw(true);
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut pending = PendingHeaders::default();

    for entry in entries {
        let mut entry = entry.map_err(|e| not_a_tarball(uri, e))?;
        // Extension headers describe the next entry.
        if read_extension_header(uri, &mut entry, &mut pending, budget)? {
            continue;
        }
        let headers = std::mem::take(&mut pending);
        unpack_entry(uri, &mut entry, &headers, dest, &mut dirs, budget)?;
    }
    if !pending.is_empty() {
        return Err(not_a_tarball(
            uri,
            "ends with an extension header that describes no entry",
        ));
    }
    Ok(())
}

/// The error for an archive that cannot be read as a `.tar.gz`, and why.
fn not_a_tarball(uri: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("artifact '{uri}' is not a valid .tar.gz: {why}"))
}

/// Takes in `entry` if it is an extension header — a GNU long name or long link or a pax header,
/// kept in `pending` for the next entry, or a global pax header, counted and skipped — and
/// answers whether it was one.
fn read_extension_header<R: Read>(
    uri: &str,
    entry: &mut tar::Entry<'_, R>,
    pending: &mut PendingHeaders,
    budget: &mut Budget<'_>,
) -> Result<bool> {
    let entry_type = entry.header().entry_type();
    let size = entry.size();
    match entry_type {
        EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader => {
            if size > MAX_EXTENSION_BYTES {
                return Err(not_a_tarball(uri, "oversized long name or pax header"));
            }
            budget.add_bytes(size)?;
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| not_a_tarball(uri, e))?;
            let slot_taken = match entry_type {
                EntryType::GNULongName => pending.long_name.replace(data).is_some(),
                EntryType::GNULongLink => std::mem::replace(&mut pending.long_link, true),
                _ => pending.pax.replace(data).is_some(),
            };
            if slot_taken {
                return Err(not_a_tarball(
                    uri,
                    "two extension headers of one kind for one entry",
                ));
            }
            Ok(true)
        }
        EntryType::XGlobalHeader => {
            // Global pax defaults (mtime, owner…) mean nothing here; count and skip.
            budget.add_entry()?;
            budget.add_bytes(size)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Checks one real entry (described further by `headers`) and writes it under `dest`: a
/// directory, or a file and the directories above it.
fn unpack_entry<R: Read>(
    uri: &str,
    entry: &mut tar::Entry<'_, R>,
    headers: &PendingHeaders,
    dest: &Path,
    dirs: &mut HashSet<PathBuf>,
    budget: &mut Budget<'_>,
) -> Result<()> {
    let entry_type = entry.header().entry_type();
    let size = entry.size();
    let raw_name = entry_name(entry, headers, uri)?;
    let name = show(&raw_name);
    let reject = |why: &str| Error::invalid(format!("artifact '{uri}': entry '{name}' {why}"));
    check_pax_size(uri, headers, size, &reject)?;
    let is_dir = is_directory_entry(entry_type, &raw_name, size, &reject)?;
    let rel = safe_relative_path(&raw_name).map_err(&reject)?;

    if is_dir {
        budget.add_bytes(size)?;
        return create_dirs(dest, &rel, dirs, budget, &reject);
    }
    if rel.as_os_str().is_empty() {
        return Err(reject("has an empty path"));
    }
    if let Some(parent) = rel.parent() {
        create_dirs(dest, parent, dirs, budget, &reject)?;
    }
    budget.add_entry()?;
    budget.check_bytes(size)?;
    let mut output = create_file(&dest.join(&rel)).map_err(|e| staging_conflict(e, &reject))?;
    // A tar cut short inside a well-formed gzip stream just ends early.
    if copy_counted(entry, &mut output, budget, &|e| not_a_tarball(uri, e))? != size {
        return Err(not_a_tarball(uri, "the archive is truncated"));
    }
    Ok(())
}

/// Refuses a pax `size` record that differs from the header's size.
fn check_pax_size(
    uri: &str,
    headers: &PendingHeaders,
    size: u64,
    reject: &dyn Fn(&str) -> Error,
) -> Result<()> {
    if let Some(pax) = &headers.pax {
        // In raw mode the reader advances by the header's size; a differing pax size
        // would make us read the archive differently from other tools.
        if let Some(pax_size) = pax_value(pax, "size").map_err(|e| not_a_tarball(uri, e))? {
            let parsed = std::str::from_utf8(pax_size)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            if parsed != Some(size) {
                return Err(reject("has a pax size record, which is not supported"));
            }
        }
    }
    Ok(())
}

/// Whether a real entry is a directory (`true`) or a regular file (`false`); links, devices,
/// fifos, sparse files and other types are refused.
fn is_directory_entry(
    entry_type: EntryType,
    raw_name: &[u8],
    size: u64,
    reject: &dyn Fn(&str) -> Error,
) -> Result<bool> {
    match entry_type {
        EntryType::Directory => Ok(true),
        // Old tars mark directories as regular entries with a trailing slash.
        EntryType::Regular | EntryType::Continuous => Ok(raw_name.ends_with(b"/") && size == 0),
        EntryType::Symlink => Err(reject("is a symlink; archives may not contain links")),
        EntryType::Link => Err(reject("is a hard link; archives may not contain links")),
        EntryType::Char | EntryType::Block | EntryType::Fifo => Err(reject(
            "is a device or fifo; archives may contain only files and directories",
        )),
        EntryType::GNUSparse => Err(reject("is a sparse file, which is not supported")),
        other => Err(reject(&format!(
            "has unsupported entry type {:?}",
            char::from(other.as_byte())
        ))),
    }
}

/// The entry's path: from a GNU long name, a pax `path` record, or the header.
fn entry_name<R: Read>(
    entry: &tar::Entry<'_, R>,
    headers: &PendingHeaders,
    uri: &str,
) -> Result<Vec<u8>> {
    if let Some(long) = &headers.long_name {
        let end = long.iter().position(|&b| b == 0).unwrap_or(long.len());
        return Ok(long[..end].to_vec());
    }
    if let Some(pax) = &headers.pax {
        let path = pax_value(pax, "path").map_err(|e| not_a_tarball(uri, e))?;
        if let Some(path) = path {
            return Ok(path.to_vec());
        }
    }
    Ok(entry.header().path_bytes().into_owned())
}

/// The value of `key` in pax extension records, if present.
fn pax_value<'a>(pax: &'a [u8], key: &str) -> io::Result<Option<&'a [u8]>> {
    let mut found = None;
    for record in tar::PaxExtensions::new(pax) {
        let record = record?;
        if record.key_bytes() == key.as_bytes() {
            // Later records override earlier ones.
            found = Some(record.value_bytes());
        }
    }
    Ok(found)
}

/// Validates an archive path and returns it relative, without `.` components; the error says
/// why it was refused.
fn safe_relative_path(raw: &[u8]) -> std::result::Result<PathBuf, &'static str> {
    if raw.starts_with(b"/") {
        return Err("has an absolute path");
    }
    if raw.contains(&0) {
        return Err("has a NUL byte in its path");
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err("has a path that is too long");
    }
    let mut rel = PathBuf::new();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err("has a '..' path component"),
            _ if component.len() > MAX_NAME_BYTES => return Err("has a name that is too long"),
            _ => rel.push(OsStr::from_bytes(component)),
        }
    }
    Ok(rel)
}

/// Creates `rel` and its missing ancestors under `root`, counting each new directory.
fn create_dirs(
    root: &Path,
    rel: &Path,
    dirs: &mut HashSet<PathBuf>,
    budget: &mut Budget<'_>,
    reject: &dyn Fn(&str) -> Error,
) -> Result<()> {
    let mut current = PathBuf::new();
    for component in rel.components() {
        current.push(component);
        if dirs.contains(&current) {
            continue;
        }
        budget.add_entry()?;
        fs::create_dir(root.join(&current)).map_err(|e| staging_conflict(e, reject))?;
        dirs.insert(current.clone());
    }
    Ok(())
}

/// A staging write that failed because an earlier entry took the name is the archive's
/// fault; anything else is the store's.
fn staging_conflict(e: io::Error, reject: &dyn Fn(&str) -> Error) -> Error {
    match e.kind() {
        io::ErrorKind::AlreadyExists
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory => reject("conflicts with an earlier entry of the archive"),
        _ => write_error(e),
    }
}

/// Computes the hex sha256 of a staged tree (format in the module docs).
fn digest_tree(root: &Path) -> Result<String> {
    let read_error = |e: io::Error| Error::provider("cannot read the staged artifact", e);
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    for entry in WalkDir::new(root).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|e| read_error(e.into()))?;
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|_| Error::provider_msg("walked outside the staged artifact", false))?;
        let is_dir = entry.file_type().is_dir();
        if !is_dir && !entry.file_type().is_file() {
            return Err(Error::provider_msg(
                "the staged artifact contains an unexpected entry",
                false,
            ));
        }
        entries.push((rel.as_os_str().as_bytes().to_vec(), is_dir));
    }
    entries.sort();

    let mut hasher = Sha256::new();
    for (rel, is_dir) in &entries {
        hasher.update(rel);
        if *is_dir {
            hasher.update(b"/\0");
            continue;
        }
        hasher.update([0u8]);
        let mut file = File::open(root.join(OsStr::from_bytes(rel))).map_err(read_error)?;
        let len = file.metadata().map_err(read_error)?.len();
        hasher.update(len.to_be_bytes());
        let copied = io::copy(&mut file, &mut hasher).map_err(read_error)?;
        if copied != len {
            return Err(Error::provider_msg(
                "the staged artifact changed while it was hashed",
                false,
            ));
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex part of a well-formed `sha256:<64 lowercase hex>` digest.
fn parse_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_digest_hex(hex) => Ok(hex),
        _ => Err(Error::invalid(format!(
            "invalid artifact digest '{}': expected 'sha256:' and 64 lowercase hex digits",
            show(digest.as_bytes())
        ))),
    }
}

fn is_digest_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_dir_no_follow(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Makes a staged tree read-only, so a runtime cannot modify a version's artifact in place.
fn seal(root: &Path) -> io::Result<()> {
    for entry in WalkDir::new(root).follow_links(false).contents_first(true) {
        let entry = entry?;
        let mode = if entry.file_type().is_dir() {
            0o555
        } else {
            0o444
        };
        fs::set_permissions(entry.path(), Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Gives directories write permission back so their entries can be deleted (a file's own
/// permissions do not matter for unlinking it).
fn unseal(root: &Path) -> io::Result<()> {
    for entry in WalkDir::new(root).follow_links(false) {
        let entry = entry?;
        if entry.file_type().is_dir() {
            fs::set_permissions(entry.path(), Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

fn remove_tree(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        unseal(path)?;
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// Locks a mutex, ignoring poisoning: the set stays consistent whatever panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Untrusted names for messages and logs: lossy UTF-8, control characters and quotes escaped.
fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use mlm_core::ErrorKind;
    use std::os::unix::fs::symlink;
    use std::time::SystemTime;

    /// A temp dir with an artifact root `models/`, a sibling `outside/` and a store `store/`.
    struct Fixture {
        _tmp: tempfile::TempDir,
        base: PathBuf,
        root: PathBuf,
        store: ArtifactStore,
    }

    impl Fixture {
        fn new() -> Self {
            Self::with_limits(DEFAULT_MAX_TOTAL_BYTES, DEFAULT_MAX_FILES)
        }

        fn with_limits(max_bytes: u64, max_files: u64) -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let base = fs::canonicalize(tmp.path()).unwrap();
            let root = base.join("models");
            fs::create_dir(&root).unwrap();
            fs::create_dir(base.join("outside")).unwrap();
            let store = ArtifactStore::new(base.join("store"), std::slice::from_ref(&root))
                .unwrap()
                .with_limits(max_bytes, max_files);
            Self {
                _tmp: tmp,
                base,
                root,
                store,
            }
        }

        /// Names in the store directory, sorted.
        fn store_entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.base.join("store"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }

        fn import(&self, path: &Path) -> Result<StoredArtifact> {
            self.store.import(path.to_str().unwrap())
        }

        /// A model written by [`write_model`] at `churn` under the root; its path.
        fn churn_model(&self) -> PathBuf {
            let src = self.root.join("churn");
            write_model(&src);
            src
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            // Stored artifacts are read-only: give write access back so the temp dir can go.
            let _ = unseal(&self.base);
        }
    }

    /// A small model directory with a nested and an empty directory.
    fn write_model(dir: &Path) {
        fs::create_dir_all(dir.join("code")).unwrap();
        fs::create_dir_all(dir.join("empty")).unwrap();
        fs::write(dir.join("model.bin"), b"\x00\x01weights\xff").unwrap();
        fs::write(dir.join("config.json"), br#"{"layers": 2}"#).unwrap();
        fs::write(dir.join("code/inference.py"), b"print('hi')\n").unwrap();
    }

    /// Packs `dir` like SageMaker's `model.tar.gz`: entries relative to the archive root,
    /// `./`-prefixed if `dot_prefix`.
    fn tar_gz_of(dir: &Path, out: &Path, dot_prefix: bool) {
        let encoder = GzEncoder::new(File::create(out).unwrap(), Compression::default());
        let mut builder = tar::Builder::new(encoder);
        for entry in WalkDir::new(dir).min_depth(1).sort_by_file_name() {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(dir).unwrap();
            let name = if dot_prefix {
                Path::new(".").join(rel)
            } else {
                rel.to_path_buf()
            };
            if entry.file_type().is_dir() {
                builder.append_dir(&name, entry.path()).unwrap();
            } else {
                builder.append_path_with_name(entry.path(), &name).unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    /// A tar header and the entry's data.
    type RawEntry = (tar::Header, Vec<u8>);

    /// A header with `name` written into the raw bytes, bypassing `set_path`'s checks.
    fn raw_header(name: &[u8], entry_type: EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(entry_type);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        header
    }

    fn raw_tar_gz(out: &Path, entries: &[RawEntry]) {
        let encoder = GzEncoder::new(File::create(out).unwrap(), Compression::default());
        let mut builder = tar::Builder::new(encoder);
        for (header, data) in entries {
            builder.append(header, data.as_slice()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    fn file_entry(name: &[u8], data: &[u8]) -> RawEntry {
        (
            raw_header(name, EntryType::Regular, data.len() as u64),
            data.to_vec(),
        )
    }

    /// A GNU long-name header announcing `name` for the next entry.
    fn long_name_entry(name: &[u8]) -> RawEntry {
        let mut data = name.to_vec();
        data.push(0);
        (
            raw_header(b"././@LongLink", EntryType::GNULongName, data.len() as u64),
            data,
        )
    }

    /// A pax header with one `key=value` record.
    fn pax_entry(key: &str, value: &[u8]) -> RawEntry {
        let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        let mut data = format!("{len} {key}=").into_bytes();
        data.extend_from_slice(value);
        data.push(b'\n');
        (
            raw_header(b"PaxHeaders/x", EntryType::XHeader, data.len() as u64),
            data,
        )
    }

    fn invalid(result: Result<StoredArtifact>) -> String {
        match result {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
                e.to_string()
            }
            Ok(stored) => panic!("expected InvalidArgument, got {stored:?}"),
        }
    }

    fn assert_no_staging(f: &Fixture) {
        assert!(
            f.store_entries()
                .iter()
                .all(|n| !n.starts_with(STAGING_PREFIX)),
            "staging left behind: {:?}",
            f.store_entries()
        );
    }

    fn set_mtime(path: &Path, ago: Duration) {
        File::open(path)
            .unwrap()
            .set_modified(SystemTime::now() - ago)
            .unwrap();
    }

    #[test]
    fn imports_a_directory_as_a_read_only_copy() {
        let f = Fixture::new();
        let src = f.churn_model();
        let stored = f.import(&src).unwrap();

        let hex = stored.digest.strip_prefix("sha256:").unwrap();
        assert!(is_digest_hex(hex), "{}", stored.digest);
        assert_eq!(
            stored.path,
            f.base.join("store").join(format!("sha256-{hex}"))
        );
        assert_eq!(
            fs::read(stored.path.join("code/inference.py")).unwrap(),
            b"print('hi')\n"
        );
        assert!(stored.path.join("empty").is_dir());
        let file_mode = fs::metadata(stored.path.join("model.bin")).unwrap().mode();
        let dir_mode = fs::metadata(stored.path.join("code")).unwrap().mode();
        assert_eq!(file_mode & 0o777, 0o444);
        assert_eq!(dir_mode & 0o777, 0o555);
        // Permissions bind everyone but root (which CI may run as).
        if fs::metadata(&stored.path).unwrap().uid() != 0 {
            let write = OpenOptions::new()
                .write(true)
                .open(stored.path.join("model.bin"));
            assert_eq!(write.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        }
        assert_eq!(f.store.path_of(&stored.digest).unwrap(), stored.path);
        assert_eq!(f.store_entries(), vec![format!("sha256-{hex}")]);
    }

    #[test]
    fn digest_follows_the_documented_format() {
        let f = Fixture::new();
        let src = f.root.join("tiny");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("a.txt"), b"hi").unwrap();
        fs::write(src.join("d/b"), b"").unwrap();

        let mut expected = Sha256::new();
        expected.update(b"a.txt\0");
        expected.update(2u64.to_be_bytes());
        expected.update(b"hi");
        expected.update(b"d/\0");
        expected.update(b"d/b\0");
        expected.update(0u64.to_be_bytes());
        let hex: String = expected
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f.import(&src).unwrap().digest, format!("sha256:{hex}"));
    }

    #[test]
    fn tarball_and_directory_of_the_same_content_share_a_digest() {
        let f = Fixture::new();
        let src = f.churn_model();
        let from_dir = f.import(&src).unwrap();

        let targz = f.root.join("model.tar.gz");
        tar_gz_of(&src, &targz, false);
        let tgz = f.root.join("model.tgz");
        tar_gz_of(&src, &tgz, true);
        // Not named like a tarball: recognized by the gzip magic.
        let sniffed = f.root.join("model.bundle");
        fs::copy(&targz, &sniffed).unwrap();

        for archive in [&targz, &tgz, &sniffed] {
            let stored = f.import(archive).unwrap();
            assert_eq!(stored, from_dir, "{}", archive.display());
        }
        // Importing the same content again yields the one stored directory.
        assert_eq!(f.store_entries().len(), 1, "{:?}", f.store_entries());
        assert_no_staging(&f);
        assert_eq!(
            fs::read(from_dir.path.join("model.bin")).unwrap(),
            b"\x00\x01weights\xff"
        );
    }

    #[test]
    fn concurrent_imports_of_the_same_content_agree() {
        let f = Fixture::new();
        let src = f.churn_model();
        let results: Vec<StoredArtifact> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| f.import(&src))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(f.store_entries().len(), 1, "{:?}", f.store_entries());
    }

    #[test]
    fn one_changed_byte_changes_the_digest() {
        let f = Fixture::new();
        let src = f.churn_model();
        let before = f.import(&src).unwrap();
        fs::write(src.join("model.bin"), b"\x00\x01weights\xfe").unwrap();
        let after = f.import(&src).unwrap();
        assert_ne!(before.digest, after.digest);
        assert_eq!(f.store_entries().len(), 2);
    }

    #[test]
    fn source_changes_after_import_do_not_reach_the_stored_copy() {
        let f = Fixture::new();
        let src = f.churn_model();
        let stored = f.import(&src).unwrap();
        fs::write(src.join("model.bin"), b"retrained").unwrap();
        fs::remove_file(src.join("config.json")).unwrap();
        assert_eq!(
            fs::read(stored.path.join("model.bin")).unwrap(),
            b"\x00\x01weights\xff"
        );
        assert!(stored.path.join("config.json").is_file());
    }

    #[test]
    fn accepts_file_uris_and_relative_paths() {
        let f = Fixture::new();
        let src = f.churn_model();
        let expected = f.import(&src).unwrap();
        let abs = src.to_str().unwrap();

        for uri in [
            format!("file://{abs}"),
            format!("file://localhost{abs}"),
            format!("FILE://LOCALHOST{abs}"),
        ] {
            assert_eq!(f.store.import(&uri).unwrap(), expected, "{uri}");
        }
        // The same directory relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        let ups = cwd.components().count() - 1;
        let relative = format!("{}{}", "../".repeat(ups), abs.trim_start_matches('/'));
        assert!(Path::new(&relative).is_relative());
        assert_eq!(f.store.import(&relative).unwrap(), expected);

        let msg = invalid(f.store.import(&format!("file://otherhost{abs}")));
        assert!(msg.contains("file:///path"), "{msg}");
    }

    #[test]
    fn outside_the_roots_looks_the_same_whether_it_exists_or_not() {
        let f = Fixture::new();
        let outside = f.base.join("outside/secret");
        write_model(&outside);
        symlink(&outside, f.root.join("link-out")).unwrap();
        symlink(f.base.join("outside"), f.root.join("dir-link-out")).unwrap();

        let expected = |uri: &str| {
            format!("invalid argument: artifact '{uri}' is not under a configured artifact root")
        };
        let cases = [
            outside.display().to_string(),
            f.base.join("outside/missing").display().to_string(),
            format!("{}/../outside/secret", f.root.display()),
            format!("{}/../outside/missing", f.root.display()),
            format!("file://{}", outside.display()),
            f.root.join("link-out").display().to_string(),
            // Through a symlink inside the root: missing and existing look alike too.
            f.root.join("dir-link-out/secret").display().to_string(),
            f.root.join("dir-link-out/missing").display().to_string(),
            "/".to_string(),
        ];
        for uri in cases {
            assert_eq!(invalid(f.store.import(&uri)), expected(&uri));
        }
        assert_no_staging(&f);
    }

    #[test]
    fn a_root_name_prefix_is_not_a_root() {
        let f = Fixture::new();
        let evil = f.base.join("models-evil/m");
        write_model(&evil);
        let uri = evil.display().to_string();
        assert_eq!(
            invalid(f.store.import(&uri)),
            format!("invalid argument: artifact '{uri}' is not under a configured artifact root")
        );
    }

    #[test]
    fn a_missing_path_inside_a_root_is_reported_as_missing() {
        let f = Fixture::new();
        let uri = f.root.join("nope").display().to_string();
        assert_eq!(
            invalid(f.store.import(&uri)),
            format!("invalid argument: artifact '{uri}' does not exist")
        );
        let uri = f.root.join("nope/deeper.tar.gz").display().to_string();
        assert!(invalid(f.store.import(&uri)).contains("does not exist"));
    }

    #[test]
    fn symlinks_in_a_directory_must_stay_inside_it() {
        let f = Fixture::new();
        fs::write(f.base.join("outside/secret"), b"s3cr3t").unwrap();
        fs::write(f.root.join("sibling"), b"in root, not in artifact").unwrap();

        let escaping = f.root.join("escaping");
        write_model(&escaping);
        symlink(f.base.join("outside/secret"), escaping.join("code/leak")).unwrap();
        let msg = invalid(f.import(&escaping));
        assert!(
            msg.contains("symlink 'code/leak' points outside the artifact directory"),
            "{msg}"
        );
        assert!(!msg.contains("outside/secret"), "{msg}");

        // Leaving the artifact's own directory is refused even if it stays in the root.
        let to_sibling = f.root.join("to-sibling");
        write_model(&to_sibling);
        symlink("../sibling", to_sibling.join("s")).unwrap();
        assert!(invalid(f.import(&to_sibling)).contains("'s' points outside"));

        let dangling = f.root.join("dangling");
        write_model(&dangling);
        symlink("nowhere", dangling.join("d")).unwrap();
        assert!(invalid(f.import(&dangling)).contains("'d' is dangling"));

        let to_dir = f.root.join("to-dir");
        write_model(&to_dir);
        symlink("code", to_dir.join("code2")).unwrap();
        assert!(invalid(f.import(&to_dir)).contains("'code2' points to a directory"));
        assert_no_staging(&f);

        // A symlink to a file inside is stored as a regular file with the target's content.
        let plain = f.root.join("plain");
        write_model(&plain);
        fs::write(plain.join("alias.bin"), b"\x00\x01weights\xff").unwrap();
        let linked = f.root.join("linked");
        write_model(&linked);
        symlink("model.bin", linked.join("alias.bin")).unwrap();
        let stored = f.import(&linked).unwrap();
        assert_eq!(stored.digest, f.import(&plain).unwrap().digest);
        assert!(
            fs::symlink_metadata(stored.path.join("alias.bin"))
                .unwrap()
                .is_file()
        );
    }

    #[test]
    fn special_files_are_rejected() {
        let f = Fixture::new();
        let src = f.root.join("with-socket");
        write_model(&src);
        let _listener = std::os::unix::net::UnixListener::bind(src.join("code/sock")).unwrap();
        assert!(invalid(f.import(&src)).contains("'code/sock' is a special file"));
        assert_no_staging(&f);

        // A socket as the artifact itself.
        let _listener = std::os::unix::net::UnixListener::bind(f.root.join("sock")).unwrap();
        assert!(invalid(f.import(&f.root.join("sock"))).contains("neither a directory"));
    }

    /// Archives with one unsafe entry each: name, entries, what the refusal says.
    fn unsafe_tarball_cases() -> Vec<(&'static str, Vec<RawEntry>, &'static str)> {
        let mut link = raw_header(b"evil-link", EntryType::Symlink, 0);
        link.as_old_mut().linkname[..11].copy_from_slice(b"/etc/passwd");
        link.set_cksum();
        let mut hard = raw_header(b"evil-hard", EntryType::Link, 0);
        hard.as_old_mut().linkname[..11].copy_from_slice(b"/etc/passwd");
        hard.set_cksum();

        vec![
            (
                "dotdot",
                vec![file_entry(b"../x", b"x")],
                "entry '../x' has a '..' path component",
            ),
            (
                "nested-dotdot",
                vec![file_entry(b"a/../../x", b"x")],
                "'..' path component",
            ),
            (
                "absolute",
                vec![file_entry(b"/abs", b"x")],
                "entry '/abs' has an absolute path",
            ),
            (
                "symlink",
                vec![(link, vec![])],
                "entry 'evil-link' is a symlink",
            ),
            (
                "hardlink",
                vec![(hard, vec![])],
                "entry 'evil-hard' is a hard link",
            ),
            (
                "fifo",
                vec![(raw_header(b"p", EntryType::Fifo, 0), vec![])],
                "entry 'p' is a device or fifo",
            ),
            (
                "chardev",
                vec![(raw_header(b"c", EntryType::Char, 0), vec![])],
                "entry 'c' is a device or fifo",
            ),
            (
                "long-name",
                vec![
                    long_name_entry(b"../../escape"),
                    file_entry(b"innocent", b"x"),
                ],
                "entry '../../escape' has a '..'",
            ),
            (
                "pax-path",
                vec![
                    pax_entry("path", b"/etc/cron.d/x"),
                    file_entry(b"innocent", b"x"),
                ],
                "entry '/etc/cron.d/x' has an absolute path",
            ),
            (
                "duplicate",
                vec![file_entry(b"a", b"1"), file_entry(b"a", b"2")],
                "entry 'a' conflicts with an earlier entry",
            ),
            (
                "file-under-file",
                vec![file_entry(b"a", b"1"), file_entry(b"a/b", b"2")],
                "entry 'a/b' conflicts",
            ),
            (
                "empty-name",
                vec![file_entry(b"./", b"1")],
                "has an empty path",
            ),
        ]
    }

    #[test]
    fn unsafe_tarball_entries_are_rejected() {
        let f = Fixture::new();
        for (name, entries, expected) in unsafe_tarball_cases() {
            let archive = f.root.join(format!("{name}.tar.gz"));
            raw_tar_gz(&archive, &entries);
            let msg = invalid(f.import(&archive));
            assert!(msg.contains(expected), "{name}: {msg}");
        }
        assert!(!f.base.join("x").exists() && !f.base.join("escape").exists());
        assert_no_staging(&f);
        assert!(f.store_entries().is_empty());
    }

    #[test]
    fn long_tarball_names_are_supported() {
        let f = Fixture::new();
        let long = format!("{}/weights.bin", "d".repeat(120));
        let src = f.root.join("long");
        fs::create_dir_all(src.join("d".repeat(120))).unwrap();
        fs::write(src.join(&long), b"w").unwrap();
        fs::write(src.join("p"), b"pax").unwrap();
        let from_dir = f.import(&src).unwrap();

        let archive = f.root.join("long.tar.gz");
        raw_tar_gz(
            &archive,
            &[
                long_name_entry(long.as_bytes()),
                file_entry(b"truncated", b"w"),
                pax_entry("path", b"p"),
                file_entry(b"ignored", b"pax"),
            ],
        );
        assert_eq!(f.import(&archive).unwrap(), from_dir);
    }

    #[test]
    fn limits_are_enforced() {
        let f = Fixture::with_limits(10, 3);
        let big = f.root.join("big");
        fs::create_dir(&big).unwrap();
        fs::write(big.join("w"), [7u8; 11]).unwrap();
        assert!(invalid(f.import(&big)).contains("exceeds the limit of 10 bytes"));
        let big_tar = f.root.join("big.tar.gz");
        tar_gz_of(&big, &big_tar, false);
        assert!(invalid(f.import(&big_tar)).contains("exceeds the limit of 10 bytes"));

        let many = f.root.join("many");
        fs::create_dir_all(many.join("sub")).unwrap();
        for name in ["a", "b", "sub/c"] {
            fs::write(many.join(name), b"x").unwrap();
        }
        let msg = invalid(f.import(&many));
        assert!(
            msg.contains("exceeds the limit of 3 files and directories"),
            "{msg}"
        );
        let many_tar = f.root.join("many.tar.gz");
        tar_gz_of(&many, &many_tar, false);
        assert!(invalid(f.import(&many_tar)).contains("limit of 3 files"));
        // Implied parent directories count too.
        let deep = f.root.join("deep.tar.gz");
        raw_tar_gz(&deep, &[file_entry(b"a/b/c/d", b"x")]);
        assert!(invalid(f.import(&deep)).contains("limit of 3 files"));

        // Exactly at the limits is fine.
        fs::remove_file(many.join("sub/c")).unwrap();
        fs::write(many.join("b"), [1u8; 9]).unwrap();
        f.import(&many).unwrap();
        assert_eq!(f.store_entries().len(), 1);
    }

    #[test]
    fn corrupt_archives_and_plain_files_are_rejected() {
        let f = Fixture::new();
        let not_gzip = f.root.join("model.tar.gz");
        fs::write(&not_gzip, b"definitely not gzip").unwrap();
        assert!(invalid(f.import(&not_gzip)).contains("is not a valid .tar.gz"));

        let gzip_not_tar = f.root.join("data.tgz");
        let mut encoder =
            GzEncoder::new(File::create(&gzip_not_tar).unwrap(), Compression::default());
        encoder.write_all(&[b'z'; 2000]).unwrap();
        encoder.finish().unwrap();
        assert!(invalid(f.import(&gzip_not_tar)).contains("is not a valid .tar.gz"));

        let src = f.churn_model();
        let good = f.root.join("good.tar.gz");
        tar_gz_of(&src, &good, false);
        let bytes = fs::read(&good).unwrap();
        let truncated = f.root.join("truncated.tar.gz");
        fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        assert!(invalid(f.import(&truncated)).contains("is not a valid .tar.gz"));

        let empty = f.root.join("empty.tar.gz");
        fs::write(&empty, b"").unwrap();
        assert!(invalid(f.import(&empty)).contains("is not a valid .tar.gz"));

        // Cut inside an entry's data, then compressed properly.
        let mut tar_bytes = tar::Builder::new(Vec::new());
        let (header, data) = file_entry(b"weights", &[5u8; 100]);
        tar_bytes.append(&header, data.as_slice()).unwrap();
        let tar_bytes = tar_bytes.into_inner().unwrap();
        let short_tar = f.root.join("short.tar.gz");
        let mut encoder = GzEncoder::new(File::create(&short_tar).unwrap(), Compression::default());
        encoder.write_all(&tar_bytes[..512 + 10]).unwrap();
        encoder.finish().unwrap();
        assert!(invalid(f.import(&short_tar)).contains("the archive is truncated"));

        let plain = f.root.join("model.bin");
        fs::write(&plain, b"weights").unwrap();
        let msg = invalid(f.import(&plain));
        assert!(
            msg.contains("neither a directory nor a .tar.gz/.tgz archive"),
            "{msg}"
        );
        assert_no_staging(&f);
        assert!(f.store_entries().is_empty());
    }

    #[test]
    fn only_local_paths_are_accepted() {
        let f = Fixture::new();
        for uri in [
            "s3://bucket/model.tar.gz",
            "http://example.invalid/m",
            "hf://org/model",
        ] {
            let msg = invalid(f.store.import(uri));
            assert!(
                msg.contains(
                    "the local backend reads only local paths under the configured artifact roots"
                ),
                "{msg}"
            );
        }
        assert!(invalid(f.store.import("")).contains("must not be empty"));
        assert!(invalid(f.store.import("  ")).contains("must not be empty"));
        assert!(invalid(f.store.import("a\0b")).contains("not a valid path"));
    }

    #[test]
    fn path_of_validates_digests() {
        let f = Fixture::new();
        let src = f.churn_model();
        let stored = f.import(&src).unwrap();
        let hex = stored.digest.strip_prefix("sha256:").unwrap();

        for bad in [
            String::new(),
            "sha256:".to_string(),
            hex.to_string(),
            format!("sha256-{hex}"),
            format!("md5:{hex}"),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha256:../../{}", &hex[6..]),
            format!("sha256:{}g", &hex[1..]),
        ] {
            let err = f.store.path_of(&bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(err.to_string().contains("invalid artifact digest"), "{err}");
        }
        let absent = format!("sha256:{}", "0".repeat(64));
        let err = f.store.path_of(&absent).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("is not in the artifact store"),
            "{err}"
        );
        assert_eq!(f.store.path_of(&stored.digest).unwrap(), stored.path);
    }

    #[test]
    fn remove_unreferenced_keeps_only_referenced_artifacts() {
        let f = Fixture::new();
        let a = f.root.join("a");
        write_model(&a);
        let b = f.root.join("b");
        write_model(&b);
        fs::write(b.join("model.bin"), b"other").unwrap();
        let kept = f.import(&a).unwrap();
        let dropped = f.import(&b).unwrap();
        // Stored files are read-only; that must not block removal.
        let mode = fs::metadata(dropped.path.join("code/inference.py"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o222, 0);

        let store_dir = f.base.join("store");
        let stale = store_dir.join(".staging-stale");
        fs::create_dir_all(stale.join("x")).unwrap();
        fs::set_permissions(stale.join("x"), Permissions::from_mode(0o555)).unwrap();
        set_mtime(&stale, Duration::from_secs(2 * 60 * 60));
        // A young staging dir may belong to an import in another process.
        let fresh = store_dir.join(".staging-fresh");
        fs::create_dir(&fresh).unwrap();
        fs::write(store_dir.join("README"), b"operator notes").unwrap();

        let keep = HashSet::from([kept.digest.clone()]);
        assert_eq!(f.store.remove_unreferenced(&keep).unwrap(), 2);
        assert!(kept.path.join("model.bin").is_file());
        assert!(!dropped.path.exists());
        assert!(f.store.path_of(&dropped.digest).is_err());
        assert!(!stale.exists());
        assert!(fresh.exists());
        assert!(store_dir.join("README").exists());
        assert_eq!(f.store.remove_unreferenced(&keep).unwrap(), 0);

        assert_eq!(f.store.remove_unreferenced(&HashSet::new()).unwrap(), 1);
        assert!(!kept.path.exists());
        // Re-importing after removal stores it again.
        assert_eq!(f.import(&a).unwrap(), kept);
        assert!(kept.path.join("model.bin").is_file());
    }

    #[test]
    fn the_store_itself_cannot_be_imported() {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        let store = ArtifactStore::new(base.join("store"), std::slice::from_ref(&base)).unwrap();
        assert!(
            invalid(store.import(base.to_str().unwrap())).contains("overlaps the artifact store")
        );
        let inner = base.join("store").display().to_string();
        assert!(invalid(store.import(&inner)).contains("overlaps the artifact store"));
    }

    #[test]
    fn new_rejects_missing_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("no-such-root");
        let err = ArtifactStore::new(tmp.path().join("store"), std::slice::from_ref(&missing))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );

        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = ArtifactStore::new(tmp.path().join("store"), &[file]).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }
}
