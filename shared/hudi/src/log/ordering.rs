//! Ordering (precombine) values: read from Arrow columns of records and from delete records,
//! and compared the way Hudi compares them when merging.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_buffer::i256;
use arrow_schema::{DataType, TimeUnit};

/// One ordering value.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderingValue {
    /// `BooleanWrapper` / a boolean column.
    Boolean(bool),
    /// `IntWrapper` / 8-32-bit integer columns.
    Int(i32),
    /// `LongWrapper` / 64-bit integer columns.
    Long(i64),
    /// `FloatWrapper` / float columns.
    Float(f32),
    /// `DoubleWrapper` / double columns.
    Double(f64),
    /// `BytesWrapper` / binary columns.
    Bytes(Vec<u8>),
    /// `StringWrapper` / string columns.
    String(String),
    /// `DateWrapper`, `LocalDateWrapper` / date columns: days since the epoch.
    Date(i32),
    /// `DecimalWrapper` (scale 15) / decimal columns.
    Decimal {
        /// The unscaled value.
        unscaled: i128,
        /// Digits after the point.
        scale: i8,
    },
    /// `TimeMicrosWrapper` / time columns, in microseconds.
    TimeMicros(i64),
    /// `TimestampMicrosWrapper` / timestamp columns, in microseconds.
    TimestampMicros(i64),
    /// `ArrayWrapper`: several ordering fields, compared in order.
    Array(Vec<Option<OrderingValue>>),
}

/// A number in a common domain for cross-type comparison.
enum Num {
    Int(i128),
    Dec(i128, i8),
    Float(f64),
}

impl OrderingValue {
    /// Java's default ordering value `0` (`IntWrapper(0)`) marks a delete without a real
    /// ordering value (SQL `DELETE`, deletes by key): such a delete always wins.
    pub fn is_natural_delete(&self) -> bool {
        match self {
            OrderingValue::Int(0) => true,
            OrderingValue::Array(v) => v
                .iter()
                .all(|x| x.as_ref().is_none_or(OrderingValue::is_natural_delete)),
            _ => false,
        }
    }

    fn num(&self) -> Option<Num> {
        Some(match self {
            OrderingValue::Int(v) | OrderingValue::Date(v) => Num::Int(i128::from(*v)),
            OrderingValue::Long(v)
            | OrderingValue::TimeMicros(v)
            | OrderingValue::TimestampMicros(v) => Num::Int(i128::from(*v)),
            OrderingValue::Float(v) => Num::Float(f64::from(*v)),
            OrderingValue::Double(v) => Num::Float(*v),
            OrderingValue::Decimal { unscaled, scale } => Num::Dec(*unscaled, *scale),
            _ => return None,
        })
    }

    /// Compare two ordering values. Numbers of different widths (int/long/decimal/float,
    /// dates and timestamps as their integer) compare by value; strings, bytes and booleans
    /// only with their own kind; arrays element-wise (a missing/null element is smallest).
    /// `None` when the kinds are incomparable.
    pub fn compare(&self, other: &OrderingValue) -> Option<Ordering> {
        use OrderingValue as O;
        match (self, other) {
            (O::Boolean(a), O::Boolean(b)) => Some(a.cmp(b)),
            (O::String(a), O::String(b)) => Some(a.cmp(b)),
            (O::Bytes(a), O::Bytes(b)) => Some(a.cmp(b)),
            (O::Array(a), O::Array(b)) => {
                for i in 0..a.len().max(b.len()) {
                    let x = a.get(i).and_then(Option::as_ref);
                    let y = b.get(i).and_then(Option::as_ref);
                    let o = match (x, y) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => Ordering::Less,
                        (Some(_), None) => Ordering::Greater,
                        (Some(x), Some(y)) => x.compare(y)?,
                    };
                    if o != Ordering::Equal {
                        return Some(o);
                    }
                }
                Some(Ordering::Equal)
            }
            (O::Array(a), single) if a.len() == 1 => a[0]
                .as_ref()
                .map_or(Some(Ordering::Less), |x| x.compare(single)),
            (single, O::Array(b)) if b.len() == 1 => b[0]
                .as_ref()
                .map_or(Some(Ordering::Greater), |y| single.compare(y)),
            _ => compare_num(&self.num()?, &other.num()?),
        }
    }

    /// The ordering value of row `row` of `array`, `None` when null. Errors for column types
    /// that cannot order records.
    pub fn from_array(array: &ArrayRef, row: usize) -> Result<Option<OrderingValue>, String> {
        if array.is_null(row) {
            return Ok(None);
        }
        let v = match array.data_type() {
            DataType::Boolean => OrderingValue::Boolean(array.as_boolean().value(row)),
            DataType::Int8 => {
                OrderingValue::Int(i32::from(array.as_primitive::<Int8Type>().value(row)))
            }
            DataType::Int16 => {
                OrderingValue::Int(i32::from(array.as_primitive::<Int16Type>().value(row)))
            }
            DataType::Int32 => OrderingValue::Int(array.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => OrderingValue::Long(array.as_primitive::<Int64Type>().value(row)),
            DataType::UInt8 => {
                OrderingValue::Int(i32::from(array.as_primitive::<UInt8Type>().value(row)))
            }
            DataType::UInt16 => {
                OrderingValue::Int(i32::from(array.as_primitive::<UInt16Type>().value(row)))
            }
            DataType::UInt32 => {
                OrderingValue::Long(i64::from(array.as_primitive::<UInt32Type>().value(row)))
            }
            DataType::Float32 => {
                OrderingValue::Float(array.as_primitive::<Float32Type>().value(row))
            }
            DataType::Float64 => {
                OrderingValue::Double(array.as_primitive::<Float64Type>().value(row))
            }
            DataType::Utf8 => {
                OrderingValue::String(array.as_string::<i32>().value(row).to_string())
            }
            DataType::LargeUtf8 => {
                OrderingValue::String(array.as_string::<i64>().value(row).to_string())
            }
            DataType::Utf8View => {
                OrderingValue::String(array.as_string_view().value(row).to_string())
            }
            DataType::Binary => OrderingValue::Bytes(array.as_binary::<i32>().value(row).to_vec()),
            DataType::LargeBinary => {
                OrderingValue::Bytes(array.as_binary::<i64>().value(row).to_vec())
            }
            DataType::FixedSizeBinary(_) => {
                OrderingValue::Bytes(array.as_fixed_size_binary().value(row).to_vec())
            }
            DataType::Date32 => OrderingValue::Date(array.as_primitive::<Date32Type>().value(row)),
            DataType::Decimal128(_, s) => OrderingValue::Decimal {
                unscaled: array.as_primitive::<Decimal128Type>().value(row),
                scale: *s,
            },
            DataType::Timestamp(unit, _) => {
                let micros = match unit {
                    TimeUnit::Second => array
                        .as_primitive::<TimestampSecondType>()
                        .value(row)
                        .checked_mul(1_000_000),
                    TimeUnit::Millisecond => array
                        .as_primitive::<TimestampMillisecondType>()
                        .value(row)
                        .checked_mul(1000),
                    TimeUnit::Microsecond => {
                        Some(array.as_primitive::<TimestampMicrosecondType>().value(row))
                    }
                    TimeUnit::Nanosecond => {
                        Some(array.as_primitive::<TimestampNanosecondType>().value(row) / 1000)
                    }
                };
                OrderingValue::TimestampMicros(micros.ok_or("timestamp out of range")?)
            }
            DataType::Time64(TimeUnit::Microsecond) => {
                OrderingValue::TimeMicros(array.as_primitive::<Time64MicrosecondType>().value(row))
            }
            DataType::Time32(TimeUnit::Millisecond) => OrderingValue::TimeMicros(
                i64::from(array.as_primitive::<Time32MillisecondType>().value(row)) * 1000,
            ),
            other => return Err(format!("a {other} column cannot serve as ordering field")),
        };
        Ok(Some(v))
    }
}

fn compare_num(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(y),
        (Num::Float(x), other) => x.partial_cmp(&num_to_f64(other)),
        (other, Num::Float(y)) => num_to_f64(other).partial_cmp(y),
        (x, y) => {
            let (xu, xs) = dec_parts(x);
            let (yu, ys) = dec_parts(y);
            let s = xs.max(ys);
            let scale = |u: i128, from: i8| -> Option<i256> {
                let mut v = i256::from_i128(u);
                for _ in from..s {
                    v = v.checked_mul(i256::from_i128(10))?;
                }
                Some(v)
            };
            Some(scale(xu, xs)?.cmp(&scale(yu, ys)?))
        }
    }
}

fn dec_parts(n: &Num) -> (i128, i8) {
    match n {
        Num::Int(v) => (*v, 0),
        Num::Dec(u, s) => (*u, *s),
        Num::Float(_) => (0, 0),
    }
}

fn num_to_f64(n: &Num) -> f64 {
    match n {
        Num::Int(v) => *v as f64,
        Num::Dec(u, s) => *u as f64 / 10f64.powi(i32::from(*s)),
        Num::Float(f) => *f,
    }
}

/// Compare optional ordering values: a missing value (null column, absent field) is smaller
/// than any present one.
pub fn compare_opt(a: Option<&OrderingValue>, b: Option<&OrderingValue>) -> Option<Ordering> {
    match (a, b) {
        (None, None) => Some(Ordering::Equal),
        (None, Some(_)) => Some(Ordering::Less),
        (Some(_), None) => Some(Ordering::Greater),
        (Some(a), Some(b)) => a.compare(b),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    #[test]
    fn numbers_compare_across_widths() {
        use OrderingValue as O;
        assert_eq!(O::Int(5).compare(&O::Long(5)), Some(Ordering::Equal));
        assert_eq!(
            O::Int(0).compare(&O::Long(1_700_000_000_000)),
            Some(Ordering::Less)
        );
        assert_eq!(
            O::Decimal {
                unscaled: 1_500,
                scale: 3
            }
            .compare(&O::Int(1)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            O::Decimal {
                unscaled: 15,
                scale: 1
            }
            .compare(&O::Decimal {
                unscaled: 1_500_000_000_000_000,
                scale: 15
            }),
            Some(Ordering::Equal)
        );
        assert_eq!(O::Double(2.5).compare(&O::Long(2)), Some(Ordering::Greater));
        assert_eq!(O::Double(f64::NAN).compare(&O::Double(1.0)), None);
        assert_eq!(
            O::String("b".into()).compare(&O::String("a".into())),
            Some(Ordering::Greater)
        );
        assert_eq!(O::String("1".into()).compare(&O::Int(1)), None);
        assert_eq!(
            O::TimestampMicros(10).compare(&O::Long(9)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            O::Array(vec![Some(O::Long(1)), Some(O::String("b".into()))]).compare(&O::Array(vec![
                Some(O::Long(1)),
                Some(O::String("a".into()))
            ])),
            Some(Ordering::Greater)
        );
        assert_eq!(
            O::Array(vec![Some(O::Long(3))]).compare(&O::Long(3)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn natural_deletes() {
        assert!(OrderingValue::Int(0).is_natural_delete());
        assert!(!OrderingValue::Long(0).is_natural_delete());
        assert!(!OrderingValue::Int(1).is_natural_delete());
        assert!(OrderingValue::Array(vec![None, Some(OrderingValue::Int(0))]).is_natural_delete());
    }

    #[test]
    fn reads_columns() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None]));
        assert_eq!(
            OrderingValue::from_array(&a, 0).unwrap(),
            Some(OrderingValue::Long(7))
        );
        assert_eq!(OrderingValue::from_array(&a, 1).unwrap(), None);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert_eq!(
            OrderingValue::from_array(&s, 0).unwrap(),
            Some(OrderingValue::String("x".into()))
        );
        let t: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![5]).with_timezone("UTC"));
        assert_eq!(
            OrderingValue::from_array(&t, 0).unwrap(),
            Some(OrderingValue::TimestampMicros(5))
        );
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1234])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(
            OrderingValue::from_array(&d, 0).unwrap(),
            Some(OrderingValue::Decimal {
                unscaled: 1234,
                scale: 2
            })
        );
    }
}
