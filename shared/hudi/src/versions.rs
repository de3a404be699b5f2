//! What this reader knows about Hudi table versions: which ones it reads, which Hudi releases
//! wrote them, and the storage conventions that changed from one version to the next
//! (legacy property names and defaults, null-partition sentinels, the table checksum).
//!
//! The names that changed between versions (legacy property keys, class packages, null
//! partition sentinels) live here, so the rest of the crate asks "is this the null
//! partition?" instead of comparing strings itself.
//!
//! Versions 1 to 5 (Hudi 0.6 to 0.13) share the version-6 layout: a flat `.hoodie/` timeline
//! whose completed files carry only the requested time, JSON commit metadata, Avro log blocks
//! framed in log format 1. What differs is handled where it is read: missing properties get
//! their historical defaults in [`crate::config`], data blocks of content version 1 and 2 are
//! decoded like version 3 and Kryo-serialized delete blocks (content versions 1 and 2) are
//! refused in [`crate::log`], and commit metadata is decoded leniently in [`crate::metadata`].

use std::collections::BTreeMap;

/// Table versions this reader reads. Version 7 (Hudi 1.0 betas) never shipped in a release
/// and is refused; version 0 (no `hoodie.table.version`) is refused with
/// [`crate::HudiError::UnversionedTable`].
pub const SUPPORTED_TABLE_VERSIONS: [u32; 8] = [1, 2, 3, 4, 5, 6, 8, 9];

/// The Hudi releases that write a table version (for messages and logs).
pub fn releases_of(version: u32) -> &'static str {
    match version {
        0 => "0.5 or older",
        1 => "0.6-0.8",
        2 => "0.9",
        3 => "0.10",
        4 => "0.11",
        5 => "0.12-0.13",
        6 => "0.14-0.15",
        7 => "1.0 beta",
        8 => "1.0",
        9 => "1.1-1.2",
        _ => "unknown",
    }
}

/// Whether this reader reads tables of `version`.
pub fn is_supported(version: u32) -> bool {
    SUPPORTED_TABLE_VERSIONS.contains(&version)
}

/// Property key of the timeline layout (absent on tables created by Hudi 0.5.0 and older).
pub const PROP_TIMELINE_LAYOUT: &str = "hoodie.timeline.layout.version";
/// Property key of the payload class.
pub const PROP_PAYLOAD_CLASS: &str = "hoodie.compaction.payload.class";
/// Property key of the table checksum (version 4 and later).
pub const PROP_CHECKSUM: &str = "hoodie.table.checksum";
/// Hudi 0.5 name of the base file format (an alias of `hoodie.table.base.file.format`).
pub const PROP_LEGACY_BASE_FORMAT: &str = "hoodie.table.ro.file.format";

/// Package prefix of Hudi classes before the project moved to Apache (Hudi 0.4).
const UBER_PACKAGE: &str = "com.uber.hoodie.";
/// Package prefix of Hudi classes since the move to Apache.
const APACHE_PACKAGE: &str = "org.apache.hudi.";

/// A pre-Apache class name (`com.uber.hoodie.*`) rewritten to its Apache name, as Hudi itself
/// does when it loads an old table; other names are returned unchanged.
pub fn normalize_class_name(name: &str) -> String {
    match name.strip_prefix(UBER_PACKAGE) {
        Some(rest) => format!("{APACHE_PACKAGE}{rest}"),
        None => name.to_string(),
    }
}

/// Which Hudi release a `hoodie.properties` without `hoodie.table.version` most likely came
/// from, judged from the keys those releases wrote.
pub fn unversioned_release_guess(props: &BTreeMap<String, String>) -> &'static str {
    let uber = props
        .get(PROP_PAYLOAD_CLASS)
        .is_some_and(|c| c.trim().starts_with(UBER_PACKAGE));
    if uber {
        "com.uber.hoodie 0.4.x"
    } else if props.contains_key(PROP_TIMELINE_LAYOUT) {
        "0.5.1-0.5.3"
    } else {
        "0.5.0 or older"
    }
}

/// The timeline layout of a table without `hoodie.timeline.layout.version`: layout 0 (each
/// instant renamed from state to state) up to version 5, layout 1 for version 6 (which always
/// writes the key) and layout 2 from version 8 on. Layouts 0 and 1 are read the same way:
/// only completed instant files count.
pub fn default_timeline_layout(table_version: u32) -> u32 {
    match table_version {
        0..=5 => 0,
        6 | 7 => 1,
        _ => 2,
    }
}

/// Directory name a writer of `table_version` uses for a null or empty partition value:
/// `default` up to version 4 (Hudi 0.11), `__HIVE_DEFAULT_PARTITION__` from version 5 on.
pub fn null_partition_name(table_version: u32) -> &'static str {
    if table_version <= 4 {
        NULL_PARTITION_NAMES[0]
    } else {
        NULL_PARTITION_NAMES[1]
    }
}

/// Every sentinel a Hudi writer has used for a null partition value: Spark writers of
/// versions <= 4, Spark writers of versions >= 5, and early Flink writers.
pub const NULL_PARTITION_NAMES: [&str; 3] = [
    "default",
    "__HIVE_DEFAULT_PARTITION__",
    "__DEFAULT_PARTITION__",
];

/// Whether one partition path segment (`value` or hive-style `field=value`) is a null-value
/// sentinel. A literal string value `default` is indistinguishable from null in tables of
/// version <= 4, so partition column values should come from data files whenever they exist.
pub fn is_null_partition_segment(segment: &str) -> bool {
    let value = segment.split_once('=').map_or(segment, |(_, v)| v);
    NULL_PARTITION_NAMES.contains(&value)
}

/// The checksum Hudi stores in `hoodie.table.checksum` (version 4 and later): the CRC-32 of
/// `<database>.<table name>` (the database part empty when unset).
pub fn table_checksum(database: &str, table_name: &str) -> u32 {
    crc32(format!("{database}.{table_name}").as_bytes())
}

/// CRC-32 (IEEE 802.3, reflected, as `java.util.zip.CRC32`).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_and_releases() {
        for v in [1, 2, 3, 4, 5, 6, 8, 9] {
            assert!(is_supported(v), "{v}");
        }
        for v in [0, 7, 10] {
            assert!(!is_supported(v), "{v}");
        }
        assert_eq!(releases_of(5), "0.12-0.13");
        assert_eq!(releases_of(42), "unknown");
    }

    #[test]
    fn checksum_matches_hudi() {
        // hoodie.table.checksum of the Hudi 0.11 (v4) and 0.12 (v5) twin tables
        assert_eq!(table_checksum("", "hudi-v4-table_table"), 299_047_795);
        assert_eq!(table_checksum("", "hudi-v5-table_table"), 3_427_123_958);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn uber_class_names_are_rewritten() {
        assert_eq!(
            normalize_class_name("com.uber.hoodie.common.model.HoodieAvroPayload"),
            "org.apache.hudi.common.model.HoodieAvroPayload"
        );
        assert_eq!(normalize_class_name("my.Payload"), "my.Payload");
    }

    #[test]
    fn unversioned_tables_are_dated_by_their_keys() {
        let props = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(unversioned_release_guess(&props(&[])), "0.5.0 or older");
        assert_eq!(
            unversioned_release_guess(&props(&[(PROP_TIMELINE_LAYOUT, "1")])),
            "0.5.1-0.5.3"
        );
        assert_eq!(
            unversioned_release_guess(&props(&[(
                PROP_PAYLOAD_CLASS,
                "com.uber.hoodie.common.model.HoodieAvroPayload"
            )])),
            "com.uber.hoodie 0.4.x"
        );
    }

    #[test]
    fn null_partition_sentinels_by_version() {
        assert_eq!(null_partition_name(3), "default");
        assert_eq!(null_partition_name(4), "default");
        assert_eq!(null_partition_name(5), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(null_partition_name(9), "__HIVE_DEFAULT_PARTITION__");
        for s in [
            "default",
            "__HIVE_DEFAULT_PARTITION__",
            "__DEFAULT_PARTITION__",
            "region=default",
            "region=__HIVE_DEFAULT_PARTITION__",
        ] {
            assert!(is_null_partition_segment(s), "{s}");
        }
        for s in ["2023-01-01", "region=us", "defaults", "", "region="] {
            assert!(!is_null_partition_segment(s), "{s}");
        }
    }

    #[test]
    fn timeline_layout_defaults() {
        assert_eq!(default_timeline_layout(1), 0);
        assert_eq!(default_timeline_layout(5), 0);
        assert_eq!(default_timeline_layout(6), 1);
        assert_eq!(default_timeline_layout(8), 2);
    }
}
