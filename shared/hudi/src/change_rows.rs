//! What a read returns: its options (projection, batch size) and the change schema of its
//! batches (every column nullable, plus `_op`).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::columns::OP_COLUMN;
use crate::error::{HudiError, Result};

/// Options of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Columns to return (top-level names), in file order; `None` = all columns.
    /// `_op` is always appended.
    pub columns: Option<Vec<String>>,
    /// Rows per output batch (upper bound). Zero is treated as the default.
    pub batch_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            columns: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Default rows per batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// Whether `column` is one the table has (by its table schema) but this file was written
/// without (added later): a projection naming it reads nothing from the file, and the file's
/// rows have no value for it, as when every column is read.
pub(crate) fn added_after(
    file_schema: &Schema,
    table_schema: Option<&Schema>,
    column: &str,
) -> bool {
    file_schema.field_with_name(column).is_err()
        && table_schema.is_some_and(|t| t.field_with_name(column).is_ok())
}

/// The indices of the requested columns in a file's schema, in file order (`_op` is no file
/// column); a column the file lacks is [`HudiError::UnknownColumn`], unless the table schema
/// has it ([`added_after`]).
pub(crate) fn projected_indices(
    table: &str,
    file_schema: &Schema,
    table_schema: Option<&Schema>,
    columns: &[String],
    path: &str,
) -> Result<Vec<usize>> {
    let mut idx = Vec::with_capacity(columns.len());
    for c in columns
        .iter()
        .filter(|c| c.as_str() != OP_COLUMN && !added_after(file_schema, table_schema, c))
    {
        let i = file_schema
            .index_of(c)
            .map_err(|_| HudiError::UnknownColumn {
                table: table.to_string(),
                column: c.clone(),
                file: path.to_string(),
            })?;
        idx.push(i);
    }
    idx.sort_unstable();
    idx.dedup();
    Ok(idx)
}

/// The change schema for a file schema: every field nullable, no file-level metadata, plus a
/// trailing non-null `_op` Utf8 column.
pub fn change_schema(file_schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .filter(|f| f.name() != OP_COLUMN)
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new(OP_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_schema_is_nullable_with_op() {
        let s = Schema::new(vec![
            Field::new("_hoodie_commit_time", DataType::Utf8, false),
            Field::new("x", DataType::Int64, false),
        ])
        .with_metadata(std::collections::HashMap::from([(
            "parquet.avro.schema".to_string(),
            "{}".to_string(),
        )]));
        let c = change_schema(&s);
        assert!(c.metadata().is_empty());
        assert_eq!(c.fields().len(), 3);
        assert!(c.field(0).is_nullable() && c.field(1).is_nullable());
        assert_eq!(c.field(2).name(), OP_COLUMN);
        assert!(!c.field(2).is_nullable());
    }
}
