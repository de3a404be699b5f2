//! The merged stream of a MOR slice: base batches through the merger, then the log rows and
//! the deletes, as change rows.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tracing::debug;

use super::Ctx;
use crate::columns::OP_UPSERT;
use crate::convert::conform_batch;
use crate::error::{HudiError, Result};
use crate::log::{DeleteRowSpec, FileGroupMerger, delete_change_batch};

/// Select the output columns of a merged batch and append `_op = "upsert"`.
fn to_output(out: &SchemaRef, batch: &RecordBatch) -> std::result::Result<RecordBatch, String> {
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(out.fields().len());
    for f in out.fields().iter().take(out.fields().len() - 1) {
        let c = batch
            .column_by_name(f.name())
            .ok_or_else(|| format!("merged rows lack column {}", f.name()))?;
        cols.push(c.clone());
    }
    cols.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(OP_UPSERT, n),
    )));
    RecordBatch::try_new(out.clone(), cols).map_err(|e| e.to_string())
}

/// The state of a slice's merged stream: base batches through the merger, then the log rows
/// and the deletes.
struct MergedSlice {
    merger: Option<FileGroupMerger>,
    base: BoxStream<'static, Result<RecordBatch>>,
    out_schema: SchemaRef,
    /// The merger's row schema (base batches are converted to it)
    merge_schema: SchemaRef,
    spec: DeleteRowSpec,
    table: String,
    group: String,
    /// The base file's path (for conversion errors).
    base_file: String,
    batch_size: usize,
}

impl MergedSlice {
    fn err(&self, reason: String) -> HudiError {
        HudiError::ReadFailed {
            table: self.table.clone(),
            file: format!("file group {}", self.group),
            reason,
            transient: false,
        }
    }

    /// The next output batches; `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<RecordBatch>>> {
        if self.merger.is_none() {
            return Ok(None);
        }
        while let Some(batch) = self.base.try_next().await? {
            let batch = conform_batch(&batch, &self.merge_schema).map_err(|source| {
                HudiError::TypeConversion {
                    table: self.table.clone(),
                    file: self.base_file.clone(),
                    source: Box::new(source),
                }
            })?;
            let changed = match self.merger.as_mut() {
                Some(m) => m.merge_base_batch(&batch),
                None => return Ok(None),
            };
            let changed = changed.map_err(|e| self.err(e.to_string()))?;
            if changed.num_rows() > 0 {
                let out = to_output(&self.out_schema, &changed).map_err(|e| self.err(e))?;
                return Ok(Some(vec![out]));
            }
        }
        let Some(merger) = self.merger.take() else {
            return Ok(None);
        };
        let out = merger.finish().map_err(|e| self.err(e.to_string()))?;
        let mut batches = Vec::with_capacity(out.upserts.len() + 1);
        for b in &out.upserts {
            batches.push(to_output(&self.out_schema, b).map_err(|e| self.err(e))?);
        }
        for chunk in out.deletes.chunks(self.batch_size.max(1)) {
            batches.push(
                delete_change_batch(&self.out_schema, chunk, &self.spec)
                    .map_err(|e| self.err(e))?,
            );
        }
        debug!(group = %self.group, stats = ?out.stats, "file slice merged");
        Ok(Some(batches))
    }
}

/// Base batches through the merger, then the log rows and the deletes.
pub(super) fn merged_stream(
    ctx: Ctx,
    merger: FileGroupMerger,
    base: BoxStream<'static, Result<RecordBatch>>,
    out_schema: SchemaRef,
    merge_schema: SchemaRef,
    spec: DeleteRowSpec,
) -> BoxStream<'static, Result<RecordBatch>> {
    let state = MergedSlice {
        merger: Some(merger),
        base,
        out_schema,
        merge_schema,
        spec,
        group: ctx.group(),
        base_file: ctx
            .slice
            .base_file
            .as_ref()
            .map(|b| b.path.clone())
            .unwrap_or_default(),
        table: ctx.table,
        batch_size: ctx.batch_size,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        Ok(state.next().await?.map(|batches| (batches, state)))
    })
    .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}
