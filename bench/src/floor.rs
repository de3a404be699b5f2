//! The PostgreSQL-bound floor and the targets the floor and the peers write to.
//!
//! - [`capture`]: an untimed loader run that keeps its landing partitions; their rows (exactly
//!   what the loader COPYed) are dumped as binary COPY files, one per step.
//! - [`prepare_target`]: a database with the staging/tombstone tables the loader would create
//!   (same DDL: `hps_postgres` creates them) and one plain UNLOGGED landing table per step,
//!   plus the loader's dedup + guarded upsert statement for each.
//! - [`floor`]: `psql` binary `\copy` of a dump into landing + that statement, one
//!   transaction: what PostgreSQL needs for the same rows without any client work.

use std::path::{Path, PathBuf};

use arrow_schema::SchemaRef;
use hps_postgres::{Applier, ConnectionManager, LANDING_REGISTRY};
use hps_sync::target::TargetOverrides;

use crate::error::{BenchError, Context, Result};
use crate::load::LoadReport;
use crate::pg::{Server, landing_columns};
use crate::proc::{Measured, run_measured};
use crate::tables::BenchTable;

/// The two steps every contender runs on the same staging table.
pub const STEPS: [&str; 2] = ["full", "incr"];

/// The loader's landed rows of each step, as binary COPY files.
#[derive(Debug, Clone)]
pub struct Captured {
    /// One file per step.
    pub files: Vec<PathBuf>,
    /// Rows per step.
    pub rows: Vec<u64>,
}

/// Run the loader untimed with landing retention on (full load, then the incremental commit)
/// and dump what it landed per step.
pub fn capture(
    server: &Server,
    bench_bin: &Path,
    table: &BenchTable,
    work: &Path,
    log: &Path,
) -> Result<Captured> {
    let db = "bench_capture";
    let url = server.database(db);
    let bookmarks = work.join("bookmarks-capture");
    let _ = std::fs::remove_dir_all(&bookmarks);
    let mut files = Vec::new();
    let mut rows = Vec::new();
    let mut seen = 0i64;
    for step in STEPS {
        let mut c = loader_cmd(bench_bin, table, &url, &bookmarks);
        c.arg("--keep-landing");
        let m = run_measured(&format!("capture {step}"), &mut c, log)?;
        let r = parse_load(&m)?;
        let reg = format!("\"hudi\".\"{LANDING_REGISTRY}\"");
        let seqs = server.sql(
            db,
            &format!("SELECT string_agg(load_seq::text, ',' ORDER BY load_seq), max(load_seq) FROM {reg} WHERE load_seq > {seen}"),
        )?;
        let (list, max) = seqs
            .split_once('|')
            .ok_or_else(|| BenchError::step(format!("capture {step}: registry {seqs:?}")))?;
        if list.is_empty() {
            return Err(BenchError::step(format!(
                "capture {step}: no landing partition kept"
            )));
        }
        seen = max
            .parse()
            .ctx(|| format!("capture {step}: load_seq {max:?}"))?;
        let landing_q = landing_of(table)?;
        let cols = landing_columns(server, db, &landing_q)?;
        let select: Vec<String> = cols
            .iter()
            .map(|(n, _)| {
                if n == hps_postgres::HPS_ROW {
                    format!(
                        "row_number() OVER (ORDER BY \"{}\", \"{n}\") AS \"{n}\"",
                        hps_postgres::HPS_LOAD_SEQ
                    )
                } else {
                    format!("\"{n}\"")
                }
            })
            .collect();
        let file = work.join(format!("landing-{step}.bin"));
        let _ = std::fs::remove_file(&file);
        server.sql(
            db,
            &format!(
                "\\copy (SELECT {} FROM {landing_q} WHERE \"{}\" IN ({list}) ORDER BY \"{}\", \"{}\") TO '{}' WITH (FORMAT binary)",
                select.join(", "),
                hps_postgres::HPS_LOAD_SEQ,
                hps_postgres::HPS_LOAD_SEQ,
                hps_postgres::HPS_ROW,
                file.display()
            ),
        )?;
        let n: u64 = server
            .sql(
                db,
                &format!(
                    "SELECT count(*) FROM {landing_q} WHERE \"{}\" IN ({list})",
                    hps_postgres::HPS_LOAD_SEQ
                ),
            )?
            .parse()
            .ctx(|| format!("capture {step}: count"))?;
        if n != r.rows {
            return Err(BenchError::step(format!(
                "capture {step}: the loader applied {} rows but {n} were kept in landing",
                r.rows
            )));
        }
        files.push(file);
        rows.push(n);
    }
    server.sql("postgres", &format!("DROP DATABASE \"{db}\""))?;
    Ok(Captured { files, rows })
}

/// The qualified landing table the loader uses for `table` (derived like the pipeline does).
pub fn landing_of(table: &BenchTable) -> Result<String> {
    Ok(names_of(table)?.landing_q())
}

/// The PostgreSQL names the loader derives for `table`.
pub fn names_of(table: &BenchTable) -> Result<hps_postgres::Names> {
    spec_of(table)?.validate().ctx(|| "target".to_string())
}

fn spec_of(table: &BenchTable) -> Result<hps_postgres::TargetTable> {
    let props = std::fs::read(table.dir.join(".hoodie/hoodie.properties"))
        .map_err(BenchError::io("reading hoodie.properties"))?;
    let config = hps_hudi::TableConfig::parse(&table.id(), &props)
        .ctx(|| "hoodie.properties".to_string())?;
    hps_sync::derive_target(&table.id(), &config, &TargetOverrides::default())
        .ctx(|| "deriving the target".to_string())
}

/// The loader child process for one pass.
pub fn loader_cmd(
    bench_bin: &Path,
    table: &BenchTable,
    url: &str,
    bookmarks: &Path,
) -> std::process::Command {
    let mut c = std::process::Command::new(bench_bin);
    c.arg("load")
        .arg("--table")
        .arg(&table.dir)
        .arg("--postgres")
        .arg(url)
        .arg("--bookmarks")
        .arg(bookmarks);
    c
}

/// The child's JSON line.
pub fn parse_load(m: &Measured) -> Result<LoadReport> {
    let line = m.stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).ctx(|| format!("loader output {line:?}"))
}

/// A prepared target database.
#[derive(Debug, Clone)]
pub struct Target {
    /// Database name.
    pub db: String,
    /// Per step: qualified landing table.
    pub landing: Vec<String>,
    /// Per step: the dedup + guarded upsert statement for that landing table (`$1` = load id).
    pub merge: Vec<String>,
    /// COPY columns of the landing tables with their SQL types.
    pub columns: Vec<(String, String)>,
}

/// Create database `db` with the loader's tables for `table` and one landing table per step.
pub async fn prepare_target(
    server: &Server,
    db: &str,
    table: &BenchTable,
    schema: &SchemaRef,
) -> Result<Target> {
    let url = server.database(db);
    let spec = spec_of(table)?;
    let conn = ConnectionManager::from_settings(&url).ctx(|| url.clone())?;
    let mut applier = Applier::new(conn);
    let layout = applier
        .ensure_tables(&spec, schema)
        .await
        .ctx(|| format!("creating the tables in {db}"))?;
    let parent = layout.names.landing_q();
    let mut landing = Vec::new();
    let mut merge = Vec::new();
    for step in STEPS {
        let q = format!("{}.\"bench_landing_{step}\"", layout.names.schema);
        server.sql(
            db,
            &format!("CREATE UNLOGGED TABLE {q} (LIKE {parent} INCLUDING DEFAULTS)"),
        )?;
        merge.push(hps_postgres::merge_sql(&layout, &q));
        landing.push(q);
    }
    let columns = landing_columns(server, db, &landing[0])?;
    Ok(Target {
        db: db.to_string(),
        landing,
        merge,
        columns,
    })
}

/// One timed floor step: `psql` binary `\copy` of the captured rows into landing, then the
/// upsert statement, in one transaction.
pub fn floor_step(
    server: &Server,
    target: &Target,
    step: usize,
    file: &Path,
    work: &Path,
    log: &Path,
) -> Result<Measured> {
    let cols: Vec<String> = target
        .columns
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let script = format!(
        "BEGIN;\n\\copy {} ({}) FROM '{}' WITH (FORMAT binary)\nPREPARE bench_merge(text) AS {};\nEXECUTE bench_merge('floor-{}');\nCOMMIT;\n",
        target.landing[step],
        cols.join(", "),
        file.display(),
        target.merge[step],
        STEPS[step]
    );
    let path = work.join(format!("floor-{}.sql", STEPS[step]));
    std::fs::write(&path, script).map_err(BenchError::io(format!("writing {}", path.display())))?;
    server.script(&format!("floor {}", STEPS[step]), &target.db, &path, log)
}

/// The byte-moving limit of a full load: `psql` binary `\copy` of the captured full-load rows
/// into a fresh, logged table without any index (what PostgreSQL needs to take the bytes, and
/// nothing more), in one transaction.
pub fn copy_limit(
    server: &Server,
    target: &Target,
    file: &Path,
    work: &Path,
    log: &Path,
) -> Result<Measured> {
    let q = format!("{}_copy_limit", target.landing[0].trim_end_matches('"'));
    let q = format!("{q}\"");
    server.sql(&target.db, &format!("DROP TABLE IF EXISTS {q}"))?;
    server.sql(
        &target.db,
        &format!(
            "CREATE TABLE {q} (LIKE {} INCLUDING DEFAULTS)",
            target.landing[0]
        ),
    )?;
    let cols: Vec<String> = target
        .columns
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let script = format!(
        "BEGIN;\n\\copy {q} ({}) FROM '{}' WITH (FORMAT binary)\nCOMMIT;\n",
        cols.join(", "),
        file.display()
    );
    let path = work.join("copy-limit.sql");
    std::fs::write(&path, script).map_err(BenchError::io(format!("writing {}", path.display())))?;
    let m = server.script("copy limit", &target.db, &path, log)?;
    server.sql(&target.db, &format!("DROP TABLE {q}"))?;
    Ok(m)
}
