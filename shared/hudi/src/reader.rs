//! The streaming file-slice reader: Arrow record batches of change rows from one base file,
//! keeping only rows written by admitted instants.
//!
//! Memory is bounded by one row group at a time: the parquet async reader fetches, with ranged
//! reads, the footer and then, per row group, the column chunks of the `_hoodie_commit_time`
//! filter column and of the projected columns; rows are decoded `batch_size` at a time. Row
//! groups whose `_hoodie_commit_time` min/max statistics exclude every admitted time are never
//! fetched.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader};
use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use tracing::{Instrument, debug, info_span};

use crate::base_file::{BaseFooter, ErrCtx};
use crate::columns::{COMMIT_TIME_COLUMN, OP_UPSERT};
use crate::commit_filter::{TimeSet, commit_time_mask_in, row_groups_within};
use crate::error::{HudiError, Result};
use crate::instant::CommitTimes;
use crate::plan::{BaseFile, FileSlice};

use crate::change_rows::projected_indices;
pub use crate::change_rows::{DEFAULT_BATCH_SIZE, ReadOptions, change_schema};

pub(crate) struct SliceRead {
    pub store: DynStore,
    pub table: String,
    pub slice: FileSlice,
    pub commit_times: Arc<CommitTimes>,
    pub options: ReadOptions,
    /// MOR tables: what merging log files needs.
    pub mor: Option<Arc<crate::mor::MorContext>>,
    /// The table schema every column's values are converted to (see [`crate::convert`]).
    pub table_schema: Option<SchemaRef>,
}

impl SliceRead {
    /// The batches of one slice as a stream.
    pub fn stream(self) -> BoxStream<'static, Result<RecordBatch>> {
        let span = info_span!("read_slice", table = %self.table, partition = %self.slice.partition_path, file_id = %self.slice.file_id);
        futures::stream::once(async move { self.open().await }.instrument(span))
            .try_flatten()
            .boxed()
    }

    async fn open(self) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        if crate::mor::needs_merge(&self.slice) {
            return self.open_mor().await;
        }
        match self.slice.base_file.clone() {
            Some(base) => self.open_base(&base).await,
            None => Ok(futures::stream::empty().boxed()),
        }
    }

    /// A slice with log files: merged by [`crate::mor`].
    async fn open_mor(self) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let Some(mor) = self.mor.clone() else {
            return Err(HudiError::NotYetSupported {
                table: self.table,
                what: format!(
                    "log files in file group {} of a table that is not merge-on-read",
                    self.slice.file_id
                ),
            });
        };
        crate::mor::open_slice(
            self.store,
            self.table,
            self.slice,
            self.commit_times,
            self.options.columns,
            self.options.batch_size,
            mor,
        )
        .await
    }

    /// A base file alone: its rows written by admitted instants, in the projected columns.
    async fn open_base(self, base: &BaseFile) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let footer = BaseFooter::load(&self.store, &self.table, base).await?;
        let ct_leaf =
            footer
                .leaf(COMMIT_TIME_COLUMN)
                .ok_or_else(|| HudiError::IncrementalUnsupported {
                    table: self.table.clone(),
                    reason: format!(
                        "{} has no {COMMIT_TIME_COLUMN} column (written without meta fields?)",
                        base.path
                    ),
                })?;
        // row-group pruning on _hoodie_commit_time min/max
        let wanted = TimeSet::new(&self.commit_times);
        let md = footer.arm.metadata();
        let row_groups = row_groups_within(md, ct_leaf, &wanted);
        debug!(file = %base.path, row_groups = md.num_row_groups(), kept = row_groups.len(), "row groups pruned");
        let roots = self.projection_roots(footer.arm.schema(), &base.path)?;
        let schema_descr = md.file_metadata().schema_descr_ptr();
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::leaves(&schema_descr, [ct_leaf]),
            move |batch: RecordBatch| commit_time_mask_in(batch.column(0), &wanted),
        );
        let batch_size = if self.options.batch_size == 0 {
            DEFAULT_BATCH_SIZE
        } else {
            self.options.batch_size
        };
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(
            footer.reader(&self.store),
            footer.arm.clone(),
        )
        .with_row_groups(row_groups)
        .with_projection(ProjectionMask::roots(&schema_descr, roots))
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| footer.err.map(e))?;
        Ok(change_batches(stream, self.table_schema, footer.err))
    }

    /// The root columns of the projection (every column without one; `_op` is no file column).
    fn projection_roots(&self, file_schema: &Schema, path: &str) -> Result<Vec<usize>> {
        match &self.options.columns {
            None => Ok((0..file_schema.fields().len()).collect()),
            Some(cols) => projected_indices(
                &self.table,
                file_schema,
                self.table_schema.as_deref(),
                cols,
                path,
            ),
        }
    }
}

/// The change rows of a base file's stream, converted to the table schema's types.
fn change_batches(
    stream: ParquetRecordBatchStream<ParquetObjectReader>,
    table_schema: Option<SchemaRef>,
    err: ErrCtx,
) -> BoxStream<'static, Result<RecordBatch>> {
    let out_schema = match &table_schema {
        Some(t) => change_schema(&crate::convert::with_table_types(stream.schema(), t)),
        None => change_schema(stream.schema()),
    };
    stream
        .map(move |r| match r {
            Ok(b) => {
                let b = match &table_schema {
                    Some(t) => crate::convert::conform_batch(&b, t).map_err(|source| {
                        HudiError::TypeConversion {
                            table: err.table.clone(),
                            file: err.base.path.clone(),
                            source: Box::new(source),
                        }
                    })?,
                    None => b,
                };
                to_change_batch(&out_schema, b)
                    .map_err(|e| err.map(ParquetError::ArrowError(e.to_string())))
            }
            Err(e) => Err(err.map(e)),
        })
        .boxed()
}

/// Append `_op = "upsert"` and relabel the columns as nullable.
fn to_change_batch(
    schema: &SchemaRef,
    batch: RecordBatch,
) -> std::result::Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(OP_UPSERT, n),
    )));
    RecordBatch::try_new(schema.clone(), cols)
}
