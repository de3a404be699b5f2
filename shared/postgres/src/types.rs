//! The Arrow → PostgreSQL type map (docs/type-map.md) and the widening lattice used by
//! schema evolution.

use std::fmt;

use arrow_schema::DataType;

/// PostgreSQL's largest `numeric` precision.
pub const MAX_NUMERIC_PRECISION: u32 = 1000;

/// A PostgreSQL column type as this crate creates, reads and encodes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `boolean`
    Bool,
    /// `smallint`
    Int2,
    /// `integer`
    Int4,
    /// `bigint`
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `numeric(p,s)`, or unconstrained `numeric` when `None`.
    Numeric(Option<(u32, u32)>),
    /// `text`
    Text,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `time without time zone`
    Time,
    /// `timestamp without time zone`
    Timestamp,
    /// `timestamp with time zone`
    Timestamptz,
    /// `jsonb`
    Jsonb,
    /// Any other type found in an existing table (as `format_type` renders it); never created,
    /// and only compatible with itself.
    Other(String),
}

impl PgType {
    /// The SQL spelling, identical to what `format_type()` returns.
    pub fn sql(&self) -> String {
        match self {
            PgType::Bool => "boolean".into(),
            PgType::Int2 => "smallint".into(),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float4 => "real".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Numeric(None) => "numeric".into(),
            PgType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            PgType::Text => "text".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Date => "date".into(),
            PgType::Time => "time without time zone".into(),
            PgType::Timestamp => "timestamp without time zone".into(),
            PgType::Timestamptz => "timestamp with time zone".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Other(s) => s.clone(),
        }
    }

    /// From a catalog row: type oid, `atttypmod`, and `format_type(oid, typmod)`.
    pub fn from_catalog(oid: u32, typmod: i32, formatted: &str) -> PgType {
        match oid {
            16 => PgType::Bool,
            21 => PgType::Int2,
            23 => PgType::Int4,
            20 => PgType::Int8,
            700 => PgType::Float4,
            701 => PgType::Float8,
            1700 => {
                if typmod < 4 {
                    PgType::Numeric(None)
                } else {
                    let t = (typmod - 4) as u32;
                    let p = (t >> 16) & 0xffff;
                    // scale is an 11-bit signed field since PG 15; negative scales are not ours
                    let s = t & 0x7ff;
                    if s & 0x400 != 0 {
                        PgType::Other(formatted.to_string())
                    } else {
                        PgType::Numeric(Some((p, s)))
                    }
                }
            }
            25 => PgType::Text,
            17 => PgType::Bytea,
            1082 => PgType::Date,
            1083 => PgType::Time,
            1114 => PgType::Timestamp,
            1184 => PgType::Timestamptz,
            3802 => PgType::Jsonb,
            _ => PgType::Other(formatted.to_string()),
        }
    }

    /// The PostgreSQL type for an Arrow type, per docs/type-map.md. `None`: no mapping.
    pub fn for_arrow(dt: &DataType) -> Option<PgType> {
        Some(match dt {
            DataType::Null => PgType::Text,
            DataType::Boolean => PgType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => PgType::Int2,
            DataType::Int32 | DataType::UInt16 => PgType::Int4,
            DataType::Int64 | DataType::UInt32 => PgType::Int8,
            DataType::UInt64 => PgType::Numeric(Some((20, 0))),
            DataType::Float16 | DataType::Float32 => PgType::Float4,
            DataType::Float64 => PgType::Float8,
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => numeric_for(*p, *s)?,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PgType::Text,
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => PgType::Bytea,
            DataType::Date32 | DataType::Date64 => PgType::Date,
            DataType::Time32(_) | DataType::Time64(_) => PgType::Time,
            DataType::Timestamp(_, None) => PgType::Timestamp,
            DataType::Timestamp(_, Some(_)) => PgType::Timestamptz,
            DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Map(_, _)
                if json_supported(dt) =>
            {
                PgType::Jsonb
            }
            DataType::Dictionary(_, value) => return PgType::for_arrow(value),
            _ => return None,
        })
    }

    /// A text type whose comparisons must be byte-wise (`COLLATE "C"`) when used as a version.
    pub(crate) fn is_text(&self) -> bool {
        matches!(self, PgType::Text)
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

/// `numeric(p,s)` for an Arrow decimal; negative scales add integer digits, a scale larger
/// than the precision becomes `numeric(s,s)` (PostgreSQL < 15 rejects scale > precision).
fn numeric_for(p: u8, s: i8) -> Option<PgType> {
    let p = u32::from(p);
    let (p, s) = if s < 0 {
        (p + u32::from(s.unsigned_abs()), 0)
    } else {
        let s = s as u32;
        (p.max(s), s)
    };
    (1..=MAX_NUMERIC_PRECISION)
        .contains(&p)
        .then_some(PgType::Numeric(Some((p, s))))
}

/// Whether every leaf of a nested type can be rendered as JSON.
pub(crate) fn json_supported(dt: &DataType) -> bool {
    match dt {
        DataType::Struct(fields) => fields.iter().all(|f| json_supported(f.data_type())),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            json_supported(f.data_type())
        }
        DataType::Map(entries, _) => json_supported(entries.data_type()),
        DataType::Dictionary(_, v) => json_supported(v),
        DataType::Duration(_)
        | DataType::Interval(_)
        | DataType::Union(_, _)
        | DataType::RunEndEncoded(_, _)
        | DataType::ListView(_)
        | DataType::LargeListView(_) => false,
        other => PgType::for_arrow(other).is_some(),
    }
}

/// How an incoming column type relates to an existing column type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compat {
    /// Identical.
    Same,
    /// The existing column already holds every incoming value (e.g. `bigint` ← `integer`):
    /// no DDL, values are encoded to the existing type.
    Fits,
    /// A safe widening: `ALTER COLUMN … TYPE` to this type, then load.
    Widen(PgType),
    /// Not safe: the table stops.
    Incompatible,
}

fn int_rank(t: &PgType) -> Option<u8> {
    match t {
        PgType::Int2 => Some(1),
        PgType::Int4 => Some(2),
        PgType::Int8 => Some(3),
        _ => None,
    }
}

fn float_rank(t: &PgType) -> Option<u8> {
    match t {
        PgType::Float4 => Some(1),
        PgType::Float8 => Some(2),
        _ => None,
    }
}

/// The widening lattice: integers `smallint < integer < bigint`, floats `real < double`,
/// `numeric(p,s)` ordered by (integer digits, scale) with the join as widening target (so
/// precision up, scale up without losing integer digits, or both), unconstrained `numeric`
/// above every `numeric(p,s)`. All other types only match themselves.
pub fn compat(existing: &PgType, incoming: &PgType) -> Compat {
    if existing == incoming {
        return Compat::Same;
    }
    if let (Some(a), Some(b)) = (int_rank(existing), int_rank(incoming)) {
        return if a >= b {
            Compat::Fits
        } else {
            Compat::Widen(incoming.clone())
        };
    }
    if let (Some(a), Some(b)) = (float_rank(existing), float_rank(incoming)) {
        return if a >= b {
            Compat::Fits
        } else {
            Compat::Widen(incoming.clone())
        };
    }
    match (existing, incoming) {
        (PgType::Numeric(None), PgType::Numeric(_)) => Compat::Fits,
        (PgType::Numeric(Some(_)), PgType::Numeric(None)) => Compat::Widen(PgType::Numeric(None)),
        (PgType::Numeric(Some((p1, s1))), PgType::Numeric(Some((p2, s2)))) => {
            let (i1, i2) = (p1 - s1, p2 - s2);
            if i1 >= i2 && s1 >= s2 {
                Compat::Fits
            } else {
                let s = (*s1).max(*s2);
                let p = i1.max(i2) + s;
                if p > MAX_NUMERIC_PRECISION {
                    Compat::Incompatible
                } else {
                    Compat::Widen(PgType::Numeric(Some((p, s))))
                }
            }
        }
        _ => Compat::Incompatible,
    }
}

/// A human description of an Arrow type for error messages: `integer (Arrow Int32)`.
pub(crate) fn describe_incoming(dt: &DataType) -> String {
    match PgType::for_arrow(dt) {
        Some(t) => format!("{} (Arrow {dt})", t.sql()),
        None => format!("Arrow {dt}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_schema::{Field, TimeUnit};

    #[test]
    fn decimals() {
        assert_eq!(
            PgType::for_arrow(&DataType::Decimal128(38, 10)),
            Some(PgType::Numeric(Some((38, 10))))
        );
        assert_eq!(
            PgType::for_arrow(&DataType::Decimal128(10, -2)),
            Some(PgType::Numeric(Some((12, 0))))
        );
        assert_eq!(
            PgType::for_arrow(&DataType::Decimal128(3, 5)),
            Some(PgType::Numeric(Some((5, 5))))
        );
        assert_eq!(
            PgType::for_arrow(&DataType::Decimal256(76, 0)),
            Some(PgType::Numeric(Some((76, 0))))
        );
    }

    #[test]
    fn unsupported() {
        assert_eq!(
            PgType::for_arrow(&DataType::Duration(TimeUnit::Second)),
            None
        );
        let list_of_dur = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Duration(TimeUnit::Second),
            true,
        )));
        assert_eq!(PgType::for_arrow(&list_of_dur), None);
        let list_of_int = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(PgType::for_arrow(&list_of_int), Some(PgType::Jsonb));
    }

    #[test]
    fn lattice() {
        use PgType::*;
        assert_eq!(compat(&Int4, &Int8), Compat::Widen(Int8));
        assert_eq!(compat(&Int8, &Int4), Compat::Fits);
        assert_eq!(compat(&Int2, &Int2), Compat::Same);
        assert_eq!(compat(&Float4, &Float8), Compat::Widen(Float8));
        assert_eq!(compat(&Float8, &Float4), Compat::Fits);
        assert_eq!(compat(&Text, &Int4), Compat::Incompatible);
        assert_eq!(compat(&Int4, &Text), Compat::Incompatible);
        assert_eq!(compat(&Int8, &Float8), Compat::Incompatible);
        assert_eq!(compat(&Timestamp, &Timestamptz), Compat::Incompatible);
        assert_eq!(
            compat(&Numeric(Some((10, 2))), &Numeric(Some((12, 2)))),
            Compat::Widen(Numeric(Some((12, 2))))
        );
        assert_eq!(
            compat(&Numeric(Some((12, 2))), &Numeric(Some((10, 2)))),
            Compat::Fits
        );
        // scale up without losing integer digits: the join
        assert_eq!(
            compat(&Numeric(Some((10, 2))), &Numeric(Some((10, 4)))),
            Compat::Widen(Numeric(Some((12, 4))))
        );
        assert_eq!(
            compat(&Numeric(None), &Numeric(Some((10, 4)))),
            Compat::Fits
        );
        assert_eq!(
            compat(&Other("character varying(5)".into()), &Text),
            Compat::Incompatible
        );
    }

    #[test]
    fn catalog_numeric_typmod() {
        // numeric(12,3): typmod = ((12 << 16) | 3) + 4
        let tm = ((12 << 16) | 3) + 4;
        assert_eq!(
            PgType::from_catalog(1700, tm, "numeric(12,3)"),
            PgType::Numeric(Some((12, 3)))
        );
        assert_eq!(
            PgType::from_catalog(1700, -1, "numeric"),
            PgType::Numeric(None)
        );
        assert_eq!(
            PgType::from_catalog(1043, 9, "character varying(5)"),
            PgType::Other("character varying(5)".into())
        );
    }
}
