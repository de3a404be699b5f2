//! The derived-deletes part of a plan ([`crate::FileSlice::deletes`]): which file groups the
//! deletes slice follows through the window and which end slices cancel its candidates; built
//! by [`crate::deletes`] when the window is planned, read by it when the slice is read.

use std::collections::BTreeSet;

use super::{BaseFile, LogFile};
use crate::instant::compare_instant_times;

/// The files holding one file slice's keys: a base file and/or log files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySource {
    /// The base file.
    pub base_file: Option<BaseFile>,
    /// Log files (merge-on-read), in Hudi's order.
    pub log_files: Vec<LogFile>,
}

impl KeySource {
    pub(crate) fn base(b: BaseFile) -> KeySource {
        KeySource {
            base_file: Some(b),
            log_files: Vec::new(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match (&self.base_file, self.log_files.first()) {
            (Some(b), _) => b.path.clone(),
            (None, Some(l)) => l.path.clone(),
            (None, None) => "(no files)".to_string(),
        }
    }
}

/// One version of a followed file group written in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteStep {
    /// Requested time of the instant that wrote the version.
    pub instant: String,
    /// Path of the version (from the write stat).
    pub path: String,
    /// The file, when still on storage (`None`: cleaned).
    pub file: Option<BaseFile>,
    /// Whether the write may have removed keys (its `numDeletes` is not `0`).
    pub may_delete: bool,
    /// Whether the write may have added keys (its `numInserts` is not `0`).
    pub adds_keys: bool,
}

/// What a followed group's first file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartKind {
    /// The group as of the window start: every key existed then.
    WindowStart,
    /// A clustering output created in the window: keys whose commit time is outside the window
    /// existed at its start; the others were written in the window.
    ClusteringOutput,
    /// An overwrite output created in the window: every row was written in the window.
    OverwriteOutput,
}

/// How a followed group's window ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEnd {
    /// It is still live at the window end.
    Survives,
    /// An `INSERT_OVERWRITE*` / `DELETE_PARTITION` replacecommit (requested time) replaced it:
    /// its keys alive then are deleted by it.
    Retracted {
        /// The replacecommit.
        by: String,
    },
    /// A clustering (requested time) moved its keys into new groups; `followed`: one of those
    /// is followed later in the window, so keys alive at the clustering wait for its walk.
    Clustered {
        /// The clustering replacecommit.
        by: String,
        /// Whether an output group is followed.
        followed: bool,
    },
}

/// A file group whose keys are followed through the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteUnit {
    /// Partition path.
    pub partition_path: String,
    /// File group id.
    pub file_id: String,
    /// The group's first files.
    pub start: KeySource,
    /// What they hold.
    pub start_kind: StartKind,
    /// Versions written in the window after `start`, in window order.
    pub steps: Vec<DeleteStep>,
    /// How the group's window ends.
    pub end: GroupEnd,
}

/// Instants whose log blocks count (merge-on-read key sources), as of the window end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyVisibility {
    /// Requested times of visible completed write instants.
    pub visible: BTreeSet<String>,
    /// Instants older than this were archived (hence completed).
    pub oldest_active: Option<String>,
}

impl KeyVisibility {
    pub(crate) fn is_visible(&self, instant: &str) -> bool {
        self.visible.contains(instant)
            || self
                .oldest_active
                .as_deref()
                .is_some_and(|o| compare_instant_times(instant, o).is_lt())
    }
}

/// The window's derived deletes: what the deletes slice reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan {
    /// Followed file groups, in window order of their first event.
    pub units: Vec<DeleteUnit>,
    /// End slices whose keys cancel candidate deletes.
    pub receivers: Vec<KeySource>,
    /// The file whose schema the delete rows take (the newest base file of the window).
    pub schema_file: BaseFile,
    /// Requested times of the window's admitted instants.
    pub admitted: BTreeSet<String>,
    /// Log visibility for merge-on-read key sources.
    pub visibility: KeyVisibility,
}

impl DeletePlan {
    /// Every file the deletes slice may read.
    pub fn files(&self) -> Vec<&str> {
        fn add<'a>(out: &mut Vec<&'a str>, k: &'a KeySource) {
            out.extend(k.base_file.iter().map(|b| b.path.as_str()));
            out.extend(k.log_files.iter().map(|l| l.path.as_str()));
        }
        let mut out = Vec::new();
        for u in &self.units {
            add(&mut out, &u.start);
            out.extend(
                u.steps
                    .iter()
                    .filter_map(|s| s.file.as_ref().map(|f| f.path.as_str())),
            );
        }
        for r in &self.receivers {
            add(&mut out, r);
        }
        out
    }
}
