//! The apply path: change batches → binary COPY into a per-load landing partition → one
//! set-based dedup + version-guarded upsert into staging → caller's hook → COMMIT.

use std::collections::BTreeMap;
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{SinkExt, Stream, StreamExt};
use tokio_postgres::{CopyInSink, Transaction};
use tracing::{Instrument, debug, info, info_span};

use crate::bulk::{LoadMode, copy_upserts, open_shadow};
use crate::catalog::read_catalog;
use crate::conn::ConnectionManager;
use crate::copy::numeric::DigitBuf;
use crate::copy::{
    BatchEncoder, CopyColumn, CopyPlan, DirectGate, Source, prepare_arrays, put_header, put_trailer,
};
use crate::error::{BoxError, PgError};
use crate::ident::{Ident, fit, fnv1a64, qualified};
use crate::layout::{
    HPS_APPLIED_AT, HPS_DELETED_AT, HPS_LOAD_ID, HPS_LOAD_SEQ, HPS_OP, HPS_ROW, HPS_SEQNO_KEY,
    Incoming, TableLayout, analyze, plan,
};
use crate::quarantine::{BadRowMode, BadRows};
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
    /// Distinct record keys after dedup. After a direct phase ([`ApplyOptions::direct_load`])
    /// the two phases count separately: a key the landing phase repeats counts twice (and
    /// its landed row as updated or stale against the directly loaded one).
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
    /// Change rows PostgreSQL could not hold, set aside into the quarantine table
    /// ([`crate::BadRowPolicy::Quarantine`]) instead of failing the load.
    pub quarantined: u64,
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
    /// Load straight into an empty target: when staging (and, for hard deletes, the tombstone
    /// table) is empty, the leading rows that are upserts of keys the load has not shown
    /// before are COPYed into staging itself — no landing round trip, no dedup sort. The first
    /// delete or repeated key ends that phase: it and every later row take the landing path,
    /// whose guarded upsert then sees the directly loaded rows, so the result is the same.
    /// Only with [`LandingRetention::DropAfterApply`] (a landing kept for audit must hold
    /// every row) and key columns whose equality is byte equality (no float or JSON keys).
    /// The same switch allows the bulk bootstrap ([`crate::LoadMode::Bootstrap`]), under the
    /// same retention.
    pub direct_load: bool,
    /// Key hashes the direct phase remembers (8 bytes each plus hash-table overhead) before
    /// it hands the rest of the load to the landing path: bounds its memory.
    pub direct_max_keys: usize,
    /// Most rows one load may quarantine (each is kept in memory until the load's COPY
    /// ends): beyond it the problem is systematic and the load fails as with
    /// [`crate::BadRowPolicy::Stop`].
    pub max_quarantined_rows: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            copy_chunk_bytes: 1 << 20,
            lock_timeout: Duration::from_secs(60),
            direct_load: true,
            direct_max_keys: 2_000_000,
            max_quarantined_rows: 1_000,
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
    pub(crate) conn: ConnectionManager,
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
        crate::history::run_ddl(&tx, spec, names, &p).await?;
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
        self.apply_as(spec, load_id, schema, batches, hook, LoadMode::Upsert)
            .await
    }

    /// [`Applier::apply`] in the given [`LoadMode`]: a bootstrap's loads go into its shadow
    /// table (see [`crate::finish_bootstrap`]).
    pub async fn apply_as<S, E>(
        &mut self,
        spec: &TargetTable,
        load_id: &str,
        schema: &Schema,
        batches: S,
        hook: Option<&dyn TxnHook>,
        mode: LoadMode,
    ) -> Result<ApplyStats, PgError>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let span = info_span!("apply", table = %spec.display_name(), load_id, ?mode);
        let r = self
            .apply_inner(
                spec,
                load_id,
                schema,
                batches,
                hook,
                mode,
                BadRowMode::from(spec.on_bad_row),
            )
            .instrument(span)
            .await;
        self.after(r)
    }

    /// Drop the connection after a connection-level failure, so that the next call
    /// reconnects instead of reusing a dead session.
    pub(crate) fn after<T>(&mut self, r: Result<T, PgError>) -> Result<T, PgError> {
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
        let mut attempts = policy.attempts();
        loop {
            match self
                .apply(spec, load_id, schema, make_batches(), hook)
                .await
            {
                Ok(mut s) => {
                    s.attempts = attempts.number();
                    return Ok(s);
                }
                Err(e) if e.is_transient() && attempts.retry("apply", &e).await => {}
                Err(e) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_inner<S, E>(
        &mut self,
        spec: &TargetTable,
        load_id: &str,
        schema: &Schema,
        batches: S,
        hook: Option<&dyn TxnHook>,
        mode: LoadMode,
        bad_mode: BadRowMode,
    ) -> Result<ApplyStats, PgError>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send,
        E: Into<BoxError>,
    {
        let names = spec.validate()?;
        let incoming = analyze(spec, schema)?;
        let layout = self.ensure(spec, &names, &incoming).await?;
        let incoming = incoming.projected(&layout);
        let cx = LoadCtx {
            table: spec.display_name(),
            spec,
            names,
            incoming,
            layout,
            schema,
            load_id,
            options: self.options.clone(),
        };
        let mut stats = ApplyStats {
            attempts: 1,
            ..Default::default()
        };
        let mut bad = BadRows::new(
            bad_mode,
            schema,
            &cx.incoming,
            &cx.table,
            cx.options.max_quarantined_rows,
        );
        let mut batches = pin!(batches);
        // the first non-empty batch decides whether there is anything to land
        let mut first = None;
        while let Some(b) = next_batch(&cx, batches.as_mut(), &mut stats).await? {
            if b.num_rows() > 0 {
                first = Some(b);
                break;
            }
        }

        let client = self.conn.client().await?;
        let tx = begin(client, &cx.table, cx.options.lock_timeout).await?;
        let first = bulk_step(
            &tx,
            &cx,
            mode,
            first,
            batches.as_mut(),
            &mut stats,
            &mut bad,
        )
        .await?;
        if let Some(first) = first {
            let landed = copy_load(&tx, &cx, first, batches.as_mut(), &mut stats, &mut bad).await?;
            if let Some(l) = &landed.landing {
                merge_landed(&tx, &cx, l, landed.direct_rows > 0, &mut stats).await?;
            }
            sweep_landing(&tx, spec, &cx.names, &cx.table).await?;
        }
        stats.quarantined = bad.store(&tx, &cx.names, load_id).await?;
        if spec.delete_policy == DeletePolicy::Hard {
            prune_tombstones(&tx, spec, &cx.names, &cx.table).await?;
        }

        if let Some(h) = hook {
            h.run(&tx, &stats).await.map_err(|e| PgError::Hook {
                table: cx.table.clone(),
                source: Box::new(e),
            })?;
        }
        tx.commit()
            .await
            .map_err(db(format!("{}: commit", cx.table)))?;
        info!(
            rows = stats.rows,
            keys = stats.keys,
            inserted = stats.inserted,
            updated = stats.updated,
            deleted = stats.deleted,
            stale = stats.stale,
            quarantined = stats.quarantined,
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

/// What the steps of one apply share: the validated target, the change schema and the
/// layout the tables have for it.
struct LoadCtx<'a> {
    spec: &'a TargetTable,
    /// Display name (messages).
    table: String,
    names: Names,
    incoming: Incoming,
    layout: TableLayout,
    schema: &'a Schema,
    load_id: &'a str,
    options: ApplyOptions,
}

impl LoadCtx<'_> {
    fn chunk(&self) -> usize {
        self.options.copy_chunk_bytes.max(4096)
    }

    /// The load may COPY straight into staging or a bootstrap shadow (see
    /// [`ApplyOptions::direct_load`]).
    fn direct_allowed(&self) -> bool {
        self.options.direct_load
            && matches!(
                self.spec.landing_retention,
                LandingRetention::DropAfterApply
            )
    }

    fn schema_error(&self, e: crate::copy::EncodeError) -> PgError {
        PgError::InvalidSchema {
            table: self.table.clone(),
            reason: format!("column {:?}: {}", e.column, e.reason),
        }
    }
}

/// The next batch of the load (schema checked and counted), `None` at its end.
async fn next_batch<S, E>(
    cx: &LoadCtx<'_>,
    mut batches: Pin<&mut S>,
    stats: &mut ApplyStats,
) -> Result<Option<RecordBatch>, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>> + Send,
    E: Into<BoxError>,
{
    let Some(b) = batches.next().await else {
        return Ok(None);
    };
    let b = b.map_err(|e| PgError::Source {
        table: cx.table.clone(),
        source: e.into(),
    })?;
    check_schema(&cx.table, cx.schema, &b, stats.batches)?;
    stats.batches += 1;
    Ok(Some(b))
}

/// BEGIN with the options' `lock_timeout`.
async fn begin<'c>(
    client: &'c mut tokio_postgres::Client,
    table: &str,
    lock_timeout: Duration,
) -> Result<Transaction<'c>, PgError> {
    let tx = client
        .transaction()
        .await
        .map_err(db(format!("{table}: begin")))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{}ms'",
        lock_timeout.as_millis()
    ))
    .await
    .map_err(db(format!("{table}: set lock_timeout")))?;
    Ok(tx)
}

/// A bootstrap load goes into its shadow table when one is (or may be) under way: then the
/// whole load is consumed here and `None` is returned; otherwise `first` is handed back for
/// the upsert path.
async fn bulk_step<S, E>(
    tx: &Transaction<'_>,
    cx: &LoadCtx<'_>,
    mode: LoadMode,
    first: Option<RecordBatch>,
    batches: Pin<&mut S>,
    stats: &mut ApplyStats,
    bad: &mut BadRows,
) -> Result<Option<RecordBatch>, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>> + Send,
    E: Into<BoxError>,
{
    let (LoadMode::Bootstrap { first: starts }, Some(_)) = (mode, &first) else {
        return Ok(first);
    };
    // a bootstrap under way continues in its shadow; a new one needs the switch
    let shadow = open_shadow(
        tx,
        cx.spec,
        &cx.names,
        &cx.table,
        starts,
        cx.direct_allowed(),
    )
    .await?;
    let (Some(shadow_q), Some(b)) = (shadow, first.clone()) else {
        return Ok(first);
    };
    let plan = direct_copy_plan(tx, &cx.layout, &cx.incoming, cx.load_id, &cx.table).await?;
    let target = crate::bulk::BulkTarget {
        table: &cx.table,
        target_q: &shadow_q,
        plan: &plan,
        op_index: cx.incoming.op_index,
        schema: cx.schema,
        chunk: cx.chunk(),
    };
    copy_upserts(tx, &target, b, batches, stats, bad).await?;
    Ok(None)
}

/// The landing partition a load created.
struct Landing {
    seq: i64,
    part: Ident,
    part_q: String,
}

/// What [`copy_load`] COPYed.
struct Landed {
    /// The landing partition, if rows went there.
    landing: Option<Landing>,
    /// Rows COPYed straight into staging.
    direct_rows: u64,
}

/// Where the rows of a load are being COPYed: into an empty staging table while the direct
/// gate admits them, then into the load's landing partition.
struct CopyState {
    copy_plan: CopyPlan,
    direct_plan: Option<CopyPlan>,
    probe_plan: CopyPlan,
    gate: Option<DirectGate>,
    landing: Option<Landing>,
    sink: Option<Copying>,
    direct_rows: u64,
    buf: BytesMut,
    digits: DigitBuf,
}

/// COPY the load (`first` and the rest of the stream): its leading unique upserts straight
/// into an empty staging table, everything else into a new landing partition.
async fn copy_load<S, E>(
    tx: &Transaction<'_>,
    cx: &LoadCtx<'_>,
    first: RecordBatch,
    mut batches: Pin<&mut S>,
    stats: &mut ApplyStats,
    bad: &mut BadRows,
) -> Result<Landed, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>> + Send,
    E: Into<BoxError>,
{
    let t0 = Instant::now();
    let copy_plan = copy_plan(&cx.layout, &cx.incoming, cx.load_id)?;
    // an empty target takes the leading unique upserts straight into staging
    let direct_plan = if cx.direct_allowed()
        && direct_key_types(&cx.layout)
        && target_is_empty(tx, cx.spec, &cx.names, &cx.table).await?
    {
        Some(direct_copy_plan(tx, &cx.layout, &cx.incoming, cx.load_id, &cx.table).await?)
    } else {
        None
    };
    let chunk = cx.chunk();
    let mut st = CopyState {
        probe_plan: DirectGate::probe_plan(&copy_plan, cx.incoming.op_index),
        gate: direct_plan
            .as_ref()
            .map(|_| DirectGate::new(cx.options.direct_max_keys)),
        copy_plan,
        direct_plan,
        landing: None,
        sink: None,
        direct_rows: 0,
        buf: BytesMut::with_capacity(chunk + chunk / 4),
        digits: DigitBuf::default(),
    };
    let mut batch = first;
    loop {
        copy_batch(tx, cx, &mut st, &batch, stats, bad).await?;
        stats.rows += batch.num_rows() as u64;
        match next_batch(cx, batches.as_mut(), stats).await? {
            None => break,
            Some(b) => batch = b,
        }
    }
    if let Some(c) = st.sink.take() {
        let copied = finish_copy(c, &mut st.buf, stats, &cx.table).await?;
        if st.gate.is_some() {
            st.direct_rows += copied;
        }
    }
    stats.copy_time = t0.elapsed();
    // the direct rows are new keys, all inserted
    stats.keys += st.direct_rows;
    stats.inserted += st.direct_rows;
    if st.direct_rows > 0 {
        debug!(direct_rows = st.direct_rows, "loaded straight into staging");
    }
    Ok(Landed {
        landing: st.landing,
        direct_rows: st.direct_rows,
    })
}

/// COPY the rows of one batch (rows that cannot be encoded go to `bad`).
async fn copy_batch(
    tx: &Transaction<'_>,
    cx: &LoadCtx<'_>,
    st: &mut CopyState,
    batch: &RecordBatch,
    stats: &mut ApplyStats,
    bad: &mut BadRows,
) -> Result<(), PgError> {
    let arrays = prepare_arrays(batch.columns()).map_err(|(k, reason)| PgError::InvalidSchema {
        table: cx.table.clone(),
        reason: format!("column {:?}: {reason}", cx.schema.field(k).name()),
    })?;
    let n = batch.num_rows();
    let base = stats.rows;
    let mut row = 0;
    while row < n {
        // rows row..end go to the current destination
        let end = match st.gate.as_mut() {
            Some(g) => {
                let probe = BatchEncoder::new(&st.probe_plan, &arrays, n, base)
                    .map_err(|e| cx.schema_error(e))?;
                match g.admit(&probe, row, &mut st.digits) {
                    Ok(end) => end,
                    // the landing path quarantines the row (same key cells, same error)
                    Err(e) if bad.quarantines() && e.row.is_some() => e.row.unwrap_or(row),
                    Err(e) => {
                        return Err(bad.reject(batch, base, e).err().unwrap_or_else(|| {
                            PgError::custom("a rejected row did not stop the load")
                        }));
                    }
                }
            }
            None => n,
        };
        if st.gate.is_some() && end == row {
            // the direct phase ends: the rest of the load takes the landing path
            if let Some(c) = st.sink.take() {
                st.direct_rows += finish_copy(c, &mut st.buf, stats, &cx.table).await?;
            }
            st.gate = None;
            debug!(
                direct_rows = st.direct_rows,
                at_row = base + row as u64,
                "direct load ends"
            );
            continue;
        }
        if st.sink.is_none() {
            open_copy(tx, cx, st).await?;
        }
        let plan = match (&st.gate, &st.direct_plan) {
            (Some(_), Some(dp)) => dp,
            _ => &st.copy_plan,
        };
        let enc = BatchEncoder::new(plan, &arrays, n, base).map_err(|e| cx.schema_error(e))?;
        let Some(c) = st.sink.as_mut() else {
            return Err(PgError::custom("COPY not open"));
        };
        let chunk = cx.chunk();
        c.rows += (end - row) as u64;
        while row < end {
            row = match enc.encode_until(row, end, &mut st.buf, chunk, &mut st.digits) {
                Ok(next) => next,
                Err(e) => {
                    let skipped = bad.reject(batch, base, e)?;
                    c.rows -= 1;
                    skipped + 1
                }
            };
            if st.buf.len() >= chunk {
                stats.bytes += st.buf.len() as u64;
                c.sink
                    .as_mut()
                    .send(st.buf.split().freeze())
                    .await
                    .map_err(db(format!("{}: COPY into {}", cx.table, c.target)))?;
            }
        }
    }
    Ok(())
}

/// Open the COPY into staging (direct phase) or into a new landing partition.
async fn open_copy(
    tx: &Transaction<'_>,
    cx: &LoadCtx<'_>,
    st: &mut CopyState,
) -> Result<(), PgError> {
    let (target_q, cols) = match (&st.gate, &st.direct_plan) {
        (Some(_), Some(dp)) => (cx.names.staging_q(), &dp.columns),
        _ => {
            let l = create_landing(tx, &cx.names, cx.load_id, &cx.table).await?;
            st.copy_plan.load_seq = l.seq;
            let q = l.part_q.clone();
            st.landing = Some(l);
            (q, &st.copy_plan.columns)
        }
    };
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let s = tx
        .copy_in::<_, Bytes>(&copy_statement(&target_q, &names))
        .await
        .map_err(db(format!("{}: COPY into {target_q}", cx.table)))?;
    put_header(&mut st.buf);
    st.sink = Some(Copying {
        sink: Box::pin(s),
        target: target_q,
        rows: 0,
    });
    Ok(())
}

/// Dedup + guarded upsert of the landed rows, then the landing partition's retention.
async fn merge_landed(
    tx: &Transaction<'_>,
    cx: &LoadCtx<'_>,
    l: &Landing,
    after_direct: bool,
    stats: &mut ApplyStats,
) -> Result<(), PgError> {
    let table = &cx.table;
    let t1 = Instant::now();
    let merge_sql = merge_statement(&cx.layout, &l.part_q, after_direct);
    debug!(sql = %merge_sql, "merge");
    let r = tx
        .query_one(&merge_sql, &[&cx.load_id])
        .await
        .map_err(db(format!("{table}: dedup + upsert of load")))?;
    let count = |i: usize| -> u64 { r.get::<_, i64>(i).max(0) as u64 };
    let keys = count(0);
    let (inserted, updated, deleted) = (count(1), count(2), count(3));
    stats.keys += keys;
    stats.inserted += inserted;
    stats.updated += updated;
    stats.deleted += deleted;
    stats.removed += count(4);
    stats.stale += keys.saturating_sub(inserted + updated + deleted);
    stats.merge_time = t1.elapsed();

    // retention: drop this load's partition now, or keep it and mark it applied
    let reg = cx.names.registry_q();
    match cx.spec.landing_retention {
        LandingRetention::DropAfterApply => {
            tx.batch_execute(&format!("DROP TABLE {}", l.part_q))
                .await
                .map_err(db(format!(
                    "{table}: dropping landing partition {}",
                    l.part
                )))?;
            tx.execute(&format!("DELETE FROM {reg} WHERE load_seq = $1"), &[&l.seq])
                .await
                .map_err(db(format!("{table}: registry")))?;
        }
        LandingRetention::Keep(_) => {
            tx.execute(
                &format!("UPDATE {reg} SET applied_at = now(), rows = $2 WHERE load_seq = $1"),
                &[&l.seq, &(stats.rows as i64)],
            )
            .await
            .map_err(db(format!("{table}: registry")))?;
        }
    }
    Ok(())
}

/// The COPY columns of the incoming change columns, typed by `target` (landing or staging).
fn field_columns(
    layout: &TableLayout,
    incoming: &Incoming,
    target: fn(&crate::layout::LayoutColumn) -> &PgType,
) -> Result<Vec<CopyColumn>, PgError> {
    incoming
        .columns
        .iter()
        .map(|ic| {
            let lc = layout
                .column(&ic.ident)
                .ok_or_else(|| PgError::InvalidSchema {
                    table: layout.names.staging_q(),
                    reason: format!("column {} missing from the layout", ic.ident),
                })?;
            // a numeric is encoded the same for any precision: checked against staging's,
            // which may be narrower than landing's after a manual change
            let ty = match (target(lc), &lc.staging_type) {
                (PgType::Numeric(_), s @ PgType::Numeric(Some(_))) => s,
                (t, _) => t,
            };
            Ok(CopyColumn {
                name: ic.ident.as_str().to_string(),
                source: Source::Field {
                    index: ic.index,
                    not_null: layout.key.contains(&ic.ident),
                },
                target: ty.clone(),
            })
        })
        .collect()
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
    columns.extend(field_columns(layout, incoming, |c| &c.landing_type)?);
    Ok(CopyPlan {
        columns,
        load_seq: 0,
        load_id: load_id.to_string(),
    })
}

/// An open COPY of the apply transaction.
struct Copying {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    /// Qualified target table (messages).
    target: String,
    /// Rows sent into it.
    rows: u64,
}

/// Send the trailer and what is buffered, end the COPY and check the server's row count.
async fn finish_copy(
    mut c: Copying,
    buf: &mut BytesMut,
    stats: &mut ApplyStats,
    table: &str,
) -> Result<u64, PgError> {
    put_trailer(buf);
    stats.bytes += buf.len() as u64;
    c.sink
        .as_mut()
        .send(buf.split().freeze())
        .await
        .map_err(db(format!("{table}: COPY into {}", c.target)))?;
    let copied = c
        .sink
        .as_mut()
        .finish()
        .await
        .map_err(db(format!("{table}: COPY into {}", c.target)))?;
    if copied != c.rows {
        return Err(PgError::InvalidSchema {
            table: table.to_string(),
            reason: format!(
                "COPY into {} reported {copied} rows, {} were sent",
                c.target, c.rows
            ),
        });
    }
    Ok(copied)
}

/// Register the load and create its landing partition.
async fn create_landing(
    tx: &Transaction<'_>,
    names: &Names,
    load_id: &str,
    table: &str,
) -> Result<Landing, PgError> {
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
    Ok(Landing { seq, part, part_q })
}

/// Whether every key column's type compares equal exactly when its binary COPY encoding is
/// equal (so that the direct path's key hashes see every duplicate PostgreSQL would):
/// not so for floats (`-0` = `0`), JSON, or types this crate does not know.
fn direct_key_types(layout: &TableLayout) -> bool {
    layout.key.iter().all(|k| {
        layout.column(k).is_some_and(|c| {
            matches!(
                c.staging_type,
                PgType::Bool
                    | PgType::Int2
                    | PgType::Int4
                    | PgType::Int8
                    | PgType::Numeric(Some(_))
                    | PgType::Text
                    | PgType::Bytea
                    | PgType::Date
                    | PgType::Time
                    | PgType::Timestamp
                    | PgType::Timestamptz
            )
        })
    })
}

/// Whether staging (and, for hard deletes, the tombstone table) is empty; if so, both stay
/// locked against other writers until the transaction ends (`SHARE ROW EXCLUSIVE`: readers
/// are not blocked), so the direct load cannot race another applier.
pub(crate) async fn target_is_empty(
    tx: &Transaction<'_>,
    spec: &TargetTable,
    names: &Names,
    table: &str,
) -> Result<bool, PgError> {
    let staging = names.staging_q();
    let (check, lock) = match spec.delete_policy {
        DeletePolicy::Hard => {
            let t = names.tombstones_q();
            (
                format!(
                    "SELECT NOT EXISTS (SELECT 1 FROM {staging}) AND NOT EXISTS (SELECT 1 FROM {t})"
                ),
                format!("LOCK TABLE {staging}, {t} IN SHARE ROW EXCLUSIVE MODE"),
            )
        }
        DeletePolicy::Soft => (
            format!("SELECT NOT EXISTS (SELECT 1 FROM {staging})"),
            format!("LOCK TABLE {staging} IN SHARE ROW EXCLUSIVE MODE"),
        ),
    };
    let empty = tx
        .query_one(&check, &[])
        .await
        .map_err(db(format!("{table}: checking for an empty staging table")))?
        .get::<_, bool>(0);
    if !empty {
        return Ok(false);
    }
    tx.batch_execute(&lock)
        .await
        .map_err(db(format!("{table}: locking the empty staging table")))?;
    // re-check under the lock: another applier may have committed rows in between
    Ok(tx
        .query_one(&check, &[])
        .await
        .map_err(db(format!("{table}: checking for an empty staging table")))?
        .get::<_, bool>(0))
}

/// The COPY column list of the direct path: the change columns as staging stores them, the
/// seqno key, the load id and the transaction's `now()` as `_hps_applied_at` (what the
/// upsert statement would write); soft-delete columns keep their defaults (not deleted).
async fn direct_copy_plan(
    tx: &Transaction<'_>,
    layout: &TableLayout,
    incoming: &Incoming,
    load_id: &str,
    table: &str,
) -> Result<CopyPlan, PgError> {
    let now: i64 = tx
        .query_one(
            "SELECT (EXTRACT(EPOCH FROM now() - TIMESTAMPTZ '2000-01-01 00:00:00+00') * 1000000)::int8",
            &[],
        )
        .await
        .map_err(db(format!("{table}: reading now()")))?
        .get(0);
    let mut columns = Vec::with_capacity(incoming.columns.len() + 3);
    columns.extend(field_columns(layout, incoming, |c| &c.staging_type)?);
    columns.push(CopyColumn {
        name: HPS_SEQNO_KEY.into(),
        source: Source::SeqnoKey(incoming.seqno_index),
        target: PgType::Text,
    });
    columns.push(CopyColumn {
        name: HPS_LOAD_ID.into(),
        source: Source::LoadId,
        target: PgType::Text,
    });
    columns.push(CopyColumn {
        name: HPS_APPLIED_AT.into(),
        source: Source::Timestamptz(now),
        target: PgType::Timestamptz,
    });
    Ok(CopyPlan {
        columns,
        load_seq: 0,
        load_id: load_id.to_string(),
    })
}

pub(crate) fn check_schema(
    table: &str,
    schema: &Schema,
    b: &RecordBatch,
    batch: u64,
) -> Result<(), PgError> {
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

pub(crate) async fn exists(
    tx: &Transaction<'_>,
    schema: &Ident,
    name: &Ident,
) -> Result<bool, PgError> {
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
