//! Bring record batches of different files (base file, Avro blocks, parquet blocks) to one
//! Arrow schema, matching columns by name.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, ListArray, MapArray, RecordBatch, RecordBatchOptions, StructArray,
    new_null_array,
};
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef};

/// `batch` with the columns of `schema`, by name: absent columns become all-null (schema
/// evolution), extra columns are dropped, nested types that differ only in child field
/// names or nullability (`element` vs `array` list items, map entry names) are relabelled,
/// and other type differences are converted by [`crate::convert::convert_array`] (an error
/// naming the column when there is no conversion).
pub fn align_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    if batch.schema().fields() == schema.fields() {
        return RecordBatch::try_new_with_options(
            schema.clone(),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| e.to_string());
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(c) => crate::convert::convert_array(c, field.data_type(), field.name())
                .map_err(|e| e.to_string())?,
            None => {
                if !field.is_nullable() {
                    return Err(format!(
                        "column {} is missing and not nullable",
                        field.name()
                    ));
                }
                new_null_array(field.data_type(), batch.num_rows())
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(|e| e.to_string())
}

/// Whether `a` and `b` are the same type up to nested field names and nullability.
pub fn same_shape(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y))
        | (DataType::LargeList(x), DataType::LargeList(y)) => {
            same_shape(x.data_type(), y.data_type())
        }
        (DataType::Map(x, xs), DataType::Map(y, ys)) => {
            xs == ys && same_shape(x.data_type(), y.data_type())
        }
        (DataType::Struct(x), DataType::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(f, g)| same_shape(f.data_type(), g.data_type()))
        }
        (x, y) => x == y,
    }
}

/// `array` as type `target` when only nested labels differ (struct children are matched by
/// name when the names agree, by position otherwise).
pub fn relabel(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, String> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    let err = || format!("type {} cannot be read as {target}", array.data_type());
    match target {
        DataType::List(field) => {
            let DataType::List(_) = array.data_type() else {
                return Err(err());
            };
            let list = array.as_list::<i32>();
            let values = relabel(list.values(), field.data_type())?;
            Ok(Arc::new(
                ListArray::try_new(
                    field.clone(),
                    list.offsets().clone(),
                    values,
                    list.nulls().cloned(),
                )
                .map_err(|e| e.to_string())?,
            ))
        }
        DataType::Struct(fields) => {
            let DataType::Struct(_) = array.data_type() else {
                return Err(err());
            };
            let s = array.as_struct();
            Ok(Arc::new(relabel_struct(s, fields)?))
        }
        DataType::Map(entries, sorted) => {
            let DataType::Map(_, _) = array.data_type() else {
                return Err(err());
            };
            let m = array.as_map();
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(err());
            };
            let inner = relabel_struct(m.entries(), kv)?;
            Ok(Arc::new(
                MapArray::try_new(
                    entries.clone(),
                    m.offsets().clone(),
                    inner,
                    m.nulls().cloned(),
                    *sorted,
                )
                .map_err(|e| e.to_string())?,
            ))
        }
        _ => Err(err()),
    }
}

fn relabel_struct(s: &StructArray, fields: &Fields) -> Result<StructArray, String> {
    let source = s.fields();
    let by_name = fields.iter().all(|f| source.find(f.name()).is_some());
    if !by_name && source.len() != fields.len() {
        return Err(format!(
            "struct with fields {:?} cannot be read as {:?}",
            names(source),
            names(fields)
        ));
    }
    let mut children = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let child = if by_name {
            s.column_by_name(f.name())
                .ok_or_else(|| format!("struct lacks field {}", f.name()))?
        } else {
            s.column(i)
        };
        children.push(relabel(child, f.data_type()).map_err(|e| format!("{}: {e}", f.name()))?);
    }
    if fields.is_empty() {
        return Ok(StructArray::new_empty_fields(s.len(), s.nulls().cloned()));
    }
    StructArray::try_new(fields.clone(), children, s.nulls().cloned()).map_err(|e| e.to_string())
}

fn names(fields: &Fields) -> Vec<&str> {
    fields
        .iter()
        .map(|f: &FieldRef| f.name().as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::{Int32Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn aligns_by_name_fills_missing_and_relabels_lists() {
        let mut lb = ListBuilder::new(Int32Builder::new()).with_field(Field::new(
            "array",
            DataType::Int32,
            true,
        ));
        lb.values().append_value(1);
        lb.append(true);
        lb.append(false);
        let list: ArrayRef = Arc::new(lb.finish());
        let batch = RecordBatch::try_from_iter(vec![
            ("extra", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("l", list),
            ("k", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
        ])
        .unwrap();
        let target = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("new_col", DataType::Int64, true),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new("element", DataType::Int32, true))),
                true,
            ),
        ]));
        let out = align_batch(&batch, &target).unwrap();
        assert_eq!(out.schema(), target);
        assert_eq!(out.column(1).null_count(), 2);
        assert_eq!(out.column(2).as_list::<i32>().value(0).len(), 1);
        assert!(out.column(2).is_null(1));

        let bad = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        assert!(align_batch(&batch, &bad).unwrap_err().contains("column k"));
        let strict = Arc::new(Schema::new(vec![Field::new("zz", DataType::Int64, false)]));
        assert!(align_batch(&batch, &strict).is_err());
    }
}
