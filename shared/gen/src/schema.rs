//! The generated table's schema: 20 data columns of mixed types (plus, with
//! [`crate::GenConfig::logical_types`], the five columns of [`LOGICAL_COLUMNS`]), in the three
//! Avro forms Hudi writes (table create schema, commit schema, schema with meta fields), as Arrow and as the
//! parquet schema parquet-avro would write (decimals as `FIXED_LEN_BYTE_ARRAY`).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::{LogicalType, Repetition, TimeUnit as PqTimeUnit, Type as PhysicalType};
use parquet::errors::Result as ParquetResult;
use parquet::schema::types::{SchemaDescriptor, Type};

use crate::error::{GenError, GenResult};

/// Physical/logical type of one data column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// bigint (Avro `long`).
    Long,
    /// int (Avro `int`).
    Int,
    /// double.
    Double,
    /// decimal(18,4) (Avro `fixed(8)` with logical type decimal).
    Decimal,
    /// string.
    String,
    /// timestamp, microseconds, UTC (Avro `timestamp-micros`).
    TimestampMicros,
    /// boolean.
    Boolean,
    /// date, days since epoch (Avro `date`).
    Date,
    /// timestamp, milliseconds, UTC (Avro `timestamp-millis`).
    TimestampMillis,
    /// wall-clock timestamp, milliseconds (Avro `local-timestamp-millis`).
    LocalTimestampMillis,
    /// wall-clock timestamp, microseconds (Avro `local-timestamp-micros`).
    LocalTimestampMicros,
    /// time of day, microseconds (Avro `time-micros`).
    TimeMicros,
    /// UUID text (Avro `string` with logical type `uuid`).
    Uuid,
}

/// One data column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColType,
    /// Whether the generator ever writes nulls into it.
    pub has_nulls: bool,
}

const fn col(name: &'static str, ty: ColType, has_nulls: bool) -> Column {
    Column {
        name,
        ty,
        has_nulls,
    }
}

/// Decimal precision of the decimal columns.
pub const DECIMAL_PRECISION: u8 = 18;
/// Decimal scale of the decimal columns.
pub const DECIMAL_SCALE: i8 = 4;
/// Bytes of a decimal(18,4) as parquet-avro writes it (minimum two's-complement width).
pub const DECIMAL_BYTES: usize = 8;

/// Record key column (SIMPLE key generator: the key string is the decimal `id`).
pub const KEY_FIELD: &str = "id";
/// Partition column (hive-style paths `region=<value>`).
pub const PARTITION_FIELD: &str = "region";
/// Ordering (precombine) column: event time in epoch milliseconds, grows with every write.
pub const ORDERING_FIELD: &str = "ts";

/// The five Hudi meta columns, in file order. Spelled out here rather than taken from
/// `hps_hudi::META_COLUMNS`: the generator is the reader's independent counterpart (hps-hudi is
/// only its dev-dependency, to check one against the other).
pub const META_COLUMNS: [&str; 5] = [
    "_hoodie_commit_time",
    "_hoodie_commit_seqno",
    "_hoodie_record_key",
    "_hoodie_partition_path",
    "_hoodie_file_name",
];

/// The 20 data columns, in file order.
pub const COLUMNS: [Column; 20] = [
    col("id", ColType::Long, false),
    col("ts", ColType::Long, false),
    col("region", ColType::String, false),
    col("customer_id", ColType::Int, false),
    col("quantity", ColType::Int, false),
    col("status_code", ColType::Int, true),
    col("price", ColType::Double, false),
    col("discount", ColType::Double, true),
    col("amount", ColType::Decimal, false),
    col("tax", ColType::Decimal, true),
    col("customer_name", ColType::String, false),
    col("email", ColType::String, false),
    col("description", ColType::String, true),
    col("created_at", ColType::TimestampMicros, false),
    col("updated_at", ColType::TimestampMicros, false),
    col("is_active", ColType::Boolean, false),
    col("is_priority", ColType::Boolean, true),
    col("order_date", ColType::Date, false),
    col("ship_date", ColType::Date, true),
    col("revision", ColType::Int, false),
];

/// The logical-type columns appended after [`COLUMNS`] when
/// [`crate::GenConfig::logical_types`] is set (values: [`crate::logical::LogicalValues`]).
pub const LOGICAL_COLUMNS: [Column; 5] = [
    col("event_at", ColType::TimestampMillis, false),
    col("local_at_ms", ColType::LocalTimestampMillis, false),
    col("local_at_us", ColType::LocalTimestampMicros, false),
    col("pickup_time", ColType::TimeMicros, false),
    col("ref_uuid", ColType::Uuid, true),
];

/// Schema strings and descriptors of one generated table (they embed the table name).
#[derive(Debug, Clone)]
pub struct TableSchema {
    table_name: String,
    columns: Vec<Column>,
    arrow: SchemaRef,
    parquet: Arc<SchemaDescriptor>,
    create_schema: String,
    commit_schema: String,
    schema_with_meta: String,
}

impl TableSchema {
    /// Build every form for table `table_name` (already validated as an identifier), with the
    /// 20 base columns.
    pub fn new(table_name: &str) -> GenResult<Self> {
        Self::with_logical_types(table_name, false)
    }

    /// Build every form, with the [`LOGICAL_COLUMNS`] appended when `logical_types`.
    pub fn with_logical_types(table_name: &str, logical_types: bool) -> GenResult<Self> {
        let mut columns = COLUMNS.to_vec();
        if logical_types {
            columns.extend(LOGICAL_COLUMNS);
        }
        let arrow = Arc::new(arrow_schema(&columns));
        let root = parquet_root(table_name, &columns).map_err(|e| GenError::Parquet {
            path: format!("<schema of {table_name}>"),
            source: e,
        })?;
        let parquet = Arc::new(SchemaDescriptor::new(Arc::new(root)));
        Ok(Self {
            table_name: table_name.to_string(),
            create_schema: avro_schema(table_name, &columns, AvroForm::Create),
            commit_schema: avro_schema(table_name, &columns, AvroForm::Commit),
            schema_with_meta: avro_schema(table_name, &columns, AvroForm::WithMeta),
            columns,
            arrow,
            parquet,
        })
    }

    /// The data columns, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Whether the table has the [`LOGICAL_COLUMNS`].
    pub fn has_logical_types(&self) -> bool {
        self.columns.len() > COLUMNS.len()
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// Arrow schema of base files and of batches built by the generator (meta columns first).
    pub fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Parquet schema of base files (as parquet-avro writes it).
    pub fn parquet(&self) -> &Arc<SchemaDescriptor> {
        &self.parquet
    }

    /// `hoodie.table.create.schema`: Avro, no meta fields, `[T, "null"]` unions without defaults.
    pub fn create_schema(&self) -> &str {
        &self.create_schema
    }

    /// `extraMetadata.schema` of commits: Avro, no meta fields, `["null", T]` with `default: null`.
    pub fn commit_schema(&self) -> &str {
        &self.commit_schema
    }

    /// `parquet.avro.schema` of base files and the `SCHEMA` header of log blocks: the commit
    /// schema with the five meta fields prepended.
    pub fn schema_with_meta(&self) -> &str {
        &self.schema_with_meta
    }
}

fn arrow_type(ty: ColType) -> DataType {
    match ty {
        ColType::Long => DataType::Int64,
        ColType::Int => DataType::Int32,
        ColType::Double => DataType::Float64,
        ColType::Decimal => DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
        ColType::String => DataType::Utf8,
        ColType::TimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColType::Boolean => DataType::Boolean,
        ColType::Date => DataType::Date32,
        ColType::TimestampMillis => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ColType::LocalTimestampMillis => DataType::Timestamp(TimeUnit::Millisecond, None),
        ColType::LocalTimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColType::TimeMicros => DataType::Time64(TimeUnit::Microsecond),
        ColType::Uuid => DataType::Utf8,
    }
}

fn arrow_schema(columns: &[Column]) -> Schema {
    let mut fields: Vec<Field> = META_COLUMNS
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect();
    fields.extend(
        columns
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), true)),
    );
    Schema::new(fields)
}

/// The parquet column as parquet-avro (Hudi's writer) declares it. All columns are optional
/// because Spark's Avro schema makes every field nullable.
fn parquet_column(name: &str, ty: Option<ColType>) -> ParquetResult<Type> {
    let b = |physical| {
        Type::primitive_type_builder(name, physical).with_repetition(Repetition::OPTIONAL)
    };
    match ty {
        // parquet-avro writes a uuid-annotated string as a plain string
        None | Some(ColType::String) | Some(ColType::Uuid) => b(PhysicalType::BYTE_ARRAY)
            .with_logical_type(Some(LogicalType::String))
            .build(),
        Some(ColType::Long) => b(PhysicalType::INT64).build(),
        Some(ColType::Int) => b(PhysicalType::INT32).build(),
        Some(ColType::Double) => b(PhysicalType::DOUBLE).build(),
        Some(ColType::Boolean) => b(PhysicalType::BOOLEAN).build(),
        Some(ColType::Date) => b(PhysicalType::INT32)
            .with_logical_type(Some(LogicalType::Date))
            .build(),
        Some(ColType::TimestampMicros) => b(PhysicalType::INT64)
            .with_logical_type(Some(LogicalType::timestamp(true, PqTimeUnit::MICROS)))
            .build(),
        Some(ColType::TimestampMillis) => b(PhysicalType::INT64)
            .with_logical_type(Some(LogicalType::timestamp(true, PqTimeUnit::MILLIS)))
            .build(),
        Some(ColType::LocalTimestampMillis) => b(PhysicalType::INT64)
            .with_logical_type(Some(LogicalType::timestamp(false, PqTimeUnit::MILLIS)))
            .build(),
        Some(ColType::LocalTimestampMicros) => b(PhysicalType::INT64)
            .with_logical_type(Some(LogicalType::timestamp(false, PqTimeUnit::MICROS)))
            .build(),
        Some(ColType::TimeMicros) => b(PhysicalType::INT64)
            .with_logical_type(Some(LogicalType::time(true, PqTimeUnit::MICROS)))
            .build(),
        Some(ColType::Decimal) => b(PhysicalType::FIXED_LEN_BYTE_ARRAY)
            .with_length(DECIMAL_BYTES as i32)
            .with_logical_type(Some(LogicalType::decimal(
                i32::from(DECIMAL_SCALE),
                i32::from(DECIMAL_PRECISION),
            )))
            .with_precision(i32::from(DECIMAL_PRECISION))
            .with_scale(i32::from(DECIMAL_SCALE))
            .build(),
    }
}

fn parquet_root(table_name: &str, columns: &[Column]) -> ParquetResult<Type> {
    let mut fields: Vec<Arc<Type>> = Vec::with_capacity(META_COLUMNS.len() + columns.len());
    for n in META_COLUMNS {
        fields.push(Arc::new(parquet_column(n, None)?));
    }
    for c in columns {
        fields.push(Arc::new(parquet_column(c.name, Some(c.ty))?));
    }
    Type::group_type_builder(&format!("hoodie.{table_name}.{table_name}_record"))
        .with_fields(fields)
        .build()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AvroForm {
    Create,
    Commit,
    WithMeta,
}

fn avro_type(table: &str, c: &Column) -> String {
    match c.ty {
        ColType::Long => "\"long\"".into(),
        ColType::Int => "\"int\"".into(),
        ColType::Double => "\"double\"".into(),
        ColType::String => "\"string\"".into(),
        ColType::Boolean => "\"boolean\"".into(),
        ColType::Date => r#"{"type":"int","logicalType":"date"}"#.into(),
        ColType::TimestampMicros => r#"{"type":"long","logicalType":"timestamp-micros"}"#.into(),
        ColType::TimestampMillis => r#"{"type":"long","logicalType":"timestamp-millis"}"#.into(),
        ColType::LocalTimestampMillis => {
            r#"{"type":"long","logicalType":"local-timestamp-millis"}"#.into()
        }
        ColType::LocalTimestampMicros => {
            r#"{"type":"long","logicalType":"local-timestamp-micros"}"#.into()
        }
        ColType::TimeMicros => r#"{"type":"long","logicalType":"time-micros"}"#.into(),
        ColType::Uuid => r#"{"type":"string","logicalType":"uuid"}"#.into(),
        ColType::Decimal => format!(
            r#"{{"type":"fixed","name":"fixed","namespace":"hoodie.{table}.{table}_record.{}","size":{DECIMAL_BYTES},"logicalType":"decimal","precision":{DECIMAL_PRECISION},"scale":{DECIMAL_SCALE}}}"#,
            c.name
        ),
    }
}

fn avro_schema(table: &str, columns: &[Column], form: AvroForm) -> String {
    let mut fields = Vec::with_capacity(META_COLUMNS.len() + columns.len());
    if form == AvroForm::WithMeta {
        for m in META_COLUMNS {
            fields.push(format!(
                r#"{{"name":"{m}","type":["null","string"],"doc":"","default":null}}"#
            ));
        }
    }
    for c in columns {
        let t = avro_type(table, c);
        fields.push(match form {
            AvroForm::Create => format!(r#"{{"name":"{}","type":[{t},"null"]}}"#, c.name),
            AvroForm::Commit | AvroForm::WithMeta => {
                format!(
                    r#"{{"name":"{}","type":["null",{t}],"default":null}}"#,
                    c.name
                )
            }
        });
    }
    format!(
        r#"{{"type":"record","name":"{table}_record","namespace":"hoodie.{table}","fields":[{}]}}"#,
        fields.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_forms_parse_and_agree() {
        let s = TableSchema::new("t1").unwrap();
        for json in [s.create_schema(), s.commit_schema(), s.schema_with_meta()] {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(v["name"], "t1_record");
            apache_avro::Schema::parse_str(json).unwrap();
        }
        let with_meta: serde_json::Value = serde_json::from_str(s.schema_with_meta()).unwrap();
        assert_eq!(with_meta["fields"].as_array().unwrap().len(), 25);
        assert_eq!(with_meta["fields"][0]["name"], "_hoodie_commit_time");
        assert_eq!(with_meta["fields"][13]["type"][1]["size"], 8);
    }

    #[test]
    fn parquet_schema_matches_arrow_order() {
        let s = TableSchema::new("t1").unwrap();
        let pq = s.parquet();
        assert_eq!(pq.num_columns(), s.arrow().fields().len());
        for (i, f) in s.arrow().fields().iter().enumerate() {
            assert_eq!(pq.column(i).name(), f.name());
        }
        let amount = pq.column(5 + 8);
        assert_eq!(amount.name(), "amount");
        assert_eq!(amount.physical_type(), PhysicalType::FIXED_LEN_BYTE_ARRAY);
        assert_eq!(amount.type_length(), 8);
        assert_eq!(pq.root_schema().name(), "hoodie.t1.t1_record");
    }

    #[test]
    fn twenty_columns_with_every_type() {
        assert_eq!(COLUMNS.len(), 20);
        for ty in [
            ColType::Long,
            ColType::Int,
            ColType::Double,
            ColType::Decimal,
            ColType::String,
            ColType::TimestampMicros,
            ColType::Boolean,
            ColType::Date,
        ] {
            assert!(COLUMNS.iter().any(|c| c.ty == ty), "{ty:?}");
        }
    }

    #[test]
    fn logical_type_columns_in_every_form() {
        let s = TableSchema::with_logical_types("t1", true).unwrap();
        assert!(s.has_logical_types() && !TableSchema::new("t1").unwrap().has_logical_types());
        assert_eq!(s.columns().len(), 25);
        let avro = apache_avro::Schema::parse_str(s.schema_with_meta()).unwrap();
        let apache_avro::Schema::Record(r) = avro else {
            panic!("record")
        };
        let ty = |name: &str| {
            let f = &r.fields[r.lookup[name]];
            let apache_avro::Schema::Union(u) = &f.schema else {
                panic!("{name}: union")
            };
            u.variants()[1].clone()
        };
        use apache_avro::Schema as A;
        assert_eq!(ty("event_at"), A::TimestampMillis);
        assert_eq!(ty("local_at_ms"), A::LocalTimestampMillis);
        assert_eq!(ty("local_at_us"), A::LocalTimestampMicros);
        assert_eq!(ty("pickup_time"), A::TimeMicros);
        assert_eq!(ty("ref_uuid"), A::Uuid);
        let pq = s.parquet();
        assert_eq!(pq.num_columns(), s.arrow().fields().len());
        let local = pq.column(5 + 21);
        assert_eq!(local.name(), "local_at_ms");
        assert_eq!(
            local.logical_type_ref().cloned(),
            Some(LogicalType::timestamp(false, PqTimeUnit::MILLIS))
        );
        assert_eq!(
            pq.column(5 + 24).logical_type_ref().cloned(),
            Some(LogicalType::String)
        );
        for json in [s.create_schema(), s.commit_schema()] {
            apache_avro::Schema::parse_str(json).unwrap();
        }
    }
}
