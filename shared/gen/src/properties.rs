//! `hoodie.properties` and `.hoodie_partition_metadata`: Java `Properties` text.

use chrono::{DateTime, Utc};

use crate::config::{TableType, TableVersion};
use crate::keygen::KeyGenerator;
use crate::schema::{KEY_FIELD, ORDERING_FIELD, PARTITION_FIELD, TableSchema};

/// Escape like `java.util.Properties.store` (keys and values): `\`, `=`, `:`, `#`, `!`,
/// control characters, a leading space, and non-ASCII as `\uXXXX`.
pub fn escape(s: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || is_key => out.push_str("\\ "),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// CRC-32 (IEEE, as `java.util.zip.CRC32`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// `hoodie.table.checksum`: CRC-32 of `<database>.<table>` (Hudi `HoodieTableConfig.generateChecksum`).
pub fn table_checksum(database: &str, table: &str) -> u32 {
    crc32(format!("{database}.{table}").as_bytes())
}

/// Java `Date.toString()` in UTC: `Wed Jan 01 00:00:00 UTC 2025`.
pub fn java_date(t: DateTime<Utc>) -> String {
    t.format("%a %b %d %H:%M:%S UTC %Y").to_string()
}

/// The `hoodie.properties` text of a generated table.
pub fn table_properties(
    schema: &TableSchema,
    table_type: TableType,
    version: TableVersion,
    key_generator: KeyGenerator,
    written_at: DateTime<Utc>,
) -> String {
    let header = match version {
        TableVersion::V6 => "Properties saved on",
        TableVersion::V5 | TableVersion::V9 => "Updated at",
    };
    let mut kv = match version {
        TableVersion::V5 => version5_keys(schema, table_type, 5),
        TableVersion::V6 | TableVersion::V9 => current_keys(schema, table_type, version),
    };
    set_all(&mut kv, key_generator.properties(version));
    properties_text(header, &kv, written_at)
}

/// Set each entry: in place when the key is already there, appended otherwise.
fn set_all(kv: &mut Vec<(&'static str, String)>, entries: Vec<(&'static str, String)>) {
    for (k, v) in entries {
        match kv.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => kv.push((k, v)),
        }
    }
}

/// `hoodie.properties` after Hudi 0.14 upgraded a version-5 table to 6: the same keys as
/// before with `hoodie.table.version=6`. The 5 -> 6 upgrade adds no property (its only storage
/// change concerns `.aux/` copies of pending compaction plans) and Java rewrites the file
/// with an `Updated at` comment.
pub fn upgraded_to_v6_properties(
    schema: &TableSchema,
    table_type: TableType,
    key_generator: KeyGenerator,
    written_at: DateTime<Utc>,
) -> String {
    let mut kv = version5_keys(schema, table_type, 6);
    // the keys as the version-5 writer stored them
    set_all(&mut kv, key_generator.properties(TableVersion::V5));
    properties_text("Updated at", &kv, written_at)
}

const DATABASE: &str = "default";

/// The keys a Hudi 0.12/0.13 Spark writer stores (the 20 keys of the real version-5 table in
/// `realworld-fixtures/hudi_v5_table`, less `hoodie.table.metadata.partitions`: no metadata
/// table here): the key generator as a class, `precombine.field`, the 0.12 default payload
/// class, no create schema, no record merger or CDC keys.
fn version5_keys(
    schema: &TableSchema,
    table_type: TableType,
    number: u32,
) -> Vec<(&'static str, String)> {
    let table = schema.table_name();
    vec![
        ("hoodie.table.timeline.timezone", "UTC".to_string()),
        (
            "hoodie.table.keygenerator.class",
            "org.apache.hudi.keygen.SimpleKeyGenerator".to_string(),
        ),
        ("hoodie.table.precombine.field", ORDERING_FIELD.to_string()),
        ("hoodie.table.version", number.to_string()),
        ("hoodie.database.name", DATABASE.to_string()),
        (
            "hoodie.datasource.write.hive_style_partitioning",
            "true".to_string(),
        ),
        (
            "hoodie.table.checksum",
            table_checksum(DATABASE, table).to_string(),
        ),
        (
            "hoodie.partition.metafile.use.base.format",
            "false".to_string(),
        ),
        ("hoodie.archivelog.folder", "archived".to_string()),
        ("hoodie.table.name", table.to_string()),
        (
            "hoodie.compaction.payload.class",
            "org.apache.hudi.common.model.OverwriteWithLatestAvroPayload".to_string(),
        ),
        ("hoodie.populate.meta.fields", "true".to_string()),
        ("hoodie.table.type", table_type.as_hudi().to_string()),
        (
            "hoodie.datasource.write.partitionpath.urlencode",
            "false".to_string(),
        ),
        ("hoodie.table.base.file.format", "PARQUET".to_string()),
        (
            "hoodie.datasource.write.drop.partition.columns",
            "false".to_string(),
        ),
        ("hoodie.timeline.layout.version", "1".to_string()),
        ("hoodie.table.recordkey.fields", KEY_FIELD.to_string()),
        ("hoodie.table.partition.fields", PARTITION_FIELD.to_string()),
    ]
}

/// The keys of a table created by Hudi 0.14/0.15 (version 6) or 1.1 (version 9).
fn current_keys(
    schema: &TableSchema,
    table_type: TableType,
    version: TableVersion,
) -> Vec<(&'static str, String)> {
    let table = schema.table_name();
    let mut kv: Vec<(&str, String)> = vec![
        ("hoodie.table.name", table.to_string()),
        ("hoodie.database.name", DATABASE.to_string()),
        ("hoodie.table.type", table_type.as_hudi().to_string()),
        ("hoodie.table.version", version.number().to_string()),
        ("hoodie.table.recordkey.fields", KEY_FIELD.to_string()),
        ("hoodie.table.partition.fields", PARTITION_FIELD.to_string()),
        ("hoodie.table.base.file.format", "PARQUET".to_string()),
        (
            "hoodie.datasource.write.hive_style_partitioning",
            "true".to_string(),
        ),
        (
            "hoodie.datasource.write.partitionpath.urlencode",
            "false".to_string(),
        ),
        (
            "hoodie.datasource.write.drop.partition.columns",
            "false".to_string(),
        ),
        ("hoodie.populate.meta.fields", "true".to_string()),
        ("hoodie.table.timeline.timezone", "UTC".to_string()),
        ("hoodie.archivelog.folder", "archived".to_string()),
        (
            "hoodie.table.create.schema",
            schema.create_schema().to_string(),
        ),
        (
            "hoodie.table.checksum",
            table_checksum(DATABASE, table).to_string(),
        ),
    ];
    match version {
        TableVersion::V5 | TableVersion::V6 => {
            kv.extend([
                ("hoodie.timeline.layout.version", "1".to_string()),
                ("hoodie.table.precombine.field", ORDERING_FIELD.to_string()),
                (
                    "hoodie.table.keygenerator.class",
                    "org.apache.hudi.keygen.SimpleKeyGenerator".to_string(),
                ),
                (
                    "hoodie.compaction.payload.class",
                    "org.apache.hudi.common.model.DefaultHoodieRecordPayload".to_string(),
                ),
                // HoodieRecordMerger.DEFAULT_MERGE_STRATEGY_UUID (event-time merging)
                (
                    "hoodie.compaction.record.merger.strategy",
                    "eeb8d96f-b1e4-49fd-bbf8-28ac514178e5".to_string(),
                ),
            ]);
        }
        TableVersion::V9 => {
            kv.extend([
                ("hoodie.table.initial.version", "9".to_string()),
                ("hoodie.timeline.layout.version", "2".to_string()),
                ("hoodie.timeline.path", "timeline".to_string()),
                ("hoodie.timeline.history.path", "history".to_string()),
                ("hoodie.table.keygenerator.type", "SIMPLE".to_string()),
                ("hoodie.table.ordering.fields", ORDERING_FIELD.to_string()),
                (
                    "hoodie.record.merge.mode",
                    "EVENT_TIME_ORDERING".to_string(),
                ),
                ("hoodie.table.format", "native".to_string()),
            ]);
        }
    }
    kv
}

/// Java `Properties.store` text: the comment, the date comment, then `key=value` lines.
fn properties_text(header: &str, kv: &[(&str, String)], written_at: DateTime<Utc>) -> String {
    let mut out = format!(
        "#{header} {}\n#{}\n",
        written_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        java_date(written_at)
    );
    for (k, v) in kv {
        out.push_str(&escape(k, true));
        out.push('=');
        out.push_str(&escape(v, false));
        out.push('\n');
    }
    out
}

/// `.hoodie_partition_metadata` of a partition `depth` levels below the base path (0: the
/// base path of a non-partitioned table) first written by `commit_time`.
pub fn partition_metadata(commit_time: &str, depth: usize, written_at: DateTime<Utc>) -> String {
    format!(
        "#partition metadata\n#{}\ncommitTime={commit_time}\npartitionDepth={depth}\n",
        java_date(written_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_a_spark_written_table() {
        // fixture v9_txns_simple_meta (COW): database default, hoodie.table.checksum=2985977913
        assert_eq!(
            table_checksum("default", "v9_txns_cow_simple_meta"),
            2_985_977_913
        );
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn escapes_like_java() {
        assert_eq!(escape(r#"{"a":1}"#, false), r#"{"a"\:1}"#);
        assert_eq!(escape("a=b", false), "a\\=b");
        assert_eq!(escape(" x y", false), "\\ x y");
        assert_eq!(escape("é", false), "\\u00E9");
    }

    #[test]
    fn properties_carry_the_version_keys() {
        let s = TableSchema::new("t1").unwrap();
        let t = chrono::DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let v6 = table_properties(
            &s,
            TableType::MergeOnRead,
            TableVersion::V6,
            KeyGenerator::Simple,
            t,
        );
        assert!(v6.contains("\nhoodie.table.version=6\n"));
        assert!(v6.contains("\nhoodie.timeline.layout.version=1\n"));
        assert!(v6.contains("\nhoodie.table.type=MERGE_ON_READ\n"));
        assert!(v6.contains("\nhoodie.table.precombine.field=ts\n"));
        assert!(v6.contains("hoodie.table.create.schema={\"type\"\\:\"record\""));
        let v9 = table_properties(
            &s,
            TableType::CopyOnWrite,
            TableVersion::V9,
            KeyGenerator::Simple,
            t,
        );
        assert!(
            v9.starts_with("#Updated at 2025-01-01T00:00:00.000Z\n#Wed Jan 01 00:00:00 UTC 2025\n")
        );
        assert!(v9.contains("\nhoodie.table.ordering.fields=ts\n"));
        assert!(v9.contains("\nhoodie.timeline.path=timeline\n"));
        assert!(v9.contains("\nhoodie.table.keygenerator.type=SIMPLE\n"));
    }

    /// The keys of a version-5 table are those of the Hudi 0.12.2 table in
    /// `realworld-fixtures/hudi_v5_table` (less the metadata-table key), and the upgrade to 6
    /// changes only the version.
    #[test]
    fn version_5_keys_and_the_upgrade() {
        let s = TableSchema::new("t1").unwrap();
        let t = chrono::DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let keys = |text: &str| -> Vec<(String, String)> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let v5 = table_properties(
            &s,
            TableType::MergeOnRead,
            TableVersion::V5,
            KeyGenerator::Simple,
            t,
        );
        assert!(v5.starts_with("#Updated at 2025-01-01T00:00:00.000Z\n"));
        let mut names: Vec<String> = keys(&v5).into_iter().map(|(k, _)| k).collect();
        names.sort();
        let mut fixture = vec![
            "hoodie.archivelog.folder",
            "hoodie.compaction.payload.class",
            "hoodie.database.name",
            "hoodie.datasource.write.drop.partition.columns",
            "hoodie.datasource.write.hive_style_partitioning",
            "hoodie.datasource.write.partitionpath.urlencode",
            "hoodie.partition.metafile.use.base.format",
            "hoodie.populate.meta.fields",
            "hoodie.table.base.file.format",
            "hoodie.table.checksum",
            "hoodie.table.keygenerator.class",
            "hoodie.table.name",
            "hoodie.table.partition.fields",
            "hoodie.table.precombine.field",
            "hoodie.table.recordkey.fields",
            "hoodie.table.timeline.timezone",
            "hoodie.table.type",
            "hoodie.table.version",
            "hoodie.timeline.layout.version",
        ];
        fixture.sort();
        assert_eq!(names, fixture);
        assert!(v5.contains("\nhoodie.table.version=5\n"));
        assert!(v5.contains(
            "\nhoodie.compaction.payload.class=org.apache.hudi.common.model.OverwriteWithLatestAvroPayload\n"
        ));
        let up = upgraded_to_v6_properties(&s, TableType::MergeOnRead, KeyGenerator::Simple, t);
        let (a, b) = (keys(&v5), keys(&up));
        assert_eq!(a.len(), b.len());
        let changed: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
        assert_eq!(
            changed,
            vec![(
                &("hoodie.table.version".to_string(), "5".to_string()),
                &("hoodie.table.version".to_string(), "6".to_string())
            )]
        );
    }
}
