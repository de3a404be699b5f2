//! The table configuration: `hoodie.properties`, typed.

use std::collections::BTreeMap;

use tracing::warn;

use crate::error::{HudiError, Result};
use crate::properties::parse_properties;
use crate::versions;

/// Copy-on-write or merge-on-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableType {
    /// `COPY_ON_WRITE`: every write rewrites base (parquet) files.
    CopyOnWrite,
    /// `MERGE_ON_READ`: updates and deletes go to log files merged at read time.
    MergeOnRead,
}

impl TableType {
    /// The name Hudi uses in `hoodie.table.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableType::CopyOnWrite => "COPY_ON_WRITE",
            TableType::MergeOnRead => "MERGE_ON_READ",
        }
    }
}

/// How a table's record keys and partition paths were generated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyGenerator {
    /// One key column, key = its value.
    Simple,
    /// Several key columns, key = `f1:v1,f2:v2`.
    Complex,
    /// Non-partitioned table (key as `Simple` or `Complex` depending on the key field count).
    NonPartitioned,
    /// Partition path formatted from a timestamp column (`hoodie.keygen.timebased.*`).
    Timestamp,
    /// Per-field partition types (`field:SIMPLE`, `field:TIMESTAMP`).
    Custom,
    /// Anything else (the class or type name as written, e.g. a user's class).
    Other(String),
    /// Not recorded: tables before version 3 (Hudi 0.10) do not store their key generator.
    /// Keys and partition paths are then read from the meta columns, never derived.
    Unknown,
}

impl KeyGenerator {
    fn from_class_or_type(s: &str) -> KeyGenerator {
        let short = s.rsplit('.').next().unwrap_or(s);
        let norm = short
            .trim_end_matches("AvroKeyGenerator")
            .trim_end_matches("KeyGenerator")
            .to_ascii_uppercase()
            .replace('_', "");
        match norm.as_str() {
            "SIMPLE" => KeyGenerator::Simple,
            "COMPLEX" => KeyGenerator::Complex,
            "NONPARTITION" | "NONPARTITIONED" => KeyGenerator::NonPartitioned,
            "TIMESTAMP" | "TIMESTAMPBASED" => KeyGenerator::Timestamp,
            "CUSTOM" => KeyGenerator::Custom,
            _ => KeyGenerator::Other(s.to_string()),
        }
    }
}

/// The base file format (`hoodie.table.base.file.format`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseFileFormat {
    /// The only format this reader reads.
    Parquet,
    /// Any other format (`ORC`, `HFILE`, `LANCE`, ...), as written.
    Other(String),
}

/// The typed content of `hoodie.properties` that the reader needs. All raw properties stay
/// available in [`TableConfig::properties`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// `hoodie.table.version`: one of [`versions::SUPPORTED_TABLE_VERSIONS`].
    pub table_version: u32,
    /// `hoodie.table.initial.version` when present (upgraded tables differ).
    pub initial_version: Option<u32>,
    /// `hoodie.table.type`.
    pub table_type: TableType,
    /// `hoodie.table.name` (empty when absent; some v6 tables omit it).
    pub table_name: String,
    /// `hoodie.database.name`.
    pub database_name: Option<String>,
    /// `hoodie.table.recordkey.fields` (empty when absent).
    pub record_key_fields: Vec<String>,
    /// `hoodie.table.partition.fields` with any `:type` suffix removed (empty: non-partitioned).
    pub partition_fields: Vec<String>,
    /// Ordering (precombine) fields: `hoodie.table.ordering.fields` (v9) or
    /// `hoodie.table.precombine.field` (v6/v8). Empty when none.
    pub ordering_fields: Vec<String>,
    /// Key generator from `hoodie.table.keygenerator.type` (v8+) or `.class` (v3-v6);
    /// inferred from the key and partition fields when absent on v3+, [`KeyGenerator::Unknown`]
    /// when absent on older tables.
    pub key_generator: KeyGenerator,
    /// `hoodie.table.timeline.timezone`: `LOCAL` (default) or `UTC`.
    pub timeline_timezone: String,
    /// `hoodie.populate.meta.fields` (default true).
    pub populate_meta_fields: bool,
    /// `hoodie.table.base.file.format`, or its Hudi 0.5 alias `hoodie.table.ro.file.format`
    /// (default parquet).
    pub base_file_format: BaseFileFormat,
    /// `hoodie.timeline.layout.version`; when absent: 0 up to table version 5, 1 on version 6,
    /// 2 from version 8 on (see [`versions::default_timeline_layout`]). Layouts 0 and 1 are
    /// both a flat `.hoodie/` folder.
    pub timeline_layout_version: u32,
    /// Directory of the active timeline, relative to the base path
    /// (`.hoodie` for layouts 0 and 1, `.hoodie/<hoodie.timeline.path>` for layout 2).
    pub timeline_dir: String,
    /// Directory of archived instants, relative to the base path
    /// (`.hoodie/<hoodie.archivelog.folder>` for layouts 0 and 1,
    /// `<timeline_dir>/<hoodie.timeline.history.path>` for layout 2).
    pub archive_dir: String,
    /// `hoodie.datasource.write.hive_style_partitioning`.
    pub hive_style_partitioning: bool,
    /// `hoodie.datasource.write.partitionpath.urlencode`.
    pub partition_path_urlencode: bool,
    /// `hoodie.datasource.write.drop.partition.columns`.
    pub drop_partition_columns: bool,
    /// `hoodie.record.merge.mode` (v8/v9).
    pub record_merge_mode: Option<String>,
    /// `hoodie.compaction.payload.class`, pre-Apache `com.uber.hoodie.` names rewritten to
    /// `org.apache.hudi.`. Absent on many copy-on-write tables; merge-on-read reads then use
    /// `OverwriteWithLatestAvroPayload`, Hudi's default since 0.6.
    pub payload_class: Option<String>,
    /// `hoodie.table.cdc.enabled`.
    pub cdc_enabled: bool,
    /// `hoodie.bootstrap.base.path` (bootstrap tables are refused).
    pub bootstrap_base_path: Option<String>,
    /// Every property as read.
    pub properties: BTreeMap<String, String>,
}

const PROP_VERSION: &str = "hoodie.table.version";

/// The table version, refusing the versions this reader does not read.
fn table_version(table: &str, p: &BTreeMap<String, String>) -> Result<u32> {
    let Some(raw) = p.get(PROP_VERSION).map(|v| v.trim()) else {
        return Err(HudiError::UnversionedTable {
            table: table.to_string(),
            looks_like: versions::unversioned_release_guess(p).to_string(),
        });
    };
    let version: u32 = raw.parse().map_err(|_| HudiError::MalformedProperties {
        table: table.to_string(),
        reason: format!("{PROP_VERSION}={raw:?} is not a number"),
    })?;
    if !versions::is_supported(version) {
        return Err(HudiError::UnsupportedTableVersion {
            table: table.to_string(),
            version: raw.to_string(),
        });
    }
    Ok(version)
}

/// The key generator: the v8+ type, else the v3-v6 class; inferred when neither is stored.
fn key_generator(
    table_version: u32,
    p: &BTreeMap<String, String>,
    record_key_fields: &[String],
    partition_fields: &[String],
) -> KeyGenerator {
    let stored = p
        .get("hoodie.table.keygenerator.type")
        .or_else(|| p.get("hoodie.table.keygenerator.class"))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    match stored {
        Some(s) => KeyGenerator::from_class_or_type(&versions::normalize_class_name(s)),
        None if table_version < 3 => KeyGenerator::Unknown,
        None if partition_fields.is_empty() => KeyGenerator::NonPartitioned,
        None if record_key_fields.len() > 1 || partition_fields.len() > 1 => KeyGenerator::Complex,
        None => KeyGenerator::Simple,
    }
}

/// Warn (never fail) when `hoodie.table.checksum` does not match the table's name.
fn check_checksum(table: &str, p: &BTreeMap<String, String>) {
    let Some(stored) = p.get(versions::PROP_CHECKSUM).map(|s| s.trim()) else {
        return;
    };
    let name = p.get("hoodie.table.name").map_or("", |s| s.trim());
    let database = p.get("hoodie.database.name").map_or("", |s| s.trim());
    let expected = versions::table_checksum(database, name);
    if stored != expected.to_string() {
        warn!(
            table,
            stored, expected, "hoodie.table.checksum does not match the table name"
        );
    }
}

fn csv(s: Option<&String>) -> Vec<String> {
    s.map(|v| {
        v.split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn parse_bool(table: &str, key: &str, v: Option<&String>, default: bool) -> Result<bool> {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(s) if s.is_empty() => Ok(default),
        Some(s) if s == "true" => Ok(true),
        Some(s) if s == "false" => Ok(false),
        Some(s) => Err(HudiError::MalformedProperties {
            table: table.to_string(),
            reason: format!("{key}={s:?} is not a boolean"),
        }),
    }
}

impl TableConfig {
    /// Parse the bytes of `hoodie.properties`. `table` is the table URI used in errors.
    pub fn parse(table: &str, bytes: &[u8]) -> Result<TableConfig> {
        let malformed = |reason: String| HudiError::MalformedProperties {
            table: table.to_string(),
            reason,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| malformed(format!("not valid UTF-8 text: {e}")))?;
        let properties = parse_properties(text).map_err(|e| malformed(e.to_string()))?;
        Self::from_properties(table, properties)
    }

    /// Build from already parsed properties.
    pub fn from_properties(
        table: &str,
        properties: BTreeMap<String, String>,
    ) -> Result<TableConfig> {
        let malformed = |reason: String| HudiError::MalformedProperties {
            table: table.to_string(),
            reason,
        };
        let p = &properties;
        let table_version = table_version(table, p)?;
        let initial_version = match p.get("hoodie.table.initial.version") {
            Some(v) if !v.trim().is_empty() => Some(v.trim().parse::<u32>().map_err(|_| {
                malformed(format!(
                    "hoodie.table.initial.version={v:?} is not a number"
                ))
            })?),
            _ => None,
        };
        let table_type = match p
            .get("hoodie.table.type")
            .map(|s| s.trim().to_ascii_uppercase())
        {
            None => TableType::CopyOnWrite, // Hudi's default
            Some(s) if s == "COPY_ON_WRITE" => TableType::CopyOnWrite,
            Some(s) if s == "MERGE_ON_READ" => TableType::MergeOnRead,
            Some(s) => return Err(malformed(format!("hoodie.table.type={s:?} is unknown"))),
        };
        let record_key_fields = csv(p.get("hoodie.table.recordkey.fields"));
        let partition_fields: Vec<String> = csv(p.get("hoodie.table.partition.fields"))
            .into_iter()
            .map(|f| f.split(':').next().unwrap_or("").trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        let mut ordering_fields = csv(p.get("hoodie.table.ordering.fields"));
        if ordering_fields.is_empty() {
            ordering_fields = csv(p.get("hoodie.table.precombine.field"));
        }
        let key_generator = key_generator(table_version, p, &record_key_fields, &partition_fields);
        check_checksum(table, p);
        let base_file_format = match p
            .get("hoodie.table.base.file.format")
            .or_else(|| p.get(versions::PROP_LEGACY_BASE_FORMAT))
            .map(|s| s.trim().to_ascii_uppercase())
        {
            None => BaseFileFormat::Parquet,
            Some(s) if s.is_empty() || s == "PARQUET" => BaseFileFormat::Parquet,
            Some(s) => BaseFileFormat::Other(s),
        };
        let timeline_layout_version = match p.get(versions::PROP_TIMELINE_LAYOUT) {
            Some(v) if !v.trim().is_empty() => {
                let n: u32 = v.trim().parse().map_err(|_| {
                    malformed(format!(
                        "hoodie.timeline.layout.version={v:?} is not a number"
                    ))
                })?;
                if !matches!(n, 0..=2) {
                    return Err(malformed(format!(
                        "hoodie.timeline.layout.version={n} is unknown (expected 0, 1 or 2)"
                    )));
                }
                n
            }
            _ => versions::default_timeline_layout(table_version),
        };
        let sub = |key: &str, default: &str| -> Result<String> {
            let v = p
                .get(key)
                .map(|s| s.trim().trim_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| default.to_string());
            if v.split('/').any(|seg| seg == ".." || seg.is_empty()) {
                return Err(malformed(format!(
                    "{key}={v:?} is not a relative folder name"
                )));
            }
            Ok(v)
        };
        let (timeline_dir, archive_dir) = if timeline_layout_version >= 2 {
            let tl = format!(".hoodie/{}", sub("hoodie.timeline.path", "timeline")?);
            let hist = format!("{tl}/{}", sub("hoodie.timeline.history.path", "history")?);
            (tl, hist)
        } else {
            (
                ".hoodie".to_string(),
                format!(".hoodie/{}", sub("hoodie.archivelog.folder", "archived")?),
            )
        };
        let get_opt = |k: &str| {
            p.get(k)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Ok(TableConfig {
            table_version,
            initial_version,
            table_type,
            table_name: get_opt("hoodie.table.name").unwrap_or_default(),
            database_name: get_opt("hoodie.database.name"),
            record_key_fields,
            partition_fields,
            ordering_fields,
            key_generator,
            timeline_timezone: get_opt("hoodie.table.timeline.timezone")
                .unwrap_or_else(|| "LOCAL".to_string()),
            populate_meta_fields: parse_bool(
                table,
                "hoodie.populate.meta.fields",
                p.get("hoodie.populate.meta.fields"),
                true,
            )?,
            base_file_format,
            timeline_layout_version,
            timeline_dir,
            archive_dir,
            hive_style_partitioning: parse_bool(
                table,
                "hoodie.datasource.write.hive_style_partitioning",
                p.get("hoodie.datasource.write.hive_style_partitioning"),
                false,
            )?,
            partition_path_urlencode: parse_bool(
                table,
                "hoodie.datasource.write.partitionpath.urlencode",
                p.get("hoodie.datasource.write.partitionpath.urlencode"),
                false,
            )?,
            drop_partition_columns: parse_bool(
                table,
                "hoodie.datasource.write.drop.partition.columns",
                p.get("hoodie.datasource.write.drop.partition.columns"),
                false,
            )?,
            record_merge_mode: get_opt("hoodie.record.merge.mode"),
            payload_class: get_opt(versions::PROP_PAYLOAD_CLASS)
                .map(|c| versions::normalize_class_name(&c)),
            cdc_enabled: parse_bool(
                table,
                "hoodie.table.cdc.enabled",
                p.get("hoodie.table.cdc.enabled"),
                false,
            )?,
            bootstrap_base_path: get_opt("hoodie.bootstrap.base.path"),
            properties,
        })
    }

    /// Whether instants are windowed by completion time (table version >= 8).
    pub fn uses_completion_time(&self) -> bool {
        self.table_version >= 8
    }

    /// Whether the table is merge-on-read.
    pub fn is_mor(&self) -> bool {
        self.table_type == TableType::MergeOnRead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TableConfig> {
        TableConfig::parse("t", s.as_bytes())
    }

    #[test]
    fn v9_table() {
        let c = parse(
            "hoodie.table.version=9\nhoodie.table.type=MERGE_ON_READ\nhoodie.table.name=x\n\
             hoodie.table.recordkey.fields=txn_id\nhoodie.table.partition.fields=region\n\
             hoodie.table.ordering.fields=txn_ts\nhoodie.table.keygenerator.type=SIMPLE\n\
             hoodie.timeline.layout.version=2\nhoodie.datasource.write.hive_style_partitioning=true\n",
        )
        .unwrap();
        assert_eq!(c.table_version, 9);
        assert!(c.is_mor());
        assert_eq!(c.record_key_fields, vec!["txn_id"]);
        assert_eq!(c.partition_fields, vec!["region"]);
        assert_eq!(c.ordering_fields, vec!["txn_ts"]);
        assert_eq!(c.key_generator, KeyGenerator::Simple);
        assert_eq!(c.timeline_dir, ".hoodie/timeline");
        assert_eq!(c.archive_dir, ".hoodie/timeline/history");
        assert!(c.hive_style_partitioning);
        assert!(c.populate_meta_fields);
        assert_eq!(c.base_file_format, BaseFileFormat::Parquet);
        assert!(c.uses_completion_time());
    }

    #[test]
    fn v6_table_defaults() {
        let c = parse(
            "hoodie.table.version=6\nhoodie.table.keygenerator.class=org.apache.hudi.keygen.ComplexKeyGenerator\n\
             hoodie.table.precombine.field=ts\nhoodie.table.partition.fields=a,b\nhoodie.populate.meta.fields=false\n",
        )
        .unwrap();
        assert_eq!(c.table_type, TableType::CopyOnWrite);
        assert_eq!(c.key_generator, KeyGenerator::Complex);
        assert_eq!(c.ordering_fields, vec!["ts"]);
        assert_eq!(c.timeline_layout_version, 1);
        assert_eq!(c.timeline_dir, ".hoodie");
        assert_eq!(c.archive_dir, ".hoodie/archived");
        assert!(!c.populate_meta_fields);
        assert!(!c.uses_completion_time());
    }

    /// `hoodie.properties` of the Hudi 0.11 (v4) twin table, verbatim.
    const V4_PROPERTIES: &str = "#Updated at 2025-08-03T00:02:04.957Z
hoodie.table.timeline.timezone=LOCAL
hoodie.table.keygenerator.class=org.apache.hudi.keygen.SimpleKeyGenerator
hoodie.table.precombine.field=ts
hoodie.table.version=4
hoodie.database.name=
hoodie.datasource.write.hive_style_partitioning=false
hoodie.table.checksum=299047795
hoodie.partition.metafile.use.base.format=false
hoodie.archivelog.folder=archived
hoodie.table.name=hudi-v4-table_table
hoodie.compaction.payload.class=org.apache.hudi.common.model.OverwriteWithLatestAvroPayload
hoodie.populate.meta.fields=true
hoodie.table.type=MERGE_ON_READ
hoodie.datasource.write.partitionpath.urlencode=false
hoodie.table.base.file.format=PARQUET
hoodie.datasource.write.drop.partition.columns=false
hoodie.table.metadata.partitions=files
hoodie.timeline.layout.version=1
hoodie.table.recordkey.fields=id
hoodie.table.partition.fields=partition
";

    /// `hoodie.properties` of the Hudi 0.10 (v3) Streamer table, verbatim.
    const V3_PROPERTIES: &str = "#Properties saved on Fri Oct 22 14:46:53 PDT 2021
hoodie.table.precombine.field=timestamp
hoodie.table.partition.fields=not_there
hoodie.table.type=COPY_ON_WRITE
hoodie.archivelog.folder=archived
hoodie.populate.meta.fields=true
hoodie.timeline.layout.version=1
hoodie.table.version=3
hoodie.table.recordkey.fields=_row_key
hoodie.table.base.file.format=PARQUET
hoodie.table.keygenerator.class=org.apache.hudi.utilities.functional.TestHoodieDeltaStreamer$TestGenerator
hoodie.table.name=hoodie_trips
";

    #[test]
    fn v4_properties_keygen_class_and_precombine_field() {
        let c = parse(V4_PROPERTIES).unwrap();
        assert_eq!(c.table_version, 4);
        assert!(c.is_mor());
        // v3-v6 store the key generator as a class, v8+ as a type
        assert_eq!(c.key_generator, KeyGenerator::Simple);
        // v<=8 name the ordering field `precombine.field`
        assert_eq!(c.ordering_fields, vec!["ts"]);
        assert_eq!(c.record_key_fields, vec!["id"]);
        assert_eq!(c.partition_fields, vec!["partition"]);
        assert_eq!(c.database_name, None);
        assert_eq!(c.timeline_layout_version, 1);
        assert_eq!(c.timeline_dir, ".hoodie");
        assert!(!c.uses_completion_time());
        let v5 = V4_PROPERTIES.replace("hoodie.table.version=4", "hoodie.table.version=5");
        assert_eq!(parse(&v5).unwrap().table_version, 5);
    }

    #[test]
    fn v3_properties_defaults_and_user_key_generator() {
        let c = parse(V3_PROPERTIES).unwrap();
        assert_eq!(c.table_version, 3);
        assert_eq!(c.table_type, TableType::CopyOnWrite);
        // created at v3 without the partitioning keys: both default to false
        assert!(!c.hive_style_partitioning);
        assert!(!c.partition_path_urlencode);
        assert!(!c.drop_partition_columns);
        assert_eq!(c.timeline_timezone, "LOCAL");
        // no payload class on this COW table: left unset (MOR reads default to overwrite)
        assert_eq!(c.payload_class, None);
        assert_eq!(c.ordering_fields, vec!["timestamp"]);
        // a user's class is kept as written, never interpreted
        assert_eq!(
            c.key_generator,
            KeyGenerator::Other(
                "org.apache.hudi.utilities.functional.TestHoodieDeltaStreamer$TestGenerator".into()
            )
        );
    }

    #[test]
    fn v1_v2_properties_without_key_or_layout_keys() {
        let c = parse(
            "hoodie.table.version=1\nhoodie.table.name=t\nhoodie.table.type=MERGE_ON_READ\n\
             hoodie.compaction.payload.class=com.uber.hoodie.common.model.HoodieAvroPayload\n\
             hoodie.table.ro.file.format=PARQUET\n",
        )
        .unwrap();
        assert_eq!(c.table_version, 1);
        // no key generator stored before v3: unknown, not inferred from absent fields
        assert_eq!(c.key_generator, KeyGenerator::Unknown);
        assert!(c.record_key_fields.is_empty());
        // no layout key: layout 0, the same flat folder as layout 1
        assert_eq!(c.timeline_layout_version, 0);
        assert_eq!(c.timeline_dir, ".hoodie");
        assert_eq!(c.archive_dir, ".hoodie/archived");
        assert_eq!(
            c.payload_class.as_deref(),
            Some("org.apache.hudi.common.model.HoodieAvroPayload")
        );
        assert_eq!(c.base_file_format, BaseFileFormat::Parquet);
        let orc = parse("hoodie.table.version=2\nhoodie.table.ro.file.format=ORC\n").unwrap();
        assert_eq!(orc.base_file_format, BaseFileFormat::Other("ORC".into()));
        assert_eq!(orc.key_generator, KeyGenerator::Unknown);
        let l0 = parse("hoodie.table.version=2\nhoodie.timeline.layout.version=0\n").unwrap();
        assert_eq!(l0.timeline_layout_version, 0);
    }

    /// Payload classes of v1-v5 merge-on-read tables: absent means Hudi 0.6+'s default
    /// `OverwriteWithLatestAvroPayload`; pre-Apache names resolve like Apache ones; the 0.5
    /// default `HoodieAvroPayload` (other semantics) is refused rather than guessed.
    #[test]
    fn v1_to_v5_payload_classes() {
        use crate::log::MergeMode;
        use crate::mor::merge_mode;
        let mor = |version: u32, payload: &str| {
            let text = format!(
                "hoodie.table.version={version}\nhoodie.table.type=MERGE_ON_READ\n\
                 hoodie.table.precombine.field=ts\n{payload}"
            );
            merge_mode(&parse(&text).unwrap(), "t")
        };
        for v in 1..=5 {
            assert_eq!(
                mor(v, "").unwrap(),
                MergeMode::OverwriteWithLatestPayload,
                "v{v}"
            );
        }
        let uber = "hoodie.compaction.payload.class=\
                    com.uber.hoodie.common.model.OverwriteWithLatestAvroPayload\n";
        assert_eq!(mor(4, uber).unwrap(), MergeMode::OverwriteWithLatestPayload);
        let default = "hoodie.compaction.payload.class=\
                       org.apache.hudi.common.model.DefaultHoodieRecordPayload\n";
        assert_eq!(mor(5, default).unwrap(), MergeMode::DefaultPayload);
        let avro = "hoodie.compaction.payload.class=\
                    com.uber.hoodie.common.model.HoodieAvroPayload\n";
        assert_eq!(mor(1, avro).unwrap(), MergeMode::CommitTimeOrdering);
        let partial = "hoodie.compaction.payload.class=\
                       org.apache.hudi.common.model.PartialUpdateAvroPayload\n";
        assert!(matches!(
            mor(5, partial),
            Err(HudiError::NotYetSupported { .. })
        ));
    }

    #[test]
    fn unversioned_table_is_refused_naming_its_release() {
        let e = parse(
            "hoodie.table.name=t\nhoodie.table.type=COPY_ON_WRITE\n\
             hoodie.table.ro.file.format=PARQUET\nhoodie.archivelog.folder=\n",
        )
        .unwrap_err();
        match &e {
            HudiError::UnversionedTable { looks_like, .. } => {
                assert_eq!(looks_like, "0.5.0 or older")
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("table version 0") && msg.contains("Hudi 0.5.0 or older"),
            "{msg}"
        );
        assert!(matches!(
            parse("hoodie.timeline.layout.version=1\n"),
            Err(HudiError::UnversionedTable { looks_like, .. }) if looks_like == "0.5.1-0.5.3"
        ));
    }

    #[test]
    fn key_generator_names() {
        for (s, k) in [
            (
                "org.apache.hudi.keygen.SimpleKeyGenerator",
                KeyGenerator::Simple,
            ),
            (
                "org.apache.hudi.keygen.NonpartitionedKeyGenerator",
                KeyGenerator::NonPartitioned,
            ),
            ("NON_PARTITION", KeyGenerator::NonPartitioned),
            ("TIMESTAMP", KeyGenerator::Timestamp),
            (
                "org.apache.hudi.keygen.TimestampBasedKeyGenerator",
                KeyGenerator::Timestamp,
            ),
            (
                "org.apache.hudi.keygen.CustomAvroKeyGenerator",
                KeyGenerator::Custom,
            ),
        ] {
            assert_eq!(KeyGenerator::from_class_or_type(s), k, "{s}");
        }
    }

    #[test]
    fn partition_field_types_are_stripped() {
        let c = parse("hoodie.table.version=8\nhoodie.table.partition.fields=a:SIMPLE,b:TIMESTAMP")
            .unwrap();
        assert_eq!(c.partition_fields, vec!["a", "b"]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(parse(""), Err(HudiError::UnversionedTable { .. })));
        assert!(matches!(
            parse("hoodie.table.version=seven"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=7"),
            Err(HudiError::UnsupportedTableVersion { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=99999999999999999999"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=9\nhoodie.table.type=WHATEVER"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=9\nhoodie.populate.meta.fields=maybe"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=9\nhoodie.timeline.path=../x"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=9\nhoodie.timeline.layout.version=7"),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            TableConfig::parse("t", &[0xff, 0xfe, 0x00]),
            Err(HudiError::MalformedProperties { .. })
        ));
        assert!(matches!(
            parse("hoodie.table.version=9\nx=\\u00"),
            Err(HudiError::MalformedProperties { .. })
        ));
    }
}
