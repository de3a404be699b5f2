//! Bulk load of a new table (a *bootstrap*): every load of it is COPYed straight into a
//! shadow table beside staging that has no primary key and no index, so the load costs what
//! the bytes cost whatever the table's size and needs no key memory on the client. The last
//! transaction of the bootstrap deduplicates the shadow if it must, builds the primary key,
//! and swaps the shadow in for the (empty) staging table. Readers see an empty staging table
//! until then, never a half-loaded one.
//!
//! The shadow lives across transactions (and Lambda invocations): the caller commits its
//! progress with each load, so the shadow always holds exactly the loads the caller's fence
//! records.

use std::pin::Pin;
use std::time::Instant;

use arrow_array::{Array, RecordBatch};
use arrow_schema::Schema;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, Stream, StreamExt};
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;
use tracing::{debug, info};

use crate::apply::{ApplyStats, check_schema, exists, target_is_empty};
use crate::copy::numeric::DigitBuf;
use crate::copy::{
    BatchEncoder, CopyPlan, next_upsert_run, prepare_arrays, put_header, put_trailer,
};
use crate::error::{BoxError, PgError};
use crate::ident::{Ident, fit, qualified, quote_ident};
use crate::layout::{COL_COMMIT_TIME, HPS_SEQNO_KEY};
use crate::quarantine::BadRows;
use crate::spec::{Names, TargetTable};
use crate::sql::copy_statement;

/// How one load is applied ([`crate::Applier::apply_as`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadMode {
    /// Dedup + version-guarded upsert into staging (after a direct COPY into an empty
    /// staging table where [`crate::ApplyOptions::direct_load`] allows it).
    #[default]
    Upsert,
    /// A load of a bootstrap: the whole state of a table, one row per key (deletes carry no
    /// state and are skipped). Into the bootstrap's shadow table when it exists, or when
    /// staging (and the tombstone table) is empty; otherwise as [`LoadMode::Upsert`].
    /// `first`: the bootstrap starts here, so a shadow left by an abandoned one is dropped.
    /// [`finish_bootstrap`] ends it.
    Bootstrap {
        /// The first load of the bootstrap.
        first: bool,
    },
}

/// What [`finish_bootstrap`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootstrapSwap {
    /// Rows of the shadow removed because a later version of their key was loaded too
    /// (a key in two file groups).
    pub duplicates_removed: u64,
    /// Time spent deduplicating, building the primary key and swapping.
    pub millis: u64,
}

pub(crate) fn shadow_ident(names: &Names) -> Result<Ident, PgError> {
    Ident::new(&fit(names.staging.as_str(), "__hps_bootstrap"))
}

/// The bootstrap's shadow table for this load (qualified), or `None` when the load must take
/// the upsert path (no bootstrap under way, and staging already holds rows or `may_start` is
/// false).
pub(crate) async fn open_shadow(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    names: &Names,
    table: &str,
    first: bool,
    may_start: bool,
) -> Result<Option<String>, PgError> {
    let shadow = shadow_ident(names)?;
    let shadow_q = qualified(&names.schema, &shadow);
    if first {
        execute(tx, &format!("DROP TABLE IF EXISTS {shadow_q}"), table).await?;
    } else if exists(tx, &names.schema, &shadow).await? {
        follow_staging(tx, names, &shadow_q, table).await?;
        return Ok(Some(shadow_q));
    }
    if !may_start || !target_is_empty(tx, spec, names, table).await? {
        return Ok(None);
    }
    let sql = format!(
        "CREATE TABLE {shadow_q} (LIKE {} INCLUDING DEFAULTS) WITH (fillfactor = {})",
        names.staging_q(),
        spec.fillfactor
    );
    info!(table, shadow = %shadow_q, "bulk-loading the bootstrap into a shadow table");
    execute(tx, &sql, table).await?;
    Ok(Some(shadow_q))
}

/// Give the shadow the columns staging gained (and the types it widened to) since the
/// shadow was created: the schema may evolve during a bootstrap.
async fn follow_staging(
    tx: &Transaction<'_>,
    names: &Names,
    shadow_q: &str,
    table: &str,
) -> Result<(), PgError> {
    let rows = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    format_type(b.atttypid, b.atttypmod) \
             FROM pg_attribute a \
             LEFT JOIN pg_attribute b ON b.attrelid = $2::text::regclass AND b.attname = a.attname \
                  AND NOT b.attisdropped \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&names.staging_q(), &shadow_q],
        )
        .await
        .map_err(|e| PgError::db(format!("{table}: reading the shadow's columns"), e))?;
    for r in rows {
        let (name, want, have): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
        let col = quote_ident(&name);
        // type names come from the server's own format_type()
        let sql = match have {
            None => format!("ALTER TABLE {shadow_q} ADD COLUMN {col} {want}"),
            Some(h) if h != want => {
                format!("ALTER TABLE {shadow_q} ALTER COLUMN {col} TYPE {want} USING {col}::{want}")
            }
            Some(_) => continue,
        };
        info!(table, ddl = %sql, "shadow follows staging");
        execute(tx, &sql, table).await?;
    }
    Ok(())
}

/// Where [`copy_upserts`] COPYs, and how.
pub(crate) struct BulkTarget<'a> {
    /// Display name (messages).
    pub table: &'a str,
    /// The qualified shadow table.
    pub target_q: &'a str,
    pub plan: &'a CopyPlan,
    pub op_index: usize,
    pub schema: &'a Schema,
    /// Ship the buffer once it holds this many bytes.
    pub chunk: usize,
}

/// COPY the upsert rows of `first` and the rest of the stream into `t.target_q` (deletes are
/// skipped: a bootstrap loads state, and a deleted key has none). Rows that cannot be
/// encoded go to `bad` (quarantined, or the load fails).
pub(crate) async fn copy_upserts<S, E>(
    tx: &Transaction<'_>,
    t: &BulkTarget<'_>,
    first: RecordBatch,
    mut rest: Pin<&mut S>,
    stats: &mut ApplyStats,
    bad: &mut BadRows,
) -> Result<(), PgError>
where
    S: Stream<Item = Result<RecordBatch, E>> + Send,
    E: Into<BoxError>,
{
    let (table, target_q) = (t.table, t.target_q);
    let t0 = Instant::now();
    let names: Vec<String> = t.plan.columns.iter().map(|c| c.name.clone()).collect();
    let sink = tx
        .copy_in::<_, Bytes>(&copy_statement(target_q, &names))
        .await
        .map_err(|e| PgError::db(format!("{table}: COPY into {target_q}"), e))?;
    let mut sink = Box::pin(sink);
    let send_err = |e| PgError::db(format!("{table}: COPY into {target_q}"), e);
    let mut buf = BytesMut::with_capacity(t.chunk + t.chunk / 4);
    let mut digits = DigitBuf::default();
    let mut sent = 0u64;
    put_header(&mut buf);
    let mut batch = Some(first);
    while let Some(b) = batch {
        let out = Out {
            buf: &mut buf,
            digits: &mut digits,
            chunk: t.chunk,
            bytes: &mut stats.bytes,
        };
        sent += encode_upserts(&b, t, stats.rows, out, &mut sink, bad).await?;
        stats.rows += b.num_rows() as u64;
        batch = match rest.next().await {
            None => None,
            Some(b) => {
                let b = b.map_err(|e| PgError::Source {
                    table: table.to_string(),
                    source: e.into(),
                })?;
                check_schema(table, t.schema, &b, stats.batches)?;
                stats.batches += 1;
                Some(b)
            }
        };
    }
    put_trailer(&mut buf);
    stats.bytes += buf.len() as u64;
    sink.as_mut()
        .send(buf.split().freeze())
        .await
        .map_err(send_err)?;
    let copied = sink.as_mut().finish().await.map_err(send_err)?;
    if copied != sent {
        return Err(PgError::InvalidSchema {
            table: table.to_string(),
            reason: format!("COPY into {target_q} reported {copied} rows, {sent} were sent"),
        });
    }
    stats.keys += copied;
    stats.inserted += copied;
    stats.copy_time = t0.elapsed();
    debug!(rows = copied, target = %target_q, "bulk-loaded");
    Ok(())
}

/// The COPY buffer of [`copy_upserts`].
struct Out<'a> {
    buf: &'a mut BytesMut,
    digits: &'a mut DigitBuf,
    /// Ship the buffer once it holds this many bytes.
    chunk: usize,
    /// Bytes shipped so far.
    bytes: &'a mut u64,
}

/// Encode the upsert rows of one batch, shipping full chunks; returns the rows encoded.
async fn encode_upserts(
    b: &RecordBatch,
    t: &BulkTarget<'_>,
    base: u64,
    out: Out<'_>,
    sink: &mut Pin<Box<tokio_postgres::CopyInSink<Bytes>>>,
    bad: &mut BadRows,
) -> Result<u64, PgError> {
    let table = t.table;
    let arrays = prepare_arrays(b.columns()).map_err(|(k, reason)| PgError::InvalidSchema {
        table: table.to_string(),
        reason: format!("column {:?}: {reason}", t.schema.field(k).name()),
    })?;
    let n = b.num_rows();
    let enc = BatchEncoder::new(t.plan, &arrays, n, base).map_err(|e| PgError::InvalidSchema {
        table: table.to_string(),
        reason: format!("column {:?}: {}", e.column, e.reason),
    })?;
    let op: &dyn Array = arrays[t.op_index].as_ref();
    let mut sent = 0u64;
    let mut from = 0;
    loop {
        let run = match next_upsert_run(op, from, n) {
            Ok(r) => r,
            Err(e) => {
                // a row whose _op is neither upsert nor delete
                from = bad.reject(b, base, e)? + 1;
                continue;
            }
        };
        let Some((start, end)) = run else { break };
        let mut row = start;
        let mut rejected = 0;
        while row < end {
            row = match enc.encode_until(row, end, out.buf, out.chunk, out.digits) {
                Ok(next) => next,
                Err(e) => {
                    let skipped = bad.reject(b, base, e)?;
                    rejected += 1;
                    skipped + 1
                }
            };
            if out.buf.len() >= out.chunk {
                *out.bytes += out.buf.len() as u64;
                sink.as_mut()
                    .send(out.buf.split().freeze())
                    .await
                    .map_err(|e| PgError::db(format!("{table}: bulk COPY"), e))?;
            }
        }
        sent += (end - start - rejected) as u64;
        from = end;
    }
    Ok(sent)
}

/// End the bootstrap of `spec` inside the caller's transaction: deduplicate the shadow if a
/// key was loaded twice (the latest version wins, as in the upsert path), build its primary
/// key, and swap it in for the empty staging table, keeping staging's other indexes and
/// grants. `None` when no bootstrap shadow exists. A view on staging blocks the swap (the
/// error names it); staging holding rows is refused (something else wrote to it).
pub async fn finish_bootstrap(
    tx: &Transaction<'_>,
    spec: &TargetTable,
) -> Result<Option<BootstrapSwap>, PgError> {
    let names = spec.validate()?;
    let table = spec.display_name();
    let shadow = shadow_ident(&names)?;
    if !exists(tx, &names.schema, &shadow).await? {
        return Ok(None);
    }
    let t0 = Instant::now();
    let shadow_q = qualified(&names.schema, &shadow);
    let staging_q = names.staging_q();
    // the expensive steps on the shadow first, while readers still use staging
    follow_staging(tx, &names, &shadow_q, &table).await?;
    let key = StagingExtras::read(tx, &staging_q, &table)
        .await?
        .key_list();
    let pk = Ident::new(&fit(shadow.as_str(), "_pkey"))?;
    let duplicates_removed = add_primary_key(tx, spec, &shadow_q, &pk, &key, &table).await?;
    execute(tx, &format!("ANALYZE {shadow_q}"), &table).await?;
    // then the swap, under a lock held for a few catalog updates
    execute(
        tx,
        &format!("LOCK TABLE {staging_q} IN ACCESS EXCLUSIVE MODE"),
        &table,
    )
    .await?;
    let staged: bool = query_bool(
        tx,
        &format!("SELECT EXISTS (SELECT 1 FROM {staging_q})"),
        &table,
    )
    .await?;
    if staged {
        return Err(PgError::InvalidSpec {
            table,
            reason: format!(
                "{staging_q} gained rows while its bootstrap was loading into {shadow_q}: \
                 drop {shadow_q} and resync the table"
            ),
        });
    }
    let kept = StagingExtras::read(tx, &staging_q, &table).await?;
    execute(tx, &format!("DROP TABLE {staging_q}"), &table).await?;
    execute(
        tx,
        &format!("ALTER TABLE {shadow_q} RENAME TO {}", names.staging),
        &table,
    )
    .await?;
    execute(
        tx,
        &format!(
            "ALTER TABLE {staging_q} RENAME CONSTRAINT {pk} TO {}",
            quote_ident(&kept.pk_name)
        ),
        &table,
    )
    .await?;
    for sql in kept.replay() {
        execute(tx, &sql, &table).await?;
    }
    let swap = BootstrapSwap {
        duplicates_removed,
        millis: t0.elapsed().as_millis() as u64,
    };
    info!(
        table,
        duplicates_removed,
        ms = swap.millis,
        "bootstrap swapped in: staging is complete"
    );
    Ok(Some(swap))
}

/// Drop the shadow of an abandoned bootstrap, if any (true when one existed).
pub async fn discard_bootstrap(tx: &Transaction<'_>, spec: &TargetTable) -> Result<bool, PgError> {
    let names = spec.validate()?;
    let table = spec.display_name();
    let shadow = shadow_ident(&names)?;
    if !exists(tx, &names.schema, &shadow).await? {
        return Ok(false);
    }
    let shadow_q = qualified(&names.schema, &shadow);
    info!(table, shadow = %shadow_q, "dropping the shadow of an abandoned bootstrap");
    execute(tx, &format!("DROP TABLE {shadow_q}"), &table).await?;
    Ok(true)
}

/// The primary key `pk` of the shadow over `keys`; on a duplicate key, the older versions
/// are removed first. Returns the rows removed.
async fn add_primary_key(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    shadow_q: &str,
    pk: &Ident,
    keys: &str,
    table: &str,
) -> Result<u64, PgError> {
    let add = format!("ALTER TABLE {shadow_q} ADD CONSTRAINT {pk} PRIMARY KEY ({keys})");
    execute(tx, "SAVEPOINT hps_bootstrap_pk", table).await?;
    match tx.batch_execute(&add).await {
        Ok(()) => {
            execute(tx, "RELEASE SAVEPOINT hps_bootstrap_pk", table).await?;
            return Ok(0);
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            execute(tx, "ROLLBACK TO SAVEPOINT hps_bootstrap_pk", table).await?;
        }
        Err(e) => return Err(PgError::db(format!("{table}: {add}"), e)),
    }
    let order = version_order(tx, spec, shadow_q, table).await?;
    let dedup = format!(
        "DELETE FROM {shadow_q} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, \
         row_number() OVER (PARTITION BY {keys} ORDER BY {order}, ctid DESC) AS hps_rank \
         FROM {shadow_q}) r WHERE r.hps_rank > 1)"
    );
    let removed = tx
        .execute(&dedup, &[])
        .await
        .map_err(|e| PgError::db(format!("{table}: deduplicating the bootstrap"), e))?;
    info!(
        table,
        removed, "bootstrap loaded some keys twice: older versions removed"
    );
    execute(tx, &add, table).await?;
    Ok(removed)
}

/// `ORDER BY` of the version guard, newest first: commit time, commit seqno, then the
/// ordering columns (text compared byte-wise, NULL lowest).
async fn version_order(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    shadow_q: &str,
    table: &str,
) -> Result<String, PgError> {
    let mut names = vec![COL_COMMIT_TIME.to_string(), HPS_SEQNO_KEY.to_string()];
    for o in &spec.ordering_columns {
        let ident = Ident::for_column(o)?;
        if !names.iter().any(|n| n == ident.as_str()) {
            names.push(ident.as_str().to_string());
        }
    }
    let rows = tx
        .query(
            "SELECT a.attname::text, t.typcategory = 'S' FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1::text::regclass AND a.attname::text = ANY($2) AND NOT a.attisdropped",
            &[&shadow_q, &names],
        )
        .await
        .map_err(|e| PgError::db(format!("{table}: reading the version columns"), e))?;
    let text: std::collections::HashMap<String, bool> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(names
        .iter()
        .filter_map(|n| {
            let collate = if *text.get(n)? { " COLLATE \"C\"" } else { "" };
            Some(format!("{}{collate} DESC NULLS LAST", quote_ident(n)))
        })
        .collect::<Vec<_>>()
        .join(", "))
}

/// What staging has beyond its columns, kept across the swap.
struct StagingExtras {
    pk_name: String,
    pk_columns: Vec<String>,
    /// `CREATE INDEX` statements of its other indexes (`pg_get_indexdef`).
    indexes: Vec<String>,
    /// `GRANT` statements of its privileges (grantees quoted by the server).
    grants: Vec<String>,
    staging_q: String,
}

impl StagingExtras {
    async fn read(tx: &Transaction<'_>, staging_q: &str, table: &str) -> Result<Self, PgError> {
        let db = |what: &'static str| {
            move |e| PgError::db(format!("{table}: reading {what} of {staging_q}"), e)
        };
        let pk = tx
            .query(
                "SELECT c.conname::text, a.attname::text FROM pg_constraint c \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) \
                 WHERE c.conrelid = $1::text::regclass AND c.contype = 'p' \
                 ORDER BY array_position(c.conkey, a.attnum)",
                &[&staging_q],
            )
            .await
            .map_err(db("the primary key"))?;
        let Some(first) = pk.first() else {
            return Err(PgError::InvalidSpec {
                table: table.to_string(),
                reason: format!("{staging_q} has no primary key"),
            });
        };
        let indexes = tx
            .query(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
                 WHERE i.indrelid = $1::text::regclass AND NOT i.indisprimary",
                &[&staging_q],
            )
            .await
            .map_err(db("the indexes"))?;
        let grants = tx
            .query(
                "SELECT a.privilege_type, \
                        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END \
                 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a \
                 LEFT JOIN pg_roles r ON r.oid = a.grantee \
                 WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner",
                &[&staging_q],
            )
            .await
            .map_err(db("the privileges"))?;
        Ok(StagingExtras {
            pk_name: first.get(0),
            pk_columns: pk.iter().map(|r| r.get(1)).collect(),
            indexes: indexes.iter().map(|r| r.get(0)).collect(),
            grants: grants
                .iter()
                .map(|r| {
                    let (p, g): (String, String) = (r.get(0), r.get(1));
                    format!("GRANT {p} ON {staging_q} TO {g}")
                })
                .collect(),
            staging_q: staging_q.to_string(),
        })
    }

    fn key_list(&self) -> String {
        self.pk_columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The statements that give the swapped-in table staging's indexes and grants.
    fn replay(&self) -> Vec<String> {
        debug!(staging = %self.staging_q, indexes = self.indexes.len(), grants = self.grants.len(), "replaying");
        self.indexes.iter().chain(&self.grants).cloned().collect()
    }
}

async fn execute(tx: &Transaction<'_>, sql: &str, table: &str) -> Result<(), PgError> {
    tx.batch_execute(sql)
        .await
        .map_err(|e| PgError::db(format!("{table}: {sql}"), e))
}

async fn query_bool(tx: &Transaction<'_>, sql: &str, table: &str) -> Result<bool, PgError> {
    Ok(tx
        .query_one(sql, &[])
        .await
        .map_err(|e| PgError::db(format!("{table}: {sql}"), e))?
        .get(0))
}
