//! The archived timeline: completed instants that archival moved off the active timeline.
//!
//! Two on-storage layouts exist, chosen by `hoodie.timeline.layout.version` (never by which
//! folder happens to exist):
//!
//! - **Layout 1** (table version 6): Hudi log files `.commits_.archive.<N>_<token>` under
//!   `.hoodie/<hoodie.archivelog.folder>`. Each AVRO_DATA block carries the writer schema in its
//!   `SCHEMA` header and holds `HoodieArchivedMetaEntry` records, one per *state file* of an
//!   instant (requested, inflight, completed). See [`layout1`].
//! - **Layout 2** (table versions 8 and 9): an LSM history under
//!   `.hoodie/timeline/history`: `_version_` names the current `manifest_<N>`, which lists the
//!   parquet files holding one row per completed instant. See [`layout2`].
//!
//! Both are read into the same [`ArchivedTimeline`]: completed instants only, one per
//! requested time and action, sorted by requested time. Reading is bounded: one archive
//! block (layout 1) or one parquet row group (layout 2) is in memory at a time, and every
//! length read from a file is checked before anything is allocated. Damage is reported as
//! [`HudiError::MalformedArchive`] naming the file, never skipped: a skipped block would be
//! silently lost history.
//!
//! The archive can overlap the active timeline (archival writes the archive before it
//! deletes the active files). List the active timeline first, then read the archive, and
//! prefer the active copy ([`ArchivedTimeline::retain_not_active`]).

mod datum;
pub mod layout1;
pub mod layout2;

use std::collections::BTreeMap;

use hps_storage::{DynStore, ObjectMeta};
use tracing::{Instrument, debug, info_span};

use crate::config::TableConfig;
use crate::error::{HudiError, Result};
use crate::instant::{Action, compare_instant_times, instant_sort_key};
use crate::metadata::CommitMetadata;
use crate::timeline::Timeline;

/// One completed instant read from the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedInstant {
    /// Requested (instant) time: the `_hoodie_commit_time` of rows the instant wrote.
    pub requested_time: String,
    /// Completion time: the `completionTime` column on layout 2; on layout 1 the
    /// `stateTransitionTime` of the completed entry (when the archive recorded it).
    pub completion_time: Option<String>,
    /// The completed action: a compaction completes as `commit`, a clustering as
    /// `replacecommit`, a log compaction as `deltacommit`.
    pub action: Action,
    /// Commit metadata of `commit`, `deltacommit` and `replacecommit` instants (`None` for
    /// other actions, and when the completed instant file was empty). Layout 1 archives keep
    /// only the write-stat fields of the Hudi 0.14 model (`path`, `fileId`, `prevCommit`,
    /// counts), not `baseFile` / `logFiles`.
    pub metadata: Option<CommitMetadata>,
    /// For `rollback` instants: the requested times of the instants it rolled back
    /// (`commitsRollback` and `instantsRollback`, deduplicated and sorted). Empty otherwise.
    pub rolled_back: Vec<String>,
    /// The archive file the instant was read from (relative to the base path).
    pub file: String,
}

impl ArchivedInstant {
    /// Whether the instant could have written data files (`commit`, `deltacommit`,
    /// `replacecommit`).
    pub fn is_write(&self) -> bool {
        self.action.is_write()
    }
}

/// The completed instants of a table's archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivedTimeline {
    /// Completed instants, sorted by requested time, one per requested time and action.
    pub instants: Vec<ArchivedInstant>,
    /// Identifies the archive's state; unchanged means nothing new was archived. Layout 1:
    /// `v1:<newest archive version>:<its size>`; layout 2: `v2:<manifest version>`. `None`
    /// when the archive is empty or absent.
    pub watermark: Option<String>,
}

impl ArchivedTimeline {
    /// The archived instant with this requested time.
    pub fn by_requested(&self, t: &str) -> Option<&ArchivedInstant> {
        self.instants
            .binary_search_by(|i| compare_instant_times(&i.requested_time, t))
            .ok()
            .and_then(|idx| self.instants.get(idx))
    }

    /// Archived instants that may have written data files.
    pub fn writes(&self) -> impl Iterator<Item = &ArchivedInstant> {
        self.instants.iter().filter(|i| i.is_write())
    }

    /// Every instant rolled back by an archived rollback (deduplicated, sorted).
    pub fn rolled_back_instants(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .instants
            .iter()
            .flat_map(|i| i.rolled_back.iter().cloned())
            .collect();
        v.sort_by(|a, b| compare_instant_times(a, b));
        v.dedup();
        v
    }

    /// Drop instants that are also completed on `active` (an archival run that has not yet
    /// deleted the active files): the active copy wins.
    pub fn retain_not_active(&mut self, active: &Timeline) {
        self.instants
            .retain(|i| active.completed_by_requested(&i.requested_time).is_none());
    }
}

/// Read the archived timeline of the table whose store root is the base path.
///
/// `after` (exclusive) skips work and history: only instants whose window time is after it
/// are returned, where the window time is the completion time on tables that window by
/// completion time (version 8 and later) and the requested time otherwise, as for
/// [`crate::HudiTable::plan`]. `None` reads everything. `table` names the table in errors.
pub async fn load_archived(
    store: &DynStore,
    config: &TableConfig,
    table: &str,
    after: Option<&str>,
) -> Result<ArchivedTimeline> {
    let span = info_span!("load_archived", table, dir = %config.archive_dir, after);
    async {
        let ctx = ArchiveCtx {
            store,
            table,
            dir: &config.archive_dir,
            after,
            by_completion: config.uses_completion_time(),
        };
        let loaded = if config.timeline_layout_version >= 2 {
            layout2::load(&ctx).await?
        } else {
            layout1::load(&ctx).await?
        };
        let timeline = ctx.finish(loaded);
        debug!(instants = timeline.instants.len(), watermark = ?timeline.watermark, "archive loaded");
        Ok(timeline)
    }
    .instrument(span)
    .await
}

/// What both layout readers share: where to read, for which table, from which time on.
pub(crate) struct ArchiveCtx<'a> {
    pub store: &'a DynStore,
    pub table: &'a str,
    /// The archive folder relative to the base path.
    pub dir: &'a str,
    pub after: Option<&'a str>,
    /// Whether `after` compares completion times (else requested times).
    pub by_completion: bool,
}

impl ArchiveCtx<'_> {
    pub(crate) fn malformed(&self, file: &str, reason: impl Into<String>) -> HudiError {
        HudiError::MalformedArchive {
            table: self.table.to_string(),
            file: file.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn storage(&self, e: hps_storage::StorageError) -> HudiError {
        HudiError::storage(self.table, e)
    }

    /// List the archive folder; an absent folder is an empty listing.
    pub(crate) async fn list(&self) -> Result<Vec<ObjectMeta>> {
        match self.store.list(self.dir).await {
            Ok(l) => Ok(l.objects),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(self.storage(e)),
        }
    }

    /// Whether `time` is after the `after` bound (always true without a bound).
    pub(crate) fn is_after(&self, time: &str) -> bool {
        self.after
            .is_none_or(|a| compare_instant_times(time, a).is_gt())
    }

    /// The time `after` compares for an instant.
    pub(crate) fn window_time<'i>(
        &self,
        requested: &'i str,
        completion: Option<&'i str>,
    ) -> &'i str {
        match (self.by_completion, completion) {
            (true, Some(c)) => c,
            _ => requested,
        }
    }

    /// Keep instants after the bound, one per (requested time, action), sorted.
    fn finish(&self, loaded: Loaded) -> ArchivedTimeline {
        let mut unique: BTreeMap<(String, String), ArchivedInstant> = BTreeMap::new();
        for i in loaded.instants {
            if !self.is_after(self.window_time(&i.requested_time, i.completion_time.as_deref())) {
                continue;
            }
            let key = (
                instant_sort_key(&i.requested_time),
                i.action.as_str().to_string(),
            );
            unique.entry(key).or_insert(i);
        }
        ArchivedTimeline {
            instants: unique.into_values().collect(),
            watermark: loaded.watermark,
        }
    }
}

/// What a layout reader hands back before filtering and deduplication.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub instants: Vec<ArchivedInstant>,
    pub watermark: Option<String>,
}

/// The action an instant completes as (compaction completes as `commit`, clustering as
/// `replacecommit`, log compaction as `deltacommit`).
pub(crate) fn completed_action(a: Action) -> Action {
    match a {
        Action::Compaction => Action::Commit,
        Action::Clustering => Action::ReplaceCommit,
        Action::LogCompaction => Action::DeltaCommit,
        other => other,
    }
}

/// Rolled-back instant times of a rollback's metadata (JSON form).
pub(crate) fn rolled_back_from_json(
    v: serde_json::Value,
) -> std::result::Result<Vec<String>, String> {
    if !v.is_object() {
        return Err("rollback metadata is not a record".to_string());
    }
    let m: crate::metadata::RollbackMetadata = serde_json::from_value(v)
        .map_err(|e| format!("unexpected rollback metadata shape: {e}"))?;
    Ok(m.rolled_back_instants())
}

#[cfg(test)]
mod tests;
