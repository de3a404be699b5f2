//! The table schema: which Arrow type each column has over the table's whole life.
//!
//! Files written at different times disagree about a column's type (a plain `long` before an
//! upgrade, `timestamp-millis` after; millisecond values labelled microseconds by old
//! writers; a timestamp key generator's partition field written as a string by Spark SQL).
//! The table schema decides: the writer schema of the newest completed write that records
//! one (`extraMetadata.schema` of its commit metadata), else `hoodie.table.create.schema`.
//! One exception: a partition field of a timestamp-based (or custom) key generator that the
//! newest schema turns into a string keeps the numeric type of the create schema or of an
//! older commit, because Spark SQL rewrites the field's type without the data changing.
//! Every file's values are then converted to these types ([`crate::convert`]).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tracing::{debug, warn};

use crate::config::{KeyGenerator, TableConfig};
use crate::error::Result;
use crate::log::avro_schema_to_arrow;
use crate::timeline::Timeline;

/// The property holding the schema a table was created with.
pub const CREATE_SCHEMA_PROPERTY: &str = "hoodie.table.create.schema";

/// How many older commits are searched for the numeric type of a key-generator partition
/// field that the newest schema made a string.
const MAX_OLDER_COMMITS: usize = 64;

/// Partition fields whose values are formatted by a timestamp key generator (their written
/// type may flip to string under Spark SQL).
pub fn timestamp_partition_fields(config: &TableConfig) -> Vec<String> {
    match config.key_generator {
        KeyGenerator::Timestamp => config
            .partition_fields
            .iter()
            .map(|f| f.split(':').next().unwrap_or(f).to_string())
            .collect(),
        // the typed `field:TIMESTAMP` form is only in the raw property (v8+)
        KeyGenerator::Custom => config
            .properties
            .get("hoodie.table.partition.fields")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|f| f.trim().to_ascii_uppercase().ends_with(":TIMESTAMP"))
            .map(|f| f.split(':').next().unwrap_or(f).trim().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn is_number(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
    )
}

/// `schema` with each of `fields` that it holds as a string and `older` holds as a number
/// taking the number type; returns the fields still unresolved.
pub fn keep_numeric_partition_fields(
    schema: &mut Schema,
    older: &Schema,
    fields: &[String],
) -> Vec<String> {
    let mut out: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut left = Vec::new();
    for name in fields {
        let Some(f) = out.iter_mut().find(|f| f.name() == name) else {
            continue;
        };
        if !matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
            continue;
        }
        match older.field_with_name(name) {
            Ok(o) if is_number(o.data_type()) => {
                *f = f.clone().with_data_type(o.data_type().clone());
            }
            _ => left.push(name.clone()),
        }
    }
    *schema = Schema::new(out);
    left
}

/// A parsed Avro writer schema, or `None` (with a warning) when it is empty or unusable.
fn parse(json: &str, what: &str) -> Option<Schema> {
    if json.trim().is_empty() {
        return None;
    }
    match avro_schema_to_arrow(json) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(%what, error = %e, "schema not usable as the table schema");
            None
        }
    }
}

/// The table schema of `table` as of its active timeline (see the module docs), or `None`
/// when no commit records a schema and the table has no create schema.
pub(crate) async fn load(
    table: &crate::HudiTable,
    timeline: &Timeline,
) -> Result<Option<SchemaRef>> {
    let create = table
        .config()
        .properties
        .get(CREATE_SCHEMA_PROPERTY)
        .and_then(|s| parse(s, CREATE_SCHEMA_PROPERTY));
    let writes: Vec<_> = timeline
        .in_window_order()
        .into_iter()
        .rev()
        .filter(|i| i.action.is_write())
        .collect();
    let mut newest: Option<Schema> = None;
    let mut older = writes.iter();
    for instant in older.by_ref() {
        let md = table.commit_metadata(instant).await?;
        if let Some(s) = md
            .extra_metadata
            .get("schema")
            .and_then(|s| parse(s, &instant.path))
        {
            newest = Some(s);
            break;
        }
    }
    let Some(mut schema) = newest.or_else(|| create.clone()) else {
        return Ok(None);
    };
    let mut left = timestamp_partition_fields(table.config());
    if let Some(c) = &create {
        left = keep_numeric_partition_fields(&mut schema, c, &left);
    }
    for instant in older.take(MAX_OLDER_COMMITS) {
        if left.is_empty() {
            break;
        }
        let md = table.commit_metadata(instant).await?;
        if let Some(s) = md
            .extra_metadata
            .get("schema")
            .and_then(|s| parse(s, &instant.path))
        {
            left = keep_numeric_partition_fields(&mut schema, &s, &left);
        }
    }
    debug!(table = %table.uri(), columns = schema.fields().len(), "table schema resolved");
    Ok(Some(Arc::new(schema)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_string_partition_field_keeps_the_older_number() {
        let mut latest = schema(&[("id", DataType::Utf8), ("pf", DataType::Utf8)]);
        let create = schema(&[("id", DataType::Utf8), ("pf", DataType::Int64)]);
        let left = keep_numeric_partition_fields(&mut latest, &create, &["pf".into()]);
        assert!(left.is_empty());
        assert_eq!(latest.field(1).data_type(), &DataType::Int64);
        // a field that was a string all along stays one (and is left for older schemas)
        let mut latest = schema(&[("pf", DataType::Utf8)]);
        let same = latest.clone();
        let left = keep_numeric_partition_fields(&mut latest, &same, &["pf".into()]);
        assert_eq!(left, vec!["pf".to_string()]);
        assert_eq!(latest.field(0).data_type(), &DataType::Utf8);
    }

    #[test]
    fn timestamp_partition_fields_per_key_generator() {
        let config = |props: &str| TableConfig::parse("t", props.as_bytes()).unwrap();
        let ts = config(
            "hoodie.table.version=8\nhoodie.table.keygenerator.type=TIMESTAMP\nhoodie.table.partition.fields=pf\n",
        );
        assert_eq!(timestamp_partition_fields(&ts), vec!["pf".to_string()]);
        let custom = config(
            "hoodie.table.version=8\nhoodie.table.keygenerator.type=CUSTOM\nhoodie.table.partition.fields=a:simple,b:timestamp\n",
        );
        assert_eq!(timestamp_partition_fields(&custom), vec!["b".to_string()]);
        let simple = config(
            "hoodie.table.version=8\nhoodie.table.keygenerator.type=SIMPLE\nhoodie.table.partition.fields=pf\n",
        );
        assert!(timestamp_partition_fields(&simple).is_empty());
    }
}
