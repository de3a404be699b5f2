//! The base file of a MOR slice, streamed through the merger: rows written by an admitted
//! instant in full; of older rows only those whose key the log side overlays, and only the
//! columns the merge compares. Row groups are pruned by their column statistics.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader};
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, RowFilter,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::ParquetMetaData;
use tracing::debug;

use super::Ctx;
use crate::base_file::{BaseFooter, ErrCtx};
use crate::columns::{COMMIT_TIME_COLUMN, RECORD_KEY_COLUMN};
use crate::commit_filter::{TimeSet, commit_time_mask_in, row_groups_within};
use crate::error::{HudiError, Result};
use crate::log::FileGroupMerger;

type Batches = BoxStream<'static, Result<RecordBatch>>;

/// Record keys the base read looks up for every row: a fast hasher.
type KeySet = HashSet<Box<str>, foldhash::fast::RandomState>;

/// A meta column of a filter batch.
fn meta_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> std::result::Result<&'a ArrayRef, arrow_schema::ArrowError> {
    batch.column_by_name(name).ok_or_else(|| {
        arrow_schema::ArrowError::SchemaError(format!("{name} missing from the filter batch"))
    })
}

fn str_at(col: &ArrayRef, row: usize) -> Option<&str> {
    use arrow_array::cast::AsArray;
    if col.is_null(row) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(col.as_string_view().value(row)),
        _ => None,
    }
}

/// The parquet leaves of the meta columns the row filters read.
#[derive(Clone, Copy)]
struct MetaLeaves {
    commit_time: usize,
    record_key: usize,
}

impl MetaLeaves {
    fn find(ctx: &Ctx, footer: &BaseFooter) -> Result<MetaLeaves> {
        let (Some(commit_time), Some(record_key)) = (
            footer.leaf(COMMIT_TIME_COLUMN),
            footer.leaf(RECORD_KEY_COLUMN),
        ) else {
            return Err(HudiError::IncrementalUnsupported {
                table: ctx.table.clone(),
                reason: format!(
                    "{} lacks {COMMIT_TIME_COLUMN} or {RECORD_KEY_COLUMN} (written without meta fields?)",
                    footer.err.base.path
                ),
            });
        };
        Ok(MetaLeaves {
            commit_time,
            record_key,
        })
    }
}

/// The base file's change-relevant rows, in the merge schema's columns.
pub(super) fn stream_base(
    ctx: &Ctx,
    footer: BaseFooter,
    merger: &FileGroupMerger,
    merge_schema: &SchemaRef,
    ordering: &[String],
) -> Result<Batches> {
    let leaves = MetaLeaves::find(ctx, &footer)?;
    let keys: Arc<KeySet> = Arc::new(merger.keys_needing_base_rows().map(Box::from).collect());
    let times = TimeSet::new(&ctx.admitted);
    let md = footer.arm.metadata();
    let (written, overlaid) = prune_row_groups(md, leaves, &times, &keys);
    debug!(
        file = %footer.err.base.path,
        row_groups = md.num_row_groups(),
        written = written.len(),
        overlaid = overlaid.len(),
        "base row groups pruned"
    );
    let base = BaseReader {
        store: ctx.store.clone(),
        arm: footer.arm,
        err: Arc::new(footer.err),
        merge_schema: merge_schema.clone(),
        batch_size: ctx.batch_size,
        leaves,
    };
    let mut parts: Vec<Batches> = Vec::new();
    if !written.is_empty() {
        parts.push(base.written_rows(written, times.clone())?);
    }
    if !overlaid.is_empty() {
        parts.push(base.overlaid_rows(overlaid, times, keys, ordering.to_vec())?);
    }
    Ok(futures::stream::iter(parts).flatten().boxed())
}

/// Row groups that may hold rows written by an admitted instant, and row groups that may
/// hold older rows of keys the log side overlays (by the meta columns' statistics).
fn prune_row_groups(
    md: &ParquetMetaData,
    leaves: MetaLeaves,
    times: &TimeSet,
    keys: &KeySet,
) -> (Vec<usize>, Vec<usize>) {
    let range = |rg: usize, leaf: usize| {
        md.row_group(rg)
            .column(leaf)
            .statistics()
            .and_then(|s| Some((s.min_bytes_opt()?, s.max_bytes_opt()?)))
    };
    let written = row_groups_within(md, leaves.commit_time, times);
    if keys.is_empty() {
        return (written, Vec::new());
    }
    let mut sorted_keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    sorted_keys.sort_unstable();
    let overlaid: Vec<usize> = (0..md.num_row_groups())
        .filter(|rg| {
            range(*rg, leaves.record_key).is_none_or(|(min, max)| {
                let from = sorted_keys.partition_point(|k| k.as_bytes() < min);
                sorted_keys.get(from).is_some_and(|k| k.as_bytes() <= max)
            })
        })
        .collect();
    (written, overlaid)
}

/// Opens filtered, projected streams over row groups of the base file.
struct BaseReader {
    store: DynStore,
    arm: ArrowReaderMetadata,
    err: Arc<ErrCtx>,
    merge_schema: SchemaRef,
    batch_size: usize,
    leaves: MetaLeaves,
}

impl BaseReader {
    /// The root columns of the merge schema that `keep` selects.
    fn roots(&self, keep: &dyn Fn(&str) -> bool) -> Vec<usize> {
        let arrow_schema = self.arm.schema();
        self.merge_schema
            .fields()
            .iter()
            .filter(|f| keep(f.name()))
            .filter_map(|f| arrow_schema.index_of(f.name()).ok())
            .collect()
    }

    fn open(
        &self,
        row_groups: Vec<usize>,
        roots: Vec<usize>,
        predicate: Box<dyn ArrowPredicate>,
    ) -> Result<Batches> {
        let schema_descr = self.arm.metadata().file_metadata().schema_descr_ptr();
        let reader = ParquetObjectReader::new(
            self.store.clone(),
            self.err.base.path.clone(),
            self.err.base.size,
        )
        .with_metadata(self.arm.metadata().clone());
        let e2 = self.err.clone();
        Ok(
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.arm.clone())
                .with_row_groups(row_groups)
                .with_projection(ProjectionMask::roots(&schema_descr, roots))
                .with_row_filter(RowFilter::new(vec![predicate]))
                .with_batch_size(self.batch_size)
                .build()
                .map_err(|e| self.err.map(e))?
                .map_err(move |e| e2.map(e))
                .boxed(),
        )
    }

    /// Rows written by an admitted instant: every merge column (they may be changes).
    fn written_rows(&self, row_groups: Vec<usize>, times: TimeSet) -> Result<Batches> {
        let descr = self.arm.metadata().file_metadata().schema_descr_ptr();
        self.open(
            row_groups,
            self.roots(&|_| true),
            Box::new(ArrowPredicateFn::new(
                ProjectionMask::leaves(&descr, [self.leaves.commit_time]),
                move |batch: RecordBatch| {
                    let ct = meta_column(&batch, COMMIT_TIME_COLUMN)?;
                    commit_time_mask_in(ct, &times)
                },
            )),
        )
    }

    /// Older rows whose key the log side overlays: only what the merge compares (key, commit
    /// time, ordering fields). Such a row is never a change itself — when it wins the merge,
    /// the key did not change in the window —, so the merger only needs it to decide whether
    /// the log's version wins; its other columns stay null.
    fn overlaid_rows(
        &self,
        row_groups: Vec<usize>,
        times: TimeSet,
        keys: Arc<KeySet>,
        ordering: Vec<String>,
    ) -> Result<Batches> {
        let descr = self.arm.metadata().file_metadata().schema_descr_ptr();
        let leaves = [self.leaves.commit_time, self.leaves.record_key];
        self.open(
            row_groups,
            self.roots(&|name: &str| {
                [RECORD_KEY_COLUMN, COMMIT_TIME_COLUMN].contains(&name)
                    || ordering.iter().any(|f| f == name)
            }),
            Box::new(ArrowPredicateFn::new(
                ProjectionMask::leaves(&descr, leaves),
                move |batch: RecordBatch| {
                    let ct = meta_column(&batch, COMMIT_TIME_COLUMN)?;
                    let key = meta_column(&batch, RECORD_KEY_COLUMN)?;
                    Ok((0..batch.num_rows())
                        .map(|i| {
                            Some(
                                str_at(key, i).is_some_and(|x| keys.contains(x))
                                    && !str_at(ct, i).is_some_and(|c| times.contains(c)),
                            )
                        })
                        .collect::<BooleanArray>())
                },
            )),
        )
    }
}
