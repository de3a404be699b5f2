//! Layout 2 archives: the LSM history under `.hoodie/timeline/history`.
//!
//! `_version_` holds the current snapshot version `N` (decimal text); `manifest_N` is JSON
//! `{"files":[{"fileName":…,"fileLen":…}]}` listing the parquet files of that snapshot, named
//! `<minInstant>_<maxInstant>_<layer>.parquet`; each row of those files is one completed
//! instant (`instantTime`, `completionTime`, `action`, `metadata`, `plan`, `version`).
//!
//! Only the files of the current manifest are trusted; other parquet files in the folder are
//! unfinished writes or compaction leftovers. Each row group is read twice: first the small
//! time and action columns, then, only when a row is wanted, its `metadata` payload (a
//! one-record Avro container, the same format as an active instant file). While `_version_` is
//! being replaced (the writer deletes, then creates it) the highest `manifest_N` is used; if a
//! listed file vanishes (a compaction and clean ran meanwhile) the read starts over once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, StringArray};
use arrow_schema::DataType;
use futures::TryStreamExt;
use hps_storage::{ObjectMeta, ParquetObjectReader, StorageError};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use serde::Deserialize;
use tracing::{debug, warn};

use super::datum::decode_single_record_ocf;
use super::{ArchiveCtx, ArchivedInstant, Loaded, rolled_back_from_json};
use crate::error::{HudiError, Result};
use crate::instant::{Action, is_valid_instant_time};
use crate::metadata::CommitMetadata;

const VERSION_FILE: &str = "_version_";
const MANIFEST_PREFIX: &str = "manifest_";
/// Largest `_version_` / manifest accepted (real ones are bytes to kilobytes).
const MAX_SMALL_FILE: u64 = 16 * 1024 * 1024;
/// Rows per decoded batch while reading payloads (each row holds a whole instant file).
const PAYLOAD_BATCH_ROWS: usize = 64;

const COL_INSTANT: &str = "instantTime";
const COL_COMPLETION: &str = "completionTime";
const COL_ACTION: &str = "action";
const COL_METADATA: &str = "metadata";

/// One file listed by a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    /// The parquet file name (no folder).
    pub file_name: String,
    /// Its size in bytes as the writer recorded it.
    pub file_len: u64,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    files: Vec<ManifestEntry>,
}

/// A history file name `<min>_<max>_<layer>.parquet`: `(min, max, layer)`.
pub fn parse_history_name(name: &str) -> Option<(String, String, u32)> {
    let stem = name.strip_suffix(".parquet")?;
    let mut it = stem.split('_');
    let (min, max, layer) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !is_valid_instant_time(min) || !is_valid_instant_time(max) {
        return None;
    }
    if layer.is_empty() || layer.len() > 9 || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((min.to_string(), max.to_string(), layer.parse().ok()?))
}

/// Why one pass over the history did not finish.
enum Pass {
    Done(Loaded),
    /// A file of the manifest vanished while being read.
    Vanished(String),
}

/// Read the layout-2 history.
pub(crate) async fn load(ctx: &ArchiveCtx<'_>) -> Result<Loaded> {
    match load_pass(ctx).await? {
        Pass::Done(l) => Ok(l),
        Pass::Vanished(file) => {
            warn!(file = %file, "history file vanished while reading: reading the new snapshot");
            match load_pass(ctx).await? {
                Pass::Done(l) => Ok(l),
                Pass::Vanished(file) => Err(ctx.malformed(
                    &file,
                    "listed by the current manifest but missing from storage",
                )),
            }
        }
    }
}

async fn load_pass(ctx: &ArchiveCtx<'_>) -> Result<Pass> {
    let listing = ctx.list().await?;
    let Some(version) = current_version(ctx, &listing).await? else {
        return no_manifest(ctx, &listing);
    };
    let manifest_path = format!("{}/{MANIFEST_PREFIX}{version}", ctx.dir);
    let Some(manifest_meta) = listing.iter().find(|o| o.path == manifest_path) else {
        return Err(ctx.malformed(&manifest_path, "named by _version_ but missing"));
    };
    let manifest = read_manifest(ctx, manifest_meta).await?;
    let mut out = Loaded {
        watermark: Some(format!("v2:{version}")),
        ..Loaded::default()
    };
    for entry in &manifest.files {
        let path = format!("{}/{}", ctx.dir, entry.file_name);
        let Some(meta) = listing.iter().find(|o| o.path == path) else {
            return Ok(Pass::Vanished(path));
        };
        if meta.size != entry.file_len {
            return Err(ctx.malformed(
                &path,
                format!(
                    "{} bytes on storage but {} in {manifest_path}",
                    meta.size, entry.file_len
                ),
            ));
        }
        match read_history_file(ctx, meta).await? {
            Some(rows) => out.instants.extend(rows),
            None => return Ok(Pass::Vanished(path)),
        }
    }
    Ok(Pass::Done(out))
}

/// No readable `_version_` and no manifest: an empty history, unless parquet files exist.
fn no_manifest(ctx: &ArchiveCtx<'_>, listing: &[ObjectMeta]) -> Result<Pass> {
    match listing
        .iter()
        .find(|o| parse_history_name(o.file_name()).is_some())
    {
        None => Ok(Pass::Done(Loaded::default())),
        Some(o) => Err(ctx.malformed(
            &format!("{}/{VERSION_FILE}", ctx.dir),
            format!(
                "missing, and no manifest_N lists {} or any other history file",
                o.path
            ),
        )),
    }
}

/// The snapshot version: `_version_`, or the highest `manifest_N` while `_version_` is absent
/// or empty (it is deleted and re-created on every archival).
async fn current_version(ctx: &ArchiveCtx<'_>, listing: &[ObjectMeta]) -> Result<Option<u64>> {
    let path = format!("{}/{VERSION_FILE}", ctx.dir);
    let text = match listing.iter().find(|o| o.path == path) {
        None => None,
        Some(meta) => read_small(ctx, meta).await?,
    };
    let trimmed = text.as_deref().map(|b| b.trim_ascii()).unwrap_or_default();
    if trimmed.is_empty() {
        debug!("no _version_: using the highest manifest");
        return Ok(highest_manifest(listing));
    }
    std::str::from_utf8(trimmed)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| {
            ctx.malformed(
                &path,
                format!(
                    "{:?} is not a snapshot version",
                    String::from_utf8_lossy(trimmed)
                ),
            )
        })
}

fn highest_manifest(listing: &[ObjectMeta]) -> Option<u64> {
    listing
        .iter()
        .filter_map(|o| o.file_name().strip_prefix(MANIFEST_PREFIX))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|v| v.parse::<u64>().ok())
        .max()
}

/// A small file's bytes; `None` when it vanished after the listing.
async fn read_small(ctx: &ArchiveCtx<'_>, meta: &ObjectMeta) -> Result<Option<bytes::Bytes>> {
    if meta.size > MAX_SMALL_FILE {
        return Err(ctx.malformed(&meta.path, format!("{} bytes is too large", meta.size)));
    }
    match ctx.store.get(&meta.path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(ctx.storage(e)),
    }
}

async fn read_manifest(ctx: &ArchiveCtx<'_>, meta: &ObjectMeta) -> Result<Manifest> {
    let bytes = read_small(ctx, meta)
        .await?
        .ok_or_else(|| ctx.malformed(&meta.path, "vanished while being read"))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| ctx.malformed(&meta.path, format!("invalid manifest JSON: {e}")))?;
    let mut seen = HashSet::new();
    for f in &m.files {
        if parse_history_name(&f.file_name).is_none() {
            return Err(ctx.malformed(
                &meta.path,
                format!("lists {:?}, not a history file name", f.file_name),
            ));
        }
        if !seen.insert(f.file_name.as_str()) {
            return Err(ctx.malformed(&meta.path, format!("lists {:?} twice", f.file_name)));
        }
    }
    Ok(m)
}

/// The columns one history file is read through.
struct HistoryFile {
    reader: ParquetObjectReader,
    arm: ArrowReaderMetadata,
    instant: usize,
    completion: usize,
    action: usize,
    metadata: usize,
}

/// The wanted rows of one history file, or `None` when it vanished.
async fn read_history_file(
    ctx: &ArchiveCtx<'_>,
    meta: &ObjectMeta,
) -> Result<Option<Vec<ArchivedInstant>>> {
    let file = match open_history_file(ctx, meta).await {
        Ok(f) => f,
        Err(PqFail::Gone) => return Ok(None),
        Err(PqFail::Err(e)) => return Err(e),
    };
    let mut out = Vec::new();
    for rg in 0..file.arm.metadata().num_row_groups() {
        match read_row_group(ctx, &meta.path, &file, rg).await {
            Ok(rows) => out.extend(rows),
            Err(PqFail::Gone) => return Ok(None),
            Err(PqFail::Err(e)) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// A parquet failure: the file vanished, or an error to report.
enum PqFail {
    Gone,
    Err(HudiError),
}

fn pq_fail(ctx: &ArchiveCtx<'_>, file: &str, e: ParquetError) -> PqFail {
    match e {
        ParquetError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(se) if se.is_not_found() => PqFail::Gone,
            Ok(se) => PqFail::Err(ctx.storage(*se)),
            Err(other) => PqFail::Err(ctx.malformed(file, other.to_string())),
        },
        other => PqFail::Err(ctx.malformed(file, other.to_string())),
    }
}

async fn open_history_file(
    ctx: &ArchiveCtx<'_>,
    meta: &ObjectMeta,
) -> std::result::Result<HistoryFile, PqFail> {
    let mut reader = ParquetObjectReader::new(ctx.store.clone(), meta.path.clone(), meta.size);
    let md = reader
        .load_metadata()
        .await
        .map_err(|e| pq_fail(ctx, &meta.path, e))?;
    let arm = ArrowReaderMetadata::try_new(
        md.clone(),
        ArrowReaderOptions::new().with_skip_arrow_metadata(true),
    )
    .map_err(|e| pq_fail(ctx, &meta.path, e))?;
    let descr = md.file_metadata().schema_descr_ptr();
    let leaf = |name: &str| {
        (0..descr.num_columns())
            .find(|i| descr.column(*i).path().string() == name)
            .ok_or_else(|| PqFail::Err(ctx.malformed(&meta.path, format!("no {name} column"))))
    };
    Ok(HistoryFile {
        instant: leaf(COL_INSTANT)?,
        completion: leaf(COL_COMPLETION)?,
        action: leaf(COL_ACTION)?,
        metadata: leaf(COL_METADATA)?,
        reader,
        arm,
    })
}

/// One row's time columns.
struct TimeRow {
    requested: String,
    completion: Option<String>,
    action: Action,
}

impl TimeRow {
    /// Whether the row's payload is parsed (writes and rollbacks).
    fn wants_payload(&self) -> bool {
        self.action.is_write() || self.action == Action::Rollback
    }
}

async fn read_row_group(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    file: &HistoryFile,
    rg: usize,
) -> std::result::Result<Vec<ArchivedInstant>, PqFail> {
    let rows = read_time_rows(ctx, path, file, rg).await?;
    let rows: Vec<TimeRow> = rows
        .into_iter()
        .filter(|r| ctx.is_after(ctx.window_time(&r.requested, r.completion.as_deref())))
        .collect();
    let wanted: HashSet<String> = rows
        .iter()
        .filter(|r| r.wants_payload())
        .map(|r| r.requested.clone())
        .collect();
    let mut payloads = if wanted.is_empty() {
        HashMap::new()
    } else {
        read_payloads(ctx, path, file, rg, wanted).await?
    };
    rows.into_iter()
        .map(|r| {
            let payload = payloads.remove(&r.requested).flatten();
            to_instant(ctx, path, r, payload.as_deref()).map_err(PqFail::Err)
        })
        .collect()
}

fn builder(
    file: &HistoryFile,
    rg: usize,
    leaves: Vec<usize>,
) -> ParquetRecordBatchStreamBuilder<ParquetObjectReader> {
    let descr = file.arm.metadata().file_metadata().schema_descr_ptr();
    ParquetRecordBatchStreamBuilder::new_with_metadata(file.reader.clone(), file.arm.clone())
        .with_row_groups(vec![rg])
        .with_projection(ProjectionMask::leaves(&descr, leaves))
}

/// The time and action columns of one row group.
async fn read_time_rows(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    file: &HistoryFile,
    rg: usize,
) -> std::result::Result<Vec<TimeRow>, PqFail> {
    let mut leaves = vec![file.instant, file.completion, file.action];
    leaves.sort_unstable();
    let stream = builder(file, rg, leaves)
        .build()
        .map_err(|e| pq_fail(ctx, path, e))?;
    let batches: Vec<RecordBatch> = stream
        .try_collect()
        .await
        .map_err(|e| pq_fail(ctx, path, e))?;
    let mut out = Vec::new();
    for b in &batches {
        let requested = strings(ctx, path, b, COL_INSTANT)?;
        let completion = strings(ctx, path, b, COL_COMPLETION)?;
        let action = strings(ctx, path, b, COL_ACTION)?;
        for i in 0..b.num_rows() {
            out.push(
                time_row(ctx, path, &requested, &completion, &action, i).map_err(PqFail::Err)?,
            );
        }
    }
    Ok(out)
}

fn time_row(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    requested: &StringArray,
    completion: &StringArray,
    action: &StringArray,
    i: usize,
) -> Result<TimeRow> {
    let get = |a: &StringArray| a.is_valid(i).then(|| a.value(i).to_string());
    let requested = get(requested)
        .filter(|t| is_valid_instant_time(t))
        .ok_or_else(|| {
            ctx.malformed(
                path,
                format!("row {i}: instantTime is null or not an instant time"),
            )
        })?;
    let completion = get(completion);
    if completion
        .as_deref()
        .is_some_and(|c| !is_valid_instant_time(c))
    {
        return Err(ctx.malformed(
            path,
            format!("row {i} ({requested}): completionTime is not an instant time"),
        ));
    }
    let action = get(action)
        .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase()))
        .ok_or_else(|| {
            ctx.malformed(
                path,
                format!("row {i} ({requested}): action is null or not an action name"),
            )
        })?;
    Ok(TimeRow {
        requested,
        completion,
        action: super::completed_action(Action::parse(&action)),
    })
}

/// A string column of a batch, as UTF-8 (binary columns are cast).
fn strings(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    b: &RecordBatch,
    name: &str,
) -> std::result::Result<StringArray, PqFail> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| PqFail::Err(ctx.malformed(path, format!("no {name} column"))))?;
    let cast = arrow_cast::cast(col, &DataType::Utf8)
        .map_err(|e| PqFail::Err(ctx.malformed(path, format!("{name}: {e}"))))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| PqFail::Err(ctx.malformed(path, format!("{name} is not a string column"))))
}

/// The `metadata` payloads of the wanted rows of one row group, by requested time.
async fn read_payloads(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    file: &HistoryFile,
    rg: usize,
    wanted: HashSet<String>,
) -> std::result::Result<HashMap<String, Option<Vec<u8>>>, PqFail> {
    let descr = file.arm.metadata().file_metadata().schema_descr_ptr();
    let wanted = Arc::new(wanted);
    let filter_set = wanted.clone();
    let predicate = ArrowPredicateFn::new(
        ProjectionMask::leaves(&descr, [file.instant]),
        move |batch: RecordBatch| Ok(in_set(batch.column(0), &filter_set)),
    );
    let mut leaves = vec![file.instant, file.metadata];
    leaves.sort_unstable();
    let mut stream = builder(file, rg, leaves)
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_batch_size(PAYLOAD_BATCH_ROWS)
        .build()
        .map_err(|e| pq_fail(ctx, path, e))?;
    let mut out = HashMap::new();
    while let Some(b) = stream.try_next().await.map_err(|e| pq_fail(ctx, path, e))? {
        let times = strings(ctx, path, &b, COL_INSTANT)?;
        let payload = binaries(ctx, path, &b)?;
        for i in 0..b.num_rows() {
            let bytes = payload.is_valid(i).then(|| payload.value(i).to_vec());
            out.insert(times.value(i).to_string(), bytes);
        }
    }
    Ok(out)
}

fn in_set(col: &ArrayRef, set: &HashSet<String>) -> BooleanArray {
    let strings = arrow_cast::cast(col, &DataType::Utf8).ok();
    let strings = strings
        .as_ref()
        .and_then(|a| a.as_any().downcast_ref::<StringArray>());
    match strings {
        Some(s) => s
            .iter()
            .map(|v| Some(v.is_some_and(|v| set.contains(v))))
            .collect(),
        None => BooleanArray::from(vec![true; col.len()]),
    }
}

fn binaries(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    b: &RecordBatch,
) -> std::result::Result<BinaryArray, PqFail> {
    let col = b
        .column_by_name(COL_METADATA)
        .ok_or_else(|| PqFail::Err(ctx.malformed(path, "no metadata column")))?;
    let cast = arrow_cast::cast(col, &DataType::Binary)
        .map_err(|e| PqFail::Err(ctx.malformed(path, format!("metadata: {e}"))))?;
    cast.as_any()
        .downcast_ref::<BinaryArray>()
        .cloned()
        .ok_or_else(|| PqFail::Err(ctx.malformed(path, "metadata is not a binary column")))
}

/// Build the archived instant of a row, parsing its payload when it has one.
fn to_instant(
    ctx: &ArchiveCtx<'_>,
    path: &str,
    r: TimeRow,
    payload: Option<&[u8]>,
) -> Result<ArchivedInstant> {
    let mut inst = ArchivedInstant {
        requested_time: r.requested,
        completion_time: r.completion,
        action: r.action,
        metadata: None,
        rolled_back: Vec::new(),
        file: path.to_string(),
    };
    let Some(bytes) = payload.filter(|_| inst.action.is_write() || inst.action == Action::Rollback)
    else {
        return Ok(inst);
    };
    let requested = inst.requested_time.clone();
    let fail =
        |reason: String| ctx.malformed(path, format!("metadata of instant {requested}: {reason}"));
    let (name, json) = decode_single_record_ocf(bytes).map_err(&fail)?;
    let name = name.unwrap_or_default();
    let short = name.rsplit('.').next().unwrap_or_default();
    if inst.action == Action::Rollback {
        expect_record(short, &["HoodieRollbackMetadata"]).map_err(&fail)?;
        inst.rolled_back = rolled_back_from_json(json).map_err(&fail)?;
    } else {
        expect_record(
            short,
            &["HoodieCommitMetadata", "HoodieReplaceCommitMetadata"],
        )
        .map_err(&fail)?;
        inst.metadata = Some(CommitMetadata::from_json(json).map_err(&fail)?);
    }
    Ok(inst)
}

/// The payload's record type, told by its writer schema name.
fn expect_record(short: &str, allowed: &[&str]) -> std::result::Result<(), String> {
    if allowed.contains(&short) {
        Ok(())
    } else {
        Err(format!(
            "holds a {short:?} record, expected {}",
            allowed.join(" or ")
        ))
    }
}
