//! The read-only commands: `timeline` and `changes`.

use std::io::Write;

use futures::TryStreamExt;
use hps_hudi::{HudiTable, IncrementalPlan, ReadOptions};

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
pub async fn timeline(table: &HudiTable, out: &mut impl Write) -> Result<(), CliError> {
    let tl = table.timeline().await?;
    for i in &tl.completed {
        let op = if i.action.is_write() {
            table.commit_metadata(i).await?.operation().to_string()
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            i.requested_time,
            i.completion_time.as_deref().unwrap_or(""),
            i.action,
            op
        )?;
    }
    out.flush()?;
    Ok(())
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
