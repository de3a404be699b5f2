//! Per-table configuration: names, record key, ordering, delete policy, retention.

use std::time::Duration;

use crate::error::PgError;
use crate::ident::{Ident, qualified, sanitize_table_name};

/// Default PostgreSQL schema of the synced tables.
pub const DEFAULT_SCHEMA: &str = "hudi";

/// Registry of landing partitions (one per schema).
pub const LANDING_REGISTRY: &str = "hudi_sync_landing_loads";

/// Schema history: every DDL statement the sync applied (one per schema).
pub const SCHEMA_HISTORY: &str = "hps_schema_history";

/// What happens when the incoming schema needs DDL on an existing staging table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnSchemaChange {
    /// Add new columns, widen types (and the landing and tombstone tables with them).
    #[default]
    Evolve,
    /// Never change staging once it exists: new columns are not loaded, a type staging can
    /// hold is loaded, one it cannot hold stops the table.
    Freeze,
    /// Stop the table before anything is written when a change would need DDL.
    Stop,
}

impl OnSchemaChange {
    /// The configuration spelling: `evolve`, `freeze` or `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnSchemaChange::Evolve => "evolve",
            OnSchemaChange::Freeze => "freeze",
            OnSchemaChange::Stop => "stop",
        }
    }

    /// Parse the configuration spelling.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "evolve" => Ok(OnSchemaChange::Evolve),
            "freeze" => Ok(OnSchemaChange::Freeze),
            "stop" => Ok(OnSchemaChange::Stop),
            other => Err(format!(
                "{other:?}: expected \"evolve\", \"freeze\" or \"stop\""
            )),
        }
    }
}

/// Where the batches of an apply come from, recorded with the DDL it runs
/// (the schema history) and named in its schema-change errors.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChangeSource {
    /// The caller's table id.
    pub table_id: String,
    /// The instant (or `first..last` range of instants) being applied, when known.
    pub instant: Option<String>,
}

/// What a delete does to the staging row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletePolicy {
    /// Remove the staging row; the delete's version is kept in the tombstone table
    /// (`<staging>__tombstones`) so that a late, older upsert cannot resurrect the row.
    #[default]
    Hard,
    /// Keep the row as a tombstone: `_hps_deleted = true`, `_hps_deleted_at` set, data
    /// columns as last seen, version columns from the delete.
    Soft,
}

/// What happens to landing rows once their load committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LandingRetention {
    /// Drop the load's landing partition in the same transaction as the upsert.
    #[default]
    DropAfterApply,
    /// Keep landing partitions for audit; partitions of loads applied longer ago than this
    /// are dropped by later applies (and by [`crate::Applier::prune`]).
    Keep(Duration),
}

/// What a change row with a value PostgreSQL cannot hold does to its load (a NUL character in
/// text or JSON, a date or timestamp outside PostgreSQL's range, a decimal wider than its
/// `numeric(p,s)` column, a null record key). Such values are found while the row is encoded,
/// before anything reaches PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BadRowPolicy {
    /// The load fails with an error naming the table, instant, file, column and reason;
    /// nothing of it commits and the table stops until the row is fixed.
    #[default]
    Stop,
    /// The row goes, losslessly and with the reason, into the table's quarantine table
    /// (`<staging>__quarantine`) in the same transaction as the rest of the load, whose other
    /// rows commit (see [`crate::Applier::retry_quarantined`]).
    Quarantine,
}

/// One Hudi table's PostgreSQL target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetTable {
    /// PostgreSQL schema (default `hudi`).
    pub schema: String,
    /// Staging table: one row per record key.
    pub staging: String,
    /// Landing table (partitioned per load, UNLOGGED partitions).
    pub landing: String,
    /// Tombstone table (hard deletes only).
    pub tombstones: String,
    /// Change-schema columns forming the staging primary key, in order (the Hudi record-key
    /// fields; may include `_hoodie_record_key` / `_hoodie_partition_path`).
    pub key_columns: Vec<String>,
    /// Ordering (precombine) columns, compared after commit time and seqno.
    pub ordering_columns: Vec<String>,
    /// Hard or soft delete.
    pub delete_policy: DeletePolicy,
    /// Landing retention.
    pub landing_retention: LandingRetention,
    /// Hard-delete tombstones older than this are pruned (`None`: kept forever). A late
    /// upsert older than a pruned tombstone would resurrect its row.
    pub tombstone_retention: Option<Duration>,
    /// `fillfactor` of the staging table (HOT updates; 100 = none reserved).
    pub fillfactor: u8,
    /// What a schema change that needs DDL on an existing staging table does.
    pub on_schema_change: OnSchemaChange,
    /// The table id and instant of the batches (schema history and error messages).
    pub source: Option<ChangeSource>,
    /// What a row PostgreSQL cannot hold does (default: stop).
    pub on_bad_row: BadRowPolicy,
}

impl TargetTable {
    /// Defaults derived from the Hudi table name (`hoodie.table.name`): schema `hudi`,
    /// staging `<sanitized name>`, landing `<name>__landing`, tombstones `<name>__tombstones`.
    pub fn for_hudi_table(hudi_table_name: &str, key_columns: Vec<String>) -> Self {
        let base = sanitize_table_name(hudi_table_name);
        TargetTable {
            schema: DEFAULT_SCHEMA.to_string(),
            landing: format!("{base}__landing"),
            tombstones: format!("{base}__tombstones"),
            staging: base,
            key_columns,
            ordering_columns: Vec::new(),
            delete_policy: DeletePolicy::default(),
            landing_retention: LandingRetention::default(),
            tombstone_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            fillfactor: 70,
            on_schema_change: OnSchemaChange::default(),
            source: None,
            on_bad_row: BadRowPolicy::Stop,
        }
    }

    /// Set what a schema change does.
    pub fn with_on_schema_change(mut self, m: OnSchemaChange) -> Self {
        self.on_schema_change = m;
        self
    }

    /// Set the ordering (precombine) columns.
    pub fn with_ordering(mut self, cols: Vec<String>) -> Self {
        self.ordering_columns = cols;
        self
    }

    /// Set the delete policy.
    pub fn with_delete_policy(mut self, p: DeletePolicy) -> Self {
        self.delete_policy = p;
        self
    }

    /// Set what a row PostgreSQL cannot hold does.
    pub fn with_bad_row_policy(mut self, p: BadRowPolicy) -> Self {
        self.on_bad_row = p;
        self
    }

    /// Set the landing retention.
    pub fn with_landing_retention(mut self, r: LandingRetention) -> Self {
        self.landing_retention = r;
        self
    }

    /// Set the PostgreSQL schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Set the staging name and derive landing/tombstone names from it.
    pub fn with_staging_name(mut self, staging: impl Into<String>) -> Self {
        self.staging = staging.into();
        self.landing = format!("{}__landing", self.staging);
        self.tombstones = format!("{}__tombstones", self.staging);
        self
    }

    /// `"schema"."staging"` (for messages and logs), quoting as needed.
    pub fn display_name(&self) -> String {
        format!(
            "{}.{}",
            crate::ident::quote_ident(&self.schema),
            crate::ident::quote_ident(&self.staging)
        )
    }

    /// Validate names and settings.
    pub fn validate(&self) -> Result<Names, PgError> {
        let err = |reason: String| PgError::InvalidSpec {
            table: self.display_name(),
            reason,
        };
        let names = Names {
            schema: Ident::new(&self.schema)?,
            staging: Ident::new(&self.staging)?,
            landing: Ident::new(&self.landing)?,
            tombstones: Ident::new(&self.tombstones)?,
            registry: Ident::new(LANDING_REGISTRY)?,
            history: Ident::new(SCHEMA_HISTORY)?,
        };
        let distinct = [
            &names.staging,
            &names.landing,
            &names.tombstones,
            &names.registry,
            &names.history,
        ];
        for (i, a) in distinct.iter().enumerate() {
            if distinct[i + 1..].contains(a) {
                return Err(err(format!("table name {a} used twice")));
            }
        }
        if self.key_columns.is_empty() {
            return Err(err("no record-key columns".into()));
        }
        for (i, k) in self.key_columns.iter().enumerate() {
            if self.key_columns[i + 1..].contains(k) {
                return Err(err(format!("record-key column {k:?} listed twice")));
            }
        }
        for (i, k) in self.ordering_columns.iter().enumerate() {
            if self.ordering_columns[i + 1..].contains(k) {
                return Err(err(format!("ordering column {k:?} listed twice")));
            }
        }
        if !(10..=100).contains(&self.fillfactor) {
            return Err(err(format!(
                "fillfactor {} outside 10..=100",
                self.fillfactor
            )));
        }
        Ok(names)
    }
}

/// Validated identifiers of a [`TargetTable`].
#[derive(Clone, Debug)]
pub struct Names {
    /// Schema.
    pub schema: Ident,
    /// Staging table.
    pub staging: Ident,
    /// Landing parent table.
    pub landing: Ident,
    /// Tombstone table.
    pub tombstones: Ident,
    /// Landing partition registry.
    pub registry: Ident,
    /// Schema history.
    pub history: Ident,
}

impl Names {
    /// Qualified staging.
    pub fn staging_q(&self) -> String {
        qualified(&self.schema, &self.staging)
    }
    /// Qualified landing parent.
    pub fn landing_q(&self) -> String {
        qualified(&self.schema, &self.landing)
    }
    /// Qualified tombstones.
    pub fn tombstones_q(&self) -> String {
        qualified(&self.schema, &self.tombstones)
    }
    /// Qualified registry.
    pub fn registry_q(&self) -> String {
        qualified(&self.schema, &self.registry)
    }
    /// Qualified schema history.
    pub fn history_q(&self) -> String {
        qualified(&self.schema, &self.history)
    }

    /// Qualified quarantine table (`<staging>__quarantine`, see [`BadRowPolicy`]).
    pub fn quarantine_q(&self) -> Result<String, PgError> {
        Ok(qualified(
            &self.schema,
            &crate::quarantine::quarantine_ident(self)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_hudi_name() {
        let t = TargetTable::for_hudi_table("Trips-COW", vec!["id".into()]);
        assert_eq!(t.schema, "hudi");
        assert_eq!(t.staging, "trips_cow");
        assert_eq!(t.landing, "trips_cow__landing");
        assert_eq!(t.tombstones, "trips_cow__tombstones");
        assert!(t.validate().is_ok());
        let long = TargetTable::for_hudi_table(&"x".repeat(200), vec!["id".into()]);
        assert!(long.validate().is_ok());
    }

    #[test]
    fn rejects_bad_specs() {
        let t = TargetTable::for_hudi_table("t", vec![]);
        assert!(t.validate().is_err());
        let t = TargetTable::for_hudi_table("t", vec!["a".into(), "a".into()]);
        assert!(t.validate().is_err());
        let mut t = TargetTable::for_hudi_table("t", vec!["a".into()]);
        t.landing = t.staging.clone();
        assert!(t.validate().is_err());
        let t =
            TargetTable::for_hudi_table("t", vec!["a".into()]).with_staging_name("s".repeat(64));
        assert!(t.validate().is_err());
    }
}
