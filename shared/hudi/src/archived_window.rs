//! Windows that reach back into the archived timeline.
//!
//! A bookmark older than the active timeline does not by itself mean that changes were lost:
//! archival moves instants off the active timeline long before the cleaner removes the last
//! version of the files they wrote. When the table has an archive and the window starts before
//! the active timeline, the archived write instants after the bookmark are merged into the
//! timeline the planner works on, with their commit metadata from the archive. The planner then
//! treats them like active instants: it checks that every file they wrote that the window needs
//! still exists (a cleaned one is `HistoryNotRetained`, and the table is resynced from its
//! snapshot), and reads only the rows they wrote.
//!
//! Archived rollbacks are checked too: one that removed an instant at or before the bookmark
//! rewrote history already applied (`RewrittenHistory`).

use tracing::info;

use crate::archive::{ArchivedInstant, ArchivedTimeline, load_archived};
use crate::error::{HudiError, Result};
use crate::instant::{Action, compare_instant_times};
use crate::planner::Planner;
use crate::timeline::{Instant, Timeline};

/// At most this many archived write instants are replayed by one window. A bookmark further
/// behind than that is treated as lost history: the snapshot is the cheaper way back.
pub const MAX_ARCHIVED_WRITES: usize = 2000;

impl Planner<'_> {
    /// The active timeline extended with the archived write instants after `after`, when
    /// `after` is older than the active timeline and the table has an archive; `None` when
    /// the active timeline alone answers the window.
    pub(crate) async fn reach_into_archive(&self, after: Option<&str>) -> Result<Option<Timeline>> {
        let tl = self.timeline;
        let Some(after) = after else { return Ok(None) };
        if !tl.archive_present || tl.archived_after.is_some() {
            return Ok(None);
        }
        // cleans and rollbacks are archived on their own schedule: only a write bounds the
        // range archived writes can lie in
        let Some(oldest) = tl
            .in_window_order()
            .into_iter()
            .find(|i| i.action.is_write())
        else {
            return Ok(None);
        };
        if compare_instant_times(after, oldest.window_time()).is_ge() {
            return Ok(None);
        }
        let mut archived = match load_archived(self.store, self.config, self.table, Some(after))
            .await
        {
            Ok(a) => a,
            // what was archived after the bookmark cannot be told: the snapshot needs no archive
            Err(HudiError::MalformedArchive { file, reason, .. }) => {
                return Err(HudiError::HistoryNotRetained {
                    table: self.table.to_string(),
                    file,
                    instant: oldest.requested_time.clone(),
                    hint: format!(
                        "the bookmark {after} is older than the active timeline and the archived \
                         timeline cannot be read ({reason}): resync the table (full snapshot)"
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        if archived.watermark.is_none() {
            // an archive folder with content but no archive in it: what was archived cannot
            // be told, so the window is refused as before (never assumed empty)
            return Ok(None);
        }
        archived.retain_not_active(tl);
        self.check_archived_rollbacks(&archived, after)?;
        let writes: Vec<&ArchivedInstant> = archived.writes().collect();
        if writes.len() > MAX_ARCHIVED_WRITES {
            return Err(HudiError::HistoryNotRetained {
                table: self.table.to_string(),
                file: self.config.archive_dir.clone(),
                instant: writes[0].requested_time.clone(),
                hint: format!(
                    "{} archived instants completed after the bookmark {after}, more than a window \
                     replays ({MAX_ARCHIVED_WRITES}): resync the table (its snapshot is cheaper)",
                    writes.len()
                ),
            });
        }
        info!(
            table = self.table,
            after,
            archived = writes.len(),
            "the window reaches into the archived timeline"
        );
        Ok(Some(self.extended(tl, &writes, after)))
    }

    /// `tl` with `writes` merged in as completed instants.
    fn extended(&self, tl: &Timeline, writes: &[&ArchivedInstant], after: &str) -> Timeline {
        let mut ext = tl.clone();
        for a in writes {
            ext.completed.push(Instant {
                requested_time: a.requested_time.clone(),
                // windows of tables before version 8 compare requested times only
                completion_time: a
                    .completion_time
                    .clone()
                    .filter(|_| tl.uses_completion_time),
                action: a.action.clone(),
                path: a.file.clone(),
                size: 0,
                last_modified: None,
            });
            ext.archived_metadata.insert(
                a.requested_time.clone(),
                a.metadata.clone().unwrap_or_default(),
            );
        }
        ext.completed
            .sort_by(|a, b| compare_instant_times(&a.requested_time, &b.requested_time));
        ext.archived_after = Some(after.to_string());
        ext
    }

    /// An archived rollback after the bookmark that removed an instant at or before it.
    fn check_archived_rollbacks(&self, archived: &ArchivedTimeline, after: &str) -> Result<()> {
        for r in archived
            .instants
            .iter()
            .filter(|i| matches!(i.action, Action::Rollback | Action::Restore))
        {
            let rolled: Vec<String> = r
                .rolled_back
                .iter()
                .filter(|t| compare_instant_times(t, after).is_le())
                .cloned()
                .collect();
            if !rolled.is_empty() {
                return Err(HudiError::RewrittenHistory {
                    table: self.table.to_string(),
                    action: r.action.to_string(),
                    by_instant: r.requested_time.clone(),
                    rolled_back: rolled,
                    bookmark: after.to_string(),
                });
            }
        }
        Ok(())
    }
}
