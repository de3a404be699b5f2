//! `hps-bench`: the benchmark harness behind `make bench`.
//!
//! `hps-bench run` generates the tables once (cached under `target/bench/tables`), starts a
//! throwaway loopback PostgreSQL and measures, one after the other on the same server:
//!
//! - the loader end to end (the production sync pass, storage → staging): a full load, then an
//!   incremental commit touching 1 % of the rows, on a COW and a MOR table;
//! - the PostgreSQL-bound floor for the same rows: `psql` binary `\copy` into a landing table +
//!   the same dedup/upsert statement, in one transaction;
//! - the peers a user would pick today on the same rows: the `hudi` PyPI reader + psycopg
//!   binary COPY, and DuckDB reading the changed parquet files through its postgres extension,
//!   both followed by the same upsert statement (`bench/peers/*.py`);
//! - the loader's peak RSS on a file slice of at least 1 GiB;
//! - the Lambda loader's start-up time (process start to its first
//!   `GET /runtime/invocation/next` against an emulated runtime API) and stripped size.
//!
//! It prints a markdown report and writes it to `<out>/report.md`. `hps-bench load` is the
//! child process that runs one loader pass (so that its wall time and peak RSS are its own).

mod error;
mod floor;
mod load;
mod peers;
mod pg;
mod proc;
mod report;
mod run;
mod startup;
mod tables;

use std::process::ExitCode;

use clap::Parser;

/// Benchmark harness of hudi-pg-sync (`make bench`).
#[derive(Debug, Parser)]
#[command(name = "hps-bench", version, about)]
enum Cmd {
    /// Run every measurement and write the report.
    Run(run::RunArgs),
    /// One loader pass (child process of `run`): prints one JSON line.
    Load(load::LoadArgs),
}

fn main() -> ExitCode {
    let cmd = Cmd::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HPS_BENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hps-bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match cmd {
        Cmd::Run(a) => rt.block_on(run::run(a)),
        Cmd::Load(a) => rt.block_on(load::load(a)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hps-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
