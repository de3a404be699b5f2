//! `hudi-pg-sync quarantine list|retry`: the rows a table with `on_bad_row = "quarantine"` set
//! aside because PostgreSQL cannot hold one of their values, and applying them again once
//! the cause is fixed (e.g. the staging column altered to a wider `numeric`).

use std::io::Write;

use hps_postgres::QuarantinedRow;
use hps_sync::SyncOptions;

use crate::CliError;
use crate::setup::SyncArgs;

/// What to do with the quarantine.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Show each table's quarantined rows: id, instant, file, record key, column, reason.
    List(QuarantineArgs),
    /// Apply the quarantined rows again (under the version guard); rows that now fit leave
    /// the quarantine, the others stay with their new reason.
    Retry(QuarantineArgs),
}

/// Arguments of `quarantine list` and `quarantine retry`.
#[derive(Debug, Clone, clap::Args)]
pub struct QuarantineArgs {
    /// Tables (repeatable); default: every table of --config, else every table with a
    /// bookmark in the pipeline.
    #[arg(long)]
    pub table: Vec<String>,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// One quarantined row as `list` prints it.
pub fn row_line(r: &QuarantinedRow) -> String {
    let mut line = format!(
        "  #{} instant {} · file {} · key {} · column {}: {}",
        r.id,
        or_dash(&r.instant),
        or_dash(&r.file),
        or_dash(&r.record_key),
        r.column,
        r.reason
    );
    if r.retries > 0 {
        line.push_str(&format!(" (still after {} retries)", r.retries));
    }
    line
}

/// The `quarantine` command.
pub async fn quarantine(command: QuarantineCommand) -> Result<(), CliError> {
    let (args, retry) = match &command {
        QuarantineCommand::List(a) => (a, false),
        QuarantineCommand::Retry(a) => (a, true),
    };
    let pipe = args.sync.pipeline(SyncOptions::default()).await?;
    let tables = crate::status::table_ids(&args.sync, &args.table, &pipe).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    for location in &tables {
        let src = args.sync.source(location).await?;
        if retry {
            let r = pipe.quarantine_retry(&src).await?;
            writeln!(
                out,
                "{}: {} applied, {} superseded by a newer version, {} still bad, {} failed",
                src.id,
                r.applied,
                r.superseded,
                r.still_bad,
                r.failed.len()
            )?;
            for (id, e) in &r.failed {
                eprintln!("hudi-pg-sync: {}: quarantined row #{id}: {e}", src.id);
            }
            failed += usize::from(!r.failed.is_empty());
        } else {
            let (spec, rows) = pipe.quarantine_list(&src).await?;
            let q = spec.validate()?.quarantine_q()?;
            writeln!(out, "{}: {} quarantined row(s) in {q}", src.id, rows.len())?;
            for r in &rows {
                writeln!(out, "{}", row_line(r))?;
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        return Err(CliError::Tables {
            failed,
            total: tables.len(),
        });
    }
    Ok(())
}
