//! The configuration file as written: TOML deserialized into these types. Unknown keys are
//! rejected everywhere (`deny_unknown_fields`); values are checked in [`crate::resolve`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file: pipeline defaults and the tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Settings every table gets unless its entry says otherwise.
    #[serde(default)]
    pub defaults: Defaults,
    /// Prefixes whose Hudi tables are found rather than listed (`[discovery]`).
    #[serde(default)]
    pub discovery: Option<Discovery>,
    /// The tables, by id.
    #[serde(default)]
    pub tables: BTreeMap<String, TableEntry>,
}

/// Table discovery (`[discovery]`): every Hudi table under these prefixes is synced with the
/// defaults; a `[tables.<id>]` entry at a discovered table's base path overrides them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// `s3://bucket/prefix` or a local directory (CLI only).
    pub prefixes: Vec<String>,
}

/// Pipeline defaults (`[defaults]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// PostgreSQL schema of the staging, landing and tombstone tables.
    pub schema: Option<String>,
    /// `hard` or `soft`.
    pub delete_mode: Option<String>,
    /// `drop` or a duration (`7d`, `12h`, `30m`, `90s`).
    pub landing_retention: Option<String>,
    /// `forever` or a duration.
    pub tombstone_retention: Option<String>,
    /// `evolve`, `freeze` or `stop`.
    pub on_schema_change: Option<String>,
    /// `stop` or `quarantine`.
    pub on_bad_row: Option<String>,
}

/// One table (`[tables.<id>]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// Base path of the Hudi table: `s3://bucket/prefix` or a local directory (CLI only).
    pub location: Option<String>,
    /// PostgreSQL schema (overrides the default).
    pub schema: Option<String>,
    /// Staging table name (default: derived from `hoodie.table.name`).
    pub table: Option<String>,
    /// Primary-key columns of staging (default: the Hudi record-key fields).
    pub key_columns: Option<Vec<String>>,
    /// Ordering columns of the version guard (default: the Hudi ordering fields).
    pub ordering_columns: Option<Vec<String>>,
    /// Prefix the key with `_hoodie_partition_path` (keys unique per partition only).
    pub key_includes_partition_path: Option<bool>,
    /// `hard` or `soft`.
    pub delete_mode: Option<String>,
    /// `drop` or a duration.
    pub landing_retention: Option<String>,
    /// `forever` or a duration.
    pub tombstone_retention: Option<String>,
    /// `evolve`, `freeze` or `stop`.
    pub on_schema_change: Option<String>,
    /// `stop` or `quarantine`.
    pub on_bad_row: Option<String>,
    /// SQL statements run in every apply transaction, after the upsert, before the fence.
    pub after_apply: Option<Vec<String>>,
    /// Which columns reach staging, under which names and types.
    pub columns: Option<ColumnsEntry>,
    /// Only the partitions whose partition column holds one of the values:
    /// `region in ('eu-west', 'eu-north')` or `region = 'eu-west'`.
    pub filter: Option<String>,
}

/// A table's columns (`[tables.<id>.columns]`), by their Hudi names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsEntry {
    /// Only these columns (plus the meta, key and ordering columns the sync needs).
    pub include: Option<Vec<String>>,
    /// Every column but these (never read from storage).
    pub exclude: Option<Vec<String>>,
    /// Hudi name → staging name.
    pub rename: Option<BTreeMap<String, String>>,
    /// Hudi name → staging type (`text`).
    pub types: Option<BTreeMap<String, String>>,
}
