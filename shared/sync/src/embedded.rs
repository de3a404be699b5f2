//! [`FileBookmarkStore`]: bookmarks and leases in local JSON files, for the CLI and for
//! single-host deployments without DynamoDB.
//!
//! One file per pipeline, `<dir>/<pipeline>.bookmarks.json`:
//!
//! ```json
//! { "format": 1,
//!   "bookmarks": { "<table id>": { ...Bookmark... } },
//!   "leases":    { "<table id>": { ...Lease... } } }
//! ```
//!
//! Every write runs under an exclusive `flock` on `<dir>/<pipeline>.lock` (so several
//! processes, and several tasks of one process, serialize), reads the current file, applies
//! the same rules as every other store ([`check_conditional_write`], [`decide_acquire`]) and
//! replaces the file atomically: write a temp file in the same directory, fsync it, rename it
//! over the old one, fsync the directory. Readers never take the lock: a rename is atomic, so
//! they see either the old or the new file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bookmark::{
    Bookmark, BookmarkError, BookmarkResult, BookmarkStore, WriteMode, check_conditional_write,
    validate_key, validate_pipeline,
};
use crate::lease::{
    Acquire, Lease, LeaseError, LeaseResult, LeaseStore, decide_acquire, lease_expiry,
    validate_lease_key,
};

/// The current file format version.
const FORMAT: u32 = 1;

/// The contents of one pipeline's file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    format: u32,
    #[serde(default)]
    bookmarks: BTreeMap<String, Bookmark>,
    #[serde(default)]
    leases: BTreeMap<String, Lease>,
}

/// A failure of the file layer, converted into the caller's error type.
#[derive(Debug)]
enum FileError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Corrupt {
        path: PathBuf,
        reason: String,
    },
}

fn io_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock
    )
}

impl From<FileError> for BookmarkError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Io { path, source } => BookmarkError::Backend {
                location: path.display().to_string(),
                transient: io_transient(&source),
                message: source.to_string(),
            },
            FileError::Corrupt { path, reason } => BookmarkError::Corrupt {
                location: path.display().to_string(),
                reason,
            },
        }
    }
}

impl From<FileError> for LeaseError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Io { path, source } => LeaseError::Backend {
                location: path.display().to_string(),
                transient: io_transient(&source),
                message: source.to_string(),
            },
            FileError::Corrupt { path, reason } => LeaseError::Corrupt {
                location: path.display().to_string(),
                reason,
            },
        }
    }
}

/// Bookmarks and leases in JSON files under one directory (see the module docs).
#[derive(Debug, Clone)]
pub struct FileBookmarkStore {
    dir: PathBuf,
}

impl FileBookmarkStore {
    /// A store in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The JSON file of a pipeline.
    pub fn file_of(&self, pipeline: &str) -> PathBuf {
        self.dir.join(format!("{pipeline}.bookmarks.json"))
    }

    fn lock_file_of(&self, pipeline: &str) -> PathBuf {
        self.dir.join(format!("{pipeline}.lock"))
    }

    /// Read a pipeline's document without locking (atomic renames make this safe).
    async fn read(&self, pipeline: &str) -> Result<Doc, FileError> {
        let path = self.file_of(pipeline);
        tokio::task::spawn_blocking(move || read_doc(&path))
            .await
            .map_err(|e| FileError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })?
    }

    /// Run `f` on the pipeline's document under the exclusive lock; when it returns
    /// `(value, true)` the changed document is written back atomically.
    async fn transact<T, E, F>(&self, pipeline: &str, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<FileError> + Send + 'static,
        F: FnOnce(&mut Doc, DateTime<Utc>) -> Result<(T, bool), E> + Send + 'static,
    {
        let dir = self.dir.clone();
        let path = self.file_of(pipeline);
        let lock_path = self.lock_file_of(pipeline);
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|source| FileError::Io {
                path: dir.clone(),
                source,
            })?;
            let _lock = lock_exclusive(&lock_path)?;
            let mut doc = read_doc(&path)?;
            // the clock is read under the lock so concurrent writers' timestamps are ordered
            let (value, changed) = f(&mut doc, Utc::now())?;
            if changed {
                write_doc_atomically(&dir, &path, &doc)?;
            }
            Ok(value)
        })
        .await
        .map_err(|e| {
            E::from(FileError::Io {
                path: self.file_of(pipeline),
                source: std::io::Error::other(e),
            })
        })?
    }
}

/// Open (creating) the lock file and take an exclusive flock; released when the file closes.
fn lock_exclusive(lock_path: &Path) -> Result<File, FileError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|source| FileError::Io {
            path: lock_path.to_path_buf(),
            source,
        })?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(FileError::Io {
                    path: lock_path.to_path_buf(),
                    source: e.into(),
                });
            }
        }
    }
}

fn read_doc(path: &Path) -> Result<Doc, FileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Doc {
                format: FORMAT,
                ..Doc::default()
            });
        }
        Err(source) => {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| FileError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("not a bookmark file: {e}"),
    })?;
    if doc.format != FORMAT {
        return Err(FileError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "unsupported format version {} (this build reads {FORMAT})",
                doc.format
            ),
        });
    }
    for (key, b) in &doc.bookmarks {
        if key != &b.table {
            return Err(FileError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("bookmark under key {key:?} is for table {:?}", b.table),
            });
        }
    }
    Ok(doc)
}

fn write_doc_atomically(dir: &Path, path: &Path, doc: &Doc) -> Result<(), FileError> {
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
        move |source| FileError::Io {
            path: p.to_path_buf(),
            source,
        }
    }
    let json = serde_json::to_vec_pretty(doc).map_err(|e| FileError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&json).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl BookmarkStore for FileBookmarkStore {
    async fn get(&self, pipeline: &str, table: &str) -> BookmarkResult<Option<Bookmark>> {
        validate_key(pipeline, table)?;
        Ok(self.read(pipeline).await?.bookmarks.remove(table))
    }

    async fn list(&self, pipeline: &str) -> BookmarkResult<Vec<Bookmark>> {
        validate_pipeline(pipeline)?;
        Ok(self.read(pipeline).await?.bookmarks.into_values().collect())
    }

    async fn write(
        &self,
        bookmark: &Bookmark,
        expected_version: u64,
        mode: WriteMode,
    ) -> BookmarkResult<Bookmark> {
        validate_key(&bookmark.pipeline, &bookmark.table)?;
        let new = bookmark.clone();
        self.transact(&bookmark.pipeline, move |doc: &mut Doc, now| {
            let stored = check_conditional_write(
                doc.bookmarks.get(&new.table),
                &new,
                expected_version,
                mode,
                now,
            )?;
            doc.bookmarks.insert(stored.table.clone(), stored.clone());
            Ok::<_, BookmarkError>((stored, true))
        })
        .await
    }

    async fn delete(&self, pipeline: &str, table: &str) -> BookmarkResult<()> {
        validate_key(pipeline, table)?;
        let table = table.to_string();
        self.transact(pipeline, move |doc: &mut Doc, _now| {
            let removed = doc.bookmarks.remove(&table).is_some();
            Ok::<_, BookmarkError>(((), removed))
        })
        .await
    }
}

#[async_trait]
impl LeaseStore for FileBookmarkStore {
    async fn acquire(
        &self,
        pipeline: &str,
        table: &str,
        owner: &str,
        ttl: Duration,
    ) -> LeaseResult<Acquire> {
        validate_lease_key(pipeline, table)?;
        let (p, t, o) = (pipeline.to_string(), table.to_string(), owner.to_string());
        self.transact(pipeline, move |doc: &mut Doc, now| {
            let outcome = decide_acquire(doc.leases.get(&t), &p, &t, &o, ttl, now)?;
            let changed = if let Acquire::Acquired(lease) = &outcome {
                doc.leases.insert(t.clone(), lease.clone());
                true
            } else {
                false
            };
            Ok::<_, LeaseError>((outcome, changed))
        })
        .await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> LeaseResult<Lease> {
        validate_lease_key(&lease.pipeline, &lease.table)?;
        let held = lease.clone();
        self.transact(&lease.pipeline, move |doc: &mut Doc, now| {
            let expires_at = lease_expiry(&held.owner, ttl, now)?;
            match doc.leases.get_mut(&held.table) {
                Some(current) if current.token == held.token && !held.is_released() => {
                    current.expires_at = expires_at;
                    Ok((current.clone(), true))
                }
                other => Err(LeaseError::Lost {
                    pipeline: held.pipeline.clone(),
                    table: held.table.clone(),
                    current_owner: other.filter(|c| !c.is_released()).map(|c| c.owner.clone()),
                }),
            }
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> LeaseResult<bool> {
        validate_lease_key(&lease.pipeline, &lease.table)?;
        let held = lease.clone();
        self.transact(&lease.pipeline, move |doc: &mut Doc, now| {
            let Some(current) = doc.leases.get_mut(&held.table) else {
                return Ok::<_, LeaseError>((false, false));
            };
            let ours = current.token == held.token && !current.is_released();
            if ours {
                *current = current.released_at(now);
            }
            Ok((ours, ours))
        })
        .await
    }

    async fn current(&self, pipeline: &str, table: &str) -> LeaseResult<Option<Lease>> {
        validate_lease_key(pipeline, table)?;
        Ok(self
            .read(pipeline)
            .await?
            .leases
            .remove(table)
            .filter(|l| !l.is_released()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn contract_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileBookmarkStore::new(dir.path().join("state")));
        crate::contract::run_all(store).await;
    }

    #[tokio::test]
    async fn file_is_readable_json_and_corruption_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBookmarkStore::new(dir.path());
        let b = store
            .put_if_version(&Bookmark::new("pipe", "s3://b/t"), 0)
            .await
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(store.file_of("pipe")).unwrap()).unwrap();
        assert_eq!(json["format"], 1);
        assert_eq!(json["bookmarks"]["s3://b/t"]["version"], 1);
        // no temp files left behind
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");

        std::fs::write(store.file_of("pipe"), b"{ truncated").unwrap();
        assert!(matches!(
            store.get("pipe", "s3://b/t").await,
            Err(BookmarkError::Corrupt { .. })
        ));
        assert!(matches!(
            store.save(&b).await,
            Err(BookmarkError::Corrupt { .. })
        ));
        assert_eq!(
            std::fs::read(store.file_of("pipe")).unwrap(),
            b"{ truncated"
        );

        std::fs::write(store.file_of("pipe"), br#"{"format":2}"#).unwrap();
        assert!(matches!(
            store.list("pipe").await,
            Err(BookmarkError::Corrupt { .. })
        ));
    }

    #[test]
    fn separate_processes_serialize_on_the_lock_file() {
        // flock is per open file description: two opens conflict even within one process,
        // exactly as they would across processes.
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("p.lock");
        let held = lock_exclusive(&lock).unwrap();
        let other = OpenOptions::new().write(true).open(&lock).unwrap();
        assert_eq!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive),
            Err(rustix::io::Errno::WOULDBLOCK)
        );
        drop(held);
        assert!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
        );
    }
}
