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

/// Print a loud skip notice (used when an optional external input is absent: the fixtures
/// under `../shared`). A contributor's clone without `../shared` still passes; CI sets
/// `HPS_REQUIRE_FIXTURES=1` (`.ci/run`), where a test that would skip fails instead, so a
/// missing fixture can never pass green.
pub fn skip(reason: &str) {
    if fixtures_required() {
        panic!("HPS_REQUIRE_FIXTURES is set and this test would skip: {reason}");
    }
    eprintln!("\n*** SKIPPED: {reason} ***\n");
}

/// Whether `HPS_REQUIRE_FIXTURES` asks every fixture test to run (`1`, `true` or `yes`).
pub fn fixtures_required() -> bool {
    std::env::var("HPS_REQUIRE_FIXTURES")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// One `#[tokio::test]` per fixture: `fixture_tests!(run; test_name => "zip/name.zip", …)`
/// expands to `async fn test_name() { run("zip/name.zip").await }` for each pair (`run` takes
/// the argument as written, so any expression works). With a leading `const NAMES;`, a
/// `const NAMES: &[&str]` lists the arguments too, for a test that checks the list against the
/// fixtures on disk.
#[macro_export]
macro_rules! fixture_tests {
    (const $list:ident; $run:path; $($test:ident => $arg:expr),* $(,)?) => {
        const $list: &[&str] = &[$($arg),*];
        $crate::fixture_tests!($run; $($test => $arg),*);
    };
    ($run:path; $($test:ident => $arg:expr),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                $run($arg).await;
            }
        )*
    };
}
