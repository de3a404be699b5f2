//! Hostile identifiers from the lake: SQL in names, quotes, mixed case, reserved words,
//! names of 63 and more bytes, for schema, tables, key, ordering and data columns; hostile
//! values are only ever COPYed or bound.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema};
use hps_postgres::{DeletePolicy, PgError, TableKind, TargetTable};
use hps_testkit::postgres::PgCluster;

const EVIL: &str = "\"; DROP TABLE canary; --";

#[tokio::test]
async fn hostile_identifiers_and_values() {
    let pg = PgCluster::start();
    let mut a = common::applier(&pg);
    {
        let c = a.connection().client().await.unwrap();
        c.batch_execute("CREATE TABLE canary (x int); INSERT INTO canary VALUES (1)")
            .await
            .unwrap();
    }
    let long63 = format!("c{}", "x".repeat(62));
    let long70a = format!("{}_alpha", "y".repeat(64));
    let long70b = format!("{}_beta", "y".repeat(64));
    let data_cols: Vec<&str> = vec![
        EVIL,
        "MixedCase",
        "mixedcase",
        "select",
        "user",
        "a\"b",
        "naïve column",
        &long63,
        &long70a,
        &long70b,
    ];

    for policy in [DeletePolicy::Hard, DeletePolicy::Soft] {
        let spec = TargetTable {
            schema: "Sch\"ema; DROP".into(),
            staging: format!("Order {policy:?}"),
            landing: format!("Order {policy:?} landing \"x\""),
            tombstones: format!("Order {policy:?} tomb'"),
            key_columns: vec![EVIL.into(), "select".into()],
            ordering_columns: vec!["user".into()],
            ..TargetTable::for_hudi_table("ignored", vec![])
        }
        .with_delete_policy(policy);

        let make = |commit: &str, ops: Vec<&str>, values: Vec<&str>| {
            let n = ops.len();
            let mut fields: Vec<Field> = [
                "_hoodie_commit_time",
                "_hoodie_commit_seqno",
                "_hoodie_record_key",
                "_hoodie_partition_path",
                "_hoodie_file_name",
            ]
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect();
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![commit; n])),
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| format!("{commit}_0_{i}"))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(values.clone())),
                Arc::new(StringArray::from(vec!["p'; --"; n])),
                Arc::new(StringArray::from(vec!["f"; n])),
            ];
            for (k, c) in data_cols.iter().enumerate() {
                if *c == "select" || *c == "user" {
                    fields.push(Field::new(*c, DataType::Int64, true));
                    cols.push(Arc::new(Int64Array::from(vec![k as i64; n])));
                } else {
                    fields.push(Field::new(*c, DataType::Utf8, true));
                    cols.push(Arc::new(StringArray::from(
                        values
                            .iter()
                            .map(|v| format!("{v}/{k}"))
                            .collect::<Vec<_>>(),
                    )));
                }
            }
            fields.push(Field::new("_op", DataType::Utf8, false));
            cols.push(Arc::new(StringArray::from(ops)));
            let schema = Arc::new(Schema::new(fields));
            (schema.clone(), RecordBatch::try_new(schema, cols).unwrap())
        };

        // values that look like SQL, quotes, backslashes
        let vals = vec!["'); DROP TABLE canary; --", "O'Brien \\ \"q\"", "$$ $1 %s"];
        let (schema, b) = make("20240101000000000", vec!["upsert"; 3], vals.clone());
        let s = a
            .apply(&spec, "L'1; --", &schema, common::stream(vec![b]), None)
            .await
            .unwrap();
        assert_eq!(s.inserted, 3, "{policy:?}");
        let (schema, b) = make("20240102000000000", vec!["delete"], vec![vals[0]]);
        let s = a
            .apply(&spec, "L2", &schema, common::stream(vec![b]), None)
            .await
            .unwrap();
        assert_eq!(s.deleted, 1, "{policy:?}");
        // replay: no change
        let (schema, b) = make("20240101000000000", vec!["upsert"; 3], vals.clone());
        let s = a
            .apply(&spec, "L3", &schema, common::stream(vec![b]), None)
            .await
            .unwrap();
        assert_eq!(s.stale, 3, "{policy:?}");

        let rows = a.read_staging(&spec).await.unwrap();
        let live: Vec<&BTreeMap<String, Option<String>>> = rows
            .iter()
            .filter(|r| {
                r.get("_hps_deleted")
                    .map(|d| d.as_deref() == Some("false"))
                    .unwrap_or(true)
            })
            .collect();
        assert_eq!(live.len(), 2, "{policy:?}: {rows:#?}");
        let evil_vals: Vec<&str> = live.iter().map(|r| r[EVIL].as_deref().unwrap()).collect();
        assert!(
            evil_vals.contains(&"O'Brien \\ \"q\"/0") && evil_vals.contains(&"$$ $1 %s/0"),
            "{evil_vals:?}"
        );
        let r = live[0];
        assert_eq!(
            r["MixedCase"].as_deref().map(|v| v.ends_with("/1")),
            Some(true)
        );
        assert_eq!(
            r["mixedcase"].as_deref().map(|v| v.ends_with("/2")),
            Some(true)
        );
        assert_eq!(r["select"].as_deref(), Some("3"));
        assert_eq!(r["user"].as_deref(), Some("4"));
        assert_eq!(r["_hoodie_partition_path"].as_deref(), Some("p'; --"));
        // 63 bytes kept verbatim, longer names shortened to distinct 63-byte names
        assert!(r.contains_key(&long63));
        let shortened: Vec<&String> = r.keys().filter(|k| k.starts_with("yyyy")).collect();
        assert_eq!(shortened.len(), 2, "{shortened:?}");
        assert!(shortened.iter().all(|k| k.len() <= 63));
        assert_ne!(r[shortened[0]], r[shortened[1]]);
        if policy == DeletePolicy::Hard {
            let t = a.read_table(&spec, TableKind::Tombstones).await.unwrap();
            assert_eq!(t.len(), 1);
            assert_eq!(t[0][EVIL].as_deref(), Some("'); DROP TABLE canary; --/0"));
        }
    }

    let c = a.connection().client().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM canary", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the canary survived");
    let schemas: Vec<String> = c
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'Sch%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(schemas, vec!["Sch\"ema; DROP".to_string()]);

    // configured names longer than 63 bytes are rejected, not truncated
    let spec =
        TargetTable::for_hudi_table("t", vec!["id".into()]).with_staging_name("s".repeat(64));
    let e = a
        .apply(&spec, "L", &common::schema(), common::stream(vec![]), None)
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::InvalidIdentifier { .. }), "{e:?}");
    // a lake column using the reserved prefix is rejected
    let bad = Arc::new(Schema::new(
        common::schema()
            .fields()
            .iter()
            .map(|f| {
                if f.name() == "name" {
                    Arc::new(Field::new("_hps_load_id", DataType::Utf8, true))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
    ));
    let e = a
        .ensure_tables(&common::spec("reserved"), &bad)
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::InvalidSchema { .. }), "{e:?}");
    // the Hudi table name itself is sanitized for the default names
    let spec = TargetTable::for_hudi_table("\"; DROP TABLE canary; --", vec!["id".into()])
        .with_ordering(vec!["ts".into()]);
    assert_eq!(spec.staging, "___drop_table_canary____");
    common::apply(
        &mut a,
        &spec,
        "L",
        &[common::up("20240101000000000", 0, 1, 1, 1, "a")],
    )
    .await
    .unwrap();
    assert_eq!(common::view(&mut a, &spec).await.len(), 1);
}
