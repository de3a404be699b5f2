//! The schema history: every DDL statement the apply path runs on a target's staging,
//! landing and tombstone tables (their creation included) is recorded in
//! `<schema>.hps_schema_history`, in the same transaction as the statement, so the history
//! holds exactly the DDL that committed.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Transaction};
use tracing::info;

use crate::error::PgError;
use crate::ident::{Ident, fit, qualified};
use crate::layout::Plan;
use crate::spec::{Names, SCHEMA_HISTORY, TargetTable};

/// One recorded DDL statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaChange {
    /// Order of application (increasing).
    pub id: i64,
    /// The caller's table id, when it named one ([`crate::ChangeSource`]).
    pub table_id: Option<String>,
    /// The staging table of the target (unqualified; the history is per schema).
    pub staging_table: String,
    /// The table the statement ran on: staging, landing or tombstones (unqualified).
    pub target_table: String,
    /// The instant being applied, when the caller named it.
    pub instant: Option<String>,
    /// `created`, `new column`, `widening` or `internal column`.
    pub reason: String,
    /// The statement as run.
    pub statement: String,
    /// When its transaction ran.
    pub applied_at: DateTime<Utc>,
}

fn create_sql(names: &Names) -> Result<String, PgError> {
    let hist = names.history_q();
    let idx = Ident::new(&fit(names.history.as_str(), "_staging_idx"))?;
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {hist} (\n  \
         id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
         table_id text,\n  staging_table text NOT NULL,\n  target_table text NOT NULL,\n  \
         instant text,\n  reason text NOT NULL,\n  statement text NOT NULL,\n  \
         applied_at timestamp with time zone NOT NULL DEFAULT now()\n);\n\
         CREATE INDEX IF NOT EXISTS {idx} ON {hist} (staging_table, id)"
    ))
}

/// Run the plan's DDL in `tx`, each statement followed by its history row (the history table
/// is created first when missing).
pub(crate) async fn run_ddl(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    names: &Names,
    p: &Plan,
) -> Result<(), PgError> {
    let table = spec.display_name();
    if p.ddl.is_empty() {
        return Ok(());
    }
    let hist = names.history_q();
    if p.create_history {
        let s = create_sql(names)?;
        info!(table = %table, ddl = %s, "schema history");
        tx.batch_execute(&s)
            .await
            .map_err(|e| PgError::db(format!("{table}: creating {hist}"), e))?;
    }
    let insert = format!(
        "INSERT INTO {hist} (table_id, staging_table, target_table, instant, reason, statement) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    );
    let table_id = spec.source.as_ref().map(|s| s.table_id.as_str());
    let instant = spec.source.as_ref().and_then(|s| s.instant.as_deref());
    for d in &p.ddl {
        info!(table = %table, ddl = %d.sql, reason = d.reason.as_str(), "schema change");
        tx.batch_execute(&d.sql)
            .await
            .map_err(|e| PgError::db(format!("{table}: {}", d.sql), e))?;
        tx.execute(
            &insert,
            &[
                &table_id,
                &names.staging.as_str(),
                &d.target.as_str(),
                &instant,
                &d.reason.as_str(),
                &d.sql,
            ],
        )
        .await
        .map_err(|e| PgError::db(format!("{table}: recording in {hist}"), e))?;
    }
    Ok(())
}

/// The schema history of the targets in `schema` (oldest first), of staging table `staging`
/// only when given; empty when the sync never ran DDL there.
pub async fn schema_history<C: GenericClient + Sync>(
    client: &C,
    schema: &str,
    staging: Option<&str>,
) -> Result<Vec<SchemaChange>, PgError> {
    let hist = qualified(&Ident::new(schema)?, &Ident::new(SCHEMA_HISTORY)?);
    let db = |e| PgError::db(format!("reading {hist}"), e);
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&hist])
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT id, table_id, staging_table, target_table, instant, reason, statement, \
                 applied_at FROM {hist} WHERE $1::text IS NULL OR staging_table = $1 ORDER BY id"
            ),
            &[&staging],
        )
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| SchemaChange {
            id: r.get(0),
            table_id: r.get(1),
            staging_table: r.get(2),
            target_table: r.get(3),
            instant: r.get(4),
            reason: r.get(5),
            statement: r.get(6),
            applied_at: r.get(7),
        })
        .collect())
}
