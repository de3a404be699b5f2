//! Tests of the Avro decoder and AVRO_DATA block reader.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, Float64Array};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use hps_storage::{DynStore, LocalStore};

use super::avro_block::{AvroBlockReader, DataBlockOptions};
use super::avro_decode::{AvroRecordDecoder, avro_schema_to_arrow};
use super::block::{LogBlock, LogFileReader, encode_block};
use super::error::LogError;

const SCHEMA: &str = r#"{
  "type": "record", "name": "r", "namespace": "hoodie.t",
  "fields": [
    {"name": "_hoodie_commit_time", "type": ["null", "string"], "default": null},
    {"name": "_hoodie_record_key", "type": ["null", "string"], "default": null},
    {"name": "id", "type": ["int", "null"]},
    {"name": "big", "type": ["null", "long"], "default": null},
    {"name": "ok", "type": "boolean"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": ["null", "double"]},
    {"name": "amount", "type": ["null", {"type": "fixed", "name": "amount_fixed", "size": 5,
        "logicalType": "decimal", "precision": 10, "scale": 2}]},
    {"name": "bdec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 3}},
    {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "bin", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "f4", "size": 4}},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "tags", "type": ["null", {"type": "array", "items": ["null", {"type": "record", "name": "tag",
        "fields": [{"name": "k", "type": "string"}, {"name": "n", "type": ["null", "int"]}]}]}]},
    {"name": "attrs", "type": ["null", {"type": "map", "values": ["null", "long"]}]},
    {"name": "nested", "type": ["null", {"type": "record", "name": "nested", "fields": [
        {"name": "a", "type": ["null", "string"]},
        {"name": "inner", "type": ["null", {"type": "record", "name": "inner", "fields": [
            {"name": "x", "type": "double"}]}]}]}]},
    {"name": "again", "type": ["null", "tag"]}
  ]
}"#;

fn u(i: u32, v: Value) -> Value {
    Value::Union(i, Box::new(v))
}

fn record(i: i32, full: bool) -> Value {
    let null = |branch: u32| u(branch, Value::Null);
    Value::Record(vec![
        (
            "_hoodie_commit_time".into(),
            u(1, Value::String("20250101000000001".into())),
        ),
        (
            "_hoodie_record_key".into(),
            u(1, Value::String(format!("k{i}"))),
        ),
        (
            "id".into(),
            if full { u(0, Value::Int(i)) } else { null(1) },
        ),
        (
            "big".into(),
            if full {
                u(1, Value::Long(1 << 40))
            } else {
                null(0)
            },
        ),
        ("ok".into(), Value::Boolean(i % 2 == 0)),
        ("f".into(), Value::Float(1.5)),
        (
            "d".into(),
            if full {
                u(1, Value::Double(-2.25))
            } else {
                null(0)
            },
        ),
        (
            "amount".into(),
            if full {
                u(
                    1,
                    Value::Decimal(apache_avro::Decimal::from(
                        (-12345i64).to_be_bytes()[3..].to_vec(),
                    )),
                )
            } else {
                null(0)
            },
        ),
        (
            "bdec".into(),
            Value::Decimal(apache_avro::Decimal::from(vec![0x01, 0x00])),
        ),
        (
            "day".into(),
            if full {
                u(1, Value::Date(19000))
            } else {
                null(0)
            },
        ),
        (
            "at".into(),
            if full {
                u(1, Value::TimestampMicros(1_700_000_000_123_456))
            } else {
                null(0)
            },
        ),
        ("at_ms".into(), Value::TimestampMillis(1_700_000_000_123)),
        ("bin".into(), Value::Bytes(vec![0, 1, 2])),
        ("fx".into(), Value::Fixed(4, vec![9, 8, 7, 6])),
        ("color".into(), Value::Enum(1, "GREEN".into())),
        (
            "tags".into(),
            if full {
                u(
                    1,
                    Value::Array(vec![
                        u(
                            1,
                            Value::Record(vec![
                                ("k".into(), Value::String("a".into())),
                                ("n".into(), u(1, Value::Int(1))),
                            ]),
                        ),
                        null(0),
                        u(
                            1,
                            Value::Record(vec![
                                ("k".into(), Value::String("b".into())),
                                ("n".into(), null(0)),
                            ]),
                        ),
                    ]),
                )
            } else {
                null(0)
            },
        ),
        (
            "attrs".into(),
            if full {
                u(
                    1,
                    Value::Map(HashMap::from([
                        ("x".to_string(), u(1, Value::Long(7))),
                        ("y".to_string(), null(0)),
                    ])),
                )
            } else {
                null(0)
            },
        ),
        (
            "nested".into(),
            if full {
                u(
                    1,
                    Value::Record(vec![
                        ("a".into(), u(1, Value::String("hi".into()))),
                        (
                            "inner".into(),
                            u(1, Value::Record(vec![("x".into(), Value::Double(0.5))])),
                        ),
                    ]),
                )
            } else {
                null(0)
            },
        ),
        (
            "again".into(),
            u(
                1,
                Value::Record(vec![
                    ("k".into(), Value::String("z".into())),
                    ("n".into(), u(0, Value::Null)),
                ]),
            ),
        ),
    ])
}

fn datum(v: Value) -> Vec<u8> {
    let schema = AvroSchema::parse_str(SCHEMA).unwrap();
    apache_avro::to_avro_datum(&schema, v).unwrap()
}

#[test]
fn maps_avro_types_like_parquet_avro() {
    let s = avro_schema_to_arrow(SCHEMA).unwrap();
    let t = |n: &str| s.field_with_name(n).unwrap().data_type().clone();
    assert_eq!(t("id"), DataType::Int32);
    assert!(s.field_with_name("id").unwrap().is_nullable());
    assert!(!s.field_with_name("ok").unwrap().is_nullable());
    assert_eq!(t("amount"), DataType::Decimal128(10, 2));
    assert_eq!(t("bdec"), DataType::Decimal128(30, 3));
    assert_eq!(t("day"), DataType::Date32);
    assert_eq!(
        t("at"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        t("at_ms"),
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(t("fx"), DataType::FixedSizeBinary(4));
    assert_eq!(t("color"), DataType::Utf8);
    let DataType::List(item) = t("tags") else {
        panic!()
    };
    assert_eq!(item.name(), "element");
    assert!(item.is_nullable());
    let DataType::Map(entries, false) = t("attrs") else {
        panic!()
    };
    assert_eq!(entries.name(), "key_value");
    assert_eq!(
        t("again"),
        item.data_type().clone(),
        "named type reference resolves"
    );
    for bad in [
        r#"{"type":"record","name":"r","fields":[{"name":"u","type":["int","string"]}]}"#,
        r#""int""#,
        r#"{"type":"record","name":"r","fields":[{"name":"me","type":["null","r"]}]}"#,
        "not json",
    ] {
        assert!(avro_schema_to_arrow(bad).is_err(), "{bad}");
    }
}

#[test]
fn decodes_every_type() {
    let mut d = AvroRecordDecoder::try_new(SCHEMA, None).unwrap();
    d.decode(&datum(record(1, true))).unwrap();
    d.decode(&datum(record(2, false))).unwrap();
    assert_eq!(d.len(), 2);
    let b = d.flush().unwrap();
    assert!(d.is_empty());
    assert_eq!(b.num_rows(), 2);
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    assert_eq!(col("_hoodie_record_key").as_string::<i32>().value(1), "k2");
    assert_eq!(col("id").as_primitive::<Int32Type>().value(0), 1);
    assert!(col("id").is_null(1));
    assert_eq!(col("big").as_primitive::<Int64Type>().value(0), 1 << 40);
    assert!(col("ok").as_boolean().value(1));
    assert_eq!(
        col("d")
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0),
        -2.25
    );
    assert_eq!(
        col("amount").as_primitive::<Decimal128Type>().value(0),
        -12345
    );
    assert!(col("amount").is_null(1));
    assert_eq!(col("bdec").as_primitive::<Decimal128Type>().value(0), 256);
    assert_eq!(col("day").as_primitive::<Date32Type>().value(0), 19000);
    assert_eq!(
        col("at")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_700_000_000_123_456
    );
    assert_eq!(col("bin").as_binary::<i32>().value(0), &[0, 1, 2]);
    assert_eq!(col("fx").as_fixed_size_binary().value(1), &[9, 8, 7, 6]);
    assert_eq!(col("color").as_string::<i32>().value(0), "GREEN");
    let tags = col("tags");
    let tags = tags.as_list::<i32>();
    assert!(tags.is_null(1));
    let first = tags.value(0);
    let first = first.as_struct();
    assert_eq!(first.len(), 3);
    assert!(first.is_null(1));
    assert_eq!(first.column(0).as_string::<i32>().value(2), "b");
    assert!(first.column(1).is_null(2));
    let attrs = col("attrs");
    let attrs = attrs.as_map();
    assert_eq!(attrs.value(0).len(), 2);
    assert!(attrs.is_null(1));
    let nested = col("nested");
    let nested = nested.as_struct();
    assert!(nested.is_null(1));
    let inner = nested.column_by_name("inner").unwrap().as_struct();
    assert_eq!(
        inner
            .column(0)
            .as_primitive::<arrow_array::types::Float64Type>()
            .value(0),
        0.5
    );
    assert_eq!(
        col("again")
            .as_struct()
            .column(0)
            .as_string::<i32>()
            .value(1),
        "z"
    );
    // an empty flush is an empty batch of the same schema
    assert_eq!(d.flush().unwrap().num_rows(), 0);
}

#[test]
fn evolves_into_a_target_schema_by_name() {
    let target = Arc::new(Schema::new(vec![
        Field::new("_hoodie_record_key", DataType::Utf8, true),
        Field::new("added_later", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true), // int -> long
        Field::new("f", DataType::Float64, true), // float -> double
        Field::new("amount", DataType::Decimal128(12, 4), true), // wider scale
        Field::new(
            "at_ms",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new(
                "array",
                DataType::Struct(Fields::from(vec![Field::new("k", DataType::Utf8, true)])),
                true,
            ))),
            true,
        ),
    ]));
    let mut d = AvroRecordDecoder::try_new(SCHEMA, Some(target.clone())).unwrap();
    d.decode(&datum(record(3, true))).unwrap();
    let b = d.flush().unwrap();
    assert_eq!(b.schema(), target);
    assert!(b.column(1).is_null(0));
    assert_eq!(b.column(2).as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(
        b.column(4).as_primitive::<Decimal128Type>().value(0),
        -1_234_500
    );
    assert_eq!(
        b.column(5)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_700_000_000_123_000
    );
    assert_eq!(
        b.column(6)
            .as_list::<i32>()
            .value(0)
            .as_struct()
            .num_columns(),
        1
    );

    let narrowing = Arc::new(Schema::new(vec![Field::new("big", DataType::Int32, true)]));
    let e = AvroRecordDecoder::try_new(SCHEMA, Some(narrowing)).unwrap_err();
    assert!(e.contains("column big"), "{e}");
    let wrong = Arc::new(Schema::new(vec![Field::new(
        "color",
        DataType::Int32,
        true,
    )]));
    assert!(AvroRecordDecoder::try_new(SCHEMA, Some(wrong)).is_err());
}

#[test]
fn hostile_datums_error_and_never_panic() {
    let good = datum(record(1, true));
    // every truncation fails
    for cut in 0..good.len() {
        let mut d = AvroRecordDecoder::try_new(SCHEMA, None).unwrap();
        assert!(d.decode(&good[..cut]).is_err(), "cut {cut}");
    }
    // trailing bytes fail
    let mut d = AvroRecordDecoder::try_new(SCHEMA, None).unwrap();
    let mut long = good.clone();
    long.push(0);
    assert!(d.decode(&long).unwrap_err().contains("trailing"));
    // byte flips: errors or values, never a panic or a huge allocation
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut v = good.clone();
        let pos = (seed as usize) % v.len();
        v[pos] = (seed >> 32) as u8;
        let mut d = AvroRecordDecoder::try_new(SCHEMA, None).unwrap();
        if d.decode(&v).is_ok() {
            let _ = d.flush();
        }
    }
}

async fn block_file(
    records: &[Vec<u8>],
    content_tweak: impl Fn(&mut Vec<u8>),
) -> (tempfile::TempDir, DynStore, LogBlock) {
    let mut content = 3i32.to_be_bytes().to_vec();
    content.extend((records.len() as i32).to_be_bytes());
    for r in records {
        content.extend((r.len() as i32).to_be_bytes());
        content.extend(r);
    }
    content_tweak(&mut content);
    let file = encode_block(3, &[(0, "20250101000000001"), (2, SCHEMA)], &content, &[]);
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(LocalStore::new(dir.path()));
    store
        .put("f.log", bytes::Bytes::from(file.clone()))
        .await
        .unwrap();
    let block = LogFileReader::new(store.clone(), "f.log", file.len() as u64)
        .read_all()
        .await
        .unwrap()
        .remove(0);
    (dir, store, block)
}

#[tokio::test]
async fn streams_a_block_in_batches() {
    let records: Vec<Vec<u8>> = (0..25).map(|i| datum(record(i, i % 3 == 0))).collect();
    let (_d, store, block) = block_file(&records, |_| {}).await;
    let options = DataBlockOptions {
        batch_size: 10,
        read_chunk: 256,
        ..Default::default()
    };
    let batches = AvroBlockReader::open(store, &block, None, &options)
        .await
        .unwrap()
        .read_all()
        .await
        .unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    let ids = batches[2]
        .column_by_name("_hoodie_record_key")
        .unwrap()
        .as_string::<i32>()
        .value(4)
        .to_string();
    assert_eq!(ids, "k24");
}

/// Hudi 0.6-0.13 (table versions <= 5) write AVRO_DATA content version 2 (older writers 1),
/// with the same layout as version 3, and headers without `BLOCK_IDENTIFIER` in any order
/// (the Hudi 0.12 twin table puts `SCHEMA` first).
#[tokio::test]
async fn data_blocks_of_content_versions_1_and_2_with_schema_first_header() {
    let records = vec![datum(record(1, true)), datum(record(2, false))];
    for version in [1i32, 2] {
        let mut content = version.to_be_bytes().to_vec();
        content.extend((records.len() as i32).to_be_bytes());
        for r in &records {
            content.extend((r.len() as i32).to_be_bytes());
            content.extend(r);
        }
        let file = encode_block(3, &[(2, SCHEMA), (0, "20221207123000123")], &content, &[]);
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(LocalStore::new(dir.path()));
        store
            .put("v.log", bytes::Bytes::from(file.clone()))
            .await
            .unwrap();
        let block = LogFileReader::new(store.clone(), "v.log", file.len() as u64)
            .read_all()
            .await
            .unwrap()
            .remove(0);
        assert_eq!(block.header.instant_time(), Some("20221207123000123"));
        let batches = AvroBlockReader::open(store, &block, None, &DataBlockOptions::default())
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        let keys: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let c = b
                    .column_by_name("_hoodie_record_key")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                (0..c.len()).map(move |i| c.value(i).to_string())
            })
            .collect();
        assert_eq!(keys, ["k1", "k2"], "content version {version}");
    }
}

#[tokio::test]
async fn hostile_block_contents_are_errors() {
    let records = vec![datum(record(1, true)), datum(record(2, false))];
    let opts = DataBlockOptions::default();
    type Tweak = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "unknown content version 4",
            Box::new(|c: &mut Vec<u8>| c[3] = 4),
        ),
        ("content version 0", Box::new(|c: &mut Vec<u8>| c[3] = 0)),
        (
            "huge record count",
            Box::new(|c: &mut Vec<u8>| c[4..8].copy_from_slice(&i32::MAX.to_be_bytes())),
        ),
        (
            "negative record count",
            Box::new(|c: &mut Vec<u8>| c[4..8].copy_from_slice(&(-1i32).to_be_bytes())),
        ),
        (
            "count larger than records",
            Box::new(|c: &mut Vec<u8>| c[4..8].copy_from_slice(&3i32.to_be_bytes())),
        ),
        (
            "count smaller than records",
            Box::new(|c: &mut Vec<u8>| c[4..8].copy_from_slice(&1i32.to_be_bytes())),
        ),
        (
            "huge record length",
            Box::new(|c: &mut Vec<u8>| c[8..12].copy_from_slice(&i32::MAX.to_be_bytes())),
        ),
        (
            "negative record length",
            Box::new(|c: &mut Vec<u8>| c[8..12].copy_from_slice(&(-5i32).to_be_bytes())),
        ),
        (
            "short record length",
            Box::new(|c: &mut Vec<u8>| {
                let n = i32::from_be_bytes([c[8], c[9], c[10], c[11]]);
                c[8..12].copy_from_slice(&(n - 1).to_be_bytes());
            }),
        ),
        (
            "truncated content",
            Box::new(|c: &mut Vec<u8>| c.truncate(c.len() - 3)),
        ),
        ("bad union branch", Box::new(|c: &mut Vec<u8>| c[12] = 0x7e)),
    ];
    for (what, tweak) in cases {
        let (_d, store, block) = block_file(&records, tweak).await;
        let result = match AvroBlockReader::open(store, &block, None, &opts).await {
            Err(e) => Err(e),
            Ok(r) => r.read_all().await,
        };
        assert!(result.is_err(), "{what}: {result:?}");
    }
    // a block without SCHEMA
    let file = encode_block(
        3,
        &[(0, "20250101000000001")],
        &[0, 0, 0, 3, 0, 0, 0, 0],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(LocalStore::new(dir.path()));
    store
        .put("g.log", bytes::Bytes::from(file.clone()))
        .await
        .unwrap();
    let block = LogFileReader::new(store.clone(), "g.log", file.len() as u64)
        .read_all()
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        AvroBlockReader::open(store, &block, None, &opts).await,
        Err(LogError::MissingHeader { key: "SCHEMA", .. })
    ));
}
