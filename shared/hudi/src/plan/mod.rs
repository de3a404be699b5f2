//! The plan's types: what a window (or a snapshot) reads, shared by the planner that builds
//! it and the readers (`reader`, `mor`, `deletes`) that follow it.

pub mod deletes;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::instant::{Action, CommitTimes, compare_instant_times};
use crate::timeline::InstantPosition;

pub use deletes::DeletePlan;

/// A file group: its partition path and file id. Orders by partition, then file id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileGroupId {
    /// Partition path (`""` for non-partitioned tables).
    pub partition: String,
    /// File group id.
    pub file_id: String,
}

impl FileGroupId {
    /// The group `file_id` of `partition`.
    pub fn new(partition: &str, file_id: &str) -> FileGroupId {
        FileGroupId {
            partition: partition.to_string(),
            file_id: file_id.to_string(),
        }
    }
}

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
    pub deletes: Option<Arc<DeletePlan>>,
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

/// Which log blocks count as of a window's end (docs/hudi-format.md §4): blocks written by a
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
