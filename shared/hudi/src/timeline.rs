//! The active timeline: completed instants (with requested and completion time) and the
//! pending ones, listed from storage in either layout.

use std::collections::BTreeMap;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use hps_storage::{DynStore, ObjectMeta};
use tracing::debug;

use crate::config::TableConfig;
use crate::error::{HudiError, Result};
use crate::instant::{Action, InstantState, compare_instant_times, parse_instant_file_name};
use crate::metadata::{
    CommitMetadata, MAX_INSTANT_FILE_BYTES, RequestedReplaceMetadata, RestoreMetadata,
    RollbackMetadata,
};

/// A completed instant on the active timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instant {
    /// Requested (instant) time: the `_hoodie_commit_time` of rows it wrote.
    pub requested_time: String,
    /// Completion time (layout 2 only; `None` on v6).
    pub completion_time: Option<String>,
    /// The completed action (`commit`, `deltacommit`, `replacecommit`, `rollback`, ...).
    pub action: Action,
    /// Path of the completed instant file, relative to the base path.
    pub path: String,
    /// Size of the completed instant file.
    pub size: u64,
    /// Modification time of the completed file (S3 `LastModified`), when known.
    pub last_modified: Option<DateTime<Utc>>,
}

impl Instant {
    /// The time windows compare against: the completion time on v8/v9 (when recorded),
    /// otherwise the requested time.
    pub fn window_time(&self) -> &str {
        self.completion_time
            .as_deref()
            .unwrap_or(&self.requested_time)
    }

    /// This instant as a bookmark position.
    pub fn position(&self) -> InstantPosition {
        InstantPosition {
            requested_time: self.requested_time.clone(),
            completion_time: self.completion_time.clone(),
        }
    }

    /// The wall-clock time this instant completed, `None` when it cannot be told. Instant
    /// times are in the table's timeline timezone (`hoodie.table.timeline.timezone`): with
    /// `UTC` the time is exact; with `LOCAL` (the default: the writer's zone, which the table
    /// does not record) the completed file's modification time is used when the storage
    /// reported one, otherwise the time is read in this machine's zone.
    pub fn completed_at(&self, timeline_timezone: &str) -> Option<DateTime<Utc>> {
        let t = self.window_time();
        if timeline_timezone.eq_ignore_ascii_case("UTC") {
            return parse_instant_time(t).map(|n| Utc.from_utc_datetime(&n));
        }
        if let Some(m) = self.last_modified {
            return Some(m);
        }
        let naive = parse_instant_time(t)?;
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// Parse an instant time (`yyyyMMddHHmmss` plus optional milliseconds) as a naive time.
pub fn parse_instant_time(t: &str) -> Option<NaiveDateTime> {
    if t.len() < 14 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = NaiveDateTime::parse_from_str(&t[..14], "%Y%m%d%H%M%S").ok()?;
    let millis: i64 = match t.get(14..17) {
        Some(ms) => ms.parse().ok()?,
        None => 0,
    };
    Some(base + chrono::Duration::milliseconds(millis))
}

/// A requested or inflight instant with no completed file (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInstant {
    /// Requested time.
    pub requested_time: String,
    /// The action as named by the requested/inflight file (`commit`, `clustering`, ...).
    pub action: Action,
    /// The most advanced state seen.
    pub state: InstantState,
    /// Path of the `.requested` file when present (holds plans for table services).
    pub requested_path: Option<String>,
}

/// A position on the timeline: what a bookmark stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstantPosition {
    /// Requested (instant) time.
    pub requested_time: String,
    /// Completion time (v8/v9); `None` on v6.
    pub completion_time: Option<String>,
}

impl InstantPosition {
    /// The value to pass as `after` to the planner: completion time when known, else
    /// requested time.
    pub fn window_key(&self) -> &str {
        self.completion_time
            .as_deref()
            .unwrap_or(&self.requested_time)
    }
}

/// The active timeline of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Completed instants, sorted by requested time.
    pub completed: Vec<Instant>,
    /// Pending (requested / inflight) instants, sorted by requested time.
    pub pending: Vec<PendingInstant>,
    /// Whether instants were archived (`archived/` or `timeline/history/` is non-empty).
    pub archive_present: bool,
    /// Whether windows compare completion times (table version >= 8).
    pub uses_completion_time: bool,
    /// Set when archived instants were merged into `completed` (a window reaching back into
    /// the archive): every archived write instant whose window time is after this bound is
    /// in `completed`, with its metadata in `archived_metadata`.
    pub archived_after: Option<String>,
    /// Commit metadata of the merged archived instants, by requested time.
    pub archived_metadata: std::collections::BTreeMap<String, crate::metadata::CommitMetadata>,
}

impl Timeline {
    /// Completed instants in the order windows admit them: by completion time on v8/v9
    /// (ties broken by requested time), by requested time on v6.
    pub fn in_window_order(&self) -> Vec<&Instant> {
        let mut v: Vec<&Instant> = self.completed.iter().collect();
        v.sort_by(|a, b| {
            compare_instant_times(a.window_time(), b.window_time())
                .then_with(|| compare_instant_times(&a.requested_time, &b.requested_time))
        });
        v
    }

    /// The completed instant with this requested time.
    pub fn completed_by_requested(&self, t: &str) -> Option<&Instant> {
        self.completed
            .binary_search_by(|i| compare_instant_times(&i.requested_time, t))
            .ok()
            .map(|idx| &self.completed[idx])
    }

    /// Where the active write timeline starts: the oldest requested time of a write instant
    /// (`commit`, `deltacommit`, `replacecommit`, or a compaction / clustering / log
    /// compaction in any state). Older write instants were archived, and only completed ones
    /// are archived, so files written before this time are committed. Cleans and rollbacks
    /// are archived on their own schedule and do not count.
    pub fn oldest_requested_time(&self) -> Option<&str> {
        let c = self
            .completed
            .iter()
            .find(|i| i.action.is_write())
            .map(|i| i.requested_time.as_str());
        let p = self
            .pending
            .iter()
            .find(|i| i.action.is_write_or_table_service())
            .map(|i| i.requested_time.as_str());
        match (c, p) {
            (Some(a), Some(b)) => Some(if compare_instant_times(a, b).is_le() {
                a
            } else {
                b
            }),
            (a, b) => a.or(b),
        }
    }

    /// The last completed data-writing instant (`commit`/`deltacommit`/`replacecommit`) in
    /// window order.
    pub fn latest_write(&self) -> Option<&Instant> {
        self.in_window_order()
            .into_iter()
            .rev()
            .find(|i| i.action.is_write())
    }
}

/// Loads timelines and instant metadata of one table through its store.
#[derive(Debug, Clone)]
pub(crate) struct TimelineLoader<'a> {
    pub store: &'a DynStore,
    pub config: &'a TableConfig,
    pub table: &'a str,
}

impl TimelineLoader<'_> {
    /// List the active timeline.
    pub async fn load(&self) -> Result<Timeline> {
        let dir = &self.config.timeline_dir;
        let listing = self
            .store
            .list(dir)
            .await
            .map_err(|e| HudiError::storage(self.table, e))?;
        let layout2 = self.config.timeline_layout_version >= 2;
        let mut completed: BTreeMap<String, Instant> = BTreeMap::new();
        let mut pending: BTreeMap<String, PendingInstant> = BTreeMap::new();
        for obj in &listing.objects {
            let Some(f) = parse_instant_file_name(obj.file_name()) else {
                continue;
            };
            match f.state {
                InstantState::Completed => {
                    if !layout2 && f.completion_time.is_some() {
                        // a layout-2 name in a layout-1 folder: not an instant of this table
                        continue;
                    }
                    completed.insert(
                        f.requested_time.clone(),
                        Instant {
                            requested_time: f.requested_time,
                            completion_time: f.completion_time,
                            action: f.action,
                            path: obj.path.clone(),
                            size: obj.size,
                            last_modified: obj.last_modified,
                        },
                    );
                }
                state => {
                    let e =
                        pending
                            .entry(f.requested_time.clone())
                            .or_insert_with(|| PendingInstant {
                                requested_time: f.requested_time.clone(),
                                action: f.action.clone(),
                                state,
                                requested_path: None,
                            });
                    if state == InstantState::Requested {
                        e.requested_path = Some(obj.path.clone());
                        // the requested file names the real action (`<t>.inflight` says commit)
                        e.action = f.action.clone();
                    }
                    if state > e.state {
                        e.state = state;
                    }
                }
            }
        }
        pending.retain(|t, _| !completed.contains_key(t));
        let mut completed: Vec<Instant> = completed.into_values().collect();
        completed.sort_by(|a, b| compare_instant_times(&a.requested_time, &b.requested_time));
        let mut pending: Vec<PendingInstant> = pending.into_values().collect();
        pending.sort_by(|a, b| compare_instant_times(&a.requested_time, &b.requested_time));
        let archive_present = self.archive_present().await?;
        debug!(
            table = self.table,
            completed = completed.len(),
            pending = pending.len(),
            archive_present,
            "timeline loaded"
        );
        Ok(Timeline {
            completed,
            pending,
            archive_present,
            uses_completion_time: self.config.uses_completion_time(),
            archived_after: None,
            archived_metadata: BTreeMap::new(),
        })
    }

    async fn archive_present(&self) -> Result<bool> {
        let l = self
            .store
            .list(&self.config.archive_dir)
            .await
            .map_err(|e| HudiError::storage(self.table, e))?;
        let ignorable = |m: &ObjectMeta| {
            let n = m.file_name();
            // macOS debris and checksum side files; v6 archive files themselves are
            // dot-files (`.commits_.archive.1_1-0-1`), so dot-files in general count
            n == ".DS_Store" || n.starts_with("._") || n.ends_with(".crc")
        };
        Ok(l.objects.iter().any(|m| !ignorable(m)) || !l.directories.is_empty())
    }

    async fn read_instant_file(
        &self,
        instant: &str,
        path: &str,
        size: Option<u64>,
    ) -> Result<bytes::Bytes> {
        if let Some(size) = size
            && size > MAX_INSTANT_FILE_BYTES
        {
            return Err(HudiError::MalformedCommitMetadata {
                table: self.table.to_string(),
                instant: instant.to_string(),
                file: path.to_string(),
                reason: format!(
                    "{size} bytes exceeds the {MAX_INSTANT_FILE_BYTES}-byte limit for instant files"
                ),
            });
        }
        self.store
            .get(path)
            .await
            .map_err(|e| HudiError::storage(self.table, e))
    }

    fn malformed(&self, instant: &str, path: &str, reason: String) -> HudiError {
        HudiError::MalformedCommitMetadata {
            table: self.table.to_string(),
            instant: instant.to_string(),
            file: path.to_string(),
            reason,
        }
    }

    /// Commit / deltacommit / replacecommit metadata of a completed instant.
    pub async fn commit_metadata(&self, instant: &Instant) -> Result<CommitMetadata> {
        let bytes = self
            .read_instant_file(&instant.requested_time, &instant.path, Some(instant.size))
            .await?;
        CommitMetadata::decode(&bytes)
            .map_err(|r| self.malformed(&instant.requested_time, &instant.path, r))
    }

    /// Rolled-back instant times of a completed rollback or restore.
    pub async fn rolled_back_instants(&self, instant: &Instant) -> Result<Vec<String>> {
        let bytes = self
            .read_instant_file(&instant.requested_time, &instant.path, Some(instant.size))
            .await?;
        let r = match instant.action {
            Action::Restore => RestoreMetadata::decode(&bytes).map(|m| m.rolled_back_instants()),
            _ => RollbackMetadata::decode(&bytes).map(|m| m.rolled_back_instants()),
        };
        r.map_err(|r| self.malformed(&instant.requested_time, &instant.path, r))
    }

    /// Whether a pending instant will add rows when it completes (the v6 hollow-commit guard
    /// blocks on those): commits, deltacommits and non-clustering replacecommits.
    pub async fn pending_adds_rows(&self, p: &PendingInstant) -> Result<bool> {
        match p.action {
            Action::Commit | Action::DeltaCommit => Ok(true),
            Action::ReplaceCommit => {
                let Some(path) = &p.requested_path else {
                    // no plan to look at: assume it writes rows (the safe side)
                    return Ok(true);
                };
                let bytes = self
                    .read_instant_file(&p.requested_time, path, None)
                    .await?;
                let m = RequestedReplaceMetadata::decode(&bytes)
                    .map_err(|r| self.malformed(&p.requested_time, path, r))?;
                Ok(!m.is_clustering())
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hps_storage::{LocalStore, ObjectStore};
    use std::sync::Arc;

    async fn table(
        files: &[(&str, &[u8])],
        props: &str,
    ) -> (tempfile::TempDir, DynStore, TableConfig) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        for (p, b) in files {
            store.put(p, Bytes::copy_from_slice(b)).await.unwrap();
        }
        let cfg = TableConfig::parse("t", props.as_bytes()).unwrap();
        (dir, Arc::new(store), cfg)
    }

    #[tokio::test]
    async fn layout2_completed_and_pending() {
        let (_d, store, cfg) = table(
            &[
                (".hoodie/timeline/20260101000000001.commit.requested", b""),
                (".hoodie/timeline/20260101000000001.inflight", b"{}"),
                (
                    ".hoodie/timeline/20260101000000001_20260101000000009.commit",
                    b"{}",
                ),
                (".hoodie/timeline/20260101000000002.commit.requested", b""),
                (
                    ".hoodie/timeline/20260101000000002_20260101000000003.commit",
                    b"{}",
                ),
                (
                    ".hoodie/timeline/20260101000000005.clustering.requested",
                    b"",
                ),
                (
                    ".hoodie/timeline/20260101000000005.clustering.inflight",
                    b"",
                ),
                (".hoodie/timeline/20260101000000004.commit.crc", b""),
                (".hoodie/timeline/history/.DS_Store", b""),
                (".hoodie/hoodie.properties", b"x"),
            ],
            "hoodie.table.version=9",
        )
        .await;
        let tl = TimelineLoader {
            store: &store,
            config: &cfg,
            table: "t",
        }
        .load()
        .await
        .unwrap();
        assert_eq!(tl.completed.len(), 2);
        assert_eq!(tl.completed[0].requested_time, "20260101000000001");
        assert_eq!(tl.completed[0].window_time(), "20260101000000009");
        let order: Vec<_> = tl
            .in_window_order()
            .iter()
            .map(|i| i.requested_time.clone())
            .collect();
        assert_eq!(order, vec!["20260101000000002", "20260101000000001"]);
        assert_eq!(tl.pending.len(), 1);
        assert_eq!(tl.pending[0].action, Action::Clustering);
        assert_eq!(tl.pending[0].state, InstantState::Inflight);
        assert!(
            !tl.archive_present,
            "macOS debris does not count as archived instants"
        );
        assert!(tl.completed_by_requested("20260101000000002").is_some());
        assert!(tl.completed_by_requested("20260101000000003").is_none());
    }

    #[tokio::test]
    async fn layout1_and_archive() {
        let (_d, store, cfg) = table(
            &[
                (".hoodie/20240101000000001.commit", b"{}"),
                (".hoodie/20240101000000002.inflight", b"{}"),
                (".hoodie/20240101000000002.commit.requested", b""),
                (".hoodie/20240101000000003.replacecommit.requested", b""),
                (".hoodie/archived/.commits_.archive.1_1-0-1", b"x"),
                (".hoodie/hoodie.properties", b"x"),
            ],
            "hoodie.table.version=6",
        )
        .await;
        let loader = TimelineLoader {
            store: &store,
            config: &cfg,
            table: "t",
        };
        let tl = loader.load().await.unwrap();
        assert_eq!(tl.completed.len(), 1);
        assert_eq!(tl.pending.len(), 2);
        assert_eq!(tl.pending[0].action, Action::Commit);
        assert!(loader.pending_adds_rows(&tl.pending[0]).await.unwrap());
        // empty requested replacecommit: no clustering plan, so it blocks
        assert!(loader.pending_adds_rows(&tl.pending[1]).await.unwrap());
        assert!(tl.archive_present, "v6 archive files are dot-files");
        assert_eq!(tl.oldest_requested_time(), Some("20240101000000001"));
        let bad = Instant {
            size: MAX_INSTANT_FILE_BYTES + 1,
            ..tl.completed[0].clone()
        };
        assert!(matches!(
            loader.commit_metadata(&bad).await,
            Err(HudiError::MalformedCommitMetadata { .. })
        ));
    }

    /// Versions <= 5: layout 0 (one file per instant, renamed from state to state, so only the
    /// completed file remains) next to layout-1 triples, 14-digit ids of Hudi <= 0.10 mixed
    /// with 17-digit ones after an upgrade, no completion times, and side folders and files
    /// (`.aux` compaction-plan copies, `.heartbeat`, `.crc`, EMRFS `*_$folder$` markers) that
    /// are not instants.
    #[tokio::test]
    async fn layout0_and_second_precision_instants() {
        let (_d, store, cfg) = table(
            &[
                (".hoodie/20211022144701.commit", b"{}"),
                (".hoodie/20211022144707.commit.requested", b""),
                (".hoodie/20211022144707.inflight", b"{}"),
                (".hoodie/20211022144707.commit", b"{}"),
                (".hoodie/20211123000000000.commit", b"{}"),
                (".hoodie/20211124000000000.deltacommit.inflight", b"{}"),
                (".hoodie/.20211022144701.commit.crc", b""),
                (".hoodie/.aux/20211124000000001.compaction.requested", b""),
                (".hoodie/.heartbeat/20211124000000000", b""),
                (".hoodie/.temp/20211124000000000/x.marker.CREATE", b""),
                (".hoodie/20211125000000000.commit_$folder$", b""),
                (".hoodie/.schema/20211022144701.schemacommit", b"{}"),
                (".hoodie/hoodie.properties", b"x"),
            ],
            "hoodie.table.version=3",
        )
        .await;
        assert_eq!(cfg.timeline_layout_version, 0);
        let tl = TimelineLoader {
            store: &store,
            config: &cfg,
            table: "t",
        }
        .load()
        .await
        .unwrap();
        let order: Vec<&str> = tl
            .in_window_order()
            .iter()
            .map(|i| i.window_time())
            .collect();
        assert_eq!(
            order,
            ["20211022144701", "20211022144707", "20211123000000000"]
        );
        assert!(tl.completed.iter().all(|i| i.completion_time.is_none()));
        assert!(!tl.uses_completion_time);
        assert_eq!(tl.pending.len(), 1);
        assert_eq!(tl.pending[0].action, Action::DeltaCommit);
        assert!(!tl.archive_present);
    }

    #[tokio::test]
    async fn archive_with_real_content_is_detected() {
        let (_d, store, cfg) = table(
            &[(".hoodie/archived/commits_.archive.1_1-0-1", b"x")],
            "hoodie.table.version=6",
        )
        .await;
        let tl = TimelineLoader {
            store: &store,
            config: &cfg,
            table: "t",
        }
        .load()
        .await
        .unwrap();
        assert!(tl.archive_present);
        assert!(tl.completed.is_empty());
    }
}
