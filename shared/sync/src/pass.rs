//! The pass engine: lease → fence + bookmark reconcile → plan a window → apply it in
//! transactions of whole file slices, each committing the fence with the data → mirror the
//! fence into the bookmark store. See `docs/sync-protocol.md` for the protocol and why it is
//! safe.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::{Array, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{Schema, SchemaRef};
use chrono::Utc;
use futures::future::BoxFuture;
use hps_hudi::{HudiError, HudiTable, IncrementalPlan, ReadOptions};
use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::{Applier, ApplyStats, LoadMode, PgError, TargetTable, TxnHook};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::bookmark::{
    Bookmark, BookmarkError, BookmarkState, LastError, Position, SliceCursor, WriteMode,
};
use crate::error::{SyncError, SyncResult};
use crate::failpoint;
use crate::feed::{Feed, Msg, Peeked, ReadAhead};
use crate::fence::{Fence, FenceStatus, FenceTable};
use crate::fence_tx::{commit_cas, fence_transaction};
use crate::lease::{Acquire, Lease};
use crate::pipeline::{
    BusyReason, PassMode, PassOutcome, PassReport, ProgressEvent, SyncPipeline, TableSource,
};
use crate::target::derive_target;

mod window;

use window::{NextWindow, Window};

/// Bookmark property mirroring the fence version it was written from.
pub const PROP_FENCE_VERSION: &str = "fence_version";

/// A table resolved for a pass or an operation: opened, target derived.
pub(crate) struct Resolved<'a> {
    pub src: &'a TableSource,
    pub hudi: HudiTable,
    pub spec: TargetTable,
    pub fence_table: FenceTable,
    pub staging_q: String,
    /// Source names of the columns the column mapping must keep (key and ordering).
    pub required: Vec<String>,
}

impl SyncPipeline {
    /// Open the table and derive its target.
    pub(crate) async fn resolve<'a>(&self, src: &'a TableSource) -> SyncResult<Resolved<'a>> {
        crate::bookmark::validate_table_id(&src.id).map_err(|e| SyncError::bookmark(&src.id, e))?;
        let hudi = HudiTable::open(src.store.clone())
            .await
            .map_err(|e| SyncError::hudi(&src.id, e))?;
        let spec = derive_target(&src.id, hudi.config(), &src.target)?;
        let required = crate::target::source_names(&spec);
        let spec = crate::target::renamed(spec, &src.columns);
        let fence_table = FenceTable::for_target(&spec).map_err(|e| SyncError::pg(&src.id, e))?;
        let staging_q = spec
            .validate()
            .map_err(|e| SyncError::pg(&src.id, e))?
            .staging_q();
        Ok(Resolved {
            src,
            hudi,
            spec,
            fence_table,
            staging_q,
            required,
        })
    }

    /// Take the table's lease for an operation or a pass.
    pub(crate) async fn acquire(
        &self,
        table: &str,
        deadline: Option<Instant>,
    ) -> SyncResult<Result<Lease, BusyReason>> {
        let ttl = self.lease_ttl(deadline);
        match self
            .leases
            .acquire(&self.name, table, &self.options.owner, ttl)
            .await
            .map_err(|e| SyncError::lease(table, e))?
        {
            Acquire::Acquired(l) => Ok(Ok(l)),
            Acquire::Busy { owner, expires_at } => Ok(Err(BusyReason::Lease { owner, expires_at })),
        }
    }

    /// One sync pass of `table`: see the crate docs. `deadline` bounds the work (the pass
    /// stops at a file-slice boundary once it is reached, after at least one slice);
    /// `mode` chooses between one instant and everything up to the latest.
    pub async fn run_pass(
        &self,
        table: &TableSource,
        deadline: Option<Instant>,
        mode: PassMode,
    ) -> SyncResult<PassOutcome> {
        let span = info_span!("sync_pass", pipeline = %self.name, table = %table.id, ?mode);
        async {
            let resolved = self.resolve(table).await?;
            let lease = match self.acquire(&table.id, deadline).await? {
                Ok(l) => l,
                Err(busy) => {
                    info!(?busy, "table busy");
                    return Ok(PassOutcome::Busy(busy));
                }
            };
            let mut run = Run::new(self, resolved, deadline, mode, lease);
            let mut applier = self.take_applier();
            let out = run.pass(&mut applier).await;
            self.put_applier(applier);
            run.release().await;
            log_outcome(&out);
            out
        }
        .instrument(span)
        .await
    }
}

fn log_outcome(out: &SyncResult<PassOutcome>) {
    match out {
        Ok(PassOutcome::Applied(r)) | Ok(PassOutcome::MoreToDo(r)) => info!(
            rows = r.rows,
            instants = r.instants.len(),
            transactions = r.transactions,
            slices = r.slices,
            remaining_instants = r.remaining_instants,
            more = matches!(out, Ok(PassOutcome::MoreToDo(_))),
            "pass done"
        ),
        Ok(o) => info!(outcome = o.name(), "pass done"),
        Err(e) => warn!(error = %e, transient = e.is_transient(), "pass failed"),
    }
}

/// Progress ordering of (position, cursor): a cursor is beyond its window's start.
pub(crate) fn cmp_progress(
    a: (Option<&Position>, Option<&SliceCursor>),
    b: (Option<&Position>, Option<&SliceCursor>),
) -> Ordering {
    let pos = match (a.0, b.0) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp_progress(y),
    };
    pos.then_with(|| match (a.1, b.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x
            .window_end
            .cmp_progress(&y.window_end)
            .then(x.next_slice.cmp(&y.next_slice)),
    })
}

/// The bookmark that mirrors `fence`, starting from `base` (keeps a pause and properties).
pub(crate) fn mirror(base: &Bookmark, fence: &Fence) -> Bookmark {
    let mut b = base.clone();
    b.position = fence.position.clone();
    b.cursor = fence.cursor.clone();
    b.rows_applied = fence.rows_applied;
    if fence.table_version != 0 {
        b.table_version = fence.table_version;
    }
    b.state = match (&base.state, &fence.status) {
        (BookmarkState::Paused { .. }, _) => base.state.clone(),
        (_, FenceStatus::Active) => BookmarkState::Active,
        (_, FenceStatus::NeedsResync { reason }) => BookmarkState::NeedsResync {
            reason: reason.clone(),
        },
        (BookmarkState::Resyncing { since }, FenceStatus::Resyncing { .. }) => {
            BookmarkState::Resyncing { since: *since }
        }
        (_, FenceStatus::Resyncing { .. }) => BookmarkState::Resyncing { since: Utc::now() },
    };
    b.properties
        .insert(PROP_FENCE_VERSION.to_string(), fence.version.to_string());
    b
}

fn same_state(a: &Bookmark, b: &Bookmark) -> bool {
    a.position == b.position
        && a.cursor == b.cursor
        && a.rows_applied == b.rows_applied
        && a.table_version == b.table_version
        && a.state == b.state
        && a.properties == b.properties
}

/// Identifies a plan: a hash of its instants, then a hash of its slices (16 hex digits each).
pub(crate) fn plan_id(plan: &IncrementalPlan) -> String {
    plan_id_of(
        plan.instants
            .iter()
            .map(|i| (i.requested_time.as_str(), i.completion_time.as_deref())),
        plan.slices.iter().map(|s| {
            let mut parts = vec![
                s.partition_path.as_str(),
                s.file_id.as_str(),
                s.base_file.as_ref().map_or("", |b| b.path.as_str()),
            ];
            parts.extend(s.log_files.iter().map(|l| l.path.as_str()));
            parts
        }),
    )
}

fn plan_id_of<'a>(
    instants: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    slices: impl Iterator<Item = Vec<&'a str>>,
) -> String {
    fn fnv(h: &mut u64, s: &str) {
        for b in s.as_bytes().iter().chain(std::iter::once(&0u8)) {
            *h ^= u64::from(*b);
            *h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let mut hi = 0xcbf2_9ce4_8422_2325u64;
    for (requested, completion) in instants {
        fnv(&mut hi, requested);
        fnv(&mut hi, completion.unwrap_or(""));
    }
    let mut hs = 0xcbf2_9ce4_8422_2325u64;
    for parts in slices {
        for p in parts {
            fnv(&mut hs, p);
        }
        fnv(&mut hs, "\u{1}");
    }
    format!("{hi:016x}{hs:016x}")
}

fn to_position(p: &hps_hudi::InstantPosition) -> Position {
    Position {
        requested_time: p.requested_time.clone(),
        completion_time: p.completion_time.clone(),
    }
}

/// A pass (or an operation that runs the window loop) on one table, holding its lease.
pub(crate) struct Run<'p> {
    pipe: &'p SyncPipeline,
    table: Resolved<'p>,
    deadline: Option<Instant>,
    mode: PassMode,
    lease: Option<Lease>,
    fence: Option<Fence>,
    bookmark: Option<Bookmark>,
    report: PassReport,
    started: Instant,
    /// Windows of one instant each: set when a schema change stopped a longer window, so
    /// that the instants before the change are applied and the error names the change's.
    one_instant: bool,
}

impl<'p> Run<'p> {
    /// The table: its source, Hudi table, target and fence table.
    pub(crate) fn table(&self) -> &Resolved<'p> {
        &self.table
    }

    /// The pipeline's name.
    pub(crate) fn pipeline_name(&self) -> &str {
        &self.pipe.name
    }

    /// The fence as last read or written (`None` before [`Self::load`]).
    pub(crate) fn current_fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// Take `fence`, just committed by an operation, as the current fence.
    pub(crate) fn adopt_fence(&mut self, fence: Fence) {
        self.fence = Some(fence);
    }

    /// The bookmark as last read or written.
    pub(crate) fn bookmark(&self) -> Option<&Bookmark> {
        self.bookmark.as_ref()
    }
}

/// How a window ended.
enum WindowEnd {
    Done,
    Stopped,
}

/// What one transaction covers and collected (shared by the batch stream and the hook).
#[derive(Debug, Default)]
struct TxProgress {
    first_slice: usize,
    /// Exclusive end of the completed slices.
    next_slice: usize,
    /// A slice was started but not ended.
    open: Option<usize>,
    rows: u64,
    bytes: u64,
    batches: u64,
    record_keys: Vec<String>,
    partition_paths: Vec<String>,
    failure: Option<SyncError>,
    /// What the apply path reported for this transaction's batches.
    applied: ApplyStats,
}

impl TxProgress {
    fn new(first: usize) -> Self {
        TxProgress {
            first_slice: first,
            next_slice: first,
            ..Default::default()
        }
    }

    fn slices(&self) -> usize {
        self.next_slice - self.first_slice + usize::from(self.open.is_some())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The window a transaction belongs to.
struct WindowCtx<'w> {
    plan: &'w IncrementalPlan,
    plan_id: &'w str,
    window_end: &'w Position,
    resync_id: Option<&'w str>,
    /// The table's first window (no position yet, not a resync): its loads are a bulk
    /// bootstrap into a shadow table, swapped in by the window's last transaction.
    bulk: bool,
}

impl WindowCtx<'_> {
    fn slices(&self) -> usize {
        self.plan.slices.len()
    }
}

impl<'p> Run<'p> {
    pub fn new(
        pipe: &'p SyncPipeline,
        table: Resolved<'p>,
        deadline: Option<Instant>,
        mode: PassMode,
        lease: Lease,
    ) -> Self {
        Run {
            pipe,
            table,
            deadline,
            mode,
            lease: Some(lease),
            fence: None,
            bookmark: None,
            report: PassReport::default(),
            started: Instant::now(),
            one_instant: false,
        }
    }

    fn id(&self) -> &str {
        &self.table.src.id
    }

    fn pipeline(&self) -> &str {
        &self.pipe.name
    }

    fn fence(&self) -> SyncResult<&Fence> {
        self.fence.as_ref().ok_or_else(|| SyncError::Internal {
            table: self.id().to_string(),
            reason: "fence not loaded".into(),
        })
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Evaluate the failpoint `name` (tests inject crashes and errors there).
    async fn failpoint(&self, name: &str) -> SyncResult<()> {
        self.pipe.options.failpoints.eval(name).await
    }

    fn pg(&self, e: PgError) -> SyncError {
        SyncError::pg(self.id(), e)
    }

    /// Release the lease (best effort; a crash leaves it to expire).
    pub async fn release(&mut self) {
        if let Some(l) = self.lease.take() {
            match self.pipe.leases.release(&l).await {
                Ok(true) => {}
                Ok(false) => warn!(table = %l.table, "lease was no longer ours at release"),
                Err(e) => {
                    warn!(table = %l.table, error = %e, "releasing the lease failed; it will expire")
                }
            }
        }
    }

    /// Renew the lease when less than half of its TTL is left.
    async fn renew_lease(&mut self) -> SyncResult<()> {
        let ttl = self.pipe.lease_ttl(self.deadline);
        let Some(l) = &self.lease else { return Ok(()) };
        let full =
            chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(60));
        if l.expires_at - Utc::now() > full / 2 {
            return Ok(());
        }
        let renewed = self
            .pipe
            .leases
            .renew(l, ttl)
            .await
            .map_err(|e| SyncError::lease(self.id(), e))?;
        debug!(expires_at = %renewed.expires_at, "lease renewed");
        self.lease = Some(renewed);
        Ok(())
    }

    /// The pass with retries of transient failures; a lost fence race is `Busy`.
    pub async fn pass(&mut self, applier: &mut Applier) -> SyncResult<PassOutcome> {
        let policy = self.pipe.options.retry.clone();
        let mut attempts = policy.attempts();
        let out = loop {
            match self.attempt(applier).await {
                Err(SyncError::FenceMoved {
                    expected, found, ..
                }) => {
                    warn!(
                        expected,
                        ?found,
                        "the fence moved under this pass; stopping"
                    );
                    break Ok(PassOutcome::Busy(BusyReason::FenceMoved {
                        expected,
                        found,
                    }));
                }
                Err(e)
                    if e.is_transient()
                        && !self.deadline_passed()
                        && attempts.retry("sync pass, from the fence", &e).await =>
                {
                    applier.connection().reset();
                }
                other => break other,
            }
        };
        self.report.elapsed = self.started.elapsed();
        if let Some(f) = self.fence.clone() {
            self.report.position = f.position;
            self.report.cursor = f.cursor;
            self.report.fence_version = f.version;
        }
        let out = out.map(|o| match o {
            PassOutcome::Applied(_) => PassOutcome::Applied(self.report.clone()),
            PassOutcome::MoreToDo(_) => PassOutcome::MoreToDo(self.report.clone()),
            other => other,
        });
        match &out {
            Err(e) if !matches!(e, SyncError::Injected { .. }) => self.record_error(e).await,
            // a successful pass clears the last error (commits already did, via the mirror)
            Ok(_)
                if self
                    .bookmark
                    .as_ref()
                    .is_some_and(|b| b.last_error.is_some()) =>
            {
                self.clear_error().await
            }
            _ => {}
        }
        out
    }

    async fn record_error(&mut self, e: &SyncError) {
        let Some(mut b) = self.bookmark.clone() else {
            return;
        };
        let prev = b.last_error.as_ref().map_or(0, |l| l.consecutive_failures);
        b.last_error = Some(LastError {
            at: Utc::now(),
            message: e.to_string(),
            transient: e.is_transient(),
            consecutive_failures: prev.saturating_add(1),
        });
        let expected = b.version;
        match self
            .pipe
            .bookmarks
            .write(&b, expected, WriteMode::Forward)
            .await
        {
            Ok(stored) => self.bookmark = Some(stored),
            Err(we) => debug!(error = %we, "could not record the last error in the bookmark"),
        }
    }

    async fn clear_error(&mut self) {
        let Some(mut b) = self.bookmark.clone() else {
            return;
        };
        b.last_error = None;
        let expected = b.version;
        if let Ok(stored) = self
            .pipe
            .bookmarks
            .write(&b, expected, WriteMode::Forward)
            .await
        {
            self.bookmark = Some(stored);
        }
    }

    /// Load (creating if needed) the fence, and make the bookmark mirror it.
    pub async fn load(&mut self, applier: &mut Applier) -> SyncResult<()> {
        let client = applier
            .connection()
            .client()
            .await
            .map_err(|e| self.pg(e))?;
        self.table
            .fence_table
            .ensure(client)
            .await
            .map_err(|e| SyncError::pg(&self.table.src.id, e))?;
        // before the fence row is created: a refused table leaves no row that would refuse
        // the table it collides with in turn
        self.refuse_shared_staging(client).await?;
        let fence = self
            .table
            .fence_table
            .read_or_init(
                client,
                &self.pipe.name,
                &self.table.src.id,
                &self.table.staging_q,
            )
            .await
            .map_err(|e| SyncError::pg(&self.table.src.id, e))?;
        self.fence = Some(fence);
        self.reconcile(None).await?;
        Ok(())
    }

    /// Refuse to sync into a staging table another table (of any pipeline) already syncs
    /// into: two discovered tables with one `hoodie.table.name`, or two entries naming one
    /// target in different pipelines.
    async fn refuse_shared_staging(
        &self,
        client: &hps_postgres::tokio_postgres::Client,
    ) -> SyncResult<()> {
        let (id, staging) = (&self.table.src.id, &self.table.staging_q);
        let other = self
            .table
            .fence_table
            .other_writer(client, &self.pipe.name, id, staging)
            .await
            .map_err(|e| SyncError::pg(id, e))?;
        match other {
            None => Ok(()),
            Some((pipeline, table)) => Err(SyncError::Target {
                table: id.clone(),
                reason: format!(
                    "staging table {staging} is already synced from table {table} of pipeline \
                     {pipeline}; two tables must not share a staging table: give this one its \
                     own target (a [tables.<id>] entry with `table = ...`); if table {table} is \
                     gone for good, delete its row from {}",
                    self.table.fence_table.qualified()
                ),
            }),
        }
    }

    /// Make the bookmark mirror the fence: fast-forward it when the fence is ahead (a crash
    /// after COMMIT), set it back when it is ahead of the fence (PostgreSQL restored from a
    /// backup; the fence wins), create it when missing.
    ///
    /// `operation` names an operation that just moved the fence back on purpose (rewind,
    /// reset, resync): the bookmark being ahead is then expected, not a warning.
    pub async fn reconcile(&mut self, operation: Option<&str>) -> SyncResult<()> {
        let fence = self.fence()?.clone();
        for _ in 0..8 {
            let current = self
                .pipe
                .bookmarks
                .get(self.pipeline(), self.id())
                .await
                .map_err(|e| SyncError::bookmark(self.id(), e))?;
            let (target, expected, mode) = match &current {
                None => (
                    mirror(&Bookmark::new(self.pipeline(), self.id()), &fence),
                    0,
                    WriteMode::Forward,
                ),
                Some(b) => {
                    let m = mirror(b, &fence);
                    if same_state(b, &m) {
                        self.bookmark = current;
                        return Ok(());
                    }
                    let ord = cmp_progress(
                        (fence.position.as_ref(), fence.cursor.as_ref()),
                        (b.position.as_ref(), b.cursor.as_ref()),
                    );
                    if ord == Ordering::Less && operation.is_some() {
                        info!(operation, fence = ?fence.position, bookmark = ?b.position, "moving the bookmark back to the fence");
                    } else if ord == Ordering::Less {
                        warn!(
                            fence = ?fence.position, fence_cursor = ?fence.cursor.as_ref().map(|c| c.next_slice),
                            bookmark = ?b.position, bookmark_cursor = ?b.cursor.as_ref().map(|c| c.next_slice),
                            "the bookmark is ahead of the PostgreSQL fence (database restored from a backup, or an \
                             operation interrupted?): the fence wins, reloading from it"
                        );
                    } else if ord == Ordering::Greater {
                        info!(fence = ?fence.position, bookmark = ?b.position, "fast-forwarding the bookmark to the fence");
                    }
                    let mode = if ord == Ordering::Less {
                        WriteMode::Rewind
                    } else {
                        WriteMode::Forward
                    };
                    (m, b.version, mode)
                }
            };
            match self.pipe.bookmarks.write(&target, expected, mode).await {
                Ok(b) => {
                    self.bookmark = Some(b);
                    return Ok(());
                }
                Err(e) if e.is_stale() => continue,
                Err(e) => return Err(SyncError::bookmark(self.id(), e)),
            }
        }
        Err(SyncError::bookmark(
            self.id(),
            BookmarkError::Contention {
                pipeline: self.pipeline().to_string(),
                table: self.id().to_string(),
                attempts: 8,
            },
        ))
    }

    /// Mirror the fence into the bookmark after a commit. Failures are logged, not returned:
    /// the fence is the truth and the next pass's reconcile repairs the bookmark.
    async fn advance_bookmark(&mut self) {
        let Ok(fence) = self.fence().cloned() else {
            return;
        };
        for _ in 0..4 {
            let base = match &self.bookmark {
                Some(b) => b.clone(),
                None => Bookmark::new(self.pipeline(), self.id()),
            };
            let mut target = mirror(&base, &fence);
            target.last_error = None;
            match self
                .pipe
                .bookmarks
                .write(&target, base.version, WriteMode::Forward)
                .await
            {
                Ok(b) => {
                    self.report.bookmark_version = Some(b.version);
                    self.bookmark = Some(b);
                    return;
                }
                Err(e) if e.is_stale() => {
                    match self.pipe.bookmarks.get(self.pipeline(), self.id()).await {
                        Ok(b) => self.bookmark = b,
                        Err(e) => {
                            warn!(error = %e, "bookmark write lost a race and the re-read failed; the next pass reconciles");
                            return;
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "bookmark write failed after commit; the next pass reconciles it from the fence");
                    return;
                }
            }
        }
        warn!("bookmark write kept losing races; the next pass reconciles it from the fence");
    }

    /// One attempt: load, then the window loop.
    async fn attempt(&mut self, applier: &mut Applier) -> SyncResult<PassOutcome> {
        self.load(applier).await?;
        if let Some(Bookmark {
            state: BookmarkState::Paused { reason },
            ..
        }) = &self.bookmark
        {
            return Ok(PassOutcome::Paused {
                reason: reason.clone(),
            });
        }
        if let FenceStatus::NeedsResync { reason } = &self.fence()?.status {
            return Ok(PassOutcome::NeedsResync {
                reason: reason.clone(),
            });
        }
        self.windows(applier).await
    }

    fn finish(&self) -> PassOutcome {
        if self.report.transactions > 0 {
            PassOutcome::Applied(PassReport::default())
        } else {
            PassOutcome::UpToDate {
                position: self.fence.as_ref().and_then(|f| f.position.clone()),
                blocked_by_pending: None,
            }
        }
    }

    /// Plan and apply windows until up to date, the step is done, or the deadline.
    pub async fn windows(&mut self, applier: &mut Applier) -> SyncResult<PassOutcome> {
        loop {
            self.renew_lease().await?;
            let window = match self.next_window(applier).await? {
                NextWindow::Apply(window) => window,
                NextWindow::End(outcome) => return Ok(*outcome),
                NextWindow::Again => continue,
            };
            if let Some(outcome) = self.apply_window(applier, *window).await? {
                return Ok(outcome);
            }
        }
    }

    /// Apply one planned window; `Some` ends the pass with that outcome.
    async fn apply_window(
        &mut self,
        applier: &mut Applier,
        window: Window,
    ) -> SyncResult<Option<PassOutcome>> {
        let (plan, end, start) = (&window.plan, &window.end, window.first_slice);
        self.pipe.progress(ProgressEvent::Planned {
            table: self.id().to_string(),
            window_end: end.clone(),
            instants: plan.instants.len(),
            slices: plan.slices.len(),
            first_slice: start,
            instants_after: window.instants_after,
        });
        if window.snapshot && window.resync_id.is_none() {
            self.report.bootstrap = true;
            info!(end = %end, slices = plan.slices.len(), first_slice = start,
                  "bootstrapping a new table from its snapshot (no history needed)");
        }
        let span = info_span!("window", end = %end, instants = plan.instants.len(),
                              slices = plan.slices.len(), start, snapshot = window.snapshot);
        let ended = match self
            .run_window(
                applier,
                plan,
                &window.plan_id,
                start,
                end,
                window.resync_id.as_deref(),
            )
            .instrument(span)
            .await
        {
            Ok(e) => e,
            Err(e) if e.needs_resync() => {
                let reload = matches!(&e, SyncError::Hudi { source, .. } if matches!(**source, HudiError::RewrittenHistory { .. }));
                return self
                    .needs_resync(applier, e.to_string(), reload)
                    .await
                    .map(Some);
            }
            Err(e) if !self.one_instant && narrows(&e, plan) => {
                info!(error = %e, "a schema change stopped a window of several instants: one instant per window");
                self.one_instant = true;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.report.remaining_instants = window.instants_after;
        if let WindowEnd::Stopped = ended {
            return Ok(Some(PassOutcome::MoreToDo(PassReport::default())));
        }
        let applied = plan.instants.iter().map(|i| to_position(&i.position()));
        self.report.instants.extend(applied);
        // the window's end is the newest instant applied so far (for the lag)
        if window.end_completed_at.is_some() {
            self.report.newest_completed_at = window.end_completed_at;
        }
        if self.mode == PassMode::Step || self.deadline_passed() {
            return Ok(Some(
                if window.instants_after > 0 && self.mode == PassMode::ToLatest {
                    PassOutcome::MoreToDo(PassReport::default())
                } else {
                    PassOutcome::Applied(PassReport::default())
                },
            ));
        }
        Ok(None)
    }

    /// How many instants an incremental window takes at most.
    fn window_instants(&self) -> usize {
        match self.mode {
            PassMode::Step => 1,
            PassMode::ToLatest if self.one_instant => 1,
            PassMode::ToLatest => self.pipe.options.max_instants_per_window.max(1),
        }
    }

    /// The snapshot plan as of `until`.
    async fn plan_snapshot(
        &self,
        timeline: &hps_hudi::Timeline,
        until: &str,
    ) -> Result<IncrementalPlan, HudiError> {
        self.table
            .hudi
            .plan_snapshot_with_timeline(timeline, Some(until))
            .await
    }

    /// Record that the table needs a resync, in the fence and the bookmark.
    async fn needs_resync(
        &mut self,
        applier: &mut Applier,
        reason: String,
        reload: bool,
    ) -> SyncResult<PassOutcome> {
        warn!(%reason, reload, "incremental sync impossible: the table needs a resync");
        let mut new = self.fence()?.clone();
        new.status = FenceStatus::NeedsResync {
            reason: reason.clone(),
        };
        new.needs_reload = reload;
        self.commit_fence_only(applier, new).await?;
        self.advance_bookmark().await;
        Ok(PassOutcome::NeedsResync { reason })
    }

    /// Write the fence alone in its own transaction (compare-and-set).
    pub(crate) async fn commit_fence_only(
        &mut self,
        applier: &mut Applier,
        new: Fence,
    ) -> SyncResult<()> {
        let expected = self.fence()?.version;
        let id = self.id().to_string();
        let fence_table = &self.table.fence_table;
        let nothing = async |_: &Transaction<'_>| Ok(());
        let (f, ()) = fence_transaction(
            applier,
            fence_table,
            &id,
            "fence update",
            &new,
            expected,
            nothing,
        )
        .await?;
        self.fence = Some(f);
        Ok(())
    }

    async fn finish_empty_resync(
        &mut self,
        applier: &mut Applier,
        resync_id: &str,
    ) -> SyncResult<()> {
        info!("the table is empty: finishing the resync with an empty snapshot");
        let expected = self.fence()?.version;
        let mut new = self.fence()?.clone();
        new.status = FenceStatus::Active;
        new.cursor = None;
        let id = self.id().to_string();
        let (fence_table, spec, pipeline) =
            (&self.table.fence_table, &self.table.spec, &self.pipe.name);
        let remove_absent = async |tx: &Transaction<'_>| {
            let removed = fence_table
                .remove_absent_keys(tx, spec, pipeline, &id, resync_id)
                .await
                .map_err(|e| SyncError::pg(&id, e))?;
            fence_table
                .clear_resync_keys(tx, pipeline, &id)
                .await
                .map_err(|e| SyncError::pg(&id, e))?;
            Ok(removed)
        };
        let what = "end of an empty resync";
        let (f, removed) = fence_transaction(
            applier,
            fence_table,
            &id,
            what,
            &new,
            expected,
            remove_absent,
        )
        .await?;
        self.fence = Some(f);
        self.report.resync_removed += removed;
        self.report.transactions += 1;
        self.advance_bookmark().await;
        Ok(())
    }

    /// Apply slices `start..` of one window in transactions.
    async fn run_window(
        &mut self,
        applier: &mut Applier,
        plan: &IncrementalPlan,
        pid: &str,
        start: usize,
        end: &Position,
        resync_id: Option<&str>,
    ) -> SyncResult<WindowEnd> {
        let n = plan.slices.len();
        let w = WindowCtx {
            plan,
            plan_id: pid,
            window_end: end,
            resync_id,
            bulk: resync_id.is_none()
                && self.fence()?.position.is_none()
                && self.table.src.after_apply.is_empty(),
        };
        if start >= n || (!plan.snapshot && !plan.instants.iter().any(|i| i.adds_rows)) {
            // nothing to read (table services only, or everything applied): move the fence
            let tx_progress = Mutex::new(TxProgress {
                first_slice: start,
                next_slice: n,
                ..Default::default()
            });
            self.transaction(applier, &w, None, &tx_progress, None)
                .await?;
            return Ok(WindowEnd::Done);
        }
        let options = ReadOptions {
            columns: self.read_columns().await?,
            batch_size: self.pipe.options.read_batch_size,
        };
        let mut feed = Feed::start(
            self.table.hudi.clone(),
            Arc::new(plan.clone()),
            start,
            options,
            ReadAhead {
                batches: self.pipe.options.prefetch_batches,
                slices: self.pipe.options.read_ahead_slices,
                bytes: self.pipe.options.read_ahead_bytes,
            },
        );
        let mut next = start;
        loop {
            let tx_progress = Mutex::new(TxProgress::new(next));
            let schema = self.prescan(&mut feed, &tx_progress, &w).await?;
            if lock(&tx_progress).slices() == 0 && schema.is_none() {
                let why = feed
                    .task_failure()
                    .unwrap_or_else(|| "the slice feed ended early".to_string());
                return Err(SyncError::Internal {
                    table: self.id().to_string(),
                    reason: format!("{why} (at slice {next} of {n})"),
                });
            }
            self.transaction(applier, &w, Some(&mut feed), &tx_progress, schema)
                .await?;
            next = lock(&tx_progress).next_slice;
            if next >= n {
                return Ok(WindowEnd::Done);
            }
            if self.deadline_passed() {
                info!(
                    next_slice = next,
                    slices = n,
                    "deadline reached inside a window; stopping at a slice boundary"
                );
                return Ok(WindowEnd::Stopped);
            }
            self.renew_lease().await?;
        }
    }

    /// Whether a transaction holding `p` must not take a further slice of `size` bytes.
    fn tx_full(&self, p: &TxProgress, size: u64) -> bool {
        let o = &self.pipe.options;
        p.slices() > 0
            && (p.rows >= o.max_rows_per_txn
                || p.bytes.saturating_add(size) > o.max_bytes_per_txn
                || self.deadline_passed())
    }

    /// Take leading slices without rows into the transaction; return the schema of the first
    /// slice with rows (left in the feed for the batch stream), or `None` when the
    /// transaction is complete without rows.
    async fn prescan(
        &self,
        feed: &mut Feed,
        tx_progress: &Mutex<TxProgress>,
        w: &WindowCtx<'_>,
    ) -> SyncResult<Option<SchemaRef>> {
        loop {
            let Some(peeked) = feed.peek().await else {
                if lock(tx_progress).open.is_some() {
                    let reason = feed
                        .task_failure()
                        .unwrap_or_else(|| "the slice feed ended inside a slice".into());
                    return Err(SyncError::Internal {
                        table: self.id().to_string(),
                        reason,
                    });
                }
                return Ok(None);
            };
            match peeked {
                Peeked::Start {
                    slice,
                    size,
                    schema,
                } => {
                    if self.tx_full(&lock(tx_progress), size) {
                        return Ok(None);
                    }
                    if let Some(schema) = schema {
                        return Ok(Some(self.mapped_schema(&schema)));
                    }
                    feed.take().await;
                    let mut p = lock(tx_progress);
                    p.open = Some(slice);
                    p.bytes += size;
                }
                Peeked::End => {
                    if let Some(Msg::End { slice, rows }) = feed.take().await {
                        let mut p = lock(tx_progress);
                        p.open = None;
                        p.next_slice = slice + 1;
                        drop(p);
                        self.pipe.progress(ProgressEvent::SliceRead {
                            table: self.id().to_string(),
                            slice,
                            slices: w.slices(),
                            rows,
                        });
                    }
                }
                Peeked::Failed => {
                    if let Some(Msg::Failed(e)) = feed.take().await {
                        return Err(SyncError::hudi(self.id(), e));
                    }
                }
                Peeked::Batch => {
                    return Err(SyncError::Internal {
                        table: self.id().to_string(),
                        reason: "a batch outside a slice".into(),
                    });
                }
            }
        }
    }

    /// One transaction: the batches of the slices that fit (through the apply path), or no
    /// batches at all (a fence-only transaction), then the fence, then COMMIT, then the
    /// bookmark.
    async fn transaction(
        &mut self,
        applier: &mut Applier,
        w: &WindowCtx<'_>,
        feed: Option<&mut Feed>,
        tx_progress: &Mutex<TxProgress>,
        schema: Option<SchemaRef>,
    ) -> SyncResult<()> {
        let fence_before = self.fence()?.clone();
        let load_id = format!(
            "f{}-{}",
            fence_before.version + 1,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let span =
            info_span!("txn", load_id = %load_id, first_slice = lock(tx_progress).first_slice);
        async {
            let hook = CommitHook { run: &*self, w, tx_progress, load_id: &load_id, result: Mutex::new(None) };
            let applied: Result<(), PgError> = match (schema, feed) {
                (Some(schema), Some(feed)) => {
                    let stream = BatchStream {
                        run: &*self,
                        feed,
                        tx_progress,
                        schema: schema.clone(),
                        done: false,
                        resync: w.resync_id.is_some(),
                        slices: w.slices(),
                    }
                    .into_stream();
                    let mode = if w.bulk {
                        LoadMode::Bootstrap { first: lock(tx_progress).first_slice == 0 }
                    } else {
                        LoadMode::Upsert
                    };
                    applier
                        .apply_as(&self.spec_at(w), &load_id, &schema, stream, Some(&hook), mode)
                        .await
                        .map(|stats| lock(tx_progress).applied = stats)
                }
                _ => fence_only(applier, &hook).await,
            };
            let hooked = lock(&hook.result).take();
            let stream_failure = lock(tx_progress).failure.take();
            match (applied, hooked) {
                (Ok(()), Some(Ok(f))) => Ok(f),
                (Ok(()), _) => Err(SyncError::Internal { table: self.id().to_string(), reason: "the fence hook did not run".into() }),
                (Err(_), Some(Err(e))) => Err(e),
                (Err(e), hooked) => {
                    if let Some(f) = stream_failure {
                        return Err(f);
                    }
                    if matches!(hooked, Some(Ok(_))) || e.is_transient() {
                        // the failure may have hit COMMIT itself: did this load commit?
                        applier.connection().reset();
                        if let Ok(client) = applier.connection().client().await
                            && let Ok(Some(f)) = self.table.fence_table.read(&*client, &self.pipe.name, self.id()).await
                            && f.load_id.as_deref() == Some(load_id.as_str())
                        {
                            warn!(error = %e, "the commit reported an error but the fence shows it committed");
                            return Ok((f, 0));
                        }
                    }
                    Err(self.pg(e))
                }
            }
        }
        .instrument(span)
        .await
        .map(|f| self.after_commit(f, tx_progress, w))?;
        self.failpoint(failpoint::AFTER_COMMIT_BEFORE_BOOKMARK)
            .await?;
        self.advance_bookmark().await;
        self.failpoint(failpoint::AFTER_BOOKMARK).await?;
        Ok(())
    }

    /// The target with the window's instants named (schema history, schema-change errors):
    /// the instant, or `first..last` of the instants that add rows.
    fn spec_at(&self, w: &WindowCtx<'_>) -> TargetTable {
        let times: Vec<&str> = w
            .plan
            .instants
            .iter()
            .filter(|i| i.adds_rows)
            .map(|i| i.requested_time.as_str())
            .collect();
        let instant = match (times.first(), times.last()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => w.window_end.requested_time.clone(),
        };
        let mut spec = self.table.spec.clone();
        spec.source = Some(hps_postgres::ChangeSource {
            table_id: self.id().to_string(),
            instant: Some(instant),
        });
        spec
    }

    fn after_commit(
        &mut self,
        f: (Fence, u64),
        tx_progress: &Mutex<TxProgress>,
        w: &WindowCtx<'_>,
    ) {
        let (fence, removed) = f;
        let p = lock(tx_progress);
        self.report.transactions += 1;
        self.report.rows += p.rows;
        self.report.upserted += p.applied.inserted + p.applied.updated;
        self.report.deleted += p.applied.deleted;
        self.report.quarantined += p.applied.quarantined;
        self.report.slices += (p.next_slice - p.first_slice) as u64;
        self.report.resync_removed += removed;
        let window_done = fence.cursor.is_none();
        info!(
            rows = p.rows,
            slices = p.next_slice - p.first_slice,
            next_slice = p.next_slice,
            of = w.slices(),
            fence_version = fence.version,
            window_done,
            "committed"
        );
        self.pipe.progress(ProgressEvent::Committed {
            table: self.id().to_string(),
            rows: self.report.rows,
            slices_done: p.next_slice,
            slices: w.slices(),
            window_done,
        });
        drop(p);
        self.fence = Some(fence);
    }

    /// Inside the transaction: resync keys, the fence compare-and-set, the commit failpoint.
    async fn commit_step(
        &self,
        tx: &Transaction<'_>,
        w: &WindowCtx<'_>,
        tx_progress: &Mutex<TxProgress>,
        load_id: &str,
        stats: &ApplyStats,
    ) -> SyncResult<(Fence, u64)> {
        let id = self.id();
        let fence = self.fence()?;
        let (first, next, rows, keys, parts) = {
            let mut p = lock(tx_progress);
            (
                p.first_slice,
                p.next_slice,
                p.rows,
                std::mem::take(&mut p.record_keys),
                std::mem::take(&mut p.partition_paths),
            )
        };
        let n = w.slices();
        self.bootstrap_step(tx, w, first == 0 && rows == 0, next >= n)
            .await?;
        let mut new = fence.clone();
        new.rows_applied = new.rows_applied.saturating_add(rows);
        new.load_id = Some(load_id.to_string());
        new.table_version = self.table.hudi.config().table_version;
        new.staging = Some(self.table.staging_q.clone());
        let mut removed = 0;
        if let Some(rid) = w.resync_id
            && !keys.is_empty()
        {
            self.table
                .fence_table
                .insert_resync_keys(tx, &self.pipe.name, id, rid, &keys, &parts)
                .await
                .map_err(|e| SyncError::pg(id, e))?;
        }
        if next >= n {
            new.position = Some(w.window_end.clone());
            new.cursor = None;
            if let Some(rid) = w.resync_id {
                removed = self
                    .table
                    .fence_table
                    .remove_absent_keys(tx, &self.table.spec, &self.pipe.name, id, rid)
                    .await
                    .map_err(|e| SyncError::pg(id, e))?;
                self.table
                    .fence_table
                    .clear_resync_keys(tx, &self.pipe.name, id)
                    .await
                    .map_err(|e| SyncError::pg(id, e))?;
                new.status = FenceStatus::Active;
                info!(
                    removed,
                    "resync snapshot complete; rows absent from it removed"
                );
            }
        } else {
            new.cursor = Some(SliceCursor {
                window_end: w.window_end.clone(),
                plan_id: w.plan_id.to_string(),
                next_slice: next as u64,
                next_slice_id: w.plan.slices.get(next).map(|s| s.file_id.clone()),
                total_slices: Some(n as u64),
            });
        }
        let statements = &self.table.src.after_apply;
        if rows > 0 && !statements.is_empty() {
            let facts = crate::after_apply::LoadFacts {
                load_id,
                window_from: fence.position.as_ref().map(|p| p.to_string()),
                window_to: w.window_end.to_string(),
                rows,
                stats,
            };
            crate::after_apply::run(tx, statements, &facts)
                .await
                .map_err(|e| SyncError::pg(id, e))?;
        }
        let f = commit_cas(&self.table.fence_table, tx, id, &new, fence.version).await?;
        self.failpoint(failpoint::AFTER_UPSERT_BEFORE_COMMIT)
            .await?;
        Ok((f, removed))
    }
}

impl Run<'_> {
    /// Drop the slices and replaced file groups of the partitions the table's partition
    /// filter rejects (before the plan id is taken, so a changed filter restarts a window).
    fn prune_partitions(&self, plan: &mut IncrementalPlan) -> SyncResult<()> {
        let Some(f) = &self.table.src.partition_filter else {
            return Ok(());
        };
        let fields = &self.table.hudi.config().partition_fields;
        if f.matches("", fields).is_none() {
            return Err(SyncError::Target {
                table: self.id().to_string(),
                reason: format!(
                    "the partition filter's column {:?} is not a partition field of the table ({})",
                    f.column,
                    fields.join(", ")
                ),
            });
        }
        let keep = |p: &str| f.matches(p, fields) == Some(true);
        plan.slices.retain(|s| keep(&s.partition_path));
        plan.replaced.retain(|r| keep(&r.partition_path));
        Ok(())
    }

    /// The projection of the table's reads: `None` (everything) unless the column mapping
    /// selects columns, then the table schema's columns that reach staging.
    async fn read_columns(&self) -> SyncResult<Option<Vec<String>>> {
        let mapping = &self.table.src.columns;
        if mapping.select == crate::columns::ColumnSelect::All {
            return Ok(None);
        }
        let schema = self
            .table
            .hudi
            .table_schema()
            .await
            .map_err(|e| SyncError::hudi(self.id(), e))?;
        Ok(mapping.read_columns(schema.as_deref(), &self.table.required))
    }

    /// A slice's schema as staging sees it (through the column mapping).
    fn mapped_schema(&self, schema: &SchemaRef) -> SchemaRef {
        if self.table.src.columns.is_identity() {
            return schema.clone();
        }
        self.table
            .src
            .columns
            .map_schema(schema, &self.table.required)
    }

    /// The bulk bootstrap's part of a transaction: a window that starts without rows drops
    /// the shadow of an abandoned bootstrap; the window's last transaction swaps the shadow
    /// in (and a resync's drops a stale one).
    async fn bootstrap_step(
        &self,
        tx: &Transaction<'_>,
        w: &WindowCtx<'_>,
        starts_empty: bool,
        last: bool,
    ) -> SyncResult<()> {
        let id = self.id();
        let spec = &self.table.spec;
        if (w.bulk && starts_empty) || (w.resync_id.is_some() && last) {
            hps_postgres::discard_bootstrap(tx, spec)
                .await
                .map_err(|e| SyncError::pg(id, e))?;
        }
        if w.bulk && last {
            hps_postgres::finish_bootstrap(tx, spec)
                .await
                .map_err(|e| SyncError::pg(id, e))?;
        }
        Ok(())
    }
}

/// Whether `e` is a schema change refused under `on_schema_change` (freeze or stop) in an
/// incremental window of several instants that add rows: worth retrying instant by instant.
fn narrows(e: &SyncError, plan: &IncrementalPlan) -> bool {
    let refused = matches!(e, SyncError::Postgres { source, .. }
        if matches!(**source, PgError::SchemaFrozen { .. } | PgError::SchemaChangeStopped { .. }));
    refused && !plan.snapshot && plan.instants.iter().filter(|i| i.adds_rows).count() > 1
}

/// Whether planning a new table from the beginning failed only because history is missing
/// (archived or cleaned), so that a snapshot bootstrap can take its place.
pub(crate) fn bootstraps_instead(e: &HudiError, fence: &Fence) -> bool {
    fence.position.is_none() && e.needs_resync() && !matches!(e, HudiError::RewrittenHistory { .. })
}

/// A transaction without batches (only the fence moves): used for windows without rows.
async fn fence_only(applier: &mut Applier, hook: &CommitHook<'_, '_>) -> Result<(), PgError> {
    let client = applier.connection().client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::db("begin fence-only transaction", e))?;
    let stats = ApplyStats::default();
    hook.run(&tx, &stats).await?;
    tx.commit()
        .await
        .map_err(|e| PgError::db("commit fence-only transaction", e))
}

/// The apply path's hook: runs [`Run::commit_step`] inside the apply transaction.
struct CommitHook<'r, 'w> {
    run: &'r Run<'r>,
    w: &'r WindowCtx<'w>,
    tx_progress: &'r Mutex<TxProgress>,
    load_id: &'r str,
    result: Mutex<Option<SyncResult<(Fence, u64)>>>,
}

impl TxnHook for CommitHook<'_, '_> {
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        stats: &'a ApplyStats,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            let r = self
                .run
                .commit_step(tx, self.w, self.tx_progress, self.load_id, stats)
                .await;
            let out = match &r {
                Ok(_) => Ok(()),
                Err(e) => Err(PgError::custom(e.to_string())),
            };
            *lock(&self.result) = Some(r);
            out
        })
    }
}

/// The error a batch stream yields when it stops on a failure recorded in [`TxProgress`].
#[derive(Debug, thiserror::Error)]
#[error("change batch stream stopped: {0}")]
struct StreamStopped(String);

/// The batches of one transaction, drawn from the feed until the next slice does not fit.
struct BatchStream<'r, 'f> {
    run: &'r Run<'r>,
    feed: &'f mut Feed,
    tx_progress: &'r Mutex<TxProgress>,
    schema: SchemaRef,
    done: bool,
    resync: bool,
    slices: usize,
}

fn same_fields(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type().equals_datatype(y.data_type()))
}

impl<'r, 'f> BatchStream<'r, 'f> {
    fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<RecordBatch, StreamStopped>> + Send + use<'r, 'f> {
        futures::stream::unfold(self, |mut s| async move {
            let item = s.next_item().await;
            item.map(|i| (i, s))
        })
    }

    fn fail(&mut self, e: SyncError) -> Option<Result<RecordBatch, StreamStopped>> {
        let msg = e.to_string();
        lock(self.tx_progress).failure = Some(e);
        self.done = true;
        Some(Err(StreamStopped(msg)))
    }

    async fn end(&mut self) -> Option<Result<RecordBatch, StreamStopped>> {
        self.done = true;
        let sent = lock(self.tx_progress).batches > 0;
        if sent && let Err(e) = self.run.failpoint(failpoint::AFTER_COPY).await {
            return self.fail(e);
        }
        None
    }

    async fn next_item(&mut self) -> Option<Result<RecordBatch, StreamStopped>> {
        loop {
            if self.done {
                return None;
            }
            let Some(peeked) = self.feed.peek().await else {
                if lock(self.tx_progress).open.is_some() {
                    let id = self.run.id().to_string();
                    let reason = self
                        .feed
                        .task_failure()
                        .unwrap_or_else(|| "the slice feed ended inside a slice".into());
                    return self.fail(SyncError::Internal { table: id, reason });
                }
                return self.end().await;
            };
            match peeked {
                Peeked::Start {
                    slice,
                    size,
                    schema,
                } => {
                    let differs = schema
                        .as_ref()
                        .is_some_and(|s| !same_fields(&self.run.mapped_schema(s), &self.schema));
                    let full = {
                        let p = lock(self.tx_progress);
                        p.slices() > 0 && (differs || self.run.tx_full(&p, size))
                    };
                    if full {
                        return self.end().await;
                    }
                    self.feed.take().await;
                    let mut p = lock(self.tx_progress);
                    p.open = Some(slice);
                    p.bytes += size;
                }
                Peeked::Batch => {
                    let Some(Msg::Batch(b)) = self.feed.take().await else {
                        continue;
                    };
                    let b = match self
                        .run
                        .table
                        .src
                        .columns
                        .map_batch(&b, &self.run.table.required)
                    {
                        Ok(b) => b,
                        Err(reason) => {
                            let table = self.run.id().to_string();
                            return self.fail(SyncError::Target { table, reason });
                        }
                    };
                    let sent = lock(self.tx_progress).batches > 0;
                    if sent && let Err(e) = self.run.failpoint(failpoint::MID_COPY).await {
                        return self.fail(e);
                    }
                    let mut p = lock(self.tx_progress);
                    p.rows += b.num_rows() as u64;
                    p.batches += 1;
                    if self.resync {
                        collect_keys(&b, &mut p);
                    }
                    return Some(Ok(b));
                }
                Peeked::End => {
                    if let Some(Msg::End { slice, rows }) = self.feed.take().await {
                        let mut p = lock(self.tx_progress);
                        p.open = None;
                        p.next_slice = slice + 1;
                        drop(p);
                        self.run.pipe.progress(ProgressEvent::SliceRead {
                            table: self.run.id().to_string(),
                            slice,
                            slices: self.slices,
                            rows,
                        });
                    }
                }
                Peeked::Failed => {
                    if let Some(Msg::Failed(e)) = self.feed.take().await {
                        let e: HudiError = e;
                        let id = self.run.id().to_string();
                        return self.fail(SyncError::hudi(&id, e));
                    }
                }
            }
        }
    }
}

/// Record the keys of the upserted rows of a batch (resync).
fn collect_keys(b: &RecordBatch, p: &mut TxProgress) {
    fn strings(a: &dyn Array, i: usize) -> Option<String> {
        if a.is_null(i) {
            return None;
        }
        if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
            Some(s.value(i).to_string())
        } else if let Some(s) = a.as_any().downcast_ref::<LargeStringArray>() {
            Some(s.value(i).to_string())
        } else {
            a.as_any()
                .downcast_ref::<StringViewArray>()
                .map(|s| s.value(i).to_string())
        }
    }
    let (Some(k), Some(op)) = (
        b.column_by_name(hps_postgres::COL_RECORD_KEY),
        b.column_by_name(hps_hudi::OP_COLUMN),
    ) else {
        return;
    };
    let part = b.column_by_name(hps_postgres::COL_PARTITION_PATH);
    for i in 0..b.num_rows() {
        if strings(op.as_ref(), i).as_deref() != Some(hps_hudi::OP_UPSERT) {
            continue;
        }
        if let Some(key) = strings(k.as_ref(), i) {
            p.record_keys.push(key);
            p.partition_paths.push(
                part.and_then(|c| strings(c.as_ref(), i))
                    .unwrap_or_default(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(r: &str, c: &str) -> Position {
        Position::completed(r, c)
    }

    fn cursor(end: Position, next: u64) -> SliceCursor {
        SliceCursor {
            window_end: end,
            plan_id: "x".into(),
            next_slice: next,
            next_slice_id: None,
            total_slices: None,
        }
    }

    fn fence(
        position: Option<Position>,
        cursor: Option<SliceCursor>,
        status: FenceStatus,
    ) -> Fence {
        Fence {
            pipeline: "p".into(),
            table: "t".into(),
            version: 7,
            position,
            table_version: 9,
            cursor,
            rows_applied: 42,
            status,
            load_id: None,
            staging: None,
            applied_at: Utc::now(),
            needs_reload: false,
        }
    }

    #[test]
    fn progress_order_of_positions_and_cursors() {
        let (a, b) = (pos("001", "002"), pos("003", "004"));
        let ca = cursor(b.clone(), 3);
        let ca2 = cursor(b.clone(), 5);
        assert_eq!(cmp_progress((None, None), (None, None)), Ordering::Equal);
        assert_eq!(cmp_progress((None, None), (Some(&a), None)), Ordering::Less);
        assert_eq!(
            cmp_progress((Some(&a), None), (Some(&b), None)),
            Ordering::Less
        );
        // a cursor inside the window after `a` is beyond `a`, but before `b`
        assert_eq!(
            cmp_progress((Some(&a), Some(&ca)), (Some(&a), None)),
            Ordering::Greater
        );
        assert_eq!(
            cmp_progress((Some(&a), Some(&ca)), (Some(&b), None)),
            Ordering::Less
        );
        assert_eq!(
            cmp_progress((Some(&a), Some(&ca)), (Some(&a), Some(&ca2))),
            Ordering::Less
        );
        assert_eq!(
            cmp_progress((None, Some(&ca)), (None, Some(&ca))),
            Ordering::Equal
        );
    }

    #[test]
    fn mirror_copies_the_fence_and_keeps_a_pause() {
        let f = fence(
            Some(pos("001", "002")),
            Some(cursor(pos("003", "004"), 2)),
            FenceStatus::Active,
        );
        let mut b = Bookmark::new("p", "t");
        b.properties.insert("other".into(), "kept".into());
        let m = mirror(&b, &f);
        assert_eq!(m.position, f.position);
        assert_eq!(m.cursor, f.cursor);
        assert_eq!(m.rows_applied, 42);
        assert_eq!(m.table_version, 9);
        assert_eq!(m.state, BookmarkState::Active);
        assert_eq!(
            m.properties.get(PROP_FENCE_VERSION).map(String::as_str),
            Some("7")
        );
        assert_eq!(m.properties.get("other").map(String::as_str), Some("kept"));
        assert!(same_state(&m, &mirror(&m, &f)));

        b.state = BookmarkState::Paused {
            reason: Some("ops".into()),
        };
        let f2 = fence(
            None,
            None,
            FenceStatus::NeedsResync {
                reason: "gone".into(),
            },
        );
        assert_eq!(mirror(&b, &f2).state, b.state, "a pause survives");
        b.state = BookmarkState::Active;
        assert_eq!(
            mirror(&b, &f2).state,
            BookmarkState::NeedsResync {
                reason: "gone".into()
            }
        );
        let f3 = fence(
            None,
            None,
            FenceStatus::Resyncing {
                resync_id: "r".into(),
            },
        );
        let r = mirror(&b, &f3);
        assert!(matches!(r.state, BookmarkState::Resyncing { .. }));
        assert_eq!(
            mirror(&r, &f3).state,
            r.state,
            "the resync start time is kept"
        );
        assert_eq!(mirror(&r, &f).state, BookmarkState::Active);
    }

    #[test]
    fn plan_id_separates_instants_and_slices() {
        let instants = [("001", Some("0019")), ("002", Some("0029"))];
        let slices = [
            vec!["p", "a", "p/a_1.parquet"],
            vec!["p", "b", "p/b_1.parquet"],
        ];
        let id = plan_id_of(instants.iter().copied(), slices.iter().cloned());
        assert_eq!(id.len(), 32);
        assert_eq!(
            id,
            plan_id_of(instants.iter().copied(), slices.iter().cloned())
        );
        let other = [
            vec!["p", "a", "p/a_1.parquet"],
            vec!["p", "b", "p/b_2.parquet"],
        ];
        let id2 = plan_id_of(instants.iter().copied(), other.iter().cloned());
        assert_eq!(id[..16], id2[..16], "same instants");
        assert_ne!(id[16..], id2[16..], "different slices");
        let id3 = plan_id_of(instants[..1].iter().copied(), slices.iter().cloned());
        assert_ne!(id[..16], id3[..16]);
        // field and slice boundaries are unambiguous
        let shifted = [
            vec!["pa", "", "p/a_1.parquet"],
            vec!["p", "b", "p/b_1.parquet"],
        ];
        assert_ne!(
            id,
            plan_id_of(instants.iter().copied(), shifted.iter().cloned())
        );
        let merged = [vec!["p", "a", "p/a_1.parquet", "p", "b", "p/b_1.parquet"]];
        assert_ne!(
            id,
            plan_id_of(instants.iter().copied(), merged.iter().cloned())
        );
    }
}
