//! The log files of a chosen file slice as of the window end (docs/hudi-format.md §4, §6.2).

use std::collections::BTreeSet;

use crate::instant::compare_instant_times;
use crate::plan::{BaseFile, LogFile};
use crate::timeline::Instant;

use super::{PartitionFiles, Planner};

/// What is visible as of the window end (for assigning log files to slices).
pub(crate) struct AsOf<'a> {
    pub base_visible: &'a dyn Fn(&str) -> bool,
    pub visible: &'a dyn Fn(&Instant) -> bool,
    pub late_logs: &'a BTreeSet<String>,
}

impl Planner<'_> {
    /// Log files belonging to the chosen slice of a file group as of the window end.
    pub(crate) fn slice_logs(
        &self,
        files: &PartitionFiles,
        file_id: &str,
        chosen: Option<&BaseFile>,
        group_bases: &[&BaseFile],
        asof: &AsOf<'_>,
    ) -> Vec<LogFile> {
        let Some(logs) = files.logs.get(file_id) else {
            return Vec::new();
        };
        let base_instant = chosen.map(|b| b.instant_time.as_str());
        let mut out: Vec<LogFile> = logs
            .iter()
            .filter(|l| {
                if self.timeline.uses_completion_time {
                    self.in_slice_by_completion(l, base_instant, group_bases, asof)
                } else {
                    in_slice_by_base_instant(l, logs, base_instant, asof)
                }
            })
            .cloned()
            .collect();
        sort_logs(&mut out);
        out
    }

    /// v8/v9: the log's instant is its deltacommit; it belongs to the slice whose base instant
    /// is the greatest visible one <= the deltacommit's completion.
    fn in_slice_by_completion(
        &self,
        l: &LogFile,
        base_instant: Option<&str>,
        group_bases: &[&BaseFile],
        asof: &AsOf<'_>,
    ) -> bool {
        let Some(completed_at) = self.log_completed_at(l, asof) else {
            return false;
        };
        let owner = group_bases
            .iter()
            .filter(|b| (asof.base_visible)(&b.instant_time))
            .filter(|b| compare_instant_times(&b.instant_time, &completed_at).is_le())
            .map(|b| b.instant_time.as_str())
            .max_by(|a, b| compare_instant_times(a, b));
        owner == base_instant
    }

    /// v8/v9: when the deltacommit that wrote `l` completed, if it counts at the window end;
    /// `None` for a deltacommit not visible yet and for a pending or failed writer's file.
    fn log_completed_at(&self, l: &LogFile, asof: &AsOf<'_>) -> Option<String> {
        match self.timeline.completed_by_requested(&l.instant_time) {
            Some(dc) if (asof.visible)(dc) => Some(dc.window_time().to_string()),
            Some(_) => None,
            // archived (older than the active timeline): completed long ago
            None if self
                .timeline
                .oldest_requested_time()
                .is_some_and(|o| compare_instant_times(&l.instant_time, o).is_lt()) =>
            {
                Some(l.instant_time.clone())
            }
            None => None,
        }
    }
}

/// v6: the log's instant is the slice's base instant (or of a pending compaction newer than
/// it, whose logs still merge onto this slice); logs written after the window end are out.
fn in_slice_by_base_instant(
    l: &LogFile,
    logs: &[LogFile],
    base_instant: Option<&str>,
    asof: &AsOf<'_>,
) -> bool {
    if asof.late_logs.contains(&l.path)
        || first_late_version(logs, &l.instant_time, asof.late_logs).is_some_and(|v| l.version >= v)
    {
        return false;
    }
    match base_instant {
        Some(b) => {
            l.instant_time == b
                || (compare_instant_times(&l.instant_time, b).is_gt()
                    && !(asof.base_visible)(&l.instant_time))
        }
        // a log-only slice: every log of the group
        None => true,
    }
}

/// v6: versions grow with time within a slice, so a log version at or above the first one
/// written after the window end was written after it too.
fn first_late_version(
    logs: &[LogFile],
    instant: &str,
    late_logs: &BTreeSet<String>,
) -> Option<u64> {
    logs.iter()
        .filter(|l| l.instant_time == instant && late_logs.contains(&l.path))
        .map(|l| l.version)
        .min()
}

/// Hudi's log order within a slice: instant, version, then path.
pub(super) fn sort_logs(logs: &mut [LogFile]) {
    logs.sort_by(|a, b| {
        compare_instant_times(&a.instant_time, &b.instant_time)
            .then(a.version.cmp(&b.version))
            .then_with(|| a.path.cmp(&b.path))
    });
}
