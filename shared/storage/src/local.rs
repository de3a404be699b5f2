//! A directory on the local filesystem as an [`ObjectStore`].

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{Listing, ObjectMeta, ObjectStore, StorageError, StorageResult};

/// An [`ObjectStore`] rooted at a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (need not exist yet; reads of a missing root list empty).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve a relative object path, refusing absolute paths and `..`.
    fn resolve(&self, path: &str) -> StorageResult<PathBuf> {
        let rel = Path::new(path.trim_start_matches('/'));
        for c in rel.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                _ => {
                    return Err(StorageError::InvalidPath {
                        path: path.to_string(),
                        reason: "only relative paths inside the store root are allowed".into(),
                    });
                }
            }
        }
        Ok(self.root.join(rel))
    }

    fn uri(&self, path: &str) -> String {
        format!("file://{}", self.root.join(path).display())
    }

    fn io_err(&self, path: &str, source: std::io::Error) -> StorageError {
        if source.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound {
                uri: self.uri(path),
            }
        } else {
            StorageError::Io {
                uri: self.uri(path),
                source,
            }
        }
    }
}

fn mtime(md: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    md.modified().ok().map(DateTime::<Utc>::from)
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn root_uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn list(&self, dir: &str) -> StorageResult<Listing> {
        let full = self.resolve(dir)?;
        let mut rd = match tokio::fs::read_dir(&full).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(self.io_err(dir, e)),
        };
        let mut listing = Listing::default();
        while let Some(entry) = rd.next_entry().await.map_err(|e| self.io_err(dir, e))? {
            let Ok(name) = entry.file_name().into_string() else {
                // not UTF-8: cannot be a Hudi file; skip it
                continue;
            };
            let rel = crate::join(dir, &name);
            let md = entry.metadata().await.map_err(|e| self.io_err(&rel, e))?;
            if md.is_dir() {
                listing.directories.push(rel);
            } else if md.is_file() {
                listing.objects.push(ObjectMeta {
                    path: rel,
                    size: md.len(),
                    last_modified: mtime(&md),
                });
            }
        }
        listing.objects.sort_by(|a, b| a.path.cmp(&b.path));
        listing.directories.sort();
        Ok(listing)
    }

    async fn head(&self, path: &str) -> StorageResult<ObjectMeta> {
        let full = self.resolve(path)?;
        let md = tokio::fs::metadata(&full)
            .await
            .map_err(|e| self.io_err(path, e))?;
        if !md.is_file() {
            return Err(StorageError::NotFound {
                uri: self.uri(path),
            });
        }
        Ok(ObjectMeta {
            path: path.trim_start_matches('/').to_string(),
            size: md.len(),
            last_modified: mtime(&md),
        })
    }

    async fn get(&self, path: &str) -> StorageResult<Bytes> {
        let full = self.resolve(path)?;
        let data = tokio::fs::read(&full)
            .await
            .map_err(|e| self.io_err(path, e))?;
        Ok(Bytes::from(data))
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes> {
        let full = self.resolve(path)?;
        let mut f = tokio::fs::File::open(&full)
            .await
            .map_err(|e| self.io_err(path, e))?;
        let size = f.metadata().await.map_err(|e| self.io_err(path, e))?.len();
        let start = range.start.min(size);
        let end = range.end.min(size).max(start);
        let len = usize::try_from(end - start).map_err(|_| StorageError::InvalidPath {
            path: path.to_string(),
            reason: "range too large for this platform".into(),
        })?;
        f.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| self.io_err(path, e))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf)
            .await
            .map_err(|e| self.io_err(path, e))?;
        Ok(Bytes::from(buf))
    }

    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()> {
        let full = self.resolve(path)?;
        if let Some(parent) = full.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| self.io_err(path, e))?;
        }
        // write to a sibling temp file, then rename: readers never see a partial object
        let file_name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = full.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        tokio::fs::write(&tmp, data)
            .await
            .map_err(|e| self.io_err(path, e))?;
        tokio::fs::rename(&tmp, &full)
            .await
            .map_err(|e| self.io_err(path, e))?;
        Ok(())
    }

    async fn delete(&self, path: &str) -> StorageResult<()> {
        let full = self.resolve(path)?;
        match tokio::fs::remove_file(&full).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_err(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path());
        s.put("a/b/c.txt", Bytes::from_static(b"hello world"))
            .await
            .unwrap();
        s.put("a/top.txt", Bytes::from_static(b"x")).await.unwrap();
        let l = s.list("a").await.unwrap();
        assert_eq!(l.directories, vec!["a/b".to_string()]);
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.objects[0].path, "a/top.txt");
        assert_eq!(
            s.get("a/b/c.txt").await.unwrap(),
            Bytes::from_static(b"hello world")
        );
        assert_eq!(
            s.get_range("a/b/c.txt", 6..11).await.unwrap(),
            Bytes::from_static(b"world")
        );
        // clamped past the end
        assert_eq!(
            s.get_range("a/b/c.txt", 6..100).await.unwrap(),
            Bytes::from_static(b"world")
        );
        assert_eq!(s.get_range("a/b/c.txt", 50..100).await.unwrap().len(), 0);
        assert_eq!(s.head("a/b/c.txt").await.unwrap().size, 11);
        assert!(s.head("nope").await.unwrap_err().is_not_found());
        assert!(s.list("missing").await.unwrap().objects.is_empty());
        s.delete("a/b/c.txt").await.unwrap();
        s.delete("a/b/c.txt").await.unwrap();
        assert!(s.get("a/b/c.txt").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn refuses_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path());
        assert!(matches!(
            s.get("../etc/passwd").await,
            Err(StorageError::InvalidPath { .. })
        ));
    }
}
