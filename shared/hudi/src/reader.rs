//! The streaming file-slice reader: Arrow record batches of change rows from one base file,
//! keeping only rows written by admitted instants.
//!
//! Memory is bounded by one row group at a time: the parquet async reader fetches, with ranged
//! reads, the footer and then, per row group, the column chunks of the `_hoodie_commit_time`
//! filter column and of the projected columns; rows are decoded `batch_size` at a time. Row
//! groups whose `_hoodie_commit_time` min/max statistics exclude every admitted time are never
//! fetched.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader, StorageError};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use tracing::{Instrument, debug, info_span};

use crate::columns::{COMMIT_TIME_COLUMN, OP_COLUMN, OP_UPSERT};
use crate::error::{HudiError, Result};
use crate::instant::CommitTimes;
use crate::plan::{BaseFile, FileSlice};

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

/// The admitted commit times of a read, for per-row checks: a window admits a handful of
/// instants, so a short list of byte strings compared by length first beats hashing every
/// row's commit time; long windows use a hash set.
#[derive(Debug, Clone)]
pub(crate) enum TimeSet {
    /// A snapshot: every row.
    All,
    Few(Vec<Box<[u8]>>),
    Many(HashSet<String, foldhash::fast::RandomState>),
}

impl TimeSet {
    pub(crate) fn new(times: &CommitTimes) -> TimeSet {
        let times = match times {
            CommitTimes::All => return TimeSet::All,
            CommitTimes::Only(t) => t,
        };
        if times.len() <= 16 {
            TimeSet::Few(times.iter().map(|t| t.as_bytes().into()).collect())
        } else {
            TimeSet::Many(times.iter().cloned().collect())
        }
    }

    /// Whether a time lies within `min..=max` (row-group statistics).
    pub(crate) fn any_within(&self, min: &[u8], max: &[u8]) -> bool {
        match self {
            TimeSet::All => true,
            TimeSet::Few(v) => v.iter().any(|t| t.as_ref() >= min && t.as_ref() <= max),
            TimeSet::Many(s) => s.iter().any(|t| t.as_bytes() >= min && t.as_bytes() <= max),
        }
    }

    #[inline]
    pub(crate) fn contains(&self, t: &str) -> bool {
        match self {
            TimeSet::All => true,
            TimeSet::Few(v) => v.iter().any(|w| w.as_ref() == t.as_bytes()),
            TimeSet::Many(s) => s.contains(t),
        }
    }
}

/// `true` where the commit time is one of `wanted`.
#[cfg(test)]
fn commit_time_mask(
    col: &ArrayRef,
    wanted: &HashSet<String>,
) -> std::result::Result<BooleanArray, ArrowError> {
    commit_time_mask_in(col, &TimeSet::new(&CommitTimes::Only(wanted.clone())))
}

/// `true` where the commit time is one of `wanted`.
pub(crate) fn commit_time_mask_in(
    col: &ArrayRef,
    wanted: &TimeSet,
) -> std::result::Result<BooleanArray, ArrowError> {
    fn mask<'a>(it: impl Iterator<Item = Option<&'a str>>, wanted: &TimeSet) -> BooleanArray {
        it.map(|v| Some(v.is_some_and(|s| wanted.contains(s))))
            .collect()
    }
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        Ok(mask(a.iter(), wanted))
    } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
        Ok(mask(a.iter(), wanted))
    } else if let Some(a) = col.as_any().downcast_ref::<StringViewArray>() {
        Ok(mask(a.iter(), wanted))
    } else {
        Err(ArrowError::SchemaError(format!(
            "{COMMIT_TIME_COLUMN} has type {}, expected a string",
            col.data_type()
        )))
    }
}

pub(crate) struct ErrCtx {
    pub table: String,
    pub base: BaseFile,
}

impl ErrCtx {
    pub(crate) fn map(&self, e: ParquetError) -> HudiError {
        let table = self.table.clone();
        let file = self.base.path.clone();
        let instant = self.base.instant_time.clone();
        match e {
            ParquetError::External(inner) => match inner.downcast::<StorageError>() {
                Ok(se) if se.is_not_found() => HudiError::HistoryNotRetained {
                    table,
                    file,
                    instant,
                    hint:
                        "the planned file disappeared before it was read (cleaned or rolled back); \
                           the incremental history is gone: resync the table (full snapshot)"
                            .to_string(),
                },
                Ok(se) => HudiError::Storage { table, source: *se },
                Err(other) => HudiError::ReadFailed {
                    table,
                    file,
                    reason: other.to_string(),
                    transient: false,
                },
            },
            ParquetError::EOF(m) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: m,
            },
            ParquetError::General(m) if is_corruption(&m) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: m,
            },
            ParquetError::NeedMoreData(n) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: format!("needs {n} more bytes"),
            },
            ParquetError::NeedMoreDataRange(r) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: format!("needs bytes {}..{}", r.start, r.end),
            },
            other => HudiError::ReadFailed {
                table,
                file,
                reason: other.to_string(),
                transient: false,
            },
        }
    }
}

fn is_corruption(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    [
        "corrupt",
        "invalid parquet",
        "eof",
        "magic",
        "truncat",
        "out of bound",
        "unexpected end",
        "could not parse metadata",
    ]
    .iter()
    .any(|k| l.contains(k))
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

    #[test]
    fn mask_handles_nulls_and_types() {
        let wanted: HashSet<String> = ["a".to_string()].into_iter().collect();
        let col: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let m = commit_time_mask(&col, &wanted).unwrap();
        assert_eq!(m, BooleanArray::from(vec![true, false, false]));
        let bad: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1]));
        assert!(commit_time_mask(&bad, &wanted).is_err());
    }
}
