//! Timeline archival: moving the oldest completed instants off the active timeline into the
//! archive, as Hudi's archiver does after a commit.
//!
//! - **Layout 2** (table version 9): every run adds one layer-0 parquet file
//!   `<min>_<max>_0.parquet` to `.hoodie/timeline/history/` (one row per completed instant,
//!   its completed file as `metadata`, its plan for compactions and cleans), then writes
//!   `manifest_<v+1>` listing every history file, then `_version_`.
//! - **Layout 1** (table version 6): every run writes a new log file
//!   `.hoodie/archived/.commits_.archive.<N>_1-0-1` whose AVRO_DATA blocks (one per instant)
//!   hold one `HoodieArchivedMetaEntry` per state file (requested, inflight, completed).
//!
//! Only then are the archived instants' files deleted from the active timeline: pending
//! states first, the completed file last.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use hps_storage::DynStore;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use tracing::info;

use crate::commit_meta::{CommitMetadata, opt_str};
use crate::config::{ArchivalConfig, TableVersion};
use crate::encode::put_long;
use crate::error::{GenError, GenResult};
use crate::log_block::DataBlock;

/// Hudi 0.14's `HoodieArchivedMetaEntry` writer schema (the `SCHEMA` header of every block).
pub const ARCHIVED_ENTRY_SCHEMA: &str = include_str!("../schemas/HoodieArchivedMetaEntry.avsc");

/// Layout-2 history folder.
pub const HISTORY_DIR: &str = ".hoodie/timeline/history";
/// Layout-1 archive folder (`hoodie.archivelog.folder=archived`).
pub const ARCHIVE_DIR: &str = ".hoodie/archived";

/// The Avro schema parquet-mr would record for the history rows (`HoodieLSMTimelineInstant`).
const LSM_INSTANT_SCHEMA: &str = r#"{"type":"record","name":"HoodieLSMTimelineInstant","namespace":"org.apache.hudi.avro.model","fields":[{"name":"instantTime","type":["null","string"],"default":null},{"name":"completionTime","type":["null","string"],"default":null},{"name":"action","type":["null","string"],"default":null},{"name":"metadata","type":["null","bytes"],"default":null},{"name":"plan","type":["null","bytes"],"default":null},{"name":"version","type":"int","default":1}]}"#;

/// One instant on the generator's active timeline, with what archiving it needs.
#[derive(Debug, Clone)]
pub struct ActiveInstant {
    /// Requested time.
    pub instant: String,
    /// Completion time (from the schedule; also the layout-1 `stateTransitionTime`).
    pub completion: String,
    /// Action of the requested and inflight state files (`compaction` for a compaction).
    pub requested_action: String,
    /// The completed action (`commit`, `deltacommit`, `clean`).
    pub action: String,
    /// State files: requested, inflight, completed.
    pub files: [String; 3],
    /// Inflight content of commits (the workload profile), for layout-1 entries.
    pub profile: Option<CommitMetadata>,
    /// Completed content of commits, for layout-1 entries.
    pub metadata: Option<CommitMetadata>,
}

impl ActiveInstant {
    /// Whether the instant counts on the commit timeline (`commit`, `deltacommit`,
    /// `replacecommit`).
    pub fn is_commit(&self) -> bool {
        matches!(
            self.action.as_str(),
            "commit" | "deltacommit" | "replacecommit"
        )
    }
}

/// The generator's active timeline and archive state across archival runs.
#[derive(Debug, Default)]
pub struct Archiver {
    active: Vec<ActiveInstant>,
    /// Layout-1 archive files written so far.
    runs: u64,
    /// Layout-2 history files (name, size) listed by the current manifest.
    history: Vec<HistoryFileEntry>,
}

/// One file of a layout-2 manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryFileEntry {
    file_name: String,
    file_len: u64,
}

#[derive(Serialize)]
struct HistoryManifest<'a> {
    files: &'a [HistoryFileEntry],
}

impl Archiver {
    /// Record a completed instant (in timeline order).
    pub fn push(&mut self, instant: ActiveInstant) {
        self.active.push(instant);
    }

    /// The instants still on the active timeline.
    pub fn active(&self) -> &[ActiveInstant] {
        &self.active
    }

    /// Take the instants to archive: once more than `keep_max` commits are active, the
    /// oldest commits down to `keep_min`, plus every other instant older than the newest of
    /// them. Nothing when the threshold is not reached.
    fn select(&mut self, cfg: ArchivalConfig) -> Vec<ActiveInstant> {
        let commits: Vec<usize> = (0..self.active.len())
            .filter(|&i| self.active[i].is_commit())
            .collect();
        let (keep_min, keep_max) = (cfg.keep_min as usize, cfg.keep_max as usize);
        if commits.len() <= keep_max {
            return Vec::new();
        }
        let last = commits[commits.len() - keep_min - 1];
        self.active.drain(..=last).collect()
    }

    /// Run archival after a commit; returns the requested times archived (empty when the
    /// threshold was not reached).
    pub async fn run(
        &mut self,
        store: &DynStore,
        version: TableVersion,
        cfg: ArchivalConfig,
    ) -> GenResult<Vec<String>> {
        let batch = self.select(cfg);
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match version {
            TableVersion::V9 => self.write_history(store, &batch).await?,
            TableVersion::V5 | TableVersion::V6 => self.write_archive_log(store, &batch).await?,
        }
        for inst in &batch {
            for f in &inst.files {
                delete(store, f).await?;
            }
        }
        let times: Vec<String> = batch.iter().map(|i| i.instant.clone()).collect();
        info!(
            archived = times.len(),
            first = times.first().map(String::as_str),
            last = times.last().map(String::as_str),
            "archived instants"
        );
        Ok(times)
    }

    /// Layout 2: a new layer-0 history file, the next manifest, then `_version_`.
    async fn write_history(&mut self, store: &DynStore, batch: &[ActiveInstant]) -> GenResult<()> {
        let mut rows = Vec::with_capacity(batch.len());
        for inst in batch {
            rows.push(history_row(store, inst).await?);
        }
        rows.sort_by(|a, b| a.instant.cmp(&b.instant));
        let (Some(min), Some(max)) = (rows.first(), rows.last()) else {
            return Ok(());
        };
        let name = format!("{}_{}_0.parquet", min.instant, max.instant);
        let path = format!("{HISTORY_DIR}/{name}");
        let bytes = history_parquet(&rows, &path)?;
        let len = bytes.len() as u64;
        put(store, &path, bytes).await?;
        self.history.push(HistoryFileEntry {
            file_name: name,
            file_len: len,
        });
        let version = self.history.len();
        let manifest = serde_json::to_vec_pretty(&HistoryManifest {
            files: &self.history,
        })
        .map_err(|e| GenError::Json {
            what: "history manifest".into(),
            source: e,
        })?;
        put(
            store,
            &format!("{HISTORY_DIR}/manifest_{version}"),
            manifest,
        )
        .await?;
        put(
            store,
            &format!("{HISTORY_DIR}/_version_"),
            version.to_string().into_bytes(),
        )
        .await
    }

    /// Layout 1: a new archive log file, one block per instant.
    async fn write_archive_log(
        &mut self,
        store: &DynStore,
        batch: &[ActiveInstant],
    ) -> GenResult<()> {
        let mut out = Vec::new();
        for inst in batch {
            archive_block(inst).write_archive_to(&mut out, ARCHIVED_ENTRY_SCHEMA.trim_end());
        }
        self.runs += 1;
        let path = format!("{ARCHIVE_DIR}/.commits_.archive.{}_1-0-1", self.runs);
        put(store, &path, out).await
    }
}

async fn put(store: &DynStore, path: &str, data: Vec<u8>) -> GenResult<()> {
    store
        .put(path, Bytes::from(data))
        .await
        .map_err(|e| GenError::storage(path, e))
}

async fn delete(store: &DynStore, path: &str) -> GenResult<()> {
    match store.delete(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(GenError::storage(path, e)),
    }
}

/// A file's bytes, `None` when it is empty.
async fn get_non_empty(store: &DynStore, path: &str) -> GenResult<Option<Vec<u8>>> {
    let b = store
        .get(path)
        .await
        .map_err(|e| GenError::storage(path, e))?;
    Ok((!b.is_empty()).then(|| b.to_vec()))
}

/// One row of a layout-2 history file.
#[derive(Debug, Clone, PartialEq)]
struct HistoryRow {
    instant: String,
    completion: String,
    action: String,
    metadata: Option<Vec<u8>>,
    plan: Option<Vec<u8>>,
}

async fn history_row(store: &DynStore, inst: &ActiveInstant) -> GenResult<HistoryRow> {
    let [requested, _, completed] = &inst.files;
    let metadata = get_non_empty(store, completed).await?;
    let plan = match inst.requested_action.as_str() {
        "compaction" | "clean" => get_non_empty(store, requested).await?,
        _ => None,
    };
    Ok(HistoryRow {
        instant: inst.instant.clone(),
        completion: inst.completion.clone(),
        action: inst.action.clone(),
        metadata,
        plan,
    })
}

/// Encode history rows as a parquet file with the `HoodieLSMTimelineInstant` columns.
fn history_parquet(rows: &[HistoryRow], path: &str) -> GenResult<Vec<u8>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("instantTime", DataType::Utf8, true),
        Field::new("completionTime", DataType::Utf8, true),
        Field::new("action", DataType::Utf8, true),
        Field::new("metadata", DataType::Binary, true),
        Field::new("plan", DataType::Binary, true),
        Field::new("version", DataType::Int32, false),
    ]));
    let strings = |f: fn(&HistoryRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let binaries = |f: fn(&HistoryRow) -> Option<&[u8]>| -> ArrayRef {
        Arc::new(BinaryArray::from_iter(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(|r| &r.instant),
        strings(|r| &r.completion),
        strings(|r| &r.action),
        binaries(|r| r.metadata.as_deref()),
        binaries(|r| r.plan.as_deref()),
        Arc::new(Int32Array::from(vec![1; rows.len()])),
    ];
    let arrow_err = |e| GenError::Arrow {
        path: path.to_string(),
        source: e,
    };
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)?;
    let pq_err = |e| GenError::Parquet {
        path: path.to_string(),
        source: e,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::GZIP(GzipLevel::default()))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                "parquet.avro.schema".to_string(),
                LSM_INSTANT_SCHEMA.to_string(),
            ),
            KeyValue::new("writer.model.name".to_string(), "avro".to_string()),
        ]))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(pq_err)?;
    writer.write(&batch).map_err(pq_err)?;
    writer.close().map_err(pq_err)?;
    Ok(out)
}

/// The layout-1 block of one instant: its requested, inflight and completed entries.
fn archive_block(inst: &ActiveInstant) -> DataBlock {
    let mut block = DataBlock::default();
    let empty = CommitMetadata {
        operation_type: "UNKNOWN".to_string(),
        ..Default::default()
    };
    let is_commit = inst.is_commit() && inst.requested_action == inst.action;
    let states = [
        (
            "REQUESTED",
            &inst.requested_action,
            is_commit.then_some(&empty),
        ),
        (
            "INFLIGHT",
            &inst.requested_action,
            inst.profile.as_ref().filter(|_| is_commit),
        ),
        (
            "COMPLETED",
            &inst.action,
            inst.metadata.as_ref().filter(|_| inst.is_commit()),
        ),
    ];
    for (state, action, payload) in states {
        let transition = if state == "COMPLETED" {
            &inst.completion
        } else {
            &inst.instant
        };
        block.push(|b| encode_entry(b, inst, action, state, transition, payload));
    }
    block
}

/// One `HoodieArchivedMetaEntry` datum in the field order of Hudi 0.14's schema; every
/// payload but `hoodieCommitMetadata` is null.
fn encode_entry(
    b: &mut Vec<u8>,
    inst: &ActiveInstant,
    action: &str,
    state: &str,
    transition: &str,
    payload: Option<&CommitMetadata>,
) {
    match payload {
        Some(m) => {
            put_long(b, 1);
            m.encode_v014_datum(b);
        }
        None => put_long(b, 0),
    }
    // hoodieCleanMetadata, hoodieCompactionMetadata, hoodieRollbackMetadata,
    // hoodieSavePointMetadata
    for _ in 0..4 {
        put_long(b, 0);
    }
    opt_str(b, Some(&inst.instant));
    opt_str(b, Some(action));
    // version: ["int", "null"]: null, as Hudi writes it
    put_long(b, 1);
    // hoodieCompactionPlan, hoodieCleanerPlan
    put_long(b, 0);
    put_long(b, 0);
    opt_str(b, Some(state));
    // hoodieReplaceCommitMetadata, hoodieRequestedReplaceMetadata,
    // HoodieInflightReplaceMetadata, hoodieIndexCommitMetadata
    for _ in 0..4 {
        put_long(b, 0);
    }
    opt_str(b, Some(transition));
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;

    fn commit(t: &str, action: &str) -> ActiveInstant {
        ActiveInstant {
            instant: t.to_string(),
            completion: format!("{}9", &t[..16]),
            requested_action: action.to_string(),
            action: action.to_string(),
            files: [format!("{t}.r"), format!("{t}.i"), format!("{t}.c")],
            profile: None,
            metadata: Some(CommitMetadata {
                operation_type: "UPSERT".into(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn selects_down_to_keep_min_once_over_keep_max() {
        let mut a = Archiver::default();
        let cfg = ArchivalConfig {
            keep_min: 2,
            keep_max: 3,
        };
        for i in 0..3 {
            a.push(commit(&format!("2025010100000{i}000"), "commit"));
        }
        assert!(a.select(cfg).is_empty());
        let mut clean = commit("20250101000002500", "clean");
        clean.metadata = None;
        a.push(clean);
        a.push(commit("20250101000003000", "commit"));
        let taken: Vec<String> = a.select(cfg).into_iter().map(|i| i.instant).collect();
        assert_eq!(taken, ["20250101000000000", "20250101000001000"]);
        assert_eq!(a.active().len(), 3);
    }

    #[test]
    fn entries_decode_with_the_hudi_schema() {
        let schema = apache_avro::Schema::parse_str(ARCHIVED_ENTRY_SCHEMA).unwrap();
        let inst = commit("20250101000000000", "deltacommit");
        let mut out = Vec::new();
        encode_entry(
            &mut out,
            &inst,
            "deltacommit",
            "COMPLETED",
            "20250101000000009",
            inst.metadata.as_ref(),
        );
        let v = apache_avro::from_avro_datum(&schema, &mut &out[..], None).unwrap();
        let Value::Record(fields) = v else { panic!() };
        let get = |n: &str| fields.iter().find(|f| f.0 == n).unwrap().1.clone();
        assert_eq!(
            get("commitTime"),
            Value::Union(1, Box::new(Value::String("20250101000000000".into())))
        );
        assert_eq!(
            get("actionState"),
            Value::Union(1, Box::new(Value::String("COMPLETED".into())))
        );
        assert!(matches!(get("hoodieCommitMetadata"), Value::Union(1, _)));
    }
}
