//! Delete change rows (the change-row contract): for each [`DeleteChange`], a row with
//! `_op = "delete"`, `_hoodie_commit_time` = the deleting instant, `_hoodie_record_key`,
//! `_hoodie_partition_path`, the record-key columns parsed from the key string, the ordering
//! field when the delete carries a real ordering value, and nulls elsewhere.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, LargeStringBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::types::{
    Date32Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{ArrayRef, PrimitiveArray, RecordBatch, new_null_array};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use chrono::NaiveDate;

use super::merge::DeleteChange;
use super::ordering::OrderingValue;
use crate::columns::{
    COMMIT_TIME_COLUMN, OP_COLUMN, OP_DELETE, PARTITION_PATH_COLUMN, RECORD_KEY_COLUMN,
};

/// Hudi's placeholders inside record keys (`KeyGenUtils`).
const NULL_PLACEHOLDER: &str = "__null__";
const EMPTY_PLACEHOLDER: &str = "__empty__";

/// How a record key string encodes the key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEncoding {
    /// One key column; the key is its value (SIMPLE, NON_PARTITION, TIMESTAMP, single-field
    /// CUSTOM).
    Simple,
    /// `f1:v1,f2:v2` (COMPLEX; a single field may appear with or without its `f1:` prefix).
    Complex,
}

/// Which columns a delete row fills.
#[derive(Debug, Clone)]
pub struct DeleteRowSpec {
    /// `hoodie.table.recordkey.fields`, in order.
    pub record_key_fields: Vec<String>,
    /// How keys encode them.
    pub encoding: KeyEncoding,
    /// Ordering fields (only a single one is filled from the delete's ordering value).
    pub ordering_fields: Vec<String>,
}

/// Split a record key into its field values (`None` = null).
pub fn parse_record_key(
    key: &str,
    fields: &[String],
    encoding: &KeyEncoding,
) -> Result<Vec<Option<String>>, String> {
    let unplaceholder = |v: &str| match v {
        NULL_PLACEHOLDER => None,
        EMPTY_PLACEHOLDER => Some(String::new()),
        other => Some(other.to_string()),
    };
    match (encoding, fields.len()) {
        (_, 0) => Ok(Vec::new()),
        (KeyEncoding::Simple, 1) => Ok(vec![unplaceholder(key)]),
        (KeyEncoding::Simple, n) => Err(format!("a simple key cannot hold {n} key fields")),
        (KeyEncoding::Complex, n) => {
            let prefix = format!("{}:", fields[0]);
            if n == 1 {
                return Ok(vec![unplaceholder(
                    key.strip_prefix(&prefix).unwrap_or(key),
                )]);
            }
            let mut rest = key
                .strip_prefix(&prefix)
                .ok_or_else(|| format!("key {key:?} does not start with {prefix:?}"))?;
            let mut out = Vec::with_capacity(n);
            for next in &fields[1..] {
                let sep = format!(",{next}:");
                let at = rest
                    .find(&sep)
                    .ok_or_else(|| format!("key {key:?} lacks field {next:?}"))?;
                out.push(unplaceholder(&rest[..at]));
                rest = &rest[at + sep.len()..];
            }
            out.push(unplaceholder(rest));
            Ok(out)
        }
    }
}

/// An Arrow column of `data_type` from key strings.
fn parse_column(values: &[Option<String>], data_type: &DataType) -> Result<ArrayRef, String> {
    macro_rules! parsed {
        ($builder:ty, $t:ty) => {{
            let mut b = <$builder>::with_capacity(values.len());
            for v in values {
                match v {
                    None => b.append_null(),
                    Some(s) => {
                        b.append_value(s.trim().parse::<$t>().map_err(|e| format!("{s:?}: {e}"))?)
                    }
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match data_type {
        DataType::Utf8 => Arc::new(
            values
                .iter()
                .map(|v| v.as_deref())
                .collect::<arrow_array::StringArray>(),
        ),
        DataType::LargeUtf8 => {
            let mut b = LargeStringBuilder::new();
            values.iter().for_each(|v| b.append_option(v.as_deref()));
            Arc::new(b.finish())
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::new();
            values
                .iter()
                .for_each(|v| b.append_option(v.as_deref().map(str::as_bytes)));
            Arc::new(b.finish())
        }
        DataType::Boolean => parsed!(BooleanBuilder, bool),
        DataType::Int8 => parsed!(Int8Builder, i8),
        DataType::Int16 => parsed!(Int16Builder, i16),
        DataType::Int32 => parsed!(Int32Builder, i32),
        DataType::Int64 => parsed!(Int64Builder, i64),
        DataType::UInt8 => parsed!(UInt8Builder, u8),
        DataType::UInt16 => parsed!(UInt16Builder, u16),
        DataType::UInt32 => parsed!(UInt32Builder, u32),
        DataType::UInt64 => parsed!(UInt64Builder, u64),
        DataType::Float32 => parsed!(Float32Builder, f32),
        DataType::Float64 => parsed!(Float64Builder, f64),
        DataType::Date32 => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("no epoch")?;
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => None,
                    Some(s) => Some(match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                        Ok(d) => {
                            i32::try_from((d - epoch).num_days()).map_err(|e| e.to_string())?
                        }
                        Err(_) => s
                            .trim()
                            .parse::<i32>()
                            .map_err(|e| format!("{s:?} is not a date: {e}"))?,
                    }),
                });
            }
            Arc::new(PrimitiveArray::<Date32Type>::from(out))
        }
        DataType::Timestamp(unit, tz) => {
            // keys of timestamp columns hold the raw long value
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => None,
                    Some(s) => Some(
                        s.trim()
                            .parse::<i64>()
                            .map_err(|e| format!("{s:?} is not a timestamp: {e}"))?,
                    ),
                });
            }
            match unit {
                TimeUnit::Second => Arc::new(
                    PrimitiveArray::<TimestampSecondType>::from(out).with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Millisecond => Arc::new(
                    PrimitiveArray::<TimestampMillisecondType>::from(out)
                        .with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Microsecond => Arc::new(
                    PrimitiveArray::<TimestampMicrosecondType>::from(out)
                        .with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Nanosecond => Arc::new(
                    PrimitiveArray::<TimestampNanosecondType>::from(out)
                        .with_timezone_opt(tz.clone()),
                ),
            }
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(values.len());
            for v in values {
                match v {
                    None => b.append_null(),
                    Some(text) => b.append_value(
                        parse_decimal(text.trim(), *s)
                            .ok_or_else(|| format!("{text:?} is not a decimal"))?,
                    ),
                }
            }
            Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("key columns of type {other} are not supported")),
    })
}

/// `"-12.345"` at `scale` as an unscaled integer (exact; `None` when digits would be lost).
fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = usize::try_from(scale).ok()?;
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > scale {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac_trimmed.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac_trimmed.len()..scale {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

/// An Arrow column of `data_type` from ordering values (values that do not convert are null).
fn ordering_column(values: &[Option<OrderingValue>], data_type: &DataType) -> ArrayRef {
    let as_i64 = |v: &OrderingValue| match v {
        OrderingValue::Int(x) | OrderingValue::Date(x) => Some(i64::from(*x)),
        OrderingValue::Long(x)
        | OrderingValue::TimestampMicros(x)
        | OrderingValue::TimeMicros(x) => Some(*x),
        _ => None,
    };
    let texts: Vec<Option<String>> = values
        .iter()
        .map(|v| match v {
            None => None,
            Some(OrderingValue::String(s)) => Some(s.clone()),
            Some(OrderingValue::Float(f)) => Some(f.to_string()),
            Some(OrderingValue::Double(f)) => Some(f.to_string()),
            Some(OrderingValue::Boolean(b)) => Some(b.to_string()),
            Some(OrderingValue::Decimal { unscaled, scale }) => {
                Some(decimal_text(*unscaled, *scale))
            }
            Some(OrderingValue::Date(d)) if matches!(data_type, DataType::Date32) => {
                Some(d.to_string())
            }
            Some(OrderingValue::TimestampMicros(t)) => match data_type {
                DataType::Timestamp(TimeUnit::Microsecond, _) => Some(t.to_string()),
                DataType::Timestamp(TimeUnit::Millisecond, _) => Some((t / 1000).to_string()),
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    t.checked_mul(1000).map(|v| v.to_string())
                }
                DataType::Timestamp(TimeUnit::Second, _) => Some((t / 1_000_000).to_string()),
                _ => Some(t.to_string()),
            },
            Some(other) => as_i64(other).map(|x| x.to_string()),
        })
        .collect();
    if let Ok(a) = parse_column(&texts, data_type) {
        return a;
    }
    // Convert value by value so one value of the wrong kind nulls only itself.
    let mut arrays = Vec::with_capacity(texts.len());
    for t in &texts {
        arrays.push(
            parse_column(std::slice::from_ref(t), data_type)
                .unwrap_or_else(|_| new_null_array(data_type, 1)),
        );
    }
    let refs: Vec<&dyn arrow_array::Array> = arrays.iter().map(|a| a.as_ref()).collect();
    arrow_select::concat::concat(&refs).unwrap_or_else(|_| new_null_array(data_type, values.len()))
}

fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        return unscaled.to_string();
    }
    let s = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{s:0>width$}", width = scale + 1);
    let (i, f) = padded.split_at(padded.len() - scale);
    format!("{}{i}.{f}", if unscaled < 0 { "-" } else { "" })
}

/// Build the delete change rows of `deletes` in `change_schema` (the table's change schema:
/// every column nullable plus a trailing `_op`).
pub fn delete_change_batch(
    change_schema: &SchemaRef,
    deletes: &[DeleteChange],
    spec: &DeleteRowSpec,
) -> Result<RecordBatch, String> {
    let n = deletes.len();
    let mut key_values: Vec<Vec<Option<String>>> =
        vec![Vec::with_capacity(n); spec.record_key_fields.len()];
    for d in deletes {
        let parts = parse_record_key(&d.record_key, &spec.record_key_fields, &spec.encoding)
            .map_err(|e| format!("record key {:?}: {e}", d.record_key))?;
        for (i, v) in parts.into_iter().enumerate() {
            key_values[i].push(v);
        }
    }
    let ordering: Vec<Option<OrderingValue>> = deletes
        .iter()
        .map(|d| d.ordering_value.clone().filter(|v| !v.is_natural_delete()))
        .collect();
    let strings = |f: &dyn Fn(&DeleteChange) -> &str| -> ArrayRef {
        Arc::new(
            deletes
                .iter()
                .map(|d| Some(f(d)))
                .collect::<arrow_array::StringArray>(),
        )
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(change_schema.fields().len());
    for field in change_schema.fields() {
        let name = field.name().as_str();
        let dt = field.data_type();
        let col: ArrayRef = if name == OP_COLUMN {
            Arc::new(std::iter::repeat_n(Some(OP_DELETE), n).collect::<arrow_array::StringArray>())
        } else if name == COMMIT_TIME_COLUMN && dt == &DataType::Utf8 {
            strings(&|d| d.instant.as_str())
        } else if name == RECORD_KEY_COLUMN && dt == &DataType::Utf8 {
            strings(&|d| d.record_key.as_str())
        } else if name == PARTITION_PATH_COLUMN && dt == &DataType::Utf8 {
            strings(&|d| d.partition_path.as_str())
        } else if let Some(i) = spec.record_key_fields.iter().position(|k| k == name) {
            parse_column(&key_values[i], dt).map_err(|e| format!("key column {name}: {e}"))?
        } else if spec.ordering_fields.len() == 1 && spec.ordering_fields[0] == name {
            ordering_column(&ordering, dt)
        } else {
            new_null_array(dt, n)
        };
        columns.push(col);
    }
    RecordBatch::try_new_with_options(
        change_schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int32Type, Int64Type};
    use arrow_array::{Array, Float64Array};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn parses_simple_and_complex_keys() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_record_key("TXN-1", &f(&["txn_id"]), &KeyEncoding::Simple).unwrap(),
            vec![Some("TXN-1".into())]
        );
        assert_eq!(
            parse_record_key(
                "id:1,name:Alice, Jr.",
                &f(&["id", "name"]),
                &KeyEncoding::Complex
            )
            .unwrap(),
            vec![Some("1".into()), Some("Alice, Jr.".into())]
        );
        assert_eq!(
            parse_record_key(
                "id:__null__,name:__empty__",
                &f(&["id", "name"]),
                &KeyEncoding::Complex
            )
            .unwrap(),
            vec![None, Some(String::new())]
        );
        assert_eq!(
            parse_record_key("id:7", &f(&["id"]), &KeyEncoding::Complex).unwrap(),
            vec![Some("7".into())]
        );
        assert_eq!(
            parse_record_key("7", &f(&["id"]), &KeyEncoding::Complex).unwrap(),
            vec![Some("7".into())]
        );
        assert!(parse_record_key("id:1", &f(&["id", "name"]), &KeyEncoding::Complex).is_err());
        assert!(parse_record_key("x", &f(&["a", "b"]), &KeyEncoding::Simple).is_err());
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("12.34", 2), Some(1234));
        assert_eq!(parse_decimal("-0.5", 3), Some(-500));
        assert_eq!(parse_decimal("7", 2), Some(700));
        assert_eq!(parse_decimal("1.234", 2), None);
        assert_eq!(parse_decimal("1.230", 2), Some(123));
        assert_eq!(parse_decimal("abc", 2), None);
        assert_eq!(decimal_text(-1234, 2), "-12.34");
        assert_eq!(decimal_text(5, 3), "0.005");
    }

    #[test]
    fn builds_contract_delete_rows() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("_hoodie_commit_time", DataType::Utf8, true),
            Field::new("_hoodie_commit_seqno", DataType::Utf8, true),
            Field::new("_hoodie_record_key", DataType::Utf8, true),
            Field::new("_hoodie_partition_path", DataType::Utf8, true),
            Field::new("_hoodie_file_name", DataType::Utf8, true),
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Int64, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
            Field::new("fare", DataType::Float64, true),
            Field::new("_op", DataType::Utf8, false),
        ]));
        let deletes = vec![
            DeleteChange {
                record_key: "id:1,name:Alice".into(),
                partition_path: "p=1".into(),
                instant: "20250101000000001".into(),
                ordering_value: Some(OrderingValue::Int(0)),
            },
            DeleteChange {
                record_key: "id:2,name:Bob".into(),
                partition_path: "p=2".into(),
                instant: "20250101000000002".into(),
                ordering_value: Some(OrderingValue::Long(99)),
            },
        ];
        let spec = DeleteRowSpec {
            record_key_fields: vec!["id".into(), "name".into()],
            encoding: KeyEncoding::Complex,
            ordering_fields: vec!["ts".into()],
        };
        let b = delete_change_batch(&schema, &deletes, &spec).unwrap();
        assert_eq!(b.num_rows(), 2);
        let s = |c: &str, r: usize| {
            b.column_by_name(c)
                .unwrap()
                .as_string::<i32>()
                .value(r)
                .to_string()
        };
        assert_eq!(s("_op", 0), "delete");
        assert_eq!(s("_hoodie_commit_time", 1), "20250101000000002");
        assert_eq!(s("_hoodie_record_key", 0), "id:1,name:Alice");
        assert_eq!(s("_hoodie_partition_path", 1), "p=2");
        assert_eq!(s("name", 1), "Bob");
        assert_eq!(
            b.column_by_name("id")
                .unwrap()
                .as_primitive::<Int32Type>()
                .value(1),
            2
        );
        let ts = b.column_by_name("ts").unwrap().as_primitive::<Int64Type>();
        assert!(ts.is_null(0), "a natural delete has no ordering value");
        assert_eq!(ts.value(1), 99);
        assert_eq!(
            b.column_by_name("_hoodie_commit_seqno")
                .unwrap()
                .null_count(),
            2
        );
        assert_eq!(
            b.column_by_name("amount")
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .null_count(),
            2
        );
        assert_eq!(
            b.column_by_name("fare")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .null_count(),
            2
        );

        // a key that does not parse into its column type is an error
        let bad = vec![DeleteChange {
            record_key: "id:x,name:A".into(),
            ..deletes[0].clone()
        }];
        assert!(
            delete_change_batch(&schema, &bad, &spec)
                .unwrap_err()
                .contains("key column id")
        );
    }
}
