//! The incremental planner: which instants a window `(after, until]` admits and which file
//! slice to read per touched file group (hudi-format.md sections 9.1, 9.2, 9.5, 9.6, 8.4).

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use hps_storage::DynStore;
use tracing::{Instrument, debug, info_span};

use crate::config::{BaseFileFormat, TableConfig};
use crate::error::{HudiError, Result};
use crate::files::{BaseFileName, LogFileName};
use crate::instant::{Action, CommitTimes, compare_instant_times, is_valid_instant_time};
use crate::metadata::CommitMetadata;
use crate::timeline::{Instant, InstantPosition, Timeline, TimelineLoader};

/// How many instant files the planner fetches concurrently.
const METADATA_CONCURRENCY: usize = 16;
/// How many partition listings the planner runs concurrently.
const LIST_CONCURRENCY: usize = 8;

/// One instant admitted by a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInstant {
    /// Requested time (the `_hoodie_commit_time` of rows it wrote).
    pub requested_time: String,
    /// Completion time (v8/v9).
    pub completion_time: Option<String>,
    /// `commit`, `deltacommit` or `replacecommit`.
    pub action: Action,
    /// The commit metadata's `operationType` (`UNKNOWN` when absent).
    pub operation_type: String,
    /// `false` for compaction, log compaction and clustering: they admit no rows of their own.
    pub adds_rows: bool,
}

impl PlannedInstant {
    /// This instant as a bookmark position.
    pub fn position(&self) -> InstantPosition {
        InstantPosition {
            requested_time: self.requested_time.clone(),
            completion_time: self.completion_time.clone(),
        }
    }
}

/// A base (parquet) file of a file slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseFile {
    /// Path relative to the table base path.
    pub path: String,
    /// Size in bytes (from the listing).
    pub size: u64,
    /// Requested time of the instant that wrote it (from its name).
    pub instant_time: String,
}

/// A log file of a (MOR) file slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Path relative to the table base path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The instant in its name (v6: slice base instant; v8/v9: the deltacommit).
    pub instant_time: String,
    /// The log version.
    pub version: u64,
}

/// The one file slice to read for a touched file group, as of the window end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSlice {
    /// Partition path (`""` for non-partitioned tables).
    pub partition_path: String,
    /// File group id.
    pub file_id: String,
    /// The base file (absent only for log-only MOR slices).
    pub base_file: Option<BaseFile>,
    /// Log files of the slice in order (MOR only), as of the window end.
    pub log_files: Vec<LogFile>,
    /// MOR only: log files written by admitted instants that are not part of this slice: they
    /// belong to an older slice of the group compacted within the window, or the whole group
    /// was replaced by the window end (then `base_file` is `None` and `log_files` empty). Their
    /// DELETE blocks are deletes of the window that the current slice no longer shows.
    pub window_log_files: Vec<LogFile>,
    /// The last admitted instant (requested time) that wrote this file group.
    pub last_written_by: String,
    /// Set only on the plan's last slice (file id [`crate::deletes::DELETES_SLICE_ID`], no
    /// files of its own): the deletes of the window a latest-state read cannot see (COW
    /// rewrites, overwritten groups), derived by [`crate::deletes`] when the slice is read.
    pub deletes: Option<std::sync::Arc<crate::deletes::DeletePlan>>,
}

impl FileSlice {
    /// The slice's base instant (requested time of the instant that wrote the base file).
    pub fn base_instant(&self) -> Option<&str> {
        self.base_file.as_ref().map(|b| b.instant_time.as_str())
    }
}

/// A file group made invisible by an admitted (non-clustering) replacecommit
/// (`INSERT_OVERWRITE`, `INSERT_OVERWRITE_TABLE`, `DELETE_PARTITION`): its rows are gone
/// from the table and a consumer should retract them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedFileGroup {
    /// Partition path.
    pub partition_path: String,
    /// File group id.
    pub file_id: String,
    /// Requested time of the replacecommit.
    pub replaced_by: String,
    /// Its operation type.
    pub operation_type: String,
    /// The group's last base file before the replacement, when still on storage (a caller
    /// can read the keys to retract from it).
    pub last_base_file: Option<BaseFile>,
}

/// The answer to "what changed after `after`, up to `until`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalPlan {
    /// Table URI (for messages).
    pub table: String,
    /// Table version (6, 8, 9).
    pub table_version: u32,
    /// The exclusive start as given (`None` = from the beginning).
    pub after: Option<String>,
    /// The inclusive end as given (`None` = latest).
    pub until: Option<String>,
    /// Admitted instants in admission order (completion order on v8/v9, instant order on v6).
    pub instants: Vec<PlannedInstant>,
    /// File slices to read, ordered by base instant, partition, file id.
    pub slices: Vec<FileSlice>,
    /// File groups replaced by admitted insert_overwrite / delete_partition instants.
    pub replaced: Vec<ReplacedFileGroup>,
    /// The bookmark to store after processing this plan: the last admitted instant. `None`
    /// when nothing was admitted (keep the old bookmark).
    pub end: Option<InstantPosition>,
    /// v6 only: the pending instant (requested time) that capped the window (hollow-commit
    /// guard). Completed instants at or after it are left for a later pass.
    pub capped_by_pending: Option<String>,
    /// MOR only: which instants' log blocks are part of the table as of the window end.
    pub log_visibility: LogVisibility,
    /// A snapshot plan ([`crate::HudiTable::plan_snapshot`]): the latest committed slice of
    /// every live file group, every row of it (not only rows of the admitted instants), no
    /// derived deletes. `instants` are the active instants the snapshot covers.
    pub snapshot: bool,
}

/// Which log blocks count as of a window's end (hudi-format.md 6.5): blocks written by a
/// completed write instant visible at the end, or by an archived (hence completed) one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogVisibility {
    /// Requested times of the completed `commit`/`deltacommit`/`replacecommit` instants
    /// visible at the window end (below the v6 hollow-commit cap).
    pub visible: BTreeSet<String>,
    /// The oldest requested time on the active timeline: older instants were archived, and
    /// only completed instants are archived.
    pub oldest_active: Option<String>,
}

impl LogVisibility {
    /// Whether blocks written by `instant` (requested time) count.
    pub fn is_visible(&self, instant: &str) -> bool {
        self.visible.contains(instant)
            || self
                .oldest_active
                .as_deref()
                .is_some_and(|o| compare_instant_times(instant, o).is_lt())
    }
}

impl IncrementalPlan {
    /// Requested times of the admitted instants: rows whose `_hoodie_commit_time` is in this
    /// set are the window's changes.
    pub fn commit_times(&self) -> BTreeSet<String> {
        self.instants
            .iter()
            .map(|i| i.requested_time.clone())
            .collect()
    }

    /// The rows a read of this plan returns: the admitted instants' rows, or every row of a
    /// snapshot.
    pub fn row_filter(&self) -> CommitTimes {
        if self.snapshot {
            CommitTimes::All
        } else {
            CommitTimes::only(self.commit_times())
        }
    }

    /// Whether the window admitted nothing.
    pub fn is_empty(&self) -> bool {
        self.instants.is_empty()
    }

    /// Whether any slice needs log files (MOR).
    pub fn has_log_files(&self) -> bool {
        self.slices.iter().any(|s| !s.log_files.is_empty())
    }
}

/// A bound is an instant time (14-17 digits) or an all-zero string meaning "the beginning".
pub(crate) fn check_bound(table: &str, name: &str, v: Option<&str>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b == b'0') => Ok(None),
        Some(s) if is_valid_instant_time(s) => Ok(Some(s.to_string())),
        Some(s) => Err(HudiError::InvalidWindow {
            table: table.to_string(),
            reason: format!(
                "{name}={s:?} is not an instant time (14 to 17 digits, yyyyMMddHHmmss[SSS])"
            ),
        }),
    }
}

pub(crate) const RESYNC_HINT_CLEANED: &str = "it was removed by the cleaner (or a rollback) before this consumer read it; \
     the incremental history is gone: resync the table (full snapshot), then continue incrementally \
     from the latest instant; to avoid this, sync more often than hoodie.cleaner.commits.retained commits";

pub(crate) struct Planner<'a> {
    pub store: &'a DynStore,
    pub config: &'a TableConfig,
    pub table: &'a str,
    pub timeline: &'a Timeline,
}

struct Touch {
    /// path of the last admitted write stat that named a base file, with its instant
    expected_base: Option<(String, String)>,
    last_written_by: String,
    /// MOR: log files written by admitted instants
    window_logs: BTreeSet<String>,
}

impl Planner<'_> {
    pub(crate) fn loader(&self) -> TimelineLoader<'_> {
        TimelineLoader {
            store: self.store,
            config: self.config,
            table: self.table,
        }
    }

    /// Refuse tables an incremental read cannot answer correctly.
    pub fn check_readable(config: &TableConfig, table: &str) -> Result<()> {
        if let BaseFileFormat::Other(f) = &config.base_file_format {
            return Err(HudiError::UnsupportedBaseFormat {
                table: table.to_string(),
                format: f.clone(),
            });
        }
        if !config.populate_meta_fields {
            return Err(HudiError::IncrementalUnsupported {
                table: table.to_string(),
                reason: "hoodie.populate.meta.fields=false: rows carry no _hoodie_commit_time, so the rows \
                         an instant changed cannot be told from rows it merely rewrote (every read of a touched \
                         file would return all its rows as changes). Apache Hudi refuses incremental queries on \
                         such tables too; re-create the table with meta fields or sync it by full snapshots"
                    .to_string(),
            });
        }
        if let Some(b) = &config.bootstrap_base_path {
            return Err(HudiError::NotYetSupported {
                table: table.to_string(),
                what: format!("bootstrap tables (hoodie.bootstrap.base.path={b})"),
            });
        }
        Ok(())
    }

    pub async fn plan(&self, after: Option<&str>, until: Option<&str>) -> Result<IncrementalPlan> {
        let span = info_span!("plan", table = self.table, after = ?after, until = ?until);
        async {
            let bound = check_bound(self.table, "after", after)?;
            match self.reach_into_archive(bound.as_deref()).await? {
                Some(extended) => {
                    let planner = Planner {
                        timeline: &extended,
                        ..*self
                    };
                    planner.plan_inner(after, until).await
                }
                None => self.plan_inner(after, until).await,
            }
        }
        .instrument(span)
        .await
    }

    /// Commit metadata of a completed instant: from the archive for archived instants merged
    /// into the timeline, else from its instant file.
    pub(crate) fn metadata_of<'b>(
        &'b self,
        i: &'b Instant,
    ) -> BoxFuture<'b, Result<CommitMetadata>> {
        if let Some(m) = self.timeline.archived_metadata.get(&i.requested_time) {
            let m = m.clone();
            return async move { Ok(m) }.boxed();
        }
        let loader = self.loader();
        async move { loader.commit_metadata(i).await }.boxed()
    }

    async fn plan_inner(
        &self,
        after_in: Option<&str>,
        until_in: Option<&str>,
    ) -> Result<IncrementalPlan> {
        let table = self.table;
        Self::check_readable(self.config, table)?;
        let after = check_bound(table, "after", after_in)?;
        let until = check_bound(table, "until", until_in)?;
        if let (Some(a), Some(u)) = (&after, &until)
            && compare_instant_times(u, a).is_lt()
        {
            return Err(HudiError::InvalidWindow {
                table: table.to_string(),
                reason: format!("until={u} is before after={a}"),
            });
        }
        let until = match (until_in, &until) {
            // an all-zero `until` is an empty window, not "latest"
            (Some(_), None) => Some("0".repeat(17)),
            _ => until,
        };
        let tl = self.timeline;
        let gt_after = |t: &str| {
            after
                .as_deref()
                .is_none_or(|a| compare_instant_times(t, a).is_gt())
        };
        let le_until = |t: &str| {
            until
                .as_deref()
                .is_none_or(|u| compare_instant_times(t, u).is_le())
        };

        self.check_archive(after.as_deref())?;
        self.check_rollbacks(after.as_deref()).await?;

        // v6 hollow-commit guard: nothing at or after the earliest pending writer is visible yet
        let cap = if tl.uses_completion_time {
            None
        } else {
            self.hollow_commit_cap().await?
        };
        let below_cap = |i: &Instant| {
            cap.as_deref()
                .is_none_or(|c| compare_instant_times(&i.requested_time, c).is_lt())
        };
        let visible = |i: &Instant| le_until(i.window_time()) && below_cap(i);

        let ordered = tl.in_window_order();
        let candidates: Vec<&Instant> = ordered
            .iter()
            .copied()
            .filter(|i| {
                i.action.is_write() && gt_after(i.window_time()) && le_until(i.window_time())
            })
            .collect();
        let admitted: Vec<&Instant> = candidates
            .iter()
            .copied()
            .filter(|i| below_cap(i))
            .collect();
        let capped_by_pending = if admitted.len() < candidates.len() {
            cap.clone()
        } else {
            None
        };

        // metadata of admitted instants plus every visible replacecommit (replaced groups),
        // and, on v6 MOR, the deltacommits after the window end (their log files are not part
        // of the slices as of the end; v6 log names do not say which deltacommit wrote them)
        let v6_mor = self.config.is_mor() && !tl.uses_completion_time;
        let mut wanted: Vec<&Instant> = admitted.clone();
        for i in &ordered {
            let replace = i.action == Action::ReplaceCommit && visible(i);
            let late_delta = v6_mor && i.action == Action::DeltaCommit && !visible(i);
            if (replace || late_delta) && !admitted.contains(i) {
                wanted.push(i);
            }
        }
        // futures are collected first (not built lazily inside the stream): keeps the
        // planner's future `Send` for callers on multi-threaded runtimes
        let loads: Vec<BoxFuture<'_, Result<CommitMetadata>>> =
            wanted.iter().map(|i| self.metadata_of(i)).collect();
        let metas: Vec<CommitMetadata> = futures::stream::iter(loads)
            .buffered(METADATA_CONCURRENCY)
            .try_collect()
            .await?;
        let meta_of: BTreeMap<&str, &CommitMetadata> = wanted
            .iter()
            .map(|i| i.requested_time.as_str())
            .zip(metas.iter())
            .collect();

        if self.config.table_type == crate::config::TableType::MergeOnRead {
            for i in &admitted {
                if meta_of
                    .get(i.requested_time.as_str())
                    .is_some_and(|m| m.is_log_compaction())
                {
                    return Err(HudiError::NotYetSupported {
                        table: table.to_string(),
                        what: format!("log compaction instant {} in the window", i.requested_time),
                    });
                }
            }
        }

        // v6 MOR: log files written after the window end, by path
        let mut late_logs: BTreeSet<String> = BTreeSet::new();
        if v6_mor {
            for i in ordered
                .iter()
                .filter(|i| i.action == Action::DeltaCommit && !visible(i))
            {
                if let Some(m) = meta_of.get(i.requested_time.as_str()) {
                    for (_, stat) in m.write_stats() {
                        if let Some(p) = stat
                            .path
                            .as_deref()
                            .filter(|p| LogFileName::parse(p).is_some())
                        {
                            late_logs.insert(p.trim_start_matches('/').to_string());
                        }
                    }
                }
            }
        }

        // file groups replaced as of the window end
        let mut replaced_all: BTreeSet<(String, String)> = BTreeSet::new();
        for i in ordered
            .iter()
            .filter(|i| i.action == Action::ReplaceCommit && visible(i))
        {
            if let Some(m) = meta_of.get(i.requested_time.as_str()) {
                for (p, f) in m.replaced_file_groups() {
                    replaced_all.insert((p.to_string(), f.to_string()));
                }
            }
        }

        let mut instants = Vec::with_capacity(admitted.len());
        let mut touched: BTreeMap<(String, String), Touch> = BTreeMap::new();
        let mut replaced_report: Vec<(String, String, String, String)> = Vec::new();
        for i in &admitted {
            let Some(m) = meta_of.get(i.requested_time.as_str()) else {
                continue;
            };
            instants.push(PlannedInstant {
                requested_time: i.requested_time.clone(),
                completion_time: i.completion_time.clone(),
                action: i.action.clone(),
                operation_type: m.operation().to_string(),
                adds_rows: m.adds_rows(),
            });
            for (partition, stat) in m.write_stats() {
                let Some(file_id) = stat.file_id.as_deref().filter(|f| !f.is_empty()) else {
                    continue;
                };
                let key = (partition.to_string(), file_id.to_string());
                let t = touched.entry(key).or_insert_with(|| Touch {
                    expected_base: None,
                    last_written_by: i.requested_time.clone(),
                    window_logs: BTreeSet::new(),
                });
                t.last_written_by = i.requested_time.clone();
                if self.config.is_mor()
                    && let Some(path) = stat.path.as_deref()
                    && LogFileName::parse(path).is_some_and(|l| !l.is_cdc)
                {
                    t.window_logs
                        .insert(path.trim_start_matches('/').to_string());
                }
                if let Some(path) = stat.path.as_deref()
                    && let Some(b) = BaseFileName::parse(path)
                {
                    t.expected_base =
                        Some((path.trim_start_matches('/').to_string(), b.instant_time));
                }
            }
            if i.action == Action::ReplaceCommit && !m.is_clustering() {
                for (p, f) in m.replaced_file_groups() {
                    replaced_report.push((
                        p.to_string(),
                        f.to_string(),
                        i.requested_time.clone(),
                        m.operation().to_string(),
                    ));
                }
            }
        }
        // MOR groups replaced by the window end keep the deletes their log files recorded in
        // the window (tombstone-only slices)
        let mut tombstones: BTreeMap<(String, String), Touch> = BTreeMap::new();
        for k in replaced_all.iter() {
            if let Some(t) = touched.remove(k)
                && !t.window_logs.is_empty()
            {
                tombstones.insert(k.clone(), t);
            }
        }

        // list each partition that matters once
        let mut partitions: BTreeSet<String> = touched.keys().map(|(p, _)| p.clone()).collect();
        partitions.extend(tombstones.keys().map(|(p, _)| p.clone()));
        partitions.extend(replaced_report.iter().map(|r| r.0.clone()));
        // deletes: groups rewritten, then clustered in the window
        let admitted_meta: Vec<(&Instant, &CommitMetadata)> = admitted
            .iter()
            .filter_map(|i| Some((*i, *meta_of.get(i.requested_time.as_str())?)))
            .collect();
        if after.is_some() {
            partitions.extend(crate::deletes::replaced_partitions(&admitted_meta));
        }
        let lists: Vec<BoxFuture<'_, Result<(String, PartitionFiles)>>> = partitions
            .into_iter()
            .map(|p| {
                async move {
                    let files = self.list_partition(&p).await?;
                    Ok::<_, HudiError>((p, files))
                }
                .boxed()
            })
            .collect();
        let listings: Vec<(String, PartitionFiles)> = futures::stream::iter(lists)
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let listings: BTreeMap<String, PartitionFiles> = listings.into_iter().collect();

        let oldest_active = tl.oldest_requested_time().map(str::to_string);
        // base instant visibility as of the window end: completed and visible, or archived
        let base_visible = |b: &str| match tl.completed_by_requested(b) {
            Some(i) => visible(i),
            None => oldest_active
                .as_deref()
                .is_some_and(|o| compare_instant_times(b, o).is_lt()),
        };

        let mut slices = Vec::with_capacity(touched.len());
        for ((partition, file_id), touch) in &touched {
            let files = listings.get(partition).cloned().unwrap_or_default();
            let group_bases: Vec<&BaseFile> = files
                .bases
                .get(file_id)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            if let Some((path, instant)) = &touch.expected_base
                && !group_bases.iter().any(|b| &b.path == path)
            {
                return Err(HudiError::HistoryNotRetained {
                    table: table.to_string(),
                    file: path.clone(),
                    instant: instant.clone(),
                    hint: RESYNC_HINT_CLEANED.to_string(),
                });
            }
            let chosen = group_bases
                .iter()
                .filter(|b| base_visible(&b.instant_time))
                .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
                .map(|b| (*b).clone());
            if let Some(b) = &chosen
                && let Some(ext) = b.path.rsplit('.').next()
                && ext != "parquet"
            {
                return Err(HudiError::UnsupportedBaseFormat {
                    table: table.to_string(),
                    format: ext.to_ascii_uppercase(),
                });
            }
            let log_files = if self.config.is_mor() {
                let asof = AsOf {
                    base_visible: &base_visible,
                    visible: &visible,
                    late_logs: &late_logs,
                };
                self.slice_logs(&files, file_id, chosen.as_ref(), &group_bases, &asof)
            } else {
                Vec::new()
            };
            let window_log_files = window_log_files(table, &files, file_id, touch, &log_files)?;
            if chosen.is_none() && log_files.is_empty() {
                return Err(HudiError::HistoryNotRetained {
                    table: table.to_string(),
                    file: format!("file group {file_id} in partition {partition:?}"),
                    instant: touch.last_written_by.clone(),
                    hint: RESYNC_HINT_CLEANED.to_string(),
                });
            }
            slices.push(FileSlice {
                partition_path: partition.clone(),
                file_id: file_id.clone(),
                base_file: chosen,
                log_files,
                window_log_files,
                last_written_by: touch.last_written_by.clone(),
                deletes: None,
            });
        }
        for ((partition, file_id), touch) in &tombstones {
            let files = listings.get(partition).cloned().unwrap_or_default();
            slices.push(FileSlice {
                partition_path: partition.clone(),
                file_id: file_id.clone(),
                base_file: None,
                log_files: Vec::new(),
                window_log_files: window_log_files(table, &files, file_id, touch, &[])?,
                last_written_by: touch.last_written_by.clone(),
                deletes: None,
            });
        }
        slices.sort_by(|a, b| {
            compare_instant_times(
                a.base_instant().unwrap_or(""),
                b.base_instant().unwrap_or(""),
            )
            .then_with(|| a.partition_path.cmp(&b.partition_path))
            .then_with(|| a.file_id.cmp(&b.file_id))
        });
        // the window's derived deletes, read last
        let group_files = |p: &str, f: &str| {
            let files = listings.get(p);
            (
                files
                    .and_then(|l| l.bases.get(f))
                    .cloned()
                    .unwrap_or_default(),
                files
                    .and_then(|l| l.logs.get(f))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        if let Some(d) = crate::deletes::plan_deletes(&crate::deletes::DeleteInputs {
            table,
            config: self.config,
            timeline: tl,
            after: after.as_deref(),
            admitted: admitted_meta.clone(),
            group_files: &group_files,
            visible_at_end: &visible,
            slices: &slices,
        })? {
            slices.push(FileSlice {
                partition_path: String::new(),
                file_id: crate::deletes::DELETES_SLICE_ID.to_string(),
                base_file: None,
                log_files: Vec::new(),
                window_log_files: Vec::new(),
                last_written_by: admitted
                    .last()
                    .map(|i| i.requested_time.clone())
                    .unwrap_or_default(),
                deletes: Some(std::sync::Arc::new(d)),
            });
        }

        let replaced = replaced_report
            .into_iter()
            .map(|(partition_path, file_id, replaced_by, operation_type)| {
                let last_base_file = listings.get(&partition_path).and_then(|files| {
                    files
                        .bases
                        .get(&file_id)?
                        .iter()
                        .filter(|b| {
                            base_visible(&b.instant_time)
                                && compare_instant_times(&b.instant_time, &replaced_by).is_lt()
                        })
                        .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
                        .cloned()
                });
                ReplacedFileGroup {
                    partition_path,
                    file_id,
                    replaced_by,
                    operation_type,
                    last_base_file,
                }
            })
            .collect();

        let end = admitted.last().map(|i| i.position());
        let log_visibility = if self.config.is_mor() {
            LogVisibility {
                visible: ordered
                    .iter()
                    .filter(|i| i.action.is_write() && visible(i))
                    .map(|i| i.requested_time.clone())
                    .collect(),
                oldest_active: oldest_active.clone(),
            }
        } else {
            LogVisibility::default()
        };
        debug!(
            table,
            admitted = instants.len(),
            slices = slices.len(),
            "planned"
        );
        Ok(IncrementalPlan {
            table: table.to_string(),
            table_version: self.config.table_version,
            after,
            until: until_in.map(str::to_string),
            instants,
            slices,
            replaced,
            end,
            capped_by_pending,
            log_visibility,
            snapshot: false,
        })
    }

    /// 9.6: a bookmark older than the active timeline, with an archive present, may have
    /// missed archived instants.
    fn check_archive(&self, after: Option<&str>) -> Result<()> {
        let tl = self.timeline;
        if !tl.archive_present {
            return Ok(());
        }
        // archived instants after this bound are merged into the timeline
        if let (Some(bound), Some(a)) = (tl.archived_after.as_deref(), after)
            && compare_instant_times(a, bound).is_ge()
        {
            return Ok(());
        }
        let oldest = tl
            .in_window_order()
            .into_iter()
            .find(|i| i.action.is_write())
            .cloned();
        let Some(oldest) = oldest else { return Ok(()) };
        let missed = after.is_none_or(|a| compare_instant_times(a, oldest.window_time()).is_lt());
        if missed {
            return Err(HudiError::HistoryNotRetained {
                table: self.table.to_string(),
                file: self.config.archive_dir.clone(),
                instant: oldest.requested_time.clone(),
                hint: format!(
                    "instants before {} were archived and the bookmark {} is older than the active timeline, \
                     so changes may have been archived unseen: resync the table (full snapshot)",
                    oldest.window_time(),
                    after.unwrap_or("(beginning)")
                ),
            });
        }
        Ok(())
    }

    /// 8.4: a rollback or restore completed after the bookmark that removed an instant at or
    /// before it means rows already applied may be gone.
    async fn check_rollbacks(&self, after: Option<&str>) -> Result<()> {
        let Some(after) = after else { return Ok(()) };
        let loader = self.loader();
        for i in &self.timeline.completed {
            if !matches!(i.action, Action::Rollback | Action::Restore)
                || compare_instant_times(i.window_time(), after).is_le()
            {
                continue;
            }
            let rolled: Vec<String> = loader
                .rolled_back_instants(i)
                .await?
                .into_iter()
                .filter(|t| compare_instant_times(t, after).is_le())
                .collect();
            if !rolled.is_empty() {
                return Err(HudiError::RewrittenHistory {
                    table: self.table.to_string(),
                    action: i.action.to_string(),
                    by_instant: i.requested_time.clone(),
                    rolled_back: rolled,
                    bookmark: after.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The earliest pending instant that will add rows (commit, deltacommit, non-clustering
    /// replacecommit), if any.
    pub(crate) async fn hollow_commit_cap(&self) -> Result<Option<String>> {
        let loader = self.loader();
        for p in &self.timeline.pending {
            if loader.pending_adds_rows(p).await? {
                return Ok(Some(p.requested_time.clone()));
            }
        }
        Ok(None)
    }

    async fn list_partition(&self, partition: &str) -> Result<PartitionFiles> {
        let listing = self
            .store
            .list(partition)
            .await
            .map_err(|e| HudiError::storage(self.table, e))?;
        Ok(PartitionFiles::from_objects(listing.objects))
    }

    /// Log files belonging to the chosen slice of a file group as of the window end.
    pub(crate) fn slice_logs(
        &self,
        files: &PartitionFiles,
        file_id: &str,
        chosen: Option<&BaseFile>,
        group_bases: &[&BaseFile],
        asof: &AsOf<'_>,
    ) -> Vec<LogFile> {
        let (base_visible, visible, late_logs) = (asof.base_visible, asof.visible, asof.late_logs);
        let Some(logs) = files.logs.get(file_id) else {
            return Vec::new();
        };
        let base_instant = chosen.map(|b| b.instant_time.as_str());
        // v6: versions grow with time within a slice, so a log version at or above the first
        // one written after the window end was written after it too
        let first_late_version = |instant: &str| {
            logs.iter()
                .filter(|l| l.instant_time == instant && late_logs.contains(&l.path))
                .map(|l| l.version)
                .min()
        };
        let oldest_active = self.timeline.oldest_requested_time();
        let mut out: Vec<LogFile> = logs
            .iter()
            .filter(|l| {
                if self.timeline.uses_completion_time {
                    // v8/v9: the log's instant is its deltacommit; it belongs to the slice whose
                    // base instant is the greatest visible one <= the deltacommit's completion
                    let completed_at = match self.timeline.completed_by_requested(&l.instant_time) {
                        Some(dc) if visible(dc) => dc.window_time().to_string(),
                        Some(_) => return false,
                        // archived (older than the active timeline): completed long ago
                        None if oldest_active
                            .is_some_and(|o| compare_instant_times(&l.instant_time, o).is_lt()) =>
                        {
                            l.instant_time.clone()
                        }
                        // a pending or failed writer's file
                        None => return false,
                    };
                    let owner = group_bases
                        .iter()
                        .filter(|b| base_visible(&b.instant_time))
                        .filter(|b| compare_instant_times(&b.instant_time, &completed_at).is_le())
                        .map(|b| b.instant_time.as_str())
                        .max_by(|a, b| compare_instant_times(a, b));
                    owner == base_instant
                } else {
                    // v6: the log's instant is the slice's base instant (or of a pending
                    // compaction newer than it, whose logs still merge onto this slice)
                    if late_logs.contains(&l.path)
                        || first_late_version(&l.instant_time).is_some_and(|v| l.version >= v)
                    {
                        return false;
                    }
                    match base_instant {
                        Some(b) => {
                            l.instant_time == b
                                || (compare_instant_times(&l.instant_time, b).is_gt()
                                    && !base_visible(&l.instant_time))
                        }
                        // a log-only slice: every log of the group
                        None => true,
                    }
                }
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            compare_instant_times(&a.instant_time, &b.instant_time)
                .then(a.version.cmp(&b.version))
                .then_with(|| a.path.cmp(&b.path))
        });
        out
    }
}

/// The log files of `touch.window_logs` that are not in `current` (the slice's own logs), from
/// the partition listing; a missing one was cleaned, and the window's deletes with it.
fn window_log_files(
    table: &str,
    files: &PartitionFiles,
    file_id: &str,
    touch: &Touch,
    current: &[LogFile],
) -> Result<Vec<LogFile>> {
    let mut out = Vec::new();
    for path in &touch.window_logs {
        if current.iter().any(|l| &l.path == path) {
            continue;
        }
        match files
            .logs
            .get(file_id)
            .and_then(|logs| logs.iter().find(|l| &l.path == path))
        {
            Some(l) => out.push(l.clone()),
            None => {
                return Err(HudiError::HistoryNotRetained {
                    table: table.to_string(),
                    file: path.clone(),
                    instant: touch.last_written_by.clone(),
                    hint: RESYNC_HINT_CLEANED.to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        compare_instant_times(&a.instant_time, &b.instant_time)
            .then(a.version.cmp(&b.version))
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(out)
}

/// What is visible as of the window end (for assigning log files to slices).
pub(crate) struct AsOf<'a> {
    pub base_visible: &'a dyn Fn(&str) -> bool,
    pub visible: &'a dyn Fn(&Instant) -> bool,
    pub late_logs: &'a BTreeSet<String>,
}

/// The base and log files of one partition, by file id.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionFiles {
    pub bases: BTreeMap<String, Vec<BaseFile>>,
    pub logs: BTreeMap<String, Vec<LogFile>>,
}

impl PartitionFiles {
    /// Sort a directory listing into base and (non-CDC) log files; other files are ignored.
    pub(crate) fn from_objects(objects: Vec<hps_storage::ObjectMeta>) -> PartitionFiles {
        let mut out = PartitionFiles::default();
        for obj in objects {
            let name = obj.file_name().to_string();
            if let Some(b) = BaseFileName::parse(&name) {
                out.bases
                    .entry(b.file_id.clone())
                    .or_default()
                    .push(BaseFile {
                        path: obj.path.clone(),
                        size: obj.size,
                        instant_time: b.instant_time,
                    });
            } else if let Some(l) = LogFileName::parse(&name) {
                if l.is_cdc {
                    continue;
                }
                out.logs
                    .entry(l.file_id.clone())
                    .or_default()
                    .push(LogFile {
                        path: obj.path.clone(),
                        size: obj.size,
                        instant_time: l.instant_time,
                        version: l.version,
                    });
            }
        }
        out
    }

    /// The file ids with a base or a log file.
    pub(crate) fn file_ids(&self) -> BTreeSet<&str> {
        self.bases
            .keys()
            .chain(self.logs.keys())
            .map(String::as_str)
            .collect()
    }
}
