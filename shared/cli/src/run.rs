//! `hudi-pg-sync run`: sync passes of one table until it is up to date (or, with `--watch`,
//! keep polling the timeline and apply new commits as they complete), through the same
//! pipeline core as the Lambda loader ([`SyncPipeline::run_pass`]).
//!
//! Each pass gets a time budget ([`PASS_BUDGET`]); a pass that runs out commits what it read
//! (a slice cursor in the fence) and the next pass resumes it, so a long backfill commits
//! progress regularly and Ctrl-C stops it at the next pass boundary. Output: one line per
//! applied instant with `--step` (one line per pass otherwise) on stdout, a progress bar on
//! stderr when it is a terminal, and a closing summary.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hps_hudi::HudiTable;
use hps_hudi::timeline::Timeline;
use hps_sync::{
    BusyReason, PassMode, PassOutcome, PassReport, Position, SyncOptions, SyncPipeline, TableSource,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::CliError;
use crate::lag::{freshness, human_duration, thousands};
use crate::progress::Progress;
use crate::setup::SyncArgs;

/// Time budget of one pass: it stops at a file-slice boundary after this long (and the
/// lease it holds expires this long plus a grace period after it started, should the
/// process die).
pub const PASS_BUDGET: Duration = Duration::from_secs(60);

/// Consecutive passes that lost the fence race before `run` gives up.
const MAX_FENCE_RACES: u32 = 5;

/// Consecutive passes reporting more work without committing anything before `run` gives up.
const MAX_EMPTY_PASSES: u32 = 10;

/// Arguments of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Apply one instant per pass and print a line for each (commit by commit).
    #[arg(long)]
    pub step: bool,
    /// Keep polling the timeline and apply new commits as they complete (Ctrl-C stops).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between polls with --watch.
    #[arg(long, default_value_t = 5.0, value_parser = parse_interval)]
    pub interval: f64,
    /// When another process holds the table's lease, wait for it instead of exiting (code 5).
    #[arg(long)]
    pub wait: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// A transaction stops adding file slices once it holds this many change rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_rows_per_txn: u64,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.1..=86_400.0).contains(&v) {
        return Err("the interval must be between 0.1 and 86400 seconds".into());
    }
    Ok(v)
}

/// Ctrl-C handling: the first press asks the loop to stop at the next pass boundary, the
/// second exits at once (the table's lease then expires on its own).
#[derive(Debug, Default)]
pub struct Interrupt {
    requested: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    /// Install the handler.
    pub fn install(progress: Arc<Progress>) -> Arc<Self> {
        let me = Arc::new(Interrupt::default());
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let Some(me) = weak.upgrade() else { return };
                if me.requested.swap(true, Ordering::SeqCst) {
                    progress.eprintln("aborted");
                    std::process::exit(130);
                }
                progress
                    .eprintln("stopping after the current pass (Ctrl-C again to abort at once)…");
                me.notify.notify_one();
            }
        });
        me
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleep for `d` unless a stop is requested first.
    pub async fn sleep(&self, d: Duration) {
        if self.requested() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.notify.notified() => {}
        }
    }
}

/// Names of instants for the output (`commit INSERT`), read from the timeline and commit
/// metadata once per instant.
pub struct Describer {
    hudi: HudiTable,
    timeline: Option<Timeline>,
    cache: HashMap<String, String>,
}

impl Describer {
    /// Over an opened table.
    pub fn new(hudi: HudiTable) -> Self {
        Describer {
            hudi,
            timeline: None,
            cache: HashMap::new(),
        }
    }

    /// The table.
    pub fn table(&self) -> &HudiTable {
        &self.hudi
    }

    /// `action OPERATION` of the instant at `p` (empty when unknown).
    pub async fn describe(&mut self, p: &Position) -> String {
        if let Some(d) = self.cache.get(&p.requested_time) {
            return d.clone();
        }
        let mut found = self
            .timeline
            .as_ref()
            .and_then(|t| t.completed_by_requested(&p.requested_time).cloned());
        if found.is_none()
            && let Ok(t) = self.hudi.timeline().await
        {
            found = t.completed_by_requested(&p.requested_time).cloned();
            self.timeline = Some(t);
        }
        let d = match found {
            Some(i) if i.action.is_write() => match self.hudi.commit_metadata(&i).await {
                Ok(m) => format!("{} {}", i.action, m.operation()),
                Err(_) => i.action.to_string(),
            },
            Some(i) => i.action.to_string(),
            None => String::new(),
        };
        self.cache.insert(p.requested_time.clone(), d.clone());
        d
    }
}

/// What a session of passes did.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Instants applied, in order.
    pub instants: Vec<Position>,
    /// Change rows applied.
    pub rows: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// File slices applied.
    pub slices: u64,
    /// Staging rows removed by a finishing resync.
    pub resync_removed: u64,
    /// A pass bootstrapped the table from its snapshot.
    pub bootstrap: bool,
    /// The fence position after the last pass.
    pub position: Option<Position>,
    /// When the session started.
    pub started: Instant,
}

impl Totals {
    /// Nothing yet.
    pub fn new() -> Self {
        Totals {
            instants: Vec::new(),
            rows: 0,
            transactions: 0,
            slices: 0,
            resync_removed: 0,
            bootstrap: false,
            position: None,
            started: Instant::now(),
        }
    }

    /// Add a pass.
    pub fn add(&mut self, r: &PassReport) {
        self.instants.extend(r.instants.iter().cloned());
        self.rows += r.rows;
        self.transactions += u64::from(r.transactions);
        self.slices += r.slices;
        self.resync_removed += r.resync_removed;
        self.bootstrap |= r.bootstrap;
        if r.position.is_some() {
            self.position = r.position.clone();
        }
    }

    /// Whether anything was applied.
    pub fn applied_anything(&self) -> bool {
        self.transactions > 0
    }

    /// `applied 12 instants in 2.1 s: 52 change rows (25 rows/s), 12 transactions, 14 file slices`.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = (self.rows as f64 / secs.max(0.001)).round() as u64;
        let n = self.instants.len();
        let how = if self.bootstrap {
            "bootstrapped from the table's snapshot (its history was archived or cleaned), "
        } else {
            ""
        };
        format!(
            "{how}applied {n} instant{} in {secs:.1} s: {} change rows ({} rows/s), {} transaction{}, {} file slice{}",
            if n == 1 { "" } else { "s" },
            thousands(self.rows),
            thousands(rate),
            self.transactions,
            if self.transactions == 1 { "" } else { "s" },
            self.slices,
            if self.slices == 1 { "" } else { "s" },
        )
    }
}

impl Default for Totals {
    fn default() -> Self {
        Self::new()
    }
}

/// The pipeline options of the CLI commands.
pub fn cli_options(progress: &Arc<Progress>, max_rows_per_txn: u64) -> SyncOptions {
    SyncOptions {
        max_rows_per_txn,
        progress: Some(progress.clone() as Arc<dyn hps_sync::ProgressSink>),
        ..SyncOptions::default()
    }
}

/// `position 2026… (completed 2026…) · up to date · lag 0 s · newest applied commit completed 3 h ago`.
pub async fn freshness_line(table: &HudiTable, position: Option<&Position>) -> String {
    let timeline = match table.timeline().await {
        Ok(t) => t,
        Err(e) => return format!("(cannot list the timeline: {e})"),
    };
    let now = Utc::now();
    let f = freshness(&timeline, &table.config().timeline_timezone, position, now);
    let mut out = match position {
        Some(p) => format!("position {p}"),
        None => "position: nothing applied yet".to_string(),
    };
    if f.instants_behind == 0 {
        out.push_str(" · up to date · lag 0 s");
    } else {
        out.push_str(&format!(
            " · {} instant{} behind",
            f.instants_behind,
            if f.instants_behind == 1 { "" } else { "s" }
        ));
        if let Some(l) = f.lag {
            out.push_str(&format!(" · lag {}", human_duration(l)));
        }
    }
    if let Some(t) = f.position_completed_at {
        let age = (now - t).to_std().unwrap_or(Duration::ZERO);
        out.push_str(&format!(
            " · newest applied commit completed {} ago",
            human_duration(age)
        ));
    }
    out
}

/// The `run` command.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    let src = args.sync.source(&args.table).await?;
    let hudi = HudiTable::open(src.store.clone()).await?;
    let progress = Arc::new(Progress::new(!args.no_progress));
    let pipe = args
        .sync
        .pipeline(cli_options(&progress, args.max_rows_per_txn))
        .await?;
    let interrupt = Interrupt::install(progress.clone());
    let mut describer = Describer::new(hudi);
    let out = sync_loop(&args, &pipe, &src, &progress, &interrupt, &mut describer).await;
    progress.finish();
    let (totals, end) = out?;
    summarize(&src, &totals, &end, &mut describer).await;
    match end {
        End::Interrupted if !args.watch => Err(CliError::Interrupted),
        _ => Ok(()),
    }
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Up to date.
    UpToDate {
        position: Option<Position>,
        blocked_by_pending: Option<String>,
    },
    /// The table is paused.
    Paused { reason: Option<String> },
    /// Ctrl-C.
    Interrupted,
}

async fn sync_loop(
    args: &RunArgs,
    pipe: &SyncPipeline,
    src: &TableSource,
    progress: &Progress,
    interrupt: &Interrupt,
    describer: &mut Describer,
) -> Result<(Totals, End), CliError> {
    let mode = if args.step {
        PassMode::Step
    } else {
        PassMode::ToLatest
    };
    let mut st = LoopState::new(args, src, progress);
    loop {
        if interrupt.requested() {
            return Ok((st.totals, End::Interrupted));
        }
        let deadline = Instant::now() + PASS_BUDGET;
        let outcome = match pipe.run_pass(src, Some(deadline), mode).await {
            Ok(o) => o,
            Err(e) if args.watch && e.is_transient() => {
                progress.eprintln(&format!("{} pass failed (will retry): {e}", clock()));
                interrupt.sleep(st.interval).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        st.count_streaks(&outcome);
        let next = match outcome {
            PassOutcome::Applied(r) | PassOutcome::MoreToDo(r)
                if r.transactions > 0 || !r.instants.is_empty() =>
            {
                st.progressed(&r);
                if !r.instants.is_empty() {
                    progress.instants_applied(r.instants.len());
                    let t = &st.totals;
                    report_instants(args, &r, t, st.pending_rows, progress, describer).await;
                    st.pending_rows = 0;
                }
                // more in this window, another step, or instants beyond a capped window
                Next::Again
            }
            other => st.after(other),
        };
        match next {
            Next::Again => {}
            Next::Sleep(d) => interrupt.sleep(d).await,
            Next::Done(end) => return Ok((st.totals, end)),
            Next::Fail(e) => return Err(e),
        }
    }
}

/// What the run loop does after a pass.
enum Next {
    /// Run the next pass now.
    Again,
    /// Wait this long (or until Ctrl-C), then run the next pass.
    Sleep(Duration),
    /// Stop: the run ended.
    Done(End),
    /// Stop with an error.
    Fail(CliError),
}

/// The run loop's state across passes: totals, streaks of unproductive passes, and which
/// waiting messages were already printed.
struct LoopState<'a> {
    args: &'a RunArgs,
    src: &'a TableSource,
    progress: &'a Progress,
    interval: Duration,
    totals: Totals,
    pending_rows: u64,
    fence_races: u32,
    empty_passes: u32,
    watching_announced: bool,
    busy_announced: bool,
    paused_announced: bool,
}

impl<'a> LoopState<'a> {
    fn new(args: &'a RunArgs, src: &'a TableSource, progress: &'a Progress) -> Self {
        LoopState {
            args,
            src,
            progress,
            interval: Duration::from_secs_f64(args.interval),
            totals: Totals::new(),
            pending_rows: 0,
            fence_races: 0,
            empty_passes: 0,
            watching_announced: false,
            busy_announced: false,
            paused_announced: false,
        }
    }

    /// A streak of fence races or of empty passes ends with any other outcome.
    fn count_streaks(&mut self, outcome: &PassOutcome) {
        if !matches!(outcome, PassOutcome::Busy(BusyReason::FenceMoved { .. })) {
            self.fence_races = 0;
        }
        if !matches!(outcome, PassOutcome::MoreToDo(_)) {
            self.empty_passes = 0;
        }
    }

    /// A pass that committed something.
    fn progressed(&mut self, r: &PassReport) {
        self.empty_passes = 0;
        self.busy_announced = false;
        self.paused_announced = false;
        self.totals.add(r);
        self.pending_rows += r.rows;
    }

    /// After a pass that committed nothing.
    fn after(&mut self, outcome: PassOutcome) -> Next {
        let watch = self.args.watch;
        match outcome {
            // nothing committed and nothing left: as up to date
            PassOutcome::Applied(r) if !watch => Next::Done(End::UpToDate {
                position: r.position,
                blocked_by_pending: None,
            }),
            PassOutcome::Applied(_) => Next::Sleep(self.interval),
            PassOutcome::MoreToDo(_) => self.empty_pass(),
            PassOutcome::UpToDate {
                position,
                blocked_by_pending,
            } if !watch => Next::Done(End::UpToDate {
                position,
                blocked_by_pending,
            }),
            PassOutcome::UpToDate { position, .. } => self.watching(position),
            PassOutcome::Busy(BusyReason::Lease { owner, expires_at }) => {
                self.busy(owner, expires_at)
            }
            PassOutcome::Busy(BusyReason::FenceMoved { expected, found }) => {
                self.fence_moved(expected, found)
            }
            PassOutcome::Paused { reason } if !watch => Next::Done(End::Paused { reason }),
            PassOutcome::Paused { reason } => self.paused(reason),
            PassOutcome::NeedsResync { reason } => Next::Fail(CliError::NeedsResync {
                table: self.src.id.clone(),
                reason,
            }),
        }
    }

    fn empty_pass(&mut self) -> Next {
        self.empty_passes += 1;
        if self.empty_passes > MAX_EMPTY_PASSES {
            return Next::Fail(CliError::Stalled(format!(
                "{}: {MAX_EMPTY_PASSES} passes in a row made no progress; see the log (RUST_LOG=info)",
                self.src.id
            )));
        }
        Next::Again
    }

    fn watching(&mut self, position: Option<Position>) -> Next {
        if !self.watching_announced {
            self.watching_announced = true;
            let at = position
                .as_ref()
                .map_or("(nothing yet)".to_string(), |p| p.to_string());
            self.progress.println(&format!(
                "{} up to date at {at}; watching for new commits every {} s (Ctrl-C stops)",
                clock(),
                self.args.interval
            ));
        }
        Next::Sleep(self.interval)
    }

    fn busy(&mut self, owner: String, expires_at: DateTime<Utc>) -> Next {
        if !(self.args.wait || self.args.watch) {
            return Next::Fail(CliError::Busy {
                table: self.src.id.clone(),
                owner,
                expires_at,
            });
        }
        if !self.busy_announced {
            self.busy_announced = true;
            self.progress.eprintln(&format!(
                "{} the table is busy: {owner} holds its lease until {expires_at}; waiting",
                clock()
            ));
        }
        let until_expiry = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
            + Duration::from_millis(200);
        Next::Sleep(until_expiry.min(self.interval))
    }

    fn fence_moved(&mut self, expected: i64, found: Option<i64>) -> Next {
        self.fence_races += 1;
        if self.fence_races >= MAX_FENCE_RACES {
            return Next::Fail(CliError::Stalled(format!(
                "{}: another process keeps moving the fence (expected version {expected}, found {found:?}); \
                 is another sync running without a shared bookmark store?",
                self.src.id
            )));
        }
        self.progress.eprintln(&format!(
            "{} another process committed to this table meanwhile; retrying",
            clock()
        ));
        Next::Again
    }

    fn paused(&mut self, reason: Option<String>) -> Next {
        if !self.paused_announced {
            self.paused_announced = true;
            self.progress.println(&format!(
                "{} the table is paused{}; waiting for `hudi-pg-sync resume`",
                clock(),
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ));
        }
        Next::Sleep(self.interval)
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Lines for the instants a pass completed.
async fn report_instants(
    args: &RunArgs,
    r: &PassReport,
    totals: &Totals,
    rows: u64,
    progress: &Progress,
    describer: &mut Describer,
) {
    let done = totals.instants.len();
    let total = done + r.remaining_instants;
    let prefix = if args.watch {
        format!("{} ", clock())
    } else {
        String::new()
    };
    if r.instants.len() == 1 {
        let p = &r.instants[0];
        let what = describer.describe(p).await;
        let w = total.to_string().len();
        progress.println(&format!(
            "{prefix}[{done:>w$}/{total}] {}  {what:<30} {:>10} change row{}",
            p.requested_time,
            thousands(rows),
            if rows == 1 { "" } else { "s" },
        ));
    } else if let (Some(first), Some(last)) = (r.instants.first(), r.instants.last()) {
        progress.println(&format!(
            "{prefix}[{done}/{total}] {} instants {} … {}: {} change rows",
            r.instants.len(),
            first.requested_time,
            last.requested_time,
            thousands(rows),
        ));
    }
}

async fn summarize(src: &TableSource, totals: &Totals, end: &End, describer: &mut Describer) {
    let table = describer.table();
    match end {
        End::UpToDate {
            position,
            blocked_by_pending,
        } if !totals.applied_anything() => {
            match position {
                Some(p) => println!("nothing to do: {} is up to date at {p}", src.id),
                None => println!("nothing to do: {} has no completed commits yet", src.id),
            }
            if let Some(b) = blocked_by_pending {
                println!(
                    "(later instants wait for the pending write {b} to complete or roll back)"
                );
            }
            println!("{}", freshness_line(table, position.as_ref()).await);
        }
        End::UpToDate { position, .. } => {
            println!("{}", totals.line());
            let p = position.as_ref().or(totals.position.as_ref());
            println!("{}", freshness_line(table, p).await);
        }
        End::Paused { reason } => {
            if totals.applied_anything() {
                println!("{}", totals.line());
            }
            println!(
                "{} is paused{}: nothing applied (`hudi-pg-sync resume --table …` to continue)",
                src.id,
                reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
        End::Interrupted => {
            println!("{} (stopped by Ctrl-C)", totals.line());
            println!("{}", freshness_line(table, totals.position.as_ref()).await);
        }
    }
}
