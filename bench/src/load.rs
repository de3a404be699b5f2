//! `hps-bench load`: one production sync pass (the `hps_sync` pipeline the Lambda loader and
//! the CLI run, with their default options) of a local table into PostgreSQL, with embedded
//! bookmarks. Prints one JSON line: outcome, rows, transactions, pass time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hps_postgres::{ConnectOptions, Connector, LandingRetention};
use hps_storage::LocalStore;
use hps_sync::target::TargetOverrides;
use hps_sync::{FileBookmarkStore, PassMode, SyncOptions, SyncPipeline, TableSource};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

/// Arguments of one loader pass.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The Hudi table (local base path).
    #[arg(long)]
    pub table: PathBuf,
    /// PostgreSQL settings (URL or key=value).
    #[arg(long)]
    pub postgres: String,
    /// Directory of the embedded bookmark store.
    #[arg(long)]
    pub bookmarks: PathBuf,
    /// Pipeline name.
    #[arg(long, default_value = "bench")]
    pub pipeline: String,
    /// Keep the landing partitions (the harness dumps them for the floor measurement).
    #[arg(long)]
    pub keep_landing: bool,
    /// Apply everything up to the latest instant instead of the next instant only.
    #[arg(long)]
    pub to_latest: bool,
    /// Turn the direct load into an empty staging table off (every row through landing).
    #[arg(long)]
    pub landing_only: bool,
}

/// What one pass reports (the child's stdout line).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// `applied`, `more_to_do`, `up_to_date`, …
    pub outcome: String,
    /// Change rows applied.
    pub rows: u64,
    /// Transactions committed.
    pub transactions: u32,
    /// Instants completed.
    pub instants: usize,
    /// The pass's own wall time (lease, plan, read, apply, bookmark), seconds.
    pub pass_secs: f64,
    /// Process-internal time from `main` to the end of the pass (includes connecting), seconds.
    pub total_secs: f64,
    /// Peak resident set size of this process (`VmHWM`), bytes.
    pub peak_rss: u64,
}

/// This process's peak RSS (`VmHWM` of `/proc/self/status`), bytes; 0 when unknown.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Run one pass and print its [`LoadReport`].
pub async fn load(a: LoadArgs) -> Result<()> {
    let t0 = Instant::now();
    let abs = std::path::absolute(&a.table).ctx(|| format!("{}", a.table.display()))?;
    let id = abs.to_string_lossy().into_owned();
    let store = Arc::new(LocalStore::new(&abs));
    let mut options = SyncOptions {
        owner: format!("hps-bench/{}", std::process::id()),
        ..SyncOptions::default()
    };
    options.apply.direct_load = !a.landing_only;
    let bookmarks = Arc::new(FileBookmarkStore::new(&a.bookmarks));
    let mut conn = ConnectOptions::parse(&a.postgres).ctx(|| "--postgres".to_string())?;
    conn.application_name = Some("hps-bench-loader".into());
    let connector = Connector::new(conn).ctx(|| "connector".to_string())?;
    let pipe = SyncPipeline::new(
        &a.pipeline,
        bookmarks.clone(),
        bookmarks,
        connector,
        options,
    )
    .ctx(|| "pipeline".to_string())?;
    let overrides = TargetOverrides {
        landing_retention: a
            .keep_landing
            .then_some(LandingRetention::Keep(Duration::from_secs(7 * 86_400))),
        ..TargetOverrides::default()
    };
    let src = TableSource::new(id.clone(), store).with_target(overrides);
    let mode = if a.to_latest {
        PassMode::ToLatest
    } else {
        PassMode::Step
    };
    let t1 = Instant::now();
    let out = pipe
        .run_pass(&src, None, mode)
        .await
        .ctx(|| format!("sync pass of {id}"))?;
    let pass_secs = t1.elapsed().as_secs_f64();
    let report = out.report().cloned().unwrap_or_default();
    let r = LoadReport {
        outcome: out.name().to_string(),
        rows: report.rows,
        transactions: report.transactions,
        instants: report.instants.len(),
        pass_secs,
        total_secs: t0.elapsed().as_secs_f64(),
        peak_rss: peak_rss(),
    };
    if !matches!(out.name(), "applied" | "more_to_do") {
        return Err(crate::error::BenchError::step(format!(
            "sync pass of {id}: {out:?}"
        )));
    }
    println!(
        "{}",
        serde_json::to_string(&r).ctx(|| "report".to_string())?
    );
    Ok(())
}
