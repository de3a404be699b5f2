//! The apply path: change batches → binary COPY into a per-load landing partition → one
//! set-based dedup + version-guarded upsert into staging → caller's hook → COMMIT.

use std::collections::BTreeMap;
use std::pin::pin;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{SinkExt, Stream, StreamExt};
use tokio_postgres::Transaction;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::catalog::read_catalog;
use crate::conn::ConnectionManager;
use crate::copy::numeric::DigitBuf;
use crate::copy::{
    BatchEncoder, CopyColumn, CopyPlan, Source, prepare_arrays, put_header, put_trailer,
};
use crate::error::{BoxError, PgError};
use crate::ident::{Ident, fit, fnv1a64, qualified};
use crate::layout::{
    HPS_DELETED_AT, HPS_LOAD_ID, HPS_LOAD_SEQ, HPS_OP, HPS_ROW, HPS_SEQNO_KEY, Incoming,
    TableLayout, analyze, plan,
};
use crate::spec::{DeletePolicy, LandingRetention, Names, TargetTable};
use crate::sql::{copy_statement, merge_statement};
use crate::types::PgType;

/// Statements run inside the apply transaction, after the upsert and before COMMIT (the
/// pipeline commits its bookmark fence here, atomically with the data).
///
/// After an ambiguous failure (the connection broke during COMMIT) a retried apply runs the
/// hook again for a load that may already have committed: the hook must be idempotent or
/// detect that case itself.
pub trait TxnHook: Send + Sync {
    /// Run inside the transaction; an error rolls everything back.
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        stats: &'a ApplyStats,
    ) -> BoxFuture<'a, Result<(), PgError>>;
}

/// What one apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Batches received.
    pub batches: u64,
    /// Change rows COPYed into landing.
    pub rows: u64,
    /// COPY payload bytes.
    pub bytes: u64,
    /// Distinct record keys after dedup.
    pub keys: u64,
    /// Upserts that created a staging row.
    pub inserted: u64,
    /// Upserts that replaced an older staging row.
    pub updated: u64,
    /// Deletes that won the version guard (hard: tombstone written; soft: row marked deleted
    /// or tombstone row inserted).
    pub deleted: u64,
    /// Hard: live staging rows removed. Soft: existing staging rows marked deleted.
    pub removed: u64,
    /// Keys whose change lost the version guard (replays, out-of-order batches).
    pub stale: u64,
    /// Attempts used (1 unless retried).
    pub attempts: u32,
    /// Time spent encoding and COPYing.
    pub copy_time: Duration,
    /// Time spent in the dedup + upsert statement.
    pub merge_time: Duration,
}

/// Tuning of the apply path.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// COPY data is shipped in chunks of about this many bytes.
    pub copy_chunk_bytes: usize,
    /// `lock_timeout` for DDL and the apply transaction (a lock wait beyond it is a transient
    /// error).
    pub lock_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            copy_chunk_bytes: 1 << 20,
            lock_timeout: Duration::from_secs(60),
        }
    }
}

/// Which of a target's tables to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// Staging (ordered by primary key).
    Staging,
    /// Landing (all retained partitions, ordered by load sequence and row).
    Landing,
    /// Tombstones (ordered by primary key).
    Tombstones,
}

/// A row rendered as text: column name → `value::text` (None = NULL).
pub type TextRow = BTreeMap<String, Option<String>>;

/// What [`Applier::prune`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Landing partitions dropped.
    pub partitions_dropped: u64,
    /// Hard-delete tombstones pruned.
    pub tombstones_pruned: u64,
}

/// Applies change batches to PostgreSQL over one managed connection.
pub struct Applier {
    conn: ConnectionManager,
    options: ApplyOptions,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("conn", &self.conn)
            .field("options", &self.options)
            .finish()
    }
}

fn db(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let c = context.into();
    move |e| PgError::db(c, e)
}

impl Applier {
    /// An applier over `conn` with default options.
    pub fn new(conn: ConnectionManager) -> Self {
        Applier {
            conn,
            options: ApplyOptions::default(),
        }
    }

    /// Replace the options.
    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// The connection manager (e.g. for the caller's own queries).
    pub fn connection(&mut self) -> &mut ConnectionManager {
        &mut self.conn
    }

    /// Create the schema, landing, staging, tombstone and registry tables on first use and
    /// evolve them to `schema` (add nullable columns, safe widenings). An incompatible change
    /// returns a typed error before any DDL runs.
    pub async fn ensure_tables(
        &mut self,
        spec: &TargetTable,
        schema: &Schema,
    ) -> Result<TableLayout, PgError> {
        let names = spec.validate()?;
        let incoming = analyze(spec, schema)?;
        let r = self.ensure(spec, &names, &incoming).await;
        self.after(r)
    }

    async fn ensure(
        &mut self,
        spec: &TargetTable,
        names: &Names,
        incoming: &Incoming,
    ) -> Result<TableLayout, PgError> {
        let table = spec.display_name();
        let lock_ms = self.options.lock_timeout.as_millis();
        let client = self.conn.client().await?;
        let cat = read_catalog(&*client, names, &table).await?;
        let p = plan(spec, names, incoming, &cat)?;
        if p.is_noop() {
            return Ok(p.layout);
        }
        let tx = client
            .transaction()
            .await
            .map_err(db(format!("{table}: begin DDL")))?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{lock_ms}ms'"))
            .await
            .map_err(db(format!("{table}: set lock_timeout")))?;
        // one DDL writer per schema at a time; re-plan under the lock
        let lock_key = fnv1a64(format!("hps-ddl:{}", names.schema.as_str()).as_bytes()) as i64;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
            .await
            .map_err(db(format!("{table}: DDL lock")))?;
        let cat = read_catalog(&tx, names, &table).await?;
        let p = plan(spec, names, incoming, &cat)?;
        if p.create_schema {
            let s = format!("CREATE SCHEMA IF NOT EXISTS {}", names.schema);
            info!(table = %table, ddl = %s, "schema");
            tx.batch_execute(&s)
                .await
                .map_err(db(format!("{table}: {s}")))?;
        }
        if p.create_registry {
            let reg = names.registry_q();
            let idx = Ident::new(&fit(names.registry.as_str(), "_landing_idx"))?;
            let s = format!(
                "CREATE TABLE IF NOT EXISTS {reg} (\n  load_seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
                 landing_table text NOT NULL,\n  partition_name text NOT NULL,\n  load_id text NOT NULL,\n  \
                 created_at timestamp with time zone NOT NULL DEFAULT now(),\n  applied_at timestamp with time zone,\n  \
                 rows bigint\n);\n\
                 CREATE INDEX IF NOT EXISTS {idx} ON {reg} (landing_table, applied_at)"
            );
            info!(table = %table, ddl = %s, "registry");
            tx.batch_execute(&s)
                .await
                .map_err(db(format!("{table}: creating {reg}")))?;
        }
        for s in &p.ddl {
            info!(table = %table, ddl = %s, "schema change");
            tx.batch_execute(s)
                .await
                .map_err(db(format!("{table}: {s}")))?;
        }
        tx.commit()
            .await
            .map_err(db(format!("{table}: commit DDL")))?;
        Ok(p.layout)
    }

    /// Apply the change batches of load `load_id` to `spec`'s staging table in one
    /// transaction, running `hook` before COMMIT. `schema` is the change schema (every batch
    /// must have it). A stream without rows still runs the hook and commits.
    ///
    /// One attempt: a transient error leaves PostgreSQL unchanged and is returned (see
    /// [`Applier::apply_with_retry`]).
    pub async fn apply<S, E>(
        &mut self,
        spec: &TargetTable,
        load_id: &str,
        schema: &Schema,
        batches: S,
        hook: Option<&dyn TxnHook>,
    ) -> Result<ApplyStats, PgError>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let span = info_span!("apply", table = %spec.display_name(), load_id);
        let r = self
            .apply_inner(spec, load_id, schema, batches, hook)
            .instrument(span)
            .await;
        self.after(r)
    }

    /// Drop the connection after a connection-level failure, so that the next call
    /// reconnects instead of reusing a dead session.
    fn after<T>(&mut self, r: Result<T, PgError>) -> Result<T, PgError> {
        if let Err(e) = &r {
            self.conn.on_error(e);
        }
        r
    }

    /// [`Applier::apply`] with retries of transient errors (connection lost, serialization
    /// failure, admin shutdown, lock timeout): `make_batches` is called once per attempt and
    /// must yield the same batches each time.
    pub async fn apply_with_retry<F, S, E>(
        &mut self,
        spec: &TargetTable,
        load_id: &str,
        schema: &Schema,
        mut make_batches: F,
        hook: Option<&dyn TxnHook>,
    ) -> Result<ApplyStats, PgError>
    where
        F: FnMut() -> S + Send,
        S: Stream<Item = Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let policy = self.conn.retry_policy().clone();
        let mut attempt = 1;
        loop {
            match self
                .apply(spec, load_id, schema, make_batches(), hook)
                .await
            {
                Ok(mut s) => {
                    s.attempts = attempt;
                    return Ok(s);
                }
                Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                    let wait = policy.backoff(attempt);
                    warn!(table = %spec.display_name(), load_id, attempt, error = %e,
                          backoff_ms = wait.as_millis() as u64, "apply failed transiently, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn apply_inner<S, E>(
        &mut self,
        spec: &TargetTable,
        load_id: &str,
        schema: &Schema,
        batches: S,
        hook: Option<&dyn TxnHook>,
    ) -> Result<ApplyStats, PgError>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let table = spec.display_name();
        let names = spec.validate()?;
        let incoming = analyze(spec, schema)?;
        let layout = self.ensure(spec, &names, &incoming).await?;
        let mut copy_plan = copy_plan(&layout, &incoming, load_id)?;
        let lock_ms = self.options.lock_timeout.as_millis();
        let chunk = self.options.copy_chunk_bytes.max(4096);
        let mut stats = ApplyStats {
            attempts: 1,
            ..Default::default()
        };

        let mut batches = pin!(batches);
        // the first non-empty batch decides whether there is anything to land
        let mut first = None;
        while let Some(b) = batches.next().await {
            let b = b.map_err(|e| PgError::Source {
                table: table.clone(),
                source: e.into(),
            })?;
            check_schema(&table, schema, &b, stats.batches)?;
            stats.batches += 1;
            if b.num_rows() > 0 {
                first = Some(b);
                break;
            }
        }

        let client = self.conn.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(db(format!("{table}: begin")))?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{lock_ms}ms'"))
            .await
            .map_err(db(format!("{table}: set lock_timeout")))?;

        if let Some(first) = first {
            // register the load and create its landing partition
            let reg = names.registry_q();
            let seq: i64 = tx
                .query_one(
                    &format!("INSERT INTO {reg} (landing_table, partition_name, load_id) VALUES ($1, '', $2) RETURNING load_seq"),
                    &[&names.landing.as_str(), &load_id],
                )
                .await
                .map_err(db(format!("{table}: registering load")))?
                .get(0);
            let part = Ident::new(&fit(names.landing.as_str(), &format!("__p{seq}")))?;
            let part_q = qualified(&names.schema, &part);
            tx.execute(
                &format!("UPDATE {reg} SET partition_name = $1 WHERE load_seq = $2"),
                &[&part.as_str(), &seq],
            )
            .await
            .map_err(db(format!("{table}: registering load")))?;
            tx.batch_execute(&format!(
                "CREATE UNLOGGED TABLE {part_q} PARTITION OF {} FOR VALUES IN ({seq})",
                names.landing_q()
            ))
            .await
            .map_err(db(format!("{table}: creating landing partition {part}")))?;
            copy_plan.load_seq = seq;

            // COPY, streamed from the batches
            let t0 = Instant::now();
            let cols: Vec<String> = copy_plan.columns.iter().map(|c| c.name.clone()).collect();
            let copy_sql = copy_statement(&part_q, &cols);
            let sink = tx
                .copy_in::<_, Bytes>(&copy_sql)
                .await
                .map_err(db(format!("{table}: COPY into {part}")))?;
            let mut sink = pin!(sink);
            let mut buf = BytesMut::with_capacity(chunk + chunk / 4);
            let mut digits = DigitBuf::default();
            put_header(&mut buf);
            let mut batch = first;
            loop {
                let arrays = prepare_arrays(batch.columns()).map_err(|(k, reason)| {
                    PgError::InvalidSchema {
                        table: table.clone(),
                        reason: format!("column {:?}: {reason}", schema.field(k).name()),
                    }
                })?;
                let n = batch.num_rows();
                let enc = BatchEncoder::new(&copy_plan, &arrays, n, stats.rows).map_err(|e| {
                    PgError::InvalidSchema {
                        table: table.clone(),
                        reason: format!("column {:?}: {}", e.column, e.reason),
                    }
                })?;
                let mut row = 0;
                while row < n {
                    row = enc.encode(row, &mut buf, chunk, &mut digits).map_err(|e| {
                        PgError::InvalidData {
                            table: table.clone(),
                            column: e.column.clone(),
                            row: stats.rows + e.row.unwrap_or(0) as u64,
                            reason: e.reason,
                        }
                    })?;
                    if buf.len() >= chunk {
                        stats.bytes += buf.len() as u64;
                        sink.as_mut()
                            .send(buf.split().freeze())
                            .await
                            .map_err(db(format!("{table}: COPY into {part}")))?;
                    }
                }
                stats.rows += n as u64;
                drop(enc);
                match batches.next().await {
                    None => break,
                    Some(b) => {
                        let b = b.map_err(|e| PgError::Source {
                            table: table.clone(),
                            source: e.into(),
                        })?;
                        check_schema(&table, schema, &b, stats.batches)?;
                        stats.batches += 1;
                        batch = b;
                    }
                }
            }
            put_trailer(&mut buf);
            stats.bytes += buf.len() as u64;
            sink.as_mut()
                .send(buf.split().freeze())
                .await
                .map_err(db(format!("{table}: COPY into {part}")))?;
            let copied = sink
                .as_mut()
                .finish()
                .await
                .map_err(db(format!("{table}: COPY into {part}")))?;
            if copied != stats.rows {
                return Err(PgError::InvalidSchema {
                    table: table.clone(),
                    reason: format!("COPY reported {copied} rows, {} were sent", stats.rows),
                });
            }
            stats.copy_time = t0.elapsed();

            // dedup + guarded upsert
            let t1 = Instant::now();
            let merge_sql = merge_statement(&layout, &part_q);
            debug!(sql = %merge_sql, "merge");
            let r = tx
                .query_one(&merge_sql, &[&load_id])
                .await
                .map_err(db(format!("{table}: dedup + upsert of load")))?;
            let count = |i: usize| -> u64 { r.get::<_, i64>(i).max(0) as u64 };
            stats.keys = count(0);
            stats.inserted = count(1);
            stats.updated = count(2);
            stats.deleted = count(3);
            stats.removed = count(4);
            stats.stale = stats
                .keys
                .saturating_sub(stats.inserted + stats.updated + stats.deleted);
            stats.merge_time = t1.elapsed();

            // retention: drop this load's partition now, or keep it and mark it applied
            match spec.landing_retention {
                LandingRetention::DropAfterApply => {
                    tx.batch_execute(&format!("DROP TABLE {part_q}"))
                        .await
                        .map_err(db(format!("{table}: dropping landing partition {part}")))?;
                    tx.execute(&format!("DELETE FROM {reg} WHERE load_seq = $1"), &[&seq])
                        .await
                        .map_err(db(format!("{table}: registry")))?;
                }
                LandingRetention::Keep(_) => {
                    tx.execute(
                        &format!(
                            "UPDATE {reg} SET applied_at = now(), rows = $2 WHERE load_seq = $1"
                        ),
                        &[&seq, &(stats.rows as i64)],
                    )
                    .await
                    .map_err(db(format!("{table}: registry")))?;
                }
            }
            sweep_landing(&tx, spec, &names, &table).await?;
        }
        if spec.delete_policy == DeletePolicy::Hard {
            prune_tombstones(&tx, spec, &names, &table).await?;
        }

        if let Some(h) = hook {
            h.run(&tx, &stats).await.map_err(|e| PgError::Hook {
                table: table.clone(),
                source: Box::new(e),
            })?;
        }
        tx.commit().await.map_err(db(format!("{table}: commit")))?;
        info!(
            rows = stats.rows,
            keys = stats.keys,
            inserted = stats.inserted,
            updated = stats.updated,
            deleted = stats.deleted,
            stale = stats.stale,
            copy_ms = stats.copy_time.as_millis() as u64,
            merge_ms = stats.merge_time.as_millis() as u64,
            "applied"
        );
        Ok(stats)
    }

    /// Drop expired landing partitions and prune expired tombstones now.
    pub async fn prune(&mut self, spec: &TargetTable) -> Result<PruneStats, PgError> {
        let r = self.prune_inner(spec).await;
        self.after(r)
    }

    async fn prune_inner(&mut self, spec: &TargetTable) -> Result<PruneStats, PgError> {
        let names = spec.validate()?;
        let table = spec.display_name();
        let client = self.conn.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(db(format!("{table}: begin")))?;
        let mut out = PruneStats::default();
        if exists(&tx, &names.schema, &names.registry).await? {
            out.partitions_dropped = sweep_landing(&tx, spec, &names, &table).await?;
        }
        if spec.delete_policy == DeletePolicy::Hard
            && exists(&tx, &names.schema, &names.tombstones).await?
        {
            out.tombstones_pruned = prune_tombstones(&tx, spec, &names, &table).await?;
        }
        tx.commit().await.map_err(db(format!("{table}: commit")))?;
        Ok(out)
    }

    /// Every row of one of the target's tables, each column rendered with `::text`
    /// (PostgreSQL's own output format). For tests and diagnostics.
    pub async fn read_table(
        &mut self,
        spec: &TargetTable,
        which: TableKind,
    ) -> Result<Vec<TextRow>, PgError> {
        let r = self.read_table_inner(spec, which).await;
        self.after(r)
    }

    async fn read_table_inner(
        &mut self,
        spec: &TargetTable,
        which: TableKind,
    ) -> Result<Vec<TextRow>, PgError> {
        let names = spec.validate()?;
        let table = spec.display_name();
        let client = self.conn.client().await?;
        let cat = read_catalog(&*client, &names, &table).await?;
        let name = match which {
            TableKind::Staging => &names.staging,
            TableKind::Landing => &names.landing,
            TableKind::Tombstones => &names.tombstones,
        };
        let t = cat
            .table(name.as_str())
            .ok_or_else(|| PgError::InvalidSpec {
                table: table.clone(),
                reason: format!("{} does not exist", qualified(&names.schema, name)),
            })?;
        let cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let select: Vec<String> = cols
            .iter()
            .map(|c| format!("{}::text", crate::ident::quote_ident(c)))
            .collect();
        let order: Vec<String> = match which {
            TableKind::Landing => vec![
                crate::ident::quote_ident(HPS_LOAD_SEQ),
                crate::ident::quote_ident(HPS_ROW),
            ],
            _ => t
                .primary_key
                .iter()
                .map(|c| crate::ident::quote_ident(c))
                .collect(),
        };
        let mut sql = format!(
            "SELECT {} FROM {}",
            select.join(", "),
            qualified(&names.schema, name)
        );
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        let rows = client
            .query(&sql, &[])
            .await
            .map_err(db(format!("{table}: reading {name}")))?;
        Ok(rows
            .iter()
            .map(|r| {
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), r.get::<_, Option<String>>(i)))
                    .collect()
            })
            .collect())
    }

    /// [`Applier::read_table`] of staging.
    pub async fn read_staging(&mut self, spec: &TargetTable) -> Result<Vec<TextRow>, PgError> {
        self.read_table(spec, TableKind::Staging).await
    }
}

/// The COPY column list: internal landing columns, then every incoming change column.
fn copy_plan(
    layout: &TableLayout,
    incoming: &Incoming,
    load_id: &str,
) -> Result<CopyPlan, PgError> {
    let mut columns = vec![
        CopyColumn {
            name: HPS_LOAD_SEQ.into(),
            source: Source::LoadSeq,
            target: PgType::Int8,
        },
        CopyColumn {
            name: HPS_LOAD_ID.into(),
            source: Source::LoadId,
            target: PgType::Text,
        },
        CopyColumn {
            name: HPS_ROW.into(),
            source: Source::RowNumber,
            target: PgType::Int8,
        },
        CopyColumn {
            name: HPS_OP.into(),
            source: Source::Op(incoming.op_index),
            target: PgType::Text,
        },
        CopyColumn {
            name: HPS_SEQNO_KEY.into(),
            source: Source::SeqnoKey(incoming.seqno_index),
            target: PgType::Text,
        },
    ];
    for ic in &incoming.columns {
        let lc = layout
            .column(&ic.ident)
            .ok_or_else(|| PgError::InvalidSchema {
                table: layout.names.staging_q(),
                reason: format!("column {} missing from the layout", ic.ident),
            })?;
        columns.push(CopyColumn {
            name: ic.ident.as_str().to_string(),
            source: Source::Field {
                index: ic.index,
                not_null: layout.key.contains(&ic.ident),
            },
            target: lc.landing_type.clone(),
        });
    }
    Ok(CopyPlan {
        columns,
        load_seq: 0,
        load_id: load_id.to_string(),
    })
}

fn check_schema(table: &str, schema: &Schema, b: &RecordBatch, batch: u64) -> Result<(), PgError> {
    let bs = b.schema();
    let mismatch = |detail: String| PgError::SchemaMismatch {
        table: table.to_string(),
        batch,
        detail,
    };
    if bs.fields().len() != schema.fields().len() {
        return Err(mismatch(format!(
            "{} columns, expected {}",
            bs.fields().len(),
            schema.fields().len()
        )));
    }
    for (a, e) in bs.fields().iter().zip(schema.fields()) {
        if a.name() != e.name() {
            return Err(mismatch(format!(
                "column {:?} where {:?} was expected",
                a.name(),
                e.name()
            )));
        }
        if !a.data_type().equals_datatype(e.data_type()) {
            return Err(mismatch(format!(
                "column {:?} is {}, expected {}",
                a.name(),
                a.data_type(),
                e.data_type()
            )));
        }
    }
    Ok(())
}

async fn exists(tx: &Transaction<'_>, schema: &Ident, name: &Ident) -> Result<bool, PgError> {
    let q = qualified(schema, name);
    let r = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
        .await
        .map_err(db(format!("checking {q}")))?;
    Ok(r.get(0))
}

/// Drop landing partitions of this table whose load was applied longer ago than the
/// retention (immediately for `DropAfterApply`, which also cleans up after a retention change).
async fn sweep_landing(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    names: &Names,
    table: &str,
) -> Result<u64, PgError> {
    let keep = match spec.landing_retention {
        LandingRetention::DropAfterApply => 0.0,
        LandingRetention::Keep(d) => d.as_secs_f64(),
    };
    let reg = names.registry_q();
    // only ever drop real partitions of this landing table
    let rows = tx
        .query(
            &format!(
                "SELECT r.load_seq, c.relname::text FROM {reg} r \
                 LEFT JOIN (pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass($3)) \
                   ON c.relname::text = r.partition_name \
                 WHERE r.landing_table = $1 AND r.applied_at < now() - make_interval(secs => $2) \
                 ORDER BY r.load_seq"
            ),
            &[&names.landing.as_str(), &keep, &names.landing_q()],
        )
        .await
        .map_err(db(format!("{table}: listing expired landing partitions")))?;
    let mut dropped = 0;
    for r in rows {
        let seq: i64 = r.get(0);
        let part: Option<String> = r.get(1);
        if let Some(p) = part {
            let pq = qualified(&names.schema, &Ident::new(&p)?);
            tx.batch_execute(&format!("DROP TABLE {pq}"))
                .await
                .map_err(db(format!("{table}: dropping {pq}")))?;
            dropped += 1;
        }
        tx.execute(&format!("DELETE FROM {reg} WHERE load_seq = $1"), &[&seq])
            .await
            .map_err(db(format!("{table}: registry")))?;
    }
    if dropped > 0 {
        info!(table, dropped, "expired landing partitions dropped");
    }
    Ok(dropped)
}

async fn prune_tombstones(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    names: &Names,
    table: &str,
) -> Result<u64, PgError> {
    let Some(keep) = spec.tombstone_retention else {
        return Ok(0);
    };
    let n = tx
        .execute(
            &format!(
                "DELETE FROM {} WHERE {} < now() - make_interval(secs => $1)",
                names.tombstones_q(),
                crate::ident::quote_ident(HPS_DELETED_AT)
            ),
            &[&keep.as_secs_f64()],
        )
        .await
        .map_err(db(format!("{table}: pruning tombstones")))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn apply_future_is_send(a: &mut Applier, spec: &TargetTable, schema: &Schema) {
        let s = futures::stream::empty::<Result<RecordBatch, std::io::Error>>();
        let f = a.apply(spec, "L", schema, s, None);
        assert_send(&f);
    }
}
