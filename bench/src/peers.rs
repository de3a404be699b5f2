//! The peers: Python scripts under `bench/peers/`, each given a job file (the database, the
//! landing table and its columns, the upsert statement, the window) and timed from outside.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Context, Result};
use crate::floor::{STEPS, Target};
use crate::proc::{Measured, run_measured};
use crate::tables::BenchTable;

/// A job for one peer step.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// libpq settings.
    pub dsn: String,
    /// Qualified landing table.
    pub landing: String,
    /// Its schema and name, unquoted.
    pub landing_schema: String,
    /// Landing table name.
    pub landing_table: String,
    /// COPY columns and SQL types.
    pub columns: Vec<(String, String)>,
    /// The upsert statement (`$1` = load id).
    pub merge_sql: String,
    /// Load id.
    pub load_id: String,
    /// Table base path (hudi-rs).
    pub table: String,
    /// Exclusive window start (hudi-rs).
    pub start: String,
    /// Inclusive window end (hudi-rs).
    pub end: String,
    /// Changed base files of the window (DuckDB).
    pub files: Vec<String>,
    /// Requested times of the window's instants (DuckDB's row filter).
    pub commit_times: Vec<String>,
}

/// What a peer prints.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerResult {
    /// Rows it wrote to landing.
    pub rows: u64,
    /// Seconds from after its imports to COMMIT.
    pub elapsed_s: f64,
    /// Its peak RSS (`VmHWM`), bytes.
    #[serde(default)]
    pub peak_rss: Option<u64>,
}

/// The peer scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// hudi-rs + psycopg.
    Python,
    /// DuckDB + postgres extension.
    DuckDb,
}

impl Peer {
    /// Short name (database name, report).
    pub fn name(self) -> &'static str {
        match self {
            Peer::Python => "python",
            Peer::DuckDb => "duckdb",
        }
    }

    /// What it is, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Peer::Python => "Python: hudi (PyPI) incremental read + psycopg binary COPY + upsert",
            Peer::DuckDb => "DuckDB 1.4.4: changed parquet files → postgres extension + upsert",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Peer::Python => "python_peer.py",
            Peer::DuckDb => "duckdb_peer.py",
        }
    }
}

/// The job of `step` (0 = full, 1 = incremental) for `table` on `target`.
pub async fn job(
    table: &BenchTable,
    target: &Target,
    dsn: &str,
    step: usize,
    peer: Peer,
) -> Result<Job> {
    let plan = table.plan(step).await?;
    let files = plan
        .slices
        .iter()
        .filter(|s| s.deletes.is_none())
        .filter_map(|s| s.base_file.as_ref())
        .map(|b| table.dir.join(&b.path).to_string_lossy().into_owned())
        .collect();
    let commit_times = plan
        .instants
        .iter()
        .filter(|i| i.adds_rows)
        .map(|i| i.requested_time.clone())
        .collect();
    let start = if step == 0 {
        "0".repeat(17)
    } else {
        table.bound(step - 1)?
    };
    let landing = target.landing[step].clone();
    let (schema, name) = split_qualified(&landing)?;
    Ok(Job {
        dsn: dsn.to_string(),
        landing,
        landing_schema: schema,
        landing_table: name,
        columns: target.columns.clone(),
        merge_sql: target.merge[step].clone(),
        load_id: format!("{}-{}", peer.name(), STEPS[step]),
        table: table.id(),
        start,
        end: table.bound(step)?,
        files,
        commit_times,
    })
}

fn split_qualified(q: &str) -> Result<(String, String)> {
    let parts: Vec<String> = q
        .split("\".\"")
        .map(|p| p.trim_matches('"').replace("\"\"", "\""))
        .collect();
    match parts.as_slice() {
        [s, t] => Ok((s.clone(), t.clone())),
        _ => Err(BenchError::step(format!("not a qualified name: {q}"))),
    }
}

/// Run `peer` on `job`.
pub fn run_peer(
    python: &Path,
    peers_dir: &Path,
    peer: Peer,
    job: &Job,
    work: &Path,
    log: &Path,
) -> Result<(Measured, PeerResult)> {
    let path: PathBuf = work.join(format!("job-{}.json", job.load_id));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(job).ctx(|| "job".to_string())?,
    )
    .map_err(BenchError::io(format!("writing {}", path.display())))?;
    let mut c = Command::new(python);
    c.arg(peers_dir.join(peer.script())).arg(&path);
    let m = run_measured(&format!("peer {}", job.load_id), &mut c, log)?;
    let line = m.stdout.lines().last().unwrap_or("");
    let r: PeerResult =
        serde_json::from_str(line).ctx(|| format!("peer {} output {line:?}", job.load_id))?;
    Ok((m, r))
}
