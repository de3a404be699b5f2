//! Tables found at run time under the configuration file's `[discovery] prefixes`.
//!
//! The functions read the configuration once per container, but tables appear under a prefix
//! at any time. So whenever an event or a message names a table that is not known yet, the
//! table is looked up on S3 with the same rule the CLI's walk applies
//! ([`hps_config::discover::is_table_base`]): it must lie under a configured prefix, hold
//! `.hoodie/hoodie.properties`, and not be inside another table or a hidden directory.
//!
//! - detector: an S3 event for `<base>/.hoodie/…` (a completed instant, or the table's
//!   `hoodie.properties`) of an unknown table under a prefix makes that table known for the
//!   event; a sweep walks the prefixes ([`hps_config::discover::find_tables`]);
//! - loader: a message names its table by base URI (the bookmark key); an unknown URI is
//!   synced only if it passes the same check, so a message cannot make the loader read (or
//!   write staging for) a location outside the configured prefixes.
//!
//! Nothing is cached: a table found once is looked up again by the next invocation (a few
//! `HEAD` requests), so a deleted or moved table is not synced from a stale entry.

use std::borrow::Cow;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsMessage;
use hps_config::Location;
use hps_config::discover::{HOODIE_PROPERTIES, base_of_key, find_tables, is_table_base};
use hps_storage::{DynStore, StorageError};
use hps_sync::SyncMessage;
use tracing::{info, warn};

use crate::event::DetectorEvent;
use crate::tables::{TableSet, TableSpec, parse_s3_base};
use crate::timeline_key::classify;

/// Opens the store rooted at a discovery prefix.
pub trait PrefixStores: Send + Sync {
    /// The store of `prefix`.
    fn open(&self, prefix: &Location) -> Result<DynStore, StorageError>;
}

/// Prefixes on S3 (the functions).
#[derive(Debug, Clone)]
pub struct S3Prefixes(pub aws_sdk_s3::Client);

impl PrefixStores for S3Prefixes {
    fn open(&self, prefix: &Location) -> Result<DynStore, StorageError> {
        hps_config::open_store(prefix, Some(&self.0))
    }
}

/// The discovered table at `bucket`/`base` (a base path), if `base` is under a configured
/// prefix and a table by the discovery rule; the file's entry there when it has one.
pub async fn table_at(
    tables: &TableSet,
    stores: &dyn PrefixStores,
    bucket: &str,
    base: &str,
) -> Result<Option<TableSpec>, StorageError> {
    let Some(config) = tables.discovery() else {
        return Ok(None);
    };
    let location = Location::S3 {
        bucket: bucket.to_string(),
        prefix: base.trim_matches('/').to_string(),
    };
    let Some((prefix, rel)) = config.prefix_of(&location) else {
        return Ok(None);
    };
    let store = stores.open(prefix)?;
    if !is_table_base(store.as_ref(), &rel).await? {
        return Ok(None);
    }
    Ok(TableSpec::from_config(
        &config.discovered_table(prefix, &rel),
    ))
}

/// Every table under the configured prefixes.
pub async fn all_tables(
    tables: &TableSet,
    stores: &dyn PrefixStores,
) -> Result<Vec<TableSpec>, StorageError> {
    let Some(config) = tables.discovery() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for prefix in &config.prefixes {
        let store = stores.open(prefix)?;
        for rel in find_tables(store.as_ref()).await? {
            out.extend(TableSpec::from_config(
                &config.discovered_table(prefix, &rel),
            ));
        }
    }
    Ok(out)
}

/// The tables an event may concern: the configured ones, plus (with prefixes) the
/// discovered tables its timeline keys belong to, or for a sweep every table under the
/// prefixes. A storage error fails the event (Lambda retries it; the sweep is the backstop).
pub async fn tables_for_event<'t>(
    tables: &'t TableSet,
    stores: Option<&dyn PrefixStores>,
    event: &DetectorEvent,
) -> Result<Cow<'t, TableSet>, StorageError> {
    let (Some(config), Some(stores)) = (tables.discovery(), stores) else {
        return Ok(Cow::Borrowed(tables));
    };
    let mut out = tables.clone();
    match event {
        DetectorEvent::Sweep { .. } => {
            for spec in all_tables(tables, stores).await? {
                out.add(spec);
            }
        }
        DetectorEvent::Objects(records) => {
            for obj in records.iter().flatten() {
                if out.locate(&obj.bucket, &obj.key).is_some() {
                    continue;
                }
                let key = Location::S3 {
                    bucket: obj.bucket.clone(),
                    prefix: obj.key.clone(),
                };
                let Some((prefix, rel_key)) = config.prefix_of(&key) else {
                    continue;
                };
                let Some(base_rel) = base_of_key(&rel_key) else {
                    continue;
                };
                let in_table = rel_key[base_rel.len()..].trim_start_matches('/');
                if in_table != HOODIE_PROPERTIES && classify(in_table).is_err() {
                    continue; // not a key that announces anything
                }
                let base = prefix.join(base_rel);
                let Location::S3 { prefix: base, .. } = &base else {
                    continue;
                };
                if let Some(spec) = table_at(tables, stores, &obj.bucket, base).await? {
                    info!(table = %spec.id, uri = %spec.uri(), "new table under a discovery prefix");
                    out.add(spec);
                }
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// The tables a batch of queue messages may concern: the configured ones, plus the
/// discovered table of every message whose base URI is not configured but passes the
/// discovery check. A message that fails it (or whose check fails) stays unknown and is
/// reported as a batch item failure by the loader.
pub async fn tables_for_batch<'t>(
    tables: &'t TableSet,
    stores: Option<&dyn PrefixStores>,
    records: &[SqsMessage],
) -> Cow<'t, TableSet> {
    let (Some(_), Some(stores)) = (tables.discovery(), stores) else {
        return Cow::Borrowed(tables);
    };
    let mut out = tables.clone();
    for rec in records {
        let Some(Ok(m)) = rec.body.as_deref().map(SyncMessage::from_json) else {
            continue;
        };
        let known = out
            .iter()
            .any(|t| t.uri() == m.table.trim_end_matches('/') || t.id.as_str() == m.table);
        if known {
            continue;
        }
        let Ok((bucket, base)) = parse_s3_base(&m.table) else {
            continue;
        };
        match table_at(tables, stores, &bucket, &base).await {
            Ok(Some(spec)) => out.add(spec),
            Ok(None) => {
                warn!(table = %m.table, "message names no configured or discoverable table")
            }
            Err(e) => {
                warn!(table = %m.table, error = %e, "discovery check failed; the message will be retried")
            }
        }
    }
    Cow::Owned(out)
}

/// Stores for tests and tools: bucket `b`, prefix `p` is the local directory `<root>/b/p`.
#[derive(Debug, Clone)]
pub struct LocalBuckets(pub std::path::PathBuf);

impl PrefixStores for LocalBuckets {
    fn open(&self, prefix: &Location) -> Result<DynStore, StorageError> {
        match prefix {
            Location::S3 { bucket, prefix } => Ok(Arc::new(hps_storage::LocalStore::new(
                self.0.join(bucket).join(prefix),
            ))),
            Location::Local(p) => Ok(Arc::new(hps_storage::LocalStore::new(p.clone()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::plan_event;
    use crate::event::parse_detector_event;
    use crate::loader::group_by_table;
    use std::collections::HashMap;

    const COMMIT: &str = ".hoodie/timeline/20260307162434124_20260307162438653.commit";

    fn touch(root: &std::path::Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    /// Bucket `lake` with prefix `wh`: tables `db=sales/orders` and `trips` (an explicit
    /// entry), a table nested in `trips`, and `other/t` outside the prefix.
    fn lake() -> (tempfile::TempDir, TableSet) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for t in [
            "lake/wh/db=sales/orders",
            "lake/wh/trips",
            "lake/wh/trips/nested",
            "lake/other/t",
        ] {
            touch(r, &format!("{t}/.hoodie/hoodie.properties"));
        }
        let c = hps_config::parse(
            "t.toml",
            "[defaults]\nschema = \"lake\"\n[discovery]\nprefixes = [\"s3://lake/wh\"]\n\
             [tables.trips]\nlocation = \"s3://lake/wh/trips\"\ntable = \"trips_eu\"\n",
        )
        .unwrap();
        (dir, TableSet::from_config(&c).unwrap())
    }

    fn event(keys: &[&str]) -> DetectorEvent {
        let records: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "lake"}, "object": {"key": k}}}))
            .collect();
        parse_detector_event(&serde_json::json!({ "Records": records })).unwrap()
    }

    #[tokio::test]
    async fn detector_accepts_new_tables_under_the_prefix_only() {
        let (dir, tables) = lake();
        let stores = LocalBuckets(dir.path().to_path_buf());
        assert_eq!(tables.len(), 1, "only the explicit table is known at start");
        let keys = [
            format!("wh/db%3Dsales/orders/{COMMIT}"),
            "wh/db%3Dsales/orders/.hoodie/hoodie.properties".to_string(),
            format!("wh/trips/nested/{COMMIT}"),
            format!("other/t/{COMMIT}"),
            format!("wh/missing/{COMMIT}"),
            format!("wh/trips/{COMMIT}"),
        ];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let ev = event(&keys);
        let t = tables_for_event(&tables, Some(&stores), &ev).await.unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        let orders = t.iter().find(|s| s.discovered).unwrap();
        assert_eq!(orders.uri(), "s3://lake/wh/db=sales/orders");
        assert!(orders.id.as_str().starts_with("db_sales.orders-"));
        assert_eq!(orders.target.schema.as_deref(), Some("lake"));
        let plan = plan_event(&t, &ev, "req").unwrap();
        let got: Vec<(String, Option<String>)> = plan
            .messages
            .iter()
            .map(|m| (m.message.table.clone(), m.message.instant.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s3://lake/wh/db=sales/orders".to_string(), None),
                (
                    "s3://lake/wh/db=sales/orders".to_string(),
                    Some("20260307162434124".to_string())
                ),
                (
                    "s3://lake/wh/trips".to_string(),
                    Some("20260307162434124".to_string())
                ),
            ]
        );
        // the nested table, the key outside the prefix and the missing table: ignored
        assert_eq!(plan.ignored.len(), 3, "{:?}", plan.ignored);
        // the explicit table's hoodie.properties stays ignored, as without discovery
        let ev = event(&["wh/trips/.hoodie/hoodie.properties"]);
        let t = tables_for_event(&tables, Some(&stores), &ev).await.unwrap();
        assert!(plan_event(&t, &ev, "r").unwrap().messages.is_empty());
    }

    #[tokio::test]
    async fn sweeps_list_the_prefixes() {
        let (dir, tables) = lake();
        let stores = LocalBuckets(dir.path().to_path_buf());
        let sweep = DetectorEvent::Sweep {
            scope: crate::event::SweepScope::All,
            id: Some("e1".into()),
        };
        let t = tables_for_event(&tables, Some(&stores), &sweep)
            .await
            .unwrap();
        let plan = plan_event(&t, &sweep, "r").unwrap();
        let uris: Vec<&str> = plan
            .messages
            .iter()
            .map(|m| m.message.table.as_str())
            .collect();
        assert_eq!(uris, ["s3://lake/wh/trips", "s3://lake/wh/db=sales/orders"]);
        // a new table appears: the next sweep has it
        touch(dir.path(), "lake/wh/new/.hoodie/hoodie.properties");
        let t = tables_for_event(&tables, Some(&stores), &sweep)
            .await
            .unwrap();
        assert_eq!(t.len(), 3);
    }

    fn rec(id: &str, table: &str) -> SqsMessage {
        let m = SyncMessage::event(table, None);
        let mut r = SqsMessage::default();
        r.message_id = Some(id.into());
        r.body = Some(m.to_json().unwrap());
        r.attributes = HashMap::from([("MessageGroupId".to_string(), m.group_id())]);
        r
    }

    #[tokio::test]
    async fn loader_trusts_only_tables_the_discovery_rule_accepts() {
        let (dir, tables) = lake();
        let stores = LocalBuckets(dir.path().to_path_buf());
        let records = vec![
            rec("m1", "s3://lake/wh/db=sales/orders"),
            rec("m2", "s3://lake/other/t"),
            rec("m3", "s3://lake/wh/trips/nested"),
            rec("m4", "s3://lake/wh/missing"),
            rec("m5", "s3://lake/wh/trips"),
        ];
        let t = tables_for_batch(&tables, Some(&stores), &records).await;
        let g = group_by_table(&t, &records);
        let ids: Vec<&str> = g.tables.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert!(
            ids[0].starts_with("db_sales.orders-") && ids[1] == "trips",
            "{ids:?}"
        );
        let rejected: Vec<&str> = g.rejected.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(rejected, ["m2", "m3", "m4"]);
        // without discovery nothing changes
        let plain = TableSet::parse("trips=s3://lake/wh/trips").unwrap();
        assert_eq!(
            tables_for_batch(&plain, Some(&stores), &records)
                .await
                .len(),
            1
        );
    }
}
