//! `after_apply`: a table's own SQL statements, run inside each apply transaction after the
//! upsert and before the fence moves, so that their effects commit exactly when the load's
//! rows do (and a load whose transaction rolled back leaves no trace of them either).
//!
//! Every statement is prepared with these parameters, bound, never spliced into its text
//! (a statement uses the ones it needs; their types are declared, so unused ones are fine):
//!
//! | parameter | type | value |
//! |---|---|---|
//! | `$1` | `text` | the load id (`_hps_load_id` of the rows this transaction wrote) |
//! | `$2` | `text` | the window's start: the position before it (`NULL` for a table's first window) |
//! | `$3` | `text` | the window's end position |
//! | `$4` | `bigint` | change rows this transaction applied (COPYed) |
//! | `$5` | `bigint` | staging rows it inserted |
//! | `$6` | `bigint` | staging rows it updated |
//! | `$7` | `bigint` | deletes that won the version guard |
//!
//! A window split into several transactions (large windows, a resumed cursor) runs the
//! statements once per transaction, each with its own load id and the same window.
//! Transactions that apply no rows (a window of table services only) do not run them.

use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::tokio_postgres::types::Type;
use hps_postgres::{ApplyStats, PgError};

/// The declared types of `$1…$7`.
const PARAM_TYPES: [Type; 7] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
];

/// What the statements of one transaction are told.
#[derive(Debug, Clone)]
pub(crate) struct LoadFacts<'a> {
    /// The load id.
    pub load_id: &'a str,
    /// The window's start (`None`: the table's first window).
    pub window_from: Option<String>,
    /// The window's end.
    pub window_to: String,
    /// Change rows applied by this transaction.
    pub rows: u64,
    /// The apply's counters.
    pub stats: &'a ApplyStats,
}

fn int8(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Run `statements` in order inside `tx`; the first failure names the statement and rolls
/// the whole transaction back (its error class decides whether the pass retries).
pub(crate) async fn run(
    tx: &Transaction<'_>,
    statements: &[String],
    facts: &LoadFacts<'_>,
) -> Result<(), PgError> {
    let rows = int8(facts.rows);
    let inserted = int8(facts.stats.inserted);
    let updated = int8(facts.stats.updated);
    let deleted = int8(facts.stats.deleted);
    for (i, sql) in statements.iter().enumerate() {
        let context = format!("after_apply statement {} ({})", i + 1, preview(sql));
        let stmt = tx
            .prepare_typed(sql, &PARAM_TYPES)
            .await
            .map_err(|e| PgError::db(context.clone(), e))?;
        tx.execute(
            &stmt,
            &[
                &facts.load_id,
                &facts.window_from,
                &facts.window_to,
                &rows,
                &inserted,
                &updated,
                &deleted,
            ],
        )
        .await
        .map_err(|e| PgError::db(context, e))?;
    }
    Ok(())
}

/// The start of a statement, for error messages.
fn preview(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_short_single_lines() {
        assert_eq!(preview("select\n  1"), "select 1");
        let long = "x".repeat(100);
        assert_eq!(preview(&long).chars().count(), 61);
    }
}
