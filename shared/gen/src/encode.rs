//! Encoding rows: Arrow batches → parquet base files, and Avro binary records for log blocks.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::config::Codec;
use crate::error::{GenError, GenResult};
use crate::logical::LogicalBuilders;
use crate::rows::{Row, RowGen};
use crate::schema::{DECIMAL_PRECISION, DECIMAL_SCALE, TableSchema};

/// Rows per Arrow batch handed to the parquet writer.
const BATCH_ROWS: usize = 8192;

/// Output buffer reserved per row (uncompressed rows are ~300 bytes, snappy ~100).
const RESERVE_BYTES_PER_ROW: usize = 160;

/// Everything an encoding task needs; shared (read-only) by all tasks of a run.
#[derive(Debug)]
pub struct EncodeCtx {
    /// Schemas.
    pub schema: TableSchema,
    /// Row values.
    pub rows: RowGen,
    /// Requested instant time of each commit (index = version).
    pub instants: Vec<String>,
    /// `region` values (index = partition).
    pub partition_values: Vec<String>,
    /// Partition paths (`region=<v>`, index = partition).
    pub partition_paths: Vec<String>,
    /// Base file writer properties (compression, row group size).
    pub props: WriterProperties,
    /// How record keys are made.
    pub key_generator: crate::keygen::KeyGenerator,
}

impl EncodeCtx {
    /// Writer properties for the configured codec and row group size.
    pub fn writer_props(codec: Codec, row_group_rows: usize) -> GenResult<WriterProperties> {
        let compression = match codec {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(
                GzipLevel::try_new(6).map_err(|e| GenError::Config(format!("gzip level: {e}")))?,
            ),
            Codec::Zstd => Compression::ZSTD(
                ZstdLevel::try_new(3).map_err(|e| GenError::Config(format!("zstd level: {e}")))?,
            ),
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        };
        Ok(WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_created_by(format!(
                "hudi-gen {} (parquet-rs)",
                env!("CARGO_PKG_VERSION")
            ))
            .build())
    }

    /// `_hoodie_commit_seqno` of `key` written by commit `version`:
    /// `<instant>_<partition index>_<key>` (Spark: `<instant>_<task>_<record index>`).
    pub fn seqno(&self, version: u16, partition: u32, key: u32) -> String {
        let mut s = String::with_capacity(32);
        self.write_seqno(&mut s, version, partition, key);
        s
    }

    /// [`EncodeCtx::seqno`] into a reused buffer (cleared first).
    pub fn write_seqno(&self, out: &mut String, version: u16, partition: u32, key: u32) {
        use std::fmt::Write;
        out.clear();
        // writing into a String cannot fail
        let _ = write!(out, "{}_{partition}_{key}", self.instant(version));
    }

    /// The requested instant of commit `version`.
    pub fn instant(&self, version: u16) -> &str {
        self.instants
            .get(usize::from(version))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A finished base file.
#[derive(Debug)]
pub struct EncodedFile {
    /// The parquet bytes.
    pub bytes: Vec<u8>,
    /// Rows in the file.
    pub rows: u64,
}

/// Column builders for one batch of base-file rows.
struct BatchBuilder {
    commit_time: StringBuilder,
    seqno: StringBuilder,
    record_key: StringBuilder,
    partition_path: StringBuilder,
    file_name: StringBuilder,
    id: Int64Builder,
    ts: Int64Builder,
    region: StringBuilder,
    customer_id: Int32Builder,
    quantity: Int32Builder,
    status_code: Int32Builder,
    price: Float64Builder,
    discount: Float64Builder,
    amount: Decimal128Builder,
    tax: Decimal128Builder,
    customer_name: StringBuilder,
    email: StringBuilder,
    description: StringBuilder,
    created_at: TimestampMicrosecondBuilder,
    updated_at: TimestampMicrosecondBuilder,
    is_active: BooleanBuilder,
    is_priority: BooleanBuilder,
    order_date: Date32Builder,
    ship_date: Date32Builder,
    revision: Int32Builder,
    logical: Option<LogicalBuilders>,
}

fn decimal_builder(cap: usize) -> GenResult<Decimal128Builder> {
    Decimal128Builder::with_capacity(cap)
        .with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)
        .map_err(|e| GenError::Arrow {
            path: "decimal column".into(),
            source: e,
        })
}

fn ts_builder(cap: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC")
}

impl BatchBuilder {
    fn new(cap: usize, logical_types: bool) -> GenResult<Self> {
        let s = || StringBuilder::with_capacity(cap, cap * 24);
        Ok(Self {
            commit_time: s(),
            seqno: s(),
            record_key: s(),
            partition_path: s(),
            file_name: s(),
            id: Int64Builder::with_capacity(cap),
            ts: Int64Builder::with_capacity(cap),
            region: s(),
            customer_id: Int32Builder::with_capacity(cap),
            quantity: Int32Builder::with_capacity(cap),
            status_code: Int32Builder::with_capacity(cap),
            price: Float64Builder::with_capacity(cap),
            discount: Float64Builder::with_capacity(cap),
            amount: decimal_builder(cap)?,
            tax: decimal_builder(cap)?,
            customer_name: s(),
            email: s(),
            description: s(),
            created_at: ts_builder(cap),
            updated_at: ts_builder(cap),
            is_active: BooleanBuilder::with_capacity(cap),
            is_priority: BooleanBuilder::with_capacity(cap),
            order_date: Date32Builder::with_capacity(cap),
            ship_date: Date32Builder::with_capacity(cap),
            revision: Int32Builder::with_capacity(cap),
            logical: logical_types.then(|| LogicalBuilders::new(cap)),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        commit_time: &str,
        seqno: &str,
        record_key: &str,
        partition_path: &str,
        file_name: &str,
        region: &str,
        r: &Row,
    ) {
        self.commit_time.append_value(commit_time);
        self.seqno.append_value(seqno);
        self.record_key.append_value(record_key);
        self.partition_path.append_value(partition_path);
        self.file_name.append_value(file_name);
        self.id.append_value(r.id);
        self.ts.append_value(r.ts);
        self.region.append_value(region);
        self.customer_id.append_value(r.customer_id);
        self.quantity.append_value(r.quantity);
        self.status_code.append_option(r.status_code);
        self.price.append_value(r.price);
        self.discount.append_option(r.discount);
        self.amount.append_value(i128::from(r.amount));
        self.tax.append_option(r.tax.map(i128::from));
        self.customer_name.append_value(&r.customer_name);
        self.email.append_value(&r.email);
        self.description.append_option(r.description.as_deref());
        self.created_at.append_value(r.created_at);
        self.updated_at.append_value(r.updated_at);
        self.is_active.append_value(r.is_active);
        self.is_priority.append_option(r.is_priority);
        self.order_date.append_value(r.order_date);
        self.ship_date.append_option(r.ship_date);
        self.revision.append_value(r.revision);
        if let (Some(b), Some(v)) = (&mut self.logical, &r.logical) {
            b.append(v);
        }
    }

    fn finish(&mut self, schema: &TableSchema, path: &str) -> GenResult<RecordBatch> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.commit_time.finish()),
            Arc::new(self.seqno.finish()),
            Arc::new(self.record_key.finish()),
            Arc::new(self.partition_path.finish()),
            Arc::new(self.file_name.finish()),
            Arc::new(self.id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.price.finish()),
            Arc::new(self.discount.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.tax.finish()),
            Arc::new(self.customer_name.finish()),
            Arc::new(self.email.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.updated_at.finish()),
            Arc::new(self.is_active.finish()),
            Arc::new(self.is_priority.finish()),
            Arc::new(self.order_date.finish()),
            Arc::new(self.ship_date.finish()),
            Arc::new(self.revision.finish()),
        ];
        if let Some(b) = &mut self.logical {
            cols.extend(b.finish());
        }
        RecordBatch::try_new(schema.arrow().clone(), cols).map_err(|e| GenError::Arrow {
            path: path.to_string(),
            source: e,
        })
    }
}

/// Encode one base file: the rows `keys[i]` at `versions[i]`, all in partition `partition`,
/// in the given order. `path` is only used in error messages.
pub fn encode_base_file(
    ctx: &EncodeCtx,
    path: &str,
    file_name: &str,
    partition: u32,
    keys: &[u32],
    versions: &[u16],
) -> GenResult<EncodedFile> {
    let pq_err = |e| GenError::Parquet {
        path: path.to_string(),
        source: e,
    };
    let options = ArrowWriterOptions::new()
        .with_properties(ctx.props.clone())
        .with_skip_arrow_metadata(true)
        .with_parquet_schema((**ctx.schema.parquet()).clone());
    // Reserve generously: untouched capacity is never resident (large allocations are mmapped),
    // and it spares the doubling copies of a growing buffer.
    let reserve = keys
        .len()
        .saturating_mul(RESERVE_BYTES_PER_ROW)
        .max(64 * 1024);
    let mut writer = ArrowWriter::try_new_with_options(
        Vec::with_capacity(reserve),
        ctx.schema.arrow().clone(),
        options,
    )
    .map_err(pq_err)?;
    let partition_path = ctx
        .partition_paths
        .get(partition as usize)
        .map(String::as_str)
        .unwrap_or("");
    let region = ctx
        .partition_values
        .get(partition as usize)
        .map(String::as_str)
        .unwrap_or("");

    let mut row = Row::default();
    let mut key_buf = String::new();
    let mut seqno = String::new();
    let mut min_key: Option<String> = None;
    let mut max_key: Option<String> = None;
    let mut builder = BatchBuilder::new(
        BATCH_ROWS.min(keys.len().max(1)),
        ctx.schema.has_logical_types(),
    )?;
    for (chunk_keys, chunk_versions) in keys.chunks(BATCH_ROWS).zip(versions.chunks(BATCH_ROWS)) {
        for (&key, &version) in chunk_keys.iter().zip(chunk_versions) {
            ctx.rows.fill(key, version, &mut row);
            ctx.key_generator
                .write_record_key(&mut key_buf, row.id, row.customer_id);
            if min_key.as_deref().is_none_or(|m| key_buf.as_str() < m) {
                min_key = Some(key_buf.clone());
            }
            if max_key.as_deref().is_none_or(|m| key_buf.as_str() > m) {
                max_key = Some(key_buf.clone());
            }
            ctx.write_seqno(&mut seqno, version, partition, key);
            builder.append(
                ctx.instant(version),
                &seqno,
                &key_buf,
                partition_path,
                file_name,
                region,
                &row,
            );
        }
        let batch = builder.finish(&ctx.schema, path)?;
        writer.write(&batch).map_err(pq_err)?;
    }
    writer.append_key_value_metadata(KeyValue::new(
        "parquet.avro.schema".to_string(),
        ctx.schema.schema_with_meta().to_string(),
    ));
    writer.append_key_value_metadata(KeyValue::new(
        "writer.model.name".to_string(),
        "avro".to_string(),
    ));
    if let (Some(min), Some(max)) = (min_key, max_key) {
        writer.append_key_value_metadata(KeyValue::new("hoodie_min_record_key".to_string(), min));
        writer.append_key_value_metadata(KeyValue::new("hoodie_max_record_key".to_string(), max));
    }
    let bytes = writer.into_inner().map_err(pq_err)?;
    Ok(EncodedFile {
        bytes,
        rows: keys.len() as u64,
    })
}

// ---------------------------------------------------------------------------------------
// Avro binary encoding (datum encoding, no framing) of rows for AVRO_DATA log blocks.

/// Append an Avro `long`/`int` (zig-zag varint).
#[inline]
pub fn put_long(buf: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Append an Avro `string`/`bytes`.
#[inline]
pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_long(buf, s.len() as i64);
    buf.extend_from_slice(s.as_bytes());
}

/// Union branch 1 of `["null", T]`.
#[inline]
fn some(buf: &mut Vec<u8>) {
    buf.push(2);
}

/// Union branch 0 (null) of `["null", T]`.
#[inline]
fn none(buf: &mut Vec<u8>) {
    buf.push(0);
}

fn opt<T>(buf: &mut Vec<u8>, v: Option<T>, f: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(x) => {
            some(buf);
            f(buf, x);
        }
        None => none(buf),
    }
}

/// Meta column values of one log record.
pub struct LogMeta<'a> {
    /// `_hoodie_commit_time`.
    pub commit_time: &'a str,
    /// `_hoodie_commit_seqno`.
    pub seqno: &'a str,
    /// `_hoodie_record_key`.
    pub record_key: &'a str,
    /// `_hoodie_partition_path`.
    pub partition_path: &'a str,
    /// `_hoodie_file_name` (in log records: the file id only).
    pub file_name: &'a str,
}

/// Append one row in the writer schema [`TableSchema::schema_with_meta`] (every field a
/// `["null", T]` union, decimals big-endian `fixed(8)`).
pub fn encode_avro_row(buf: &mut Vec<u8>, meta: &LogMeta<'_>, region: &str, r: &Row) {
    for m in [
        meta.commit_time,
        meta.seqno,
        meta.record_key,
        meta.partition_path,
        meta.file_name,
    ] {
        some(buf);
        put_str(buf, m);
    }
    let long = |b: &mut Vec<u8>, v: i64| put_long(b, v);
    let int = |b: &mut Vec<u8>, v: i32| put_long(b, i64::from(v));
    let dbl = |b: &mut Vec<u8>, v: f64| b.extend_from_slice(&v.to_le_bytes());
    let dec = |b: &mut Vec<u8>, v: i64| b.extend_from_slice(&v.to_be_bytes());
    let boolean = |b: &mut Vec<u8>, v: bool| b.push(u8::from(v));
    let string = |b: &mut Vec<u8>, v: &str| put_str(b, v);
    opt(buf, Some(r.id), long);
    opt(buf, Some(r.ts), long);
    opt(buf, Some(region), string);
    opt(buf, Some(r.customer_id), int);
    opt(buf, Some(r.quantity), int);
    opt(buf, r.status_code, int);
    opt(buf, Some(r.price), dbl);
    opt(buf, r.discount, dbl);
    opt(buf, Some(r.amount), dec);
    opt(buf, r.tax, dec);
    opt(buf, Some(r.customer_name.as_str()), string);
    opt(buf, Some(r.email.as_str()), string);
    opt(buf, r.description.as_deref(), string);
    opt(buf, Some(r.created_at), long);
    opt(buf, Some(r.updated_at), long);
    opt(buf, Some(r.is_active), boolean);
    opt(buf, r.is_priority, boolean);
    opt(buf, Some(r.order_date), int);
    opt(buf, r.ship_date, int);
    opt(buf, Some(r.revision), int);
    if let Some(l) = &r.logical {
        opt(buf, Some(l.event_at_ms), long);
        opt(buf, Some(l.local_at_ms), long);
        opt(buf, Some(l.local_at_us), long);
        opt(buf, Some(l.pickup_time_us), long);
        opt(buf, l.ref_uuid.as_deref(), string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;

    fn ctx() -> EncodeCtx {
        EncodeCtx {
            schema: TableSchema::new("t1").unwrap(),
            rows: RowGen::new(3, 2, vec![1_735_689_600_000, 1_735_689_660_000]),
            instants: vec!["20250101000000000".into(), "20250101000100000".into()],
            partition_values: vec!["us-east".into(), "eu-west".into()],
            partition_paths: vec!["region=us-east".into(), "region=eu-west".into()],
            props: EncodeCtx::writer_props(Codec::Snappy, 100).unwrap(),
            key_generator: crate::keygen::KeyGenerator::Simple,
        }
    }

    fn unwrap_union(v: &Value) -> &Value {
        match v {
            Value::Union(_, inner) => inner,
            other => other,
        }
    }

    #[test]
    fn avro_rows_decode_with_the_header_schema() {
        let c = ctx();
        let schema = apache_avro::Schema::parse_str(c.schema.schema_with_meta()).unwrap();
        for key in 0..200u32 {
            let row = c.rows.row(key, 1);
            let meta = LogMeta {
                commit_time: "20250101000100000",
                seqno: "20250101000100000_0_1",
                record_key: &row.id.to_string(),
                partition_path: "region=us-east",
                file_name: "fid-0",
            };
            let mut buf = Vec::new();
            encode_avro_row(&mut buf, &meta, "us-east", &row);
            let mut slice = &buf[..];
            let v = apache_avro::from_avro_datum(&schema, &mut slice, None).unwrap();
            assert!(slice.is_empty(), "trailing bytes");
            let Value::Record(fields) = v else { panic!() };
            let get =
                |n: &str| unwrap_union(&fields.iter().find(|(f, _)| f == n).unwrap().1).clone();
            assert_eq!(get("_hoodie_record_key"), Value::String(row.id.to_string()));
            assert_eq!(get("_hoodie_file_name"), Value::String("fid-0".into()));
            assert_eq!(get("id"), Value::Long(row.id));
            assert_eq!(get("region"), Value::String("us-east".into()));
            assert_eq!(get("price"), Value::Double(row.price));
            assert_eq!(get("updated_at"), Value::TimestampMicros(row.updated_at));
            assert_eq!(get("order_date"), Value::Date(row.order_date));
            assert_eq!(get("revision"), Value::Int(1));
            match (get("description"), &row.description) {
                (Value::Null, None) => {}
                (Value::String(s), Some(d)) => assert_eq!(&s, d),
                (v, d) => panic!("description {v:?} vs {d:?}"),
            }
            match (get("ship_date"), row.ship_date) {
                (Value::Null, None) => {}
                (Value::Date(d), Some(e)) => assert_eq!(d, e),
                (v, d) => panic!("ship_date {v:?} vs {d:?}"),
            }
            let Value::Decimal(amount) = get("amount") else {
                panic!("amount")
            };
            let bytes: Vec<u8> = amount.try_into().unwrap();
            let mut be = [if row.amount < 0 { 0xff } else { 0 }; 8];
            be[8 - bytes.len()..].copy_from_slice(&bytes);
            assert_eq!(i64::from_be_bytes(be), row.amount);
        }
    }

    #[test]
    fn base_file_holds_the_rows_and_metadata() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let c = ctx();
        let keys: Vec<u32> = (0..1000).collect();
        let versions: Vec<u16> = keys.iter().map(|k| (k % 2) as u16).collect();
        let f = encode_base_file(&c, "p/f.parquet", "f.parquet", 1, &keys, &versions).unwrap();
        assert_eq!(f.rows, 1000);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(f.bytes)).unwrap();
        let md = reader.metadata().clone();
        assert_eq!(md.num_row_groups(), 10, "100-row row groups");
        let kv = md.file_metadata().key_value_metadata().unwrap();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(get("hoodie_min_record_key").as_deref(), Some("1"));
        assert_eq!(get("hoodie_max_record_key").as_deref(), Some("999"));
        assert_eq!(get("writer.model.name").as_deref(), Some("avro"));
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(total, 1000);
        let b = &batches[0];
        use arrow_array::cast::AsArray;
        let ct = b.column(0).as_string::<i32>();
        let seq = b.column(1).as_string::<i32>();
        let fname = b.column(4).as_string::<i32>();
        assert_eq!(ct.value(0), "20250101000000000");
        assert_eq!(ct.value(1), "20250101000100000");
        assert_eq!(seq.value(1), "20250101000100000_1_1");
        assert_eq!(fname.value(0), "f.parquet");
        assert_eq!(
            b.schema().field(13).data_type(),
            &arrow_schema::DataType::Decimal128(18, 4)
        );
    }

    /// The logical-type columns: Avro log records decode to the annotated types, and base
    /// files carry the parquet annotations parquet-avro writes, with the same values.
    #[test]
    fn logical_type_columns_in_logs_and_base_files() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{
            Time64MicrosecondType, TimestampMicrosecondType, TimestampMillisecondType,
        };
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::basic::{LogicalType, TimeUnit as PqTimeUnit};
        let c = EncodeCtx {
            schema: TableSchema::with_logical_types("t1", true).unwrap(),
            rows: RowGen::new(3, 2, vec![1_735_689_600_000, 1_735_689_660_000])
                .with_logical_types(true),
            ..ctx()
        };
        let schema = apache_avro::Schema::parse_str(c.schema.schema_with_meta()).unwrap();
        let mut null_uuids = 0;
        for key in 0..100u32 {
            let row = c.rows.row(key, 1);
            let l = row.logical.clone().unwrap();
            let meta = LogMeta {
                commit_time: "20250101000100000",
                seqno: "s",
                record_key: "k",
                partition_path: "region=us-east",
                file_name: "fid-0",
            };
            let mut buf = Vec::new();
            encode_avro_row(&mut buf, &meta, "us-east", &row);
            let mut slice = &buf[..];
            let v = apache_avro::from_avro_datum(&schema, &mut slice, None).unwrap();
            assert!(slice.is_empty(), "trailing bytes");
            let Value::Record(fields) = v else { panic!() };
            let get =
                |n: &str| unwrap_union(&fields.iter().find(|(f, _)| f == n).unwrap().1).clone();
            assert_eq!(get("revision"), Value::Int(1));
            assert_eq!(get("event_at"), Value::TimestampMillis(l.event_at_ms));
            assert_eq!(
                get("local_at_ms"),
                Value::LocalTimestampMillis(l.local_at_ms)
            );
            assert_eq!(
                get("local_at_us"),
                Value::LocalTimestampMicros(l.local_at_us)
            );
            assert_eq!(get("pickup_time"), Value::TimeMicros(l.pickup_time_us));
            match (get("ref_uuid"), &l.ref_uuid) {
                (Value::Null, None) => null_uuids += 1,
                (Value::Uuid(u), Some(t)) => assert_eq!(&u.to_string(), t),
                (v, t) => panic!("ref_uuid {v:?} vs {t:?}"),
            }
        }
        assert!(null_uuids > 0 && null_uuids < 50);

        let keys: Vec<u32> = (0..300).collect();
        let versions = vec![1u16; keys.len()];
        let f = encode_base_file(&c, "p/f.parquet", "f.parquet", 0, &keys, &versions).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(f.bytes)).unwrap();
        let pq = reader.metadata().file_metadata().schema_descr_ptr();
        let annotation = |i: usize| pq.column(i).logical_type_ref().cloned();
        assert_eq!(
            annotation(25),
            Some(LogicalType::timestamp(true, PqTimeUnit::MILLIS))
        );
        assert_eq!(
            annotation(27),
            Some(LogicalType::timestamp(false, PqTimeUnit::MICROS))
        );
        assert_eq!(
            annotation(28),
            Some(LogicalType::time(true, PqTimeUnit::MICROS))
        );
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let mut i = 0;
        for b in &batches {
            for r in 0..b.num_rows() {
                let l = c.rows.row(keys[i], 1).logical.unwrap();
                let ev = b.column(25).as_primitive::<TimestampMillisecondType>();
                let lm = b.column(26).as_primitive::<TimestampMillisecondType>();
                let lu = b.column(27).as_primitive::<TimestampMicrosecondType>();
                let tm = b.column(28).as_primitive::<Time64MicrosecondType>();
                let id = b.column(29).as_string::<i32>();
                assert_eq!(ev.value(r), l.event_at_ms);
                assert_eq!(lm.value(r), l.local_at_ms);
                assert_eq!(lu.value(r), l.local_at_us);
                assert_eq!(tm.value(r), l.pickup_time_us);
                assert_eq!(arrow_array::Array::is_null(id, r), l.ref_uuid.is_none());
                if let Some(u) = &l.ref_uuid {
                    assert_eq!(id.value(r), u);
                }
                i += 1;
            }
        }
        assert_eq!(i, 300);
    }
}
