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
use arrow_schema::{ArrowError, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use tracing::{Instrument, debug, info_span};

use crate::columns::{COMMIT_TIME_COLUMN, OP_COLUMN, OP_UPSERT};
use crate::commit_filter::{TimeSet, commit_time_mask_in};
use crate::error::{HudiError, Result};
use crate::instant::CommitTimes;
use crate::parquet_error::ErrCtx;
use crate::plan::FileSlice;

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
        let table = self.table.clone();
        if crate::mor::needs_merge(&self.slice) {
            let Some(mor) = self.mor.clone() else {
                return Err(HudiError::NotYetSupported {
                    table,
                    what: format!(
                        "log files in file group {} of a table that is not merge-on-read",
                        self.slice.file_id
                    ),
                });
            };
            return crate::mor::open_slice(
                self.store,
                table,
                self.slice,
                self.commit_times,
                self.options.columns,
                self.options.batch_size,
                mor,
            )
            .await;
        }
        let Some(base) = self.slice.base_file.clone() else {
            return Ok(futures::stream::empty().boxed());
        };
        let err = ErrCtx {
            table: table.clone(),
            base: base.clone(),
        };
        let mut reader = ParquetObjectReader::new(self.store.clone(), base.path.clone(), base.size);
        let md: Arc<ParquetMetaData> = reader.load_metadata().await.map_err(|e| err.map(e))?;
        let arm = ArrowReaderMetadata::try_new(
            md.clone(),
            ArrowReaderOptions::new().with_skip_arrow_metadata(true),
        )
        .map_err(|e| err.map(e))?;
        let schema_descr = md.file_metadata().schema_descr_ptr();
        let ct_leaf = (0..schema_descr.num_columns())
            .find(|i| schema_descr.column(*i).path().string() == COMMIT_TIME_COLUMN)
            .ok_or_else(|| HudiError::IncrementalUnsupported {
                table: table.clone(),
                reason: format!(
                    "{} has no {COMMIT_TIME_COLUMN} column (written without meta fields?)",
                    base.path
                ),
            })?;

        // row-group pruning on _hoodie_commit_time min/max
        let wanted = TimeSet::new(&self.commit_times);
        let row_groups: Vec<usize> = (0..md.num_row_groups())
            .filter(|rg| {
                let col = md.row_group(*rg).column(ct_leaf);
                match col
                    .statistics()
                    .map(|s| (s.min_bytes_opt(), s.max_bytes_opt()))
                {
                    Some((Some(min), Some(max))) => wanted.any_within(min, max),
                    _ => true,
                }
            })
            .collect();
        debug!(file = %base.path, row_groups = md.num_row_groups(), kept = row_groups.len(), "row groups pruned");

        // projection
        let file_schema = arm.schema().clone();
        let roots: Vec<usize> = match &self.options.columns {
            None => (0..file_schema.fields().len()).collect(),
            Some(cols) => {
                let mut idx = Vec::with_capacity(cols.len());
                for c in cols {
                    if c == OP_COLUMN {
                        continue;
                    }
                    let i = file_schema
                        .index_of(c)
                        .map_err(|_| HudiError::UnknownColumn {
                            table: table.clone(),
                            column: c.clone(),
                            file: base.path.clone(),
                        })?;
                    idx.push(i);
                }
                idx.sort_unstable();
                idx.dedup();
                idx
            }
        };
        let projection = ProjectionMask::roots(&schema_descr, roots);
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::leaves(&schema_descr, [ct_leaf]),
            move |batch: RecordBatch| commit_time_mask_in(batch.column(0), &wanted),
        );
        let batch_size = if self.options.batch_size == 0 {
            DEFAULT_BATCH_SIZE
        } else {
            self.options.batch_size
        };
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, arm)
            .with_row_groups(row_groups)
            .with_projection(projection)
            .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| err.map(e))?;
        let table_schema = self.table_schema;
        let out_schema = match &table_schema {
            Some(t) => change_schema(&crate::convert::with_table_types(stream.schema(), t)),
            None => change_schema(stream.schema()),
        };
        Ok(stream
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
            .boxed())
    }
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
