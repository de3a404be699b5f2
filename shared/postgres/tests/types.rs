//! Every row of docs/type-map.md round-trips through the real apply path, NULLs included.
//! The oracle is PostgreSQL's own text rendering (`::text`, TimeZone=UTC) of what was stored.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, LargeListBuilder, MapBuilder, StringBuilder};
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::*;
use arrow_buffer::{NullBuffer, i256};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use hps_postgres::{Applier, ConnectionManager, PgError, PgType, TargetTable};
use hps_testkit::postgres::PgCluster;

const ROWS: usize = 6;

struct Case {
    label: &'static str,
    pg: &'static str,
    array: ArrayRef,
    expect: [Option<String>; ROWS],
}

fn e(v: [Option<&str>; ROWS]) -> [Option<String>; ROWS] {
    v.map(|o| o.map(str::to_string))
}

fn case(
    label: &'static str,
    pg: &'static str,
    array: ArrayRef,
    expect: [Option<&str>; ROWS],
) -> Case {
    assert_eq!(array.len(), ROWS, "{label}");
    Case {
        label,
        pg,
        array,
        expect: e(expect),
    }
}

fn dec_text(digits: &str, scale: usize, neg: bool) -> String {
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (i, f) = digits.split_at(digits.len() - scale);
    let i = i.trim_start_matches('0');
    let i = if i.is_empty() { "0" } else { i };
    format!("{}{i}.{f}", if neg { "-" } else { "" })
}

fn cases() -> Vec<Case> {
    let big38 = 10i128.pow(38) - 1;
    let nines38 = "9".repeat(38);
    let d256_a = format!("1{}1", "0".repeat(74)); // 10^75 + 1
    let d256_b = "9".repeat(76);
    let xs = "x".repeat(100_000);
    let f16: ArrayRef = arrow_cast::cast(
        &Float32Array::from(vec![
            Some(1.5f32),
            Some(-2.0),
            Some(65504.0),
            Some(0.0),
            None,
            None,
        ]),
        &DataType::Float16,
    )
    .unwrap();

    // struct with nested types, struct-level NULLs in rows 3..6
    let struct_fields = Fields::from(vec![
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("d", DataType::Decimal128(10, 2), true),
        Field::new("bin", DataType::Binary, true),
        Field::new("f", DataType::Float64, true),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "inner",
            DataType::Struct(Fields::from(vec![Field::new("x", DataType::Boolean, true)])),
            true,
        ),
    ]);
    let mut tags = arrow_array::builder::ListBuilder::new(StringBuilder::new());
    for row in [
        Some(vec!["a", "b"]),
        None,
        Some(vec![]),
        Some(vec![]),
        Some(vec![]),
        Some(vec![]),
    ] {
        match row {
            Some(v) => {
                for t in v {
                    tags.values().append_value(t);
                }
                tags.append(true);
            }
            None => tags.append(false),
        }
    }
    let inner = StructArray::from(vec![(
        Arc::new(Field::new("x", DataType::Boolean, true)),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            None,
            None,
            None,
            None,
            None,
        ])) as ArrayRef,
    )]);
    let inner = StructArray::try_new(
        inner.fields().clone(),
        inner.columns().to_vec(),
        Some(NullBuffer::from(vec![true, false, true, true, true, true])),
    )
    .unwrap();
    let st = StructArray::try_new(
        struct_fields,
        vec![
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(-5),
                Some(0),
                Some(0),
                Some(0),
            ])),
            Arc::new(StringArray::from(vec![
                Some("q\"uote\nü"),
                None,
                Some(""),
                None,
                None,
                None,
            ])),
            Arc::new(tags.finish()),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_700_000_000_123_456),
                    None,
                    Some(0),
                    None,
                    None,
                    None,
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(150), None, Some(-1), None, None, None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(BinaryArray::from_opt_vec(vec![
                Some(&[1u8, 2][..]),
                None,
                Some(&[][..]),
                None,
                None,
                None,
            ])),
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                None,
                Some(f64::NAN),
                None,
                None,
                None,
            ])),
            Arc::new(Date32Array::from(vec![
                Some(19_675),
                None,
                Some(0),
                None,
                None,
                None,
            ])),
            Arc::new(inner),
        ],
        Some(NullBuffer::from(vec![
            true, true, true, false, false, false,
        ])),
    )
    .unwrap();

    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
        Some(vec![]),
        None,
        Some(vec![Some(i32::MAX)]),
        Some(vec![Some(i32::MIN)]),
        None,
    ]);
    let mut ll = LargeListBuilder::new(StringBuilder::new());
    for row in [
        Some(vec![Some("a"), Some("b\"c")]),
        Some(vec![None]),
        Some(vec![]),
        None,
        Some(vec![Some("ü")]),
        None,
    ] {
        match row {
            Some(v) => {
                for t in v {
                    ll.values().append_option(t);
                }
                ll.append(true);
            }
            None => ll.append(false),
        }
    }
    let fsl = FixedSizeListArray::from_iter_primitive::<Int64Type, _, _>(
        vec![
            Some(vec![Some(7), Some(8)]),
            Some(vec![None, Some(9)]),
            None,
            Some(vec![Some(i64::MAX), Some(i64::MIN)]),
            Some(vec![Some(0), Some(0)]),
            None,
        ],
        2,
    );
    let mut mb = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    type Entries = Vec<(&'static str, Option<i32>)>;
    let maps: Vec<Option<Entries>> = vec![
        Some(vec![("k2", Some(2)), ("k1", Some(1))]),
        Some(vec![]),
        None,
        Some(vec![("a", None)]),
        Some(vec![("dup", Some(1)), ("dup", Some(2))]),
        None,
    ];
    for m in maps {
        match m {
            Some(entries) => {
                for (k, v) in entries {
                    mb.keys().append_value(k);
                    mb.values().append_option(v);
                }
                mb.append(true).unwrap();
            }
            None => mb.append(false).unwrap(),
        }
    }
    let dict: DictionaryArray<Int32Type> =
        vec![Some("x"), Some("y"), Some("x"), None, Some("z"), None]
            .into_iter()
            .collect();

    vec![
        case(
            "Boolean",
            "boolean",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
                None,
            ])),
            [
                Some("true"),
                Some("false"),
                None,
                Some("true"),
                Some("false"),
                None,
            ],
        ),
        case(
            "Int8",
            "smallint",
            Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                Some(i8::MAX),
                Some(0),
                Some(-1),
                None,
                None,
            ])),
            [Some("-128"), Some("127"), Some("0"), Some("-1"), None, None],
        ),
        case(
            "Int16",
            "smallint",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(i16::MAX),
                Some(0),
                None,
                Some(1),
                None,
            ])),
            [
                Some("-32768"),
                Some("32767"),
                Some("0"),
                None,
                Some("1"),
                None,
            ],
        ),
        case(
            "Int32",
            "integer",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(i32::MAX),
                None,
                Some(0),
                Some(7),
                None,
            ])),
            [
                Some("-2147483648"),
                Some("2147483647"),
                None,
                Some("0"),
                Some("7"),
                None,
            ],
        ),
        case(
            "Int64",
            "bigint",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(i64::MAX),
                Some(0),
                None,
                Some(-1),
                None,
            ])),
            [
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
                Some("0"),
                None,
                Some("-1"),
                None,
            ],
        ),
        case(
            "UInt8",
            "smallint",
            Arc::new(UInt8Array::from(vec![
                Some(0),
                Some(u8::MAX),
                None,
                Some(1),
                Some(2),
                None,
            ])),
            [Some("0"), Some("255"), None, Some("1"), Some("2"), None],
        ),
        case(
            "UInt16",
            "integer",
            Arc::new(UInt16Array::from(vec![
                Some(0),
                Some(u16::MAX),
                None,
                None,
                Some(3),
                None,
            ])),
            [Some("0"), Some("65535"), None, None, Some("3"), None],
        ),
        case(
            "UInt32",
            "bigint",
            Arc::new(UInt32Array::from(vec![
                Some(0),
                Some(u32::MAX),
                None,
                Some(5),
                None,
                None,
            ])),
            [Some("0"), Some("4294967295"), None, Some("5"), None, None],
        ),
        case(
            "UInt64",
            "numeric(20,0)",
            Arc::new(UInt64Array::from(vec![
                Some(0),
                Some(u64::MAX),
                None,
                Some(10_000),
                None,
                None,
            ])),
            [
                Some("0"),
                Some("18446744073709551615"),
                None,
                Some("10000"),
                None,
                None,
            ],
        ),
        case(
            "Float16",
            "real",
            f16,
            [
                Some("1.5"),
                Some("-2"),
                Some("65504"),
                Some("0"),
                None,
                None,
            ],
        ),
        case(
            "Float32",
            "real",
            Arc::new(Float32Array::from(vec![
                Some(1.5),
                Some(-0.25),
                Some(f32::NAN),
                Some(f32::INFINITY),
                Some(3.402_823_5e38),
                None,
            ])),
            [
                Some("1.5"),
                Some("-0.25"),
                Some("NaN"),
                Some("Infinity"),
                Some("3.4028235e+38"),
                None,
            ],
        ),
        case(
            "Float64",
            "double precision",
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(-1e-300),
                Some(f64::MAX),
                Some(f64::NEG_INFINITY),
                None,
                None,
            ])),
            [
                Some("0.1"),
                Some("-1e-300"),
                Some("1.7976931348623157e+308"),
                Some("-Infinity"),
                None,
                None,
            ],
        ),
        case(
            "Decimal32(9, 2)",
            "numeric(9,2)",
            Arc::new(
                Decimal32Array::from(vec![
                    Some(123_456_789),
                    Some(-1),
                    Some(0),
                    Some(-999_999_999),
                    None,
                    None,
                ])
                .with_precision_and_scale(9, 2)
                .unwrap(),
            ),
            [
                Some("1234567.89"),
                Some("-0.01"),
                Some("0.00"),
                Some("-9999999.99"),
                None,
                None,
            ],
        ),
        case(
            "Decimal64(18, 4)",
            "numeric(18,4)",
            Arc::new(
                Decimal64Array::from(vec![
                    Some(999_999_999_999_999_999),
                    Some(-50_000),
                    Some(1),
                    Some(0),
                    None,
                    None,
                ])
                .with_precision_and_scale(18, 4)
                .unwrap(),
            ),
            [
                Some("99999999999999.9999"),
                Some("-5.0000"),
                Some("0.0001"),
                Some("0.0000"),
                None,
                None,
            ],
        ),
        case(
            "Decimal128(38, 10)",
            "numeric(38,10)",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(big38),
                    Some(-big38),
                    Some(1),
                    Some(0),
                    Some(12_345_678_901_234_567_890),
                    None,
                ])
                .with_precision_and_scale(38, 10)
                .unwrap(),
            ),
            [
                Some(leak(&dec_text(&nines38, 10, false))),
                Some(leak(&dec_text(&nines38, 10, true))),
                Some("0.0000000001"),
                Some("0.0000000000"),
                Some("1234567890.1234567890"),
                None,
            ],
        ),
        case(
            "Decimal128(38, 0)",
            "numeric(38,0)",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(big38),
                    Some(-12),
                    Some(0),
                    Some(10_000),
                    None,
                    None,
                ])
                .with_precision_and_scale(38, 0)
                .unwrap(),
            ),
            [
                Some(leak(&nines38)),
                Some("-12"),
                Some("0"),
                Some("10000"),
                None,
                None,
            ],
        ),
        case(
            "Decimal128(5, -3)",
            "numeric(8,0)",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(12_345),
                    Some(-1),
                    Some(0),
                    Some(99_999),
                    None,
                    None,
                ])
                .with_precision_and_scale(5, -3)
                .unwrap(),
            ),
            [
                Some("12345000"),
                Some("-1000"),
                Some("0"),
                Some("99999000"),
                None,
                None,
            ],
        ),
        case(
            "Decimal256(76, 20)",
            "numeric(76,20)",
            Arc::new(
                Decimal256Array::from(vec![
                    Some(i256::from_string(&d256_a).unwrap()),
                    Some(i256::from_i128(-123_456_789)),
                    Some(i256::ZERO),
                    Some(i256::from_string(&d256_b).unwrap()),
                    None,
                    None,
                ])
                .with_precision_and_scale(76, 20)
                .unwrap(),
            ),
            [
                Some(leak(&dec_text(&d256_a, 20, false))),
                Some("-0.00000000000123456789"),
                Some("0.00000000000000000000"),
                Some(leak(&dec_text(&d256_b, 20, false))),
                None,
                None,
            ],
        ),
        case(
            "Utf8",
            "text",
            Arc::new(StringArray::from(vec![
                Some("héllo"),
                Some(""),
                Some("quote'\"\\"),
                Some("line\nbreak\ttab"),
                Some("🦀"),
                None,
            ])),
            [
                Some("héllo"),
                Some(""),
                Some("quote'\"\\"),
                Some("line\nbreak\ttab"),
                Some("🦀"),
                None,
            ],
        ),
        case(
            "LargeUtf8",
            "text",
            Arc::new(LargeStringArray::from(vec![
                Some("large"),
                Some(""),
                None,
                Some("ü"),
                Some(xs.as_str()),
                None,
            ])),
            [
                Some("large"),
                Some(""),
                None,
                Some("ü"),
                Some(leak(&xs)),
                None,
            ],
        ),
        case(
            "Utf8View",
            "text",
            Arc::new(StringViewArray::from(vec![
                Some("short"),
                Some("a string longer than twelve bytes"),
                Some(""),
                None,
                Some("ü🦀"),
                None,
            ])),
            [
                Some("short"),
                Some("a string longer than twelve bytes"),
                Some(""),
                None,
                Some("ü🦀"),
                None,
            ],
        ),
        case(
            "Binary",
            "bytea",
            Arc::new(BinaryArray::from_opt_vec(vec![
                Some(&[0u8, 255, 16][..]),
                Some(&[][..]),
                None,
                Some(b"\\"),
                Some(b"\x00\x00"),
                None,
            ])),
            [
                Some("\\x00ff10"),
                Some("\\x"),
                None,
                Some("\\x5c"),
                Some("\\x0000"),
                None,
            ],
        ),
        case(
            "LargeBinary",
            "bytea",
            Arc::new(LargeBinaryArray::from_opt_vec(vec![
                Some(&[1u8][..]),
                None,
                Some(&[][..]),
                Some(b"ab"),
                None,
                None,
            ])),
            [
                Some("\\x01"),
                None,
                Some("\\x"),
                Some("\\x6162"),
                None,
                None,
            ],
        ),
        case(
            "FixedSizeBinary(16)",
            "bytea",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![
                        Some((0u8..16).collect::<Vec<_>>()),
                        Some(vec![0xff; 16]),
                        None,
                        Some(vec![0; 16]),
                        None,
                        None,
                    ]
                    .into_iter(),
                    16,
                )
                .unwrap(),
            ),
            [
                Some("\\x000102030405060708090a0b0c0d0e0f"),
                Some("\\xffffffffffffffffffffffffffffffff"),
                None,
                Some("\\x00000000000000000000000000000000"),
                None,
                None,
            ],
        ),
        case(
            "BinaryView",
            "bytea",
            Arc::new(BinaryViewArray::from(vec![
                Some(&b"abc"[..]),
                Some(&b""[..]),
                None,
                Some(&b"0123456789abcdef"[..]),
                None,
                None,
            ])),
            [
                Some("\\x616263"),
                Some("\\x"),
                None,
                Some("\\x30313233343536373839616263646566"),
                None,
                None,
            ],
        ),
        case(
            "Date32",
            "date",
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(10_957),
                Some(-719_162),
                Some(2_932_896),
                Some(-719_163),
                None,
            ])),
            [
                Some("1970-01-01"),
                Some("2000-01-01"),
                Some("0001-01-01"),
                Some("9999-12-31"),
                Some("0001-12-31 BC"),
                None,
            ],
        ),
        case(
            "Date64",
            "date",
            Arc::new(Date64Array::from(vec![
                Some(86_400_000),
                Some(-1),
                Some(0),
                None,
                None,
                None,
            ])),
            [
                Some("1970-01-02"),
                Some("1969-12-31"),
                Some("1970-01-01"),
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Second, None)",
            "timestamp without time zone",
            Arc::new(TimestampSecondArray::from(vec![
                Some(0),
                Some(1_700_000_000),
                Some(-1),
                None,
                None,
                None,
            ])),
            [
                Some("1970-01-01 00:00:00"),
                Some("2023-11-14 22:13:20"),
                Some("1969-12-31 23:59:59"),
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Millisecond, None)",
            "timestamp without time zone",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_700_000_000_123),
                Some(-1),
                None,
                None,
                None,
                None,
            ])),
            [
                Some("2023-11-14 22:13:20.123"),
                Some("1969-12-31 23:59:59.999"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Microsecond, None)",
            "timestamp without time zone",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_456),
                Some(253_402_300_799_999_999),
                Some(-62_135_596_800_000_000),
                None,
                None,
                None,
            ])),
            [
                Some("2023-11-14 22:13:20.123456"),
                Some("9999-12-31 23:59:59.999999"),
                Some("0001-01-01 00:00:00"),
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Nanosecond, None)",
            "timestamp without time zone",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_700_000_000_123_456_789),
                Some(-1),
                None,
                None,
                None,
                None,
            ])),
            [
                Some("2023-11-14 22:13:20.123456"),
                Some("1969-12-31 23:59:59.999999"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Millisecond, \"UTC\")",
            "timestamp with time zone",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(1_700_000_000_123),
                    Some(0),
                    None,
                    None,
                    None,
                    None,
                ])
                .with_timezone("UTC"),
            ),
            [
                Some("2023-11-14 22:13:20.123+00"),
                Some("1970-01-01 00:00:00+00"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Microsecond, \"UTC\")",
            "timestamp with time zone",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_700_000_000_123_456),
                    Some(-1),
                    None,
                    None,
                    None,
                    None,
                ])
                .with_timezone("UTC"),
            ),
            [
                Some("2023-11-14 22:13:20.123456+00"),
                Some("1969-12-31 23:59:59.999999+00"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Timestamp(Microsecond, \"+05:30\")",
            "timestamp with time zone",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_700_000_000_000_000),
                    None,
                    None,
                    None,
                    None,
                    None,
                ])
                .with_timezone("+05:30"),
            ),
            [Some("2023-11-14 22:13:20+00"), None, None, None, None, None],
        ),
        case(
            "Time32(Second)",
            "time without time zone",
            Arc::new(Time32SecondArray::from(vec![
                Some(0),
                Some(86_399),
                Some(3_661),
                None,
                None,
                None,
            ])),
            [
                Some("00:00:00"),
                Some("23:59:59"),
                Some("01:01:01"),
                None,
                None,
                None,
            ],
        ),
        case(
            "Time32(Millisecond)",
            "time without time zone",
            Arc::new(Time32MillisecondArray::from(vec![
                Some(45_296_789),
                Some(0),
                None,
                None,
                None,
                None,
            ])),
            [
                Some("12:34:56.789"),
                Some("00:00:00"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Time64(Microsecond)",
            "time without time zone",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(45_296_789_012),
                Some(86_400_000_000),
                Some(1),
                None,
                None,
                None,
            ])),
            [
                Some("12:34:56.789012"),
                Some("24:00:00"),
                Some("00:00:00.000001"),
                None,
                None,
                None,
            ],
        ),
        case(
            "Time64(Nanosecond)",
            "time without time zone",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(45_296_789_012_345),
                Some(999),
                None,
                None,
                None,
                None,
            ])),
            [
                Some("12:34:56.789012"),
                Some("00:00:00"),
                None,
                None,
                None,
                None,
            ],
        ),
        case(
            "Struct",
            "jsonb",
            Arc::new(st),
            [
                Some(
                    r#"{"d": 1.50, "f": 0.5, "id": 1, "ts": "2023-11-14T22:13:20.123456Z", "bin": "\\x0102", "day": "2023-11-14", "name": "q\"uote\nü", "tags": ["a", "b"], "inner": {"x": true}}"#,
                ),
                Some(
                    r#"{"d": null, "f": null, "id": null, "ts": null, "bin": null, "day": null, "name": null, "tags": null, "inner": null}"#,
                ),
                Some(
                    r#"{"d": -0.01, "f": "NaN", "id": -5, "ts": "1970-01-01T00:00:00Z", "bin": "\\x", "day": "1970-01-01", "name": "", "tags": [], "inner": {"x": null}}"#,
                ),
                None,
                None,
                None,
            ],
        ),
        case(
            "List",
            "jsonb",
            Arc::new(list),
            [
                Some("[1, null, 3]"),
                Some("[]"),
                None,
                Some("[2147483647]"),
                Some("[-2147483648]"),
                None,
            ],
        ),
        case(
            "LargeList",
            "jsonb",
            Arc::new(ll.finish()),
            [
                Some(r#"["a", "b\"c"]"#),
                Some("[null]"),
                Some("[]"),
                None,
                Some(r#"["ü"]"#),
                None,
            ],
        ),
        case(
            "FixedSizeList",
            "jsonb",
            Arc::new(fsl),
            [
                Some("[7, 8]"),
                Some("[null, 9]"),
                None,
                Some("[9223372036854775807, -9223372036854775808]"),
                Some("[0, 0]"),
                None,
            ],
        ),
        case(
            "Map",
            "jsonb",
            Arc::new(mb.finish()),
            [
                Some(r#"{"k1": 1, "k2": 2}"#),
                Some("{}"),
                None,
                Some(r#"{"a": null}"#),
                Some(r#"{"dup": 2}"#),
                None,
            ],
        ),
        case(
            "Dictionary(Int32, Utf8)",
            "text",
            Arc::new(dict),
            [Some("x"), Some("y"), Some("x"), None, Some("z"), None],
        ),
        case(
            "Null",
            "text",
            Arc::new(NullArray::new(ROWS)),
            [None, None, None, None, None, None],
        ),
    ]
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn meta_fields() -> Vec<Field> {
    [
        "_hoodie_commit_time",
        "_hoodie_commit_seqno",
        "_hoodie_record_key",
        "_hoodie_partition_path",
        "_hoodie_file_name",
    ]
    .iter()
    .map(|n| Field::new(*n, DataType::Utf8, true))
    .collect()
}

fn meta_columns(rows: usize) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from((0..rows).map(f).collect::<Vec<_>>()))
    };
    vec![
        s(&|_| "20240101000000000".into()),
        s(&|i| format!("20240101000000000_0_{i}")),
        s(&|i| i.to_string()),
        s(&|_| String::new()),
        s(&|_| "f".into()),
    ]
}

fn utc_applier(pg: &PgCluster) -> Applier {
    let url = format!(
        "{}?sslmode=disable&options=-c%20TimeZone%3DUTC",
        pg.url_for("app", "app")
    );
    Applier::new(ConnectionManager::from_settings(&url).unwrap())
}

#[tokio::test]
async fn every_type_round_trips() {
    let pg = PgCluster::start();
    let mut a = utc_applier(&pg);
    let cases = cases();
    let mut fields = meta_fields();
    fields.push(Field::new("k", DataType::Int64, true));
    let mut cols = meta_columns(ROWS);
    cols.push(Arc::new(Int64Array::from(
        (0..ROWS as i64).collect::<Vec<_>>(),
    )));
    for (i, c) in cases.iter().enumerate() {
        fields.push(Field::new(
            format!("c{i}"),
            c.array.data_type().clone(),
            true,
        ));
        cols.push(c.array.clone());
    }
    fields.push(Field::new("_op", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from(vec!["upsert"; ROWS])));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let spec = TargetTable::for_hudi_table("types", vec!["k".into()]);
    let s = a
        .apply(&spec, "L1", &schema, common::stream(vec![batch]), None)
        .await
        .unwrap();
    assert_eq!(s.inserted, ROWS as u64);

    let client = a.connection().client().await.unwrap();
    let types: BTreeMap<String, String> = client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'hudi.types'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rows = a.read_staging(&spec).await.unwrap();
    assert_eq!(rows.len(), ROWS);
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let col = format!("c{i}");
        if types.get(&col).map(String::as_str) != Some(c.pg) {
            failures.push(format!(
                "{}: column type {:?}, expected {}",
                c.label,
                types.get(&col),
                c.pg
            ));
        }
        for (r, want) in c.expect.iter().enumerate() {
            let got = &rows[r][&col];
            if got != want {
                failures.push(format!(
                    "{} row {r}: got {got:?}, expected {want:?}",
                    c.label
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "type map mismatches:\n{}",
        failures.join("\n")
    );

    // and the same values again: nothing changes (the version guard sees equal versions)
    let batch2 = RecordBatch::try_new(schema.clone(), {
        let mut cols = meta_columns(ROWS);
        cols.push(Arc::new(Int64Array::from(
            (0..ROWS as i64).collect::<Vec<_>>(),
        )));
        cols.extend(cases.iter().map(|c| c.array.clone()));
        cols.push(Arc::new(StringArray::from(vec!["upsert"; ROWS])));
        cols
    })
    .unwrap();
    let s = a
        .apply(&spec, "L2", &schema, common::stream(vec![batch2]), None)
        .await
        .unwrap();
    assert_eq!(s.stale, ROWS as u64);
}

/// The documented table lists exactly the tested cases, with the code's mapping.
#[test]
fn type_map_doc_matches_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/type-map.md")).unwrap();
    let start = doc.find("<!-- type-map:begin -->").expect("begin marker");
    let end = doc.find("<!-- type-map:end -->").expect("end marker");
    let mut documented = Vec::new();
    for line in doc[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<&str> = line
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        documented.push((cells[1].to_string(), cells[2].to_string()));
    }
    let tested: Vec<(String, String)> = cases()
        .iter()
        .map(|c| (c.label.to_string(), c.pg.to_string()))
        .collect();
    assert_eq!(
        documented, tested,
        "docs/type-map.md and tests/types.rs disagree"
    );
    for c in cases() {
        let mapped = PgType::for_arrow(c.array.data_type()).map(|t| t.sql());
        assert_eq!(
            mapped.as_deref(),
            Some(c.pg),
            "{}: code maps to {mapped:?}",
            c.label
        );
    }
}

#[tokio::test]
async fn unsupported_and_unstorable_values_are_rejected() {
    let pg = PgCluster::start();
    let mut a = utc_applier(&pg);
    let spec = TargetTable::for_hudi_table("bad_types", vec!["k".into()]);
    let mk = |extra: Field, arr: ArrayRef| {
        let mut fields = meta_fields();
        fields.push(Field::new("k", DataType::Int64, true));
        fields.push(extra);
        fields.push(Field::new("_op", DataType::Utf8, false));
        let mut cols = meta_columns(1);
        cols.push(Arc::new(Int64Array::from(vec![1])));
        cols.push(arr);
        cols.push(Arc::new(StringArray::from(vec!["upsert"])));
        let schema = Arc::new(Schema::new(fields));
        (schema.clone(), RecordBatch::try_new(schema, cols).unwrap())
    };

    // Duration: no mapping, nothing created
    let (schema, batch) = mk(
        Field::new("dur", DataType::Duration(TimeUnit::Second), true),
        Arc::new(DurationSecondArray::from(vec![Some(5)])),
    );
    let e = a
        .apply(&spec, "L1", &schema, common::stream(vec![batch]), None)
        .await
        .unwrap_err();
    match &e {
        PgError::UnsupportedType {
            column, arrow_type, ..
        } => {
            assert_eq!(column, "dur");
            assert!(arrow_type.contains("Duration"), "{arrow_type}");
        }
        other => panic!("{other:?}"),
    }
    let client = a.connection().client().await.unwrap();
    let exists: bool = client
        .query_one("SELECT to_regclass('hudi.bad_types') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!exists);

    // NUL in text and inside jsonb: a typed error naming the column, staging unchanged
    let (schema, batch) = mk(
        Field::new("s", DataType::Utf8, true),
        Arc::new(StringArray::from(vec!["a\0b"])),
    );
    let e = a
        .apply(&spec, "L2", &schema, common::stream(vec![batch]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgError::InvalidData { column, .. } if column == "s"),
        "{e:?}"
    );
    let mut lb = arrow_array::builder::ListBuilder::new(StringBuilder::new());
    lb.values().append_value("x\0");
    lb.append(true);
    let arr = lb.finish();
    let (schema, batch) = mk(
        Field::new("j", arr.data_type().clone(), true),
        Arc::new(arr),
    );
    let e = a
        .apply(&spec, "L3", &schema, common::stream(vec![batch]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgError::InvalidData { column, .. } if column == "j"),
        "{e:?}"
    );
}
