//! Shared helpers of the sync pipeline tests (`tests/tests/sync_*.rs`): one PostgreSQL cluster
//! and one moto server per test process (shared by the tests running at the same time), bookmark
//! stores (file or DynamoDB), generated tables, the `hudi` PyPI snapshot oracle, and checks of
//! staging, landing history and bookmarks.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use hps_postgres::tokio_postgres::{self, Client, NoTls};
use hps_postgres::{ConnectOptions, Connector, LandingRetention, TargetTable};
use hps_storage::{DynStore, LocalStore};
use hps_sync::bookmark::{Bookmark, BookmarkResult, BookmarkStore, Position, WriteMode};
use hps_sync::lease::{Acquire, Lease, LeaseResult, LeaseStore};
use hps_sync::{
    FileBookmarkStore, PassMode, PassOutcome, SyncOptions, SyncPipeline, TableSource,
    TargetOverrides,
};
use hps_testkit::moto::MotoServer;
use hps_testkit::postgres::PgCluster;
use serde_json::Value;

/// A resource shared by the tests that run at the same time in this process: started by the
/// first, stopped when the last one drops it.
fn shared<T>(slot: &'static Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(x) = g.upgrade() {
        return x;
    }
    let x = Arc::new(start());
    *g = Arc::downgrade(&x);
    x
}

static PG: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
static MOTO: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());

/// The shared PostgreSQL cluster.
pub fn pg() -> Arc<PgCluster> {
    shared(&PG, PgCluster::start)
}

/// The shared moto server.
pub fn moto() -> Arc<MotoServer> {
    shared(&MOTO, MotoServer::start)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique lowercase name with a prefix.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Log to the test output (RUST_LOG, default warn for the crates under test).
pub fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A fresh database on the shared cluster; returns its URL (superuser).
pub fn fresh_db(pg: &PgCluster) -> String {
    let name = unique("db");
    pg.create_database(&name)
}

/// A connector for a database URL (plain TCP on loopback).
pub fn connector(url: &str) -> Connector {
    Connector::new(ConnectOptions::parse(&format!("{url}?sslmode=disable")).expect("settings"))
        .expect("connector")
}

/// A plain client.
pub async fn client(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Which bookmark/lease store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `FileBookmarkStore` in a temp dir.
    File,
    /// `DynamoBookmarkStore` on the moto server.
    Dynamo,
}

/// Bookmark and lease stores (kept alive with their backing resources).
pub struct Stores {
    pub bookmarks: Arc<dyn BookmarkStore>,
    pub leases: Arc<dyn LeaseStore>,
    _dir: Option<tempfile::TempDir>,
    _moto: Option<Arc<MotoServer>>,
}

impl Stores {
    pub async fn new(kind: StoreKind) -> Stores {
        match kind {
            StoreKind::File => {
                let dir = tempfile::tempdir().expect("tempdir");
                let s = Arc::new(FileBookmarkStore::new(dir.path()));
                Stores {
                    bookmarks: s.clone(),
                    leases: s,
                    _dir: Some(dir),
                    _moto: None,
                }
            }
            StoreKind::Dynamo => {
                let m = moto();
                let cfg = hps_aws::local_aws_config(&m.endpoint()).await;
                let s = Arc::new(hps_aws::DynamoBookmarkStore::from_config(
                    &cfg,
                    unique("bookmarks"),
                ));
                s.create_table_if_missing()
                    .await
                    .expect("create DynamoDB table");
                Stores {
                    bookmarks: s.clone(),
                    leases: s,
                    _dir: None,
                    _moto: Some(m),
                }
            }
        }
    }
}

/// Options for tests: small transactions, short leases.
pub fn test_options() -> SyncOptions {
    SyncOptions {
        owner: unique("owner"),
        lease_ttl: Duration::from_secs(30),
        read_batch_size: 64,
        retry: hps_postgres::RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
        },
        ..Default::default()
    }
}

/// A pipeline over the stores and database.
pub fn pipeline(name: &str, stores: &Stores, url: &str, options: SyncOptions) -> Arc<SyncPipeline> {
    Arc::new(
        SyncPipeline::new(
            name,
            stores.bookmarks.clone(),
            stores.leases.clone(),
            connector(url),
            options,
        )
        .expect("pipeline"),
    )
}

/// A generated table in a temp dir.
pub struct GenTable {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub manifest: hps_gen::Manifest,
}

pub async fn gen_table(cfg: &hps_gen::GenConfig) -> GenTable {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(&cfg.table_name);
    let report = hps_gen::generate_local(&path, cfg).await.expect("generate");
    GenTable {
        dir,
        path,
        manifest: report.manifest,
    }
}

/// A copy of a table directory (tests that delete files work on copies).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy");
        }
    }
}

/// The table as a source, synced into `schema` with landing history kept (for the
/// duplicate-apply checks).
pub fn source(id: &str, path: &Path, schema: &str) -> TableSource {
    source_with(
        id,
        path,
        schema,
        Some(LandingRetention::Keep(Duration::from_secs(24 * 3600))),
    )
}

fn source_with(
    id: &str,
    path: &Path,
    schema: &str,
    landing_retention: Option<LandingRetention>,
) -> TableSource {
    let store: DynStore = Arc::new(LocalStore::new(path));
    TableSource::new(id, store).with_target(TargetOverrides {
        schema: Some(schema.to_string()),
        landing_retention,
        ..Default::default()
    })
}

/// [`source`] with the default landing retention (landing dropped after each apply): a new
/// table's first window is then a bulk bootstrap into a shadow table.
pub fn source_bulk(id: &str, path: &Path, schema: &str) -> TableSource {
    source_with(id, path, schema, None)
}

/// Rows of the bulk bootstrap's shadow table that repeat a record key (None: no shadow).
pub async fn shadow_duplicates(url: &str, spec: &TargetTable) -> Option<i64> {
    let c = client(url).await;
    let q = format!(
        "{}.{}",
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&format!("{}__hps_bootstrap", spec.staging))
    );
    let exists: bool = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
        .await
        .expect("regclass")
        .get(0);
    if !exists {
        return None;
    }
    let sql = format!(
        "SELECT count(*) - count(DISTINCT (\"_hoodie_partition_path\", \"_hoodie_record_key\")) FROM {q}"
    );
    Some(c.query_one(&sql, &[]).await.expect("shadow").get(0))
}

/// Whether staging has a primary key (a bulk bootstrap's swap builds it).
pub async fn staging_has_primary_key(url: &str, spec: &TargetTable) -> bool {
    let c = client(url).await;
    let q = format!(
        "{}.{}",
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&spec.staging)
    );
    c.query_one(
        "SELECT count(*) = 1 FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'p'",
        &[&q],
    )
    .await
    .expect("pk")
    .get(0)
}

/// The target a source syncs into.
pub async fn target_of(src: &TableSource) -> TargetTable {
    let t = hps_hudi::HudiTable::open(src.store.clone())
        .await
        .expect("open table");
    hps_sync::derive_target(&src.id, t.config(), &src.target).expect("target")
}

static ORACLE_CACHE: Mutex<Option<HashMap<PathBuf, Arc<Value>>>> = Mutex::new(None);

/// The `hudi` PyPI reader's snapshot of the table (cached per path: tables are not modified
/// after the oracle ran, except by tests that use fresh copies).
pub fn oracle_snapshot(path: &Path) -> Arc<Value> {
    if let Some(v) = ORACLE_CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(path)
    {
        return v.clone();
    }
    let v = Arc::new(hps_testkit::python::run_oracle(
        "snapshot.py",
        &[&path.to_string_lossy()],
    ));
    ORACLE_CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(path.to_path_buf(), v.clone());
    v
}

/// Staging rows (live only) with every column rendered canonically (see `snapshot.py`).
pub async fn staging_rows(c: &Client, spec: &TargetTable) -> Vec<BTreeMap<String, Option<String>>> {
    let cols = c
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&spec.schema, &spec.staging],
        )
        .await
        .expect("columns");
    assert!(
        !cols.is_empty(),
        "staging {} does not exist",
        spec.display_name()
    );
    let mut select = Vec::new();
    let mut names = Vec::new();
    let mut soft = false;
    for r in &cols {
        let name: String = r.get(0);
        let ty: String = r.get(1);
        if name == "_hps_deleted" {
            soft = true;
        }
        if name.starts_with("_hps_") {
            continue;
        }
        let q = hps_postgres::quote_ident(&name);
        let expr = match ty.as_str() {
            "date" => format!("({q} - DATE '1970-01-01')::text"),
            "timestamp with time zone" | "timestamp without time zone" => {
                format!("(EXTRACT(EPOCH FROM {q}) * 1000000)::bigint::text")
            }
            "bytea" => format!("encode({q}, 'hex')"),
            _ => format!("{q}::text"),
        };
        select.push(expr);
        names.push(name);
    }
    let filter = if soft {
        " WHERE NOT \"_hps_deleted\""
    } else {
        ""
    };
    let sql = format!(
        "SELECT {} FROM {}.{}{filter}",
        select.join(", "),
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&spec.staging)
    );
    let rows = c.query(&sql, &[]).await.expect("read staging");
    rows.iter()
        .map(|r| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), r.get::<_, Option<String>>(i)))
                .collect()
        })
        .collect()
}

fn norm_decimal(s: &str) -> String {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    };
    let s = s.trim_start_matches('0');
    let s = if s.is_empty() || s.starts_with('.') {
        format!("0{s}")
    } else {
        s.to_string()
    };
    if neg && s != "0" { format!("-{s}") } else { s }
}

/// Canonical text of an oracle value of arrow type `ty`.
fn canon_oracle(ty: &str, v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if ty == "float" => {
            Some(format!("{:?}", n.as_f64().unwrap_or(f64::NAN) as f32))
        }
        Value::Number(n) if ty == "double" || ty.starts_with("halffloat") => {
            Some(format!("{:?}", n.as_f64().unwrap_or(f64::NAN)))
        }
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if ty.starts_with("decimal") => Some(norm_decimal(s)),
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Canonical text of a staging value for arrow type `ty`.
fn canon_staging(ty: &str, v: &Option<String>) -> Option<String> {
    let s = v.as_ref()?;
    Some(match ty {
        "float" => match s.as_str() {
            "NaN" | "Infinity" | "-Infinity" => s.clone(),
            _ => format!("{:?}", s.parse::<f32>().unwrap_or(f32::NAN)),
        },
        "double" => match s.as_str() {
            "NaN" | "Infinity" | "-Infinity" => s.clone(),
            _ => format!("{:?}", s.parse::<f64>().unwrap_or(f64::NAN)),
        },
        t if t.starts_with("decimal") => norm_decimal(s),
        _ => s.clone(),
    })
}

/// Compare staging with the oracle snapshot: same keys (record key + partition path), every
/// compared column equal. Returns a description of the differences.
pub fn diff_with_oracle(
    oracle: &Value,
    staging: &[BTreeMap<String, Option<String>>],
) -> Vec<String> {
    let types: BTreeMap<String, String> = oracle["types"]
        .as_object()
        .expect("types")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let key = |rk: Option<String>, pp: Option<String>| {
        format!("{}|{}", rk.unwrap_or_default(), pp.unwrap_or_default())
    };
    let mut expected: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
    let mut problems = Vec::new();
    for row in oracle["rows"].as_array().expect("rows") {
        let obj = row.as_object().expect("row");
        let canon: BTreeMap<String, Option<String>> = obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    canon_oracle(types.get(k).map_or("", |s| s.as_str()), v),
                )
            })
            .collect();
        let k = key(
            canon.get("_hoodie_record_key").cloned().flatten(),
            canon.get("_hoodie_partition_path").cloned().flatten(),
        );
        // the same key written twice by INSERT (no index lookup): the table holds both rows,
        // staging (one row per key) the newer version
        let version = |r: &BTreeMap<String, Option<String>>| {
            (
                r.get("_hoodie_commit_time").cloned().flatten(),
                r.get("_hoodie_commit_seqno").cloned().flatten(),
            )
        };
        if let Some(prev) = expected.get(&k)
            && version(prev) >= version(&canon)
        {
            continue;
        }
        if expected.insert(k.clone(), canon).is_some() {
            eprintln!("note: the table holds key {k} twice; staging must hold the newer version");
        }
    }
    let mut got: BTreeMap<String, &BTreeMap<String, Option<String>>> = BTreeMap::new();
    for r in staging {
        let k = key(
            r.get("_hoodie_record_key").cloned().flatten(),
            r.get("_hoodie_partition_path").cloned().flatten(),
        );
        if got.insert(k.clone(), r).is_some() {
            problems.push(format!("staging has key {k} twice"));
        }
    }
    for k in expected.keys().filter(|k| !got.contains_key(*k)).take(10) {
        problems.push(format!("missing from staging: {k}"));
    }
    for k in got.keys().filter(|k| !expected.contains_key(*k)).take(10) {
        problems.push(format!("not in the table's snapshot: {k}"));
    }
    let mut mismatches = 0;
    for (k, exp) in &expected {
        let Some(row) = got.get(k) else { continue };
        for (col, ev) in exp {
            let ty = types.get(col).map_or("", |s| s.as_str());
            let Some(sv) = row.get(col) else {
                problems.push(format!("staging lacks column {col}"));
                continue;
            };
            let sv = canon_staging(ty, sv);
            if &sv != ev {
                mismatches += 1;
                if mismatches <= 10 {
                    problems.push(format!("{k}.{col}: staging {sv:?} != table {ev:?}"));
                }
            }
        }
    }
    if mismatches > 10 {
        problems.push(format!("... {mismatches} value mismatches in total"));
    }
    problems
}

/// Assert that staging equals the table's snapshot.
pub async fn assert_staging_matches(url: &str, src: &TableSource, table_path: &Path) {
    let spec = target_of(src).await;
    let c = client(url).await;
    let rows = staging_rows(&c, &spec).await;
    let oracle = oracle_snapshot(table_path);
    let problems = diff_with_oracle(&oracle, &rows);
    assert!(
        problems.is_empty(),
        "staging {} differs from the hudi snapshot of {} ({} staging rows, {} snapshot rows):\n{}",
        spec.display_name(),
        table_path.display(),
        rows.len(),
        oracle["rows"].as_array().map_or(0, |a| a.len()),
        problems.join("\n")
    );
}

/// Change rows landed more than once: (record key, commit time) pairs with several landing
/// rows over the whole retained landing history.
pub async fn landing_duplicates(url: &str, spec: &TargetTable) -> Vec<(String, String, i64)> {
    let c = client(url).await;
    let q = format!(
        "SELECT \"_hoodie_record_key\", \"_hoodie_commit_time\", count(*) FROM {}.{} \
         GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 20",
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&spec.landing)
    );
    c.query(&q, &[])
        .await
        .expect("landing")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Rows in the landing history.
pub async fn landing_rows(url: &str, spec: &TargetTable) -> i64 {
    let c = client(url).await;
    let q = format!(
        "SELECT count(*) FROM {}.{}",
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&spec.landing)
    );
    c.query_one(&q, &[]).await.expect("landing").get(0)
}

/// Run passes until the pass reports neither `MoreToDo` nor `Busy` (waiting out leases of
/// crashed passes). Returns every outcome.
pub async fn run_until_settled(
    pipe: &SyncPipeline,
    src: &TableSource,
    mode: PassMode,
    deadline: impl Fn() -> Option<tokio::time::Instant>,
) -> Vec<PassOutcome> {
    let mut outs = Vec::new();
    for _ in 0..2000 {
        let o = pipe.run_pass(src, deadline(), mode).await.expect("pass");
        let again = matches!(o, PassOutcome::MoreToDo(_) | PassOutcome::Busy(_));
        if matches!(o, PassOutcome::Busy(_)) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        outs.push(o);
        if !again {
            return outs;
        }
    }
    panic!("the table never settled: {:?}", outs.last());
}

/// The position of a generated commit.
pub fn commit_position(c: &hps_gen::CommitRecord) -> Position {
    Position {
        requested_time: c.instant.clone(),
        completion_time: c.completion.clone(),
    }
}

/// One recorded bookmark write: version, position, cursor's next slice, mode.
pub type RecordedWrite = (u64, Option<Position>, Option<u64>, WriteMode);

/// Records every successful bookmark write (version, position, cursor) of a store.
#[derive(Debug)]
pub struct RecordingStore {
    pub inner: Arc<dyn BookmarkStore>,
    pub writes: Mutex<Vec<RecordedWrite>>,
}

impl RecordingStore {
    pub fn new(inner: Arc<dyn BookmarkStore>) -> Arc<Self> {
        Arc::new(RecordingStore {
            inner,
            writes: Mutex::new(Vec::new()),
        })
    }

    /// Versions must strictly increase in write order; forward writes never move back.
    pub fn check_monotonic(&self) {
        let w = self.writes.lock().unwrap();
        for pair in w.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                b.0 > a.0,
                "bookmark versions not strictly increasing: {:?} then {:?}",
                a,
                b
            );
            if b.3 == WriteMode::Forward {
                assert!(
                    !Position::is_backwards(a.1.as_ref(), b.1.as_ref()),
                    "a forward bookmark write moved backwards: {:?} then {:?}",
                    a,
                    b
                );
            }
        }
    }
}

#[async_trait]
impl BookmarkStore for RecordingStore {
    async fn get(&self, pipeline: &str, table: &str) -> BookmarkResult<Option<Bookmark>> {
        self.inner.get(pipeline, table).await
    }
    async fn list(&self, pipeline: &str) -> BookmarkResult<Vec<Bookmark>> {
        self.inner.list(pipeline).await
    }
    async fn write(
        &self,
        bookmark: &Bookmark,
        expected_version: u64,
        mode: WriteMode,
    ) -> BookmarkResult<Bookmark> {
        // hold the log lock across the write so that the log order is the store's order
        let r = self.inner.write(bookmark, expected_version, mode).await;
        if let Ok(b) = &r {
            self.writes.lock().unwrap().push((
                b.version,
                b.position.clone(),
                b.cursor.as_ref().map(|c| c.next_slice),
                mode,
            ));
        }
        r
    }
    async fn delete(&self, pipeline: &str, table: &str) -> BookmarkResult<()> {
        self.inner.delete(pipeline, table).await
    }
}

/// A lease store that always grants the lease (to let two loaders overlap and exercise the
/// fence compare-and-set).
#[derive(Debug, Default)]
pub struct NoLease;

#[async_trait]
impl LeaseStore for NoLease {
    async fn acquire(
        &self,
        pipeline: &str,
        table: &str,
        owner: &str,
        ttl: Duration,
    ) -> LeaseResult<Acquire> {
        let now = chrono::Utc::now();
        Ok(Acquire::Acquired(Lease {
            pipeline: pipeline.into(),
            table: table.into(),
            owner: owner.into(),
            token: unique("t"),
            generation: 1,
            acquired_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap(),
        }))
    }
    async fn renew(&self, lease: &Lease, ttl: Duration) -> LeaseResult<Lease> {
        let mut l = lease.clone();
        l.expires_at = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap();
        Ok(l)
    }
    async fn release(&self, _lease: &Lease) -> LeaseResult<bool> {
        Ok(true)
    }
    async fn current(&self, _pipeline: &str, _table: &str) -> LeaseResult<Option<Lease>> {
        Ok(None)
    }
}

/// Run passes until one reports `UpToDate` (sleeping briefly after `Busy`).
pub async fn run_until_up_to_date(
    pipe: &SyncPipeline,
    src: &TableSource,
    mode: PassMode,
) -> Vec<PassOutcome> {
    let mut outs = Vec::new();
    for _ in 0..2000 {
        let o = pipe.run_pass(src, None, mode).await.expect("pass");
        let busy = matches!(o, PassOutcome::Busy(_));
        let done = matches!(o, PassOutcome::UpToDate { .. });
        outs.push(o);
        if done {
            return outs;
        }
        if busy {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the table never got up to date: {:?}", outs.last());
}
