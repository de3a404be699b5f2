//! Operations on one table: status, rewind, reset (full reload), pause/resume, resync.
//!
//! Every operation that moves the position writes the fence first (in PostgreSQL, under the
//! table's lease and the fence compare-and-set) and then mirrors it into the bookmark store.
//! A crash in between leaves the fence behind the bookmark, which the next pass's reconcile
//! turns into exactly the requested operation (the fence wins).

use hps_hudi::instant::compare_instant_times;
use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::{Applier, PgError, TargetTable};
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::bookmark::{Bookmark, BookmarkError, BookmarkState, Position};
use crate::error::{SyncError, SyncResult};
use crate::fence::{Fence, FenceStatus};
use crate::fence_tx::fence_transaction;
use crate::lease::Lease;
use crate::pass::{Run, cmp_progress, mirror};
use crate::pipeline::{BusyReason, PassMode, PassOutcome, ResyncMode, SyncPipeline, TableSource};

/// The sync state of one table, for status views.
#[derive(Debug, Clone)]
pub struct TableStatus {
    /// Table id.
    pub table: String,
    /// The derived PostgreSQL target.
    pub target: TargetTable,
    /// The bookmark (the store's view).
    pub bookmark: Option<Bookmark>,
    /// The fence (PostgreSQL's view; the truth about staging). `None` before the first pass.
    pub fence: Option<Fence>,
    /// The current lease record, expired or not.
    pub lease: Option<Lease>,
    /// The latest completed data-writing instant of the table.
    pub latest: Option<Position>,
    /// Completed data-writing instants after the fence position.
    pub instants_behind: usize,
    /// Whether the bookmark mirrors the fence (false after a crash between COMMIT and the
    /// bookmark write, or after a database restore; the next pass reconciles).
    pub bookmark_in_sync: bool,
    /// Rows in the table's quarantine table (`None`: it has none; see
    /// [`hps_postgres::BadRowPolicy`]).
    pub quarantined: Option<u64>,
}

impl TableStatus {
    /// A one-word state: `paused`, `needs_resync`, `resyncing`, `bootstrapping` (a new table's
    /// first load is partially applied), `partial` (a window is partially applied), `behind`,
    /// `up_to_date` or `new`.
    pub fn state(&self) -> &'static str {
        if let Some(Bookmark {
            state: BookmarkState::Paused { .. },
            ..
        }) = &self.bookmark
        {
            return "paused";
        }
        match &self.fence {
            None => "new",
            Some(f) => match &f.status {
                FenceStatus::NeedsResync { .. } => "needs_resync",
                FenceStatus::Resyncing { .. } => "resyncing",
                FenceStatus::Active if f.cursor.is_some() && f.position.is_none() => {
                    "bootstrapping"
                }
                FenceStatus::Active if f.cursor.is_some() => "partial",
                FenceStatus::Active if self.instants_behind > 0 => "behind",
                FenceStatus::Active => "up_to_date",
            },
        }
    }
}

impl SyncPipeline {
    pub(crate) async fn lease_for(
        &self,
        table: &str,
        operation: &'static str,
    ) -> SyncResult<Lease> {
        match self.acquire(table, None).await? {
            Ok(l) => Ok(l),
            Err(BusyReason::Lease { owner, expires_at }) => Err(SyncError::Busy {
                table: table.to_string(),
                operation,
                owner,
                expires_at,
            }),
            Err(BusyReason::FenceMoved { .. }) => Err(SyncError::Internal {
                table: table.to_string(),
                reason: "lease acquisition reported a fence conflict".into(),
            }),
        }
    }

    /// Take the lease and a connection, and load the fence and bookmark, for an operation.
    async fn begin_op<'p>(
        &'p self,
        src: &'p TableSource,
        operation: &'static str,
    ) -> SyncResult<(Run<'p>, Applier)> {
        let resolved = self.resolve(src).await?;
        let lease = self.lease_for(&src.id, operation).await?;
        let mut run = Run::new(self, resolved, None, PassMode::ToLatest, lease);
        let mut applier = self.take_applier();
        if let Err(e) = run.load(&mut applier).await {
            self.end_op(run, applier).await;
            return Err(e);
        }
        Ok((run, applier))
    }

    /// Give back the connection and the lease.
    async fn end_op(&self, mut run: Run<'_>, applier: Applier) {
        self.put_applier(applier);
        run.release().await;
    }

    /// The table's state: bookmark, fence, lease, and how far behind the table it is.
    pub async fn status(&self, src: &TableSource) -> SyncResult<TableStatus> {
        let resolved = self.resolve(src).await?;
        let id = src.id.as_str();
        let bookmark = self
            .bookmarks
            .get(&self.name, id)
            .await
            .map_err(|e| SyncError::bookmark(id, e))?;
        let lease = self
            .leases
            .current(&self.name, id)
            .await
            .map_err(|e| SyncError::lease(id, e))?;
        let mut applier = self.take_applier();
        let fence = async {
            let client = applier.connection().client().await?;
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&resolved.fence_table.qualified()],
                )
                .await
                .map_err(|e| PgError::db("checking the fence table", e))?
                .get(0);
            if !exists {
                return Ok(None);
            }
            resolved.fence_table.read(&*client, &self.name, id).await
        }
        .await
        .map_err(|e| SyncError::pg(id, e));
        let quarantined = match &fence {
            Ok(_) => applier
                .quarantine_count(&resolved.spec)
                .await
                .map_err(|e| SyncError::pg(id, e)),
            Err(_) => Ok(None),
        };
        self.put_applier(applier);
        let fence = fence?;
        let quarantined = quarantined?;
        let timeline = resolved
            .hudi
            .timeline()
            .await
            .map_err(|e| SyncError::hudi(id, e))?;
        let latest = timeline.latest_write().map(|i| Position {
            requested_time: i.requested_time.clone(),
            completion_time: i.completion_time.clone(),
        });
        let after = fence
            .as_ref()
            .and_then(|f| f.position.as_ref())
            .map(|p| p.ordering_time().to_string());
        let instants_behind = timeline
            .in_window_order()
            .into_iter()
            .filter(|i| i.action.is_write())
            .filter(|i| {
                after
                    .as_deref()
                    .is_none_or(|a| compare_instant_times(i.window_time(), a).is_gt())
            })
            .count();
        let bookmark_in_sync = match (&bookmark, &fence) {
            (Some(b), Some(f)) => {
                let m = mirror(b, f);
                m.position == b.position && m.cursor == b.cursor && m.state == b.state
            }
            (None, None) => true,
            (None, Some(f)) => f.position.is_none() && f.cursor.is_none(),
            (Some(b), None) => b.position.is_none() && b.cursor.is_none(),
        };
        Ok(TableStatus {
            table: id.to_string(),
            target: resolved.spec,
            bookmark,
            fence,
            lease,
            latest,
            instants_behind,
            bookmark_in_sync,
            quarantined,
        })
    }

    /// Move the table back so that every instant after `to` (a requested time of a completed
    /// instant on the active timeline; `None` = the beginning) is delivered again. Re-applied
    /// rows are no-ops under the version guard unless staging lost them. Refused when `to` is
    /// ahead of the current position (that would skip changes) or during a resync.
    pub async fn rewind(&self, src: &TableSource, to: Option<&str>) -> SyncResult<Fence> {
        let span = info_span!("rewind", pipeline = %self.name, table = %src.id, to = ?to);
        async {
            let (mut run, mut applier) = self.begin_op(src, "rewind").await?;
            let out = rewind_locked(&mut run, &mut applier, to).await;
            self.end_op(run, applier).await;
            out
        }
        .instrument(span)
        .await
    }

    /// Start the table over: empty staging and tombstones and clear the position in one
    /// transaction, then the bookmark. The next pass loads the table from its first instant
    /// (if the history is no longer complete it reports that a resync is needed).
    pub async fn reset(&self, src: &TableSource) -> SyncResult<Fence> {
        let span = info_span!("reset", pipeline = %self.name, table = %src.id);
        async {
            let (mut run, mut applier) = self.begin_op(src, "reset").await?;
            let out = reset_locked(&mut run, &mut applier).await;
            self.end_op(run, applier).await;
            out
        }
        .instrument(span)
        .await
    }

    /// Resync: load a snapshot of the table's current state into staging (see
    /// [`ResyncMode`]), then continue incrementally from the snapshot's instant. Resumable:
    /// when the deadline stops it ([`PassOutcome::MoreToDo`]), later passes continue it.
    pub async fn resync(
        &self,
        src: &TableSource,
        mode: ResyncMode,
        deadline: Option<Instant>,
    ) -> SyncResult<PassOutcome> {
        let span = info_span!("resync", pipeline = %self.name, table = %src.id, ?mode);
        async {
            let resolved = self.resolve(src).await?;
            let lease = match self.acquire(&src.id, deadline).await? {
                Ok(l) => l,
                Err(busy) => return Ok(PassOutcome::Busy(busy)),
            };
            let mut run = Run::new(self, resolved, deadline, PassMode::ToLatest, lease);
            let mut applier = self.take_applier();
            let out = async {
                run.load(&mut applier).await?;
                if let Some(Bookmark {
                    state: BookmarkState::Paused { .. },
                    ..
                }) = run.bookmark()
                {
                    return Err(SyncError::Refused {
                        table: src.id.clone(),
                        operation: "resync",
                        reason: "the table is paused; resume it first".into(),
                    });
                }
                start_resync(&mut run, &mut applier, mode).await?;
                run.pass(&mut applier).await
            }
            .await;
            self.put_applier(applier);
            run.release().await;
            out
        }
        .instrument(span)
        .await
    }

    /// Pause a table: passes return [`PassOutcome::Paused`] until [`Self::resume`].
    pub async fn pause(&self, table: &str, reason: Option<String>) -> SyncResult<Bookmark> {
        let r = match self
            .bookmarks
            .pause(&self.name, table, reason.clone())
            .await
        {
            Err(BookmarkError::NotFound { .. }) => {
                let mut b = Bookmark::new(self.name.clone(), table);
                b.state = BookmarkState::Paused { reason };
                self.bookmarks
                    .write(&b, 0, crate::bookmark::WriteMode::Forward)
                    .await
            }
            other => other,
        };
        let b = r.map_err(|e| SyncError::bookmark(table, e))?;
        info!(pipeline = %self.name, table, "paused");
        Ok(b)
    }

    /// Resume a paused table.
    pub async fn resume(&self, table: &str) -> SyncResult<Bookmark> {
        let current = self
            .bookmarks
            .get(&self.name, table)
            .await
            .map_err(|e| SyncError::bookmark(table, e))?;
        let Some(current) = current else {
            return Err(SyncError::Refused {
                table: table.to_string(),
                operation: "resume",
                reason: "no bookmark".into(),
            });
        };
        if !matches!(current.state, BookmarkState::Paused { .. }) {
            warn!(
                table,
                state = current.state.name(),
                "resume of a table that is not paused: nothing to do"
            );
            return Ok(current);
        }
        let b = self
            .bookmarks
            .resume(&self.name, table)
            .await
            .map_err(|e| SyncError::bookmark(table, e))?;
        info!(pipeline = %self.name, table, "resumed (the next pass restores any resync state from the fence)");
        Ok(b)
    }
}

/// Begin a resync: in one transaction, empty staging (reload mode), forget collected keys,
/// and set the fence to "resyncing from nothing"; then mirror the bookmark.
async fn start_resync(
    run: &mut Run<'_>,
    applier: &mut Applier,
    mode: ResyncMode,
) -> SyncResult<()> {
    let id = run.table().src.id.clone();
    let fence = run
        .current_fence()
        .cloned()
        .ok_or_else(|| SyncError::Internal {
            table: id.clone(),
            reason: "no fence".into(),
        })?;
    let mode = match mode {
        ResyncMode::Auto if fence.needs_reload => ResyncMode::Reload,
        ResyncMode::Auto => ResyncMode::Merge,
        m => m,
    };
    let resync_id = uuid::Uuid::new_v4().simple().to_string();
    let mut new = fence.clone();
    new.position = None;
    new.cursor = None;
    new.load_id = None;
    new.status = FenceStatus::Resyncing {
        resync_id: resync_id.clone(),
    };
    let reload = mode == ResyncMode::Reload;
    if reload {
        new.rows_applied = 0;
    }
    let forget = async |tx: &Transaction<'_>| clear_target(tx, run, reload).await;
    let what = "resync start";
    let (f, _cleared) = fence_transaction(
        applier,
        &run.table().fence_table,
        &id,
        what,
        &new,
        fence.version,
        forget,
    )
    .await?;
    info!(resync_id, ?mode, previous = ?fence.position, "resync started");
    run.adopt_fence(f);
    run.reconcile(Some("resync")).await
}

/// Inside a resync's or a reset's fence transaction: empty staging (when `truncate`) and
/// forget the table's resync keys (their number is returned).
async fn clear_target(tx: &Transaction<'_>, run: &Run<'_>, truncate: bool) -> SyncResult<u64> {
    let (table, id) = (run.table(), &*run.table().src.id);
    let pg = |e| SyncError::pg(id, e);
    if truncate {
        table
            .fence_table
            .truncate_target(tx, &table.spec)
            .await
            .map_err(pg)?;
    }
    table
        .fence_table
        .clear_resync_keys(tx, run.pipeline_name(), id)
        .await
        .map_err(pg)
}

/// Rewind under the lease (see [`SyncPipeline::rewind`]).
/// The position of an archived completed write instant (a rewind target older than the
/// active timeline: the next pass reads the archived instants after it).
async fn archived_position(
    run: &Run<'_>,
    tl: &hps_hudi::Timeline,
    t: &str,
) -> SyncResult<Option<Position>> {
    if !tl.archive_present {
        return Ok(None);
    }
    let id = &run.table().src.id;
    let archived = run
        .table()
        .hudi
        .archived_timeline(None)
        .await
        .map_err(|e| SyncError::hudi(id, e))?;
    Ok(archived
        .by_requested(t)
        .filter(|a| a.is_write())
        .map(|a| Position {
            requested_time: a.requested_time.clone(),
            completion_time: a
                .completion_time
                .clone()
                .filter(|_| tl.uses_completion_time),
        }))
}

async fn rewind_locked(
    run: &mut Run<'_>,
    applier: &mut Applier,
    to: Option<&str>,
) -> SyncResult<Fence> {
    let id = run.table().src.id.clone();
    let refuse = |reason: String| SyncError::Refused {
        table: id.clone(),
        operation: "rewind",
        reason,
    };
    let target = match to {
        None => None,
        Some(t) => {
            let tl = run
                .table()
                .hudi
                .timeline()
                .await
                .map_err(|e| SyncError::hudi(&id, e))?;
            match tl.completed_by_requested(t).filter(|i| i.action.is_write()) {
                Some(i) => Some(Position {
                    requested_time: i.requested_time.clone(),
                    completion_time: i.completion_time.clone(),
                }),
                None => Some(archived_position(run, &tl, t).await?.ok_or_else(|| {
                    refuse(format!(
                        "{t} is not a completed commit/deltacommit/replacecommit on the active or the archived timeline"
                    ))
                })?),
            }
        }
    };
    let fence = run
        .current_fence()
        .cloned()
        .ok_or_else(|| refuse("no fence".into()))?;
    if let FenceStatus::Resyncing { .. } = fence.status {
        return Err(refuse(
            "a resync is in progress; let it finish (or reset the table)".into(),
        ));
    }
    if cmp_progress(
        (target.as_ref(), None),
        (fence.position.as_ref(), fence.cursor.as_ref()),
    )
    .is_gt()
    {
        return Err(refuse(format!(
            "{} is ahead of the current position {}; moving forward would skip changes",
            target
                .as_ref()
                .map_or("(beginning)".to_string(), |p| p.to_string()),
            fence
                .position
                .as_ref()
                .map_or("(beginning)".to_string(), |p| p.to_string()),
        )));
    }
    let mut new = fence.clone();
    new.position = target;
    new.cursor = None;
    new.load_id = None;
    run.commit_fence_only(applier, new).await?;
    run.reconcile(Some("rewind")).await?;
    info!(position = ?run.current_fence().and_then(|f| f.position.clone()), "rewound");
    run.current_fence()
        .cloned()
        .ok_or_else(|| refuse("no fence".into()))
}

/// Reset under the lease (see [`SyncPipeline::reset`]).
async fn reset_locked(run: &mut Run<'_>, applier: &mut Applier) -> SyncResult<Fence> {
    let id = run.table().src.id.clone();
    let fence = run
        .current_fence()
        .cloned()
        .ok_or_else(|| SyncError::Internal {
            table: id.clone(),
            reason: "no fence".into(),
        })?;
    let mut new = fence.clone();
    new.position = None;
    new.cursor = None;
    new.rows_applied = 0;
    new.status = FenceStatus::Active;
    new.load_id = None;
    let empty = async |tx: &Transaction<'_>| clear_target(tx, run, true).await;
    let (f, _cleared) = fence_transaction(
        applier,
        &run.table().fence_table,
        &id,
        "reset",
        &new,
        fence.version,
        empty,
    )
    .await?;
    run.adopt_fence(f.clone());
    run.reconcile(Some("reset")).await?;
    info!("reset: staging emptied, position cleared");
    Ok(f)
}
