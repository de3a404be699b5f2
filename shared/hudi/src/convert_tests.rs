//! Unit tests of the per-column type conversions, hostile values included.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float64Type, Int32Type, Int64Type, Time64MicrosecondType, TimestampMicrosecondType,
    TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Int32Array,
    Int64Array, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use super::*;

fn ts(unit: TimeUnit, utc: bool) -> DataType {
    DataType::Timestamp(unit, utc.then(|| "UTC".into()))
}

fn arr(a: impl Array + 'static) -> ArrayRef {
    Arc::new(a)
}

#[test]
fn long_and_timestamps_of_the_same_unit_are_reinterpreted() {
    // a plain long read as local-timestamp-millis keeps the wall-clock millis
    let long = arr(Int64Array::from(vec![Some(1_432_125_295_999), None]));
    let out = convert_array(&long, &ts(TimeUnit::Millisecond, false), "local_ts_millis").unwrap();
    let out = out.as_primitive::<TimestampMillisecondType>();
    assert_eq!(out.value(0), 1_432_125_295_999);
    assert!(out.is_null(1));
    // and back
    let back = convert_array(&(Arc::new(out.clone()) as ArrayRef), &DataType::Int64, "c").unwrap();
    assert_eq!(back.as_primitive::<Int64Type>().value(0), 1_432_125_295_999);
    // UTC label to local label: the epoch value stays
    let utc = arr(TimestampMicrosecondArray::from(vec![5]).with_timezone("UTC"));
    let local = convert_array(&utc, &ts(TimeUnit::Microsecond, false), "c").unwrap();
    assert_eq!(local.as_primitive::<TimestampMicrosecondType>().value(0), 5);
    assert_eq!(local.data_type(), &ts(TimeUnit::Microsecond, false));
}

#[test]
fn micros_labelled_millis_are_repaired_other_units_rescale() {
    // old writers: millisecond values under a microsecond label; the table says millis
    let old = arr(TimestampMicrosecondArray::from(vec![1_577_836_799_999]).with_timezone("UTC"));
    let out = convert_array(&old, &ts(TimeUnit::Millisecond, true), "ts_millis").unwrap();
    assert_eq!(
        out.as_primitive::<TimestampMillisecondType>().value(0),
        1_577_836_799_999
    );
    // a millisecond file under a microsecond table: trust the file, rescale
    let ms = arr(TimestampMillisecondArray::from(vec![-1, 2]).with_timezone("UTC"));
    let out = convert_array(&ms, &ts(TimeUnit::Microsecond, true), "c").unwrap();
    let out = out.as_primitive::<TimestampMicrosecondType>();
    assert_eq!((out.value(0), out.value(1)), (-1000, 2000));
    // nanoseconds to microseconds floor
    let ns = arr(TimestampNanosecondArray::from(vec![-1, 1999]));
    let out = convert_array(&ns, &ts(TimeUnit::Microsecond, false), "c").unwrap();
    let out = out.as_primitive::<TimestampMicrosecondType>();
    assert_eq!((out.value(0), out.value(1)), (-1, 1));
}

#[test]
fn rescale_overflow_is_an_out_of_range_error_naming_column_and_value() {
    let ms = arr(TimestampMillisecondArray::from(vec![i64::MAX / 10]));
    match convert_array(&ms, &ts(TimeUnit::Nanosecond, true), "far") {
        Err(ConvertError::OutOfRange { column, value, .. }) => {
            assert_eq!(column, "far");
            assert_eq!(value, (i64::MAX / 10).to_string());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ints_dates_and_times_are_reinterpreted() {
    let days = arr(Int32Array::from(vec![18_000]));
    let out = convert_array(&days, &DataType::Date32, "event_date").unwrap();
    assert_eq!(out.as_primitive::<Date32Type>().value(0), 18_000);
    let date = arr(Date32Array::from(vec![7]));
    let out = convert_array(&date, &DataType::Int32, "c").unwrap();
    assert_eq!(out.as_primitive::<Int32Type>().value(0), 7);
    let micros = arr(Int64Array::from(vec![3_600_000_000]));
    let out = convert_array(&micros, &DataType::Time64(TimeUnit::Microsecond), "t").unwrap();
    assert_eq!(
        out.as_primitive::<Time64MicrosecondType>().value(0),
        3_600_000_000
    );
}

#[test]
fn strings_holding_numbers_are_parsed() {
    let s = arr(StringArray::from(vec![
        Some("1747102000000"),
        None,
        Some("-5"),
    ]));
    let out = convert_array(&s, &DataType::Int64, "partition_field").unwrap();
    assert_eq!(
        out.as_primitive::<Int64Type>(),
        &Int64Array::from(vec![Some(1_747_102_000_000), None, Some(-5)])
    );
    let out = convert_array(&s, &DataType::Int32, "c");
    assert!(
        matches!(out, Err(ConvertError::OutOfRange { .. })),
        "{out:?}"
    );
    let f = arr(StringArray::from(vec!["1.5"]));
    let out = convert_array(&f, &DataType::Float64, "c").unwrap();
    assert_eq!(out.as_primitive::<Float64Type>().value(0), 1.5);
}

#[test]
fn unparsable_strings_name_column_and_value() {
    for bad in [
        "2025-05-13 02",
        "",
        " 12",
        "1e3",
        "12x",
        "99999999999999999999",
    ] {
        let s = arr(StringArray::from(vec![bad]));
        match convert_array(&s, &DataType::Int64, "partition_field") {
            Err(ConvertError::Unparsable { column, value, to }) => {
                assert_eq!(column, "partition_field");
                assert_eq!(value, bad);
                assert_eq!(to, "Int64");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let long = "9".repeat(1000);
    let s = arr(StringArray::from(vec![long.as_str()]));
    let e = convert_array(&s, &DataType::Int64, "c").unwrap_err();
    assert!(e.to_string().len() < 200, "the value is cut: {e}");
}

#[test]
fn numbers_widen_and_decimals_rescale() {
    let i = arr(Int32Array::from(vec![i32::MAX]));
    let out = convert_array(&i, &DataType::Int64, "c").unwrap();
    assert_eq!(
        out.as_primitive::<Int64Type>().value(0),
        i64::from(i32::MAX)
    );
    let f = arr(Float32Array::from(vec![0.5f32]));
    let out = convert_array(&f, &DataType::Float64, "c").unwrap();
    assert_eq!(out.as_primitive::<Float64Type>().value(0), 0.5);
    let d = arr(Decimal128Array::from(vec![12345])
        .with_precision_and_scale(5, 2)
        .unwrap());
    let out = convert_array(&d, &DataType::Decimal128(10, 4), "c").unwrap();
    assert_eq!(
        out.as_primitive::<arrow_array::types::Decimal128Type>()
            .value(0),
        1_234_500
    );
    // narrowing a decimal that does not fit is an error, never a silent null
    let out = convert_array(&d, &DataType::Decimal128(3, 2), "c");
    assert!(
        matches!(out, Err(ConvertError::OutOfRange { .. })),
        "{out:?}"
    );
}

#[test]
fn types_without_a_conversion_are_incompatible() {
    let b = arr(BooleanArray::from(vec![true]));
    match convert_array(&b, &ts(TimeUnit::Millisecond, true), "flag") {
        Err(ConvertError::Incompatible { column, from, .. }) => {
            assert_eq!(column, "flag");
            assert_eq!(from, "Boolean");
        }
        other => panic!("{other:?}"),
    }
    // a date is not a timestamp, a string not a timestamp
    let d = arr(Date32Array::from(vec![1]));
    assert!(convert_array(&d, &ts(TimeUnit::Millisecond, true), "c").is_err());
    let s = arr(StringArray::from(vec!["1"]));
    assert!(convert_array(&s, &ts(TimeUnit::Millisecond, true), "c").is_err());
}

#[test]
fn nested_records_and_lists_convert_their_children() {
    let inner = StructArray::from(vec![
        (
            Arc::new(Field::new("at", DataType::Int64, true)),
            arr(Int64Array::from(vec![Some(10), None])),
        ),
        (
            Arc::new(Field::new("n", DataType::Utf8, true)),
            arr(StringArray::from(vec![Some("7"), Some("8")])),
        ),
    ]);
    let target = DataType::Struct(
        vec![
            Field::new("at", ts(TimeUnit::Millisecond, true), true),
            Field::new("n", DataType::Int32, true),
            Field::new("added", DataType::Boolean, true),
        ]
        .into(),
    );
    let out = convert_array(&arr(inner), &target, "rec").unwrap();
    assert_eq!(out.data_type(), &target);
    let s = out.as_struct();
    assert_eq!(
        s.column(0)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        10
    );
    assert_eq!(s.column(1).as_primitive::<Int32Type>().value(1), 8);
    assert_eq!(s.column(2).null_count(), 2);

    let mut lb = ListBuilder::new(Int64Builder::new());
    lb.values().append_value(5);
    lb.append(true);
    let list = arr(lb.finish());
    let target = DataType::List(Arc::new(Field::new(
        "item",
        ts(TimeUnit::Microsecond, false),
        true,
    )));
    let out = convert_array(&list, &target, "l").unwrap();
    assert_eq!(out.data_type(), &target);
    // a bad child names its path
    let bad = StructArray::from(vec![(
        Arc::new(Field::new("n", DataType::Utf8, true)),
        arr(StringArray::from(vec!["x"])),
    )]);
    let target = DataType::Struct(vec![Field::new("n", DataType::Int64, true)].into());
    match convert_array(&arr(bad), &target, "rec") {
        Err(ConvertError::Unparsable { column, .. }) => assert_eq!(column, "rec.n"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unify_picks_one_type() {
    use DataType::*;
    assert_eq!(unify(&Int32, &Int64), Some(Int64));
    assert_eq!(unify(&Int64, &Int32), Some(Int64));
    assert_eq!(
        unify(&Int64, &ts(TimeUnit::Millisecond, false)),
        Some(ts(TimeUnit::Millisecond, false))
    );
    assert_eq!(
        unify(&ts(TimeUnit::Millisecond, true), &Int64),
        Some(ts(TimeUnit::Millisecond, true))
    );
    assert_eq!(unify(&Int32, &Date32), Some(Date32));
    assert_eq!(unify(&Int64, &Utf8), Some(Int64));
    assert_eq!(unify(&Utf8, &Int64), Some(Int64));
    assert_eq!(
        unify(&Decimal128(5, 2), &Decimal128(10, 4)),
        Some(Decimal128(10, 4))
    );
    assert_eq!(
        unify(&Decimal128(38, 0), &Decimal128(38, 10)),
        None,
        "no decimal holds both"
    );
    assert_eq!(unify(&Boolean, &Int64), None);
}

#[test]
fn conform_batch_converts_only_what_the_table_decides() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("local_ts", DataType::Int64, true),
        Field::new("extra", DataType::Int32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            arr(StringArray::from(vec!["a"])),
            arr(Int64Array::from(vec![42])),
            arr(Int32Array::from(vec![1])),
        ],
    )
    .unwrap();
    let table = Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("local_ts", ts(TimeUnit::Millisecond, false), true),
    ]);
    let out = conform_batch(&batch, &table).unwrap();
    assert_eq!(
        out.schema().field(1).data_type(),
        &ts(TimeUnit::Millisecond, false)
    );
    assert_eq!(out.schema().field(2).data_type(), &DataType::Int32);
    let typed = with_table_types(&batch.schema(), &table);
    assert_eq!(
        typed.field(1).data_type(),
        out.schema().field(1).data_type()
    );
}
