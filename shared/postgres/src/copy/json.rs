//! Nested Arrow values (struct, list, map) rendered as JSON text for `jsonb` columns.
//!
//! Rendering (docs/type-map.md): struct → object (field order kept), list → array, map →
//! object (keys rendered as strings; a later duplicate key wins, as in `jsonb`), integers and
//! decimals → exact JSON numbers, floats → numbers (`NaN`/`±Infinity` → strings), booleans,
//! strings, binary → `"\\x<hex>"`, date → `"YYYY-MM-DD"`, time → `"HH:MM:SS[.ffffff]"`,
//! timestamp → ISO 8601 (`Z` suffix when UTC-adjusted), null → `null`.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, StructArray};
use arrow_schema::{DataType, Fields, TimeUnit};
use bytes::{BufMut, BytesMut};

use super::numeric::DigitBuf;

/// Why a value could not be rendered.
pub(crate) type JsonError = String;

/// Every value of `array` rendered as the JSON text its `jsonb` column would hold (a null
/// stays null): for a staging column overridden to `text`.
pub fn json_text(array: &dyn Array) -> Result<arrow_array::ArrayRef, JsonError> {
    let mut db = DigitBuf::default();
    let mut out = arrow_array::builder::StringBuilder::with_capacity(array.len(), array.len() * 32);
    let mut buf = BytesMut::new();
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
            continue;
        }
        buf.clear();
        write_json(array, i, &mut buf, &mut db)?;
        let text = std::str::from_utf8(&buf).map_err(|e| format!("row {i}: {e}"))?;
        out.append_value(text);
    }
    Ok(std::sync::Arc::new(out.finish()))
}

/// Render element `i` of `array` as JSON into `out`.
pub(crate) fn write_json(
    array: &dyn Array,
    i: usize,
    out: &mut BytesMut,
    db: &mut DigitBuf,
) -> Result<(), JsonError> {
    if array.is_null(i) {
        out.put_slice(b"null");
        return Ok(());
    }
    match array.data_type() {
        DataType::Null => out.put_slice(b"null"),
        DataType::Boolean => out.put_slice(if array.as_boolean().value(i) {
            b"true"
        } else {
            b"false"
        }),
        DataType::Int8 => int(array.as_primitive::<Int8Type>(), i, out),
        DataType::Int16 => int(array.as_primitive::<Int16Type>(), i, out),
        DataType::Int32 => int(array.as_primitive::<Int32Type>(), i, out),
        DataType::Int64 => int(array.as_primitive::<Int64Type>(), i, out),
        DataType::UInt8 => int(array.as_primitive::<UInt8Type>(), i, out),
        DataType::UInt16 => int(array.as_primitive::<UInt16Type>(), i, out),
        DataType::UInt32 => int(array.as_primitive::<UInt32Type>(), i, out),
        DataType::UInt64 => int(array.as_primitive::<UInt64Type>(), i, out),
        DataType::Float16 => float(
            f64::from(array.as_primitive::<Float16Type>().value(i).to_f32()),
            out,
        ),
        DataType::Float32 => float32(array.as_primitive::<Float32Type>().value(i), out),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i), out),
        DataType::Decimal32(_, s) => {
            decimal(array.as_primitive::<Decimal32Type>().value(i), *s, out, db)
        }
        DataType::Decimal64(_, s) => {
            decimal(array.as_primitive::<Decimal64Type>().value(i), *s, out, db)
        }
        DataType::Decimal128(_, s) => {
            decimal(array.as_primitive::<Decimal128Type>().value(i), *s, out, db)
        }
        DataType::Decimal256(_, s) => {
            decimal(array.as_primitive::<Decimal256Type>().value(i), *s, out, db)
        }
        DataType::Utf8 => string(array.as_string::<i32>().value(i), out)?,
        DataType::LargeUtf8 => string(array.as_string::<i64>().value(i), out)?,
        DataType::Utf8View => string(array.as_string_view().value(i), out)?,
        DataType::Binary => hex(array.as_binary::<i32>().value(i), out),
        DataType::LargeBinary => hex(array.as_binary::<i64>().value(i), out),
        DataType::BinaryView => hex(array.as_binary_view().value(i), out),
        DataType::FixedSizeBinary(_) => hex(array.as_fixed_size_binary().value(i), out),
        DataType::Date32 => {
            let d = i64::from(array.as_primitive::<Date32Type>().value(i));
            date(d, out)?
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(i);
            date(ms.div_euclid(86_400_000), out)?
        }
        DataType::Time32(TimeUnit::Second) => time(
            i64::from(array.as_primitive::<Time32SecondType>().value(i)) * 1_000_000,
            out,
        )?,
        DataType::Time32(_) => time(
            i64::from(array.as_primitive::<Time32MillisecondType>().value(i)) * 1_000,
            out,
        )?,
        DataType::Time64(TimeUnit::Nanosecond) => time(
            array
                .as_primitive::<Time64NanosecondType>()
                .value(i)
                .div_euclid(1000),
            out,
        )?,
        DataType::Time64(_) => time(array.as_primitive::<Time64MicrosecondType>().value(i), out)?,
        DataType::Timestamp(unit, tz) => {
            timestamp(timestamp_micros(array, *unit, i)?, tz.is_some(), out)?
        }
        DataType::Struct(fields) => object(fields, array.as_struct(), i, out, db)?,
        DataType::List(_) => {
            let l = array.as_list::<i32>();
            list(l.value(i).as_ref(), out, db)?
        }
        DataType::LargeList(_) => {
            let l = array.as_list::<i64>();
            list(l.value(i).as_ref(), out, db)?
        }
        DataType::FixedSizeList(_, _) => {
            let l = array.as_fixed_size_list();
            list(l.value(i).as_ref(), out, db)?
        }
        DataType::Map(_, _) => map(&array.as_map().value(i), out, db)?,
        DataType::Dictionary(_, _) => {
            let d = array.as_any_dictionary();
            let idx = d
                .normalized_keys()
                .get(i)
                .copied()
                .filter(|idx| *idx < d.values().len())
                .ok_or_else(|| "dictionary key out of range".to_string())?;
            write_json(d.values().as_ref(), idx, out, db)?
        }
        other => return Err(format!("Arrow type {other} cannot be rendered as JSON")),
    }
    Ok(())
}

/// Microseconds since the epoch of timestamp element `i`.
fn timestamp_micros(array: &dyn Array, unit: TimeUnit, i: usize) -> Result<i64, JsonError> {
    match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .value(i)
            .checked_mul(1_000_000),
        TimeUnit::Millisecond => array
            .as_primitive::<TimestampMillisecondType>()
            .value(i)
            .checked_mul(1_000),
        TimeUnit::Microsecond => Some(array.as_primitive::<TimestampMicrosecondType>().value(i)),
        TimeUnit::Nanosecond => Some(
            array
                .as_primitive::<TimestampNanosecondType>()
                .value(i)
                .div_euclid(1000),
        ),
    }
    .ok_or_else(|| "timestamp out of range".to_string())
}

/// Struct element `i` as a JSON object of its fields.
fn object(
    fields: &Fields,
    s: &StructArray,
    i: usize,
    out: &mut BytesMut,
    db: &mut DigitBuf,
) -> Result<(), JsonError> {
    out.put_u8(b'{');
    for (k, (f, col)) in fields.iter().zip(s.columns()).enumerate() {
        if k > 0 {
            out.put_u8(b',');
        }
        string(f.name(), out)?;
        out.put_u8(b':');
        write_json(col.as_ref(), i, out, db)?;
    }
    out.put_u8(b'}');
    Ok(())
}

/// A map's entries (key and value columns) as a JSON object.
fn map(entries: &StructArray, out: &mut BytesMut, db: &mut DigitBuf) -> Result<(), JsonError> {
    let keys = entries.column(0);
    let values = entries.column(1);
    out.put_u8(b'{');
    for k in 0..entries.len() {
        if k > 0 {
            out.put_u8(b',');
        }
        map_key(keys.as_ref(), k, out, db)?;
        out.put_u8(b':');
        write_json(values.as_ref(), k, out, db)?;
    }
    out.put_u8(b'}');
    Ok(())
}

fn list(values: &dyn Array, out: &mut BytesMut, db: &mut DigitBuf) -> Result<(), JsonError> {
    out.put_u8(b'[');
    for k in 0..values.len() {
        if k > 0 {
            out.put_u8(b',');
        }
        write_json(values, k, out, db)?;
    }
    out.put_u8(b']');
    Ok(())
}

/// A map key as a JSON object key: strings as they are, anything else as its JSON text.
fn map_key(
    keys: &dyn Array,
    k: usize,
    out: &mut BytesMut,
    db: &mut DigitBuf,
) -> Result<(), JsonError> {
    match keys.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => write_json(keys, k, out, db),
        _ => {
            let mut tmp = BytesMut::new();
            write_json(keys, k, &mut tmp, db)?;
            let text = std::str::from_utf8(&tmp).map_err(|e| e.to_string())?;
            // a string-rendered key (dates, binary) is already quoted
            if text.starts_with('"') {
                out.put_slice(text.as_bytes());
                Ok(())
            } else {
                string(text, out)
            }
        }
    }
}

fn int<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize, out: &mut BytesMut)
where
    T::Native: std::fmt::Display,
{
    out.put_slice(a.value(i).to_string().as_bytes());
}

fn float(v: f64, out: &mut BytesMut) {
    if v.is_nan() {
        out.put_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.put_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        // Debug: shortest round-trip representation, exponent for very large/small values
        out.put_slice(format!("{v:?}").as_bytes());
    }
}

fn float32(v: f32, out: &mut BytesMut) {
    if v.is_finite() {
        out.put_slice(format!("{v:?}").as_bytes());
    } else {
        float(f64::from(v), out)
    }
}

fn decimal<T: std::fmt::Display>(v: T, scale: i8, out: &mut BytesMut, db: &mut DigitBuf) {
    let (neg, digits) = db.render(v);
    if neg {
        out.put_u8(b'-');
    }
    let digits = {
        let first = digits
            .iter()
            .position(|d| *d != b'0')
            .unwrap_or(digits.len());
        &digits[first..]
    };
    if scale <= 0 {
        if digits.is_empty() {
            out.put_u8(b'0');
        } else {
            out.put_slice(digits);
            for _ in 0..scale.unsigned_abs() {
                out.put_u8(b'0');
            }
        }
        return;
    }
    let s = scale as usize;
    if digits.len() > s {
        out.put_slice(&digits[..digits.len() - s]);
        out.put_u8(b'.');
        out.put_slice(&digits[digits.len() - s..]);
    } else {
        out.put_slice(b"0.");
        for _ in 0..(s - digits.len()) {
            out.put_u8(b'0');
        }
        out.put_slice(digits);
    }
}

/// A JSON string. NUL cannot be stored in `jsonb` (nor in `text`): rejected.
pub(crate) fn string(s: &str, out: &mut BytesMut) -> Result<(), JsonError> {
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (k, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0 => return Err("string contains a NUL character, which jsonb cannot store".into()),
            c if c < 0x20 => None,
            _ => continue,
        };
        out.put_slice(&bytes[start..k]);
        match esc {
            Some(e) => out.put_slice(e),
            None => out.put_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = k + 1;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
    Ok(())
}

fn hex(b: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_slice(b"\"\\\\x");
    for x in b {
        out.put_u8(HEX[(x >> 4) as usize]);
        out.put_u8(HEX[(x & 15) as usize]);
    }
    out.put_u8(b'"');
}

fn date(days: i64, out: &mut BytesMut) -> Result<(), JsonError> {
    let d =
        chrono::DateTime::from_timestamp(days.checked_mul(86_400).ok_or("date out of range")?, 0)
            .ok_or_else(|| "date out of range".to_string())?;
    out.put_slice(format!("\"{}\"", d.format("%Y-%m-%d")).as_bytes());
    Ok(())
}

fn time(us: i64, out: &mut BytesMut) -> Result<(), JsonError> {
    if !(0..86_400_000_000).contains(&us) {
        return Err("time of day out of range".into());
    }
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if frac == 0 {
        out.put_slice(format!("\"{h:02}:{m:02}:{s:02}\"").as_bytes());
    } else {
        out.put_slice(format!("\"{h:02}:{m:02}:{s:02}.{frac:06}\"").as_bytes());
    }
    Ok(())
}

fn timestamp(us: i64, utc: bool, out: &mut BytesMut) -> Result<(), JsonError> {
    let t = chrono::DateTime::from_timestamp_micros(us)
        .ok_or_else(|| "timestamp out of range".to_string())?;
    let naive = t.naive_utc();
    let frac = us.rem_euclid(1_000_000);
    let base = naive.format("%Y-%m-%dT%H:%M:%S");
    let z = if utc { "Z" } else { "" };
    if frac == 0 {
        out.put_slice(format!("\"{base}{z}\"").as_bytes());
    } else {
        out.put_slice(format!("\"{base}.{frac:06}{z}\"").as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Int32Array, ListArray, StringArray, StructArray};
    use arrow_schema::Field;

    fn render(a: &dyn Array, i: usize) -> String {
        let mut out = BytesMut::new();
        write_json(a, i, &mut out, &mut DigitBuf::default()).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn json_text_renders_every_row_and_keeps_nulls() {
        let l = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]);
        let t = json_text(&l).unwrap();
        let t = t.as_string::<i32>();
        assert_eq!(t.value(0), "[1,null]");
        assert!(t.is_null(1));
        assert_eq!(t.value(2), "[]");
    }

    #[test]
    fn struct_and_list() {
        let ids = Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef;
        let names = Arc::new(StringArray::from(vec![Some("a\"b\\c\n"), Some("x")])) as ArrayRef;
        let s = StructArray::from(vec![
            (Arc::new(Field::new("id", DataType::Int32, true)), ids),
            (Arc::new(Field::new("name", DataType::Utf8, true)), names),
        ]);
        assert_eq!(render(&s, 0), r#"{"id":1,"name":"a\"b\\c\n"}"#);
        assert_eq!(render(&s, 1), r#"{"id":null,"name":"x"}"#);
        let l = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            Some(vec![]),
        ]);
        assert_eq!(render(&l, 0), "[1,null,3]");
        assert_eq!(render(&l, 1), "[]");
    }

    #[test]
    fn map_and_scalars() {
        let mut b = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        b.keys().append_value("k1");
        b.values().append_value(5);
        b.keys().append_value("k\u{1}");
        b.values().append_null();
        b.append(true).unwrap();
        let m = b.finish();
        assert_eq!(render(&m, 0), r#"{"k1":5,"k\u0001":null}"#);
        let mut out = BytesMut::new();
        decimal(-5i128, 3, &mut out, &mut DigitBuf::default());
        assert_eq!(&out[..], b"-0.005");
        let mut out = BytesMut::new();
        float(f64::NAN, &mut out);
        float(1e300, &mut out);
        assert_eq!(&out[..], b"\"NaN\"1e300");
        let mut out = BytesMut::new();
        timestamp(1_700_000_000_123_456, true, &mut out).unwrap();
        assert_eq!(&out[..], b"\"2023-11-14T22:13:20.123456Z\"");
        let mut out = BytesMut::new();
        assert!(string("a\0b", &mut out).is_err());
    }
}
