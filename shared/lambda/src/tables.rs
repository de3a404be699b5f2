//! The configured tables (`HPS_TABLES`, or the `HPS_CONFIG` file): ids, S3 base paths, each
//! table's PostgreSQL target settings, and which table an S3 key belongs to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hps_sync::TargetOverrides;

use crate::error::ConfigError;

/// Longest table id: it is the SQS message group id and the start of every deduplication id
/// (both at most 128 characters), so it is kept well below that.
pub const MAX_TABLE_ID_LEN: usize = 64;

/// A table id: 1-64 characters of `A-Z a-z 0-9 _ . -`. Used as the SQS FIFO message group id
/// (one group per table keeps each table's messages in order) and in deduplication ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId(String);

impl TableId {
    /// Validate and wrap a table id.
    pub fn new(id: &str) -> Result<Self, ConfigError> {
        let ok = !id.is_empty()
            && id.len() <= MAX_TABLE_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(TableId(id.to_string()))
        } else {
            Err(ConfigError::Invalid {
                var: "HPS_TABLES",
                reason: format!(
                    "table id {id:?} must be 1-{MAX_TABLE_ID_LEN} characters of A-Z a-z 0-9 _ . -"
                ),
            })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One configured table: its id and where its base path is on S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table id.
    pub id: TableId,
    /// The bucket.
    pub bucket: String,
    /// The base path inside the bucket, without leading or trailing `/` (`""` = bucket root).
    pub prefix: String,
    /// The table's own target settings (from the configuration file; none with
    /// `HPS_TABLES`). The loader's pipeline-wide settings fill what they leave unset.
    pub target: TargetOverrides,
    /// SQL run inside every apply transaction (from the configuration file).
    pub after_apply: Vec<String>,
    /// Which columns reach staging (from the configuration file; default all).
    pub columns: hps_sync::ColumnMapping,
    /// The partition filter (from the configuration file).
    pub partition_filter: Option<hps_sync::PartitionFilter>,
    /// Found under a discovery prefix (id derived from its path, settings the defaults).
    pub discovered: bool,
}

impl TableSpec {
    /// `s3://bucket/prefix` (normalized).
    pub fn uri(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The key relative to this table's base path, if `bucket`/`key` lies under it.
    pub fn relative_key<'k>(&self, bucket: &str, key: &'k str) -> Option<&'k str> {
        if bucket != self.bucket {
            return None;
        }
        if self.prefix.is_empty() {
            return Some(key);
        }
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }
}

impl TableSpec {
    /// The spec of a configuration file's table (`None` when it is not on S3).
    pub fn from_config(t: &hps_config::TableConfig) -> Option<TableSpec> {
        let hps_config::Location::S3 { bucket, prefix } = &t.location else {
            return None;
        };
        Some(TableSpec {
            id: TableId::new(&t.id).ok()?,
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            target: t.target.clone(),
            after_apply: t.after_apply.clone(),
            columns: t.columns.clone(),
            partition_filter: t.partition_filter.clone(),
            discovered: t.discovered,
        })
    }
}

/// Parse `s3://bucket/base/path` (also `s3a://`) into bucket and normalized prefix: the
/// configuration file's location rules ([`hps_config::parse_location`]), S3 only.
pub fn parse_s3_base(uri: &str) -> Result<(String, String), String> {
    match hps_config::parse_location(uri).map_err(|e| format!("{uri:?}: {e}"))? {
        hps_config::Location::S3 { bucket, prefix } => Ok((bucket, prefix)),
        hps_config::Location::Local(_) => Err(format!("{uri:?} is not an s3:// URI")),
    }
}

/// The set of configured tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSet {
    tables: Vec<TableSpec>,
    /// The configuration file, when it has discovery prefixes (tables under them are found
    /// at run time: see [`crate::discovery`]).
    discovery: Option<Arc<hps_config::PipelineConfig>>,
}

impl TableSet {
    /// Parse `HPS_TABLES`: either a JSON object `{"id": "s3://bucket/path", ...}` or a list of
    /// `id=s3://bucket/path` entries separated by commas, semicolons or whitespace.
    ///
    /// Ids must be unique; base paths must be distinct and must not contain one another (an S3
    /// key must belong to at most one table).
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            var: "HPS_TABLES",
            reason,
        };
        let trimmed = value.trim();
        let pairs: Vec<(String, String)> = if trimmed.starts_with('{') {
            let map: BTreeMap<String, String> = serde_json::from_str(trimmed)
                .map_err(|e| invalid(format!("not a JSON object of id -> s3 URI: {e}")))?;
            map.into_iter().collect()
        } else {
            trimmed
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|entry| {
                    entry
                        .split_once('=')
                        .map(|(id, uri)| (id.trim().to_string(), uri.trim().to_string()))
                        .ok_or_else(|| {
                            invalid(format!("entry {entry:?} is not id=s3://bucket/path"))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        if pairs.is_empty() {
            return Err(invalid("no tables configured".into()));
        }
        let mut tables: Vec<TableSpec> = Vec::with_capacity(pairs.len());
        for (id, uri) in pairs {
            let id = TableId::new(&id)?;
            let (bucket, prefix) = parse_s3_base(&uri).map_err(invalid)?;
            let spec = TableSpec {
                id,
                bucket,
                prefix,
                target: TargetOverrides::default(),
                after_apply: Vec::new(),
                columns: hps_sync::ColumnMapping::default(),
                partition_filter: None,
                discovered: false,
            };
            for other in &tables {
                if other.id == spec.id {
                    return Err(invalid(format!("table id {} appears twice", spec.id)));
                }
                if other.bucket == spec.bucket && nests(&other.prefix, &spec.prefix) {
                    return Err(invalid(format!(
                        "tables {} ({}) and {} ({}) overlap: one base path contains the other",
                        other.id,
                        other.uri(),
                        spec.id,
                        spec.uri()
                    )));
                }
            }
            tables.push(spec);
        }
        Ok(TableSet {
            tables,
            discovery: None,
        })
    }

    /// The tables of a configuration file (already validated: ids, overlaps, targets). Every
    /// location must be on S3.
    pub fn from_config(config: &hps_config::PipelineConfig) -> Result<Self, ConfigError> {
        let not_s3 = |what: String, location: &hps_config::Location| ConfigError::Invalid {
            var: "HPS_CONFIG",
            reason: format!(
                "{}: {what}: {} is not on S3 (local paths are for the CLI)",
                config.origin,
                location.uri()
            ),
        };
        let mut tables = Vec::with_capacity(config.tables.len());
        for t in &config.tables {
            tables.push(
                TableSpec::from_config(t).ok_or_else(|| {
                    not_s3(format!("table {:?}, key `location`", t.id), &t.location)
                })?,
            );
        }
        if let Some(p) = config
            .prefixes
            .iter()
            .find(|p| !matches!(p, hps_config::Location::S3 { .. }))
        {
            return Err(not_s3("key `discovery.prefixes`".into(), p));
        }
        if tables.is_empty() && config.prefixes.is_empty() {
            return Err(ConfigError::Invalid {
                var: "HPS_CONFIG",
                reason: format!("{}: no tables configured", config.origin),
            });
        }
        Ok(TableSet {
            tables,
            discovery: (!config.prefixes.is_empty()).then(|| Arc::new(config.clone())),
        })
    }

    /// The configuration whose prefixes tables are discovered under, if any.
    pub fn discovery(&self) -> Option<&hps_config::PipelineConfig> {
        self.discovery.as_deref()
    }

    /// Add a table found at run time (no-op when one with its id is known already).
    pub fn add(&mut self, spec: TableSpec) {
        if self.get(spec.id.as_str()).is_none() {
            self.tables.push(spec);
        }
    }

    /// All tables, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &TableSpec> {
        self.tables.iter()
    }

    /// Number of tables.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether no table is configured.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table with this id.
    pub fn get(&self, id: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.id.as_str() == id)
    }

    /// The table an S3 object belongs to, with the key relative to that table's base path.
    pub fn locate<'k>(&self, bucket: &str, key: &'k str) -> Option<(&TableSpec, &'k str)> {
        self.tables
            .iter()
            .find_map(|t| t.relative_key(bucket, key).map(|rel| (t, rel)))
    }
}

/// Whether one base path equals or contains the other (segment-wise).
fn nests(a: &str, b: &str) -> bool {
    let within = |outer: &str, inner: &str| {
        outer.is_empty()
            || inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|r| r.starts_with('/'))
    };
    within(a, b) || within(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compact_and_json_forms() {
        let a = TableSet::parse(
            " orders=s3://lake/wh/orders/ ,trips=s3://lake/wh/trips;x=s3a://other-bucket",
        )
        .unwrap();
        assert_eq!(a.len(), 3);
        let o = a.get("orders").unwrap();
        assert_eq!(
            (o.bucket.as_str(), o.prefix.as_str()),
            ("lake", "wh/orders")
        );
        assert_eq!(o.uri(), "s3://lake/wh/orders");
        assert_eq!(a.get("x").unwrap().prefix, "");
        let b =
            TableSet::parse(r#"{"orders": "s3://lake/wh/orders", "trips": "s3://lake/wh/trips"}"#)
                .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.get("trips").unwrap().prefix, "wh/trips");
        // newline-separated too
        assert_eq!(
            TableSet::parse("a=s3://lake/a\nb=s3://lake/b\n")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        for bad in [
            "",
            "orders",
            "orders=lake/wh/orders",
            "bad id=s3://lake/x",
            "orders=s3://lake/a,orders=s3://lake/b",
            "a=s3://lake/wh,b=s3://lake/wh/b",
            "a=s3://lake/wh/b,b=s3://lake/wh",
            "a=s3://lake/wh,b=s3://lake/wh/",
            "a=s3://lake,b=s3://lake/x",
            "a=s3://Lake/x",
            "a=s3://lake/x/../y",
            "a=s3://lake/x//y",
            "a=s3://lake/t/.hoodie/metadata",
            "{\"a\": 1}",
            &format!("{}=s3://lake/x", "a".repeat(65)),
        ] {
            assert!(TableSet::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // siblings sharing a name prefix do not nest
        assert!(TableSet::parse("a=s3://lake/wh/orders,b=s3://lake/wh/orders_v2").is_ok());
        // same prefix in different buckets is fine
        assert!(TableSet::parse("a=s3://lake/wh,b=s3://lake2/wh").is_ok());
    }

    #[test]
    fn from_a_configuration_file() {
        let c = hps_config::parse(
            "t.toml",
            "[tables.orders]\nlocation = \"s3://lake/wh/orders\"\ntable = \"o\"\n",
        )
        .unwrap();
        let t = TableSet::from_config(&c).unwrap();
        let o = t.get("orders").unwrap();
        assert_eq!(o.uri(), "s3://lake/wh/orders");
        assert_eq!(o.target.staging.as_deref(), Some("o"));
        let local = hps_config::parse("t.toml", "[tables.l]\nlocation = \"/data/l\"\n").unwrap();
        let e = TableSet::from_config(&local).unwrap_err().to_string();
        assert!(
            e.contains("HPS_CONFIG") && e.contains("\"l\"") && e.contains("not on S3"),
            "{e}"
        );
    }

    #[test]
    fn prefixes_only_configuration() {
        let c =
            hps_config::parse("t.toml", "[discovery]\nprefixes = [\"s3://lake/wh\"]\n").unwrap();
        let t = TableSet::from_config(&c).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.discovery().map(|c| c.prefixes.len()), Some(1));
        // without prefixes there is nothing to discover
        assert!(
            TableSet::parse("a=s3://lake/a")
                .unwrap()
                .discovery()
                .is_none()
        );
        let local =
            hps_config::parse("t.toml", "[discovery]\nprefixes = [\"/data/wh\"]\n").unwrap();
        let e = TableSet::from_config(&local).unwrap_err().to_string();
        assert!(
            e.contains("discovery.prefixes") && e.contains("not on S3"),
            "{e}"
        );
    }

    #[test]
    fn locates_keys_segment_wise() {
        let t = TableSet::parse("o=s3://lake/wh/orders,o2=s3://lake/wh/orders_v2,root=s3://flat")
            .unwrap();
        let (spec, rel) = t.locate("lake", "wh/orders/.hoodie/1.commit").unwrap();
        assert_eq!((spec.id.as_str(), rel), ("o", ".hoodie/1.commit"));
        let (spec, rel) = t.locate("lake", "wh/orders_v2/.hoodie/1.commit").unwrap();
        assert_eq!((spec.id.as_str(), rel), ("o2", ".hoodie/1.commit"));
        assert!(t.locate("lake", "wh/orders").is_none());
        assert!(t.locate("lake", "wh/ordersX/.hoodie/1.commit").is_none());
        assert!(t.locate("other", "wh/orders/.hoodie/1.commit").is_none());
        let (spec, rel) = t.locate("flat", ".hoodie/1.commit").unwrap();
        assert_eq!((spec.id.as_str(), rel), ("root", ".hoodie/1.commit"));
    }
}
