//! A table's column mapping: which of the Hudi table's columns reach staging (an include or
//! an exclude list), under which names, and with which type where the derived one is not
//! wanted. Columns the sync itself needs (the Hudi meta columns, the delete markers, the key
//! and ordering columns) are always kept.
//!
//! The mapping acts twice: [`ColumnMapping::read_columns`] is the projection handed to the
//! reader (excluded columns are never fetched from storage), and
//! [`ColumnMapping::map_batch`] shapes every change batch before it is COPYed (dropping what a
//! reader returned anyway, renaming, converting).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Which columns reach staging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ColumnSelect {
    /// Every column.
    #[default]
    All,
    /// Only these (plus the ones the sync needs).
    Include(Vec<String>),
    /// Every column but these.
    Exclude(Vec<String>),
}

/// A staging type chosen instead of the derived one (a closed set: what the apply path can
/// write from the converted Arrow values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeOverride {
    /// `text`: scalars in their text form, nested values (otherwise `jsonb`) as JSON text.
    Text,
}

impl TypeOverride {
    /// Parse a configured type name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(TypeOverride::Text),
            other => Err(format!("type {other:?} is not supported (supported: text)")),
        }
    }
}

/// The column mapping of one table. The default keeps every column as derived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMapping {
    /// Which columns reach staging.
    pub select: ColumnSelect,
    /// Source name → staging name.
    pub rename: BTreeMap<String, String>,
    /// Source name → staging type.
    pub types: BTreeMap<String, TypeOverride>,
}

/// Columns a reader adds or the apply path reads whatever the selection says.
const ALWAYS: [&str; 3] = [hps_hudi::OP_COLUMN, "_hoodie_is_deleted", "Op"];

impl ColumnMapping {
    /// Whether the mapping changes nothing.
    pub fn is_identity(&self) -> bool {
        self == &ColumnMapping::default()
    }

    /// Whether source column `name` reaches staging; `required` are the key and ordering
    /// columns.
    fn keeps(&self, name: &str, required: &[String]) -> bool {
        if hps_hudi::META_COLUMNS.contains(&name)
            || ALWAYS.contains(&name)
            || required.iter().any(|r| r == name)
        {
            return true;
        }
        match &self.select {
            ColumnSelect::All => true,
            ColumnSelect::Include(cols) => cols.iter().any(|c| c == name),
            ColumnSelect::Exclude(cols) => !cols.iter().any(|c| c == name),
        }
    }

    /// The projection for the reader: the table schema's columns that reach staging, in its
    /// order; `None` (read everything) when every column is kept or the table records no
    /// schema.
    pub fn read_columns(&self, table: Option<&Schema>, required: &[String]) -> Option<Vec<String>> {
        if self.select == ColumnSelect::All {
            return None;
        }
        let table = table?;
        // every file written with meta fields has them, whether the table schema lists them
        let meta = hps_hudi::META_COLUMNS
            .iter()
            .filter(|m| table.field_with_name(m).is_err())
            .map(|m| m.to_string());
        let data = table
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| self.keeps(n, required));
        Some(meta.chain(data).collect())
    }

    /// The staging name of source column `name`.
    pub fn target_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.rename.get(name).map_or(name, String::as_str)
    }

    /// The shape [`Self::map_batch`] gives batches of `schema`.
    pub fn map_schema(&self, schema: &Schema, required: &[String]) -> SchemaRef {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .filter(|f| self.keeps(f.name(), required))
            .map(|f| {
                let mut out = f.as_ref().clone().with_name(self.target_name(f.name()));
                if self.types.contains_key(f.name()) {
                    out = out.with_data_type(DataType::Utf8);
                }
                out
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// `batch` with the columns that do not reach staging dropped, renamed, and converted to
    /// the overridden types.
    pub fn map_batch(
        &self,
        batch: &RecordBatch,
        required: &[String],
    ) -> Result<RecordBatch, String> {
        if self.is_identity() {
            return Ok(batch.clone());
        }
        let schema = batch.schema();
        let out_schema = self.map_schema(&schema, required);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(out_schema.fields().len());
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            if !self.keeps(f.name(), required) {
                continue;
            }
            match self.types.get(f.name()) {
                Some(TypeOverride::Text) => columns.push(as_text(c, f.name())?),
                None => columns.push(c.clone()),
            }
        }
        RecordBatch::try_new_with_options(
            out_schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| format!("mapping the columns of a change batch: {e}"))
    }
}

/// A column as text: nested values as JSON (as they would be in `jsonb`), scalars in Arrow's
/// text form.
fn as_text(array: &ArrayRef, name: &str) -> Result<ArrayRef, String> {
    match array.data_type() {
        DataType::Utf8 => Ok(array.clone()),
        DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) | DataType::Map(..) => {
            hps_postgres::json_text(array.as_ref())
                .map_err(|e| format!("column {name:?} as text: {e}"))
        }
        _ => arrow_cast::cast(array, &DataType::Utf8)
            .map_err(|e| format!("column {name:?} as text: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("_hoodie_commit_time", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("email", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
            Field::new("_op", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["1"])),
                Arc::new(Int64Array::from(vec![7])),
                Arc::new(StringArray::from(vec!["a@b"])),
                Arc::new(Int64Array::from(vec![42])),
                Arc::new(StringArray::from(vec!["upsert"])),
            ],
        )
        .unwrap()
    }

    fn names(s: &Schema) -> Vec<&str> {
        s.fields().iter().map(|f| f.name().as_str()).collect()
    }

    #[test]
    fn exclude_rename_and_text() {
        let m = ColumnMapping {
            select: ColumnSelect::Exclude(vec!["email".into(), "id".into()]),
            rename: [("amount".to_string(), "amount_cents".to_string())].into(),
            types: [("amount".to_string(), TypeOverride::Text)].into(),
        };
        let req = vec!["id".to_string()];
        let out = m.map_batch(&batch(), &req).unwrap();
        // the key column stays although excluded
        assert_eq!(
            names(&out.schema()),
            vec!["_hoodie_commit_time", "id", "amount_cents", "_op"]
        );
        let amount = out
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(amount.value(0), "42");
        let table = batch().schema();
        assert_eq!(
            m.read_columns(Some(&table), &req).unwrap(),
            vec![
                "_hoodie_commit_seqno",
                "_hoodie_record_key",
                "_hoodie_partition_path",
                "_hoodie_file_name",
                "_hoodie_commit_time",
                "id",
                "amount",
                "_op"
            ]
        );
    }

    #[test]
    fn include_list_and_identity() {
        let m = ColumnMapping {
            select: ColumnSelect::Include(vec!["amount".into()]),
            ..Default::default()
        };
        let out = m.map_batch(&batch(), &[]).unwrap();
        assert_eq!(
            names(&out.schema()),
            vec!["_hoodie_commit_time", "amount", "_op"]
        );
        assert!(ColumnMapping::default().is_identity());
        assert_eq!(
            ColumnMapping::default().read_columns(Some(&batch().schema()), &[]),
            None
        );
        assert!(TypeOverride::parse("jsonb").is_err());
    }
}
