//! Shared helpers for the integration tests: a cluster, an applier as the unprivileged `app`
//! role, and a small change-row table (`id` key, `ts` ordering, `name`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::Stream;
use hps_postgres::{Applier, ApplyStats, ConnectionManager, PgError, RetryPolicy, TargetTable};
use hps_testkit::postgres::PgCluster;

/// An applier connected as `app` to database `app` (sslmode=disable on loopback).
pub fn applier(pg: &PgCluster) -> Applier {
    let conn =
        ConnectionManager::from_settings(&format!("{}?sslmode=disable", pg.url_for("app", "app")))
            .expect("settings")
            .with_retry(RetryPolicy {
                max_attempts: 4,
                initial_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_millis(200),
            });
    Applier::new(conn)
}

/// A plain tokio-postgres client as superuser on database `app`.
pub async fn superuser(pg: &PgCluster) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={} user=postgres dbname=app", pg.port),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// One change row of the test table.
#[derive(Clone, Debug)]
pub struct Row {
    pub op: &'static str,
    pub commit: String,
    pub seqno: Option<String>,
    pub id: i64,
    pub ts: Option<i64>,
    pub name: Option<String>,
}

/// An upsert at `commit` with seqno `<commit>_<part>_<seq>`.
pub fn up(commit: &str, part: u32, seq: u64, id: i64, ts: i64, name: &str) -> Row {
    Row {
        op: "upsert",
        commit: commit.into(),
        seqno: Some(format!("{commit}_{part}_{seq}")),
        id,
        ts: Some(ts),
        name: Some(name.into()),
    }
}

/// A delete at `commit` (no seqno, no ordering value, as the reader emits them).
pub fn del(commit: &str, id: i64) -> Row {
    Row {
        op: "delete",
        commit: commit.into(),
        seqno: None,
        id,
        ts: None,
        name: None,
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_hoodie_commit_time", DataType::Utf8, true),
        Field::new("_hoodie_commit_seqno", DataType::Utf8, true),
        Field::new("_hoodie_record_key", DataType::Utf8, true),
        Field::new("_hoodie_partition_path", DataType::Utf8, true),
        Field::new("_hoodie_file_name", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("_op", DataType::Utf8, false),
    ]))
}

pub fn batch(rows: &[Row]) -> RecordBatch {
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|r| Some(r.commit.clone())),
        s(&|r| r.seqno.clone()),
        s(&|r| Some(r.id.to_string())),
        s(&|_| Some("p".to_string())),
        s(&|r| (r.op == "upsert").then(|| "f1".to_string())),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| Some(r.id)).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.ts).collect::<Vec<_>>(),
        )),
        s(&|r| r.name.clone()),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.op).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).expect("batch")
}

pub fn stream(
    batches: Vec<RecordBatch>,
) -> impl Stream<Item = Result<RecordBatch, std::io::Error>> + Send {
    futures::stream::iter(batches.into_iter().map(Ok))
}

pub fn spec(name: &str) -> TargetTable {
    TargetTable::for_hudi_table(name, vec!["id".into()]).with_ordering(vec!["ts".into()])
}

pub async fn apply(
    a: &mut Applier,
    spec: &TargetTable,
    load: &str,
    rows: &[Row],
) -> Result<ApplyStats, PgError> {
    a.apply(spec, load, &schema(), stream(vec![batch(rows)]), None)
        .await
}

/// Staging as `id → (commit, ts, name, deleted flag if soft)`.
pub type View = BTreeMap<i64, (String, Option<i64>, Option<String>, Option<bool>)>;

pub async fn view(a: &mut Applier, spec: &TargetTable) -> View {
    a.read_staging(spec)
        .await
        .expect("read staging")
        .into_iter()
        .map(|r| {
            let id: i64 = r["id"].as_deref().expect("id").parse().expect("int");
            let commit = r["_hoodie_commit_time"].clone().unwrap_or_default();
            let ts = r["ts"].as_deref().map(|v| v.parse().expect("int"));
            let deleted = r.get("_hps_deleted").map(|v| v.as_deref() == Some("true"));
            (id, (commit, ts, r["name"].clone(), deleted))
        })
        .collect()
}

pub fn v(
    commit: &str,
    ts: Option<i64>,
    name: Option<&str>,
    deleted: Option<bool>,
) -> (String, Option<i64>, Option<String>, Option<bool>) {
    (commit.to_string(), ts, name.map(str::to_string), deleted)
}
