//! Command-line definitions (clap) and dispatch.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hps_hudi::ReadOptions;

use crate::CliError;
use crate::commands::{self, ChangesFormat};

/// Keep PostgreSQL in sync with an Apache Hudi table, incrementally.
#[derive(Debug, Parser)]
#[command(name = "hudi-pg-sync", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List completed instants: requested time, completion time, action, operation type.
    Timeline {
        /// Table base path: a local directory, file://… or s3://bucket/prefix.
        #[arg(long)]
        table: String,
        /// Also list archived instants; adds a fifth column, `archived` or `active`.
        #[arg(long)]
        archived: bool,
    },
    /// Print the rows changed in the window (after, until].
    Changes {
        /// Table base path: a local directory, file://… or s3://bucket/prefix.
        #[arg(long)]
        table: String,
        /// Exclusive start (completion time on v8/v9, instant time on v6); default: the beginning.
        #[arg(long)]
        after: Option<String>,
        /// Inclusive end (same domain); default: the latest instant.
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ChangesFormat,
        /// Only these columns (comma-separated); default: all.
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// Rows per read batch.
        #[arg(long, default_value_t = hps_hudi::reader::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Sync a table into PostgreSQL until it is up to date (--watch: keep following it).
    Run(crate::run::RunArgs),
    /// Per table: bookmark, fence, latest instant, instants behind, lag.
    Status(crate::status::StatusArgs),
    /// Move a table back so that the next run applies the instants after --to again.
    Rewind(crate::ops::RewindArgs),
    /// Empty a table's staging and start it over from its first instant.
    Reset(crate::ops::ResetArgs),
    /// Reload a table from a snapshot (after its incremental history was lost or rewritten).
    Resync(crate::ops::ResyncArgs),
    /// Make sync passes (CLI and Lambda) skip a table.
    Pause(crate::ops::PauseArgs),
    /// Undo pause.
    Resume(crate::ops::ResumeArgs),
    /// Rows set aside because PostgreSQL cannot hold one of their values (`on_bad_row =
    /// "quarantine"`): list them, or apply them again after a fix.
    Quarantine {
        /// What to do with them.
        #[command(subcommand)]
        command: crate::quarantine_cmd::QuarantineCommand,
    },
    /// Configuration files.
    Config {
        /// What to do with one.
        #[command(subcommand)]
        command: crate::config_cmd::ConfigCommand,
    },
}

/// Run a parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Timeline { table, archived } => {
            let t = commands::open_table(&table).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            commands::timeline(&t, archived, &mut out).await
        }
        Command::Changes {
            table,
            after,
            until,
            format,
            columns,
            batch_size,
        } => {
            let t = commands::open_table(&table).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let options = ReadOptions {
                columns,
                batch_size,
            };
            let plan = commands::changes(
                &t,
                after.as_deref(),
                until.as_deref(),
                format,
                &options,
                &mut out,
            )
            .await?;
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "window ({}, {}]: {} instant(s), {} file slice(s), {} replaced file group(s)",
                plan.after.as_deref().unwrap_or("beginning"),
                plan.until.as_deref().unwrap_or("latest"),
                plan.instants.len(),
                plan.slices.len(),
                plan.replaced.len()
            );
            if let Some(p) = &plan.capped_by_pending {
                let _ = writeln!(
                    err,
                    "window capped below pending instant {p} (v6 hollow-commit guard)"
                );
            }
            match &plan.end {
                Some(e) => {
                    let _ = writeln!(
                        err,
                        "next bookmark: requested {} completion {} (pass --after {})",
                        e.requested_time,
                        e.completion_time.as_deref().unwrap_or("-"),
                        e.window_key()
                    );
                }
                None => {
                    let _ = writeln!(err, "no instants in the window; keep the current bookmark");
                }
            }
            Ok(())
        }
        Command::Run(a) => crate::run::run(a).await,
        Command::Status(a) => crate::status::status(a).await,
        Command::Rewind(a) => crate::ops::rewind(a).await,
        Command::Reset(a) => crate::ops::reset(a).await,
        Command::Resync(a) => crate::ops::resync(a).await,
        Command::Pause(a) => crate::ops::pause(a).await,
        Command::Resume(a) => crate::ops::resume(a).await,
        Command::Quarantine { command } => crate::quarantine_cmd::quarantine(command).await,
        Command::Config { command } => crate::config_cmd::config(command).await,
    }
}

/// The binary's entry point: parse arguments, run, map errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hudi-pg-sync: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            if code != 0 {
                eprintln!("hudi-pg-sync: {e}");
            }
            ExitCode::from(code)
        }
    }
}
