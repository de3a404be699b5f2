//! Operations on one table: `rewind`, `reset`, `resync`, `pause`, `resume`.
//!
//! `rewind`, `reset` and `resync` go through the pipeline core (under the table's lease; the
//! fence is written first, in PostgreSQL, then the bookmark), exactly as the Lambda loader
//! would see them. `pause`/`resume` only touch the bookmark store: sync passes (CLI and
//! Lambda) skip a paused table.

use std::sync::Arc;

use hps_hudi::HudiTable;
use hps_sync::bookmark::WriteMode;
use hps_sync::{Bookmark, BookmarkError, BookmarkState, PassOutcome, ResyncMode};
use tokio::time::Instant;

use crate::CliError;
use crate::progress::Progress;
use crate::run::{Interrupt, PASS_BUDGET, Totals, cli_options, freshness_line};
use crate::setup::{StoreArgs, SyncArgs, table_id_lenient};

/// The `--to` value that rewinds to before the first instant.
pub const BEGINNING: &str = "beginning";

/// Arguments of `rewind`.
#[derive(Debug, Clone, clap::Args)]
pub struct RewindArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// The requested time of a completed instant (the next run re-applies everything after
    /// it), or `beginning`.
    #[arg(long)]
    pub to: String,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// Arguments of `reset`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResetArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// Confirm: reset empties the staging table.
    #[arg(long)]
    pub yes: bool,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// Arguments of `resync`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResyncArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// Empty staging first, then load the snapshot (right after a rollback or restore of
    /// applied instants). Default: this when the fence recorded rewritten history, else a merge.
    #[arg(long, conflicts_with = "merge")]
    pub reload: bool,
    /// Merge the snapshot into staging under the version guard and remove the rows it does not
    /// have; staging stays readable throughout (right after lost history: cleaned files,
    /// archived instants).
    #[arg(long)]
    pub merge: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// Arguments of `pause`.
#[derive(Debug, Clone, clap::Args)]
pub struct PauseArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// Why (shown by `status`).
    #[arg(long)]
    pub reason: Option<String>,
    /// Bookmark store and pipeline.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `resume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// Table base path: a local directory, file://… or s3://bucket/prefix.
    #[arg(long)]
    pub table: String,
    /// Bookmark store and pipeline.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Options of the operations that apply nothing (no progress bar).
fn op_options() -> hps_sync::SyncOptions {
    hps_sync::SyncOptions::default()
}

/// `rewind`: move the table back to `--to`.
pub async fn rewind(args: RewindArgs) -> Result<(), CliError> {
    let src = args.sync.source(&args.table).await?;
    let pipe = args.sync.pipeline(op_options()).await?;
    let before = pipe.status(&src).await?;
    let from = before.fence.as_ref().and_then(|f| f.position.clone());
    let to = if args.to.eq_ignore_ascii_case(BEGINNING) {
        None
    } else {
        Some(args.to.as_str())
    };
    let fence = pipe.rewind(&src, to).await?;
    let hudi = HudiTable::open(src.store.clone()).await?;
    println!(
        "rewound {}: {} -> {}",
        src.id,
        from.map_or("(nothing applied)".to_string(), |p| p.to_string()),
        fence
            .position
            .as_ref()
            .map_or("(beginning)".to_string(), |p| p.to_string())
    );
    println!("{}", freshness_line(&hudi, fence.position.as_ref()).await);
    println!(
        "the next `hudi-pg-sync run` applies those instants again (rows staging already holds are left as they are)"
    );
    Ok(())
}

/// `reset`: empty staging and start the table over.
pub async fn reset(args: ResetArgs) -> Result<(), CliError> {
    if !args.yes {
        return Err(CliError::Usage(format!(
            "reset empties the staging table of {} and forgets its position; pass --yes to confirm",
            args.table
        )));
    }
    let src = args.sync.source(&args.table).await?;
    let pipe = args.sync.pipeline(op_options()).await?;
    let fence = pipe.reset(&src).await?;
    println!(
        "reset {}: staging {} emptied, position cleared (fence version {}); the next run loads the table from its first instant",
        src.id,
        fence.staging.as_deref().unwrap_or("(not created yet)"),
        fence.version
    );
    Ok(())
}

/// `resync`: load a snapshot of the table's current state, then continue incrementally.
pub async fn resync(args: ResyncArgs) -> Result<(), CliError> {
    let src = args.sync.source(&args.table).await?;
    let hudi = HudiTable::open(src.store.clone()).await?;
    let progress = Arc::new(Progress::new(!args.no_progress));
    let pipe = args
        .sync
        .pipeline(cli_options(
            &progress,
            hps_sync::SyncOptions::default().max_rows_per_txn,
        ))
        .await?;
    let interrupt = Interrupt::install(progress.clone());
    let (mode, mode_name) = match (args.reload, args.merge) {
        (true, _) => (ResyncMode::Reload, "reload"),
        (_, true) => (ResyncMode::Merge, "merge"),
        _ => (
            ResyncMode::Auto,
            "auto: reload after rewritten history, else merge",
        ),
    };
    let mut totals = Totals::new();
    let mut outcome = pipe
        .resync(&src, mode, Some(Instant::now() + PASS_BUDGET))
        .await;
    loop {
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        };
        if let Some(r) = o.report() {
            totals.add(r);
            progress.instants_applied(r.instants.len());
        }
        match o {
            PassOutcome::MoreToDo(_) if !interrupt.requested() => {
                // the resync state is in the fence: ordinary passes continue it
                outcome = pipe
                    .run_pass(
                        &src,
                        Some(Instant::now() + PASS_BUDGET),
                        hps_sync::PassMode::ToLatest,
                    )
                    .await;
            }
            PassOutcome::MoreToDo(_) => {
                progress.finish();
                println!(
                    "{} (stopped by Ctrl-C; `hudi-pg-sync run` continues the resync)",
                    totals.line()
                );
                return Err(CliError::Interrupted);
            }
            PassOutcome::Applied(_) | PassOutcome::UpToDate { .. } => break,
            PassOutcome::Busy(hps_sync::BusyReason::Lease { owner, expires_at }) => {
                progress.finish();
                return Err(CliError::Busy {
                    table: src.id.clone(),
                    owner,
                    expires_at,
                });
            }
            PassOutcome::Busy(b) => {
                progress.finish();
                return Err(CliError::Stalled(format!(
                    "{}: resync interrupted by a concurrent writer ({b:?}); run it again",
                    src.id
                )));
            }
            PassOutcome::Paused { reason } => {
                progress.finish();
                return Err(CliError::Stalled(format!(
                    "{} is paused{}; resume it first",
                    src.id,
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                )));
            }
            PassOutcome::NeedsResync { reason } => {
                progress.finish();
                return Err(CliError::NeedsResync {
                    table: src.id.clone(),
                    reason,
                });
            }
        }
    }
    progress.finish();
    println!(
        "resync of {} ({}): {}; {} staging row{} absent from the snapshot removed",
        src.id,
        mode_name,
        totals.line(),
        totals.resync_removed,
        if totals.resync_removed == 1 { "" } else { "s" }
    );
    println!("{}", freshness_line(&hudi, totals.position.as_ref()).await);
    Ok(())
}

/// `pause`: passes skip the table until `resume`.
pub async fn pause(args: PauseArgs) -> Result<(), CliError> {
    let table = table_id_lenient(&args.table)?;
    let pipeline = args.store.pipeline_name()?.to_string();
    let stores = args.store.stores().await?;
    let b = match stores
        .bookmarks
        .pause(&pipeline, &table, args.reason.clone())
        .await
    {
        Err(BookmarkError::NotFound { .. }) => {
            let mut b = Bookmark::new(pipeline.clone(), table.clone());
            b.state = BookmarkState::Paused {
                reason: args.reason.clone(),
            };
            stores.bookmarks.write(&b, 0, WriteMode::Forward).await?
        }
        other => other?,
    };
    println!(
        "paused {table} (bookmark version {}); sync passes skip it until `hudi-pg-sync resume`",
        b.version
    );
    Ok(())
}

/// `resume`: undo `pause`.
pub async fn resume(args: ResumeArgs) -> Result<(), CliError> {
    let table = table_id_lenient(&args.table)?;
    let pipeline = args.store.pipeline_name()?.to_string();
    let stores = args.store.stores().await?;
    let Some(current) = stores.bookmarks.get(&pipeline, &table).await? else {
        return Err(CliError::Usage(format!(
            "{table}: no bookmark in pipeline {pipeline:?}: nothing to resume"
        )));
    };
    if !matches!(current.state, BookmarkState::Paused { .. }) {
        println!(
            "{table} is not paused (state {}): nothing to do",
            current.state.name()
        );
        return Ok(());
    }
    let b = stores.bookmarks.resume(&pipeline, &table).await?;
    println!(
        "resumed {table} (bookmark version {}); the next run continues from its position",
        b.version
    );
    Ok(())
}
