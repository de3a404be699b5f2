//! `hps-bench run`: every measurement, one after the other, on one PostgreSQL server.

use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;

use crate::error::{BenchError, Context, Result};
use crate::floor::{self, STEPS, loader_cmd, parse_load};
use crate::peers::{self, Peer};
use crate::pg::Server;
use crate::proc::{Measured, run_measured};
use crate::report::{Results, Timed, median_run};
use crate::tables::{self, BenchTable, Specs};

/// Arguments of a benchmark run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// `default` (1M rows) or `large` (10M rows).
    #[arg(long, env = "BENCH_SCALE", default_value = "default")]
    pub scale: String,
    /// Rows of the full load (overrides the scale; for quick trials).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Output directory (tables cache, work files, logs, report.md).
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Directory of the release binaries (`incremental-loader`, `commit-detector`).
    #[arg(long, default_value = "target/bench-build/release")]
    pub bin_dir: PathBuf,
    /// Python of the venv with the peers' packages.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Directory of the peer scripts.
    #[arg(long, default_value = "bench/peers")]
    pub peers: PathBuf,
    /// Only these sections (comma-separated): loader, landing, mor, floor, duckdb, python, rss,
    /// startup.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Minimum size of the base file of the RSS measurement.
    #[arg(long, default_value_t = 1 << 30)]
    pub rss_bytes: u64,
    /// Start-up measurements.
    #[arg(long, default_value_t = 15)]
    pub startup_runs: usize,
}

const SECTIONS: [&str; 8] = [
    "loader", "landing", "mor", "floor", "duckdb", "python", "rss", "startup",
];
const LOADER: &str = "**loader** (hps-sync pass, release)";
const LOADER_LANDING: &str = "loader with the direct load off (every row through landing)";
const FLOOR: &str = "floor: psql `\\copy` binary + upsert SQL";
/// The byte-moving limit of the full load (see [`floor::copy_limit`]).
const COPY_LIMIT: &str = "limit: psql `\\copy` binary into an empty table without indexes";

struct Ctx {
    server: Server,
    bench_bin: PathBuf,
    work: PathBuf,
    log: PathBuf,
}

/// The tables a run measures (each generated once, then cached).
struct Tables {
    dir: PathBuf,
    cow: BenchTable,
    mor: Option<BenchTable>,
    big: Option<BenchTable>,
}

/// Run the benchmark.
pub async fn run(a: RunArgs) -> Result<()> {
    let rows = rows_of(&a)?;
    let on = |s: &str| a.only.is_empty() || a.only.iter().any(|x| x == s);
    let out = std::path::absolute(&a.out).ctx(|| a.out.display().to_string())?;
    let t = ensure_tables(&a, &out, rows, &on).await?;
    let ctx = start(&out, rows)?;
    let mut res = Results {
        scale: a.scale.clone(),
        rows,
        loader: LOADER.into(),
        floor: FLOOR.into(),
        limit: COPY_LIMIT.into(),
        ..Default::default()
    };
    res.env = environment(&ctx, rows, &t.dir)?;
    if on("loader") {
        loader_section(&ctx, &t.cow, &mut res)?;
    }
    if let Some(mor) = &t.mor {
        mor_section(&ctx, mor, &mut res)?;
    }
    if on("landing") {
        let runs = loader_runs(&ctx, &t.cow, "bench_loader_landing", LOADER_LANDING, true)?;
        res.cow.extend(runs);
        ctx.server
            .sql("postgres", "DROP DATABASE bench_loader_landing")?;
    }
    let schema = t.cow.change_schema().await?;
    if on("floor") {
        floor_section(&ctx, &t.cow, &schema, on("loader"), &mut res).await?;
    }
    for peer in [Peer::DuckDb, Peer::Python] {
        if on(peer.name()) {
            peer_section(&ctx, &a, &t.cow, &schema, peer, &mut res).await?;
        }
    }
    if let Some(big) = &t.big {
        res.rss = Some(rss_section(&ctx, big)?);
    }
    if on("startup") {
        startup_section(&ctx, &a, &mut res).await?;
    }
    res.notes.extend(notes());
    write_report(&out, &res)
}

/// The rows of the full load, and the `--only` names checked.
fn rows_of(a: &RunArgs) -> Result<u64> {
    for s in &a.only {
        if !SECTIONS.contains(&s.as_str()) {
            return Err(BenchError::step(format!(
                "--only {s}: expected one of {}",
                SECTIONS.join(", ")
            )));
        }
    }
    match (a.rows, a.scale.as_str()) {
        (Some(r), _) => Ok(r),
        (None, "default") => Ok(1_000_000),
        (None, "large") => Ok(10_000_000),
        (None, s) => Err(BenchError::step(format!(
            "BENCH_SCALE={s}: expected default or large"
        ))),
    }
}

async fn ensure_tables(
    a: &RunArgs,
    out: &Path,
    rows: u64,
    on: &dyn Fn(&str) -> bool,
) -> Result<Tables> {
    let specs = Specs::new(rows, a.rss_bytes);
    let dir = out.join("tables");
    let cow = tables::ensure(&dir.join(format!("cow-{rows}")), &specs.cow).await?;
    let mor = if on("mor") {
        Some(tables::ensure(&dir.join(format!("mor-{rows}")), &specs.mor).await?)
    } else {
        None
    };
    let big = if on("rss") {
        let t = tables::ensure(&dir.join("big"), &specs.big).await?;
        let largest = t.largest_file();
        if largest < a.rss_bytes {
            return Err(BenchError::step(format!(
                "the RSS table's base file has {largest} bytes, fewer than {}: raise BYTES_PER_ROW_ESTIMATE's margin",
                a.rss_bytes
            )));
        }
        Some(t)
    } else {
        None
    };
    Ok(Tables { dir, cow, mor, big })
}

/// The work and log directories, and the throwaway PostgreSQL.
fn start(out: &Path, rows: u64) -> Result<Ctx> {
    let work = out.join(format!("work-{rows}"));
    let logs = out.join("logs");
    for d in [&work, &logs] {
        std::fs::create_dir_all(d).map_err(BenchError::io(format!("creating {}", d.display())))?;
    }
    let log = logs.join(format!("run-{rows}.log"));
    let _ = std::fs::remove_file(&log);
    let bench_bin = std::env::current_exe().map_err(BenchError::io("locating hps-bench"))?;
    eprintln!("== starting PostgreSQL");
    Ok(Ctx {
        server: Server::start(),
        bench_bin,
        work,
        log,
    })
}

/// The report's description of the machine and the tables.
fn environment(ctx: &Ctx, rows: u64, tables_dir: &Path) -> Result<Vec<String>> {
    Ok(vec![
        format!(
            "PostgreSQL {} on loopback (fsync off, shared_buffers 512MB), {} CPUs, load average at start {}",
            ctx.server.sql("postgres", "SHOW server_version")?,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        format!(
            "tables by hudi-gen: {} rows, 4 partitions, 250k rows per file group, snappy; commit 2 updates 0.8 %, inserts 0.1 %, deletes 0.1 % (cached under {})",
            rows,
            tables_dir.display()
        ),
    ])
}

fn loader_section(ctx: &Ctx, cow: &BenchTable, res: &mut Results) -> Result<()> {
    let runs = loader_runs(ctx, cow, "bench_loader", LOADER, false)?;
    let live = staging_count(ctx, "bench_loader", cow)?;
    res.checks.push((
        format!(
            "loader staging after both steps: {live} rows = the generator's live rows {}",
            cow.manifest.final_live_rows
        ),
        live == cow.manifest.final_live_rows,
    ));
    res.cow.extend(runs);
    Ok(())
}

fn mor_section(ctx: &Ctx, mor: &BenchTable, res: &mut Results) -> Result<()> {
    let runs = loader_runs(ctx, mor, "bench_loader_mor", LOADER, false)?;
    let live = staging_count(ctx, "bench_loader_mor", mor)?;
    res.checks.push((
        format!(
            "MOR loader staging: {live} rows = the generator's live rows {}",
            mor.manifest.final_live_rows
        ),
        live == mor.manifest.final_live_rows,
    ));
    res.mor = runs;
    // a 10M-row database is several GB: keep only what later sections compare with
    ctx.server.drop_database("bench_loader_mor")
}

/// The PostgreSQL-bound floor of both steps, then the byte-moving limit of the full load.
async fn floor_section(
    ctx: &Ctx,
    cow: &BenchTable,
    schema: &SchemaRef,
    compare_with_loader: bool,
    res: &mut Results,
) -> Result<()> {
    eprintln!("== capturing the loader's landed rows for the floor");
    let cap = floor::capture(&ctx.server, &ctx.bench_bin, cow, &ctx.work, &ctx.log)?;
    let target = floor::prepare_target(&ctx.server, "bench_floor", cow, schema).await?;
    for (i, step) in STEPS.iter().enumerate() {
        let t = timed_step(ctx, "bench_floor", i, |_, db| {
            eprintln!("== floor {step} ({db})");
            let t = floor::Target {
                db: db.to_string(),
                ..target.clone()
            };
            let m = floor::floor_step(&ctx.server, &t, i, &cap.files[i], &ctx.work, &ctx.log)?;
            Ok(wall_timed(FLOOR, step, cap.rows[i], &m))
        })?;
        res.cow.extend(t);
    }
    eprintln!("== the byte-moving limit of the full load");
    ctx.server.checkpoint()?;
    let m = floor::copy_limit(&ctx.server, &target, &cap.files[0], &ctx.work, &ctx.log)?;
    res.cow
        .push(wall_timed(COPY_LIMIT, STEPS[0], cap.rows[0], &m));
    if compare_with_loader {
        let a = fingerprint(ctx, "bench_loader", cow)?;
        let b = fingerprint(ctx, "bench_floor", cow)?;
        res.checks.push((
            format!("floor staging = loader staging (count, key sum, version max): {b}"),
            a == b,
        ));
    }
    ctx.server.drop_database("bench_floor")
}

/// A measurement timed by its process's wall clock.
fn wall_timed(who: &str, step: &str, rows: u64, m: &Measured) -> Timed {
    Timed {
        who: who.into(),
        step: step.to_string(),
        rows,
        secs: m.wall.as_secs_f64(),
        wall_secs: m.wall.as_secs_f64(),
        max_rss: None,
        spread: None,
    }
}

async fn peer_section(
    ctx: &Ctx,
    a: &RunArgs,
    cow: &BenchTable,
    schema: &SchemaRef,
    peer: Peer,
    res: &mut Results,
) -> Result<()> {
    let db = format!("bench_{}", peer.name());
    let target = floor::prepare_target(&ctx.server, &db, cow, schema).await?;
    res.peers.push(peer.label().to_string());
    for (i, step) in STEPS.iter().enumerate() {
        let job = peers::job(cow, &target, &ctx.server.dsn(&db), i, peer).await?;
        let t = timed_step(ctx, &db, i, |_, run_db| {
            eprintln!("== {} {step} ({run_db})", peer.name());
            let job = peers::Job {
                dsn: ctx.server.dsn(run_db),
                ..job.clone()
            };
            let (m, r) = peers::run_peer(&a.python, &a.peers, peer, &job, &ctx.work, &ctx.log)?;
            Ok(Timed {
                who: peer.label().into(),
                step: step.to_string(),
                rows: r.rows,
                secs: r.elapsed_s,
                wall_secs: m.wall.as_secs_f64(),
                max_rss: r.peak_rss,
                spread: None,
            })
        })?;
        res.cow.extend(t);
    }
    let commits = &cow.manifest.commits;
    let upserts: u64 = commits.iter().map(|c| c.upserted_ids().len() as u64).sum();
    let deleted: u64 = commits.iter().map(|c| c.deleted.len() as u64).sum();
    let live = staging_count(ctx, &db, cow)?;
    res.checks.push((
        format!(
            "{} staging: {live} rows = live rows {} + {deleted} deleted keys (the peers apply upserts only; {upserts} upserted)",
            peer.name(),
            cow.manifest.final_live_rows
        ),
        live == cow.manifest.final_live_rows + deleted,
    ));
    ctx.server.drop_database(&db)
}

/// Peak RSS of the loader loading the big table: (file bytes, rows, seconds, peak RSS).
fn rss_section(ctx: &Ctx, big: &BenchTable) -> Result<(u64, u64, f64, u64)> {
    eprintln!("== RSS: loading a {} byte base file", big.largest_file());
    let url = ctx.server.database("bench_rss");
    let bookmarks = ctx.work.join("bookmarks-rss");
    let _ = std::fs::remove_dir_all(&bookmarks);
    ctx.server.checkpoint()?;
    let mut c = loader_cmd(&ctx.bench_bin, big, &url, &bookmarks);
    let m = run_measured("loader on the big table", &mut c, &ctx.log)?;
    let r = parse_load(&m)?;
    ctx.server.sql("postgres", "DROP DATABASE bench_rss")?;
    Ok((big.largest_file(), r.rows, r.total_secs, r.peak_rss))
}

async fn startup_section(ctx: &Ctx, a: &RunArgs, res: &mut Results) -> Result<()> {
    let bin = a.bin_dir.join("incremental-loader");
    eprintln!("== start-up of {}", bin.display());
    let times = crate::startup::measure(&bin, ctx.server.port(), a.startup_runs).await?;
    res.startup_ms = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    for name in ["incremental-loader", "commit-detector"] {
        let p = a.bin_dir.join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            res.sizes.push((name.to_string(), m.len()));
        }
    }
    Ok(())
}

fn write_report(out: &Path, res: &Results) -> Result<()> {
    let md = res.markdown();
    println!("{md}");
    let path = out.join("report.md");
    std::fs::write(&path, &md).map_err(BenchError::io(format!("writing {}", path.display())))?;
    eprintln!("== report written to {}", path.display());
    Ok(())
}

fn notes() -> Vec<String> {
    vec![
        "time (s): the loader's from process start to the end of its pass (connect, lease, plan, read, COPY, upsert, fence, bookmark); a peer's from after its imports to COMMIT; the floor's is the `psql` process. wall (s) is spawn to exit for every one of them.".into(),
        "all contenders write the same staging table DDL (created by hps-postgres, `fillfactor = 70`) and run the same dedup + version-guarded upsert statement; the floor and the peers land into a plain UNLOGGED table, the loader into its per-load UNLOGGED partition.".into(),
        "the floor replays exactly the rows the loader landed (dumped from an untimed loader run that keeps its landing partitions).".into(),
        "the full load is the table's first window, a bulk bootstrap (hps-postgres `LoadMode::Bootstrap`): binary COPY into a shadow table without keys, then one primary-key build and a swap for the empty staging table; the row \"direct load off\" is the same loader with every row through landing + the upsert statement, the floor's path. The \"limit\" row is the bytes alone: `psql` COPYing the same rows into an empty table without any index.".into(),
        "the peers read upserts only (neither hudi-rs' incremental query nor the parquet files show deletes); the loader also applies the window's deletes. The DuckDB peer is handed the window's changed base files and commit times (a user would take them from the commit metadata).".into(),
        "the 1 % commit runs three times per contender, on copies of its database (and bookmarks) as they stand after the full load: its time is the median, with the fastest and slowest run in brackets.".into(),
        "between the full load and the 1 % commit every contender's database is vacuumed and analyzed, untimed (what autovacuum does soon after a bulk load; without it the loader's 1 % commit took between 0.46 s and 1.00 s in runs on this machine, depending on what PostgreSQL was still doing with the fresh table).".into(),
        "one shared 2-core machine: PostgreSQL, the loader and the peers compete for the same cores, and other work on the machine adds noise; compare ratios, not absolutes.".into(),
    ]
}

/// Step `i` of one contender whose database is `db`: settled ([`Server::settle`]), then run
/// [`runs_of`]`(i)` times by `run(r, database)` — run 0 on `db` itself, the others on copies of
/// it, dropped afterwards. The median run, with the spread.
fn timed_step(
    ctx: &Ctx,
    db: &str,
    i: usize,
    mut run: impl FnMut(usize, &str) -> Result<Timed>,
) -> Result<Option<Timed>> {
    ctx.server.settle(db, i)?;
    let mut runs = Vec::with_capacity(runs_of(i));
    // the repeated runs first, each on a copy of `db` as it stands, made just before and
    // dropped just after it (one copy on disk at a time); then run 0 moves `db` itself on
    for r in 1..runs_of(i) {
        let copy = ctx.server.copy_of(db, r)?;
        ctx.server.checkpoint()?;
        let t = run(r, &copy);
        ctx.server.drop_database(&copy)?;
        runs.push(t?);
    }
    ctx.server.checkpoint()?;
    runs.insert(0, run(0, db)?);
    Ok(median_run(runs))
}

/// Runs of step `i`: the full load once, the 1 % commit [`INCR_RUNS`] times (it is short, and
/// its time swings with what else the machine does): the median is reported.
fn runs_of(i: usize) -> usize {
    if i == 0 { 1 } else { INCR_RUNS }
}

/// Runs of the 1 % commit per contender.
const INCR_RUNS: usize = 3;

/// Copy the files of directory `from` into a fresh `to` (the embedded bookmark store).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).map_err(BenchError::io(format!("creating {}", to.display())))?;
    let entries =
        std::fs::read_dir(from).map_err(BenchError::io(format!("listing {}", from.display())))?;
    for e in entries {
        let e = e.map_err(BenchError::io(format!("listing {}", from.display())))?;
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))
                .map_err(BenchError::io(format!("copying {}", e.path().display())))?;
        }
    }
    Ok(())
}

/// Full load then the incremental commit through the loader child, each timed.
fn loader_runs(
    ctx: &Ctx,
    table: &BenchTable,
    db: &str,
    label: &str,
    landing_only: bool,
) -> Result<Vec<Timed>> {
    let url = ctx.server.database(db);
    let bookmarks = ctx.work.join(format!("bookmarks-{db}"));
    let _ = std::fs::remove_dir_all(&bookmarks);
    let mut out = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        // repeated runs go to copies of the database and of the bookmarks as they stand now
        // (before run 0 moves them on)
        let before = ctx.work.join(format!("bookmarks-{db}-before-{step}"));
        if bookmarks.exists() {
            copy_dir(&bookmarks, &before)?;
        }
        let t = timed_step(ctx, db, i, |r, run_db| {
            let (run_url, run_bookmarks) = if r == 0 {
                (url.clone(), bookmarks.clone())
            } else {
                let b = ctx.work.join(format!("bookmarks-{run_db}"));
                copy_dir(&before, &b)?;
                (ctx.server.url_of(run_db), b)
            };
            eprintln!("== loader {step} ({run_db})");
            let mut c = loader_cmd(&ctx.bench_bin, table, &run_url, &run_bookmarks);
            if landing_only {
                c.arg("--landing-only");
            }
            let m = run_measured(&format!("loader {step} ({run_db})"), &mut c, &ctx.log)?;
            let p = parse_load(&m)?;
            Ok(Timed {
                who: label.into(),
                step: step.to_string(),
                rows: p.rows,
                secs: p.total_secs,
                wall_secs: m.wall.as_secs_f64(),
                max_rss: Some(p.peak_rss),
                spread: None,
            })
        })?;
        out.extend(t);
    }
    Ok(out)
}

fn staging_q(table: &BenchTable) -> Result<String> {
    Ok(floor::names_of(table)?.staging_q())
}

fn staging_count(ctx: &Ctx, db: &str, table: &BenchTable) -> Result<u64> {
    let q = staging_q(table)?;
    ctx.server
        .sql(db, &format!("SELECT count(*) FROM {q}"))?
        .parse()
        .ctx(|| format!("count of {q} in {db}"))
}

fn fingerprint(ctx: &Ctx, db: &str, table: &BenchTable) -> Result<String> {
    let q = staging_q(table)?;
    ctx.server.sql(
        db,
        &format!(
            "SELECT count(*) || ' rows, sum(id) ' || sum(id) || ', max commit ' || max(_hoodie_commit_time) || ', sum(ts) ' || sum(ts) FROM {q}"
        ),
    )
}
