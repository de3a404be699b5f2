//! `hudi-pg-sync status`: per table the bookmark (the store's view), the fence (PostgreSQL's
//! view, the truth about staging), the latest completed instant, how many instants behind
//! and the lag; `--format json` adds, for scripts, the qualified staging/landing/fence table
//! names, the delete policy and the tombstone column or table.
//!
//! Without `--table`, every table with a bookmark in the pipeline is shown (a table id is its
//! location, so it can be opened again); with `--config`, every table of the file. Each
//! table's `settings` says where its target settings came from (the file and its entry, or
//! the command line).

use std::io::Write;

use chrono::{DateTime, Utc};
use hps_hudi::HudiTable;
use hps_postgres::{ConnectionManager, DeletePolicy, HPS_DELETED, PgError, TargetTable};
use hps_sync::{Bookmark, BookmarkState, Fence, FenceStatus, Position, SliceCursor, SyncOptions};
use serde::Serialize;

use crate::CliError;
use crate::lag::{freshness, human_duration, thousands};
use crate::setup::SyncArgs;

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// For people.
    Text,
    /// One JSON document (`{"pipeline", "bookmarks", "tables": [...]}`), for scripts.
    Json,
}

/// Arguments of `status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Tables to show (repeatable); default: every table with a bookmark in the pipeline.
    #[arg(long)]
    pub table: Vec<String>,
    /// Connection, bookmarks, target.
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
}

/// The whole `status --format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Pipeline name.
    pub pipeline: String,
    /// The bookmark store as given.
    pub bookmarks: String,
    /// One entry per table.
    pub tables: Vec<TableReport>,
}

/// The state of one table.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TableReport {
    /// Table id (its normalized location).
    pub table: String,
    /// Where the table's target settings came from: `command line`, or
    /// `<configuration file> [tables.<id>]`.
    pub settings: Option<String>,
    /// `new`, `behind`, `up_to_date`, `partial`, `paused`, `needs_resync`, `resyncing`, or
    /// `error` when the status could not be read (see `error`).
    pub state: String,
    /// Qualified staging table (`"schema"."name"`).
    pub staging: Option<String>,
    /// Qualified landing table.
    pub landing: Option<String>,
    /// Qualified fence table.
    pub fence_table: Option<String>,
    /// Whether the staging table exists.
    pub staging_exists: Option<bool>,
    /// DDL statements the sync ran on the target's tables (`<schema>.hps_schema_history`).
    pub schema_changes: Option<u64>,
    /// The latest of them.
    pub last_schema_change: Option<SchemaChangeView>,
    /// `hard` or `soft`: the staging table's policy when it exists, else the configured one.
    pub delete_policy: Option<String>,
    /// Soft deletes: the boolean column marking deleted rows.
    pub tombstone_column: Option<String>,
    /// Hard deletes: the table keeping the versions of deleted keys.
    pub tombstone_table: Option<String>,
    /// The bookmark store's view.
    pub bookmark: Option<BookmarkView>,
    /// Whether the bookmark mirrors the fence (the next pass reconciles when not).
    pub bookmark_in_sync: Option<bool>,
    /// PostgreSQL's view.
    pub fence: Option<FenceView>,
    /// The latest completed data-writing instant of the table.
    pub latest_instant: Option<Position>,
    /// Completed data-writing instants after the fence position.
    pub instants_behind: Option<usize>,
    /// How long the oldest unapplied instant has been complete (0 when up to date).
    pub lag_seconds: Option<u64>,
    /// The current lease, if held.
    pub lease: Option<LeaseView>,
    /// Qualified quarantine table (`on_bad_row = "quarantine"`).
    pub quarantine_table: Option<String>,
    /// Rows in it (`None`: the table has no quarantine table).
    pub quarantined: Option<u64>,
    /// Why the status could not be read.
    pub error: Option<String>,
}

/// A recorded DDL statement for display.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaChangeView {
    /// The instant being applied (or `first..last` of its window).
    pub instant: Option<String>,
    /// `created`, `new column`, `widening`, `internal column`.
    pub reason: String,
    /// The statement.
    pub statement: String,
    /// When it committed.
    pub applied_at: DateTime<Utc>,
}

/// A bookmark for display.
#[derive(Debug, Clone, Serialize)]
pub struct BookmarkView {
    /// Last applied instant.
    pub position: Option<Position>,
    /// Store version.
    pub version: u64,
    /// `active`, `paused`, `needs_resync`, `resyncing`.
    pub state: String,
    /// Pause or resync reason.
    pub reason: Option<String>,
    /// Change rows applied in total.
    pub rows_applied: u64,
    /// Last write.
    pub updated_at: DateTime<Utc>,
    /// Partially applied window.
    pub cursor: Option<SliceCursor>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// A fence for display.
#[derive(Debug, Clone, Serialize)]
pub struct FenceView {
    /// Last applied instant.
    pub position: Option<Position>,
    /// Compare-and-set counter.
    pub version: i64,
    /// `active`, `needs_resync`, `resyncing`.
    pub status: String,
    /// Resync reason.
    pub reason: Option<String>,
    /// Change rows applied in total.
    pub rows_applied: u64,
    /// Last write (database clock).
    pub applied_at: DateTime<Utc>,
    /// Partially applied window.
    pub cursor: Option<SliceCursor>,
}

/// A held lease.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    /// Holder.
    pub owner: String,
    /// Expiry unless renewed.
    pub expires_at: DateTime<Utc>,
}

fn bookmark_view(b: &Bookmark) -> BookmarkView {
    let reason = match &b.state {
        BookmarkState::Paused { reason } => reason.clone(),
        BookmarkState::NeedsResync { reason } => Some(reason.clone()),
        _ => None,
    };
    BookmarkView {
        position: b.position.clone(),
        version: b.version,
        state: b.state.name().to_string(),
        reason,
        rows_applied: b.rows_applied,
        updated_at: b.updated_at,
        cursor: b.cursor.clone(),
        last_error: b.last_error.as_ref().map(|e| e.message.clone()),
    }
}

fn fence_view(f: &Fence) -> FenceView {
    FenceView {
        position: f.position.clone(),
        version: f.version,
        status: f.status.name().to_string(),
        reason: match &f.status {
            FenceStatus::NeedsResync { reason } => Some(reason.clone()),
            _ => None,
        },
        rows_applied: f.rows_applied,
        applied_at: f.applied_at,
        cursor: f.cursor.clone(),
    }
}

/// Whether the staging table exists and whether it has the soft-delete column.
async fn staging_facts(
    conn: &mut ConnectionManager,
    staging_q: &str,
) -> Result<(bool, bool), PgError> {
    let client = conn.client().await?;
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
            &[&staging_q, &HPS_DELETED],
        )
        .await
        .map_err(|e| PgError::db("reading the staging table's catalog", e))?;
    Ok((row.get(0), row.get(1)))
}

fn policy_name(p: DeletePolicy) -> &'static str {
    match p {
        DeletePolicy::Hard => "hard",
        DeletePolicy::Soft => "soft",
    }
}

/// The tables a command acts on: the `--table`s given, else every table of `--config`,
/// else every table with a bookmark in the pipeline.
pub async fn table_ids(
    sync: &SyncArgs,
    given: &[String],
    pipe: &hps_sync::SyncPipeline,
) -> Result<Vec<String>, CliError> {
    Ok(if !given.is_empty() {
        given.to_vec()
    } else if let Some(c) = &sync.config {
        let config = crate::setup::load_config(c).await?;
        config.tables.iter().map(|t| t.id.clone()).collect()
    } else {
        pipe.bookmarks()
            .list(pipe.name())
            .await?
            .into_iter()
            .map(|b| b.table)
            .collect()
    })
}

/// Collect the status of the tables.
pub async fn collect(args: &StatusArgs) -> Result<StatusReport, CliError> {
    let pipe = args.sync.pipeline(SyncOptions::default()).await?;
    let tables = table_ids(&args.sync, &args.table, &pipe).await?;
    let mut conn = ConnectionManager::new(args.sync.connector()?);
    let mut out = Vec::new();
    for location in &tables {
        let report = match table_report(args, &pipe, &mut conn, location).await {
            Ok(r) => r,
            Err(e) => TableReport {
                table: crate::setup::table_id(location).unwrap_or_else(|_| location.clone()),
                state: "error".into(),
                error: Some(e.to_string()),
                ..TableReport::default()
            },
        };
        out.push(report);
    }
    Ok(StatusReport {
        pipeline: pipe.name().to_string(),
        bookmarks: args.sync.store.bookmarks.clone(),
        tables: out,
    })
}

async fn table_report(
    args: &StatusArgs,
    pipe: &hps_sync::SyncPipeline,
    conn: &mut ConnectionManager,
    location: &str,
) -> Result<TableReport, CliError> {
    let (src, settings) = args.sync.resolve(location).await?;
    let st = pipe.status(&src).await?;
    let spec: &TargetTable = &st.target;
    let names = spec.validate()?;
    let staging_q = names.staging_q();
    let (exists, soft_column) = staging_facts(conn, &staging_q).await?;
    let history = {
        let client = conn.client().await?;
        hps_postgres::schema_history(&*client, &spec.schema, Some(&spec.staging)).await?
    };
    let policy = if exists {
        if soft_column {
            DeletePolicy::Soft
        } else {
            DeletePolicy::Hard
        }
    } else {
        spec.delete_policy
    };
    let position = st
        .fence
        .as_ref()
        .and_then(|f| f.position.clone())
        .or_else(|| st.bookmark.as_ref().and_then(|b| b.position.clone()));
    let hudi = HudiTable::open(src.store.clone()).await?;
    let timeline = hudi.timeline().await?;
    let f = freshness(
        &timeline,
        &hudi.config().timeline_timezone,
        position.as_ref(),
        Utc::now(),
    );
    let now = Utc::now();
    let lease = st
        .lease
        .as_ref()
        .filter(|l| !l.is_released() && !l.is_expired_at(now))
        .map(|l| LeaseView {
            owner: l.owner.clone(),
            expires_at: l.expires_at,
        });
    Ok(TableReport {
        table: st.table.clone(),
        settings: Some(settings.to_string()),
        state: st.state().to_string(),
        staging: Some(staging_q),
        landing: Some(names.landing_q()),
        fence_table: Some(
            hps_sync::FenceTable::for_target(spec)?
                .qualified()
                .to_string(),
        ),
        staging_exists: Some(exists),
        schema_changes: Some(history.len() as u64),
        last_schema_change: history.last().map(|h| SchemaChangeView {
            instant: h.instant.clone(),
            reason: h.reason.clone(),
            statement: h.statement.clone(),
            applied_at: h.applied_at,
        }),
        delete_policy: Some(policy_name(policy).to_string()),
        tombstone_column: (policy == DeletePolicy::Soft).then(|| HPS_DELETED.to_string()),
        tombstone_table: (policy == DeletePolicy::Hard).then(|| names.tombstones_q()),
        bookmark: st.bookmark.as_ref().map(bookmark_view),
        bookmark_in_sync: Some(st.bookmark_in_sync),
        fence: st.fence.as_ref().map(fence_view),
        latest_instant: st.latest.clone(),
        instants_behind: Some(st.instants_behind),
        lag_seconds: f.lag.map(|d| d.as_secs()),
        lease,
        quarantine_table: Some(names.quarantine_q()?),
        quarantined: st.quarantined,
        error: None,
    })
}

fn pos(p: &Option<Position>) -> String {
    p.as_ref()
        .map_or("(nothing applied)".to_string(), |p| p.to_string())
}

/// Render the report for people.
pub fn write_text(report: &StatusReport, out: &mut impl Write) -> std::io::Result<()> {
    if report.tables.is_empty() {
        writeln!(
            out,
            "no tables in pipeline {:?} (bookmarks: {}); name one with --table",
            report.pipeline, report.bookmarks
        )?;
    }
    for (i, t) in report.tables.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", t.table)?;
        if let Some(e) = &t.error {
            writeln!(out, "  error            {e}")?;
            continue;
        }
        let state = t.state.replace('_', " ");
        writeln!(out, "  state            {state}")?;
        if let Some(s) = &t.settings {
            writeln!(out, "  settings         {s}")?;
        }
        if let Some(s) = &t.staging {
            let deletes = match (
                t.delete_policy.as_deref(),
                &t.tombstone_column,
                &t.tombstone_table,
            ) {
                (Some("soft"), Some(c), _) => format!("soft deletes: {c}"),
                (_, _, Some(tt)) => format!("hard deletes, tombstones in {tt}"),
                _ => String::new(),
            };
            let missing = if t.staging_exists == Some(false) {
                ", not created yet"
            } else {
                ""
            };
            writeln!(out, "  staging          {s} ({deletes}{missing})")?;
        }
        if let Some(h) = &t.last_schema_change {
            writeln!(
                out,
                "  schema changes   {} · last: {} at {} ({}): {}",
                t.schema_changes.unwrap_or(0),
                h.reason,
                h.instant.as_deref().unwrap_or("-"),
                h.applied_at.format("%Y-%m-%d %H:%M:%S UTC"),
                h.statement.lines().next().unwrap_or("")
            )?;
        }
        if let Some(f) = &t.fence {
            let mut line = format!(
                "{} · fence version {} · {} change rows applied · {}",
                pos(&f.position),
                f.version,
                thousands(f.rows_applied),
                f.applied_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            if let Some(c) = &f.cursor {
                line.push_str(&format!(
                    " · window to {} applied up to slice {}/{}",
                    c.window_end,
                    c.next_slice,
                    c.total_slices.map_or("?".to_string(), |n| n.to_string())
                ));
            }
            if let Some(r) = &f.reason {
                line.push_str(&format!(" · {r}"));
            }
            writeln!(out, "  fence            {line}")?;
        } else {
            writeln!(
                out,
                "  fence            (none: never synced into this database)"
            )?;
        }
        match &t.bookmark {
            Some(b) => {
                let sync = if t.bookmark_in_sync == Some(true) {
                    "mirrors the fence"
                } else {
                    "differs from the fence (the next pass reconciles it)"
                };
                let mut line = format!("{} · version {} · {sync}", pos(&b.position), b.version);
                if b.state != "active" {
                    line.push_str(&format!(" · {}", b.state.replace('_', " ")));
                    if let Some(r) = &b.reason {
                        line.push_str(&format!(" ({r})"));
                    }
                }
                writeln!(out, "  bookmark         {line}")?;
                if let Some(e) = &b.last_error {
                    writeln!(out, "  last error       {e}")?;
                }
            }
            None => writeln!(out, "  bookmark         (none)")?,
        }
        writeln!(
            out,
            "  latest instant   {}",
            t.latest_instant
                .as_ref()
                .map_or("(no completed commits)".to_string(), |p| p.to_string())
        )?;
        let behind = t.instants_behind.unwrap_or(0);
        let lag = t.lag_seconds.map_or("unknown".to_string(), |s| {
            human_duration(std::time::Duration::from_secs(s))
        });
        writeln!(
            out,
            "  behind           {behind} instant{} · lag {lag}",
            if behind == 1 { "" } else { "s" }
        )?;
        if let (Some(n), Some(q)) = (t.quarantined, &t.quarantine_table) {
            writeln!(
                out,
                "  quarantine       {n} row{} in {q} (hudi-pg-sync quarantine list)",
                if n == 1 { "" } else { "s" }
            )?;
        }
        if let Some(l) = &t.lease {
            writeln!(
                out,
                "  lease            held by {} until {}",
                l.owner,
                l.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            )?;
        }
    }
    out.flush()
}

/// The `status` command.
pub async fn status(args: StatusArgs) -> Result<(), CliError> {
    let report = collect(&args).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        StatusFormat::Text => write_text(&report, &mut out)?,
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::other)?;
            writeln!(out)?;
            out.flush()?;
        }
    }
    let failed = report.tables.iter().filter(|t| t.error.is_some()).count();
    for t in report.tables.iter().filter(|t| t.error.is_some()) {
        eprintln!(
            "hudi-pg-sync: status of {}: {}",
            t.table,
            t.error.as_deref().unwrap_or("")
        );
    }
    if failed > 0 {
        return Err(CliError::Tables {
            failed,
            total: report.tables.len(),
        });
    }
    Ok(())
}
