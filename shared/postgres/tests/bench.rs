//! Throughput of the apply path on a fixed workload: a 20-column table, N changed rows (50 %
//! updates, 40 % inserts, 10 % duplicate keys with different versions) into a staging table of N rows. Ignored by default (minutes in debug);
//! run with `cargo test -p hps-postgres --release --test bench -- --ignored --nocapture`
//! (`HPS_BENCH_ROWS` sets N, default 1 000 000).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use hps_postgres::{Applier, ConnectionManager, DeletePolicy, TargetTable};
use hps_testkit::postgres::PgCluster;

const BATCH: usize = 65_536;

fn schema() -> SchemaRef {
    let mut f: Vec<Field> = [
        "_hoodie_commit_time",
        "_hoodie_commit_seqno",
        "_hoodie_record_key",
        "_hoodie_partition_path",
        "_hoodie_file_name",
    ]
    .iter()
    .map(|c| Field::new(*c, DataType::Utf8, true))
    .collect();
    f.push(Field::new("id", DataType::Int64, true));
    for i in 0..4 {
        f.push(Field::new(format!("i{i}"), DataType::Int32, true));
    }
    for i in 0..4 {
        f.push(Field::new(format!("d{i}"), DataType::Float64, true));
    }
    f.push(Field::new("amount", DataType::Decimal128(18, 4), true));
    f.push(Field::new("amount2", DataType::Decimal128(18, 4), true));
    f.push(Field::new("name", DataType::Utf8, true));
    f.push(Field::new("city", DataType::Utf8, true));
    f.push(Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    f.push(Field::new(
        "ts2",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    f.push(Field::new("flag", DataType::Boolean, true));
    f.push(Field::new("day", DataType::Date32, true));
    f.push(Field::new("v", DataType::Int64, true));
    f.push(Field::new("_op", DataType::Utf8, false));
    Arc::new(Schema::new(f))
}

fn make_batch(schema: &SchemaRef, commit: &str, ids: &[i64], version: i64) -> RecordBatch {
    let n = ids.len();
    let s = |v: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let mut cols: Vec<ArrayRef> = vec![
        s(vec![commit.to_string(); n]),
        s((0..n)
            .map(|i| format!("{commit}_{}_{i}", version))
            .collect()),
        s(ids.iter().map(|i| i.to_string()).collect()),
        s(vec!["p".to_string(); n]),
        s(vec!["f".to_string(); n]),
        Arc::new(Int64Array::from(ids.to_vec())),
    ];
    for k in 0..4 {
        cols.push(Arc::new(Int32Array::from(
            ids.iter()
                .map(|i| (*i as i32).wrapping_mul(k + 3))
                .collect::<Vec<_>>(),
        )));
    }
    for k in 0..4 {
        cols.push(Arc::new(Float64Array::from(
            ids.iter()
                .map(|i| *i as f64 * (k as f64 + 0.5))
                .collect::<Vec<_>>(),
        )));
    }
    for _ in 0..2 {
        cols.push(Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|i| (*i as i128) * 10_007 + version as i128)
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(18, 4)
            .unwrap(),
        ));
    }
    cols.push(s(ids
        .iter()
        .map(|i| format!("customer name number {i:>10}"))
        .collect()));
    cols.push(s(ids
        .iter()
        .map(|i| format!("city-{}", i % 1000))
        .collect()));
    for _ in 0..2 {
        cols.push(Arc::new(
            TimestampMicrosecondArray::from(
                ids.iter()
                    .map(|i| 1_700_000_000_000_000 + i * 1_000)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ));
    }
    cols.push(Arc::new(BooleanArray::from(
        ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>(),
    )));
    cols.push(Arc::new(Date32Array::from(
        ids.iter().map(|i| (i % 20_000) as i32).collect::<Vec<_>>(),
    )));
    cols.push(Arc::new(Int64Array::from(vec![version; n])));
    cols.push(Arc::new(StringArray::from(vec!["upsert"; n])));
    RecordBatch::try_new(schema.clone(), cols).unwrap()
}

#[tokio::test]
#[ignore]
async fn bench_upsert_changed_rows() {
    let n: i64 = std::env::var("HPS_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // HPS_BENCH_URL: use an existing server instead of a throwaway cluster
    let external = std::env::var("HPS_BENCH_URL").ok();
    let pg = external.is_none().then(|| {
        PgCluster::start_with(hps_testkit::postgres::PgOptions {
            settings: vec![
                ("max_wal_size".into(), "4GB".into()),
                ("checkpoint_timeout".into(), "30min".into()),
            ],
            ..Default::default()
        })
    });
    let url = match (&external, &pg) {
        (Some(u), _) => u.clone(),
        (None, Some(pg)) => format!("{}?sslmode=disable", pg.url_for("app", "app")),
        (None, None) => unreachable!(),
    };
    let schema = schema();
    for policy in [DeletePolicy::Soft, DeletePolicy::Hard] {
        let conn = ConnectionManager::from_settings(&url).unwrap();
        let mut a = Applier::new(conn);
        let spec = TargetTable::for_hudi_table(&format!("bench_{policy:?}"), vec!["id".into()])
            .with_ordering(vec!["v".into()])
            .with_delete_policy(policy)
            .with_landing_retention(if external.is_some() {
                hps_postgres::LandingRetention::Keep(std::time::Duration::from_secs(3600))
            } else {
                hps_postgres::LandingRetention::DropAfterApply
            });

        // initial load: N rows
        let ids: Vec<i64> = (0..n).collect();
        let batches: Vec<RecordBatch> = ids
            .chunks(BATCH)
            .map(|c| make_batch(&schema, "20240101000000000", c, 1))
            .collect();
        let t = Instant::now();
        let s = a
            .apply(
                &spec,
                "init",
                &schema,
                futures::stream::iter(batches.into_iter().map(Ok::<_, std::io::Error>)),
                None,
            )
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{policy:?} initial {} rows: {:.1}s = {:.0} rows/s (copy {:?}, merge {:?})",
            s.rows,
            secs,
            s.rows as f64 / secs,
            s.copy_time,
            s.merge_time
        );
        {
            let c = a.connection().client().await.unwrap();
            c.batch_execute(&format!(
                "VACUUM ANALYZE hudi.bench_{}",
                format!("{policy:?}").to_lowercase()
            ))
            .await
            .unwrap();
        }

        // changes: 50 % updates, 40 % inserts, 10 % duplicates (older version of an updated key)
        let half = n / 2;
        let mut change_ids: Vec<i64> = (0..half).map(|i| i * 2).collect(); // updates
        change_ids.extend((0..(n * 4 / 10)).map(|i| n + i)); // inserts
        let dups: Vec<i64> = (0..(n / 10)).map(|i| i * 2).collect();
        let mut batches: Vec<RecordBatch> = dups
            .chunks(BATCH)
            .map(|c| make_batch(&schema, "20240102000000000", c, 1))
            .collect();
        batches.extend(
            change_ids
                .chunks(BATCH)
                .map(|c| make_batch(&schema, "20240102000000000", c, 2)),
        );
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        let t = Instant::now();
        let s = a
            .apply(
                &spec,
                "changes",
                &schema,
                futures::stream::iter(batches.into_iter().map(Ok::<_, std::io::Error>)),
                None,
            )
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{policy:?} changes {total} rows into {n}: {:.1}s = {:.0} rows/s (copy {:?}, merge {:?}) {s:?}",
            secs,
            total as f64 / secs,
            s.copy_time,
            s.merge_time
        );
        assert_eq!(s.rows as usize, total);
        assert_eq!(s.inserted as i64, n * 4 / 10);
        assert_eq!(s.updated as i64, half);
    }
}
