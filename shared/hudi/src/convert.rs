//! One Arrow type per column over a table's life.
//!
//! The files of one Hudi table do not agree on a column's physical type: an older writer
//! stored a timestamp as a plain `long` (or labelled millisecond values as microseconds), a
//! newer one annotates it; Spark SQL writes the partition field of a timestamp-based key
//! generator as a string holding the epoch number while the base files hold the number. The
//! reader decides one type per column (from the table schema, see [`crate::table_schema`], or
//! the widest compatible type with [`unify`]) and converts every file's values to it with
//! [`convert_array`]:
//!
//! - `Int64` ↔ `Timestamp(unit, tz)`, `Int32` ↔ `Date32`, `Int32` ↔ `Time32`, `Int64` ↔
//!   `Time64` and a timestamp's time zone label are reinterpretations: the stored epoch
//!   value stays, only its label changes;
//! - a timestamp labelled microseconds read as milliseconds keeps its value too (old writers
//!   labelled millisecond values as microseconds; the table schema is right); every other
//!   timestamp unit change rescales (checked for overflow);
//! - strings holding numbers are parsed into numeric columns; anything else is an error
//!   naming the column and the value;
//! - numbers widen (int → long → float → double), decimals to a larger precision or scale;
//! - records, lists and maps are converted child by child.
//!
//! Every failure is a [`ConvertError`]; nothing here panics on hostile data.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, ListArray, MapArray, RecordBatch,
    RecordBatchOptions, StructArray, make_array, new_null_array,
};
use arrow_cast::CastOptions;
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use thiserror::Error;

use crate::log::align::{relabel, same_shape};

/// Why a column's values cannot be brought to the column's table type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConvertError {
    /// The two types have no conversion (e.g. a boolean read as a timestamp).
    #[error("column {column}: Arrow {from} cannot be read as {to}")]
    Incompatible {
        /// Column path (`a.b` inside records).
        column: String,
        /// The file's type.
        from: String,
        /// The column's table type.
        to: String,
    },
    /// A string in a numeric column that is not a number.
    #[error("column {column}: value {value:?} is not a number, cannot be read as {to}")]
    Unparsable {
        /// Column path.
        column: String,
        /// The offending value (cut to 64 characters).
        value: String,
        /// The column's table type.
        to: String,
    },
    /// A value outside the target type's range (overflow while rescaling or narrowing).
    #[error("column {column}: value {value} is out of range for {to}")]
    OutOfRange {
        /// Column path.
        column: String,
        /// The offending value.
        value: String,
        /// The column's table type.
        to: String,
    },
}

fn incompatible(column: &str, from: &DataType, to: &DataType) -> ConvertError {
    ConvertError::Incompatible {
        column: column.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    }
}

/// Whether Hudi's schema evolution may widen a column of type `from` to `to` (int → long,
/// int/long → float/double, float → double).
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    matches!(
        (from, to),
        (Int8 | Int16 | Int32, Int64)
            | (Int8 | Int16, Int32)
            | (Int8, Int16)
            | (Int8 | Int16 | Int32 | Int64, Float32 | Float64)
            | (Float32, Float64)
    )
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Pairs of types stored in the same native width whose values are epoch or day counts in
/// both: converting between them only changes the label.
fn is_reinterpretation(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    matches!(
        (from, to),
        (Int64, Timestamp(..))
            | (Timestamp(..), Int64)
            | (Int32, Date32)
            | (Date32, Int32)
            | (Int32, Time32(_))
            | (Time32(_), Int32)
            | (Int64, Time64(_))
            | (Time64(_), Int64)
    )
}

/// The type a column takes when one file says `old` and a newer one says `new`, without a
/// table schema to decide: the wider number, the annotated type over a plain number (a
/// logical type added later), the newer timestamp label, the number over a string (the
/// timestamp key generator's Spark SQL writes), the larger decimal. `None`: no common type.
pub fn unify(old: &DataType, new: &DataType) -> Option<DataType> {
    use DataType::*;
    if same_shape(old, new) {
        return Some(old.clone());
    }
    if is_widening(old, new) {
        return Some(new.clone());
    }
    if is_widening(new, old) {
        return Some(old.clone());
    }
    match (old, new) {
        (Int64, Timestamp(..) | Time64(_)) | (Int32, Date32 | Time32(_)) => Some(new.clone()),
        (Timestamp(..) | Time64(_), Int64) | (Date32 | Time32(_), Int32) => Some(old.clone()),
        (Timestamp(..), Timestamp(..)) => Some(new.clone()),
        (o, n) if is_string(n) && (is_integer(o) || is_float(o)) => Some(old.clone()),
        (o, n) if is_string(o) && (is_integer(n) || is_float(n)) => Some(new.clone()),
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let int_digits = (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
            let precision = u8::try_from(int_digits + i16::from(scale)).ok()?;
            (precision <= 38).then_some(Decimal128(precision, scale))
        }
        (Struct(a), Struct(b)) => unify_fields(a, b).map(Struct),
        (List(a), List(b)) => {
            let item = unify(a.data_type(), b.data_type())?;
            Some(List(Arc::new(a.as_ref().clone().with_data_type(item))))
        }
        _ => None,
    }
}

/// Fields of two records merged by name: `old`'s order, then the fields only `new` has.
fn unify_fields(old: &Fields, new: &Fields) -> Option<Fields> {
    let mut out: Vec<Field> = Vec::with_capacity(old.len().max(new.len()));
    for f in old.iter() {
        let t = match new.find(f.name()) {
            Some((_, g)) => unify(f.data_type(), g.data_type())?,
            None => f.data_type().clone(),
        };
        out.push(f.as_ref().clone().with_data_type(t).with_nullable(true));
    }
    for g in new.iter() {
        if old.find(g.name()).is_none() {
            out.push(g.as_ref().clone().with_nullable(true));
        }
    }
    Some(Fields::from(out))
}

/// `array` (of column `column`) as type `target`, by the rules in the module docs.
pub fn convert_array(
    array: &ArrayRef,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    use DataType::*;
    let from = array.data_type();
    if from == target {
        return Ok(array.clone());
    }
    if same_shape(from, target) {
        return relabel(array, target).map_err(|_| incompatible(column, from, target));
    }
    match (from, target) {
        (Struct(_), Struct(fields)) => {
            convert_struct(array.as_struct(), fields, column).map(|s| Arc::new(s) as ArrayRef)
        }
        (List(_), List(field)) => convert_list(array, field, column),
        (Map(_, _), Map(entries, sorted)) => convert_map(array, entries, *sorted, column),
        (f, t) if is_reinterpretation(f, t) => reinterpret(array, target, column),
        (Timestamp(fu, _), Timestamp(tu, _)) => rescale_timestamp(array, *fu, *tu, target, column),
        (f, t) if is_string(f) && is_integer(t) => parse_integers(array, target, column),
        (f, t) if is_string(f) && is_float(t) => parse_floats(array, target, column),
        (f, t) if is_widening(f, t) => cast_checked(array, target, column),
        (f, t) if (is_integer(f) || is_float(f)) && is_string(t) => {
            cast_checked(array, target, column)
        }
        (
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..),
            Decimal128(..) | Decimal256(..),
        )
        | (Time32(_) | Time64(_), Time32(_) | Time64(_))
        | (Date64, Date32) => cast_checked(array, target, column),
        _ => Err(incompatible(column, from, target)),
    }
}

/// `arrow_cast` with overflow reported as an error (never a silent null).
fn cast_checked(
    array: &ArrayRef,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    arrow_cast::cast_with_options(array, target, &options).map_err(|e| ConvertError::OutOfRange {
        column: column.to_string(),
        value: e.to_string(),
        to: target.to_string(),
    })
}

/// The same buffers under another label (both types have the same native width).
fn reinterpret(
    array: &ArrayRef,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let data = array
        .to_data()
        .into_builder()
        .data_type(target.clone())
        .build()
        .map_err(|_| incompatible(column, array.data_type(), target))?;
    Ok(make_array(data))
}

fn unit_rank(u: TimeUnit) -> u32 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// A timestamp in another unit: microsecond labels read as milliseconds keep the value (see
/// the module docs), other changes rescale, to a finer unit with an overflow check.
fn rescale_timestamp(
    array: &ArrayRef,
    from: TimeUnit,
    to: TimeUnit,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    if from == TimeUnit::Microsecond && to == TimeUnit::Millisecond {
        return reinterpret(array, target, column);
    }
    let raw = reinterpret(array, &DataType::Int64, column)?;
    let raw = raw.as_primitive::<Int64Type>();
    let (f, t) = (unit_rank(from), unit_rank(to));
    let factor = 1000i64.pow(f.abs_diff(t));
    let scaled: Int64Array = if t >= f {
        raw.try_unary(|v| {
            v.checked_mul(factor)
                .ok_or_else(|| arrow_schema::ArrowError::ComputeError(v.to_string()))
        })
        .map_err(|e| ConvertError::OutOfRange {
            column: column.to_string(),
            value: match e {
                arrow_schema::ArrowError::ComputeError(v) => v,
                other => other.to_string(),
            },
            to: target.to_string(),
        })?
    } else {
        raw.unary(|v| v.div_euclid(factor))
    };
    reinterpret(&(Arc::new(scaled) as ArrayRef), target, column)
}

/// The `i`-th string of a string array of any offset width.
fn string_at(array: &ArrayRef, i: usize) -> Option<&str> {
    if array.is_null(i) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(array.as_string_view().value(i)),
        _ => None,
    }
}

fn unparsable(column: &str, value: &str, to: &DataType) -> ConvertError {
    ConvertError::Unparsable {
        column: column.to_string(),
        value: value.chars().take(64).collect(),
        to: to.to_string(),
    }
}

/// Strings holding decimal integers (an optional sign, digits) parsed into `target`.
fn parse_integers(
    array: &ArrayRef,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let mut values = Vec::with_capacity(array.len());
    for i in 0..array.len() {
        values.push(match string_at(array, i) {
            None => None,
            Some(s) => Some(parse_integer(s).ok_or_else(|| unparsable(column, s, target))?),
        });
    }
    let wide: ArrayRef = Arc::new(Int64Array::from(values));
    if target == &DataType::Int64 {
        return Ok(wide);
    }
    cast_checked(&wide, target, column)
}

fn parse_integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Strings holding numbers parsed into a floating-point `target`.
fn parse_floats(
    array: &ArrayRef,
    target: &DataType,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let mut values = Vec::with_capacity(array.len());
    for i in 0..array.len() {
        values.push(match string_at(array, i) {
            None => None,
            Some(s) => Some(
                s.parse::<f64>()
                    .map_err(|_| unparsable(column, s, target))?,
            ),
        });
    }
    let wide: ArrayRef = Arc::new(Float64Array::from(values));
    if target == &DataType::Float64 {
        return Ok(wide);
    }
    cast_checked(&wide, target, column)
}

fn child_path(column: &str, name: &str) -> String {
    if column.is_empty() {
        name.to_string()
    } else {
        format!("{column}.{name}")
    }
}

/// A record's children by name: missing ones all-null, extra ones dropped.
fn convert_struct(
    s: &StructArray,
    fields: &Fields,
    column: &str,
) -> Result<StructArray, ConvertError> {
    let mut children = Vec::with_capacity(fields.len());
    for f in fields.iter() {
        let path = child_path(column, f.name());
        children.push(match s.column_by_name(f.name()) {
            Some(c) => convert_array(c, f.data_type(), &path)?,
            None => new_null_array(f.data_type(), s.len()),
        });
    }
    if fields.is_empty() {
        return Ok(StructArray::new_empty_fields(s.len(), s.nulls().cloned()));
    }
    StructArray::try_new(fields.clone(), children, s.nulls().cloned())
        .map_err(|_| incompatible(column, s.data_type(), &DataType::Struct(fields.clone())))
}

fn convert_list(
    array: &ArrayRef,
    field: &FieldRef,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let list = array.as_list::<i32>();
    let values = convert_array(list.values(), field.data_type(), &format!("{column}[]"))?;
    ListArray::try_new(
        field.clone(),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )
    .map(|l| Arc::new(l) as ArrayRef)
    .map_err(|_| incompatible(column, array.data_type(), &DataType::List(field.clone())))
}

fn convert_map(
    array: &ArrayRef,
    entries: &FieldRef,
    sorted: bool,
    column: &str,
) -> Result<ArrayRef, ConvertError> {
    let target = DataType::Map(entries.clone(), sorted);
    let DataType::Struct(kv) = entries.data_type() else {
        return Err(incompatible(column, array.data_type(), &target));
    };
    let map = array.as_map();
    let inner = convert_struct(map.entries(), kv, &format!("{column}{{}}"))?;
    MapArray::try_new(
        entries.clone(),
        map.offsets().clone(),
        inner,
        map.nulls().cloned(),
        sorted,
    )
    .map(|m| Arc::new(m) as ArrayRef)
    .map_err(|_| incompatible(column, array.data_type(), &target))
}

/// Whether the table type `table` replaces a file's type `file`: when they differ in more
/// than nested field names and nullability (those labels stay as the file has them).
fn decides(file: &DataType, table: &DataType) -> bool {
    file != table && !same_shape(file, table)
}

/// `schema` with each column the table schema knows taking the table's type (nullable);
/// columns the table schema lacks, or whose types differ only in nested labels, keep their
/// file type.
pub fn with_table_types(schema: &Schema, table: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match table.field_with_name(f.name()) {
                Ok(t) if decides(f.data_type(), t.data_type()) => f
                    .as_ref()
                    .clone()
                    .with_data_type(t.data_type().clone())
                    .with_nullable(true),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// `batch` with every column whose type `table` decides differently converted to the
/// table's type; other columns unchanged.
pub fn conform_batch(batch: &RecordBatch, table: &Schema) -> Result<RecordBatch, ConvertError> {
    let schema = batch.schema();
    let mut changed = false;
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        match table.field_with_name(f.name()) {
            Ok(t) if decides(c.data_type(), t.data_type()) => {
                columns.push(convert_array(c, t.data_type(), f.name())?);
                fields.push(
                    f.as_ref()
                        .clone()
                        .with_data_type(t.data_type().clone())
                        .with_nullable(true),
                );
                changed = true;
            }
            _ => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
    }
    if !changed {
        return Ok(batch.clone());
    }
    let out: SchemaRef = Arc::new(Schema::new(fields));
    RecordBatch::try_new_with_options(
        out,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(|e| ConvertError::Incompatible {
        column: String::new(),
        from: e.to_string(),
        to: "the table schema".into(),
    })
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
