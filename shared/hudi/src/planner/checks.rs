//! Safety checks of a window's history: archived instants after the bookmark (9.6) and
//! rollbacks of instants at or before it (8.4).

use crate::error::{HudiError, Result};
use crate::instant::{Action, compare_instant_times};

use super::Planner;

impl Planner<'_> {
    /// 9.6: a bookmark older than the active timeline, with an archive present, may have
    /// missed archived instants.
    pub(super) fn check_archive(&self, after: Option<&str>) -> Result<()> {
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
    pub(super) async fn check_rollbacks(&self, after: Option<&str>) -> Result<()> {
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
}
