//! Avro binary datums → Arrow, for AVRO_DATA log blocks.
//!
//! A decoder tree is built once per writer schema (and target Arrow schema); each record is
//! then decoded straight into Arrow builders, without an intermediate value tree.
//!
//! The Avro → Arrow mapping matches what `parquet-avro` writes for the same schema in base
//! files (and what the `parquet` crate reads back): `[null, T]` unions → nullable `T`,
//! decimals (fixed or bytes) → `Decimal128(p, s)` (at most 38 digits), `date` →
//! `Date32`, `timestamp-micros`/`-millis`/`-nanos` → `Timestamp(unit, "UTC")`,
//! `local-timestamp-*` → `Timestamp(unit, None)`, `time-millis` → `Time32(ms)`, `time-micros`
//! → `Time64(µs)`, enums and uuids → `Utf8`, `fixed` → `FixedSizeBinary`, records →
//! `Struct`, arrays → `List` (item field `element`), maps → `Map` (entries `key_value` with a
//! non-null `key` and a `value`).
//!
//! With a target schema (e.g. the base file's), columns are matched by name, so schema
//! evolution works: a target column the writer lacks is all-null, a writer field the target
//! lacks is skipped, numbers widen (int → long → float → double), timestamps rescale to a finer
//! unit, decimals to a larger scale. The target type also repairs what older writers wrote:
//! a timestamp, time or date logical type read into a plain integer column (or a plain
//! integer into such a column) keeps its stored value, a `timestamp-micros` value read into a
//! millisecond column keeps its value (0.x writers labelled millisecond values so), a
//! nanosecond value read into a coarser column is floored, and a string read into a numeric
//! column must hold a number (the error names the column and the value). Decimals wider than
//! 38 digits are refused. Anything else is a typed error naming the column. The
//! decoder is written against the Avro spec and checks every length against the bytes present
//! (`apache-avro`'s own decoder pre-allocates untrusted array lengths): hostile input yields an
//! error, never a panic or a huge allocation. `apache-avro` is used to parse schemas.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apache_avro::Schema as AvroSchema;
use apache_avro::schema::{DecimalSchema, Name, RecordField};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, LargeStringBuilder, StringBuilder,
};
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, Decimal128Array, Decimal256Array, ListArray, MapArray,
    PrimitiveArray, RecordBatch, RecordBatchOptions, StructArray, new_null_array,
};
use arrow_buffer::{NullBuffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer, i256};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};

use super::avro_binary::{AvroRead, AvroReadError, Cursor};

const MAX_DEPTH: usize = 64;

/// The widest decimal Hudi's writers produce (Spark's limit); wider Avro decimals are refused.
const MAX_DECIMAL_PRECISION: usize = 38;

fn ferr<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Schema mapping
// ---------------------------------------------------------------------------------------------

/// Named types of a writer schema, for resolving `Schema::Ref`.
struct Names(HashMap<Name, AvroSchema>);

impl Names {
    fn of(schema: &AvroSchema) -> Result<Names, String> {
        let rs =
            apache_avro::schema::ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
        Ok(Names(
            rs.get_names()
                .iter()
                .map(|(k, v)| (k.clone(), (*v).clone()))
                .collect(),
        ))
    }

    fn resolve<'a>(&'a self, schema: &'a AvroSchema) -> Result<&'a AvroSchema, String> {
        match schema {
            AvroSchema::Ref { name } => self
                .0
                .get(name)
                .ok_or_else(|| format!("unresolved Avro type reference {}", name.fullname(None))),
            other => Ok(other),
        }
    }
}

/// A union's null branch (if any) and its single non-null branch (if any).
type UnionParts<'a> = (Option<usize>, Option<(usize, &'a AvroSchema)>);

/// The non-null branch of a union and whether it has a null branch, or an error for unions
/// of several non-null types.
fn union_parts<'a>(branches: &'a [AvroSchema], path: &str) -> Result<UnionParts<'a>, String> {
    let null_index = branches.iter().position(|b| matches!(b, AvroSchema::Null));
    let mut non_null = branches
        .iter()
        .enumerate()
        .filter(|(_, b)| !matches!(b, AvroSchema::Null));
    let first = non_null.next();
    if non_null.next().is_some() {
        return ferr(format!(
            "column {path}: Avro unions of several non-null types are not supported ({} branches)",
            branches.len()
        ));
    }
    Ok((null_index, first))
}

/// The default Arrow type of an Avro type, and whether it is nullable.
fn arrow_type(
    schema: &AvroSchema,
    names: &Names,
    path: &str,
    depth: usize,
) -> Result<(DataType, bool), String> {
    if depth > MAX_DEPTH {
        return ferr(format!(
            "column {path}: schema nested deeper than {MAX_DEPTH} levels (recursive type?)"
        ));
    }
    let schema = names.resolve(schema)?;
    let dt = match schema {
        AvroSchema::Union(u) => {
            let (null_index, value) = union_parts(u.variants(), path)?;
            return match value {
                Some((_, v)) => Ok((
                    arrow_type(v, names, path, depth + 1)?.0,
                    null_index.is_some(),
                )),
                None => Ok((DataType::Null, true)),
            };
        }
        AvroSchema::Null => return Ok((DataType::Null, true)),
        AvroSchema::Boolean => DataType::Boolean,
        AvroSchema::Int => DataType::Int32,
        AvroSchema::Long => DataType::Int64,
        AvroSchema::Float => DataType::Float32,
        AvroSchema::Double => DataType::Float64,
        AvroSchema::Bytes => DataType::Binary,
        AvroSchema::String | AvroSchema::Uuid | AvroSchema::Enum(_) => DataType::Utf8,
        AvroSchema::Fixed(f) => DataType::FixedSizeBinary(fixed_size(f.size, path)?),
        AvroSchema::Duration => DataType::FixedSizeBinary(12),
        AvroSchema::Decimal(d) => decimal_type(d.precision, d.scale, path)?,
        AvroSchema::BigDecimal => {
            return ferr(format!("column {path}: Avro big-decimal is not supported"));
        }
        AvroSchema::Date => DataType::Date32,
        AvroSchema::TimeMillis => DataType::Time32(TimeUnit::Millisecond),
        AvroSchema::TimeMicros => DataType::Time64(TimeUnit::Microsecond),
        AvroSchema::TimestampMillis => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        AvroSchema::TimestampMicros => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        AvroSchema::TimestampNanos => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        AvroSchema::LocalTimestampMillis => DataType::Timestamp(TimeUnit::Millisecond, None),
        AvroSchema::LocalTimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, None),
        AvroSchema::LocalTimestampNanos => DataType::Timestamp(TimeUnit::Nanosecond, None),
        AvroSchema::Record(r) => DataType::Struct(record_fields(&r.fields, names, path, depth)?),
        AvroSchema::Array(a) => {
            let (item, nullable) = arrow_type(&a.items, names, &format!("{path}[]"), depth + 1)?;
            DataType::List(Arc::new(Field::new("element", item, nullable)))
        }
        AvroSchema::Map(m) => {
            let (value, nullable) = arrow_type(&m.types, names, &format!("{path}{{}}"), depth + 1)?;
            let entries = Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", value, nullable),
            ]);
            DataType::Map(
                Arc::new(Field::new("key_value", DataType::Struct(entries), false)),
                false,
            )
        }
        AvroSchema::Ref { .. } => return ferr(format!("column {path}: unresolved type reference")),
    };
    Ok((dt, false))
}

fn record_fields(
    fields: &[RecordField],
    names: &Names,
    path: &str,
    depth: usize,
) -> Result<Fields, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        if !seen.insert(f.name.as_str()) {
            return ferr(format!("record {path} repeats field {}", f.name));
        }
        let child = if path.is_empty() {
            f.name.clone()
        } else {
            format!("{path}.{}", f.name)
        };
        let (dt, nullable) = arrow_type(&f.schema, names, &child, depth + 1)?;
        out.push(Field::new(&f.name, dt, nullable));
    }
    Ok(Fields::from(out))
}

fn fixed_size(size: usize, path: &str) -> Result<i32, String> {
    i32::try_from(size).map_err(|_| format!("column {path}: fixed size {size} too large"))
}

fn decimal_type(precision: usize, scale: usize, path: &str) -> Result<DataType, String> {
    let (p, s) = match (u8::try_from(precision), i8::try_from(scale)) {
        (Ok(p), Ok(s)) if p > 0 && (s as usize) <= precision => (p, s),
        _ => {
            return ferr(format!(
                "column {path}: invalid decimal({precision}, {scale})"
            ));
        }
    };
    if precision <= MAX_DECIMAL_PRECISION {
        Ok(DataType::Decimal128(p, s))
    } else {
        ferr(format!(
            "column {path}: decimal precision {precision} exceeds {MAX_DECIMAL_PRECISION} digits \
             (the most Hudi writers produce)"
        ))
    }
}

/// The Arrow schema the Avro record schema `avro_json` maps to (all top-level fields, in
/// order, with the mapping described in the module docs).
pub fn avro_schema_to_arrow(avro_json: &str) -> Result<Schema, String> {
    let schema = AvroSchema::parse_str(avro_json).map_err(|e| e.to_string())?;
    let names = Names::of(&schema)?;
    match names.resolve(&schema)? {
        AvroSchema::Record(r) => Ok(Schema::new(record_fields(&r.fields, &names, "", 0)?)),
        other => ferr(format!(
            "top-level Avro schema must be a record, found {other:?}"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Skipping (writer fields the target does not want)
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Skip {
    Nothing,
    Boolean,
    Varint,
    Float,
    Double,
    Bytes,
    Fixed(usize),
    Array(Box<Skip>, usize),
    Map(Box<Skip>, usize),
    Record(Vec<Skip>),
    Union(Vec<Skip>),
}

impl Skip {
    fn build(schema: &AvroSchema, names: &Names, depth: usize) -> Result<Skip, String> {
        if depth > MAX_DEPTH {
            return ferr(format!(
                "schema nested deeper than {MAX_DEPTH} levels (recursive type?)"
            ));
        }
        Ok(match names.resolve(schema)? {
            AvroSchema::Null => Skip::Nothing,
            AvroSchema::Boolean => Skip::Boolean,
            AvroSchema::Int
            | AvroSchema::Long
            | AvroSchema::Enum(_)
            | AvroSchema::Date
            | AvroSchema::TimeMillis
            | AvroSchema::TimeMicros
            | AvroSchema::TimestampMillis
            | AvroSchema::TimestampMicros
            | AvroSchema::TimestampNanos
            | AvroSchema::LocalTimestampMillis
            | AvroSchema::LocalTimestampMicros
            | AvroSchema::LocalTimestampNanos => Skip::Varint,
            AvroSchema::Float => Skip::Float,
            AvroSchema::Double => Skip::Double,
            AvroSchema::Bytes | AvroSchema::String | AvroSchema::Uuid | AvroSchema::BigDecimal => {
                Skip::Bytes
            }
            AvroSchema::Fixed(f) => Skip::Fixed(f.size),
            AvroSchema::Duration => Skip::Fixed(12),
            AvroSchema::Decimal(d) => Skip::build(&d.inner, names, depth + 1)?,
            AvroSchema::Array(a) => {
                let item = Skip::build(&a.items, names, depth + 1)?;
                let min = item.min_bytes();
                Skip::Array(Box::new(item), min)
            }
            AvroSchema::Map(m) => {
                let value = Skip::build(&m.types, names, depth + 1)?;
                let min = 1 + value.min_bytes();
                Skip::Map(Box::new(value), min)
            }
            AvroSchema::Record(r) => Skip::Record(
                r.fields
                    .iter()
                    .map(|f| Skip::build(&f.schema, names, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            AvroSchema::Union(u) => Skip::Union(
                u.variants()
                    .iter()
                    .map(|v| Skip::build(v, names, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            AvroSchema::Ref { .. } => return ferr("unresolved type reference"),
        })
    }

    fn min_bytes(&self) -> usize {
        match self {
            Skip::Nothing => 0,
            Skip::Boolean
            | Skip::Varint
            | Skip::Bytes
            | Skip::Array(..)
            | Skip::Map(..)
            | Skip::Union(_) => 1,
            Skip::Float => 4,
            Skip::Double => 8,
            Skip::Fixed(n) => *n,
            Skip::Record(fields) => fields.iter().map(Skip::min_bytes).sum(),
        }
    }

    fn skip(&self, c: &mut Cursor<'_>) -> AvroRead<()> {
        match self {
            Skip::Nothing => {}
            Skip::Boolean => {
                c.read_boolean()?;
            }
            Skip::Varint => {
                c.read_long()?;
            }
            Skip::Float => {
                c.take(4)?;
            }
            Skip::Double => {
                c.take(8)?;
            }
            Skip::Bytes => {
                c.read_bytes()?;
            }
            Skip::Fixed(n) => {
                c.take(*n)?;
            }
            Skip::Array(item, min) => loop {
                let n = c.read_block_count(*min)?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    item.skip(c)?;
                }
            },
            Skip::Map(value, min) => loop {
                let n = c.read_block_count(*min)?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    c.read_bytes()?;
                    value.skip(c)?;
                }
            },
            Skip::Record(fields) => {
                for f in fields {
                    f.skip(c)?;
                }
            }
            Skip::Union(branches) => {
                let i = c.read_union_index(branches.len())?;
                branches[i].skip(c)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------------

/// How an integer-like Avro value is read.
#[derive(Debug, Clone)]
enum IntSrc {
    Int,
    Long,
    /// A string holding a decimal integer (Spark SQL's writes of a timestamp key
    /// generator's partition field); the column path names it in errors.
    Str(Arc<str>),
}

/// How a floating-point column is fed.
#[derive(Debug, Clone)]
enum FloatSrc {
    Int,
    Long,
    Float,
    Double,
    /// A string holding a number; the column path names it in errors.
    Str(Arc<str>),
}

/// How a string column is fed.
#[derive(Debug)]
enum StrSrc {
    String,
    Enum(Vec<String>),
}

/// How a binary column is fed.
#[derive(Debug, Clone, Copy)]
enum BinSrc {
    Bytes,
    Fixed(usize),
}

/// One node of the decoder tree: reads one Avro value and appends it to its Arrow column.
#[derive(Debug)]
enum Decoder {
    /// A column the writer does not provide (or provides as `null`): always null.
    Missing {
        data_type: DataType,
        len: usize,
    },
    Boolean(BooleanBuilder),
    /// Integers, dates, times and timestamps: `value * mult / div` (floored), stored at the
    /// target's width.
    Int {
        src: IntSrc,
        mult: i64,
        div: i64,
        values: Vec<i64>,
        nulls: NullBufferBuilder,
        data_type: DataType,
    },
    Float {
        src: FloatSrc,
        values: Vec<f64>,
        nulls: NullBufferBuilder,
        data_type: DataType,
    },
    Utf8 {
        src: StrSrc,
        builder: StringBuilder,
    },
    LargeUtf8 {
        src: StrSrc,
        builder: LargeStringBuilder,
    },
    Binary {
        src: BinSrc,
        builder: BinaryBuilder,
    },
    FixedBinary {
        size: usize,
        builder: FixedSizeBinaryBuilder,
    },
    Decimal {
        src: BinSrc,
        mult: i256,
        values: Vec<i256>,
        nulls: NullBufferBuilder,
        data_type: DataType,
    },
    Struct(StructDecoder),
    List {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        item: Box<Decoder>,
        min_item: usize,
    },
    Map {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        keys: StringBuilder,
        values: Box<Decoder>,
        min_item: usize,
    },
    /// A union: `null_index` appends null, `value_index` decodes `inner`.
    Union {
        branches: usize,
        null_index: Option<usize>,
        value_index: usize,
        inner: Box<Decoder>,
    },
}

/// A record: decodes fields in writer order into children in target order.
#[derive(Debug)]
struct StructDecoder {
    fields: Fields,
    children: Vec<Decoder>,
    /// One step per writer field.
    steps: Vec<Step>,
    /// Children the writer does not provide (all null).
    missing: Vec<usize>,
    nulls: NullBufferBuilder,
    len: usize,
}

#[derive(Debug)]
enum Step {
    Decode(usize),
    Skip(Skip),
}

fn int_width_ok(dt: &DataType, v: i64) -> bool {
    match dt {
        DataType::Int8 => i8::try_from(v).is_ok(),
        DataType::Int16 => i16::try_from(v).is_ok(),
        DataType::Int32 | DataType::Date32 | DataType::Time32(_) => i32::try_from(v).is_ok(),
        _ => true,
    }
}

fn be_to_i256(b: &[u8]) -> Result<i256, String> {
    if b.is_empty() {
        return Ok(i256::ZERO);
    }
    let negative = b[0] & 0x80 != 0;
    let (head, tail) = if b.len() > 32 {
        b.split_at(b.len() - 32)
    } else {
        (&[][..], b)
    };
    let fill = if negative { 0xff } else { 0x00 };
    if head.iter().any(|x| *x != fill) || (!head.is_empty() && ((tail[0] & 0x80 != 0) != negative))
    {
        return ferr(format!(
            "decimal of {} bytes does not fit 256 bits",
            b.len()
        ));
    }
    let mut buf = [fill; 32];
    buf[32 - tail.len()..].copy_from_slice(tail);
    Ok(i256::from_be_bytes(buf))
}

fn pow10(exp: u32) -> Option<i256> {
    let mut v = i256::ONE;
    for _ in 0..exp {
        v = v.checked_mul(i256::from_i128(10))?;
    }
    Some(v)
}

/// The factor from time unit `from` to the finer or equal unit `to` (`None` when `to` is
/// coarser).
fn unit_mult(from: TimeUnit, to: &TimeUnit) -> Option<i64> {
    let rank = |u: &TimeUnit| match u {
        TimeUnit::Second => 0u32,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    let (f, t) = (rank(&from), rank(to));
    (t >= f).then(|| 1000i64.pow(t - f))
}

fn mismatch<T>(path: &str, writer: &AvroSchema, target: &DataType) -> Result<T, String> {
    ferr(format!(
        "column {path}: Avro type {} cannot be read as Arrow {target}",
        avro_type_name(writer)
    ))
}

fn avro_type_name(s: &AvroSchema) -> String {
    match s {
        AvroSchema::Record(r) => format!("record {}", r.name.fullname(None)),
        AvroSchema::Enum(e) => format!("enum {}", e.name.fullname(None)),
        AvroSchema::Fixed(f) => format!("fixed({})", f.size),
        AvroSchema::Decimal(d) => format!("decimal({}, {})", d.precision, d.scale),
        AvroSchema::Array(_) => "array".into(),
        AvroSchema::Map(_) => "map".into(),
        AvroSchema::Union(_) => "union".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl Decoder {
    fn missing(data_type: &DataType) -> Decoder {
        Decoder::Missing {
            data_type: data_type.clone(),
            len: 0,
        }
    }

    /// Build the decoder reading Avro `writer` into Arrow `target`.
    fn build(
        writer: &AvroSchema,
        target: &DataType,
        names: &Names,
        path: &str,
        depth: usize,
    ) -> Result<Decoder, String> {
        if depth > MAX_DEPTH {
            return ferr(format!(
                "column {path}: schema nested deeper than {MAX_DEPTH} levels (recursive type?)"
            ));
        }
        let writer = names.resolve(writer)?;
        if let AvroSchema::Union(u) = writer {
            let (null_index, value) = union_parts(u.variants(), path)?;
            return match value {
                None => Ok(Decoder::Union {
                    branches: u.variants().len(),
                    null_index,
                    value_index: usize::MAX,
                    inner: Box::new(Decoder::missing(target)),
                }),
                Some((value_index, v)) => Ok(Decoder::Union {
                    branches: u.variants().len(),
                    null_index,
                    value_index,
                    inner: Box::new(Decoder::build(v, target, names, path, depth + 1)?),
                }),
            };
        }
        use AvroSchema as A;
        use DataType as D;
        match (writer, target) {
            (A::Null, _) => Ok(Decoder::missing(target)),
            (_, D::Null) => mismatch(path, writer, target),
            (A::Decimal(d), D::Decimal128(_, s) | D::Decimal256(_, s)) => {
                Decoder::decimal(d, *s, writer, target, names, path)
            }
            (A::Record(_) | A::Array(_) | A::Map(_), _) => {
                Decoder::nested(writer, target, names, path, depth)
            }
            _ => match Decoder::number(writer, target) {
                Some(d) => Ok(d),
                None => Decoder::bytes(writer, target, path)
                    .map_or_else(|| mismatch(path, writer, target), Ok),
            },
        }
    }

    /// Integers, floats, dates, times and timestamps (`None`: not a numeric pair).
    fn number(writer: &AvroSchema, target: &DataType) -> Option<Decoder> {
        use AvroSchema as A;
        use DataType as D;
        let scaled = |src: IntSrc, mult: i64, div: i64| Decoder::Int {
            src,
            mult,
            div,
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            data_type: target.clone(),
        };
        let int = |src: IntSrc, mult: i64| Some(scaled(src, mult, 1));
        let float = |src: FloatSrc| {
            Some(Decoder::Float {
                src,
                values: Vec::new(),
                nulls: NullBufferBuilder::new(0),
                data_type: target.clone(),
            })
        };
        match (writer, target) {
            (A::Boolean, D::Boolean) => Some(Decoder::Boolean(BooleanBuilder::new())),
            (A::Int, D::Int8 | D::Int16 | D::Int32 | D::Int64) => int(IntSrc::Int, 1),
            (A::Long, D::Int64) => int(IntSrc::Long, 1),
            (A::Date, D::Date32) => int(IntSrc::Int, 1),
            (A::Date, D::Date64) => int(IntSrc::Int, 86_400_000),
            (A::TimeMillis, D::Time32(TimeUnit::Millisecond)) => int(IntSrc::Int, 1),
            (A::TimeMillis, D::Time64(u)) => int(
                IntSrc::Int,
                unit_mult(TimeUnit::Millisecond, u).unwrap_or(1),
            ),
            (A::TimeMicros, D::Time64(TimeUnit::Microsecond)) => int(IntSrc::Long, 1),
            (A::TimeMicros, D::Time64(TimeUnit::Nanosecond)) => int(IntSrc::Long, 1000),
            (
                A::TimestampMillis
                | A::LocalTimestampMillis
                | A::TimestampMicros
                | A::LocalTimestampMicros
                | A::TimestampNanos
                | A::LocalTimestampNanos
                | A::Long,
                D::Timestamp(unit, _),
            ) => {
                let from = match writer {
                    A::TimestampMillis | A::LocalTimestampMillis => TimeUnit::Millisecond,
                    A::TimestampNanos | A::LocalTimestampNanos => TimeUnit::Nanosecond,
                    A::Long => *unit,
                    _ => TimeUnit::Microsecond,
                };
                match (unit_mult(from, unit), unit_mult(*unit, &from)) {
                    (Some(m), _) => int(IntSrc::Long, m),
                    // old writers labelled millisecond values as microseconds: the table's
                    // millisecond type is right, the value stays
                    (None, _) if from == TimeUnit::Microsecond => int(IntSrc::Long, 1),
                    (None, Some(d)) => Some(scaled(IntSrc::Long, 1, d)),
                    (None, None) => None,
                }
            }
            // a logical type the table does not have (or the other way round): the stored
            // epoch, day or time-of-day count is kept, only the label changes
            (
                A::TimestampMillis
                | A::LocalTimestampMillis
                | A::TimestampMicros
                | A::LocalTimestampMicros
                | A::TimestampNanos
                | A::LocalTimestampNanos
                | A::TimeMicros,
                D::Int64,
            ) => int(IntSrc::Long, 1),
            (A::Date | A::TimeMillis, D::Int32 | D::Int64) => int(IntSrc::Int, 1),
            (A::Int, D::Date32 | D::Time32(_)) => int(IntSrc::Int, 1),
            (A::Long, D::Time64(_)) => int(IntSrc::Long, 1),
            (A::Int, D::Float32 | D::Float64) => float(FloatSrc::Int),
            (A::Long, D::Float32 | D::Float64) => float(FloatSrc::Long),
            (A::Float, D::Float32 | D::Float64) => float(FloatSrc::Float),
            (A::Double, D::Float64) => float(FloatSrc::Double),
            _ => None,
        }
    }

    /// Strings, enums, bytes and fixed (`None`: not such a pair). Numbers written as strings
    /// are parsed, so they are here too.
    fn bytes(writer: &AvroSchema, target: &DataType, path: &str) -> Option<Decoder> {
        use AvroSchema as A;
        use DataType as D;
        let parsed_int = || Decoder::Int {
            src: IntSrc::Str(Arc::from(path)),
            mult: 1,
            div: 1,
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            data_type: target.clone(),
        };
        Some(match (writer, target) {
            (A::String, D::Int8 | D::Int16 | D::Int32 | D::Int64) => parsed_int(),
            (A::String, D::Float32 | D::Float64) => Decoder::Float {
                src: FloatSrc::Str(Arc::from(path)),
                values: Vec::new(),
                nulls: NullBufferBuilder::new(0),
                data_type: target.clone(),
            },
            (A::String | A::Uuid, D::Utf8) => Decoder::Utf8 {
                src: StrSrc::String,
                builder: StringBuilder::new(),
            },
            (A::String | A::Uuid, D::LargeUtf8) => Decoder::LargeUtf8 {
                src: StrSrc::String,
                builder: LargeStringBuilder::new(),
            },
            (A::Enum(e), D::Utf8) => Decoder::Utf8 {
                src: StrSrc::Enum(e.symbols.clone()),
                builder: StringBuilder::new(),
            },
            (A::Enum(e), D::LargeUtf8) => Decoder::LargeUtf8 {
                src: StrSrc::Enum(e.symbols.clone()),
                builder: LargeStringBuilder::new(),
            },
            (A::Bytes | A::String, D::Binary) => Decoder::Binary {
                src: BinSrc::Bytes,
                builder: BinaryBuilder::new(),
            },
            (A::Fixed(f), D::Binary) => Decoder::Binary {
                src: BinSrc::Fixed(f.size),
                builder: BinaryBuilder::new(),
            },
            (A::Fixed(f), D::FixedSizeBinary(n)) if usize::try_from(*n) == Ok(f.size) => {
                Decoder::FixedBinary {
                    size: f.size,
                    builder: FixedSizeBinaryBuilder::new(*n),
                }
            }
            (A::Duration, D::FixedSizeBinary(12)) => Decoder::FixedBinary {
                size: 12,
                builder: FixedSizeBinaryBuilder::new(12),
            },
            _ => return None,
        })
    }

    /// An Avro decimal (over fixed or bytes) into a decimal of scale `scale` (not smaller).
    fn decimal(
        d: &DecimalSchema,
        scale: i8,
        writer: &AvroSchema,
        target: &DataType,
        names: &Names,
        path: &str,
    ) -> Result<Decoder, String> {
        if d.precision > MAX_DECIMAL_PRECISION {
            return ferr(format!(
                "column {path}: decimal precision {} exceeds {MAX_DECIMAL_PRECISION} digits \
                 (the most Hudi writers produce)",
                d.precision
            ));
        }
        let src = match names.resolve(&d.inner)? {
            AvroSchema::Fixed(f) => BinSrc::Fixed(f.size),
            AvroSchema::Bytes => BinSrc::Bytes,
            other => return ferr(format!("column {path}: decimal over {other:?}")),
        };
        let target_scale = i64::from(scale);
        let writer_scale = i64::try_from(d.scale).unwrap_or(i64::MAX);
        if target_scale < writer_scale {
            return mismatch(path, writer, target);
        }
        let mult = u32::try_from(target_scale - writer_scale)
            .ok()
            .and_then(pow10)
            .ok_or_else(|| format!("column {path}: decimal rescale overflows"))?;
        Ok(Decoder::Decimal {
            src,
            mult,
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            data_type: target.clone(),
        })
    }

    /// Records, arrays and maps into structs, lists and maps.
    fn nested(
        writer: &AvroSchema,
        target: &DataType,
        names: &Names,
        path: &str,
        depth: usize,
    ) -> Result<Decoder, String> {
        use AvroSchema as A;
        use DataType as D;
        Ok(match (writer, target) {
            (A::Record(r), D::Struct(fields)) => {
                Decoder::Struct(StructDecoder::build(&r.fields, fields, names, path, depth)?)
            }
            (A::Array(a), D::List(field)) => {
                let item = Decoder::build(
                    &a.items,
                    field.data_type(),
                    names,
                    &format!("{path}[]"),
                    depth + 1,
                )?;
                let min_item = Skip::build(&a.items, names, depth + 1)?.min_bytes();
                Decoder::List {
                    field: field.clone(),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    item: Box::new(item),
                    min_item,
                }
            }
            (A::Map(m), D::Map(entries, _)) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    return mismatch(path, writer, target);
                };
                if kv.len() != 2 || kv[0].data_type() != &DataType::Utf8 {
                    return mismatch(path, writer, target);
                }
                let values = Decoder::build(
                    &m.types,
                    kv[1].data_type(),
                    names,
                    &format!("{path}{{}}"),
                    depth + 1,
                )?;
                let min_item = 1 + Skip::build(&m.types, names, depth + 1)?.min_bytes();
                Decoder::Map {
                    field: entries.clone(),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    keys: StringBuilder::new(),
                    values: Box::new(values),
                    min_item,
                }
            }
            _ => return mismatch(path, writer, target),
        })
    }

    fn append_null(&mut self) {
        match self {
            Decoder::Missing { len, .. } => *len += 1,
            Decoder::Boolean(b) => b.append_null(),
            Decoder::Int { values, nulls, .. } => {
                values.push(0);
                nulls.append_null();
            }
            Decoder::Float { values, nulls, .. } => {
                values.push(0.0);
                nulls.append_null();
            }
            Decoder::Utf8 { builder, .. } => builder.append_null(),
            Decoder::LargeUtf8 { builder, .. } => builder.append_null(),
            Decoder::Binary { builder, .. } => builder.append_null(),
            Decoder::FixedBinary { builder, .. } => builder.append_null(),
            Decoder::Decimal { values, nulls, .. } => {
                values.push(i256::ZERO);
                nulls.append_null();
            }
            Decoder::Struct(s) => s.append_null(),
            Decoder::List { offsets, nulls, .. } | Decoder::Map { offsets, nulls, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
                nulls.append_null();
            }
            Decoder::Union { inner, .. } => inner.append_null(),
        }
    }

    fn decode(&mut self, c: &mut Cursor<'_>) -> AvroRead<()> {
        match self {
            Decoder::Missing { len, .. } => *len += 1,
            Decoder::Boolean(b) => b.append_value(c.read_boolean()?),
            Decoder::Int {
                src,
                mult,
                div,
                values,
                nulls,
                data_type,
            } => {
                let raw = match src {
                    IntSrc::Int => i64::from(c.read_int()?),
                    IntSrc::Long => c.read_long()?,
                    IntSrc::Str(column) => parse_int_str(c.read_str()?, column, data_type)?,
                };
                let v = raw
                    .checked_mul(*mult)
                    .map(|v| v.div_euclid(*div))
                    .filter(|v| int_width_ok(data_type, *v))
                    .ok_or_else(|| {
                        AvroReadError(format!("value {raw} does not fit Arrow {data_type}"))
                    })?;
                values.push(v);
                nulls.append_non_null();
            }
            Decoder::Float {
                src, values, nulls, ..
            } => {
                let v = match src {
                    FloatSrc::Int => f64::from(c.read_int()?),
                    FloatSrc::Long => c.read_long()? as f64,
                    FloatSrc::Float => f64::from(c.read_float()?),
                    FloatSrc::Double => c.read_double()?,
                    FloatSrc::Str(column) => {
                        let s = c.read_str()?;
                        s.trim().parse::<f64>().map_err(|_| {
                            AvroReadError(format!(
                                "column {column}: value {:?} is not a number",
                                s.chars().take(64).collect::<String>()
                            ))
                        })?
                    }
                };
                values.push(v);
                nulls.append_non_null();
            }
            Decoder::Utf8 { src, builder } => builder.append_value(read_str(src, c)?),
            Decoder::LargeUtf8 { src, builder } => builder.append_value(read_str(src, c)?),
            Decoder::Binary { src, builder } => builder.append_value(read_bin(*src, c)?),
            Decoder::FixedBinary { size, builder } => {
                let b = c.take(*size)?;
                builder
                    .append_value(b)
                    .map_err(|e| AvroReadError(e.to_string()))?;
            }
            Decoder::Decimal {
                src,
                mult,
                values,
                nulls,
                ..
            } => {
                let raw = be_to_i256(read_bin(*src, c)?).map_err(AvroReadError)?;
                let v = raw
                    .checked_mul(*mult)
                    .ok_or_else(|| AvroReadError("decimal rescale overflows".into()))?;
                values.push(v);
                nulls.append_non_null();
            }
            Decoder::Struct(s) => s.decode(c)?,
            Decoder::List {
                offsets,
                nulls,
                item,
                min_item,
                ..
            } => {
                let mut count = i64::from(offsets.last().copied().unwrap_or(0));
                loop {
                    let n = c.read_block_count(*min_item)?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        item.decode(c)?;
                    }
                    count += n as i64;
                }
                let end = i32::try_from(count)
                    .map_err(|_| AvroReadError("list has more than 2^31 items per batch".into()))?;
                offsets.push(end);
                nulls.append_non_null();
            }
            Decoder::Map {
                offsets,
                nulls,
                keys,
                values,
                min_item,
                ..
            } => {
                let mut count = i64::from(offsets.last().copied().unwrap_or(0));
                loop {
                    let n = c.read_block_count(*min_item)?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        keys.append_value(c.read_str()?);
                        values.decode(c)?;
                    }
                    count += n as i64;
                }
                let end = i32::try_from(count).map_err(|_| {
                    AvroReadError("map has more than 2^31 entries per batch".into())
                })?;
                offsets.push(end);
                nulls.append_non_null();
            }
            Decoder::Union {
                branches,
                null_index,
                value_index,
                inner,
            } => {
                let i = c.read_union_index(*branches)?;
                if Some(i) == *null_index {
                    inner.append_null();
                } else if i == *value_index {
                    inner.decode(c)?;
                } else {
                    return Err(AvroReadError(format!("union branch {i} is not decodable")));
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Decoder::Missing { data_type, len } => {
                let a = new_null_array(data_type, *len);
                *len = 0;
                a
            }
            Decoder::Boolean(b) => Arc::new(b.finish()),
            Decoder::Int {
                values,
                nulls,
                data_type,
                ..
            } => int_array(data_type, std::mem::take(values), nulls.finish())?,
            Decoder::Float {
                values,
                nulls,
                data_type,
                ..
            } => {
                let values = std::mem::take(values);
                match data_type {
                    DataType::Float32 => typed::<Float32Type>(
                        data_type,
                        values.into_iter().map(|v| v as f32).collect(),
                        nulls.finish(),
                    )?,
                    _ => typed::<Float64Type>(data_type, values, nulls.finish())?,
                }
            }
            Decoder::Utf8 { builder, .. } => Arc::new(builder.finish()),
            Decoder::LargeUtf8 { builder, .. } => Arc::new(builder.finish()),
            Decoder::Binary { builder, .. } => Arc::new(builder.finish()),
            Decoder::FixedBinary { builder, .. } => Arc::new(builder.finish()),
            Decoder::Decimal {
                values,
                nulls,
                data_type,
                ..
            } => {
                let values = std::mem::take(values);
                match &*data_type {
                    DataType::Decimal128(p, s) => {
                        let mut narrow = Vec::with_capacity(values.len());
                        for v in values {
                            narrow.push(v.to_i128().ok_or_else(|| {
                                ArrowError::InvalidArgumentError(format!(
                                    "decimal value {v} does not fit {data_type}"
                                ))
                            })?);
                        }
                        let array =
                            Decimal128Array::try_new(ScalarBuffer::from(narrow), nulls.finish())?
                                .with_precision_and_scale(*p, *s)?;
                        array.validate_decimal_precision(*p)?;
                        Arc::new(array)
                    }
                    DataType::Decimal256(p, s) => Arc::new(
                        Decimal256Array::try_new(ScalarBuffer::from(values), nulls.finish())?
                            .with_precision_and_scale(*p, *s)?,
                    ),
                    other => {
                        return Err(ArrowError::SchemaError(format!(
                            "decimal values cannot form a {other} column"
                        )));
                    }
                }
            }
            Decoder::Struct(s) => Arc::new(s.finish()?),
            Decoder::List {
                field,
                offsets,
                nulls,
                item,
                ..
            } => {
                let values = item.finish()?;
                let offsets =
                    OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])));
                Arc::new(ListArray::try_new(
                    field.clone(),
                    offsets,
                    values,
                    nulls.finish(),
                )?)
            }
            Decoder::Map {
                field,
                offsets,
                nulls,
                keys,
                values,
                ..
            } => {
                let DataType::Struct(kv) = field.data_type() else {
                    return Err(ArrowError::SchemaError(
                        "map entries are not a struct".into(),
                    ));
                };
                let keys: ArrayRef = Arc::new(keys.finish());
                let values = values.finish()?;
                let entries = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
                let offsets =
                    OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])));
                Arc::new(MapArray::try_new(
                    field.clone(),
                    offsets,
                    entries,
                    nulls.finish(),
                    false,
                )?)
            }
            Decoder::Union { inner, .. } => inner.finish()?,
        })
    }
}

/// A primitive array of `data_type` from native values; errors (never panics) when the type
/// does not match the native width.
fn typed<T: ArrowPrimitiveType>(
    data_type: &DataType,
    values: Vec<T::Native>,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, ArrowError> {
    if !PrimitiveArray::<T>::is_compatible(data_type) {
        return Err(ArrowError::SchemaError(format!(
            "{data_type} is not stored as {}",
            T::DATA_TYPE
        )));
    }
    Ok(Arc::new(
        PrimitiveArray::<T>::try_new(ScalarBuffer::from(values), nulls)?
            .with_data_type(data_type.clone()),
    ))
}

fn int_array(
    data_type: &DataType,
    values: Vec<i64>,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef, ArrowError> {
    use arrow_array::types::*;
    fn narrow<N: TryFrom<i64> + Default>(v: Vec<i64>) -> Vec<N> {
        // values were range-checked on decode
        v.into_iter()
            .map(|x| N::try_from(x).unwrap_or_default())
            .collect()
    }
    match data_type {
        DataType::Int8 => typed::<Int8Type>(data_type, narrow(values), nulls),
        DataType::Int16 => typed::<Int16Type>(data_type, narrow(values), nulls),
        DataType::Int32 => typed::<Int32Type>(data_type, narrow(values), nulls),
        DataType::Date32 => typed::<Date32Type>(data_type, narrow(values), nulls),
        DataType::Time32(TimeUnit::Second) => {
            typed::<Time32SecondType>(data_type, narrow(values), nulls)
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            typed::<Time32MillisecondType>(data_type, narrow(values), nulls)
        }
        DataType::Int64 => typed::<Int64Type>(data_type, values, nulls),
        DataType::Date64 => typed::<Date64Type>(data_type, values, nulls),
        DataType::Time64(TimeUnit::Microsecond) => {
            typed::<Time64MicrosecondType>(data_type, values, nulls)
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            typed::<Time64NanosecondType>(data_type, values, nulls)
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            typed::<TimestampSecondType>(data_type, values, nulls)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            typed::<TimestampMillisecondType>(data_type, values, nulls)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            typed::<TimestampMicrosecondType>(data_type, values, nulls)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            typed::<TimestampNanosecondType>(data_type, values, nulls)
        }
        other => Err(ArrowError::SchemaError(format!(
            "integer values cannot form a {other} column"
        ))),
    }
}

/// A string holding a decimal integer (optional sign, digits only), or an error naming the
/// column and the value.
fn parse_int_str(s: &str, column: &str, target: &DataType) -> AvroRead<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let parsed = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse::<i64>().ok())
        .flatten();
    parsed.ok_or_else(|| {
        AvroReadError(format!(
            "column {column}: value {:?} is not a number, cannot be read as Arrow {target}",
            s.chars().take(64).collect::<String>()
        ))
    })
}

fn read_str<'a>(src: &StrSrc, c: &mut Cursor<'a>) -> AvroRead<std::borrow::Cow<'a, str>> {
    match src {
        StrSrc::String => Ok(std::borrow::Cow::Borrowed(c.read_str()?)),
        StrSrc::Enum(symbols) => {
            let i = c.read_int()?;
            usize::try_from(i)
                .ok()
                .and_then(|i| symbols.get(i))
                .map(|s| std::borrow::Cow::Owned(s.clone()))
                .ok_or_else(|| {
                    AvroReadError(format!(
                        "enum index {i} out of range ({} symbols)",
                        symbols.len()
                    ))
                })
        }
    }
}

fn read_bin<'a>(src: BinSrc, c: &mut Cursor<'a>) -> AvroRead<&'a [u8]> {
    match src {
        BinSrc::Bytes => c.read_bytes(),
        BinSrc::Fixed(n) => c.take(n),
    }
}

impl StructDecoder {
    fn build(
        writer_fields: &[RecordField],
        target: &Fields,
        names: &Names,
        path: &str,
        depth: usize,
    ) -> Result<Self, String> {
        let mut children: Vec<Option<Decoder>> = (0..target.len()).map(|_| None).collect();
        let mut steps = Vec::with_capacity(writer_fields.len());
        for wf in writer_fields {
            let child_path = if path.is_empty() {
                wf.name.clone()
            } else {
                format!("{path}.{}", wf.name)
            };
            match target.iter().position(|f| f.name() == &wf.name) {
                Some(i) if children[i].is_none() => {
                    children[i] = Some(Decoder::build(
                        &wf.schema,
                        target[i].data_type(),
                        names,
                        &child_path,
                        depth + 1,
                    )?);
                    steps.push(Step::Decode(i));
                }
                Some(_) => return ferr(format!("record {path} repeats field {}", wf.name)),
                None => steps.push(Step::Skip(Skip::build(&wf.schema, names, depth + 1)?)),
            }
        }
        let missing = children
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_none())
            .map(|(i, _)| i)
            .collect();
        let children = children
            .into_iter()
            .zip(target.iter())
            .map(|(c, f)| c.unwrap_or_else(|| Decoder::missing(f.data_type())))
            .collect();
        Ok(StructDecoder {
            fields: target.clone(),
            children,
            steps,
            missing,
            nulls: NullBufferBuilder::new(0),
            len: 0,
        })
    }

    fn decode(&mut self, c: &mut Cursor<'_>) -> AvroRead<()> {
        // On failure the children are left ragged; the caller drops the decoder.
        for step in &self.steps {
            match step {
                Step::Decode(i) => self.children[*i].decode(c)?,
                Step::Skip(s) => s.skip(c)?,
            }
        }
        for &i in &self.missing {
            self.children[i].append_null();
        }
        self.nulls.append_non_null();
        self.len += 1;
        Ok(())
    }

    fn append_null(&mut self) {
        for child in &mut self.children {
            child.append_null();
        }
        self.nulls.append_null();
        self.len += 1;
    }

    fn finish(&mut self) -> Result<StructArray, ArrowError> {
        let arrays = self
            .children
            .iter_mut()
            .map(Decoder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let nulls = self.nulls.finish();
        let len = std::mem::take(&mut self.len);
        if self.fields.is_empty() {
            return Ok(StructArray::new_empty_fields(len, nulls));
        }
        StructArray::try_new(self.fields.clone(), arrays, nulls)
    }

    fn finish_batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
        let arrays = self
            .children
            .iter_mut()
            .map(Decoder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let _ = self.nulls.finish();
        let len = std::mem::take(&mut self.len);
        RecordBatch::try_new_with_options(
            schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(len)),
        )
    }
}

/// Decodes Avro binary datums of one writer schema into Arrow record batches.
#[derive(Debug)]
pub struct AvroRecordDecoder {
    schema: SchemaRef,
    root: StructDecoder,
}

impl AvroRecordDecoder {
    /// A decoder for records written with `writer_schema_json` (an Avro record schema), into
    /// `target` (matched by name; see the module docs) or, without a target, into the default
    /// mapping of the writer schema ([`avro_schema_to_arrow`]).
    pub fn try_new(writer_schema_json: &str, target: Option<SchemaRef>) -> Result<Self, String> {
        let writer = AvroSchema::parse_str(writer_schema_json).map_err(|e| e.to_string())?;
        let names = Names::of(&writer)?;
        let AvroSchema::Record(record) = names.resolve(&writer)? else {
            return ferr("top-level Avro schema must be a record");
        };
        let schema = match target {
            Some(t) => t,
            None => Arc::new(Schema::new(record_fields(&record.fields, &names, "", 0)?)),
        };
        let root = StructDecoder::build(&record.fields, schema.fields(), &names, "", 0)?;
        Ok(AvroRecordDecoder { schema, root })
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows decoded and not yet flushed.
    pub fn len(&self) -> usize {
        self.root.len
    }

    /// Whether no rows are pending.
    pub fn is_empty(&self) -> bool {
        self.root.len == 0
    }

    /// Decode one datum, which must consume `datum` exactly. On error the pending rows are
    /// unusable: drop the decoder.
    pub fn decode(&mut self, datum: &[u8]) -> Result<(), String> {
        let mut c = Cursor::new(datum);
        self.root.decode(&mut c).map_err(|e| e.0)?;
        if !c.is_empty() {
            return ferr(format!("{} trailing bytes after the record", c.remaining()));
        }
        Ok(())
    }

    /// Emit the pending rows as a batch (possibly empty) and reset.
    pub fn flush(&mut self) -> Result<RecordBatch, String> {
        self.root
            .finish_batch(&self.schema)
            .map_err(|e| e.to_string())
    }
}
