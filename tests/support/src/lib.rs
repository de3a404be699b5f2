//! Test harness for hudi-pg-sync: real servers, started and stopped by the tests themselves.
//!
//! - [`postgres::PgCluster`]: a throwaway PostgreSQL cluster (initdb into a temp dir, loopback
//!   port, unprivileged `postgres` user when run as root), optionally with TLS.
//! - [`moto::MotoServer`]: a local AWS-compatible server (S3, DynamoDB, SQS) from the project venv.
//! - [`python`]: the project venv (`.venv`, made by `make venv`) and the `hudi` PyPI oracle.
//! - [`fixtures`]: the Spark-written Hudi tables in `../shared/hudi-fixtures`, unzipped on demand.
//!
//! Every server is stopped by process id when its handle drops; temp dirs are removed.

pub mod fixtures;
pub mod moto;
pub mod net;
pub mod postgres;
pub mod python;

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // tests/support -> tests -> root
    here.parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(here)
}

/// The team's handbook and data (`../shared` next to the project), or `HPS_SHARED_DIR`.
pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("HPS_SHARED_DIR") {
        let p = PathBuf::from(d);
        return p.is_dir().then_some(p);
    }
    let p = workspace_root().join("..").join("shared");
    p.join("hudi-fixtures").is_dir().then_some(p)
}

/// Print a loud skip notice (used when an optional external input is absent).
pub fn skip(reason: &str) {
    eprintln!("\n*** SKIPPED: {reason} ***\n");
}
