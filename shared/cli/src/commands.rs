//! The read-only commands: `timeline` and `changes`.

use std::io::Write;

use futures::TryStreamExt;
use hps_hudi::instant::compare_instant_times;
use hps_hudi::{ArchivedInstant, HudiTable, IncrementalPlan, ReadOptions};

use crate::CliError;
use crate::json::write_jsonl;
use crate::store::open_store;

/// Open the Hudi table at `location` (local path, `file://` or `s3://`).
pub async fn open_table(location: &str) -> Result<HudiTable, CliError> {
    let store = open_store(location).await.map_err(|e| CliError::Store {
        location: location.to_string(),
        source: e,
    })?;
    Ok(HudiTable::open(store).await?)
}

/// One line per completed instant, in timeline (requested-time) order:
/// `requested<TAB>completion-or-empty<TAB>action<TAB>operation-type-or-empty`.
///
/// With `archived`, the archived instants are listed too and every line gains a fifth
/// column, `archived` or `active` (an instant found in both places is listed once, as
/// active). On v6 tables the completion time of an archived instant is the time its
/// completed state was recorded in the archive.
pub async fn timeline(
    table: &HudiTable,
    archived: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    // the active timeline first, then the archive: an instant archived in between is then
    // in at least one of the two
    let tl = table.timeline().await?;
    let mut lines: Vec<TimelineLine> = Vec::with_capacity(tl.completed.len());
    for i in &tl.completed {
        let op = if i.action.is_write() {
            table.commit_metadata(i).await?.operation().to_string()
        } else {
            String::new()
        };
        lines.push(TimelineLine {
            requested: i.requested_time.clone(),
            completion: i.completion_time.clone(),
            action: i.action.to_string(),
            operation: op,
            archived: false,
        });
    }
    if archived {
        let mut arch = table.archived_timeline(None).await?;
        arch.retain_not_active(&tl);
        lines.extend(arch.instants.into_iter().map(archived_line));
        lines.sort_by(|a, b| compare_instant_times(&a.requested, &b.requested));
    }
    for l in &lines {
        write!(
            out,
            "{}\t{}\t{}\t{}",
            l.requested,
            l.completion.as_deref().unwrap_or(""),
            l.action,
            l.operation
        )?;
        if archived {
            write!(out, "\t{}", if l.archived { "archived" } else { "active" })?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

/// One line of `timeline`.
struct TimelineLine {
    requested: String,
    completion: Option<String>,
    action: String,
    operation: String,
    archived: bool,
}

fn archived_line(i: ArchivedInstant) -> TimelineLine {
    let operation = match &i.metadata {
        Some(m) if i.action.is_write() => m.operation().to_string(),
        _ => String::new(),
    };
    TimelineLine {
        requested: i.requested_time,
        completion: i.completion_time,
        action: i.action.to_string(),
        operation,
        archived: true,
    }
}

/// Output formats of `changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChangesFormat {
    /// One JSON object per changed row.
    Jsonl,
}

/// Stream the change rows of `(after, until]` to `out`; returns the plan (for its `end`).
pub async fn changes(
    table: &HudiTable,
    after: Option<&str>,
    until: Option<&str>,
    format: ChangesFormat,
    options: &ReadOptions,
    out: &mut impl Write,
) -> Result<IncrementalPlan, CliError> {
    let plan = table.plan(after, until).await?;
    let mut batches = table.read_changes(&plan, options);
    while let Some(batch) = batches.try_next().await? {
        match format {
            ChangesFormat::Jsonl => write_jsonl(out, &batch)?,
        }
    }
    out.flush()?;
    Ok(plan)
}
