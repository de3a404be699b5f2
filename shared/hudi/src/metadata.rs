//! Instant metadata: commit / deltacommit / replacecommit metadata (JSON in v6, Avro object
//! container files in v8/v9) decoded into one Rust shape, plus the rollback, restore and
//! requested-replace records the planner consults.
//!
//! Decoding goes through a neutral JSON value: Avro records become objects (unions unwrapped,
//! maps as objects, bytes as arrays of numbers), then `serde` fills structs whose fields are
//! all optional and that ignore unknown fields. The encoding is chosen by content, not by
//! layout: empty, `Obj\x01` (Avro OCF) or `{` (JSON).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

/// Largest instant file this reader will decode (commit metadata of very large tables can be
/// tens of MB; anything beyond this is treated as malformed rather than exhausting memory).
pub const MAX_INSTANT_FILE_BYTES: u64 = 256 * 1024 * 1024;

const AVRO_MAGIC: &[u8; 4] = b"Obj\x01";

/// Decode the content of an instant file into a neutral JSON value.
///
/// Returns `Ok(None)` for an empty file, the single record of an Avro object container file,
/// or the parsed JSON object. Errors are plain messages; callers wrap them with context.
pub fn decode_instant_content(bytes: &[u8]) -> Result<Option<Json>, String> {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else { return Ok(None) };
    if bytes.starts_with(AVRO_MAGIC) {
        return decode_avro_ocf(bytes).map(Some);
    }
    if bytes[first] == b'{' {
        let v: Json = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
        return Ok(Some(v));
    }
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(format!(
        "neither JSON nor an Avro object container file (starts with {})",
        head.join(" ")
    ))
}

fn decode_avro_ocf(bytes: &[u8]) -> Result<Json, String> {
    let reader =
        apache_avro::Reader::new(bytes).map_err(|e| format!("invalid Avro container: {e}"))?;
    let mut first = None;
    for value in reader {
        let value = value.map_err(|e| format!("invalid Avro record: {e}"))?;
        if first.is_some() {
            return Err("Avro container holds more than one record".to_string());
        }
        first = Some(avro_to_json(value));
    }
    first.ok_or_else(|| "Avro container holds no record".to_string())
}

/// Convert an Avro value into a neutral JSON value (unions unwrapped).
pub fn avro_to_json(v: apache_avro::types::Value) -> Json {
    use apache_avro::types::Value as A;
    match v {
        A::Null => Json::Null,
        A::Boolean(b) => Json::Bool(b),
        A::Int(i) | A::Date(i) | A::TimeMillis(i) => Json::from(i),
        A::Long(l)
        | A::TimeMicros(l)
        | A::TimestampMillis(l)
        | A::TimestampMicros(l)
        | A::TimestampNanos(l)
        | A::LocalTimestampMillis(l)
        | A::LocalTimestampMicros(l)
        | A::LocalTimestampNanos(l) => Json::from(l),
        A::Float(f) => serde_json::Number::from_f64(f64::from(f)).map_or(Json::Null, Json::Number),
        A::Double(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        A::Bytes(b) | A::Fixed(_, b) => Json::Array(b.into_iter().map(Json::from).collect()),
        A::String(s) | A::Enum(_, s) => Json::String(s),
        A::Uuid(u) => Json::String(u.to_string()),
        A::Union(_, inner) => avro_to_json(*inner),
        A::Array(items) => Json::Array(items.into_iter().map(avro_to_json).collect()),
        A::Map(m) => Json::Object(m.into_iter().map(|(k, v)| (k, avro_to_json(v))).collect()),
        A::Record(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, avro_to_json(v)))
                .collect(),
        ),
        other => Json::String(format!("{other:?}")),
    }
}

/// One `HoodieWriteStat`: what a commit wrote into one file group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WriteStat {
    /// File group id.
    pub file_id: Option<String>,
    /// File written by this commit, relative to the base path.
    pub path: Option<String>,
    /// Previous base instant of the file group; `None` for a new file group (Hudi writes the
    /// string `"null"`, normalised here).
    #[serde(deserialize_with = "null_string")]
    pub prev_commit: Option<String>,
    /// Partition path (`""` for non-partitioned tables).
    pub partition_path: Option<String>,
    /// Rows in the written file.
    pub num_writes: Option<i64>,
    /// New keys.
    pub num_inserts: Option<i64>,
    /// Updated keys.
    pub num_update_writes: Option<i64>,
    /// Deleted keys.
    pub num_deletes: Option<i64>,
    /// Bytes written.
    pub total_write_bytes: Option<i64>,
    /// Size of the written file.
    pub file_size_in_bytes: Option<i64>,
    /// MOR delta stats: the slice's base file (`""` in v8/v9).
    pub base_file: Option<String>,
    /// MOR delta stats: log files (cumulative in v6).
    #[serde(deserialize_with = "null_vec")]
    pub log_files: Vec<String>,
    /// v8/v9: base file this write replaced.
    pub prev_base_file: Option<String>,
}

/// Commit, deltacommit or replacecommit metadata (`HoodieCommitMetadata` /
/// `HoodieReplaceCommitMetadata`), JSON or Avro.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommitMetadata {
    /// Partition path → write stats.
    #[serde(deserialize_with = "null_map")]
    pub partition_to_write_stats: BTreeMap<String, Vec<WriteStat>>,
    /// Replacecommit only: partition path → file group ids made invisible.
    #[serde(deserialize_with = "null_map")]
    pub partition_to_replace_file_ids: BTreeMap<String, Vec<String>>,
    /// `true` only for compaction commits.
    pub compacted: Option<bool>,
    /// Extra metadata (`schema` = writer Avro schema JSON).
    #[serde(deserialize_with = "null_map")]
    pub extra_metadata: BTreeMap<String, String>,
    /// `INSERT`, `UPSERT`, `COMPACT`, `CLUSTER`, `INSERT_OVERWRITE`, ... (absent in old files).
    pub operation_type: Option<String>,
}

impl CommitMetadata {
    /// Parse from a neutral JSON value.
    pub fn from_json(v: Json) -> Result<CommitMetadata, String> {
        if !v.is_object() {
            return Err("commit metadata is not a record/object".to_string());
        }
        serde_json::from_value(v).map_err(|e| format!("unexpected commit metadata shape: {e}"))
    }

    /// Decode the bytes of a completed commit/deltacommit/replacecommit file.
    pub fn decode(bytes: &[u8]) -> Result<CommitMetadata, String> {
        match decode_instant_content(bytes)? {
            Some(v) => Self::from_json(v),
            None => Err("empty file where commit metadata was expected".to_string()),
        }
    }

    /// The operation type upper-cased, `UNKNOWN` when absent.
    pub fn operation(&self) -> &str {
        self.operation_type
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("UNKNOWN")
    }

    /// Whether this is a compaction (`COMPACT` or `compacted: true`): adds no new rows.
    pub fn is_compaction(&self) -> bool {
        self.compacted == Some(true) || self.operation().eq_ignore_ascii_case("COMPACT")
    }

    /// Whether this is a clustering (`CLUSTER`): rows keep their commit times.
    pub fn is_clustering(&self) -> bool {
        self.operation().eq_ignore_ascii_case("CLUSTER")
    }

    /// Whether this is a log compaction (`LOG_COMPACT`): rewrites log blocks, no new rows.
    pub fn is_log_compaction(&self) -> bool {
        self.operation().eq_ignore_ascii_case("LOG_COMPACT")
    }

    /// Whether the instant's rows carry its own commit time (false for table services).
    pub fn adds_rows(&self) -> bool {
        !(self.is_compaction() || self.is_clustering() || self.is_log_compaction())
    }

    /// All write stats in deterministic order (partition, then as written).
    pub fn write_stats(&self) -> impl Iterator<Item = (&str, &WriteStat)> {
        self.partition_to_write_stats
            .iter()
            .flat_map(|(p, stats)| stats.iter().map(move |s| (p.as_str(), s)))
    }

    /// Replaced file groups `(partition, file id)` in deterministic order.
    pub fn replaced_file_groups(&self) -> impl Iterator<Item = (&str, &str)> {
        self.partition_to_replace_file_ids
            .iter()
            .flat_map(|(p, ids)| ids.iter().map(move |id| (p.as_str(), id.as_str())))
    }
}

/// A rolled-back instant as recorded by a rollback or restore.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstantInfo {
    /// Requested time of the instant.
    #[serde(rename = "commitTime")]
    pub commit_time: String,
    /// Its action.
    #[serde(default)]
    pub action: Option<String>,
}

/// `HoodieRollbackMetadata`: which instants a rollback removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackMetadata {
    /// When the rollback started.
    pub start_rollback_time: Option<String>,
    /// Rolled-back instant times.
    #[serde(deserialize_with = "null_vec")]
    pub commits_rollback: Vec<String>,
    /// Rolled-back instants with their actions.
    #[serde(deserialize_with = "null_vec")]
    pub instants_rollback: Vec<InstantInfo>,
}

impl RollbackMetadata {
    /// Decode a completed `*.rollback` file.
    pub fn decode(bytes: &[u8]) -> Result<RollbackMetadata, String> {
        match decode_instant_content(bytes)? {
            Some(v) if v.is_object() => serde_json::from_value(v)
                .map_err(|e| format!("unexpected rollback metadata shape: {e}")),
            Some(_) => Err("rollback metadata is not a record".to_string()),
            None => Err("empty rollback metadata".to_string()),
        }
    }

    /// Every rolled-back instant time (deduplicated, sorted).
    pub fn rolled_back_instants(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .commits_rollback
            .iter()
            .cloned()
            .chain(self.instants_rollback.iter().map(|i| i.commit_time.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// `HoodieRestoreMetadata`: which instants a restore removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestoreMetadata {
    /// Restored-away instant times.
    #[serde(deserialize_with = "null_vec")]
    pub instants_to_rollback: Vec<String>,
    /// Per rolled-back instant, its rollback metadata.
    #[serde(deserialize_with = "null_map")]
    pub hoodie_restore_metadata: BTreeMap<String, Vec<RollbackMetadata>>,
    /// Restored-away instants with actions.
    #[serde(deserialize_with = "null_vec")]
    pub restore_instant_info: Vec<InstantInfo>,
}

impl RestoreMetadata {
    /// Decode a completed `*.restore` file.
    pub fn decode(bytes: &[u8]) -> Result<RestoreMetadata, String> {
        match decode_instant_content(bytes)? {
            Some(v) if v.is_object() => serde_json::from_value(v)
                .map_err(|e| format!("unexpected restore metadata shape: {e}")),
            Some(_) => Err("restore metadata is not a record".to_string()),
            None => Err("empty restore metadata".to_string()),
        }
    }

    /// Every restored-away instant time (deduplicated, sorted).
    pub fn rolled_back_instants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.instants_to_rollback.clone();
        v.extend(
            self.restore_instant_info
                .iter()
                .map(|i| i.commit_time.clone()),
        );
        for (k, rbs) in &self.hoodie_restore_metadata {
            v.push(k.clone());
            for rb in rbs {
                v.extend(rb.rolled_back_instants());
            }
        }
        v.retain(|s| crate::instant::is_valid_instant_time(s));
        v.sort();
        v.dedup();
        v
    }
}

/// `HoodieRequestedReplaceMetadata` (`*.replacecommit.requested`, `*.clustering.requested`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedReplaceMetadata {
    /// The operation type, when recorded.
    pub operation_type: Option<String>,
    /// Whether a clustering plan is present (pending clustering rather than insert_overwrite).
    pub has_clustering_plan: bool,
}

impl RequestedReplaceMetadata {
    /// Decode a requested replacecommit/clustering file. An empty file yields the default
    /// (no plan, no operation).
    pub fn decode(bytes: &[u8]) -> Result<RequestedReplaceMetadata, String> {
        match decode_instant_content(bytes)? {
            None => Ok(RequestedReplaceMetadata::default()),
            Some(Json::Object(m)) => Ok(RequestedReplaceMetadata {
                operation_type: m
                    .get("operationType")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                has_clustering_plan: m.get("clusteringPlan").is_some_and(|p| !p.is_null()),
            }),
            Some(_) => Err("requested replace metadata is not a record".to_string()),
        }
    }

    /// Whether the pending instant is a clustering (adds no rows when it completes).
    pub fn is_clustering(&self) -> bool {
        self.has_clustering_plan
            || self
                .operation_type
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case("CLUSTER"))
    }
}

fn null_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| !s.is_empty() && s != "null"))
}

fn null_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn null_map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<BTreeMap<String, T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One MOR write stat (a log append) as the Hudi 0.14 (v6) writer records it.
    fn v6_log_stat() -> Json {
        serde_json::json!({
            "fileId": "g-0", "path": "2023-01-01/.g-0_20250802170158668.log.1_0-46-1255",
            "prevCommit": "20250802170158668", "numWrites": 2, "numDeletes": 0,
            "numUpdateWrites": 2, "numInserts": 0, "totalWriteBytes": 1068,
            "partitionPath": "2023-01-01", "fileSizeInBytes": 1068, "logVersion": 1,
            "baseFile": "g-0_0-17-29_20250802170158668.parquet",
            "logFiles": [".g-0_20250802170158668.log.1_0-46-1255"], "cdcStats": null
        })
    }

    fn with(mut stat: Json, extra: Json) -> Json {
        if let (Some(s), Some(e)) = (stat.as_object_mut(), extra.as_object()) {
            s.remove("cdcStats");
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
        stat
    }

    /// Commit JSON of Hudi 0.10 (v3), 0.11 (v4) and 0.12 (v5) carries derived getters next to
    /// the four real keys (`writeStats` duplicating every stat, `fileIdAndRelativePaths`,
    /// `minAndMaxEventTime` keyed `"Optional.empty"`) and per-stat extras; only the real keys
    /// count, so all decode to the v6 shape and nothing is counted twice.
    #[test]
    fn commit_json_of_versions_3_to_5_decodes_like_v6() {
        let v6 = v6_log_stat();
        let top = |stat: &Json| {
            serde_json::json!({
                "partitionToWriteStats": {"2023-01-01": [stat]},
                "compacted": false, "extraMetadata": {"schema": "{}"}, "operationType": "UPSERT"
            })
        };
        let derived = serde_json::json!({
            "fileIdAndRelativePaths": {"g-0": "2023-01-01/.g-0_20250802170158668.log.1_0-46-1255"},
            "totalRecordsDeleted": 0, "totalLogRecordsCompacted": 0, "totalLogFilesCompacted": 0,
            "totalCompactedRecordsUpdated": 0, "totalLogFilesSize": 0, "totalScanTime": 0,
            "totalCreateTime": 0, "totalUpsertTime": 0,
            "minAndMaxEventTime": {"Optional.empty": {"val": null, "present": false}},
            "writePartitionPaths": ["2023-01-01"]
        });
        let v3 = with(
            top(&with(v6.clone(), serde_json::json!({}))),
            derived.clone(),
        );
        let v4_stat = with(
            v6.clone(),
            serde_json::json!({"recordsStats": {"val": null, "present": false},
                               "columnStats": {"val": null, "present": false}}),
        );
        let mut v4 = with(top(&v4_stat), derived);
        if let Some(o) = v4.as_object_mut() {
            o.insert("writeStats".into(), Json::Array(vec![v4_stat.clone()]));
        }
        let v5_stat = with(
            v6.clone(),
            serde_json::json!({"runtimeStats": {"totalScanTime": 0, "totalUpsertTime": 284,
                               "totalCreateTime": 0}, "recordsStats": {"val": null}}),
        );
        let v5 = top(&v5_stat);
        let expected = CommitMetadata::decode(top(&v6).to_string().as_bytes()).unwrap();
        assert_eq!(expected.write_stats().count(), 1);
        for (name, json) in [("v3", v3), ("v4", v4), ("v5", v5)] {
            let m = CommitMetadata::decode(json.to_string().as_bytes()).unwrap();
            assert_eq!(m, expected, "{name}");
            assert_eq!(m.write_stats().count(), 1, "{name}: stats counted once");
        }
    }

    /// Old commits may lack `operationType` (before 2020) or carry `null`; compactions are
    /// recognised by `compacted: true` whatever the operation says.
    #[test]
    fn missing_or_null_operation_type_and_compacted_flag() {
        let m =
            CommitMetadata::decode(br#"{"partitionToWriteStats":{},"compacted":false}"#).unwrap();
        assert_eq!(m.operation(), "UNKNOWN");
        assert!(m.adds_rows());
        let m = CommitMetadata::decode(br#"{"partitionToWriteStats":null,"operationType":null}"#)
            .unwrap();
        assert_eq!(m.operation(), "UNKNOWN");
        assert_eq!(m.write_stats().count(), 0);
        let m =
            CommitMetadata::decode(br#"{"partitionToWriteStats":{},"compacted":true}"#).unwrap();
        assert!(m.is_compaction());
        assert!(!m.adds_rows());
    }

    const V6_JSON: &str = r#"{
      "partitionToWriteStats": {"30": [{"fileId": "f-0", "path": "30/f-0_0-1-2_20240707001303088.parquet",
        "prevCommit": "null", "numWrites": 1, "numDeletes": 0, "numUpdateWrites": 0, "numInserts": 1,
        "totalWriteBytes": 441392, "partitionPath": "30", "fileSizeInBytes": 441392, "cdcStats": null,
        "runtimeStats": {"totalScanTime": 0}, "recordsStats": {"x": 1}}]},
      "compacted": false, "extraMetadata": {"schema": "{}"},
      "operationType": "INSERT_OVERWRITE_TABLE",
      "partitionToReplaceFileIds": {"30": ["a-0"], "20": ["b-0"]}
    }"#;

    #[test]
    fn v6_json_replacecommit() {
        let m = CommitMetadata::decode(V6_JSON.as_bytes()).unwrap();
        assert_eq!(m.operation(), "INSERT_OVERWRITE_TABLE");
        assert!(m.adds_rows());
        let stats: Vec<_> = m.write_stats().collect();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].1.prev_commit, None);
        assert_eq!(stats[0].1.file_id.as_deref(), Some("f-0"));
        let replaced: Vec<_> = m.replaced_file_groups().collect();
        assert_eq!(replaced, vec![("20", "b-0"), ("30", "a-0")]);
    }

    fn avro_commit(op: &str) -> Vec<u8> {
        use apache_avro::types::{Record, Value};
        let schema = apache_avro::Schema::parse_str(
            r#"{"type":"record","name":"HoodieCommitMetadata","fields":[
              {"name":"partitionToWriteStats","type":["null",{"type":"map","values":{"type":"array","items":
                {"type":"record","name":"HoodieWriteStat","fields":[
                  {"name":"fileId","type":["null","string"],"default":null},
                  {"name":"path","type":["null","string"],"default":null},
                  {"name":"prevCommit","type":["null","string"],"default":null},
                  {"name":"numWrites","type":["null","long"],"default":null},
                  {"name":"logFiles","type":["null",{"type":"array","items":"string"}],"default":null}]}}}],"default":null},
              {"name":"compacted","type":["null","boolean"],"default":null},
              {"name":"extraMetadata","type":["null",{"type":"map","values":"string"}],"default":null},
              {"name":"version","type":["int","null"],"default":1},
              {"name":"operationType","type":["null","string"],"default":null}]}"#,
        )
        .unwrap();
        let stat = Value::Record(vec![
            (
                "fileId".into(),
                Value::Union(1, Box::new(Value::String("g-0".into()))),
            ),
            (
                "path".into(),
                Value::Union(
                    1,
                    Box::new(Value::String(
                        "p/g-0_0-1-2_20260101000000000.parquet".into(),
                    )),
                ),
            ),
            (
                "prevCommit".into(),
                Value::Union(1, Box::new(Value::String("20251231000000000".into()))),
            ),
            (
                "numWrites".into(),
                Value::Union(1, Box::new(Value::Long(7))),
            ),
            ("logFiles".into(), Value::Union(0, Box::new(Value::Null))),
        ]);
        let mut rec = Record::new(&schema).unwrap();
        rec.put(
            "partitionToWriteStats",
            Value::Union(
                1,
                Box::new(Value::Map(
                    [("p".to_string(), Value::Array(vec![stat]))]
                        .into_iter()
                        .collect(),
                )),
            ),
        );
        rec.put(
            "compacted",
            Value::Union(1, Box::new(Value::Boolean(op == "COMPACT"))),
        );
        rec.put("extraMetadata", Value::Union(0, Box::new(Value::Null)));
        rec.put("version", Value::Union(1, Box::new(Value::Null)));
        rec.put(
            "operationType",
            Value::Union(1, Box::new(Value::String(op.into()))),
        );
        let mut w = apache_avro::Writer::new(&schema, Vec::new());
        w.append(rec).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn avro_commit_metadata() {
        let bytes = avro_commit("UPSERT");
        let m = CommitMetadata::decode(&bytes).unwrap();
        assert_eq!(m.operation(), "UPSERT");
        let (p, s) = m.write_stats().next().unwrap();
        assert_eq!(p, "p");
        assert_eq!(s.prev_commit.as_deref(), Some("20251231000000000"));
        assert_eq!(s.num_writes, Some(7));
        assert!(s.log_files.is_empty());
        let c = CommitMetadata::decode(&avro_commit("COMPACT")).unwrap();
        assert!(c.is_compaction());
        assert!(!c.adds_rows());
    }

    #[test]
    fn hostile_commit_metadata() {
        // empty, whitespace, garbage, wrong magic, truncated JSON/Avro, wrong types
        assert!(CommitMetadata::decode(b"").is_err());
        assert!(CommitMetadata::decode(b"   \n").is_err());
        assert!(CommitMetadata::decode(b"\x00\x01\x02").is_err());
        assert!(CommitMetadata::decode(b"Obj\x02garbage").is_err());
        assert!(CommitMetadata::decode(b"{\"partitionToWriteStats\": {").is_err());
        assert!(CommitMetadata::decode(b"[1,2]").is_err());
        assert!(CommitMetadata::decode(br#"{"partitionToWriteStats": 5}"#).is_err());
        assert!(
            CommitMetadata::decode(br#"{"partitionToWriteStats": {"p": [{"numWrites": "x"}]}}"#)
                .is_err()
        );
        assert!(CommitMetadata::decode(br#"{"operationType": 3}"#).is_err());
        // nulls everywhere are fine
        let m = CommitMetadata::decode(
            br#"{"partitionToWriteStats": null, "extraMetadata": null, "compacted": null}"#,
        )
        .unwrap();
        assert_eq!(m.operation(), "UNKNOWN");
        let full = avro_commit("UPSERT");
        for cut in [4, 10, full.len() / 2, full.len() - 1] {
            assert!(
                CommitMetadata::decode(&full[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // a flipped byte inside the Avro data must not panic (error or different value)
        for i in 0..full.len() {
            let mut b = full.clone();
            b[i] ^= 0xff;
            let _ = CommitMetadata::decode(&b);
        }
    }

    #[test]
    fn avro_huge_lengths_are_refused() {
        // OCF header: magic, then a metadata map whose block count/length claims ~2^62 entries
        let mut b = b"Obj\x01".to_vec();
        b.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(decode_instant_content(&b).is_err());
        // a string length far beyond the input
        let mut b = b"Obj\x01".to_vec();
        b.push(0x02); // one map entry
        b.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]); // key length ~2 GB
        assert!(decode_instant_content(&b).is_err());
    }

    #[test]
    fn rollback_and_replace_requested() {
        let rb = RollbackMetadata::decode(
            br#"{"startRollbackTime": "2", "commitsRollback": ["20250126040826878"],
                 "instantsRollback": [{"commitTime": "20250126040826878", "action": "deltacommit"}]}"#,
        )
        .unwrap();
        assert_eq!(
            rb.rolled_back_instants(),
            vec!["20250126040826878".to_string()]
        );
        assert!(RollbackMetadata::decode(b"").is_err());
        assert!(RollbackMetadata::decode(br#"{"commitsRollback": [1]}"#).is_err());
        let rs = RestoreMetadata::decode(
            br#"{"instantsToRollback": ["20250101000000001"], "hoodieRestoreMetadata":
                {"20250101000000002": [{"commitsRollback": ["20250101000000002"]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            rs.rolled_back_instants(),
            vec!["20250101000000001", "20250101000000002"]
        );
        let r = RequestedReplaceMetadata::decode(b"").unwrap();
        assert!(!r.is_clustering());
        let r = RequestedReplaceMetadata::decode(
            br#"{"operationType": null, "clusteringPlan": {"inputGroups": []}}"#,
        )
        .unwrap();
        assert!(r.is_clustering());
        let r = RequestedReplaceMetadata::decode(
            br#"{"operationType": "INSERT_OVERWRITE", "clusteringPlan": null}"#,
        )
        .unwrap();
        assert!(!r.is_clustering());
        assert!(RequestedReplaceMetadata::decode(b"xx").is_err());
    }
}
