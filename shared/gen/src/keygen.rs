//! Key generators: how a row's `_hoodie_record_key` and `_hoodie_partition_path` are made, and
//! what the table's `hoodie.properties` says about it, for the generators Hudi's Spark writers
//! ship ([`KeyGenerator`]).
//!
//! Every generated table partitions on the string column `region`; a key keeps its partition
//! for life. With the timestamp-based generators the `region` values are date strings
//! (`DATE_STRING` input `yyyy-MM-dd HH:mm:ss` in UTC) and the partition path is the value
//! re-formatted as `yyyy/MM/dd/HH` in the output time zone `GMT+05:30`, so the path differs
//! from the value in format and in zone (a path cannot be read back as the value).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::config::TableVersion;
use crate::error::{GenError, GenResult};
use crate::schema::{KEY_FIELD, PARTITION_FIELD};

/// Second record key field of the complex key generator (stable for a key's life).
pub const SECOND_KEY_FIELD: &str = "customer_id";
/// `timestamp.type` of the timestamp-based generators.
pub const TIMESTAMP_TYPE: &str = "DATE_STRING";
/// Java pattern of the `region` values (input) of the timestamp-based generators.
pub const INPUT_DATE_FORMAT: &str = "yyyy-MM-dd HH:mm:ss";
/// Java pattern of their partition paths (output).
pub const OUTPUT_DATE_FORMAT: &str = "yyyy/MM/dd/HH";
/// Input time zone.
pub const INPUT_TIMEZONE: &str = "UTC";
/// Output time zone (a fixed offset Java's `TimeZone.getTimeZone` accepts).
pub const OUTPUT_TIMEZONE: &str = "GMT+05:30";
const OUTPUT_OFFSET_SECONDS: i32 = 5 * 3600 + 30 * 60;
/// Hours between the instants of consecutive partitions (so that every partition has its own
/// day-hour path).
const PARTITION_SPACING_HOURS: i64 = 37;

/// A Hudi key generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyGenerator {
    /// `SimpleKeyGenerator`: key `id`, hive-style path `region=<v>`.
    #[default]
    Simple,
    /// `ComplexKeyGenerator` on `id,customer_id`: key `id:<id>,customer_id:<c>`, hive-style
    /// path `region=<v>`.
    Complex,
    /// `NonpartitionedKeyGenerator`: key `id`, every file in the base path (needs one
    /// partition).
    NonPartitioned,
    /// `TimestampBasedKeyGenerator` on `region` (date strings): key `id`, path
    /// `yyyy/MM/dd/HH` in `GMT+05:30`.
    Timestamp,
    /// `CustomKeyGenerator` with `region:TIMESTAMP` and the same timestamp settings.
    Custom,
}

impl std::str::FromStr for KeyGenerator {
    type Err = GenError;
    fn from_str(s: &str) -> GenResult<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "simple" => Ok(KeyGenerator::Simple),
            "complex" => Ok(KeyGenerator::Complex),
            "nonpartitioned" | "nonpartition" => Ok(KeyGenerator::NonPartitioned),
            "timestamp" | "timestampbased" => Ok(KeyGenerator::Timestamp),
            "custom" => Ok(KeyGenerator::Custom),
            _ => Err(GenError::Config(format!(
                "key generator {s:?}: expected simple, complex, non-partitioned, timestamp or custom"
            ))),
        }
    }
}

impl KeyGenerator {
    /// Whether partitions come from a timestamp-formatted `region`.
    pub fn is_timestamp_based(self) -> bool {
        matches!(self, KeyGenerator::Timestamp | KeyGenerator::Custom)
    }

    /// `hoodie.table.recordkey.fields`.
    pub fn record_key_fields(self) -> String {
        match self {
            KeyGenerator::Complex => format!("{KEY_FIELD},{SECOND_KEY_FIELD}"),
            _ => KEY_FIELD.to_string(),
        }
    }

    /// Write the record key of a row into `out` (cleared first).
    pub fn write_record_key(self, out: &mut String, id: i64, customer_id: i32) {
        use std::fmt::Write;
        out.clear();
        // writing into a String cannot fail
        let _ = match self {
            KeyGenerator::Complex => {
                write!(out, "{KEY_FIELD}:{id},{SECOND_KEY_FIELD}:{customer_id}")
            }
            _ => write!(out, "{id}"),
        };
    }

    /// The record key of a row.
    pub fn record_key(self, id: i64, customer_id: i32) -> String {
        let mut s = String::new();
        self.write_record_key(&mut s, id, customer_id);
        s
    }

    /// The `region` values of `n` partitions: region names, or (timestamp-based) date strings
    /// 37 hours apart going back from `start`.
    pub fn partition_values(self, n: u32, start: DateTime<Utc>) -> Vec<String> {
        if !self.is_timestamp_based() {
            return crate::rows::partition_values(n);
        }
        (0..i64::from(n))
            .map(|p| {
                (start - Duration::hours(1 + PARTITION_SPACING_HOURS * p))
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .collect()
    }

    /// The partition path of a `region` value.
    pub fn partition_path(self, value: &str) -> GenResult<String> {
        match self {
            KeyGenerator::Simple | KeyGenerator::Complex => {
                Ok(format!("{PARTITION_FIELD}={value}"))
            }
            KeyGenerator::NonPartitioned => Ok(String::new()),
            KeyGenerator::Timestamp | KeyGenerator::Custom => {
                let t = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| {
                        GenError::Config(format!("partition value {value:?} is not a date: {e}"))
                    })?
                    .and_utc();
                let zone = FixedOffset::east_opt(OUTPUT_OFFSET_SECONDS).ok_or_else(|| {
                    GenError::Config(format!("output time zone {OUTPUT_TIMEZONE}"))
                })?;
                Ok(t.with_timezone(&zone).format("%Y/%m/%d/%H").to_string())
            }
        }
    }

    /// `partitionDepth` of a partition path in `.hoodie_partition_metadata`.
    pub fn partition_depth(path: &str) -> usize {
        if path.is_empty() {
            0
        } else {
            path.split('/').count()
        }
    }

    /// The `hoodie.properties` entries this generator decides, as a writer of `version`
    /// stores them: the generator (class up to version 6, type from 8), record key and
    /// partition fields, hive-style partitioning, and the timestamp settings.
    pub fn properties(self, version: TableVersion) -> Vec<(&'static str, String)> {
        let mut kv = Vec::new();
        match version {
            TableVersion::V5 | TableVersion::V6 => kv.push((
                "hoodie.table.keygenerator.class",
                format!("org.apache.hudi.keygen.{}", self.class_name()),
            )),
            TableVersion::V9 => kv.push((
                "hoodie.table.keygenerator.type",
                self.type_name().to_string(),
            )),
        }
        kv.push(("hoodie.table.recordkey.fields", self.record_key_fields()));
        let partition_fields = match (self, version) {
            (KeyGenerator::NonPartitioned, _) => String::new(),
            // from version 8 the custom generator's field types are stored with the fields
            (KeyGenerator::Custom, TableVersion::V9) => format!("{PARTITION_FIELD}:TIMESTAMP"),
            _ => PARTITION_FIELD.to_string(),
        };
        kv.push(("hoodie.table.partition.fields", partition_fields));
        let hive_style = matches!(self, KeyGenerator::Simple | KeyGenerator::Complex);
        kv.push((
            "hoodie.datasource.write.hive_style_partitioning",
            hive_style.to_string(),
        ));
        if self.is_timestamp_based() {
            // persisted since Hudi 0.11, under the Streamer prefix until 0.14
            let keys: [(&'static str, &str); 5] = match version {
                TableVersion::V5 => [
                    (
                        "hoodie.deltastreamer.keygen.timebased.timestamp.type",
                        TIMESTAMP_TYPE,
                    ),
                    (
                        "hoodie.deltastreamer.keygen.timebased.input.dateformat",
                        INPUT_DATE_FORMAT,
                    ),
                    (
                        "hoodie.deltastreamer.keygen.timebased.output.dateformat",
                        OUTPUT_DATE_FORMAT,
                    ),
                    (
                        "hoodie.deltastreamer.keygen.timebased.input.timezone",
                        INPUT_TIMEZONE,
                    ),
                    (
                        "hoodie.deltastreamer.keygen.timebased.output.timezone",
                        OUTPUT_TIMEZONE,
                    ),
                ],
                TableVersion::V6 | TableVersion::V9 => [
                    ("hoodie.keygen.timebased.timestamp.type", TIMESTAMP_TYPE),
                    (
                        "hoodie.keygen.timebased.input.dateformat",
                        INPUT_DATE_FORMAT,
                    ),
                    (
                        "hoodie.keygen.timebased.output.dateformat",
                        OUTPUT_DATE_FORMAT,
                    ),
                    ("hoodie.keygen.timebased.input.timezone", INPUT_TIMEZONE),
                    ("hoodie.keygen.timebased.output.timezone", OUTPUT_TIMEZONE),
                ],
            };
            kv.extend(keys.into_iter().map(|(k, v)| (k, v.to_string())));
        }
        kv
    }

    fn class_name(self) -> &'static str {
        match self {
            KeyGenerator::Simple => "SimpleKeyGenerator",
            KeyGenerator::Complex => "ComplexKeyGenerator",
            KeyGenerator::NonPartitioned => "NonpartitionedKeyGenerator",
            KeyGenerator::Timestamp => "TimestampBasedKeyGenerator",
            KeyGenerator::Custom => "CustomKeyGenerator",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            KeyGenerator::Simple => "SIMPLE",
            KeyGenerator::Complex => "COMPLEX",
            KeyGenerator::NonPartitioned => "NON_PARTITION",
            KeyGenerator::Timestamp => "TIMESTAMP",
            KeyGenerator::Custom => "CUSTOM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys() {
        assert_eq!(KeyGenerator::Simple.record_key(42, 7), "42");
        assert_eq!(
            KeyGenerator::Complex.record_key(42, 7),
            "id:42,customer_id:7"
        );
        assert_eq!(KeyGenerator::Complex.record_key_fields(), "id,customer_id");
    }

    #[test]
    fn timestamp_paths_are_formatted_in_the_output_zone() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let values = KeyGenerator::Timestamp.partition_values(3, start);
        assert_eq!(
            values,
            [
                "2024-12-31 23:00:00",
                "2024-12-30 10:00:00",
                "2024-12-28 21:00:00"
            ]
        );
        let paths: Vec<String> = values
            .iter()
            .map(|v| KeyGenerator::Custom.partition_path(v).unwrap())
            .collect();
        // +05:30: 23:00 UTC is 04:30 the next day
        assert_eq!(paths, ["2025/01/01/04", "2024/12/30/15", "2024/12/29/02"]);
        assert_eq!(KeyGenerator::partition_depth(&paths[0]), 4);
        assert_eq!(KeyGenerator::partition_depth(""), 0);
        assert_eq!(
            KeyGenerator::Simple.partition_path("eu-west").unwrap(),
            "region=eu-west"
        );
        assert_eq!(
            KeyGenerator::NonPartitioned.partition_path("x").unwrap(),
            ""
        );
        assert!(KeyGenerator::Timestamp.partition_path("eu-west").is_err());
    }

    #[test]
    fn properties_by_version() {
        let get = |kv: &[(&str, String)], k: &str| {
            kv.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone())
        };
        let v6 = KeyGenerator::Custom.properties(TableVersion::V6);
        assert_eq!(
            get(&v6, "hoodie.table.keygenerator.class").as_deref(),
            Some("org.apache.hudi.keygen.CustomKeyGenerator")
        );
        assert_eq!(
            get(&v6, "hoodie.table.partition.fields").as_deref(),
            Some("region")
        );
        assert_eq!(
            get(&v6, "hoodie.keygen.timebased.output.timezone").as_deref(),
            Some("GMT+05:30")
        );
        let v9 = KeyGenerator::Custom.properties(TableVersion::V9);
        assert_eq!(
            get(&v9, "hoodie.table.keygenerator.type").as_deref(),
            Some("CUSTOM")
        );
        assert_eq!(
            get(&v9, "hoodie.table.partition.fields").as_deref(),
            Some("region:TIMESTAMP")
        );
        let v5 = KeyGenerator::Timestamp.properties(TableVersion::V5);
        assert_eq!(
            get(&v5, "hoodie.deltastreamer.keygen.timebased.timestamp.type").as_deref(),
            Some("DATE_STRING")
        );
        let np = KeyGenerator::NonPartitioned.properties(TableVersion::V9);
        assert_eq!(
            get(&np, "hoodie.table.partition.fields").as_deref(),
            Some("")
        );
        assert_eq!(
            get(&np, "hoodie.table.keygenerator.type").as_deref(),
            Some("NON_PARTITION")
        );
        assert_eq!(
            "non-partitioned".parse::<KeyGenerator>().unwrap(),
            KeyGenerator::NonPartitioned
        );
    }
}
