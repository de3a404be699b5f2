//! Binary `COPY … FROM STDIN (FORMAT binary)` encoding straight from Arrow arrays.
//!
//! Format (PostgreSQL docs, "COPY", binary format): the 11-byte signature `PGCOPY\n\377\r\n\0`,
//! `int32` flags (0), `int32` header-extension length (0); per tuple an `int16` field count,
//! then per field an `int32` byte length (-1 = NULL) and the type's binary send format; the
//! trailer is `int16` -1. Rows are encoded column by column from the Arrow arrays into a
//! `BytesMut` that the caller ships in chunks; no row is ever materialised as text.

pub(crate) mod json;
pub use json::json_text;
pub(crate) mod numeric;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, GenericBinaryArray, GenericStringArray,
    OffsetSizeTrait, PrimitiveArray, StringViewArray,
};
use arrow_schema::{DataType, TimeUnit};
use std::collections::HashSet;
use std::hash::Hasher;

use bytes::{BufMut, BytesMut};

use crate::types::PgType;
use numeric::{DigitBuf, fits_numeric, put_numeric};

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const US_PER_DAY: i64 = 86_400_000_000;
/// PostgreSQL's first valid timestamp (4714-11-24 00:00 BC), in µs since 2000-01-01.
const PG_MIN_TIMESTAMP_US: i64 = -211_813_488_000_000_000;
/// PostgreSQL's first invalid timestamp (294277-01-01 00:00), in µs since 2000-01-01.
const PG_END_TIMESTAMP_US: i64 = 9_223_371_331_200_000_000;
/// PostgreSQL's date range (4714-11-24 BC to 5874897-12-31), in days since 2000-01-01.
const PG_DATE_DAYS: std::ops::Range<i64> = -2_451_545..2_145_031_949;

/// Append the file header.
pub(crate) fn put_header(out: &mut BytesMut) {
    out.put_slice(b"PGCOPY\n\xff\r\n\0");
    out.put_i32(0);
    out.put_i32(0);
}

/// Append the file trailer.
pub(crate) fn put_trailer(out: &mut BytesMut) {
    out.put_i16(-1);
}

/// Where a landing column's values come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// The load's partition key (constant).
    LoadSeq,
    /// The caller's load id (constant).
    LoadId,
    /// 0-based row number within the load.
    RowNumber,
    /// The `_op` column at this batch index, validated to `upsert`/`delete`.
    Op(usize),
    /// Order-preserving key derived from the `_hoodie_commit_seqno` column at this index.
    SeqnoKey(usize),
    /// A constant `timestamp with time zone` (microseconds since 2000-01-01 UTC): the
    /// transaction's `now()` for rows COPYed straight into staging.
    Timestamptz(i64),
    /// A change column at this batch index; `not_null` for record-key columns.
    Field {
        /// Column index in the batch.
        index: usize,
        /// Reject nulls (record-key columns).
        not_null: bool,
    },
}

/// One COPY target column.
#[derive(Clone, Debug)]
pub(crate) struct CopyColumn {
    /// PostgreSQL column name (for error messages).
    pub name: String,
    /// Value source.
    pub source: Source,
    /// The column's type in the landing table.
    pub target: PgType,
}

/// The COPY column list of one load.
#[derive(Clone, Debug)]
pub(crate) struct CopyPlan {
    pub columns: Vec<CopyColumn>,
    pub load_seq: i64,
    pub load_id: String,
}

/// Why a value or column could not be encoded.
#[derive(Debug, Clone)]
pub(crate) struct EncodeError {
    pub column: String,
    /// Row within the batch, if the failure is about one value.
    pub row: Option<usize>,
    pub reason: String,
}

type CellResult = Result<(), String>;

/// Writes one field (length prefix + payload, or -1) per row.
trait Cell: Send + Sync {
    fn put(&self, row: usize, out: &mut BytesMut, db: &mut DigitBuf) -> CellResult;
}

/// Unpack dictionary-encoded columns (the only per-batch materialisation).
pub(crate) fn prepare_arrays(arrays: &[ArrayRef]) -> Result<Vec<ArrayRef>, (usize, String)> {
    arrays
        .iter()
        .enumerate()
        .map(|(k, a)| match a.data_type() {
            DataType::Dictionary(_, v) => {
                arrow_cast::cast(a.as_ref(), v).map_err(|e| (k, e.to_string()))
            }
            _ => Ok(a.clone()),
        })
        .collect()
}

/// Encoder for one batch: one cell writer per COPY column.
pub(crate) struct BatchEncoder<'a> {
    cells: Vec<Box<dyn Cell + 'a>>,
    names: Vec<&'a str>,
    rows: usize,
}

impl<'a> BatchEncoder<'a> {
    /// Bind the plan to a batch's (prepared) arrays. `row_base` is the load-wide number of the
    /// batch's first row.
    pub(crate) fn new(
        plan: &'a CopyPlan,
        arrays: &'a [ArrayRef],
        rows: usize,
        row_base: u64,
    ) -> Result<Self, EncodeError> {
        let mut cells: Vec<Box<dyn Cell + 'a>> = Vec::with_capacity(plan.columns.len());
        let err = |c: &CopyColumn, reason: String| EncodeError {
            column: c.name.clone(),
            row: None,
            reason,
        };
        for c in &plan.columns {
            let cell: Box<dyn Cell + 'a> = match &c.source {
                Source::LoadSeq => Box::new(ConstI64(plan.load_seq)),
                Source::LoadId => Box::new(ConstText(plan.load_id.as_bytes())),
                Source::RowNumber => Box::new(RowNumber(row_base as i64)),
                Source::Timestamptz(us) => Box::new(ConstI64(*us)),
                Source::Op(i) => {
                    let a = arrays
                        .get(*i)
                        .ok_or_else(|| err(c, "column index out of range".into()))?;
                    Box::new(OpCell(StrCol::new(a.as_ref()).ok_or_else(|| {
                        err(
                            c,
                            format!("_op must be a string column, got {}", a.data_type()),
                        )
                    })?))
                }
                Source::SeqnoKey(i) => {
                    let a = arrays
                        .get(*i)
                        .ok_or_else(|| err(c, "column index out of range".into()))?;
                    Box::new(SeqnoCell(StrCol::new(a.as_ref()).ok_or_else(|| {
                        err(
                            c,
                            format!(
                                "_hoodie_commit_seqno must be a string column, got {}",
                                a.data_type()
                            ),
                        )
                    })?))
                }
                Source::Field { index, not_null } => {
                    let a = arrays
                        .get(*index)
                        .ok_or_else(|| err(c, "column index out of range".into()))?;
                    let inner = field_cell(a.as_ref(), &c.target).map_err(|r| err(c, r))?;
                    if *not_null {
                        Box::new(NotNull {
                            inner,
                            array: a.as_ref(),
                        })
                    } else {
                        inner
                    }
                }
            };
            cells.push(cell);
        }
        Ok(BatchEncoder {
            cells,
            names: plan.columns.iter().map(|c| c.name.as_str()).collect(),
            rows,
        })
    }

    /// Encode rows from `start` until `out` holds at least `limit` bytes or the batch ends;
    /// returns the next row to encode.
    #[cfg(test)]
    pub(crate) fn encode(
        &self,
        start: usize,
        out: &mut BytesMut,
        limit: usize,
        db: &mut DigitBuf,
    ) -> Result<usize, EncodeError> {
        self.encode_until(start, usize::MAX, out, limit, db)
    }

    /// Encode rows from `start` until `out` holds at least `limit` bytes or row `end` (at
    /// most the batch's end) is reached; returns the next row to encode. A row that fails
    /// leaves nothing of itself in `out` (the rows before it stay): the caller may skip it
    /// and go on with the next row.
    pub(crate) fn encode_until(
        &self,
        start: usize,
        end: usize,
        out: &mut BytesMut,
        limit: usize,
        db: &mut DigitBuf,
    ) -> Result<usize, EncodeError> {
        let n = self.cells.len() as i16;
        let end = end.min(self.rows);
        let mut row = start;
        while row < end {
            let mark = out.len();
            out.put_i16(n);
            for (k, cell) in self.cells.iter().enumerate() {
                if let Err(reason) = cell.put(row, out, db) {
                    out.truncate(mark);
                    return Err(EncodeError {
                        column: self.names[k].to_string(),
                        row: Some(row),
                        reason,
                    });
                }
            }
            row += 1;
            if out.len() >= limit {
                break;
            }
        }
        Ok(row)
    }
}

/// Decides which leading rows of a load may be COPYed straight into an empty staging table
/// (no landing round trip): upserts whose key the load has not shown before. The first row
/// that is a delete, repeats a key (or a 64-bit hash of one), or comes after `max_keys`
/// admitted keys ends the direct phase; it and everything after it take the landing path.
pub(crate) struct DirectGate {
    seen: HashSet<u64>,
    max_keys: usize,
    scratch: BytesMut,
}

impl DirectGate {
    /// A gate remembering at most `max_keys` key hashes (8 bytes each plus table overhead).
    pub(crate) fn new(max_keys: usize) -> Self {
        DirectGate {
            seen: HashSet::new(),
            max_keys,
            scratch: BytesMut::with_capacity(256),
        }
    }

    /// The first row at or after `start` that must take the landing path (the batch's row
    /// count if none); the keys of the rows before it are recorded. `probe` is bound to the
    /// plan from [`DirectGate::probe_plan`].
    pub(crate) fn admit(
        &mut self,
        probe: &BatchEncoder<'_>,
        start: usize,
        db: &mut DigitBuf,
    ) -> Result<usize, EncodeError> {
        for row in start..probe.rows {
            if self.seen.len() >= self.max_keys {
                return Ok(row);
            }
            self.scratch.clear();
            for (k, cell) in probe.cells.iter().enumerate() {
                cell.put(row, &mut self.scratch, db)
                    .map_err(|reason| EncodeError {
                        column: probe.names[k].to_string(),
                        row: Some(row),
                        reason,
                    })?;
                if k == 0 && &self.scratch[4..] != b"upsert" {
                    return Ok(row);
                }
            }
            let mut h = std::hash::DefaultHasher::new();
            h.write(&self.scratch[4 + 6..]);
            if !self.seen.insert(h.finish()) {
                return Ok(row);
            }
        }
        Ok(probe.rows)
    }

    /// The probe plan: `_op` (at `op_index`), then the key columns of `plan` (its
    /// `Field { not_null: true }` columns) as they would be encoded.
    pub(crate) fn probe_plan(plan: &CopyPlan, op_index: usize) -> CopyPlan {
        let mut columns = vec![CopyColumn {
            name: "_op".into(),
            source: Source::Op(op_index),
            target: PgType::Text,
        }];
        columns.extend(
            plan.columns
                .iter()
                .filter(|c| matches!(c.source, Source::Field { not_null: true, .. }))
                .cloned(),
        );
        CopyPlan {
            columns,
            load_seq: 0,
            load_id: String::new(),
        }
    }
}

/// The order-preserving version key of a `_hoodie_commit_seqno`
/// (`<instant>_<taskPartition>_<recordIndex>`): both numbers zero-padded to 20 digits so
/// that byte-wise comparison is numeric (`…_2_10` sorts after `…_2_9`). Anything that does
/// not parse is kept verbatim.
pub fn seqno_key(seqno: &str) -> String {
    match seqno_parts(seqno) {
        Some((instant, p, s)) => format!("{instant}_{p:0>20}_{s:0>20}"),
        None => seqno.to_string(),
    }
}

/// `(instant, task, index)` of a parsable seqno, the numbers without leading zeros.
fn seqno_parts(seqno: &str) -> Option<(&str, &str, &str)> {
    fn digits(s: &str) -> Option<&str> {
        let t = s.trim_start_matches('0');
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 20).then_some(t)
    }
    let mut parts = seqno.rsplitn(3, '_');
    let (seq, part, instant) = (parts.next()?, parts.next()?, parts.next()?);
    Some((instant, digits(part)?, digits(seq)?))
}

/// Append [`seqno_key`] of `seqno` as a COPY field, without an intermediate string.
fn put_seqno_key(out: &mut BytesMut, seqno: &str) -> CellResult {
    let Some((instant, p, s)) = seqno_parts(seqno) else {
        return put_bytes(out, seqno.as_bytes());
    };
    let len = instant.len() + 42;
    put_len(out, len)?;
    out.put_slice(instant.as_bytes());
    for d in [p, s] {
        out.put_u8(b'_');
        out.put_bytes(b'0', 20 - d.len());
        out.put_slice(d.as_bytes());
    }
    Ok(())
}

fn put_len(out: &mut BytesMut, len: usize) -> CellResult {
    let len = i32::try_from(len).map_err(|_| "value larger than 2 GiB".to_string())?;
    out.put_i32(len);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// cells

#[inline]
fn put_null(out: &mut BytesMut) {
    out.put_i32(-1);
}

#[inline]
fn put_bytes(out: &mut BytesMut, b: &[u8]) -> CellResult {
    let len = i32::try_from(b.len()).map_err(|_| "value larger than 2 GiB".to_string())?;
    out.put_i32(len);
    out.put_slice(b);
    Ok(())
}

struct ConstI64(i64);
impl Cell for ConstI64 {
    fn put(&self, _row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        out.put_i32(8);
        out.put_i64(self.0);
        Ok(())
    }
}

struct ConstText<'a>(&'a [u8]);
impl Cell for ConstText<'_> {
    fn put(&self, _row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        put_bytes(out, self.0)
    }
}

struct RowNumber(i64);
impl Cell for RowNumber {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        out.put_i32(8);
        out.put_i64(self.0 + row as i64);
        Ok(())
    }
}

struct NullCell;
impl Cell for NullCell {
    fn put(&self, _row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        put_null(out);
        Ok(())
    }
}

struct NotNull<'a> {
    inner: Box<dyn Cell + 'a>,
    array: &'a dyn Array,
}
impl Cell for NotNull<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, db: &mut DigitBuf) -> CellResult {
        if self.array.is_null(row) {
            return Err("null in a record-key column".into());
        }
        self.inner.put(row, out, db)
    }
}

/// Any of the three Arrow string layouts.
#[derive(Clone, Copy)]
enum StrCol<'a> {
    Utf8(&'a GenericStringArray<i32>),
    Large(&'a GenericStringArray<i64>),
    View(&'a StringViewArray),
}

impl<'a> StrCol<'a> {
    fn new(a: &'a dyn Array) -> Option<Self> {
        match a.data_type() {
            DataType::Utf8 => Some(StrCol::Utf8(a.as_string::<i32>())),
            DataType::LargeUtf8 => Some(StrCol::Large(a.as_string::<i64>())),
            DataType::Utf8View => Some(StrCol::View(a.as_string_view())),
            _ => None,
        }
    }
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrCol::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// The next run `[start, end)` at or after `from` of rows whose `_op` is `upsert` (rows
/// with `delete` are skipped; anything else is an error naming the row).
pub(crate) fn next_upsert_run(
    op: &dyn Array,
    from: usize,
    rows: usize,
) -> Result<Option<(usize, usize)>, EncodeError> {
    let col = StrCol::new(op).ok_or_else(|| EncodeError {
        column: "_op".into(),
        row: None,
        reason: format!("_op must be a string column, got {}", op.data_type()),
    })?;
    let is_upsert = |row: usize| match col.get(row) {
        Some("upsert") => Ok(true),
        Some("delete") => Ok(false),
        other => Err(EncodeError {
            column: "_op".into(),
            row: Some(row),
            reason: format!("_op must be \"upsert\" or \"delete\", got {other:?}"),
        }),
    };
    let mut start = from;
    while start < rows && !is_upsert(start)? {
        start += 1;
    }
    if start >= rows {
        return Ok(None);
    }
    let mut end = start + 1;
    while end < rows && is_upsert(end)? {
        end += 1;
    }
    Ok(Some((start, end)))
}

struct OpCell<'a>(StrCol<'a>);
impl Cell for OpCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        match self.0.get(row) {
            Some(v @ ("upsert" | "delete")) => put_bytes(out, v.as_bytes()),
            Some(_) => Err("_op must be \"upsert\" or \"delete\"".into()),
            None => Err("_op is null".into()),
        }
    }
}

struct SeqnoCell<'a>(StrCol<'a>);
impl Cell for SeqnoCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        match self.0.get(row) {
            None => {
                put_null(out);
                Ok(())
            }
            Some(s) => {
                if s.contains('\0') {
                    return Err(
                        "text contains a NUL character, which PostgreSQL cannot store".into(),
                    );
                }
                put_seqno_key(out, s)
            }
        }
    }
}

struct BoolCell<'a>(&'a BooleanArray);
impl Cell for BoolCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
        } else {
            out.put_i32(1);
            out.put_u8(u8::from(self.0.value(row)));
        }
        Ok(())
    }
}

struct IntCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    width: u8,
}
impl<T> Cell for IntCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let v: i64 = self.arr.value(row).into();
        match self.width {
            2 => {
                out.put_i32(2);
                out.put_i16(
                    i16::try_from(v).map_err(|_| "integer out of smallint range".to_string())?,
                );
            }
            4 => {
                out.put_i32(4);
                out.put_i32(
                    i32::try_from(v).map_err(|_| "integer out of integer range".to_string())?,
                );
            }
            _ => {
                out.put_i32(8);
                out.put_i64(v);
            }
        }
        Ok(())
    }
}

fn int_cell<'a, T>(a: &'a dyn Array, target: &PgType) -> Result<Box<dyn Cell + 'a>, String>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let width = match target {
        PgType::Int2 => 2,
        PgType::Int4 => 4,
        PgType::Int8 => 8,
        other => return Err(format!("cannot encode Arrow {} as {other}", a.data_type())),
    };
    Ok(Box::new(IntCell {
        arr: a.as_primitive::<T>(),
        width,
    }))
}

struct FloatCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    double: bool,
}
impl<T> Cell for FloatCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let v: f64 = self.arr.value(row).into();
        if self.double {
            out.put_i32(8);
            out.put_f64(v);
        } else {
            // only f16/f32 sources reach a real column: exact
            out.put_i32(4);
            out.put_f32(v as f32);
        }
        Ok(())
    }
}

fn float_cell<'a, T>(
    a: &'a dyn Array,
    target: &PgType,
    max_real: bool,
) -> Result<Box<dyn Cell + 'a>, String>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    let double = match target {
        PgType::Float4 if max_real => false,
        PgType::Float8 => true,
        other => return Err(format!("cannot encode Arrow {} as {other}", a.data_type())),
    };
    Ok(Box::new(FloatCell {
        arr: a.as_primitive::<T>(),
        double,
    }))
}

struct DecimalCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    scale: i32,
    /// The target's `(precision, scale)`: values that do not fit are refused here, before
    /// PostgreSQL would fail the COPY with "numeric field overflow".
    limit: Option<(u32, u32)>,
}

fn check_fit(neg: bool, digits: &[u8], scale: i32, limit: Option<(u32, u32)>) -> CellResult {
    match limit {
        Some((p, s)) if !fits_numeric(digits, scale, p, s) => Err(format!(
            "{}decimal does not fit numeric({p},{s}): more than {} integer digits once rounded \
             to {s} decimal places",
            if neg { "negative " } else { "" },
            p.saturating_sub(s)
        )),
        _ => Ok(()),
    }
}
impl<T> Cell for DecimalCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: std::fmt::Display,
{
    fn put(&self, row: usize, out: &mut BytesMut, db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let (neg, digits) = db.render(self.arr.value(row));
        check_fit(neg, digits, self.scale, self.limit)?;
        put_numeric(out, neg, digits, self.scale);
        Ok(())
    }
}

struct U64NumericCell<'a>(&'a PrimitiveArray<UInt64Type>, Option<(u32, u32)>);
impl Cell for U64NumericCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let (neg, digits) = db.render(self.0.value(row));
        check_fit(neg, digits, 0, self.1)?;
        put_numeric(out, neg, digits, 0);
        Ok(())
    }
}

struct StrCell<'a, O: OffsetSizeTrait> {
    arr: &'a GenericStringArray<O>,
    /// The value buffer contains a NUL somewhere: check each value.
    check_nul: bool,
}
impl<O: OffsetSizeTrait> Cell for StrCell<'_, O> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let v = self.arr.value(row).as_bytes();
        if self.check_nul && v.contains(&0) {
            return Err("text contains a NUL character, which PostgreSQL cannot store".into());
        }
        put_bytes(out, v)
    }
}

struct StrViewCell<'a>(&'a StringViewArray);
impl Cell for StrViewCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let v = self.0.value(row).as_bytes();
        if v.contains(&0) {
            return Err("text contains a NUL character, which PostgreSQL cannot store".into());
        }
        put_bytes(out, v)
    }
}

struct BinCell<'a, O: OffsetSizeTrait>(&'a GenericBinaryArray<O>);
impl<O: OffsetSizeTrait> Cell for BinCell<'_, O> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
            return Ok(());
        }
        put_bytes(out, self.0.value(row))
    }
}

struct BinOtherCell<'a>(&'a dyn Array);
impl Cell for BinOtherCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
            return Ok(());
        }
        match self.0.data_type() {
            DataType::BinaryView => put_bytes(out, self.0.as_binary_view().value(row)),
            DataType::FixedSizeBinary(_) => {
                put_bytes(out, self.0.as_fixed_size_binary().value(row))
            }
            other => Err(format!("not a binary type: {other}")),
        }
    }
}

/// Days since 1970 → PostgreSQL `date`.
struct DateCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    /// Divide the native value by this to get days (1 for Date32, 86 400 000 for Date64).
    div: i64,
}
impl<T> Cell for DateCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let v: i64 = self.arr.value(row).into();
        let days = v.div_euclid(self.div) - PG_EPOCH_DAYS;
        if !PG_DATE_DAYS.contains(&days) {
            return Err(format!(
                "date {v} (Arrow native value) is outside PostgreSQL's date range (4714 BC to 5874897 AD)"
            ));
        }
        out.put_i32(4);
        out.put_i32(i32::try_from(days).map_err(|_| "date out of range".to_string())?);
        Ok(())
    }
}

/// Scale a native time value to microseconds: `v * mul / div` (floor).
#[derive(Clone, Copy)]
struct Scale {
    mul: i64,
    div: i64,
}

fn unit_scale(u: &TimeUnit) -> Scale {
    match u {
        TimeUnit::Second => Scale {
            mul: 1_000_000,
            div: 1,
        },
        TimeUnit::Millisecond => Scale { mul: 1_000, div: 1 },
        TimeUnit::Microsecond => Scale { mul: 1, div: 1 },
        TimeUnit::Nanosecond => Scale { mul: 1, div: 1_000 },
    }
}

impl Scale {
    fn apply(self, v: i64) -> Option<i64> {
        v.checked_mul(self.mul).map(|x| x.div_euclid(self.div))
    }
}

struct TimestampCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    scale: Scale,
}
impl<T> Cell for TimestampCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let raw: i64 = self.arr.value(row).into();
        let us = self
            .scale
            .apply(raw)
            .and_then(|us| us.checked_sub(PG_EPOCH_US))
            .filter(|us| (PG_MIN_TIMESTAMP_US..PG_END_TIMESTAMP_US).contains(us))
            .ok_or_else(|| {
                format!(
                    "timestamp {raw} (Arrow native value) is outside PostgreSQL's range (4713 BC to 294276 AD)"
                )
            })?;
        out.put_i32(8);
        out.put_i64(us);
        Ok(())
    }
}

struct TimeCell<'a, T: ArrowPrimitiveType> {
    arr: &'a PrimitiveArray<T>,
    scale: Scale,
}
impl<T> Cell for TimeCell<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    fn put(&self, row: usize, out: &mut BytesMut, _db: &mut DigitBuf) -> CellResult {
        if self.arr.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let us = self
            .scale
            .apply(self.arr.value(row).into())
            .ok_or_else(|| "time out of range".to_string())?;
        if !(0..=US_PER_DAY).contains(&us) {
            return Err("time of day out of range".into());
        }
        out.put_i32(8);
        out.put_i64(us);
        Ok(())
    }
}

struct JsonCell<'a>(&'a dyn Array);
impl Cell for JsonCell<'_> {
    fn put(&self, row: usize, out: &mut BytesMut, db: &mut DigitBuf) -> CellResult {
        if self.0.is_null(row) {
            put_null(out);
            return Ok(());
        }
        let start = out.len();
        out.put_i32(0); // length, patched below
        out.put_u8(1); // jsonb binary format version
        json::write_json(self.0, row, out, db)?;
        let len = i32::try_from(out.len() - start - 4)
            .map_err(|_| "value larger than 2 GiB".to_string())?;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

fn bad(a: &dyn Array, target: &PgType) -> String {
    format!("cannot encode Arrow {} as {target}", a.data_type())
}

/// The cell writer for a change column of Arrow type `a.data_type()` into `target`.
fn field_cell<'a>(a: &'a dyn Array, target: &PgType) -> Result<Box<dyn Cell + 'a>, String> {
    use PgType as P;
    let limit = match target {
        P::Numeric(l) => *l,
        _ => None,
    };
    Ok(match a.data_type() {
        DataType::Null => Box::new(NullCell),
        DataType::Boolean if *target == P::Bool => Box::new(BoolCell(a.as_boolean())),
        DataType::Int8 => int_cell::<Int8Type>(a, target)?,
        DataType::Int16 => int_cell::<Int16Type>(a, target)?,
        DataType::Int32 => int_cell::<Int32Type>(a, target)?,
        DataType::Int64 => int_cell::<Int64Type>(a, target)?,
        DataType::UInt8 => int_cell::<UInt8Type>(a, target)?,
        DataType::UInt16 => int_cell::<UInt16Type>(a, target)?,
        DataType::UInt32 => int_cell::<UInt32Type>(a, target)?,
        DataType::UInt64 if matches!(target, P::Numeric(_)) => {
            Box::new(U64NumericCell(a.as_primitive::<UInt64Type>(), limit))
        }
        DataType::Float16 => float_cell::<Float16Type>(a, target, true)?,
        DataType::Float32 => float_cell::<Float32Type>(a, target, true)?,
        DataType::Float64 => float_cell::<Float64Type>(a, target, false)?,
        DataType::Decimal32(_, s) if matches!(target, P::Numeric(_)) => Box::new(DecimalCell {
            arr: a.as_primitive::<Decimal32Type>(),
            scale: i32::from(*s),
            limit,
        }),
        DataType::Decimal64(_, s) if matches!(target, P::Numeric(_)) => Box::new(DecimalCell {
            arr: a.as_primitive::<Decimal64Type>(),
            scale: i32::from(*s),
            limit,
        }),
        DataType::Decimal128(_, s) if matches!(target, P::Numeric(_)) => Box::new(DecimalCell {
            arr: a.as_primitive::<Decimal128Type>(),
            scale: i32::from(*s),
            limit,
        }),
        DataType::Decimal256(_, s) if matches!(target, P::Numeric(_)) => Box::new(DecimalCell {
            arr: a.as_primitive::<Decimal256Type>(),
            scale: i32::from(*s),
            limit,
        }),
        DataType::Utf8 if *target == P::Text => {
            let arr = a.as_string::<i32>();
            Box::new(StrCell {
                arr,
                check_nul: arr.value_data().contains(&0),
            })
        }
        DataType::LargeUtf8 if *target == P::Text => {
            let arr = a.as_string::<i64>();
            Box::new(StrCell {
                arr,
                check_nul: arr.value_data().contains(&0),
            })
        }
        DataType::Utf8View if *target == P::Text => Box::new(StrViewCell(a.as_string_view())),
        DataType::Binary if *target == P::Bytea => Box::new(BinCell(a.as_binary::<i32>())),
        DataType::LargeBinary if *target == P::Bytea => Box::new(BinCell(a.as_binary::<i64>())),
        DataType::BinaryView | DataType::FixedSizeBinary(_) if *target == P::Bytea => {
            Box::new(BinOtherCell(a))
        }
        DataType::Date32 if *target == P::Date => Box::new(DateCell {
            arr: a.as_primitive::<Date32Type>(),
            div: 1,
        }),
        DataType::Date64 if *target == P::Date => Box::new(DateCell {
            arr: a.as_primitive::<Date64Type>(),
            div: 86_400_000,
        }),
        DataType::Timestamp(unit, tz)
            if (tz.is_some() && *target == P::Timestamptz)
                || (tz.is_none() && *target == P::Timestamp) =>
        {
            let scale = unit_scale(unit);
            match unit {
                TimeUnit::Second => Box::new(TimestampCell {
                    arr: a.as_primitive::<TimestampSecondType>(),
                    scale,
                }),
                TimeUnit::Millisecond => Box::new(TimestampCell {
                    arr: a.as_primitive::<TimestampMillisecondType>(),
                    scale,
                }),
                TimeUnit::Microsecond => Box::new(TimestampCell {
                    arr: a.as_primitive::<TimestampMicrosecondType>(),
                    scale,
                }),
                TimeUnit::Nanosecond => Box::new(TimestampCell {
                    arr: a.as_primitive::<TimestampNanosecondType>(),
                    scale,
                }),
            }
        }
        DataType::Time32(unit) if *target == P::Time => {
            let scale = unit_scale(unit);
            match unit {
                TimeUnit::Second => Box::new(TimeCell {
                    arr: a.as_primitive::<Time32SecondType>(),
                    scale,
                }),
                TimeUnit::Millisecond => Box::new(TimeCell {
                    arr: a.as_primitive::<Time32MillisecondType>(),
                    scale,
                }),
                _ => return Err(bad(a, target)),
            }
        }
        DataType::Time64(unit) if *target == P::Time => {
            let scale = unit_scale(unit);
            match unit {
                TimeUnit::Microsecond => Box::new(TimeCell {
                    arr: a.as_primitive::<Time64MicrosecondType>(),
                    scale,
                }),
                TimeUnit::Nanosecond => Box::new(TimeCell {
                    arr: a.as_primitive::<Time64NanosecondType>(),
                    scale,
                }),
                _ => return Err(bad(a, target)),
            }
        }
        DataType::Struct(_)
        | DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(_, _)
        | DataType::Map(_, _)
            if *target == P::Jsonb =>
        {
            Box::new(JsonCell(a))
        }
        _ => return Err(bad(a, target)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Int32Array, StringArray};

    #[test]
    fn seqno_keys_compare_numerically() {
        let a = seqno_key("20240101120000000_2_9");
        let b = seqno_key("20240101120000000_2_10");
        let c = seqno_key("20240101120000000_10_1");
        assert!(a < b, "{a} {b}");
        assert!(b < c, "{b} {c}");
        assert_eq!(seqno_key("20240101120000000_02_009"), a);
        // unparsable values are kept verbatim
        assert_eq!(seqno_key("garbage"), "garbage");
        assert_eq!(seqno_key("x_y_z"), "x_y_z");
        assert_eq!(seqno_key("1_2_"), "1_2_");
        // the COPY cell writes the same bytes without the intermediate string
        for v in [
            "20240101120000000_2_9",
            "20240101120000000_0_0",
            "20240101120000000_00012_000",
            "a_b_1_2",
            "garbage",
            "1_2_",
            "_1_2",
            "i_123456789012345678901_1",
        ] {
            let mut out = BytesMut::new();
            put_seqno_key(&mut out, v).unwrap();
            let k = seqno_key(v);
            assert_eq!(&out[..4], &(k.len() as i32).to_be_bytes(), "{v}");
            assert_eq!(&out[4..], k.as_bytes(), "{v}");
        }
    }

    #[test]
    fn encodes_rows_and_errors_on_null_key_and_bad_op() {
        let ids: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
        let ops: ArrayRef = Arc::new(StringArray::from(vec!["upsert", "delete"]));
        let plan = CopyPlan {
            columns: vec![
                CopyColumn {
                    name: "_hps_load_seq".into(),
                    source: Source::LoadSeq,
                    target: PgType::Int8,
                },
                CopyColumn {
                    name: "_hps_row".into(),
                    source: Source::RowNumber,
                    target: PgType::Int8,
                },
                CopyColumn {
                    name: "_hps_op".into(),
                    source: Source::Op(1),
                    target: PgType::Text,
                },
                CopyColumn {
                    name: "id".into(),
                    source: Source::Field {
                        index: 0,
                        not_null: false,
                    },
                    target: PgType::Int8,
                },
            ],
            load_seq: 7,
            load_id: "L".into(),
        };
        let arrays = vec![ids.clone(), ops.clone()];
        let enc = BatchEncoder::new(&plan, &arrays, 2, 100).unwrap();
        let mut out = BytesMut::new();
        let next = enc
            .encode(0, &mut out, 1 << 20, &mut DigitBuf::default())
            .unwrap();
        assert_eq!(next, 2);
        // row 0: count(2) + seq(4+8) + row(4+8) + op(4+6) + id(4+8) = 48; row 1: 2+12+12+10+4 = 40
        assert_eq!(out.len(), 48 + 40);
        assert_eq!(&out[0..2], &4i16.to_be_bytes());
        assert_eq!(&out[2..6], &8i32.to_be_bytes());
        assert_eq!(&out[6..14], &7i64.to_be_bytes());
        assert_eq!(&out[18..26], &100i64.to_be_bytes());
        assert_eq!(&out[40..48], &1i64.to_be_bytes()); // int32 widened to bigint

        // record-key column: null rejected
        let mut plan2 = plan.clone();
        plan2.columns[3].source = Source::Field {
            index: 0,
            not_null: true,
        };
        let enc = BatchEncoder::new(&plan2, &arrays, 2, 0).unwrap();
        let e = enc
            .encode(0, &mut BytesMut::new(), 1 << 20, &mut DigitBuf::default())
            .unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("id", Some(1)));

        let bad_ops: ArrayRef = Arc::new(StringArray::from(vec!["upsert", "insert"]));
        let arrays = vec![ids, bad_ops];
        let enc = BatchEncoder::new(&plan, &arrays, 2, 0).unwrap();
        let e = enc
            .encode(0, &mut BytesMut::new(), 1 << 20, &mut DigitBuf::default())
            .unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("_hps_op", Some(1)));
    }

    #[test]
    fn chunking_stops_at_limit() {
        let ids: ArrayRef = Arc::new(Int32Array::from((0..1000).collect::<Vec<i32>>()));
        let plan = CopyPlan {
            columns: vec![CopyColumn {
                name: "id".into(),
                source: Source::Field {
                    index: 0,
                    not_null: true,
                },
                target: PgType::Int4,
            }],
            load_seq: 1,
            load_id: "L".into(),
        };
        let arrays = vec![ids];
        let enc = BatchEncoder::new(&plan, &arrays, 1000, 0).unwrap();
        let mut out = BytesMut::new();
        let mut db = DigitBuf::default();
        let next = enc.encode(0, &mut out, 100, &mut db).unwrap();
        assert_eq!(next, 10); // 10 bytes per row
        let next = enc.encode(next, &mut out, usize::MAX, &mut db).unwrap();
        assert_eq!(next, 1000);
        assert_eq!(out.len(), 10_000);
    }

    #[test]
    fn timestamps_and_dates_outside_postgres_range_are_errors() {
        use arrow_array::{Date32Array, TimestampMicrosecondArray, TimestampMillisecondArray};
        let put = |a: &dyn Array, t: &PgType, row: usize| {
            let cell = field_cell(a, t).unwrap();
            cell.put(row, &mut BytesMut::new(), &mut DigitBuf::default())
        };
        // the largest µs value Arrow holds (year 294247) is still inside PostgreSQL's range;
        // values before 4713 BC are not
        let ts = TimestampMicrosecondArray::from(vec![i64::MAX, i64::MIN]).with_timezone("UTC");
        assert!(put(&ts, &PgType::Timestamptz, 0).is_ok());
        let e = put(&ts, &PgType::Timestamptz, 1).unwrap_err();
        assert!(e.contains("outside PostgreSQL's range"), "{e}");
        let first = PG_MIN_TIMESTAMP_US + PG_EPOCH_US;
        let local = TimestampMicrosecondArray::from(vec![first, first - 1]);
        assert!(put(&local, &PgType::Timestamp, 0).is_ok());
        assert!(put(&local, &PgType::Timestamp, 1).is_err());
        // milliseconds that overflow when scaled to µs
        let ms = TimestampMillisecondArray::from(vec![i64::MAX]);
        assert!(put(&ms, &PgType::Timestamp, 0).is_err());
        let dates = Date32Array::from(vec![i32::MIN, 0]);
        assert!(put(&dates, &PgType::Date, 0).is_err());
        assert!(put(&dates, &PgType::Date, 1).is_ok());
    }

    #[test]
    fn rejects_mismatched_target() {
        let ids: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        assert!(field_cell(ids.as_ref(), &PgType::Int2).is_ok()); // range-checked per value
        assert!(field_cell(ids.as_ref(), &PgType::Text).is_err());
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        assert!(field_cell(s.as_ref(), &PgType::Int4).is_err());
    }
}
