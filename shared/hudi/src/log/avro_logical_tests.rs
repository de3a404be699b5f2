//! Avro logical types decoded into the column's table type: reinterpretations (plain `long`
//! ↔ timestamp, `int` ↔ `date`), the microsecond label on millisecond values, strings holding
//! numbers, and hostile schemas and values.

use std::sync::Arc;

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, Time32MillisecondType, Time64MicrosecondType,
    TimestampMicrosecondType, TimestampMillisecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use super::avro_decode::AvroRecordDecoder;

/// A one-field record schema with field `v` of Avro type `ty` (JSON).
fn schema(ty: &str) -> String {
    format!(r#"{{"type":"record","name":"r","fields":[{{"name":"v","type":{ty}}}]}}"#)
}

fn decode_into(ty: &str, value: Value, target: DataType) -> Result<RecordBatch, String> {
    let json = schema(ty);
    let avro = AvroSchema::parse_str(&json).map_err(|e| e.to_string())?;
    let datum = apache_avro::to_avro_datum(&avro, Value::Record(vec![("v".into(), value)]))
        .map_err(|e| e.to_string())?;
    let target = Arc::new(Schema::new(vec![Field::new("v", target, true)]));
    let mut d = AvroRecordDecoder::try_new(&json, Some(target))?;
    d.decode(&datum)?;
    d.flush()
}

fn ts(unit: TimeUnit, utc: bool) -> DataType {
    DataType::Timestamp(unit, utc.then(|| "UTC".into()))
}

const LOCAL_MS: &str = r#"{"type":"long","logicalType":"local-timestamp-millis"}"#;
const TS_MICROS: &str = r#"{"type":"long","logicalType":"timestamp-micros"}"#;

#[test]
fn every_timestamp_logical_type_reads_into_its_own_type() {
    for (ty, target) in [
        (
            r#"{"type":"long","logicalType":"timestamp-millis"}"#,
            ts(TimeUnit::Millisecond, true),
        ),
        (TS_MICROS, ts(TimeUnit::Microsecond, true)),
        (
            r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
            ts(TimeUnit::Nanosecond, true),
        ),
        (LOCAL_MS, ts(TimeUnit::Millisecond, false)),
        (
            r#"{"type":"long","logicalType":"local-timestamp-micros"}"#,
            ts(TimeUnit::Microsecond, false),
        ),
        (
            r#"{"type":"long","logicalType":"local-timestamp-nanos"}"#,
            ts(TimeUnit::Nanosecond, false),
        ),
    ] {
        let avro = AvroSchema::parse_str(&schema(ty)).unwrap();
        let AvroSchema::Record(r) = &avro else {
            panic!()
        };
        let value = match &r.fields[0].schema {
            AvroSchema::TimestampMillis => Value::TimestampMillis(7),
            AvroSchema::TimestampMicros => Value::TimestampMicros(7),
            AvroSchema::TimestampNanos => Value::TimestampNanos(7),
            AvroSchema::LocalTimestampMillis => Value::LocalTimestampMillis(7),
            AvroSchema::LocalTimestampMicros => Value::LocalTimestampMicros(7),
            AvroSchema::LocalTimestampNanos => Value::LocalTimestampNanos(7),
            other => panic!("{other:?}"),
        };
        let b = decode_into(ty, value, target.clone()).unwrap();
        assert_eq!(b.column(0).data_type(), &target, "{ty}");
        assert_eq!(
            b.column(0).to_data().buffers()[0].typed_data::<i64>()[0],
            7,
            "{ty}"
        );
    }
}

#[test]
fn local_timestamp_millis_reads_into_a_plain_long_column() {
    // the MOR failure: base files (1.x compaction output) hold a plain INT64
    let b = decode_into(
        LOCAL_MS,
        Value::LocalTimestampMillis(1_432_125_295_999),
        DataType::Int64,
    )
    .unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().value(0),
        1_432_125_295_999
    );
}

#[test]
fn plain_long_reads_into_timestamp_columns_as_the_epoch_value() {
    for target in [
        ts(TimeUnit::Millisecond, false),
        ts(TimeUnit::Microsecond, true),
    ] {
        let b = decode_into(r#""long""#, Value::Long(1_432_125_295_999), target.clone()).unwrap();
        assert_eq!(b.column(0).data_type(), &target);
        assert_eq!(
            b.column(0).to_data().buffers()[0].typed_data::<i64>()[0],
            1_432_125_295_999
        );
    }
}

#[test]
fn micros_labelled_millis_keep_their_value_other_units_rescale() {
    // 0.x writers labelled ts_millis timestamp-micros; the table says millis
    let b = decode_into(
        TS_MICROS,
        Value::TimestampMicros(1_577_836_799_999),
        ts(TimeUnit::Millisecond, true),
    )
    .unwrap();
    assert_eq!(
        b.column(0)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_577_836_799_999
    );
    // millis into a micros table: trusted and rescaled
    let b = decode_into(
        r#"{"type":"long","logicalType":"timestamp-millis"}"#,
        Value::TimestampMillis(-1),
        ts(TimeUnit::Microsecond, true),
    )
    .unwrap();
    assert_eq!(
        b.column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        -1000
    );
    // nanos into micros: floored
    let b = decode_into(
        r#"{"type":"long","logicalType":"timestamp-nanos"}"#,
        Value::TimestampNanos(-1),
        ts(TimeUnit::Microsecond, true),
    )
    .unwrap();
    assert_eq!(
        b.column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        -1
    );
    // overflow while rescaling is an error naming the value, not a panic
    let e = decode_into(
        r#"{"type":"long","logicalType":"timestamp-millis"}"#,
        Value::TimestampMillis(i64::MAX / 10),
        ts(TimeUnit::Nanosecond, true),
    )
    .unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn dates_and_times_read_into_their_types_and_plain_numbers() {
    let date = r#"{"type":"int","logicalType":"date"}"#;
    let b = decode_into(date, Value::Date(10_956), DataType::Date32).unwrap();
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 10_956);
    let b = decode_into(date, Value::Date(10_956), DataType::Int32).unwrap();
    assert_eq!(b.column(0).as_primitive::<Int32Type>().value(0), 10_956);
    let b = decode_into(r#""int""#, Value::Int(3), DataType::Date32).unwrap();
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 3);
    let tm = r#"{"type":"int","logicalType":"time-millis"}"#;
    let b = decode_into(
        tm,
        Value::TimeMillis(1_000),
        DataType::Time32(TimeUnit::Millisecond),
    )
    .unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Time32MillisecondType>().value(0),
        1_000
    );
    let tu = r#"{"type":"long","logicalType":"time-micros"}"#;
    let b = decode_into(
        tu,
        Value::TimeMicros(5),
        DataType::Time64(TimeUnit::Microsecond),
    )
    .unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Time64MicrosecondType>().value(0),
        5
    );
    let b = decode_into(
        tm,
        Value::TimeMillis(2),
        DataType::Time64(TimeUnit::Microsecond),
    )
    .unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Time64MicrosecondType>().value(0),
        2_000
    );
}

#[test]
fn decimals_uuids_and_enums() {
    let fixed =
        r#"{"type":"fixed","name":"f3","size":3,"logicalType":"decimal","precision":5,"scale":2}"#;
    let avro = AvroSchema::parse_str(&schema(fixed)).unwrap();
    let datum = apache_avro::to_avro_datum(
        &avro,
        Value::Record(vec![(
            "v".into(),
            Value::Decimal(vec![0x00, 0xd4, 0x30].into()),
        )]),
    )
    .unwrap();
    let target = Arc::new(Schema::new(vec![Field::new(
        "v",
        DataType::Decimal128(5, 2),
        true,
    )]));
    let mut d = AvroRecordDecoder::try_new(&schema(fixed), Some(target)).unwrap();
    d.decode(&datum).unwrap();
    let b = d.flush().unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Decimal128Type>().value(0),
        54_320
    );

    let bytes = r#"{"type":"bytes","logicalType":"decimal","precision":18,"scale":9}"#;
    let b = decode_into(
        bytes,
        Value::Decimal(vec![0xff].into()),
        DataType::Decimal128(18, 9),
    )
    .unwrap();
    assert_eq!(b.column(0).as_primitive::<Decimal128Type>().value(0), -1);

    let uuid = r#"{"type":"string","logicalType":"uuid"}"#;
    let id = "8c6f1d2e-4a6b-4c1e-9d3a-2b7f0e5a9c11";
    let b = decode_into(uuid, Value::Uuid(id.parse().unwrap()), DataType::Utf8).unwrap();
    assert_eq!(b.column(0).as_string::<i32>().value(0), id);

    let e = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
    let b = decode_into(e, Value::Enum(1, "B".into()), DataType::Utf8).unwrap();
    assert_eq!(b.column(0).as_string::<i32>().value(0), "B");
}

#[test]
fn nested_records_arrays_and_maps_hold_logical_types() {
    let ty = format!(
        r#"{{"type":"record","name":"n","fields":[
            {{"name":"at","type":{TS_MICROS}}},
            {{"name":"days","type":{{"type":"array","items":{{"type":"int","logicalType":"date"}}}}}},
            {{"name":"m","type":{{"type":"map","values":{LOCAL_MS}}}}}]}}"#
    );
    let value = Value::Record(vec![
        ("at".into(), Value::TimestampMicros(1_577_836_799_999)),
        (
            "days".into(),
            Value::Array(vec![Value::Date(1), Value::Date(2)]),
        ),
        (
            "m".into(),
            Value::Map([("k".to_string(), Value::LocalTimestampMillis(9))].into()),
        ),
    ]);
    let target = DataType::Struct(
        vec![
            Field::new("at", ts(TimeUnit::Millisecond, true), true),
            Field::new(
                "days",
                DataType::List(Arc::new(Field::new("element", DataType::Date32, true))),
                true,
            ),
            Field::new(
                "m",
                DataType::Map(
                    Arc::new(Field::new(
                        "key_value",
                        DataType::Struct(
                            vec![
                                Field::new("key", DataType::Utf8, false),
                                Field::new("value", DataType::Int64, true),
                            ]
                            .into(),
                        ),
                        false,
                    )),
                    false,
                ),
                true,
            ),
        ]
        .into(),
    );
    let b = decode_into(&ty, value, target).unwrap();
    let s = b.column(0).as_struct();
    assert_eq!(
        s.column(0)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_577_836_799_999
    );
    assert_eq!(s.column(1).as_list::<i32>().value(0).len(), 2);
    let m = s.column(2).as_map();
    assert_eq!(m.values().as_primitive::<Int64Type>().value(0), 9);
}

#[test]
fn strings_holding_numbers_read_into_numeric_columns() {
    // the timestamp key generator: Spark SQL's log blocks carry the epoch as a string
    let ty = r#"["null","string"]"#;
    let v = |s: &str| Value::Union(1, Box::new(Value::String(s.into())));
    let b = decode_into(ty, v("1747102000000"), DataType::Int64).unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().value(0),
        1_747_102_000_000
    );
    let b = decode_into(ty, Value::Union(0, Box::new(Value::Null)), DataType::Int64).unwrap();
    assert!(b.column(0).is_null(0));
    let b = decode_into(ty, v("2.5"), DataType::Float64).unwrap();
    assert_eq!(
        b.column(0)
            .as_primitive::<arrow_array::types::Float64Type>()
            .value(0),
        2.5
    );
    for bad in ["2025-05-13 02", "", "12 ", "0x10", "99999999999999999999"] {
        let e = decode_into(ty, v(bad), DataType::Int64).unwrap_err();
        assert!(
            e.contains("column v") && e.contains(&format!("{bad:?}")),
            "{bad:?}: {e}"
        );
    }
    // a number that does not fit the narrower column
    let e = decode_into(ty, v("1747102000000"), DataType::Int32).unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn hostile_schemas_are_errors_naming_the_column() {
    // a logical type on the wrong physical type is ignored by the schema parser; the value is
    // then a plain string that is no timestamp
    let wrong = r#"{"type":"string","logicalType":"timestamp-millis"}"#;
    match decode_into(
        wrong,
        Value::String("x".into()),
        ts(TimeUnit::Millisecond, true),
    ) {
        Err(e) => assert!(e.contains("column v"), "{e}"),
        Ok(b) => panic!("decoded {b:?}"),
    }
    // a decimal wider than 38 digits
    let wide = r#"{"type":"bytes","logicalType":"decimal","precision":40,"scale":2}"#;
    let e = AvroRecordDecoder::try_new(&schema(wide), None).unwrap_err();
    assert!(e.contains("column v") && e.contains("38"), "{e}");
    let target = Arc::new(Schema::new(vec![Field::new(
        "v",
        DataType::Decimal128(38, 2),
        true,
    )]));
    let e = AvroRecordDecoder::try_new(&schema(wide), Some(target)).unwrap_err();
    assert!(e.contains("column v") && e.contains("38"), "{e}");
    // a decimal value with more digits than its precision
    let small = r#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":0}"#;
    let e = decode_into(
        small,
        Value::Decimal(vec![0x03, 0xe8].into()),
        DataType::Decimal128(2, 0),
    )
    .unwrap_err();
    assert!(e.contains("precision") || e.contains("too large"), "{e}");
    // a boolean read as a date
    let e = decode_into(r#""boolean""#, Value::Boolean(true), DataType::Date32).unwrap_err();
    assert!(e.contains("column v"), "{e}");
}
