//! Commit metadata: `HoodieCommitMetadata` as JSON (table version 6) and as an Avro object
//! container file (table versions 8/9), with the write-stat fields Spark fills in.
//!
//! The Avro writer schema is Hudi 1.1's compiled `HoodieCommitMetadata`
//! (`schemas/HoodieCommitMetadata.avsc`, as embedded in the commit files Spark writes). The
//! datum is encoded by hand, in that schema's field order, so output bytes are deterministic
//! (apache-avro's `Value::Map` is a `HashMap`); unit tests decode it with apache-avro.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::encode::{put_long, put_str};
use crate::error::{GenError, GenResult};

/// Hudi 1.1's `HoodieCommitMetadata` writer schema.
pub const COMMIT_METADATA_SCHEMA: &str = include_str!("../schemas/HoodieCommitMetadata.avsc");

/// Hudi 1.1's `HoodieCompactionPlan` writer schema.
pub const COMPACTION_PLAN_SCHEMA: &str = include_str!("../schemas/HoodieCompactionPlan.avsc");

/// An Avro object container file with one record (`datum`, already encoded in `schema`),
/// codec null. Like Java's `DataFileWriter`, the header carries only `avro.schema`.
pub fn object_container(schema: &str, datum: &[u8], sync_marker: [u8; 16]) -> Vec<u8> {
    let schema = schema.trim_end();
    let mut out = Vec::with_capacity(datum.len() + schema.len() + 64);
    out.extend_from_slice(b"Obj\x01");
    put_long(&mut out, 1);
    put_str(&mut out, "avro.schema");
    put_str(&mut out, schema);
    put_long(&mut out, 0);
    out.extend_from_slice(&sync_marker);
    put_long(&mut out, 1);
    put_long(&mut out, datum.len() as i64);
    out.extend_from_slice(datum);
    out.extend_from_slice(&sync_marker);
    out
}

/// One `HoodieCompactionOperation` of a compaction plan.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionOperation {
    /// Base instant of the compacted slice.
    pub base_instant: String,
    /// Log file names of the slice.
    pub delta_files: Vec<String>,
    /// Base file name of the slice.
    pub data_file: String,
    /// File group id.
    pub file_id: String,
    /// Partition path.
    pub partition_path: String,
    /// Bytes of the log files (`TOTAL_LOG_FILES_SIZE` metric).
    pub log_bytes: u64,
}

/// The `<t>.compaction.requested` content: a `HoodieCompactionPlan` OCF (plan version 2).
pub fn compaction_plan_ocf(ops: &[CompactionOperation], sync_marker: [u8; 16]) -> Vec<u8> {
    let mut b = Vec::with_capacity(256 * ops.len() + 64);
    // operations: ["null", array<HoodieCompactionOperation>]
    put_long(&mut b, 1);
    if !ops.is_empty() {
        put_long(&mut b, ops.len() as i64);
        for op in ops {
            opt_str(&mut b, Some(&op.base_instant));
            put_long(&mut b, 1);
            if !op.delta_files.is_empty() {
                put_long(&mut b, op.delta_files.len() as i64);
                for f in &op.delta_files {
                    put_str(&mut b, f);
                }
            }
            put_long(&mut b, 0);
            opt_str(&mut b, Some(&op.data_file));
            opt_str(&mut b, Some(&op.file_id));
            opt_str(&mut b, Some(&op.partition_path));
            // metrics: ["null", map<double>]
            let metrics = [
                ("TOTAL_LOG_FILES", op.delta_files.len() as f64),
                ("TOTAL_IO_MB", 0.0),
                ("TOTAL_IO_READ_MB", 0.0),
                ("TOTAL_LOG_FILES_SIZE", op.log_bytes as f64),
                ("TOTAL_IO_WRITE_MB", 0.0),
            ];
            put_long(&mut b, 1);
            put_long(&mut b, metrics.len() as i64);
            for (k, v) in metrics {
                put_str(&mut b, k);
                b.extend_from_slice(&v.to_le_bytes());
            }
            put_long(&mut b, 0);
            opt_str(&mut b, None); // bootstrapFilePath
        }
    }
    put_long(&mut b, 0);
    // extraMetadata: ["null", map<string>] = {}
    put_long(&mut b, 1);
    put_long(&mut b, 0);
    // version: ["int", "null"] = 2
    put_long(&mut b, 0);
    put_long(&mut b, 2);
    // strategy: null
    put_long(&mut b, 0);
    // preserveHoodieMetadata: ["boolean", "null"] = false
    put_long(&mut b, 0);
    b.push(0);
    // missingSchedulePartitions: ["null", array<string>] = []
    put_long(&mut b, 1);
    put_long(&mut b, 0);
    object_container(COMPACTION_PLAN_SCHEMA, &b, sync_marker)
}

/// `HoodieRuntimeStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStats {
    /// ms spent scanning (log merges).
    pub total_scan_time: i64,
    /// ms spent in upserts.
    pub total_upsert_time: i64,
    /// ms spent creating new files.
    pub total_create_time: i64,
}

/// The `cdcStats` entry of a write stat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CdcStats {
    /// Written as `null` (Hudi 0.14 and later).
    #[default]
    Null,
    /// Not written (Hudi 0.13 and older).
    Absent,
}

impl CdcStats {
    fn is_absent(&self) -> bool {
        *self == CdcStats::Absent
    }
}

impl Serialize for CdcStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

/// `recordsStats` of a Hudi 0.12/0.13 delta write stat: an empty Java `Option`, `{"val": null}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordsStats {
    /// Always null (no column statistics).
    pub val: Option<i64>,
}

/// `HoodieWriteStat`. Field order = Hudi 0.14's JSON order; delta-only fields are omitted
/// from JSON when absent, like Jackson's output for `HoodieWriteStat` vs `HoodieDeltaWriteStat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteStat {
    /// File group id (`""` in inflight workload profiles of new inserts).
    pub file_id: String,
    /// File written, relative to the base path (null in inflight workload profiles).
    pub path: Option<String>,
    /// CDC files (never written): `null` from Hudi 0.14, absent before.
    #[serde(skip_serializing_if = "CdcStats::is_absent")]
    pub cdc_stats: CdcStats,
    /// Previous base instant of the group, or the string `"null"` for a new group.
    pub prev_commit: String,
    /// Rows written into `path`.
    pub num_writes: i64,
    /// Deletes applied.
    pub num_deletes: i64,
    /// Updates applied.
    pub num_update_writes: i64,
    /// New keys written.
    pub num_inserts: i64,
    /// Bytes of `path`.
    pub total_write_bytes: i64,
    /// Failed records.
    pub total_write_errors: i64,
    /// Temp path (unused).
    pub temp_path: Option<String>,
    /// Partition path (null in inflight workload profiles).
    pub partition_path: Option<String>,
    /// Compaction statistic (0).
    pub total_log_records: i64,
    /// Compaction statistic (0).
    pub total_log_files_compacted: i64,
    /// Compaction statistic (0).
    pub total_log_size_compacted: i64,
    /// Compaction statistic (0).
    pub total_updated_records_compacted: i64,
    /// Compaction statistic (0).
    pub total_log_blocks: i64,
    /// Compaction statistic (0).
    pub total_corrupt_log_block: i64,
    /// Compaction statistic (0).
    pub total_rollback_blocks: i64,
    /// Bytes of `path`.
    pub file_size_in_bytes: i64,
    /// Unused.
    pub min_event_time: Option<i64>,
    /// Unused.
    pub max_event_time: Option<i64>,
    /// Timing (null in inflight workload profiles).
    pub runtime_stats: Option<RuntimeStats>,
    /// MOR log writes: log version of `path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_version: Option<i32>,
    /// MOR log writes: byte offset the blocks were appended at (v6 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_offset: Option<i64>,
    /// MOR log writes: base file of the slice (v6) or `""` (v8/v9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_file: Option<String>,
    /// MOR log writes: log files of the slice (v6: all so far; v8/v9: just `path`'s name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_files: Option<Vec<String>>,
    /// Hudi 0.12/0.13 MOR log writes: the empty column-range statistics `{"val": null}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_stats: Option<RecordsStats>,
    /// v8/v9: name of the base file this write replaced (COW rewrite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_base_file: Option<String>,
}

/// `HoodieCommitMetadata` of one commit or deltacommit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitMetadata {
    /// Partition path → write stats.
    pub partition_to_write_stats: BTreeMap<String, Vec<WriteStat>>,
    /// `true` only for compaction commits.
    pub compacted: bool,
    /// `schema` → writer schema; more keys possible.
    pub extra_metadata: BTreeMap<String, String>,
    /// `INSERT`, `UPSERT`, ...
    pub operation_type: String,
}

impl CommitMetadata {
    /// Version-6 encoding: pretty JSON like Jackson's.
    pub fn to_json(&self) -> GenResult<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| GenError::Json {
            what: "commit metadata".into(),
            source: e,
        })
    }

    /// Version-5 encoding (Hudi 0.12.2/0.13, as in `realworld-fixtures/hudi_v5_table`): the
    /// version-6 JSON without `cdcStats`, and with `recordsStats: {"val": null}` in the stats
    /// of log writes.
    pub fn to_v5_json(&self) -> GenResult<Vec<u8>> {
        let mut m = self.clone();
        for stat in m.partition_to_write_stats.values_mut().flatten() {
            stat.cdc_stats = CdcStats::Absent;
            if stat.log_version.is_some() {
                stat.records_stats = Some(RecordsStats::default());
            }
        }
        m.to_json()
    }

    /// Version-8/9 encoding: an Avro object container file holding this one record, codec
    /// null, with the given 16-byte sync marker.
    pub fn to_avro_ocf(&self, sync_marker: [u8; 16]) -> Vec<u8> {
        let mut datum = Vec::with_capacity(1024);
        self.encode_datum(&mut datum);
        object_container(COMMIT_METADATA_SCHEMA, &datum, sync_marker)
    }

    /// Encode as the Hudi 0.14 `HoodieCommitMetadata` Avro record that layout-1 archive
    /// entries embed (`partitionToWriteStats` with the 17-field write stat, `extraMetadata`,
    /// `version`, `operationType`; no `compacted`).
    pub fn encode_v014_datum(&self, b: &mut Vec<u8>) {
        put_long(b, 1);
        if !self.partition_to_write_stats.is_empty() {
            put_long(b, self.partition_to_write_stats.len() as i64);
            for (partition, stats) in &self.partition_to_write_stats {
                put_str(b, partition);
                if !stats.is_empty() {
                    put_long(b, stats.len() as i64);
                    for s in stats {
                        s.encode_v014_datum(b);
                    }
                }
                put_long(b, 0);
            }
        }
        put_long(b, 0);
        put_long(b, 1);
        if !self.extra_metadata.is_empty() {
            put_long(b, self.extra_metadata.len() as i64);
            for (k, v) in &self.extra_metadata {
                put_str(b, k);
                put_str(b, v);
            }
        }
        put_long(b, 0);
        // version: ["int", "null"]: null
        put_long(b, 1);
        opt_str(b, Some(&self.operation_type));
    }

    fn encode_datum(&self, b: &mut Vec<u8>) {
        // partitionToWriteStats: ["null", map<array<HoodieWriteStat>>]
        put_long(b, 1);
        if !self.partition_to_write_stats.is_empty() {
            put_long(b, self.partition_to_write_stats.len() as i64);
            for (partition, stats) in &self.partition_to_write_stats {
                put_str(b, partition);
                if !stats.is_empty() {
                    put_long(b, stats.len() as i64);
                    for s in stats {
                        s.encode_datum(b);
                    }
                }
                put_long(b, 0);
            }
        }
        put_long(b, 0);
        // compacted: ["null", boolean]
        put_long(b, 1);
        b.push(u8::from(self.compacted));
        // extraMetadata: ["null", map<string>]
        put_long(b, 1);
        if !self.extra_metadata.is_empty() {
            put_long(b, self.extra_metadata.len() as i64);
            for (k, v) in &self.extra_metadata {
                put_str(b, k);
                put_str(b, v);
            }
        }
        put_long(b, 0);
        // version: ["int", "null"]: null, as Spark writes it
        put_long(b, 1);
        // operationType: ["null", string]
        put_long(b, 1);
        put_str(b, &self.operation_type);
    }
}

pub(crate) fn opt_str(b: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => {
            put_long(b, 1);
            put_str(b, s);
        }
        None => put_long(b, 0),
    }
}

pub(crate) fn opt_long(b: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(x) => {
            put_long(b, 1);
            put_long(b, x);
        }
        None => put_long(b, 0),
    }
}

impl WriteStat {
    /// Encode as Hudi 0.14's 17-field Avro `HoodieWriteStat` (what layout-1 archives keep).
    fn encode_v014_datum(&self, b: &mut Vec<u8>) {
        opt_str(b, Some(&self.file_id));
        opt_str(b, self.path.as_deref());
        opt_str(b, Some(&self.prev_commit));
        for v in [
            self.num_writes,
            self.num_deletes,
            self.num_update_writes,
            self.total_write_bytes,
            self.total_write_errors,
        ] {
            opt_long(b, Some(v));
        }
        opt_str(b, self.partition_path.as_deref());
        opt_long(b, Some(self.total_log_records));
        opt_long(b, None); // totalLogFiles
        for v in [
            self.total_updated_records_compacted,
            self.num_inserts,
            self.total_log_blocks,
            self.total_corrupt_log_block,
            self.total_rollback_blocks,
            self.file_size_in_bytes,
        ] {
            opt_long(b, Some(v));
        }
    }

    /// Encode in the field order of Hudi 1.1's `HoodieWriteStat`.
    fn encode_datum(&self, b: &mut Vec<u8>) {
        opt_str(b, Some(&self.file_id));
        opt_str(b, self.path.as_deref());
        opt_str(b, Some(&self.prev_commit));
        opt_long(b, Some(self.num_writes));
        opt_long(b, Some(self.num_deletes));
        opt_long(b, Some(self.num_update_writes));
        opt_long(b, Some(self.total_write_bytes));
        opt_long(b, Some(self.total_write_errors));
        opt_str(b, self.partition_path.as_deref());
        opt_long(b, Some(self.total_log_records));
        opt_long(b, None); // totalLogFiles
        opt_long(b, Some(self.total_updated_records_compacted));
        opt_long(b, Some(self.num_inserts));
        opt_long(b, Some(self.total_log_blocks));
        opt_long(b, Some(self.total_corrupt_log_block));
        opt_long(b, Some(self.total_rollback_blocks));
        opt_long(b, Some(self.file_size_in_bytes));
        match self.log_version {
            Some(v) => {
                put_long(b, 1);
                put_long(b, i64::from(v));
            }
            None => put_long(b, 0),
        }
        opt_long(b, self.log_offset);
        opt_str(b, self.base_file.as_deref());
        match &self.log_files {
            Some(files) => {
                put_long(b, 1);
                if !files.is_empty() {
                    put_long(b, files.len() as i64);
                    for f in files {
                        put_str(b, f);
                    }
                }
                put_long(b, 0);
            }
            None => put_long(b, 0),
        }
        put_long(b, 0); // cdcStats: null
        opt_str(b, self.prev_base_file.as_deref());
        opt_long(b, self.min_event_time);
        opt_long(b, self.max_event_time);
        match &self.runtime_stats {
            Some(r) => {
                put_long(b, 1);
                opt_long(b, Some(r.total_scan_time));
                opt_long(b, Some(r.total_create_time));
                opt_long(b, Some(r.total_upsert_time));
            }
            None => put_long(b, 0),
        }
        opt_long(b, Some(self.total_log_files_compacted));
        opt_long(b, Some(0)); // totalLogReadTimeMs
        opt_long(b, Some(self.total_log_size_compacted));
        opt_str(b, self.temp_path.as_deref());
        opt_long(b, Some(0)); // numUpdates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;

    fn sample() -> CommitMetadata {
        let base = WriteStat {
            file_id: "f1-0".into(),
            path: Some("region=us/f1-0_0-1-2_20250101000000000.parquet".into()),
            prev_commit: "null".into(),
            num_writes: 10,
            num_inserts: 10,
            total_write_bytes: 1234,
            file_size_in_bytes: 1234,
            partition_path: Some("region=us".into()),
            runtime_stats: Some(RuntimeStats {
                total_create_time: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        let log = WriteStat {
            file_id: "f2-0".into(),
            path: Some("region=eu/.f2-0_20250101000100000.log.1_0-1-2".into()),
            prev_commit: "20250101000100000".into(),
            num_update_writes: 3,
            num_deletes: 1,
            num_writes: 3,
            partition_path: Some("region=eu".into()),
            log_version: Some(1),
            base_file: Some(String::new()),
            log_files: Some(vec![".f2-0_20250101000100000.log.1_0-1-2".into()]),
            prev_base_file: Some("x.parquet".into()),
            ..Default::default()
        };
        CommitMetadata {
            partition_to_write_stats: BTreeMap::from([
                ("region=us".to_string(), vec![base]),
                ("region=eu".to_string(), vec![log]),
            ]),
            compacted: false,
            extra_metadata: BTreeMap::from([("schema".to_string(), "{}".to_string())]),
            operation_type: "UPSERT".into(),
        }
    }

    fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
        let Value::Record(fields) = v else {
            panic!("not a record: {v:?}")
        };
        let v = &fields
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1;
        match v {
            Value::Union(_, inner) => inner,
            other => other,
        }
    }

    #[test]
    fn avro_ocf_reads_back_with_apache_avro() {
        let m = sample();
        let bytes = m.to_avro_ocf([7u8; 16]);
        let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
        let records: Vec<Value> = reader.map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(field(r, "operationType"), &Value::String("UPSERT".into()));
        assert_eq!(field(r, "compacted"), &Value::Boolean(false));
        assert_eq!(field(r, "version"), &Value::Null);
        let Value::Map(p2ws) = field(r, "partitionToWriteStats") else {
            panic!()
        };
        let Value::Array(eu) = &p2ws["region=eu"] else {
            panic!()
        };
        let s = &eu[0];
        assert_eq!(field(s, "fileId"), &Value::String("f2-0".into()));
        assert_eq!(
            field(s, "prevCommit"),
            &Value::String("20250101000100000".into())
        );
        assert_eq!(field(s, "numDeletes"), &Value::Long(1));
        assert_eq!(field(s, "numUpdateWrites"), &Value::Long(3));
        assert_eq!(field(s, "logVersion"), &Value::Int(1));
        assert_eq!(field(s, "baseFile"), &Value::String(String::new()));
        assert_eq!(field(s, "prevBaseFile"), &Value::String("x.parquet".into()));
        assert_eq!(
            field(s, "logFiles"),
            &Value::Array(vec![Value::String(
                ".f2-0_20250101000100000.log.1_0-1-2".into()
            )])
        );
        let Value::Array(us) = &p2ws["region=us"] else {
            panic!()
        };
        assert_eq!(field(&us[0], "numInserts"), &Value::Long(10));
        assert_eq!(field(&us[0], "baseFile"), &Value::Null);
        assert_eq!(
            field(field(&us[0], "runtimeStats"), "totalCreateTime"),
            &Value::Long(5)
        );
        let Value::Map(extra) = field(r, "extraMetadata") else {
            panic!()
        };
        assert_eq!(extra["schema"], Value::String("{}".into()));
    }

    #[test]
    fn compaction_plan_reads_back_with_apache_avro() {
        let op = CompactionOperation {
            base_instant: "20250101000000000".into(),
            delta_files: vec![".f-0_20250101000100000.log.1_0-1-2".into()],
            data_file: "f-0_0-1-1_20250101000000000.parquet".into(),
            file_id: "f-0".into(),
            partition_path: "region=us".into(),
            log_bytes: 2048,
        };
        let bytes = compaction_plan_ocf(&[op], [3; 16]);
        let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
        let records: Vec<Value> = reader.map(|r| r.unwrap()).collect();
        let r = &records[0];
        assert_eq!(field(r, "version"), &Value::Int(2));
        assert_eq!(field(r, "preserveHoodieMetadata"), &Value::Boolean(false));
        let Value::Array(ops) = field(r, "operations") else {
            panic!()
        };
        assert_eq!(field(&ops[0], "fileId"), &Value::String("f-0".into()));
        assert_eq!(
            field(&ops[0], "baseInstantTime"),
            &Value::String("20250101000000000".into())
        );
        let Value::Map(metrics) = field(&ops[0], "metrics") else {
            panic!()
        };
        assert_eq!(metrics["TOTAL_LOG_FILES_SIZE"], Value::Double(2048.0));
        assert_eq!(metrics["TOTAL_LOG_FILES"], Value::Double(1.0));
    }

    #[test]
    fn avro_ocf_is_deterministic() {
        assert_eq!(sample().to_avro_ocf([1; 16]), sample().to_avro_ocf([1; 16]));
    }

    #[test]
    fn json_has_v6_shape() {
        let j: serde_json::Value = serde_json::from_slice(&sample().to_json().unwrap()).unwrap();
        let us = &j["partitionToWriteStats"]["region=us"][0];
        assert_eq!(us["prevCommit"], "null");
        assert_eq!(us["numInserts"], 10);
        assert!(us.get("logFiles").is_none());
        assert!(us.get("cdcStats").unwrap().is_null());
        let eu = &j["partitionToWriteStats"]["region=eu"][0];
        assert_eq!(eu["logFiles"][0], ".f2-0_20250101000100000.log.1_0-1-2");
        assert_eq!(j["operationType"], "UPSERT");
        assert_eq!(j["compacted"], false);
        assert_eq!(j["extraMetadata"]["schema"], "{}");
    }

    /// Hudi 0.12.2's write stats (`realworld-fixtures/hudi_v5_table`): no `cdcStats`, and
    /// `recordsStats: {"val": null}` right after `logFiles` in log write stats only.
    #[test]
    fn json_has_v5_shape() {
        let text = String::from_utf8(sample().to_v5_json().unwrap()).unwrap();
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let us = &j["partitionToWriteStats"]["region=us"][0];
        assert!(us.get("cdcStats").is_none());
        assert!(us.get("recordsStats").is_none());
        let eu = &j["partitionToWriteStats"]["region=eu"][0];
        assert!(eu.get("cdcStats").is_none());
        assert_eq!(eu["recordsStats"], serde_json::json!({ "val": null }));
        let (logs, stats) = (
            text.find("\"logFiles\"").unwrap(),
            text.find("\"recordsStats\"").unwrap(),
        );
        assert!(logs < stats);
        assert_eq!(j["operationType"], "UPSERT");
        // the version-6 encoding is unchanged by it
        assert!(sample().to_json().unwrap() != sample().to_v5_json().unwrap());
    }
}
