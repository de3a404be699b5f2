//! Arrow values in their natural JSON form, for `changes --format jsonl`.
//!
//! | Arrow | JSON |
//! |---|---|
//! | null | `null` |
//! | booleans, integers | booleans, numbers |
//! | floats | numbers; NaN / ±infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | decimals | strings with the column's scale (`"12.50"`), so no precision is lost |
//! | strings | strings |
//! | binary | base64 strings (standard alphabet, padded) |
//! | dates | `"YYYY-MM-DD"` |
//! | timestamps | ISO-8601 in UTC with `Z` (`"2024-01-21T22:30:00Z"`, fractional seconds only when non-zero); timestamps without a zone are taken as UTC |
//! | times | `"HH:MM:SS[.fff…]"` |
//! | durations | integers in the column's unit |
//! | lists | arrays |
//! | structs | objects |
//! | maps | objects when keys are strings, else arrays of `{"key", "value"}` |
//! | dictionaries | the dictionary value |

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

/// Why a value could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// A data type without a JSON mapping.
    #[error("column {column}: data type {data_type} has no JSON form")]
    Unsupported {
        /// The column concerned.
        column: String,
        /// The column's data type.
        data_type: String,
    },
    /// A value out of the representable range (e.g. a timestamp beyond year 262143).
    #[error("column {column}: value out of range: {detail}")]
    OutOfRange {
        /// The column concerned.
        column: String,
        /// The details, in words.
        detail: String,
    },
    /// Writing failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Write each row of `batch` as one JSON object line, keys in column order.
pub fn write_jsonl(out: &mut impl Write, batch: &RecordBatch) -> Result<(), JsonError> {
    let schema = batch.schema();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()).unwrap_or_else(|_| "\"?\"".to_string()))
        .collect();
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        line.push('{');
        for (i, col) in batch.columns().iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&names[i]);
            line.push(':');
            let v = value_at(schema.field(i).name(), col, row)?;
            line.push_str(&v.to_string());
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// All rows of `batch` as JSON objects (keys sorted unless serde_json preserves order).
pub fn batch_to_rows(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>, JsonError> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    let name = schema.field(i).name();
                    Ok((name.clone(), value_at(name, col, row)?))
                })
                .collect()
        })
        .collect()
}

fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Shortest decimal text of an f32 (so `1.1f32` prints as `1.1`, not `1.100000023841858`).
fn float32(f: f32) -> Value {
    if !f.is_finite() {
        return float(f64::from(f));
    }
    // f32's Display is the shortest round-trip representation
    match f.to_string().parse::<f64>() {
        Ok(v) => float(v),
        Err(_) => float(f64::from(f)),
    }
}

fn timestamp(column: &str, v: i64, unit: TimeUnit) -> Result<Value, JsonError> {
    let dt = match unit {
        TimeUnit::Second => DateTime::<Utc>::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::<Utc>::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::<Utc>::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::<Utc>::from_timestamp_nanos(v)),
    };
    let dt = dt.ok_or_else(|| JsonError::OutOfRange {
        column: column.into(),
        detail: format!("timestamp {v} {unit:?}"),
    })?;
    Ok(Value::String(
        dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    ))
}

fn date(column: &str, days: i64) -> Result<Value, JsonError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let d = epoch
        .checked_add_signed(chrono::Duration::try_days(days).unwrap_or(chrono::Duration::MAX))
        .filter(|_| chrono::Duration::try_days(days).is_some())
        .ok_or_else(|| JsonError::OutOfRange {
            column: column.into(),
            detail: format!("date {days} days"),
        })?;
    Ok(Value::String(d.format("%Y-%m-%d").to_string()))
}

fn time(column: &str, nanos: i64) -> Result<Value, JsonError> {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    let t = u32::try_from(secs)
        .ok()
        .and_then(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, sub as u32))
        .ok_or_else(|| JsonError::OutOfRange {
            column: column.into(),
            detail: format!("time {nanos} ns"),
        })?;
    Ok(Value::String(t.format("%H:%M:%S%.f").to_string()))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The JSON value of `array[row]`. `column` names the column in errors.
pub fn value_at(column: &str, array: &ArrayRef, row: usize) -> Result<Value, JsonError> {
    value_of(column, array.as_ref(), row)
}

fn value_of(column: &str, a: &dyn Array, row: usize) -> Result<Value, JsonError> {
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    let unsupported = || JsonError::Unsupported {
        column: column.into(),
        data_type: a.data_type().to_string(),
    };
    Ok(match a.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        DataType::Int8 => Value::from(a.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(a.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(a.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(a.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(a.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(a.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(a.as_primitive::<UInt64Type>().value(row)),
        DataType::Float16 => float32(a.as_primitive::<Float16Type>().value(row).to_f32()),
        DataType::Float32 => float32(a.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal32(_, _) => {
            Value::String(a.as_primitive::<Decimal32Type>().value_as_string(row))
        }
        DataType::Decimal64(_, _) => {
            Value::String(a.as_primitive::<Decimal64Type>().value_as_string(row))
        }
        DataType::Decimal128(_, _) => {
            Value::String(a.as_primitive::<Decimal128Type>().value_as_string(row))
        }
        DataType::Decimal256(_, _) => {
            Value::String(a.as_primitive::<Decimal256Type>().value_as_string(row))
        }
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(a.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(a.as_string_view().value(row).to_string()),
        DataType::Binary => Value::String(base64(a.as_binary::<i32>().value(row))),
        DataType::LargeBinary => Value::String(base64(a.as_binary::<i64>().value(row))),
        DataType::BinaryView => Value::String(base64(a.as_binary_view().value(row))),
        DataType::FixedSizeBinary(_) => Value::String(base64(a.as_fixed_size_binary().value(row))),
        DataType::Date32 => date(column, i64::from(a.as_primitive::<Date32Type>().value(row)))?,
        DataType::Date64 => date(
            column,
            a.as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000),
        )?,
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
            };
            timestamp(column, v, *unit)?
        }
        DataType::Time32(TimeUnit::Second) => time(
            column,
            i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1_000_000_000,
        )?,
        DataType::Time32(TimeUnit::Millisecond) => time(
            column,
            i64::from(a.as_primitive::<Time32MillisecondType>().value(row)) * 1_000_000,
        )?,
        DataType::Time64(TimeUnit::Microsecond) => time(
            column,
            a.as_primitive::<Time64MicrosecondType>()
                .value(row)
                .saturating_mul(1_000),
        )?,
        DataType::Time64(TimeUnit::Nanosecond) => {
            time(column, a.as_primitive::<Time64NanosecondType>().value(row))?
        }
        DataType::Duration(TimeUnit::Second) => {
            Value::from(a.as_primitive::<DurationSecondType>().value(row))
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            Value::from(a.as_primitive::<DurationMillisecondType>().value(row))
        }
        DataType::Duration(TimeUnit::Microsecond) => {
            Value::from(a.as_primitive::<DurationMicrosecondType>().value(row))
        }
        DataType::Duration(TimeUnit::Nanosecond) => {
            Value::from(a.as_primitive::<DurationNanosecondType>().value(row))
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            Value::from(a.as_primitive::<IntervalYearMonthType>().value(row))
        }
        DataType::List(_) => list(column, &a.as_list::<i32>().value(row))?,
        DataType::LargeList(_) => list(column, &a.as_list::<i64>().value(row))?,
        DataType::FixedSizeList(_, _) => list(column, &a.as_fixed_size_list().value(row))?,
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut m = Map::new();
            for (i, f) in fields.iter().enumerate() {
                m.insert(
                    f.name().clone(),
                    value_of(&format!("{column}.{}", f.name()), s.column(i).as_ref(), row)?,
                );
            }
            Value::Object(m)
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            let string_keys = matches!(
                keys.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            );
            if string_keys {
                let mut obj = Map::new();
                for i in 0..entries.len() {
                    let k = match value_of(column, keys.as_ref(), i)? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    obj.insert(k, value_of(column, values.as_ref(), i)?);
                }
                Value::Object(obj)
            } else {
                let mut arr = Vec::with_capacity(entries.len());
                for i in 0..entries.len() {
                    let mut e = Map::new();
                    e.insert("key".into(), value_of(column, keys.as_ref(), i)?);
                    e.insert("value".into(), value_of(column, values.as_ref(), i)?);
                    arr.push(Value::Object(e));
                }
                Value::Array(arr)
            }
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let key = d
                .normalized_keys()
                .get(row)
                .copied()
                .ok_or_else(unsupported)?;
            value_of(column, d.values().as_ref(), key)?
        }
        _ => return Err(unsupported()),
    })
}

fn list(column: &str, values: &ArrayRef) -> Result<Value, JsonError> {
    (0..values.len())
        .map(|i| value_of(column, values.as_ref(), i))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
    use arrow_array::*;
    use arrow_schema::{Field, Fields, Schema};
    use std::sync::Arc;

    #[test]
    fn scalars() {
        let dec: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(1250), Some(-5), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(
            value_at("d", &dec, 0).unwrap(),
            Value::String("12.50".into())
        );
        assert_eq!(
            value_at("d", &dec, 1).unwrap(),
            Value::String("-0.05".into())
        );
        assert_eq!(value_at("d", &dec, 2).unwrap(), Value::Null);
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![1_705_876_200_000_000, 1_705_876_200_000_123])
                .with_timezone("UTC"),
        );
        assert_eq!(
            value_at("t", &ts, 0).unwrap(),
            Value::String("2024-01-21T22:30:00Z".into())
        );
        assert_eq!(
            value_at("t", &ts, 1).unwrap(),
            Value::String("2024-01-21T22:30:00.000123Z".into())
        );
        let d: ArrayRef = Arc::new(Date32Array::from(vec![19743, -1]));
        assert_eq!(
            value_at("d", &d, 0).unwrap(),
            Value::String("2024-01-21".into())
        );
        assert_eq!(
            value_at("d", &d, 1).unwrap(),
            Value::String("1969-12-31".into())
        );
        let b: ArrayRef = Arc::new(BinaryArray::from(vec![
            &b"hello"[..],
            &b""[..],
            &[0xff, 0xfe][..],
        ]));
        assert_eq!(
            value_at("b", &b, 0).unwrap(),
            Value::String("aGVsbG8=".into())
        );
        assert_eq!(value_at("b", &b, 1).unwrap(), Value::String("".into()));
        assert_eq!(value_at("b", &b, 2).unwrap(), Value::String("//4=".into()));
        let f: ArrayRef = Arc::new(Float32Array::from(vec![1.1f32, f32::NAN]));
        assert_eq!(value_at("f", &f, 0).unwrap().to_string(), "1.1");
        assert_eq!(value_at("f", &f, 1).unwrap(), Value::String("NaN".into()));
        let t: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![3_723_000_001]));
        assert_eq!(
            value_at("t", &t, 0).unwrap(),
            Value::String("01:02:03.000001".into())
        );
    }

    #[test]
    fn nested_and_jsonl_order() {
        let mut mb = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        mb.keys().append_value("a");
        mb.values().append_value(1);
        mb.append(true).unwrap();
        let map: ArrayRef = Arc::new(mb.finish());
        assert_eq!(value_at("m", &map, 0).unwrap(), serde_json::json!({"a": 1}));
        let inner = Fields::from(vec![Field::new("x", DataType::Int32, true)]);
        let st = StructArray::new(
            inner.clone(),
            vec![Arc::new(Int32Array::from(vec![7])) as ArrayRef],
            None,
        );
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None])]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("z", DataType::Struct(inner), true),
            Field::new("a", list.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(st), Arc::new(list)]).unwrap();
        let mut out = Vec::new();
        write_jsonl(&mut out, &batch).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"z\":{\"x\":7},\"a\":[1,null]}\n"
        );
    }

    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
