//! Rows PostgreSQL cannot hold ([`BadRowPolicy`]): found while a load is encoded, before
//! anything reaches the server; with `quarantine` each goes into `<staging>__quarantine`
//! in the load's own transaction, losslessly, and can be re-applied later
//! ([`crate::Applier::retry_quarantined`]).
//!
//! The row itself is stored as an Arrow IPC stream (`row_data bytea`, `row_format =
//! 'arrow-ipc-stream'`): schema and one row exactly as the apply path received it, NUL
//! characters and out-of-range values included (PostgreSQL's `text` and `jsonb` cannot
//! hold U+0000). The descriptive text columns (`record_key`, `instant`, …) show values with
//! two escapes, `\\` for a backslash and `\0` for NUL ([`escape_text`]).

use std::io::Cursor;

use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::Schema;
use tokio_postgres::Transaction;
use tracing::{info, warn};

use crate::apply::Applier;
use crate::bulk::LoadMode;
use crate::copy::EncodeError;
use crate::error::PgError;
use crate::ident::{Ident, fit, fnv1a64, qualified};
use crate::layout::{COL_COMMIT_SEQNO, COL_COMMIT_TIME, COL_FILE_NAME, Incoming};
use crate::spec::{BadRowPolicy, Names, TargetTable};

/// Suffix of a table's quarantine table (`<staging>__quarantine`).
pub const QUARANTINE_SUFFIX: &str = "__quarantine";

/// `row_format` of the rows this version writes.
pub const ROW_FORMAT: &str = "arrow-ipc-stream";

/// The quarantine table of a target.
pub(crate) fn quarantine_ident(names: &Names) -> Result<Ident, PgError> {
    Ident::new(&fit(names.staging.as_str(), QUARANTINE_SUFFIX))
}

/// `s` with `\` written `\\` and NUL written `\0`: what the quarantine's text columns and
/// `quarantine list` show (the exact value is in `row_data`).
pub fn escape_text(s: &str) -> String {
    if !s.contains(['\\', '\0']) {
        return s.to_string();
    }
    s.replace('\\', "\\\\").replace('\0', "\\0")
}

/// One row of a one-row Arrow IPC stream as written by the quarantine: its batch.
pub fn quarantined_batch(row_data: &[u8]) -> Result<RecordBatch, PgError> {
    let bad = |reason: String| PgError::custom(format!("quarantined row: {reason}"));
    let mut r = arrow_ipc::reader::StreamReader::try_new(Cursor::new(row_data), None)
        .map_err(|e| bad(e.to_string()))?;
    let batch = r
        .next()
        .ok_or_else(|| bad("no batch in the stream".into()))?
        .map_err(|e| bad(e.to_string()))?;
    if batch.num_rows() != 1 {
        return Err(bad(format!("{} rows, expected 1", batch.num_rows())));
    }
    Ok(batch)
}

/// Row `row` of `batch` as a one-row Arrow IPC stream.
pub(crate) fn row_bytes(batch: &RecordBatch, row: usize) -> Result<Vec<u8>, String> {
    let one = batch.slice(row, 1);
    let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &one.schema())
        .map_err(|e| e.to_string())?;
    w.write(&one).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    w.into_inner().map_err(|e| e.to_string())
}

/// Where the values that identify a change row are in the load's batches.
struct RowFacts {
    instant: Option<usize>,
    file: Option<usize>,
    seqno: Option<usize>,
    op: usize,
    key: Vec<(String, usize)>,
    ordering: Vec<(String, usize)>,
}

impl RowFacts {
    fn new(schema: &Schema, incoming: &Incoming) -> Self {
        let at = |ids: &[Ident]| -> Vec<(String, usize)> {
            ids.iter()
                .filter_map(|k| incoming.column(k))
                .map(|c| (c.ident.as_str().to_string(), c.index))
                .collect()
        };
        RowFacts {
            instant: schema.index_of(COL_COMMIT_TIME).ok(),
            file: schema.index_of(COL_FILE_NAME).ok(),
            seqno: schema.index_of(COL_COMMIT_SEQNO).ok(),
            op: incoming.op_index,
            key: at(&incoming.key),
            ordering: at(&incoming.ordering),
        }
    }
}

/// A value of `batch` as display text (escaped), `None` when null or absent.
fn text_at(batch: &RecordBatch, index: Option<usize>, row: usize) -> Option<String> {
    let a = batch.columns().get(index?)?;
    if a.is_null(row) {
        return None;
    }
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).ok()?;
    Some(escape_text(&f.value(row).to_string()))
}

/// `name=value, …` of the named columns (escaped; NULL for a null).
fn pairs(batch: &RecordBatch, cols: &[(String, usize)], row: usize) -> Option<String> {
    if cols.is_empty() {
        return None;
    }
    let parts: Vec<String> = cols
        .iter()
        .map(|(n, i)| {
            let v = text_at(batch, Some(*i), row).unwrap_or_else(|| "NULL".into());
            if cols.len() == 1 {
                v
            } else {
                format!("{}={v}", escape_text(n))
            }
        })
        .collect();
    Some(parts.join(", "))
}

/// One rejected row, ready to be stored.
#[derive(Debug, Clone)]
struct BadRow {
    instant: Option<String>,
    file: Option<String>,
    record_key: Option<String>,
    commit_seqno: Option<String>,
    ordering: Option<String>,
    op: Option<String>,
    column: String,
    reason: String,
    load_row: i64,
    row_data: Vec<u8>,
}

/// How a load treats a row that cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadRowMode {
    /// Fail the load.
    Stop,
    /// Quarantine the row.
    Quarantine,
    /// A retry of quarantined row `id`: it leaves the quarantine if it applies, or keeps its
    /// place with the new reason.
    Retry(i64),
}

impl From<BadRowPolicy> for BadRowMode {
    fn from(p: BadRowPolicy) -> Self {
        match p {
            BadRowPolicy::Stop => BadRowMode::Stop,
            BadRowPolicy::Quarantine => BadRowMode::Quarantine,
        }
    }
}

/// The rows of one load that could not be encoded.
pub(crate) struct BadRows {
    mode: BadRowMode,
    facts: RowFacts,
    table: String,
    max: usize,
    found: Vec<BadRow>,
}

impl BadRows {
    pub(crate) fn new(
        mode: BadRowMode,
        schema: &Schema,
        incoming: &Incoming,
        table: &str,
        max: usize,
    ) -> Self {
        BadRows {
            mode,
            facts: RowFacts::new(schema, incoming),
            table: table.to_string(),
            max,
            found: Vec::new(),
        }
    }

    /// Whether bad rows are set aside rather than failing the load.
    pub(crate) fn quarantines(&self) -> bool {
        self.mode != BadRowMode::Stop
    }

    /// A row of `batch` (whose first row is row `base` of the load) failed to encode:
    /// quarantine it and return its index in the batch, or the error that stops the load.
    pub(crate) fn reject(
        &mut self,
        batch: &RecordBatch,
        base: u64,
        e: EncodeError,
    ) -> Result<usize, PgError> {
        let Some(row) = e.row else {
            return Err(PgError::InvalidSchema {
                table: self.table.clone(),
                reason: format!("column {:?}: {}", e.column, e.reason),
            });
        };
        let f = &self.facts;
        let instant = text_at(batch, f.instant, row);
        let file = text_at(batch, f.file, row);
        let load_row = base + row as u64;
        if !self.quarantines() {
            return Err(PgError::InvalidData {
                table: self.table.clone(),
                column: e.column,
                row: load_row,
                origin: format!(
                    "instant {}, file {}",
                    instant.as_deref().unwrap_or("?"),
                    file.as_deref().unwrap_or("?"),
                ),
                reason: e.reason,
            });
        }
        if self.found.len() >= self.max {
            return Err(PgError::InvalidData {
                table: self.table.clone(),
                column: e.column,
                row: load_row,
                origin: format!(
                    "more than {} rows of this load cannot be stored: that is no longer one \
                     bad row but a systematic problem; the last one at instant {}",
                    self.max,
                    instant.as_deref().unwrap_or("?")
                ),
                reason: e.reason,
            });
        }
        let row_data = row_bytes(batch, row).map_err(|r| PgError::InvalidData {
            table: self.table.clone(),
            column: e.column.clone(),
            row: load_row,
            origin: "encoding the row for the quarantine".into(),
            reason: r,
        })?;
        warn!(table = %self.table, column = %e.column, reason = %e.reason, load_row,
              instant = instant.as_deref().unwrap_or("?"), "row quarantined");
        self.found.push(BadRow {
            record_key: pairs(batch, &f.key, row),
            commit_seqno: text_at(batch, f.seqno, row),
            ordering: pairs(batch, &f.ordering, row),
            op: text_at(batch, Some(f.op), row),
            instant,
            file,
            column: e.column,
            reason: e.reason,
            load_row: load_row as i64,
            row_data,
        });
        Ok(row)
    }

    /// Store the rows (inside the load's transaction); returns how many this load
    /// quarantined. A retry removes its row from the quarantine when it applied, or records
    /// the new reason.
    pub(crate) async fn store(
        self,
        tx: &Transaction<'_>,
        names: &Names,
        load_id: &str,
    ) -> Result<u64, PgError> {
        let table = &self.table;
        let q = qualified(&names.schema, &quarantine_ident(names)?);
        let db = |what: &str| {
            let c = format!("{table}: {what} {q}");
            move |e| PgError::db(c, e)
        };
        if let BadRowMode::Retry(id) = self.mode {
            let Some(b) = self.found.first() else {
                tx.execute(&format!("DELETE FROM {q} WHERE id = $1"), &[&id])
                    .await
                    .map_err(db("removing a retried row from"))?;
                return Ok(0);
            };
            tx.execute(
                &format!(
                    "UPDATE {q} SET column_name = $2, reason = $3, retries = retries + 1, \
                     retried_at = now() WHERE id = $1"
                ),
                &[&id, &b.column, &b.reason],
            )
            .await
            .map_err(db("updating"))?;
            return Ok(1);
        }
        if self.found.is_empty() {
            return Ok(0);
        }
        ensure_table(tx, names, &q, table).await?;
        let col = |f: fn(&BadRow) -> Option<String>| -> Vec<Option<String>> {
            self.found.iter().map(f).collect()
        };
        let (instant, file, key, seqno, ordering, op) = (
            col(|b| b.instant.clone()),
            col(|b| b.file.clone()),
            col(|b| b.record_key.clone()),
            col(|b| b.commit_seqno.clone()),
            col(|b| b.ordering.clone()),
            col(|b| b.op.clone()),
        );
        let column: Vec<&str> = self.found.iter().map(|b| b.column.as_str()).collect();
        let reason: Vec<&str> = self.found.iter().map(|b| b.reason.as_str()).collect();
        let load_row: Vec<i64> = self.found.iter().map(|b| b.load_row).collect();
        let data: Vec<&[u8]> = self.found.iter().map(|b| b.row_data.as_slice()).collect();
        // a window applied again (replanned after a crash) finds the same rows: kept once
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO {q} (load_id, instant, file, record_key, commit_seqno, ordering, op, \
                       column_name, reason, load_row, row_format, row_data) \
                     SELECT $1, u.i, u.f, u.k, u.s, u.o, u.op, u.c, u.r, u.lr, $12, u.d FROM unnest($2::text[], $3::text[], $4::text[], \
                       $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], \
                       $11::bytea[]) AS u(i, f, k, s, o, op, c, r, lr, d) \
                     WHERE NOT EXISTS (SELECT 1 FROM {q} x WHERE x.row_data = u.d \
                       AND x.instant IS NOT DISTINCT FROM u.i AND x.file IS NOT DISTINCT FROM u.f)"
                ),
                &[
                    &load_id, &instant, &file, &key, &seqno, &ordering, &op, &column, &reason,
                    &load_row, &data, &ROW_FORMAT,
                ],
            )
            .await
            .map_err(db("storing quarantined rows in"))?;
        info!(table = %table, rows = self.found.len(), new = n, quarantine = %q, "rows quarantined");
        Ok(self.found.len() as u64)
    }
}

/// Create the quarantine table if it does not exist yet (under the schema's DDL lock).
async fn ensure_table(
    tx: &Transaction<'_>,
    names: &Names,
    q: &str,
    table: &str,
) -> Result<(), PgError> {
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
        .await
        .map_err(|e| PgError::db(format!("{table}: checking {q}"), e))?
        .get(0);
    if exists {
        return Ok(());
    }
    let lock_key = fnv1a64(format!("hps-ddl:{}", names.schema.as_str()).as_bytes()) as i64;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .await
        .map_err(|e| PgError::db(format!("{table}: DDL lock"), e))?;
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {q} (\n  \
           id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
           quarantined_at timestamp with time zone NOT NULL DEFAULT now(),\n  \
           load_id text NOT NULL,\n  instant text,\n  file text,\n  record_key text,\n  \
           commit_seqno text,\n  ordering text,\n  op text,\n  column_name text NOT NULL,\n  \
           reason text NOT NULL,\n  load_row bigint NOT NULL,\n  row_format text NOT NULL,\n  \
           row_data bytea NOT NULL,\n  retries integer NOT NULL DEFAULT 0,\n  \
           retried_at timestamp with time zone\n)"
    );
    info!(table, ddl = %sql, "quarantine table");
    tx.batch_execute(&sql)
        .await
        .map_err(|e| PgError::db(format!("{table}: creating {q}"), e))
}

/// A row of a quarantine table, as `hudi-pg-sync quarantine list` shows it (text columns
/// escaped, see [`escape_text`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedRow {
    /// Its id in the quarantine table.
    pub id: i64,
    /// When it was first quarantined (RFC 3339).
    pub quarantined_at: String,
    /// The load that quarantined it.
    pub load_id: String,
    /// `_hoodie_commit_time` of the row.
    pub instant: Option<String>,
    /// `_hoodie_file_name` of the row.
    pub file: Option<String>,
    /// The staging key (`col=value, …` for a composite key).
    pub record_key: Option<String>,
    /// `_hoodie_commit_seqno` of the row.
    pub commit_seqno: Option<String>,
    /// The ordering columns' values.
    pub ordering: Option<String>,
    /// `upsert` or `delete`.
    pub op: Option<String>,
    /// The column whose value PostgreSQL cannot hold.
    pub column: String,
    /// Why (the latest retry's reason after a retry).
    pub reason: String,
    /// Retries that found the row still bad.
    pub retries: i32,
}

/// What [`Applier::retry_quarantined`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuarantineRetry {
    /// Rows that now fit and won the version guard: applied and removed from the quarantine.
    pub applied: u64,
    /// Rows that now fit but lost the version guard (staging, or a tombstone, holds a newer
    /// version of the key): removed from the quarantine without changing staging.
    pub superseded: u64,
    /// Rows that still do not fit: kept, with the new reason.
    pub still_bad: u64,
    /// Rows whose retry failed otherwise (id, error): kept unchanged.
    pub failed: Vec<(i64, String)>,
}

impl Applier {
    /// How many rows `spec`'s quarantine table holds (`None`: it has none).
    pub async fn quarantine_count(&mut self, spec: &TargetTable) -> Result<Option<u64>, PgError> {
        let r = self.quarantine_count_inner(spec).await;
        self.after(r)
    }

    async fn quarantine_count_inner(&mut self, spec: &TargetTable) -> Result<Option<u64>, PgError> {
        let names = spec.validate()?;
        let q = qualified(&names.schema, &quarantine_ident(&names)?);
        let table = spec.display_name();
        let client = self.conn.client().await?;
        let row = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
            .await
            .map_err(|e| PgError::db(format!("{table}: checking {q}"), e))?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {q}"), &[])
            .await
            .map_err(|e| PgError::db(format!("{table}: counting {q}"), e))?
            .get(0);
        Ok(Some(n.max(0) as u64))
    }

    /// The rows of `spec`'s quarantine table, oldest first.
    pub async fn quarantined(
        &mut self,
        spec: &TargetTable,
    ) -> Result<Vec<QuarantinedRow>, PgError> {
        let r = self.quarantined_inner(spec).await;
        self.after(r)
    }

    async fn quarantined_inner(
        &mut self,
        spec: &TargetTable,
    ) -> Result<Vec<QuarantinedRow>, PgError> {
        if self.quarantine_count_inner(spec).await?.is_none() {
            return Ok(Vec::new());
        }
        let names = spec.validate()?;
        let q = qualified(&names.schema, &quarantine_ident(&names)?);
        let table = spec.display_name();
        let client = self.conn.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT id, to_char(quarantined_at AT TIME ZONE 'UTC',                        'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), load_id, instant, file, record_key,                        commit_seqno, ordering, op, column_name, reason, retries                      FROM {q} ORDER BY id"
                ),
                &[],
            )
            .await
            .map_err(|e| PgError::db(format!("{table}: reading {q}"), e))?;
        Ok(rows
            .iter()
            .map(|r| QuarantinedRow {
                id: r.get(0),
                quarantined_at: r.get(1),
                load_id: r.get(2),
                instant: r.get(3),
                file: r.get(4),
                record_key: r.get(5),
                commit_seqno: r.get(6),
                ordering: r.get(7),
                op: r.get(8),
                column: r.get(9),
                reason: r.get(10),
                retries: r.get(11),
            })
            .collect())
    }

    /// Apply the quarantined rows of `spec` again, oldest first, each in its own
    /// transaction through the ordinary apply path (so under the version guard: an older
    /// version never overwrites a newer staging row, and a key deleted since stays deleted
    /// while its tombstone is kept). A row that now fits is removed from the quarantine in
    /// the same transaction; one that still does not keeps its place with the new reason.
    /// Refused while a bulk bootstrap of the table is under way. The pipeline's
    /// `after_apply` statements do not run for these transactions.
    pub async fn retry_quarantined(
        &mut self,
        spec: &TargetTable,
    ) -> Result<QuarantineRetry, PgError> {
        let rows = {
            let r = self.retry_candidates(spec).await;
            self.after(r)?
        };
        let mut out = QuarantineRetry::default();
        for (id, data) in rows {
            let batch = match quarantined_batch(&data) {
                Ok(b) => b,
                Err(e) => {
                    out.failed.push((id, e.to_string()));
                    continue;
                }
            };
            let schema = batch.schema();
            let stream = futures::stream::iter([Ok::<_, std::io::Error>(batch)]);
            let load_id = format!("quarantine-retry-{id}");
            let r = self
                .apply_inner(
                    spec,
                    &load_id,
                    &schema,
                    stream,
                    None,
                    LoadMode::Upsert,
                    BadRowMode::Retry(id),
                )
                .await;
            match self.after(r) {
                Ok(s) if s.quarantined > 0 => out.still_bad += 1,
                Ok(s) if s.stale > 0 => out.superseded += 1,
                Ok(_) => out.applied += 1,
                Err(e) => out.failed.push((id, e.to_string())),
            }
        }
        info!(table = %spec.display_name(), applied = out.applied, superseded = out.superseded,
              still_bad = out.still_bad, failed = out.failed.len(), "quarantine retried");
        Ok(out)
    }

    /// (id, row) of every quarantined row, oldest first.
    async fn retry_candidates(
        &mut self,
        spec: &TargetTable,
    ) -> Result<Vec<(i64, Vec<u8>)>, PgError> {
        if self.quarantine_count_inner(spec).await?.is_none() {
            return Ok(Vec::new());
        }
        let names = spec.validate()?;
        let table = spec.display_name();
        let q = qualified(&names.schema, &quarantine_ident(&names)?);
        let shadow = qualified(&names.schema, &crate::bulk::shadow_ident(&names)?);
        let client = self.conn.client().await?;
        let bootstrapping: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&shadow])
            .await
            .map_err(|e| PgError::db(format!("{table}: checking {shadow}"), e))?
            .get(0);
        if bootstrapping {
            return Err(PgError::InvalidSpec {
                table,
                reason: format!(
                    "a bulk bootstrap is under way ({shadow}): retry the quarantine once it ended"
                ),
            });
        }
        let rows = client
            .query(
                &format!("SELECT id, row_data FROM {q} WHERE row_format = $1 ORDER BY id"),
                &[&ROW_FORMAT],
            )
            .await
            .map_err(|e| PgError::db(format!("{table}: reading {q}"), e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};

    #[test]
    fn rows_round_trip_through_ipc_with_nul_and_extremes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("d", DataType::Decimal128(5, 2), true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), Some("x\0y\\z"), None])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(0),
                    Some(i64::MAX),
                    Some(i64::MIN),
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1), Some(123_456_789), None])
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        for row in 0..3 {
            let bytes = row_bytes(&b, row).unwrap();
            let back = quarantined_batch(&bytes).unwrap();
            assert_eq!(back, b.slice(row, 1), "row {row}");
        }
        assert!(quarantined_batch(b"not ipc").is_err());
    }

    #[test]
    fn escapes_are_unambiguous() {
        assert_eq!(escape_text("plain"), "plain");
        assert_eq!(escape_text("a\0b"), "a\\0b");
        assert_eq!(escape_text("a\\0b"), "a\\\\0b");
        assert_ne!(escape_text("a\0"), escape_text("a\\0"));
    }
}
