//! Schema evolution between batches: new nullable columns, safe widenings, narrower
//! incoming types, dropped columns, and incompatible changes that stop one table (typed error,
//! nothing touched) while other tables continue.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use hps_postgres::{Applier, DeletePolicy, PgError, TableKind, TargetTable};
use hps_testkit::postgres::PgCluster;

/// A batch of `n` rows (ids `first..first+n`) with the given data columns.
fn batch(
    commit: &str,
    first: i64,
    data: Vec<(Field, ArrayRef)>,
    with_id: bool,
) -> (SchemaRef, RecordBatch) {
    let n = data.first().map(|(_, a)| a.len()).unwrap_or(1);
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
    let ids: Vec<i64> = (first..first + n as i64).collect();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![commit; n])),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|i| format!("{commit}_0_{i}"))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(vec![""; n])),
        Arc::new(StringArray::from(vec!["f"; n])),
    ];
    if with_id {
        fields.push(Field::new("id", DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(ids)));
    }
    for (f, a) in data {
        fields.push(f);
        cols.push(a);
    }
    fields.push(Field::new("_op", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec!["upsert"; n])));
    let schema = Arc::new(Schema::new(fields));
    let b = RecordBatch::try_new(schema.clone(), cols).expect("batch");
    (schema, b)
}

async fn run(
    a: &mut Applier,
    spec: &TargetTable,
    load: &str,
    sb: (SchemaRef, RecordBatch),
) -> Result<hps_postgres::ApplyStats, PgError> {
    a.apply(spec, load, &sb.0, common::stream(vec![sb.1]), None)
        .await
}

async fn column_types(a: &mut Applier, table: &str) -> BTreeMap<String, String> {
    let client = a.connection().client().await.unwrap();
    client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn f(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

#[tokio::test]
async fn evolution_between_batches() {
    let pg = PgCluster::start();
    let mut a = common::applier(&pg);
    let spec = TargetTable::for_hudi_table("evo", vec!["id".into()])
        .with_ordering(vec!["ts".into()])
        .with_delete_policy(DeletePolicy::Hard);
    let dec = |vals: Vec<i128>, p: u8, s: i8| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(vals)
                .with_precision_and_scale(p, s)
                .unwrap(),
        )
    };

    // v1
    run(
        &mut a,
        &spec,
        "L1",
        batch(
            "20240101000000000",
            0,
            vec![
                (
                    f("ts", DataType::Int32),
                    Arc::new(Int32Array::from(vec![1, 2])),
                ),
                (
                    f("amount", DataType::Int32),
                    Arc::new(Int32Array::from(vec![10, 20])),
                ),
                (
                    f("price", DataType::Float32),
                    Arc::new(Float32Array::from(vec![1.5, 2.5])),
                ),
                (
                    f("dec", DataType::Decimal128(10, 2)),
                    dec(vec![12345, -1], 10, 2),
                ),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["a", "b"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();
    // a delete so that the tombstone table exists and must evolve too
    {
        let (schema, b) = batch(
            "20240101000000001",
            5,
            vec![(
                f("ts", DataType::Int32),
                Arc::new(Int32Array::from(vec![9])),
            )],
            true,
        );
        let mut cols = b.columns().to_vec();
        let last = cols.len() - 1;
        cols[last] = Arc::new(StringArray::from(vec!["delete"]));
        let b = RecordBatch::try_new(schema.clone(), cols).unwrap();
        a.apply(&spec, "Ldel", &schema, common::stream(vec![b]), None)
            .await
            .unwrap();
    }

    // v2: a new nullable column
    run(
        &mut a,
        &spec,
        "L2",
        batch(
            "20240102000000000",
            2,
            vec![
                (
                    f("ts", DataType::Int32),
                    Arc::new(Int32Array::from(vec![3])),
                ),
                (
                    f("amount", DataType::Int32),
                    Arc::new(Int32Array::from(vec![30])),
                ),
                (
                    f("price", DataType::Float32),
                    Arc::new(Float32Array::from(vec![3.5])),
                ),
                (f("dec", DataType::Decimal128(10, 2)), dec(vec![300], 10, 2)),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["c"])),
                ),
                (
                    f("note", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["new"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();
    assert_eq!(column_types(&mut a, "hudi.evo").await["note"], "text");
    assert_eq!(
        column_types(&mut a, "hudi.evo__landing").await["note"],
        "text"
    );

    // v3: widenings int→bigint (ordering column too), float→double, decimal precision up
    // and scale up (numeric(10,2) → numeric(12,4)); values beyond the old ranges
    run(
        &mut a,
        &spec,
        "L3",
        batch(
            "20240103000000000",
            3,
            vec![
                (
                    f("ts", DataType::Int64),
                    Arc::new(Int64Array::from(vec![5_000_000_000])),
                ),
                (
                    f("amount", DataType::Int64),
                    Arc::new(Int64Array::from(vec![9_000_000_000])),
                ),
                (
                    f("price", DataType::Float64),
                    Arc::new(Float64Array::from(vec![0.1])),
                ),
                (
                    f("dec", DataType::Decimal128(12, 4)),
                    dec(vec![123_456_789_012], 12, 4),
                ),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["d"])),
                ),
                (
                    f("note", DataType::Utf8),
                    Arc::new(StringArray::from(vec![None::<&str>])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();
    for t in ["hudi.evo", "hudi.evo__landing"] {
        let ty = column_types(&mut a, t).await;
        assert_eq!(ty["ts"], "bigint", "{t}");
        assert_eq!(ty["amount"], "bigint", "{t}");
        assert_eq!(ty["price"], "double precision", "{t}");
        assert_eq!(ty["dec"], "numeric(12,4)", "{t}");
    }
    assert_eq!(
        column_types(&mut a, "hudi.evo__tombstones").await["ts"],
        "bigint"
    );

    // v4: narrower incoming types fit the wider columns without DDL
    run(
        &mut a,
        &spec,
        "L4",
        batch(
            "20240104000000000",
            4,
            vec![
                (
                    f("ts", DataType::Int16),
                    Arc::new(Int16Array::from(vec![7])),
                ),
                (
                    f("amount", DataType::Int8),
                    Arc::new(Int8Array::from(vec![-8])),
                ),
                (
                    f("price", DataType::Float32),
                    Arc::new(Float32Array::from(vec![0.25])),
                ),
                (
                    f("dec", DataType::Decimal128(5, 1)),
                    dec(vec![-12345], 5, 1),
                ),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["e"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();

    // v5: a dropped non-key column: updates write NULL there, older rows keep their value
    run(
        &mut a,
        &spec,
        "L5",
        batch(
            "20240105000000000",
            1,
            vec![
                (
                    f("ts", DataType::Int64),
                    Arc::new(Int64Array::from(vec![8])),
                ),
                (
                    f("amount", DataType::Int64),
                    Arc::new(Int64Array::from(vec![21])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();

    let rows = a.read_staging(&spec).await.unwrap();
    let got: Vec<Vec<Option<&str>>> = rows
        .iter()
        .map(|r| {
            ["id", "ts", "amount", "price", "dec", "name", "note"]
                .iter()
                .map(|c| r[*c].as_deref())
                .collect()
        })
        .collect();
    let want: Vec<Vec<Option<&str>>> = vec![
        vec![
            Some("0"),
            Some("1"),
            Some("10"),
            Some("1.5"),
            Some("123.4500"),
            Some("a"),
            None,
        ],
        vec![Some("1"), Some("8"), Some("21"), None, None, None, None],
        vec![
            Some("2"),
            Some("3"),
            Some("30"),
            Some("3.5"),
            Some("3.0000"),
            Some("c"),
            Some("new"),
        ],
        vec![
            Some("3"),
            Some("5000000000"),
            Some("9000000000"),
            Some("0.1"),
            Some("12345678.9012"),
            Some("d"),
            None,
        ],
        vec![
            Some("4"),
            Some("7"),
            Some("-8"),
            Some("0.25"),
            Some("-1234.5000"),
            Some("e"),
            None,
        ],
    ];
    assert_eq!(got, want);
    let before = rows;
    let types_before = column_types(&mut a, "hudi.evo").await;

    // incompatible: string → int, in a batch that also adds a column: nothing is touched
    let e = run(
        &mut a,
        &spec,
        "L6",
        batch(
            "20240106000000000",
            0,
            vec![
                (
                    f("ts", DataType::Int64),
                    Arc::new(Int64Array::from(vec![100])),
                ),
                (
                    f("name", DataType::Int32),
                    Arc::new(Int32Array::from(vec![1])),
                ),
                (
                    f("brand_new", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["x"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap_err();
    match &e {
        PgError::IncompatibleType {
            column,
            existing,
            incoming,
            ..
        } => {
            assert_eq!(column, "name");
            assert_eq!(existing, "text");
            assert!(
                incoming.contains("integer") && incoming.contains("Int32"),
                "{incoming}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_schema_error() && !e.is_transient());
    assert!(e.to_string().contains("\"name\""), "{e}");

    // other incompatible changes
    let cases: Vec<(&str, DataType, ArrayRef)> = vec![
        (
            "amount",
            DataType::Float64,
            Arc::new(Float64Array::from(vec![1.0])),
        ),
        (
            "price",
            DataType::Int64,
            Arc::new(Int64Array::from(vec![1])),
        ),
        (
            "note",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Arc::new(TimestampMicrosecondArray::from(vec![1])),
        ),
        (
            "dec",
            DataType::Utf8,
            Arc::new(StringArray::from(vec!["1"])),
        ),
    ];
    for (col, dt, arr) in cases {
        let ts: (Field, ArrayRef) = (
            f("ts", DataType::Int64),
            Arc::new(Int64Array::from(vec![1])),
        );
        let e = run(
            &mut a,
            &spec,
            "L7",
            batch("20240107000000000", 0, vec![ts, (f(col, dt), arr)], true),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, PgError::IncompatibleType { column, .. } if column == col),
            "{col}: {e:?}"
        );
    }

    // a dropped key column
    let e = run(
        &mut a,
        &spec,
        "L8",
        batch(
            "20240108000000000",
            0,
            vec![(
                f("ts", DataType::Int64),
                Arc::new(Int64Array::from(vec![1])),
            )],
            false,
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, PgError::KeyColumnDropped { column, .. } if column == "id"),
        "{e:?}"
    );

    // a changed record key
    let rekeyed = spec.clone();
    let rekeyed = TargetTable {
        key_columns: vec!["id".into(), "name".into()],
        ..rekeyed
    };
    let e = run(
        &mut a,
        &rekeyed,
        "L9",
        batch(
            "20240109000000000",
            0,
            vec![
                (
                    f("ts", DataType::Int64),
                    Arc::new(Int64Array::from(vec![1])),
                ),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["z"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PgError::KeyMismatch { .. }), "{e:?}");

    // nothing was touched
    assert_eq!(a.read_staging(&spec).await.unwrap(), before);
    assert_eq!(column_types(&mut a, "hudi.evo").await, types_before);
    assert!(
        !column_types(&mut a, "hudi.evo__landing")
            .await
            .contains_key("brand_new")
    );
    assert!(
        a.read_table(&spec, TableKind::Landing)
            .await
            .unwrap()
            .is_empty()
    );

    // other tables continue on the same applier
    let other = TargetTable::for_hudi_table("evo_other", vec!["id".into()]);
    let s = run(
        &mut a,
        &other,
        "O1",
        batch(
            "20240101000000000",
            0,
            vec![(
                f("name", DataType::Int32),
                Arc::new(Int32Array::from(vec![1, 2])),
            )],
            true,
        ),
    )
    .await
    .unwrap();
    assert_eq!(s.inserted, 2);
    // and the stopped table accepts compatible batches again
    run(
        &mut a,
        &spec,
        "L10",
        batch(
            "20240110000000000",
            9,
            vec![
                (
                    f("ts", DataType::Int64),
                    Arc::new(Int64Array::from(vec![1])),
                ),
                (
                    f("name", DataType::Utf8),
                    Arc::new(StringArray::from(vec!["z"])),
                ),
            ],
            true,
        ),
    )
    .await
    .unwrap();
}
