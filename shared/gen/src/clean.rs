//! Cleaning: deleting the file slices that no reader of the latest N commits needs, like
//! Hudi's `KEEP_LATEST_COMMITS` cleaner.
//!
//! The generator's writes are sequential, so a file group's slices are ordered by the
//! instant that wrote their base file, and every log file belongs to the slice that was the
//! newest when it was written. With `E` the oldest of the latest N commits, a reader at `E`
//! or later needs, per file group, the newest slice whose base instant is at or before `E`
//! and every slice after it; older slices are deleted. The latest slice is never deleted.

use std::collections::BTreeMap;

use crate::commit_meta::object_container;
use crate::encode::{put_long, put_str};

/// Hudi 0.14's `HoodieCleanMetadata` writer schema (the completed `clean` file).
pub const CLEAN_METADATA_SCHEMA: &str = include_str!("../schemas/HoodieCleanMetadata.avsc");
/// Hudi 0.14's `HoodieCleanerPlan` writer schema (`clean.requested` and `clean.inflight`).
pub const CLEANER_PLAN_SCHEMA: &str = include_str!("../schemas/HoodieCleanerPlan.avsc");
/// The cleaner policy written into plans and metadata.
const POLICY: &str = "KEEP_LATEST_COMMITS";

/// One file slice: its base instant version and its files (base file first, then logs).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slice {
    base_version: u16,
    files: Vec<String>,
}

/// What one clean run deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanPlan {
    /// Version of the oldest retained commit (`earliestCommitToRetain`).
    pub earliest_retained: u16,
    /// Partition path → deleted files (relative to the base path), in slice order.
    pub by_partition: BTreeMap<String, Vec<String>>,
}

impl CleanPlan {
    /// Every deleted file.
    pub fn files(&self) -> Vec<String> {
        self.by_partition.values().flatten().cloned().collect()
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.by_partition.is_empty()
    }
}

/// The file slices of every file group, and the commits so far.
#[derive(Debug, Default)]
pub struct Cleaner {
    /// (partition path, file id) → slices, oldest first.
    groups: BTreeMap<(String, String), Vec<Slice>>,
    /// Versions of the completed commits (commit timeline), oldest first.
    commits: Vec<u16>,
}

/// `(partition path, file id, is log)` of a data file path.
fn parse_data_path(path: &str) -> Option<(String, String, bool)> {
    let (partition, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (is_log, name) = match name.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    let (file_id, _) = name.split_once('_')?;
    Some((partition.to_string(), file_id.to_string(), is_log))
}

impl Cleaner {
    /// Record the data files commit `version` wrote (in write order).
    pub fn record(&mut self, version: u16, files: &[String]) {
        self.commits.push(version);
        for path in files {
            let Some((partition, file_id, is_log)) = parse_data_path(path) else {
                continue;
            };
            let slices = self.groups.entry((partition, file_id)).or_default();
            match slices.last_mut() {
                Some(s) if is_log => s.files.push(path.clone()),
                _ => slices.push(Slice {
                    base_version: version,
                    files: vec![path.clone()],
                }),
            }
        }
    }

    /// Take the slices to delete when the latest `retain` commits are kept; `None` before
    /// there are that many commits.
    pub fn plan(&mut self, retain: u32) -> Option<CleanPlan> {
        let retain = retain as usize;
        if retain == 0 || self.commits.len() < retain {
            return None;
        }
        let earliest = self.commits[self.commits.len() - retain];
        let mut plan = CleanPlan {
            earliest_retained: earliest,
            ..CleanPlan::default()
        };
        for ((partition, _), slices) in &mut self.groups {
            let Some(keep_from) = slices.iter().rposition(|s| s.base_version <= earliest) else {
                continue;
            };
            if keep_from == 0 {
                continue;
            }
            let removed: Vec<String> = slices.drain(..keep_from).flat_map(|s| s.files).collect();
            plan.by_partition
                .entry(partition.clone())
                .or_default()
                .extend(removed);
        }
        Some(plan)
    }
}

/// The instants a clean's files name: the earliest retained commit and the latest one.
#[derive(Debug, Clone, Copy)]
pub struct CleanTimes<'a> {
    /// Requested time of the clean.
    pub clean: &'a str,
    /// Requested time of the oldest retained commit.
    pub earliest: &'a str,
    /// Its completed action.
    pub earliest_action: &'a str,
    /// Requested time of the newest completed commit.
    pub last_commit: &'a str,
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn put_strings<'a>(b: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a str>) {
    if items.len() > 0 {
        put_long(b, items.len() as i64);
        for s in items {
            put_str(b, s);
        }
    }
    put_long(b, 0);
}

/// `<t>.clean.requested` / `.inflight` content: a `HoodieCleanerPlan` OCF (plan version 2,
/// absolute paths under `base_uri`).
pub fn cleaner_plan_ocf(
    plan: &CleanPlan,
    t: CleanTimes<'_>,
    base_uri: &str,
    sync_marker: [u8; 16],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(256);
    // earliestInstantToRetain: ["null", HoodieActionInstant]
    put_long(&mut b, 1);
    put_str(&mut b, t.earliest);
    put_str(&mut b, t.earliest_action);
    put_str(&mut b, "COMPLETED");
    put_str(&mut b, t.last_commit);
    put_str(&mut b, POLICY);
    // filesToBeDeletedPerPartition (superseded): null
    put_long(&mut b, 0);
    // version: ["int", "null"] = 2
    put_long(&mut b, 0);
    put_long(&mut b, 2);
    // filePathsToBeDeletedPerPartition: ["null", map<array<HoodieCleanFileInfo>>]
    put_long(&mut b, 1);
    put_long(&mut b, plan.by_partition.len() as i64);
    for (partition, files) in &plan.by_partition {
        put_str(&mut b, partition);
        put_long(&mut b, files.len() as i64);
        for f in files {
            put_long(&mut b, 1);
            put_str(&mut b, &format!("{}/{f}", base_uri.trim_end_matches('/')));
            put_long(&mut b, 1);
            b.push(0);
        }
        put_long(&mut b, 0);
    }
    put_long(&mut b, 0);
    // partitionsToBeDeleted: []
    put_long(&mut b, 1);
    put_long(&mut b, 0);
    object_container(CLEANER_PLAN_SCHEMA, &b, sync_marker)
}

/// The completed `clean` content: a `HoodieCleanMetadata` OCF (every planned file deleted).
pub fn clean_metadata_ocf(plan: &CleanPlan, t: CleanTimes<'_>, sync_marker: [u8; 16]) -> Vec<u8> {
    let mut b = Vec::with_capacity(256);
    put_str(&mut b, t.clean);
    put_long(&mut b, 1); // timeTakenInMillis
    let total: usize = plan.by_partition.values().map(Vec::len).sum();
    put_long(&mut b, total as i64);
    put_str(&mut b, t.earliest);
    put_str(&mut b, t.last_commit);
    put_long(&mut b, plan.by_partition.len() as i64);
    for (partition, files) in &plan.by_partition {
        put_str(&mut b, partition);
        put_str(&mut b, partition);
        put_str(&mut b, POLICY);
        put_strings(&mut b, files.iter().map(|f| file_name(f)));
        put_strings(&mut b, files.iter().map(|f| file_name(f)));
        put_strings(&mut b, std::iter::empty());
        // isPartitionDeleted: ["null", boolean] = false
        put_long(&mut b, 1);
        b.push(0);
    }
    put_long(&mut b, 0);
    // version: ["int", "null"] = 2
    put_long(&mut b, 0);
    put_long(&mut b, 2);
    // bootstrapPartitionMetadata: {}
    put_long(&mut b, 1);
    put_long(&mut b, 0);
    object_container(CLEAN_METADATA_SCHEMA, &b, sync_marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keeps_the_slice_in_effect_at_the_earliest_retained_commit() {
        let mut c = Cleaner::default();
        c.record(
            0,
            &files(&["p/a-0_0-1-1_0.parquet", "p/b-0_0-1-1_0.parquet"]),
        );
        c.record(1, &files(&["p/.a-0_0.log.1_0-1-1"]));
        c.record(2, &files(&["p/a-0_0-1-1_2.parquet"]));
        assert!(c.plan(4).is_none());
        // retain 2: earliest = 1 → slice 0 of a is still needed
        assert!(c.plan(2).unwrap().is_empty());
        c.record(3, &files(&["p/a-0_0-1-1_3.parquet"]));
        // retain 2: earliest = 2 → slice 0 of a (base + log) goes; b's only slice stays
        let p = c.plan(2).unwrap();
        assert_eq!(p.earliest_retained, 2);
        assert_eq!(
            p.files(),
            files(&["p/a-0_0-1-1_0.parquet", "p/.a-0_0.log.1_0-1-1"])
        );
        assert!(c.plan(2).unwrap().is_empty());
    }

    #[test]
    fn clean_files_decode_with_apache_avro() {
        use apache_avro::types::Value;
        let plan = CleanPlan {
            earliest_retained: 2,
            by_partition: BTreeMap::from([(
                "p".to_string(),
                files(&["p/a-0_0-1-1_0.parquet", "p/.a-0_0.log.1_0-1-1"]),
            )]),
        };
        let t = CleanTimes {
            clean: "20250101000300001",
            earliest: "20250101000200000",
            earliest_action: "commit",
            last_commit: "20250101000300000",
        };
        let read = |bytes: Vec<u8>| {
            let r = apache_avro::Reader::new(&bytes[..]).unwrap();
            let v: Vec<Value> = r.map(|x| x.unwrap()).collect();
            assert_eq!(v.len(), 1);
            let Value::Record(f) = v[0].clone() else {
                panic!()
            };
            f
        };
        let m = read(clean_metadata_ocf(&plan, t, [1; 16]));
        assert_eq!(m[2].1, Value::Int(2));
        let Value::Map(parts) = &m[5].1 else { panic!() };
        let Value::Record(p) = &parts["p"] else {
            panic!()
        };
        assert_eq!(
            p[3].1,
            Value::Array(vec![
                Value::String("a-0_0-1-1_0.parquet".into()),
                Value::String(".a-0_0.log.1_0-1-1".into())
            ])
        );
        let r = read(cleaner_plan_ocf(&plan, t, "file:///t", [2; 16]));
        assert_eq!(r[2].1, Value::String(POLICY.into()));
        let Value::Union(1, paths) = &r[5].1 else {
            panic!()
        };
        let Value::Map(paths) = paths.as_ref() else {
            panic!()
        };
        let Value::Array(p) = &paths["p"] else {
            panic!()
        };
        assert_eq!(p.len(), 2);
    }
}
