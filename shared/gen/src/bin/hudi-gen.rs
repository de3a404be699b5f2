//! `hudi-gen`: write a Hudi table (COW/MOR, table version 5/6/9) with N rows and M commits of
//! updates, inserts and deletes into a local directory, plus a manifest of what was written.
//!
//! ```text
//! hudi-gen --out /tmp/t --table-version 9 --type cow --rows 1000000 --commits 5 \
//!          --update 0.01 --insert 0.005 --delete 0.001 --partitions 4 --seed 42
//! hudi-gen --out /tmp/m --type mor --commits 6 --compact-every 3
//! hudi-gen --out /tmp/u --table-version 6 --upgrade-from-v5-after 3 --commits 6
//! hudi-gen --out /tmp/a --commits 60 --archive-keep-min 5 --archive-keep-max 8 \
//!          --clean-retain-commits 3
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Parser;
use hps_gen::{ArchivalConfig, Codec, GenConfig, TableType, TableVersion};

/// Generate an Apache Hudi table (independent writer, for tests and benchmarks).
#[derive(Debug, Parser)]
#[command(name = "hudi-gen", version, about)]
struct Args {
    /// Target directory (the table base path); must not hold a table yet.
    #[arg(long)]
    out: PathBuf,
    /// Hudi table version: 5 (Hudi 0.12/0.13), 6 (Hudi 0.14/0.15) or 9 (Hudi 1.1).
    #[arg(long, default_value = "9")]
    table_version: TableVersion,
    /// Table type: cow or mor.
    #[arg(long = "type", default_value = "cow")]
    table_type: TableType,
    /// Rows inserted by the first commit.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Commits after the first one.
    #[arg(long, default_value_t = 5)]
    commits: u32,
    /// Per commit, fraction of live rows updated.
    #[arg(long, default_value_t = 0.01)]
    update: f64,
    /// Per commit, new rows as a fraction of live rows.
    #[arg(long, default_value_t = 0.005)]
    insert: f64,
    /// Per commit, fraction of live rows deleted.
    #[arg(long, default_value_t = 0.001)]
    delete: f64,
    /// Number of partitions (`region=<v>`).
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Seed of all random choices and values.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Maximum rows per file group (base file).
    #[arg(long, default_value_t = 250_000)]
    rows_per_file_group: u64,
    /// Maximum rows per parquet row group.
    #[arg(long, default_value_t = 131_072)]
    row_group_rows: usize,
    /// Base file compression: snappy, gzip, zstd or none.
    #[arg(long, default_value = "snappy")]
    compression: Codec,
    /// hoodie.table.name.
    #[arg(long, default_value = "hudi_gen")]
    table_name: String,
    /// Requested time of the first commit (RFC 3339, UTC), or `now`. Default 2025-01-01T00:00:00Z.
    #[arg(long)]
    start_time: Option<String>,
    /// Milliseconds between commits.
    #[arg(long, default_value_t = 60_000)]
    commit_interval_ms: u64,
    /// Files encoded concurrently (default: CPU count).
    #[arg(long)]
    threads: Option<usize>,
    /// MOR only: compact every file group with log files after every N upserts (0 = never).
    #[arg(long, default_value_t = 0)]
    compact_every: u32,
    /// Archive old instants after each commit: completed commits left active by a run
    /// (`hoodie.keep.min.commits`). Needs --archive-keep-max.
    #[arg(long, requires = "archive_keep_max")]
    archive_keep_min: Option<u32>,
    /// Archive once more than this many completed commits are active
    /// (`hoodie.keep.max.commits`). Needs --archive-keep-min.
    #[arg(long, requires = "archive_keep_min")]
    archive_keep_max: Option<u32>,
    /// Clean after each commit, keeping the file versions the latest N commits need
    /// (`hoodie.cleaner.commits.retained`).
    #[arg(long)]
    clean_retain_commits: Option<u32>,
    /// With --table-version 6: write the first N instants as table version 5, then upgrade
    /// the table to 6 as Hudi 0.14 does and write the rest as version 6.
    #[arg(long)]
    upgrade_from_v5_after: Option<u32>,
    /// Add the logical-type columns (timestamp-millis, local-timestamp-millis/micros,
    /// time-micros, uuid).
    #[arg(long)]
    logical_types: bool,
    /// Key generator: simple, complex (`id,customer_id`), non-partitioned (needs
    /// --partitions 1), timestamp or custom (`region` as DATE_STRING -> yyyy/MM/dd/HH in
    /// GMT+05:30).
    #[arg(long, default_value = "simple")]
    key_generator: hps_gen::KeyGenerator,
    /// Also write the manifest JSON here (it is always stored in the table at
    /// `.hoodie/.aux/hudi-gen/manifest.json`).
    #[arg(long)]
    manifest: Option<PathBuf>,
}

fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    if s.eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "--start-time {s:?}: {e} (expected RFC 3339, e.g. 2025-01-01T00:00:00Z, or now)"
            )
        })
}

fn config(a: &Args) -> Result<GenConfig, String> {
    let d = GenConfig::default();
    Ok(GenConfig {
        table_name: a.table_name.clone(),
        table_type: a.table_type,
        table_version: a.table_version,
        partitions: a.partitions,
        rows: a.rows,
        commits: a.commits,
        update_fraction: a.update,
        insert_fraction: a.insert,
        delete_fraction: a.delete,
        rows_per_file_group: a.rows_per_file_group,
        row_group_rows: a.row_group_rows,
        seed: a.seed,
        compression: a.compression,
        start_time: match &a.start_time {
            Some(s) => parse_start(s)?,
            None => d.start_time,
        },
        commit_interval_ms: a.commit_interval_ms,
        threads: a.threads.unwrap_or(d.threads),
        compact_every: a.compact_every,
        archive: match (a.archive_keep_min, a.archive_keep_max) {
            (Some(keep_min), Some(keep_max)) => Some(ArchivalConfig { keep_min, keep_max }),
            _ => None,
        },
        clean_retain_commits: a.clean_retain_commits,
        upgrade_from_v5_after: a.upgrade_from_v5_after,
        logical_types: a.logical_types,
        key_generator: a.key_generator,
        bad_values_every: None,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let cfg = config(&args)?;
    cfg.validate().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let report = hps_gen::generate_local(&args.out, &cfg)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.manifest {
        let json = report.manifest.to_json().map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let s = &report.stats;
    let summary = serde_json::json!({
        "table": args.out.display().to_string(),
        "table_type": cfg.table_type,
        "table_version": cfg.table_version,
        "commits": report.manifest.commits.len(),
        "final_live_rows": report.manifest.final_live_rows,
        "changes": s.changes,
        "rows_written": s.rows_written,
        "data_files": s.data_files,
        "data_bytes": s.data_bytes,
        "elapsed_ms": s.elapsed.as_millis() as u64,
        "rows_per_sec": s.rows_per_sec().round(),
    });
    println!("{summary}");
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("hps_gen=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Few blocking threads: encoders run there, and every thread that allocates file buffers
    // gets its own malloc arena, which keeps freed buffers resident.
    let blocking = args.threads.unwrap_or_else(|| GenConfig::default().threads) + 2;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(blocking)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hudi-gen: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hudi-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
