//! Choosing a pass's next window: from the fence's position (or its slice cursor) to the write
//! instants the timeline completed since, planned incrementally or as a snapshot, and the slice
//! to start from. Applying it is [`Run::apply_window`].

use chrono::{DateTime, Utc};
use hps_hudi::instant::compare_instant_times;
use hps_hudi::{HudiError, IncrementalPlan, Instant, Timeline};
use hps_postgres::Applier;
use tracing::warn;

use super::{Run, bootstraps_instead, plan_id, to_position};
use crate::bookmark::Position;
use crate::error::{SyncError, SyncResult};
use crate::failpoint;
use crate::fence::{Fence, FenceStatus};
use crate::pipeline::{PassOutcome, PassReport};

/// What planning the next window gave.
pub(crate) enum NextWindow {
    /// A window to apply.
    Apply(Box<Window>),
    /// Nothing more to apply in this pass: it ends with this outcome.
    End(Box<PassOutcome>),
    /// The fence changed (an empty resync finished): plan again.
    Again,
}

/// A planned window and what the pass needs to apply it and to report on it.
pub(crate) struct Window {
    /// The file slices to read, in order.
    pub plan: IncrementalPlan,
    /// The position of its last instant: where the fence moves at its end.
    pub end: Position,
    /// The plan's identity (its instants and slices), kept in a slice cursor.
    pub plan_id: String,
    /// The first slice to apply (the ones before it are applied, says the cursor).
    pub first_slice: usize,
    /// Planned as a snapshot (a resync, or a new table's bootstrap).
    pub snapshot: bool,
    /// The resync the window belongs to.
    pub resync_id: Option<String>,
    /// Completed write instants after the window's end.
    pub instants_after: usize,
    /// When the window's last instant completed (for the lag).
    pub end_completed_at: Option<DateTime<Utc>>,
}

/// The completed write instants after `after` (all of them when `None`), in window order.
fn write_instants_after<'t>(timeline: &'t Timeline, after: Option<&str>) -> Vec<&'t Instant> {
    timeline
        .in_window_order()
        .into_iter()
        .filter(|i| i.action.is_write())
        .filter(|i| after.is_none_or(|a| compare_instant_times(i.window_time(), a).is_gt()))
        .collect()
}

impl Run<'_> {
    /// Plan the next window from the fence.
    pub(crate) async fn next_window(&mut self, applier: &mut Applier) -> SyncResult<NextWindow> {
        let fence = self.fence()?.clone();
        let resync_id = match &fence.status {
            FenceStatus::Resyncing { resync_id } => Some(resync_id.clone()),
            FenceStatus::NeedsResync { reason } => {
                let reason = reason.clone();
                return Ok(NextWindow::End(Box::new(PassOutcome::NeedsResync {
                    reason,
                })));
            }
            FenceStatus::Active => None,
        };
        let timeline = self
            .table
            .hudi
            .timeline()
            .await
            .map_err(|e| SyncError::hudi(self.id(), e))?;
        let after = fence
            .position
            .as_ref()
            .map(|p| p.ordering_time().to_string());
        let candidates = write_instants_after(&timeline, after.as_deref());
        // a snapshot for a resync, and for a new table whose history from the beginning is
        // incomplete (archived instants); a cleaned file found while planning from the
        // beginning falls back to it (`plan_window`)
        let snapshot = resync_id.is_some()
            || (fence.position.is_none() && fence.cursor.is_none() && timeline.archive_present);
        let Some(until) = self.window_until(&fence, &candidates, snapshot) else {
            if let Some(rid) = &resync_id {
                // an empty table: the snapshot is empty; finish the resync
                self.finish_empty_resync(applier, rid).await?;
                return Ok(NextWindow::Again);
            }
            self.report.remaining_instants = 0;
            return Ok(NextWindow::End(Box::new(self.finish())));
        };
        let (planned, snapshot) = self
            .plan_window(
                &timeline,
                &fence,
                &candidates,
                after.as_deref(),
                &until,
                snapshot,
            )
            .await;
        let mut plan = match planned {
            Ok(p) => p,
            Err(e) if e.needs_resync() => {
                let reload = matches!(e, HudiError::RewrittenHistory { .. });
                let out = self.needs_resync(applier, e.to_string(), reload).await?;
                return Ok(NextWindow::End(Box::new(out)));
            }
            Err(e) => return Err(SyncError::hudi(self.id(), e)),
        };
        let Some(end) = plan.end.as_ref().map(to_position) else {
            let out = self
                .empty_window(applier, &fence, &until, candidates.len(), &plan)
                .await?;
            return Ok(NextWindow::End(Box::new(out)));
        };
        self.prune_partitions(&mut plan)?;
        self.failpoint(failpoint::AFTER_PLAN).await?;
        let plan_id = plan_id(&plan);
        let first_slice = match first_slice(&fence, &plan_id, plan.slices.len()) {
            Ok(s) => s,
            Err(reason) => {
                return Ok(NextWindow::End(Box::new(
                    self.needs_resync(applier, reason, true).await?,
                )));
            }
        };
        let instants_after = candidates
            .iter()
            .filter(|i| compare_instant_times(i.window_time(), end.ordering_time()).is_gt())
            .count();
        let timezone = &self.table.hudi.config().timeline_timezone;
        let end_completed_at = candidates
            .iter()
            .find(|i| i.requested_time == end.requested_time)
            .and_then(|i| i.completed_at(timezone));
        Ok(NextWindow::Apply(Box::new(Window {
            plan,
            end,
            plan_id,
            first_slice,
            snapshot,
            resync_id,
            instants_after,
            end_completed_at,
        })))
    }

    /// The instant the next window ends at: the cursor's window end when a window is partly
    /// applied; else the newest candidate for a snapshot, or the `k`-th candidate (one in a
    /// step or after a schema change narrowed the windows, `max_instants_per_window` otherwise). `None` when there is no candidate.
    fn window_until(
        &self,
        fence: &Fence,
        candidates: &[&Instant],
        snapshot: bool,
    ) -> Option<String> {
        if let Some(c) = &fence.cursor {
            return Some(c.window_end.ordering_time().to_string());
        }
        let last = candidates.last()?;
        if snapshot {
            return Some(last.window_time().to_string());
        }
        let k = self.window_instants();
        Some(
            candidates[candidates.len().min(k) - 1]
                .window_time()
                .to_string(),
        )
    }

    /// Plan the window up to `until`, incrementally or as a snapshot; an incremental plan whose
    /// history from the beginning is incomplete falls back to a snapshot. Returns the plan and
    /// whether it is a snapshot.
    async fn plan_window(
        &self,
        timeline: &Timeline,
        fence: &Fence,
        candidates: &[&Instant],
        after: Option<&str>,
        until: &str,
        snapshot: bool,
    ) -> (Result<IncrementalPlan, HudiError>, bool) {
        let planned = if snapshot {
            self.plan_snapshot(timeline, until).await
        } else {
            let hudi = &self.table.hudi;
            hudi.plan_with_timeline(timeline, after, Some(until)).await
        };
        match planned {
            Err(e) if !snapshot && bootstraps_instead(&e, fence) => {
                warn!(error = %e, "the history from the beginning is incomplete: bootstrapping from a snapshot");
                // a partially applied snapshot resumes as of its own end
                let at = match (&fence.cursor, candidates.last()) {
                    (None, Some(latest)) => latest.window_time().to_string(),
                    _ => until.to_string(),
                };
                (self.plan_snapshot(timeline, &at).await, true)
            }
            other => (other, snapshot),
        }
    }

    /// The outcome when the window up to `until` admits no instant: a partly applied window
    /// that lost its instants needs a resync; otherwise the pass is done.
    async fn empty_window(
        &mut self,
        applier: &mut Applier,
        fence: &Fence,
        until: &str,
        candidates: usize,
        plan: &IncrementalPlan,
    ) -> SyncResult<PassOutcome> {
        if fence.cursor.is_some() {
            let reason = format!(
                "the partially applied window ending at {until} admits no instant any more (rolled back?); \
                 rows already applied from it may no longer exist in the table"
            );
            return self.needs_resync(applier, reason, true).await;
        }
        self.report.remaining_instants = candidates;
        if self.report.transactions > 0 {
            return Ok(PassOutcome::Applied(PassReport::default()));
        }
        Ok(PassOutcome::UpToDate {
            position: fence.position.clone(),
            blocked_by_pending: plan.capped_by_pending.clone(),
        })
    }
}

/// The slice to start the window `plan_id` at: past the applied ones when the fence's cursor is
/// of this plan, the first when there is no cursor or only the window's slices changed. `Err`
/// (the reason for a resync) when the cursor's window lost or changed instants.
fn first_slice(fence: &Fence, plan_id: &str, slices: usize) -> Result<usize, String> {
    match &fence.cursor {
        Some(c) if c.plan_id == plan_id => Ok(usize::try_from(c.next_slice)
            .unwrap_or(usize::MAX)
            .min(slices)),
        Some(c) if c.plan_id.get(..16) != plan_id.get(..16) => Err(format!(
            "the instants of the partially applied window ending at {} changed since it was planned \
             (rollback or restore?); rows already applied may no longer exist in the table",
            c.window_end
        )),
        Some(c) => {
            warn!(window_end = %c.window_end, "the file slices of the partially applied window changed; \
                  re-applying the window from its first slice (harmless under the version guard)");
            Ok(0)
        }
        None => Ok(0),
    }
}
