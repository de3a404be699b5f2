//! The PostgreSQL target of a Hudi table: derived from `hoodie.properties` (table name,
//! record-key fields, ordering fields), with per-table overrides.

use std::time::Duration;

use hps_hudi::TableConfig;
use hps_postgres::{
    BadRowPolicy, COL_PARTITION_PATH, COL_RECORD_KEY, ChangeSource, DeletePolicy, LandingRetention,
    OnSchemaChange, TargetTable,
};

use crate::columns::ColumnMapping;
use crate::error::{SyncError, SyncResult};

/// Per-table overrides of the derived [`TargetTable`]. `None` keeps the derived value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOverrides {
    /// PostgreSQL schema (default `hudi`).
    pub schema: Option<String>,
    /// Staging table name (default: the sanitized `hoodie.table.name`); landing and tombstone
    /// names follow it.
    pub staging: Option<String>,
    /// Primary-key columns of staging (default: `hoodie.table.recordkey.fields`, or
    /// `_hoodie_record_key` when the table names none).
    pub key_columns: Option<Vec<String>>,
    /// Prefix the key with `_hoodie_partition_path`: for tables whose record keys are unique
    /// per partition only (non-global index) and may repeat across partitions.
    pub key_includes_partition_path: bool,
    /// Ordering columns of the version guard (default: the table's ordering/precombine fields).
    pub ordering_columns: Option<Vec<String>>,
    /// Hard (default) or soft deletes.
    pub delete_policy: Option<DeletePolicy>,
    /// Landing retention (default: drop after apply).
    pub landing_retention: Option<LandingRetention>,
    /// Tombstone retention (`Some(None)`: keep forever).
    pub tombstone_retention: Option<Option<Duration>>,
    /// What a schema change needing DDL on staging does (default: evolve).
    pub on_schema_change: Option<OnSchemaChange>,
    /// What a row PostgreSQL cannot hold does (default: stop).
    pub on_bad_row: Option<BadRowPolicy>,
}

impl TargetOverrides {
    /// These overrides, with every setting they leave unset taken from `base` (a table's own
    /// settings over pipeline-wide ones).
    pub fn or(self, base: &TargetOverrides) -> TargetOverrides {
        TargetOverrides {
            schema: self.schema.or_else(|| base.schema.clone()),
            staging: self.staging.or_else(|| base.staging.clone()),
            key_columns: self.key_columns.or_else(|| base.key_columns.clone()),
            key_includes_partition_path: self.key_includes_partition_path
                || base.key_includes_partition_path,
            ordering_columns: self
                .ordering_columns
                .or_else(|| base.ordering_columns.clone()),
            delete_policy: self.delete_policy.or(base.delete_policy),
            landing_retention: self.landing_retention.or(base.landing_retention),
            tombstone_retention: self.tombstone_retention.or(base.tombstone_retention),
            on_schema_change: self.on_schema_change.or(base.on_schema_change),
            on_bad_row: self.on_bad_row.or(base.on_bad_row),
        }
    }
}

/// The source (Hudi) names of `spec`'s key and ordering columns (configured by their source
/// names, before any rename): the columns the mapping must keep.
pub fn source_names(spec: &TargetTable) -> Vec<String> {
    spec.key_columns
        .iter()
        .chain(&spec.ordering_columns)
        .cloned()
        .collect()
}

/// `spec` with its key and ordering columns under their staging names (`mapping.rename`).
pub fn renamed(mut spec: TargetTable, mapping: &ColumnMapping) -> TargetTable {
    for c in spec
        .key_columns
        .iter_mut()
        .chain(spec.ordering_columns.iter_mut())
    {
        *c = mapping.target_name(c).to_string();
    }
    spec
}

/// The name a table gets when `hoodie.table.name` is absent: the last path segment of its id.
fn fallback_name(table_id: &str) -> String {
    table_id
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("hudi_table")
        .to_string()
}

/// Derive the target of `table_id` from its Hudi configuration and the overrides.
pub fn derive_target(
    table_id: &str,
    config: &TableConfig,
    overrides: &TargetOverrides,
) -> SyncResult<TargetTable> {
    let err = |reason: String| SyncError::Target {
        table: table_id.to_string(),
        reason,
    };
    let mut key = match &overrides.key_columns {
        Some(k) if k.is_empty() => return Err(err("the key-column override is empty".into())),
        Some(k) => k.clone(),
        None if config.record_key_fields.is_empty() => vec![COL_RECORD_KEY.to_string()],
        None => config.record_key_fields.clone(),
    };
    if overrides.key_includes_partition_path && !key.iter().any(|k| k == COL_PARTITION_PATH) {
        key.insert(0, COL_PARTITION_PATH.to_string());
    }
    let name = if config.table_name.trim().is_empty() {
        fallback_name(table_id)
    } else {
        config.table_name.clone()
    };
    let mut t = TargetTable::for_hudi_table(&name, key);
    if let Some(s) = &overrides.staging {
        t = t.with_staging_name(s.clone());
    }
    if let Some(s) = &overrides.schema {
        t = t.with_schema(s.clone());
    }
    let ordering = overrides
        .ordering_columns
        .clone()
        .unwrap_or_else(|| config.ordering_fields.clone());
    let ordering: Vec<String> = ordering
        .into_iter()
        .filter(|o| !t.key_columns.contains(o))
        .collect();
    t = t.with_ordering(ordering);
    if let Some(p) = overrides.delete_policy {
        t = t.with_delete_policy(p);
    }
    if let Some(r) = overrides.landing_retention {
        t = t.with_landing_retention(r);
    }
    if let Some(r) = overrides.tombstone_retention {
        t.tombstone_retention = r;
    }
    if let Some(m) = overrides.on_schema_change {
        t = t.with_on_schema_change(m);
    }
    t.source = Some(ChangeSource {
        table_id: table_id.to_string(),
        instant: None,
    });
    if let Some(p) = overrides.on_bad_row {
        t = t.with_bad_row_policy(p);
    }
    t.validate().map_err(|e| err(e.to_string()))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &str) -> TableConfig {
        TableConfig::parse("file:///t", props.as_bytes()).unwrap()
    }

    const V9: &str = "hoodie.table.version=9\nhoodie.table.type=COPY_ON_WRITE\nhoodie.table.name=Orders-EU\n\
                      hoodie.table.recordkey.fields=txn_id\nhoodie.table.ordering.fields=txn_ts\n\
                      hoodie.table.partition.fields=region\n";

    #[test]
    fn derives_from_properties() {
        let t = derive_target("s3://b/w/orders", &config(V9), &TargetOverrides::default()).unwrap();
        assert_eq!(t.schema, "hudi");
        assert_eq!(t.staging, "orders_eu");
        assert_eq!(t.landing, "orders_eu__landing");
        assert_eq!(t.key_columns, vec!["txn_id"]);
        assert_eq!(t.ordering_columns, vec!["txn_ts"]);
        assert_eq!(t.delete_policy, DeletePolicy::Hard);
    }

    #[test]
    fn overrides_apply() {
        let o = TargetOverrides {
            schema: Some("lake".into()),
            staging: Some("orders".into()),
            key_includes_partition_path: true,
            ordering_columns: Some(vec![]),
            delete_policy: Some(DeletePolicy::Soft),
            tombstone_retention: Some(None),
            ..Default::default()
        };
        let t = derive_target("s3://b/w/orders", &config(V9), &o).unwrap();
        assert_eq!(t.schema, "lake");
        assert_eq!(t.staging, "orders");
        assert_eq!(t.tombstones, "orders__tombstones");
        assert_eq!(t.key_columns, vec!["_hoodie_partition_path", "txn_id"]);
        assert!(t.ordering_columns.is_empty());
        assert_eq!(t.delete_policy, DeletePolicy::Soft);
        assert_eq!(t.tombstone_retention, None);
    }

    #[test]
    fn table_settings_win_over_pipeline_ones() {
        let table = TargetOverrides {
            staging: Some("t".into()),
            delete_policy: Some(DeletePolicy::Soft),
            ..Default::default()
        };
        let base = TargetOverrides {
            schema: Some("lake".into()),
            staging: Some("ignored".into()),
            delete_policy: Some(DeletePolicy::Hard),
            tombstone_retention: Some(None),
            ..Default::default()
        };
        let m = table.or(&base);
        assert_eq!(m.schema.as_deref(), Some("lake"));
        assert_eq!(m.staging.as_deref(), Some("t"));
        assert_eq!(m.delete_policy, Some(DeletePolicy::Soft));
        assert_eq!(m.tombstone_retention, Some(None));
    }

    #[test]
    fn fallbacks_and_errors() {
        let c = config("hoodie.table.version=6\nhoodie.table.type=COPY_ON_WRITE\n");
        let t = derive_target(
            "s3://bucket/warehouse/my_table/",
            &c,
            &TargetOverrides::default(),
        )
        .unwrap();
        assert_eq!(t.staging, "my_table");
        assert_eq!(t.key_columns, vec!["_hoodie_record_key"]);
        let bad = TargetOverrides {
            key_columns: Some(vec![]),
            ..Default::default()
        };
        assert!(matches!(
            derive_target("t", &c, &bad),
            Err(SyncError::Target { .. })
        ));
        let bad = TargetOverrides {
            staging: Some("x".repeat(80)),
            ..Default::default()
        };
        assert!(matches!(
            derive_target("t", &c, &bad),
            Err(SyncError::Target { .. })
        ));
    }
}
