//! `on_bad_row`: values PostgreSQL cannot hold (NUL in text, timestamp and date out of range,
//! a decimal wider than its `numeric(p,s)`) are found while encoding; with `quarantine` their
//! rows go into `<staging>__quarantine` in the load's own transaction while the other rows
//! commit, and a retry after a fix applies them under the version guard; with `stop` the load
//! fails naming the column, instant and file, and nothing commits.

mod common;

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::future::BoxFuture;
use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::{
    Applier, ApplyOptions, ApplyStats, BadRowPolicy, DeletePolicy, LoadMode, PgError, TargetTable,
    TxnHook, quarantined_batch,
};
use hps_testkit::postgres::PgCluster;

use common::{applier, stream, superuser};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_hoodie_commit_time", DataType::Utf8, true),
        Field::new("_hoodie_commit_seqno", DataType::Utf8, true),
        Field::new("_hoodie_record_key", DataType::Utf8, true),
        Field::new("_hoodie_partition_path", DataType::Utf8, true),
        Field::new("_hoodie_file_name", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(5, 2), true),
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("day", DataType::Date32, true),
        Field::new("_op", DataType::Utf8, false),
    ]))
}

/// One change row: a good upsert unless a field is made bad.
#[derive(Clone, Debug)]
struct R {
    commit: &'static str,
    seq: u64,
    id: i64,
    delete: bool,
    name: &'static str,
    amount: i128,
    at: i64,
    day: i32,
}

fn r(commit: &'static str, seq: u64, id: i64) -> R {
    R {
        commit,
        seq,
        id,
        delete: false,
        name: "ok",
        amount: 12_345, // 123.45
        at: 1_700_000_000_000_000,
        day: 19_000,
    }
}

/// A file name per instant, so the quarantine's `file` can be told apart.
fn file_of(commit: &str) -> String {
    format!("f-{commit}.parquet")
}

fn batch(rows: &[R]) -> RecordBatch {
    let s = |f: &dyn Fn(&R) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let live = |r: &R| !r.delete;
    let cols: Vec<ArrayRef> = vec![
        s(&|r| Some(r.commit.to_string())),
        s(&|r| live(r).then(|| format!("{}_0_{}", r.commit, r.seq))),
        s(&|r| Some(r.id.to_string())),
        s(&|_| Some("p".to_string())),
        s(&|r| live(r).then(|| file_of(r.commit))),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| Some(r.id)).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| live(r).then_some(r.seq as i64))
                .collect::<Vec<_>>(),
        )),
        s(&|r| live(r).then(|| r.name.to_string())),
        Arc::new(
            Decimal128Array::from(
                rows.iter()
                    .map(|r| live(r).then_some(r.amount))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(5, 2)
            .expect("decimal"),
        ),
        Arc::new(TimestampMicrosecondArray::from(
            rows.iter()
                .map(|r| live(r).then_some(r.at))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            rows.iter()
                .map(|r| live(r).then_some(r.day))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| if r.delete { "delete" } else { "upsert" })
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).expect("batch")
}

fn spec(name: &str, policy: BadRowPolicy) -> TargetTable {
    TargetTable::for_hudi_table(name, vec!["id".into()])
        .with_ordering(vec!["ts".into()])
        .with_bad_row_policy(policy)
}

/// The four kinds of bad value, one row each (ids 2..=5), between good rows 1 and 6.
fn mixed(commit: &'static str) -> Vec<R> {
    vec![
        r(commit, 1, 1),
        R {
            name: "a\0b",
            ..r(commit, 2, 2)
        },
        R {
            amount: 123_456_789, // 1234567.89 does not fit numeric(5,2)
            ..r(commit, 3, 3)
        },
        R {
            at: i64::MIN, // about 290 000 BC, long before 4713 BC
            ..r(commit, 4, 4)
        },
        R {
            day: i32::MAX, // beyond 5874897 AD
            ..r(commit, 5, 5)
        },
        r(commit, 6, 6),
    ]
}

/// A hook that counts the quarantine's rows inside the apply transaction, and writes a
/// marker row that commits only with the load (as the sync's fence does).
struct Witness {
    quarantine_q: String,
}

impl TxnHook for Witness {
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        stats: &'a ApplyStats,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            let seen: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {}", self.quarantine_q), &[])
                .await
                .map_err(|e| PgError::db("witness", e))?
                .get(0);
            tx.execute(
                "INSERT INTO hudi.witness (quarantined, seen) VALUES ($1, $2)",
                &[&(stats.quarantined as i64), &seen],
            )
            .await
            .map_err(|e| PgError::db("witness", e))?;
            Ok(())
        })
    }
}

async fn ids(a: &mut Applier, spec: &TargetTable) -> Vec<i64> {
    a.read_staging(spec)
        .await
        .expect("staging")
        .iter()
        .map(|r| r["id"].as_deref().expect("id").parse().expect("int"))
        .collect()
}

async fn prepare(pg: &PgCluster) -> hps_postgres::tokio_postgres::Client {
    let su = superuser(pg).await;
    su.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS hudi AUTHORIZATION app; \
         CREATE TABLE hudi.witness (quarantined bigint, seen bigint); \
         GRANT ALL ON hudi.witness TO app",
    )
    .await
    .expect("witness");
    su
}

#[tokio::test]
async fn bad_rows_are_quarantined_in_the_load_transaction_and_the_rest_commits() {
    let pg = PgCluster::start();
    let su = prepare(&pg).await;
    let mut a = applier(&pg);
    let t = spec("q", BadRowPolicy::Quarantine);
    let q = t.validate().unwrap().quarantine_q().unwrap();
    assert_eq!(q, "\"hudi\".\"q__quarantine\"");
    let witness = Witness {
        quarantine_q: q.clone(),
    };

    // first load: an empty staging table takes the direct path (rows COPYed into staging)
    let c1 = "20240101000000000";
    let s = a
        .apply(
            &t,
            "L1",
            &schema(),
            stream(vec![batch(&mixed(c1))]),
            Some(&witness),
        )
        .await
        .expect("a load with bad rows commits");
    assert_eq!((s.rows, s.quarantined, s.inserted), (6, 4, 2), "{s:?}");
    assert_eq!(ids(&mut a, &t).await, vec![1, 6]);

    // second load: staging holds rows, so the landing path; one more bad row
    let c2 = "20240102000000000";
    let rows = vec![
        r(c2, 1, 7),
        R {
            name: "\0",
            ..r(c2, 2, 8)
        },
        R {
            name: "updated",
            ..r(c2, 3, 1)
        },
    ];
    let s = a
        .apply(
            &t,
            "L2",
            &schema(),
            stream(vec![batch(&rows)]),
            Some(&witness),
        )
        .await
        .expect("second load");
    assert_eq!((s.quarantined, s.inserted, s.updated), (1, 1, 1), "{s:?}");
    assert_eq!(ids(&mut a, &t).await, vec![1, 6, 7]);

    // the hook saw the quarantined rows inside its transaction: same transaction
    let w: Vec<(i64, i64)> = su
        .query(
            "SELECT quarantined, seen FROM hudi.witness ORDER BY seen",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(w, vec![(4, 4), (1, 5)]);

    let listed = a.quarantined(&t).await.unwrap();
    assert_eq!(a.quarantine_count(&t).await.unwrap(), Some(5));
    let got: Vec<(String, &str, &str, &str)> = listed
        .iter()
        .map(|r| {
            (
                r.record_key.clone().unwrap_or_default(),
                r.column.as_str(),
                r.instant.as_deref().unwrap_or(""),
                r.file.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let f1 = file_of(c1);
    let f2 = file_of(c2);
    assert_eq!(
        got,
        vec![
            ("2".to_string(), "name", c1, f1.as_str()),
            ("3".to_string(), "amount", c1, f1.as_str()),
            ("4".to_string(), "at", c1, f1.as_str()),
            ("5".to_string(), "day", c1, f1.as_str()),
            ("8".to_string(), "name", c2, f2.as_str()),
        ]
    );
    let reasons: Vec<&str> = listed.iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons[0].contains("NUL"), "{reasons:?}");
    assert!(reasons[1].contains("numeric(5,2)"), "{reasons:?}");
    assert!(reasons[2].contains("timestamp"), "{reasons:?}");
    assert!(reasons[3].contains("date"), "{reasons:?}");
    assert!(listed.iter().all(|r| r.op.as_deref() == Some("upsert")));
    assert_eq!(listed[0].load_id, "L1");
    assert_eq!(listed[4].load_id, "L2");
    assert_eq!(listed[1].ordering.as_deref(), Some("3"));

    // stored losslessly: the row decodes to exactly what was loaded, NUL included
    let data: Vec<u8> = su
        .query_one(
            &format!("SELECT row_data FROM {q} ORDER BY id LIMIT 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let back = quarantined_batch(&data).unwrap();
    assert_eq!(back, batch(&mixed(c1)).slice(1, 1));

    // applying the same load again (a replanned window) does not duplicate them
    let s = a
        .apply(&t, "L1b", &schema(), stream(vec![batch(&mixed(c1))]), None)
        .await
        .unwrap();
    assert_eq!(s.quarantined, 4);
    assert_eq!(a.quarantine_count(&t).await.unwrap(), Some(5));
}

#[tokio::test]
async fn stop_fails_the_load_naming_the_row_and_commits_nothing() {
    let pg = PgCluster::start();
    let su = prepare(&pg).await;
    let mut a = applier(&pg);
    let t = spec("s", BadRowPolicy::Stop);
    let c1 = "20240101000000000";
    a.apply(
        &t,
        "L0",
        &schema(),
        stream(vec![batch(&[r(c1, 1, 1)])]),
        None,
    )
    .await
    .unwrap();
    let q = t.validate().unwrap().quarantine_q().unwrap();
    let witness = Witness { quarantine_q: q };
    let c2 = "20240102000000000";
    let e = a
        .apply(
            &t,
            "L1",
            &schema(),
            stream(vec![batch(&mixed(c2))]),
            Some(&witness),
        )
        .await
        .unwrap_err();
    let msg = e.to_string();
    match &e {
        PgError::InvalidData { column, row, .. } => {
            assert_eq!((column.as_str(), *row), ("name", 1))
        }
        other => panic!("{other:?}"),
    }
    for needle in ["\"hudi\".\"s\"", "name", c2, &file_of(c2), "NUL"] {
        assert!(msg.contains(needle), "{needle} missing from: {msg}");
    }
    assert!(!e.is_transient());
    assert_eq!(
        ids(&mut a, &t).await,
        vec![1],
        "nothing of the load committed"
    );
    assert_eq!(a.quarantine_count(&t).await.unwrap(), None);
    let hooks: i64 = su
        .query_one("SELECT count(*) FROM hudi.witness", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hooks, 0, "the hook (the fence) never committed");

    // quarantine has a bound: more bad rows than allowed in one load is a systematic problem
    let mut a = applier(&pg).with_options(ApplyOptions {
        max_quarantined_rows: 3,
        ..ApplyOptions::default()
    });
    let t = spec("bounded", BadRowPolicy::Quarantine);
    let e = a
        .apply(&t, "L1", &schema(), stream(vec![batch(&mixed(c2))]), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("more than 3 rows"), "{e}");
    assert_eq!(ids(&mut a, &t).await, Vec::<i64>::new());
}

#[tokio::test]
async fn retry_after_a_fix_applies_rows_under_the_version_guard() {
    let pg = PgCluster::start();
    let su = prepare(&pg).await;
    let mut a = applier(&pg);
    let t = spec("rt", BadRowPolicy::Quarantine).with_delete_policy(DeletePolicy::Hard);
    let (c1, c2) = ("20240101000000000", "20240102000000000");
    let wide = |commit, seq, id| R {
        amount: 123_456_789,
        ..r(commit, seq, id)
    };
    // c1: ids 3, 7, 8 too wide, 2 with a NUL; 1 fine
    let l1 = vec![
        r(c1, 1, 1),
        R {
            name: "x\0y",
            ..r(c1, 2, 2)
        },
        wide(c1, 3, 3),
        wide(c1, 7, 7),
        wide(c1, 8, 8),
    ];
    let s = a
        .apply(&t, "L1", &schema(), stream(vec![batch(&l1)]), None)
        .await
        .unwrap();
    assert_eq!(s.quarantined, 4);
    // c2: a newer version of 7 applies, 8 is deleted
    let l2 = vec![
        R {
            name: "newer",
            ..r(c2, 1, 7)
        },
        R {
            delete: true,
            ..r(c2, 2, 8)
        },
    ];
    a.apply(&t, "L2", &schema(), stream(vec![batch(&l2)]), None)
        .await
        .unwrap();
    assert_eq!(ids(&mut a, &t).await, vec![1, 7]);

    // nothing fixed yet: all stay, with the retry counted
    let out = a.retry_quarantined(&t).await.unwrap();
    assert_eq!(
        (out.applied, out.superseded, out.still_bad),
        (0, 0, 4),
        "{out:?}"
    );
    assert!(out.failed.is_empty(), "{out:?}");
    let listed = a.quarantined(&t).await.unwrap();
    assert!(listed.iter().all(|r| r.retries == 1), "{listed:?}");

    // the operator widens the staging column; the next retry applies what now fits
    su.batch_execute("ALTER TABLE hudi.rt ALTER COLUMN amount TYPE numeric(12,2)")
        .await
        .unwrap();
    let out = a.retry_quarantined(&t).await.unwrap();
    assert!(out.failed.is_empty(), "{out:?}");
    // 3 applies; the older 7 loses to the newer applied version; 8 stays deleted
    assert_eq!(
        (out.applied, out.superseded, out.still_bad),
        (1, 2, 1),
        "{out:?}"
    );
    assert_eq!(ids(&mut a, &t).await, vec![1, 3, 7]);
    let staging = a.read_staging(&t).await.unwrap();
    let row = |id: &str| {
        staging
            .iter()
            .find(|r| r["id"].as_deref() == Some(id))
            .unwrap()
    };
    assert_eq!(row("3")["amount"].as_deref(), Some("1234567.89"));
    assert_eq!(row("3")["_hoodie_commit_time"].as_deref(), Some(c1));
    assert_eq!(row("7")["name"].as_deref(), Some("newer"));
    assert_eq!(row("7")["_hoodie_commit_time"].as_deref(), Some(c2));
    // the NUL cannot be fixed by a column type: it stays, with its reason
    let left = a.quarantined(&t).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].record_key.as_deref(), Some("2"));
    assert_eq!(left[0].column, "name");
    assert!(left[0].reason.contains("NUL"), "{left:?}");
    assert_eq!(left[0].retries, 2);

    // later loads encode against the widened column and need no quarantine
    let s = a
        .apply(
            &t,
            "L3",
            &schema(),
            stream(vec![batch(&[wide(c2, 3, 9)])]),
            None,
        )
        .await
        .unwrap();
    assert_eq!((s.quarantined, s.inserted), (0, 1));
}

/// Runs `finish_bootstrap` in the load's transaction, as the sync does in a window's last one.
struct Finish<'a>(&'a TargetTable);

impl TxnHook for Finish<'_> {
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        _stats: &'a ApplyStats,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            hps_postgres::finish_bootstrap(tx, self.0).await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn the_bulk_bootstrap_quarantines_too() {
    let pg = PgCluster::start();
    let _su = prepare(&pg).await;
    let mut a = applier(&pg);
    let t = spec("boot", BadRowPolicy::Quarantine);
    let c1 = "20240101000000000";
    let s = a
        .apply_as(
            &t,
            "B1",
            &schema(),
            stream(vec![batch(&mixed(c1))]),
            Some(&Finish(&t)),
            LoadMode::Bootstrap { first: true },
        )
        .await
        .expect("bootstrap load");
    assert_eq!((s.inserted, s.quarantined), (2, 4), "{s:?}");
    assert_eq!(ids(&mut a, &t).await, vec![1, 6]);
    let cols: Vec<String> = a
        .quarantined(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.column)
        .collect();
    assert_eq!(cols, vec!["name", "amount", "at", "day"]);

    // with stop, the bootstrap fails and leaves staging empty
    let t = spec("boot_stop", BadRowPolicy::Stop);
    let e = a
        .apply_as(
            &t,
            "B1",
            &schema(),
            stream(vec![batch(&mixed(c1))]),
            Some(&Finish(&t)),
            LoadMode::Bootstrap { first: true },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::InvalidData { .. }), "{e:?}");
    assert_eq!(ids(&mut a, &t).await, Vec::<i64>::new());
}
