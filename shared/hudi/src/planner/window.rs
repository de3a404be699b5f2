//! The window `(after, until]`: its bounds, the v6 hollow-commit cap, what is visible at its
//! end and which instants it admits (docs/hudi-format.md §6.1).

use crate::error::{HudiError, Result};
use crate::instant::{Action, compare_instant_times};
use crate::timeline::{Instant, Timeline};

use super::{Metas, Planner, check_bound};

/// The bounds of a window as given, checked.
pub(super) struct Bounds {
    /// Exclusive start (`None`: the beginning).
    pub after: Option<String>,
    /// Inclusive end (`None`: the latest instant).
    pub until: Option<String>,
}

impl Bounds {
    /// Check both bounds and their order.
    pub(super) fn parse(
        table: &str,
        after_in: Option<&str>,
        until_in: Option<&str>,
    ) -> Result<Bounds> {
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
        let until = match (until_in, until) {
            // an all-zero `until` is an empty window, not "latest"
            (Some(_), None) => Some("0".repeat(17)),
            (_, until) => until,
        };
        Ok(Bounds { after, until })
    }
}

/// A window over the timeline: its bounds and the v6 hollow-commit cap.
pub(super) struct Window<'t> {
    pub timeline: &'t Timeline,
    pub after: Option<String>,
    pub until: Option<String>,
    /// v6: the earliest pending writer; nothing at or after it is visible yet.
    pub cap: Option<String>,
    /// Where the active write timeline starts: older instants were archived (completed).
    pub oldest_active: Option<&'t str>,
}

/// The instants a window admits.
pub(super) struct Admission<'t> {
    /// Every completed instant, in window order.
    pub ordered: Vec<&'t Instant>,
    /// The admitted writes, in window order.
    pub admitted: Vec<&'t Instant>,
    /// v6: the cap, when it left completed writes of the window for a later pass.
    pub capped_by_pending: Option<String>,
}

impl<'t> Window<'t> {
    fn gt_after(&self, t: &str) -> bool {
        self.after
            .as_deref()
            .is_none_or(|a| compare_instant_times(t, a).is_gt())
    }

    fn le_until(&self, t: &str) -> bool {
        self.until
            .as_deref()
            .is_none_or(|u| compare_instant_times(t, u).is_le())
    }

    fn below_cap(&self, i: &Instant) -> bool {
        self.cap
            .as_deref()
            .is_none_or(|c| compare_instant_times(&i.requested_time, c).is_lt())
    }

    /// Whether a completed instant is visible at the window end.
    pub(super) fn visible(&self, i: &Instant) -> bool {
        self.le_until(i.window_time()) && self.below_cap(i)
    }

    /// Whether a base file written by instant `b` (requested time) is visible at the window
    /// end: its instant completed and is visible, or it was archived.
    pub(super) fn base_visible(&self, b: &str) -> bool {
        match self.timeline.completed_by_requested(b) {
            Some(i) => self.visible(i),
            None => self
                .oldest_active
                .is_some_and(|o| compare_instant_times(b, o).is_lt()),
        }
    }

    /// Completed writes in the window, minus those at or after the v6 cap.
    pub(super) fn admit(&self) -> Admission<'t> {
        let ordered = self.timeline.in_window_order();
        let candidates: Vec<&Instant> = ordered
            .iter()
            .copied()
            .filter(|i| {
                i.action.is_write()
                    && self.gt_after(i.window_time())
                    && self.le_until(i.window_time())
            })
            .collect();
        let admitted: Vec<&Instant> = candidates
            .iter()
            .copied()
            .filter(|i| self.below_cap(i))
            .collect();
        let capped_by_pending = if admitted.len() < candidates.len() {
            self.cap.clone()
        } else {
            None
        };
        Admission {
            ordered,
            admitted,
            capped_by_pending,
        }
    }
}

impl Planner<'_> {
    /// The window of `bounds`, with the v6 hollow-commit guard: nothing at or after the
    /// earliest pending writer is visible yet.
    pub(super) async fn window(&self, bounds: Bounds) -> Result<Window<'_>> {
        let tl = self.timeline;
        let cap = if tl.uses_completion_time {
            None
        } else {
            self.hollow_commit_cap().await?
        };
        Ok(Window {
            timeline: tl,
            after: bounds.after,
            until: bounds.until,
            cap,
            oldest_active: tl.oldest_requested_time(),
        })
    }

    /// v6 MOR: whether `i` is a deltacommit after the window end. v6 log names do not say
    /// which deltacommit wrote them, so such deltacommits tell their log files apart.
    fn is_late_deltacommit(&self, w: &Window<'_>, i: &Instant) -> bool {
        self.config.is_mor()
            && !self.timeline.uses_completion_time
            && i.action == Action::DeltaCommit
            && !w.visible(i)
    }

    /// The late v6 MOR deltacommits ([`Self::is_late_deltacommit`]), in window order.
    pub(super) fn late_deltacommits<'t>(
        &self,
        w: &Window<'t>,
        adm: &Admission<'t>,
    ) -> Vec<&'t Instant> {
        adm.ordered
            .iter()
            .copied()
            .filter(|i| self.is_late_deltacommit(w, i))
            .collect()
    }

    /// The instants whose metadata the plan needs: the admitted ones, every replacecommit
    /// visible at the window end (replaced groups) and the late v6 MOR deltacommits.
    pub(super) fn metadata_wanted<'t>(
        &self,
        w: &Window<'t>,
        adm: &Admission<'t>,
    ) -> Vec<&'t Instant> {
        let mut wanted: Vec<&Instant> = adm.admitted.clone();
        for i in &adm.ordered {
            let replace = i.action == Action::ReplaceCommit && w.visible(i);
            if (replace || self.is_late_deltacommit(w, i)) && !adm.admitted.contains(i) {
                wanted.push(i);
            }
        }
        wanted
    }

    /// Log compaction rewrites log blocks into new ones: not yet read.
    pub(super) fn refuse_log_compaction(&self, adm: &Admission<'_>, metas: &Metas) -> Result<()> {
        if !self.config.is_mor() {
            return Ok(());
        }
        match adm.admitted.iter().find(|i| {
            metas
                .get(i.requested_time.as_str())
                .is_some_and(|m| m.is_log_compaction())
        }) {
            Some(i) => Err(HudiError::NotYetSupported {
                table: self.table.to_string(),
                what: format!("log compaction instant {} in the window", i.requested_time),
            }),
            None => Ok(()),
        }
    }
}
