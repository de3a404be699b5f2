//! The row schemas of a MOR slice: the file schema (base file or log blocks, evolved by the
//! logs' schemas, typed by the table schema), the output projection and the merge schema.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::change_rows::change_schema;
use crate::columns::{COMMIT_TIME_COLUMN, META_COLUMNS, PARTITION_PATH_COLUMN, RECORD_KEY_COLUMN};
use crate::convert::unify;
use crate::log::{
    BlockType, DataBlockOptions, DataBlockReader, LogBlock, LogError, avro_schema_to_arrow,
};
use hps_storage::DynStore;

/// The row schema of a slice without a base file: from the first block's `SCHEMA` header, or
/// the first parquet data block, or (deletes only, no schema anywhere) the meta columns.
pub(super) async fn log_only_schema(
    store: &DynStore,
    blocks: &[&LogBlock],
    opts: &DataBlockOptions,
) -> std::result::Result<Schema, LogError> {
    for b in blocks {
        if let Some(s) = b.header.schema()
            && let Ok(schema) = avro_schema_to_arrow(s)
        {
            return Ok(schema);
        }
    }
    if let Some(b) = blocks
        .iter()
        .find(|b| b.block_type == BlockType::ParquetData)
    {
        let r = DataBlockReader::open(store, b, None, opts).await?;
        return Ok(r.schema().as_ref().clone());
    }
    Ok(Schema::new(
        META_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// `schema` evolved by the log blocks' `SCHEMA` headers (schema evolution after the base file
/// was written): columns only the logs carry are appended as nullable in block order, and
/// columns whose type the logs changed take the common type of both
/// ([`crate::convert::unify`]: the wider number, the annotated timestamp or date over a plain
/// number, the number over a string; base rows are converted on read). Columns the logs no
/// longer carry stay (null in their rows). The table schema, when known, overrides these
/// types afterwards.
pub(super) fn with_log_columns<'a>(
    schema: Schema,
    blocks: impl Iterator<Item = &'a LogBlock>,
) -> Schema {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut names: HashSet<String> = fields.iter().map(|f| f.name().clone()).collect();
    let mut parsed: HashSet<&str> = HashSet::new();
    for b in blocks {
        let Some(json) = b.header.schema() else {
            continue;
        };
        if !parsed.insert(json) {
            continue;
        }
        // an unusable schema fails later, where the block is decoded
        let Ok(log_schema) = avro_schema_to_arrow(json) else {
            continue;
        };
        for f in log_schema.fields() {
            if names.insert(f.name().clone()) {
                fields.push(f.as_ref().clone().with_nullable(true));
            } else if let Some(existing) = fields.iter_mut().find(|e| e.name() == f.name())
                && existing.data_type() != f.data_type()
                && let Some(common) = unify(existing.data_type(), f.data_type())
            {
                *existing = existing.clone().with_data_type(common).with_nullable(true);
            }
        }
    }
    Schema::new(fields)
}

/// `schema` restricted to `keep` (file order).
fn project_schema(schema: &Schema, keep: &dyn Fn(&str) -> bool) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| keep(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

/// The schemas of a slice read.
pub(super) struct SliceSchemas {
    /// Change rows: the projected columns plus `_op`.
    pub out: SchemaRef,
    /// The merger's rows: the projection plus the key, commit time, partition path and
    /// ordering columns, every column nullable (overlaid base rows are read with the merge's
    /// columns only).
    pub merge: SchemaRef,
}

impl SliceSchemas {
    pub(super) fn new(
        file_schema: &Schema,
        columns: Option<&[String]>,
        ordering_fields: &[String],
    ) -> SliceSchemas {
        let wanted = |name: &str| columns.is_none_or(|cols| cols.iter().any(|c| c == name));
        let out = change_schema(&project_schema(file_schema, &wanted));
        let merge = project_schema(file_schema, &|name: &str| {
            wanted(name)
                || [RECORD_KEY_COLUMN, COMMIT_TIME_COLUMN, PARTITION_PATH_COLUMN].contains(&name)
                || ordering_fields.iter().any(|f| f == name)
        });
        let merge: SchemaRef = Arc::new(Schema::new(
            merge
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        SliceSchemas { out, merge }
    }

    /// The ordering fields the merge schema holds.
    pub(super) fn ordering_fields(&self, ordering_fields: &[String]) -> Vec<String> {
        ordering_fields
            .iter()
            .filter(|f| self.merge.field_with_name(f).is_ok())
            .cloned()
            .collect()
    }
}
