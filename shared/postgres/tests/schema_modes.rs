//! `on_schema_change` against PostgreSQL: a schema that gains a column and widens `ts`
//! (integer → bigint) between two loads. `evolve` changes staging and records each statement
//! in the schema history (compared with the catalog); `freeze` leaves staging as it is, loads
//! what it can hold and refuses a widening by name; `stop` refuses before anything is written
//! and applies once switched to `evolve`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use hps_postgres::{Applier, ChangeSource, OnSchemaChange, PgError, TargetTable, schema_history};
use hps_testkit::postgres::PgCluster;

/// `n` upserts (ids `first..`) at `commit`: `ts` as Int32 or Int64 (`wide`), `name`, and
/// `note` when `note` is set.
fn load(commit: &str, first: i64, n: usize, wide: bool, note: bool) -> (SchemaRef, RecordBatch) {
    let ids: Vec<i64> = (first..first + n as i64).collect();
    let s = |v: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(v)) };
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
        s(vec![commit.to_string(); n]),
        s(ids.iter().map(|i| format!("{commit}_0_{i}")).collect()),
        s(ids.iter().map(|i| i.to_string()).collect()),
        s(vec![String::new(); n]),
        s(vec!["f".to_string(); n]),
    ];
    fields.push(Field::new("id", DataType::Int64, true));
    cols.push(Arc::new(Int64Array::from(ids.clone())));
    if wide {
        fields.push(Field::new("ts", DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(
            ids.iter().map(|i| i * 10).collect::<Vec<_>>(),
        )));
    } else {
        fields.push(Field::new("ts", DataType::Int32, true));
        cols.push(Arc::new(Int32Array::from(
            ids.iter().map(|i| *i as i32 * 10).collect::<Vec<_>>(),
        )));
    }
    fields.push(Field::new("name", DataType::Utf8, true));
    cols.push(s(ids.iter().map(|i| format!("n{i}@{commit}")).collect()));
    if note {
        fields.push(Field::new("note", DataType::Utf8, true));
        cols.push(s(ids.iter().map(|i| format!("note{i}")).collect()));
    }
    fields.push(Field::new("_op", DataType::Utf8, false));
    cols.push(s(vec!["upsert".to_string(); n]));
    let schema = Arc::new(Schema::new(fields));
    let b = RecordBatch::try_new(schema.clone(), cols).expect("batch");
    (schema, b)
}

async fn run(
    a: &mut Applier,
    spec: &TargetTable,
    instant: &str,
    sb: (SchemaRef, RecordBatch),
) -> Result<hps_postgres::ApplyStats, PgError> {
    let mut spec = spec.clone();
    spec.source = Some(ChangeSource {
        table_id: format!("id-{}", spec.staging),
        instant: Some(instant.to_string()),
    });
    let load_id = format!("L{instant}");
    a.apply(&spec, &load_id, &sb.0, common::stream(vec![sb.1]), None)
        .await
}

/// Column → type of a table, as information_schema shows it.
async fn columns(c: &tokio_postgres::Client, table: &str) -> BTreeMap<String, String> {
    c.query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'hudi' AND table_name = $1",
        &[&table],
    )
    .await
    .expect("columns")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Staging as id → (commit, ts, name, note).
async fn rows(
    c: &tokio_postgres::Client,
    table: &str,
) -> BTreeMap<i64, (String, Option<String>, Option<String>, Option<String>)> {
    let has_note = columns(c, table).await.contains_key("note");
    let note = if has_note { "note" } else { "NULL::text" };
    c.query(
        &format!(
            "SELECT id, _hoodie_commit_time, ts::text, name, {note} FROM hudi.{table} ORDER BY id"
        ),
        &[],
    )
    .await
    .expect("rows")
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
    .collect()
}

const C1: &str = "20240101000000000";
const C2: &str = "20240102000000000";

fn spec(name: &str, mode: OnSchemaChange) -> TargetTable {
    common::spec(name).with_on_schema_change(mode)
}

#[tokio::test]
async fn evolve_changes_staging_and_records_every_statement() {
    let pg = PgCluster::start();
    let mut a = common::applier(&pg);
    let c = common::superuser(&pg).await;
    let sp = spec("evo", OnSchemaChange::Evolve);
    run(&mut a, &sp, C1, load(C1, 0, 3, false, false))
        .await
        .unwrap();
    let before = columns(&c, "evo").await;
    assert_eq!(before["ts"], "integer");
    run(&mut a, &sp, C2, load(C2, 2, 3, true, true))
        .await
        .unwrap();
    let after = columns(&c, "evo").await;
    assert_eq!(after["ts"], "bigint");
    assert_eq!(after["note"], "text");

    let h = schema_history(&c, "hudi", Some("evo")).await.unwrap();
    // the creation of staging, landing, tombstones (+ index) at C1
    let created: Vec<&str> = h
        .iter()
        .filter(|r| r.reason == "created")
        .map(|r| r.target_table.as_str())
        .collect();
    assert_eq!(
        created,
        vec!["evo", "evo__landing", "evo__tombstones", "evo__tombstones"]
    );
    assert!(
        h.iter()
            .filter(|r| r.reason == "created")
            .all(|r| r.instant.as_deref() == Some(C1))
    );
    assert!(h.iter().all(|r| r.table_id.as_deref() == Some("id-evo")));
    // at C2, exactly what the catalog shows changed, on each table that has the columns
    let changed: Vec<(&str, &str, &str)> = h
        .iter()
        .filter(|r| r.reason != "created")
        .map(|r| {
            (
                r.target_table.as_str(),
                r.reason.as_str(),
                r.statement.as_str(),
            )
        })
        .collect();
    assert!(
        h.iter()
            .filter(|r| r.reason != "created")
            .all(|r| r.instant.as_deref() == Some(C2))
    );
    let mut expect = Vec::new();
    for t in ["evo", "evo__landing", "evo__tombstones"] {
        let cols = columns(&c, t).await;
        if cols.contains_key("ts") {
            assert_eq!(cols["ts"], "bigint", "{t}");
            expect.push((
                t,
                "widening",
                format!("ALTER TABLE \"hudi\".\"{t}\" ALTER COLUMN \"ts\" TYPE bigint"),
            ));
        }
        if cols.contains_key("note") {
            expect.push((
                t,
                "new column",
                format!("ALTER TABLE \"hudi\".\"{t}\" ADD COLUMN \"note\" text"),
            ));
        }
    }
    let expect: Vec<(&str, &str, &str)> = expect
        .iter()
        .map(|(t, r, s)| (*t, *r, s.as_str()))
        .collect();
    assert_eq!(changed, expect);
    // nothing more to record when the schema is unchanged
    run(
        &mut a,
        &sp,
        "20240103000000000",
        load("20240103000000000", 0, 1, true, true),
    )
    .await
    .unwrap();
    assert_eq!(
        schema_history(&c, "hudi", Some("evo")).await.unwrap().len(),
        h.len()
    );
}

#[tokio::test]
async fn freeze_keeps_staging_and_loads_what_it_can_hold() {
    let pg = PgCluster::start();
    let mut a = common::applier(&pg);
    let c = common::superuser(&pg).await;
    let sp = spec("frz", OnSchemaChange::Freeze);
    run(&mut a, &sp, C1, load(C1, 0, 3, false, false))
        .await
        .unwrap();
    let before = columns(&c, "frz").await;
    let history = schema_history(&c, "hudi", Some("frz")).await.unwrap().len();

    // a new column: not loaded, the other values are
    run(&mut a, &sp, C2, load(C2, 2, 3, false, true))
        .await
        .unwrap();
    assert_eq!(columns(&c, "frz").await, before);
    let r = rows(&c, "frz").await;
    assert_eq!(r.len(), 5);
    assert_eq!(
        r[&4],
        (
            C2.to_string(),
            Some("40".into()),
            Some(format!("n4@{C2}")),
            None
        )
    );
    assert_eq!(r[&0].0, C1);

    // a widening integer cannot hold: a permanent error naming table, instant, column, types
    let c3 = "20240103000000000";
    let e = run(&mut a, &sp, c3, load(c3, 0, 1, true, false))
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::SchemaFrozen { .. }), "{e:?}");
    assert!(e.is_schema_error() && !e.is_transient());
    let m = e.to_string();
    for needle in ["\"hudi\".\"frz\"", c3, "\"ts\"", "integer", "bigint"] {
        assert!(m.contains(needle), "{needle}: {m}");
    }
    assert_eq!(columns(&c, "frz").await, before);
    assert_eq!(rows(&c, "frz").await, r, "nothing written");
    assert_eq!(
        schema_history(&c, "hudi", Some("frz")).await.unwrap().len(),
        history
    );

    // a dropped column: the staging column stays, NULL for new rows
    let (schema, b) = load("20240104000000000", 9, 1, false, false);
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| schema.field(*i).name() != "name")
        .collect();
    let b = b.project(&keep).unwrap();
    a.apply(
        &sp,
        "Ldrop",
        &b.schema(),
        common::stream(vec![b.clone()]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(rows(&c, "frz").await[&9].2, None);
    assert_eq!(columns(&c, "frz").await, before);
}

#[tokio::test]
async fn stop_refuses_before_writing_and_evolve_then_applies() {
    let pg = PgCluster::start();
    let mut a = common::applier(&pg);
    let c = common::superuser(&pg).await;
    let sp = spec("stp", OnSchemaChange::Stop);
    run(&mut a, &sp, C1, load(C1, 0, 3, false, false))
        .await
        .unwrap();
    let before = columns(&c, "stp").await;
    let r1 = rows(&c, "stp").await;
    let history = schema_history(&c, "hudi", Some("stp")).await.unwrap();

    let e = run(&mut a, &sp, C2, load(C2, 2, 3, true, true))
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::SchemaChangeStopped { .. }), "{e:?}");
    assert!(e.is_schema_error() && !e.is_transient());
    let m = e.to_string();
    for needle in [
        "\"hudi\".\"stp\"",
        C2,
        "new column \"note\" text",
        "column \"ts\" integer -> bigint",
        "evolve",
    ] {
        assert!(m.contains(needle), "{needle}: {m}");
    }
    assert_eq!(columns(&c, "stp").await, before);
    assert_eq!(rows(&c, "stp").await, r1, "nothing written");
    assert_eq!(
        schema_history(&c, "hudi", Some("stp")).await.unwrap(),
        history
    );

    // switched to evolve, the same load applies
    let sp = sp.with_on_schema_change(OnSchemaChange::Evolve);
    run(&mut a, &sp, C2, load(C2, 2, 3, true, true))
        .await
        .unwrap();
    let after = columns(&c, "stp").await;
    assert_eq!(
        (after["ts"].as_str(), after["note"].as_str()),
        ("bigint", "text")
    );
    let r = rows(&c, "stp").await;
    assert_eq!(r[&3].3.as_deref(), Some("note3"));
    let h = schema_history(&c, "hudi", Some("stp")).await.unwrap();
    assert!(h.len() > history.len());
    assert!(
        h[history.len()..]
            .iter()
            .all(|r| r.instant.as_deref() == Some(C2))
    );
}
