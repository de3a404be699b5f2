//! Derived deletes (`hps_hudi::deletes`) on synthetic copy-on-write tables written by the test:
//!
//! - a model-based suite: random sequences of upserts, deletes, key moves between file groups
//!   and partitions (global index), new groups, clustering and insert_overwrite, on v6 and v9
//!   tables; for every window `(a, b]` the table state at `a` (from the model) with the
//!   window's upserts and deletes applied equals the state at `b`, and each delete carries the
//!   instant that removed the key;
//! - targeted cases: moves are updates, a cleaned previous slice is `HistoryNotRetained`, a
//!   cleaned intermediate version shifts the delete to the next retained one, overwrites with
//!   re-inserted keys, clustering adds nothing, soft deletes, projection, no reads without
//!   removals.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use hps_hudi::deletes::DELETES_SLICE_ID;
use hps_hudi::{HudiError, HudiTable, IncrementalPlan, ReadOptions};
use hps_storage::{DynStore, Listing, LocalStore, ObjectMeta, ObjectStore, StorageResult};
use parquet::arrow::ArrowWriter;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// a synthetic COW table

#[derive(Debug, Clone)]
struct Version {
    instant: String,
    path: String,
    /// key -> commit time
    rows: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct Group {
    partition: String,
    versions: Vec<Version>,
    replaced: bool,
}

impl Group {
    fn rows(&self) -> &BTreeMap<String, String> {
        &self.versions.last().expect("a version").rows
    }
}

/// One write stat of a commit being built.
struct Stat {
    fid: String,
    path: String,
    prev: Option<(String, String)>,
    inserts: usize,
    deletes: Option<usize>,
    writes: usize,
}

/// Counts files opened through ranged reads.
#[derive(Debug)]
struct Counting {
    inner: LocalStore,
    reads: AtomicU64,
}

#[async_trait]
impl ObjectStore for Counting {
    fn root_uri(&self) -> String {
        self.inner.root_uri()
    }
    async fn list(&self, dir: &str) -> StorageResult<Listing> {
        self.inner.list(dir).await
    }
    async fn head(&self, path: &str) -> StorageResult<ObjectMeta> {
        self.inner.head(path).await
    }
    async fn get(&self, path: &str) -> StorageResult<Bytes> {
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes> {
        if path.ends_with(".parquet") {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(path, data).await
    }
    async fn delete(&self, path: &str) -> StorageResult<()> {
        self.inner.delete(path).await
    }
}

/// A COW table plus the model of its contents after every commit.
struct Table {
    dir: tempfile::TempDir,
    version: u32,
    groups: BTreeMap<String, Group>,
    next_fid: u32,
    next_key: u32,
    /// (requested, completion) per commit
    commits: Vec<(String, String)>,
    /// live key -> (commit time, partition) after each commit
    states: Vec<BTreeMap<String, (String, String)>>,
    /// write `_hoodie_is_deleted` (soft delete flags) for these keys of the next version
    soft_deleted: BTreeSet<String>,
    with_flag_column: bool,
}

fn instant(i: usize) -> String {
    format!("{}", 20250101000000000u64 + 100 * i as u64 + 100)
}

fn completion(i: usize) -> String {
    format!("{}", 20250101000000000u64 + 100 * i as u64 + 150)
}

impl Table {
    fn new(version: u32) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let layout = if version >= 8 { 2 } else { 1 };
        std::fs::create_dir_all(dir.path().join(".hoodie/timeline")).unwrap();
        std::fs::write(
            dir.path().join(".hoodie/hoodie.properties"),
            format!(
                "hoodie.table.version={version}\nhoodie.table.name=deletes\nhoodie.table.recordkey.fields=id\n\
                 hoodie.table.partition.fields=part\nhoodie.timeline.layout.version={layout}\n"
            ),
        )
        .unwrap();
        Table {
            dir,
            version,
            groups: BTreeMap::new(),
            next_fid: 0,
            next_key: 0,
            commits: Vec::new(),
            states: Vec::new(),
            soft_deleted: BTreeSet::new(),
            with_flag_column: false,
        }
    }

    fn store(&self) -> DynStore {
        Arc::new(LocalStore::new(self.dir.path()))
    }

    fn counting(&self) -> Arc<Counting> {
        Arc::new(Counting {
            inner: LocalStore::new(self.dir.path()),
            reads: AtomicU64::new(0),
        })
    }

    async fn open(&self) -> HudiTable {
        HudiTable::open(self.store()).await.unwrap()
    }

    fn timeline_dir(&self) -> std::path::PathBuf {
        if self.version >= 8 {
            self.dir.path().join(".hoodie/timeline")
        } else {
            self.dir.path().join(".hoodie")
        }
    }

    /// The window key of commit `i` (completion time on v9, requested time on v6).
    fn key(&self, i: usize) -> String {
        if self.version >= 8 {
            self.commits[i].1.clone()
        } else {
            self.commits[i].0.clone()
        }
    }

    fn new_key(&mut self) -> String {
        self.next_key += 1;
        format!("k{:04}", self.next_key)
    }

    fn new_fid(&mut self) -> String {
        self.next_fid += 1;
        format!("{:08x}-0000-0000-0000-000000000000-0", self.next_fid)
    }

    fn live_groups(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| !g.replaced)
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// Write a version of `fid` at commit `t` holding `rows` (key -> commit time).
    fn write_version(
        &mut self,
        fid: &str,
        partition: &str,
        t: &str,
        rows: BTreeMap<String, String>,
    ) -> String {
        let n = self.groups.get(fid).map_or(0, |g| g.versions.len());
        let name = format!("{fid}_{n}-1-0_{t}.parquet");
        let rel = format!("{partition}/{name}");
        let path = self.dir.path().join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut fields = vec![
            Field::new("_hoodie_commit_time", DataType::Utf8, false),
            Field::new("_hoodie_commit_seqno", DataType::Utf8, false),
            Field::new("_hoodie_record_key", DataType::Utf8, false),
            Field::new("_hoodie_partition_path", DataType::Utf8, false),
            Field::new("_hoodie_file_name", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
            Field::new("part", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ];
        if self.with_flag_column {
            fields.push(Field::new("_hoodie_is_deleted", DataType::Boolean, true));
        }
        let schema = Arc::new(Schema::new(fields));
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), None)
                .unwrap();
        let s = |f: &dyn Fn(&String, &String) -> String| -> ArrayRef {
            Arc::new(StringArray::from(
                rows.iter().map(|(k, c)| f(k, c)).collect::<Vec<_>>(),
            ))
        };
        let mut cols = vec![
            s(&|_, c| c.clone()),
            s(&|k, c| format!("{c}_0_{k}")),
            s(&|k, _| k.clone()),
            s(&|_, _| partition.to_string()),
            s(&|_, _| name.clone()),
            s(&|k, _| k.clone()),
            s(&|_, _| partition.to_string()),
            Arc::new(Int64Array::from(
                rows.values()
                    .map(|c| c[12..].parse::<i64>().unwrap())
                    .collect::<Vec<_>>(),
            )) as ArrayRef,
        ];
        if self.with_flag_column {
            cols.push(Arc::new(BooleanArray::from(
                rows.keys()
                    .map(|k| self.soft_deleted.contains(k))
                    .collect::<Vec<_>>(),
            )));
        }
        if !rows.is_empty() {
            w.write(&RecordBatch::try_new(schema, cols).unwrap())
                .unwrap();
        }
        w.close().unwrap();
        let g = self.groups.entry(fid.to_string()).or_insert_with(|| Group {
            partition: partition.to_string(),
            versions: Vec::new(),
            replaced: false,
        });
        g.versions.push(Version {
            instant: t.to_string(),
            path: rel.clone(),
            rows,
        });
        rel
    }

    /// Rewrite group `fid` at `t`: `update` keys get commit time `t`, `delete` keys go,
    /// `insert` keys arrive with `t`.
    fn rewrite(
        &mut self,
        fid: &str,
        t: &str,
        update: &[String],
        delete: &[String],
        insert: &[String],
    ) -> Stat {
        let g = self.groups[fid].clone();
        let prev = g.versions.last().unwrap().clone();
        let mut rows = prev.rows.clone();
        for k in update {
            rows.insert(k.clone(), t.to_string());
        }
        let mut deleted = 0;
        for k in delete {
            if rows.remove(k).is_some() {
                deleted += 1;
            }
        }
        for k in insert {
            rows.insert(k.clone(), t.to_string());
        }
        let writes = rows.len();
        let path = self.write_version(fid, &g.partition, t, rows);
        Stat {
            fid: fid.to_string(),
            path,
            prev: Some((
                prev.instant.clone(),
                prev.path.rsplit('/').next().unwrap().to_string(),
            )),
            inserts: insert.len(),
            deletes: Some(deleted),
            writes,
        }
    }

    fn create(&mut self, partition: &str, t: &str, rows: BTreeMap<String, String>) -> Stat {
        let fid = self.new_fid();
        let writes = rows.len();
        let path = self.write_version(&fid, partition, t, rows);
        Stat {
            fid,
            path,
            prev: None,
            inserts: writes,
            deletes: Some(0),
            writes,
        }
    }

    /// Complete a commit: timeline files and the model state.
    fn commit(&mut self, action: &str, op: &str, stats: Vec<Stat>, replaced: &[String]) {
        let i = self.commits.len();
        let (req, done) = (instant(i), completion(i));
        let mut p2s = serde_json::Map::new();
        for s in &stats {
            let partition = self.groups[&s.fid].partition.clone();
            let mut stat = json!({
                "fileId": s.fid, "path": s.path, "partitionPath": partition,
                "prevCommit": s.prev.as_ref().map_or("null".to_string(), |p| p.0.clone()),
                "numWrites": s.writes, "numInserts": s.inserts, "numUpdateWrites": 0,
            });
            if let Some(d) = s.deletes {
                stat["numDeletes"] = json!(d);
            }
            if self.version >= 8
                && let Some((_, name)) = &s.prev
            {
                stat["prevBaseFile"] = json!(name);
            }
            p2s.entry(partition)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(stat);
        }
        let mut p2r = serde_json::Map::new();
        for fid in replaced {
            let g = self.groups.get_mut(fid).unwrap();
            g.replaced = true;
            p2r.entry(g.partition.clone())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(fid));
        }
        let meta = json!({
            "partitionToWriteStats": p2s, "partitionToReplaceFileIds": p2r,
            "compacted": false, "extraMetadata": {}, "operationType": op
        });
        let name = if self.version >= 8 {
            format!("{req}_{done}.{action}")
        } else {
            format!("{req}.{action}")
        };
        let dir = self.timeline_dir();
        std::fs::write(dir.join(format!("{req}.{action}.requested")), b"").unwrap();
        std::fs::write(dir.join(name), meta.to_string()).unwrap();
        if std::env::var("HPS_DELETES_TRACE").is_ok() {
            let desc: Vec<String> = stats
                .iter()
                .map(|s| {
                    format!(
                        "{}:{:?}",
                        &s.fid[6..8],
                        self.groups[&s.fid].rows().keys().collect::<Vec<_>>()
                    )
                })
                .collect();
            eprintln!(
                "#{i} {op} {desc:?} replaced {:?}",
                replaced.iter().map(|f| &f[6..8]).collect::<Vec<_>>()
            );
        }
        self.commits.push((req, done));
        let mut state = BTreeMap::new();
        for g in self.groups.values().filter(|g| !g.replaced) {
            for (k, c) in g.rows() {
                if !self.soft_deleted.contains(k) {
                    let old = state.insert(k.clone(), (c.clone(), g.partition.clone()));
                    assert!(old.is_none(), "model keys are unique: {k}");
                }
            }
        }
        self.states.push(state);
    }

    fn pick<'a, T>(rng: &mut u64, v: &'a [T]) -> &'a T {
        &v[(next(rng) % v.len() as u64) as usize]
    }

    /// One random commit.
    fn random_commit(&mut self, rng: &mut u64) {
        let t = instant(self.commits.len());
        let partitions = ["p=a", "p=b"];
        let live = self.live_groups();
        let roll = if live.is_empty() { 5 } else { next(rng) % 10 };
        match roll {
            // upsert / delete in one or two groups (numDeletes sometimes omitted)
            0..=3 => {
                let mut stats = Vec::new();
                let mut chosen: Vec<String> = Vec::new();
                for _ in 0..(1 + next(rng) % 2) {
                    let f = Self::pick(rng, &live).clone();
                    if !chosen.contains(&f) {
                        chosen.push(f);
                    }
                }
                for f in chosen {
                    let keys: Vec<String> = self.groups[&f].rows().keys().cloned().collect();
                    let mut upd = Vec::new();
                    let mut del = Vec::new();
                    for k in &keys {
                        match next(rng) % 5 {
                            0 => upd.push(k.clone()),
                            1 | 2 => del.push(k.clone()),
                            _ => {}
                        }
                    }
                    let ins: Vec<String> = (0..next(rng) % 2).map(|_| self.new_key()).collect();
                    let mut s = self.rewrite(&f, &t, &upd, &del, &ins);
                    if next(rng).is_multiple_of(4) {
                        s.deletes = None;
                    }
                    stats.push(s);
                }
                self.commit("commit", "UPSERT", stats, &[]);
            }
            // a key moves to another group, maybe another partition (global index)
            4 if live.len() >= 2 => {
                let from = Self::pick(rng, &live).clone();
                let to = loop {
                    let c = Self::pick(rng, &live).clone();
                    if c != from {
                        break c;
                    }
                };
                let Some(k) = self.groups[&from].rows().keys().next().cloned() else {
                    return self.random_commit(rng);
                };
                let a = self.rewrite(&from, &t, &[], std::slice::from_ref(&k), &[]);
                let b = self.rewrite(&to, &t, &[], &[], std::slice::from_ref(&k));
                self.commit("commit", "UPSERT", vec![a, b], &[]);
            }
            // a new group
            4 | 5 => {
                let p = *Self::pick(rng, &partitions);
                let rows: BTreeMap<String, String> = (0..1 + next(rng) % 3)
                    .map(|_| (self.new_key(), t.clone()))
                    .collect();
                let s = self.create(p, &t, rows);
                self.commit("commit", "INSERT", vec![s], &[]);
            }
            // clustering of the live groups of a partition into one
            6 | 7 => {
                let p = self.groups[Self::pick(rng, &live)].partition.clone();
                let inputs: Vec<String> = live
                    .iter()
                    .filter(|f| self.groups[*f].partition == p)
                    .cloned()
                    .collect();
                let mut rows = BTreeMap::new();
                for f in &inputs {
                    rows.extend(self.groups[f].rows().clone());
                }
                let s = self.create(&p, &t, rows);
                self.commit("replacecommit", "CLUSTER", vec![s], &inputs);
            }
            // insert_overwrite of a partition, re-inserting some keys
            _ => {
                let p = self.groups[Self::pick(rng, &live)].partition.clone();
                let inputs: Vec<String> = live
                    .iter()
                    .filter(|f| self.groups[*f].partition == p)
                    .cloned()
                    .collect();
                let mut rows = BTreeMap::new();
                for f in &inputs {
                    for k in self.groups[f].rows().keys() {
                        if next(rng).is_multiple_of(2) {
                            rows.insert(k.clone(), t.clone());
                        }
                    }
                }
                for _ in 0..next(rng) % 2 {
                    rows.insert(self.new_key(), t.clone());
                }
                let s = self.create(&p, &t, rows);
                self.commit("replacecommit", "INSERT_OVERWRITE", vec![s], &inputs);
            }
        }
    }

    /// The state before commit `a` (exclusive window start; `None` = empty).
    fn state(&self, a: Option<usize>) -> BTreeMap<String, (String, String)> {
        a.map(|i| self.states[i].clone()).unwrap_or_default()
    }

    /// The last commit in `(a, b]` after which `key` was absent while present before it.
    fn removed_by(&self, key: &str, a: Option<usize>, b: usize) -> Option<String> {
        let start = a.map_or(0, |i| i + 1);
        let mut last = None;
        for i in start..=b {
            let before = if i == 0 {
                false
            } else {
                self.states[i - 1].contains_key(key)
            };
            if before && !self.states[i].contains_key(key) {
                last = Some(self.commits[i].0.clone());
            }
        }
        last
    }
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Change rows of a plan: (key, commit time, op, partition, id column).
type Row = (String, String, String, String, Option<String>);

async fn changes(t: &HudiTable, plan: &IncrementalPlan, options: &ReadOptions) -> Vec<Row> {
    let batches: Vec<RecordBatch> = t.read_changes(plan, options).try_collect().await.unwrap();
    let mut out = Vec::new();
    for b in batches {
        let s = |c: &str| b.column_by_name(c).map(|c| c.as_string::<i32>().clone());
        let (k, ct, op, p, id) = (
            s("_hoodie_record_key").unwrap(),
            s("_hoodie_commit_time").unwrap(),
            s("_op").unwrap(),
            s("_hoodie_partition_path").unwrap(),
            s("id"),
        );
        for i in 0..b.num_rows() {
            out.push((
                k.value(i).to_string(),
                ct.value(i).to_string(),
                op.value(i).to_string(),
                p.value(i).to_string(),
                id.as_ref()
                    .and_then(|c| c.is_valid(i).then(|| c.value(i).to_string())),
            ));
        }
    }
    out
}

fn deletes_of(rows: &[Row]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.2 == "delete")
        .map(|r| (r.0.clone(), r.1.clone()))
        .collect();
    v.sort();
    v
}

/// Every window `(a, b]` of a random table: replaying its changes onto the state at `a`
/// gives the state at `b`, and deletes are versioned with the removing instant.
async fn check_model(version: u32, seed: u64, commits: usize) -> (usize, usize) {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut t = Table::new(version);
    for _ in 0..commits {
        t.random_commit(&mut rng);
    }
    let table = t.open().await;
    let (mut windows, mut deletes) = (0, 0);
    for a in std::iter::once(None).chain((0..commits).map(Some)) {
        let first = a.map_or(0, |i| i + 1);
        for b in first..commits {
            let after = a.map(|i| t.key(i));
            let plan = table
                .plan(after.as_deref(), Some(&t.key(b)))
                .await
                .unwrap_or_else(|e| panic!("seed {seed} v{version} ({a:?}, {b}]: {e}"));
            let rows = changes(&table, &plan, &ReadOptions::default()).await;
            if std::env::var("HPS_DELETES_TRACE").is_ok() {
                eprintln!(
                    "({a:?}, {b}]: {:#?}",
                    plan.slices.last().and_then(|s| s.deletes.as_ref())
                );
            }
            let mut state = t.state(a);
            let mut seen_delete = BTreeSet::new();
            for (k, ct, op, p, id) in &rows {
                match op.as_str() {
                    "upsert" => {
                        assert!(
                            !seen_delete.contains(k),
                            "seed {seed} ({a:?}, {b}]: upsert after delete of {k}"
                        );
                        state.insert(k.clone(), (ct.clone(), p.clone()));
                    }
                    "delete" => {
                        deletes += 1;
                        seen_delete.insert(k.clone());
                        assert_eq!(id.as_deref(), Some(k.as_str()), "key column parsed");
                        let before = state.remove(k);
                        let (_, part) = before.unwrap_or_else(|| {
                            panic!("seed {seed} v{version} ({a:?}, {b}]: delete of {k} which was not there")
                        });
                        assert_eq!(&part, p, "partition of the deleted row");
                        let exact = t.removed_by(k, a, b);
                        assert_eq!(
                            exact.as_deref(),
                            Some(ct.as_str()),
                            "seed {seed} v{version} ({a:?}, {b}]: delete of {k} versioned {ct}"
                        );
                    }
                    other => panic!("op {other}"),
                }
            }
            assert_eq!(
                state, t.states[b],
                "seed {seed} v{version} window ({a:?}, {b}]: replay differs from the table"
            );
            windows += 1;
        }
    }
    (windows, deletes)
}

#[tokio::test]
async fn model_windows_replay_exactly() {
    let (mut windows, mut deletes) = (0, 0);
    // HPS_DELETES_SEEDS=n widens the search (e.g. after changing the module)
    let seeds: u64 = std::env::var("HPS_DELETES_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let only: Option<u64> = std::env::var("HPS_DELETES_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    for seed in 1..=seeds {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        for version in [9, 6] {
            let commits = std::env::var("HPS_DELETES_COMMITS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(9);
            let (w, d) = check_model(version, seed, commits).await;
            windows += w;
            deletes += d;
        }
    }
    eprintln!("{windows} windows, {deletes} deletes");
    assert!(deletes > 500, "the model must exercise deletes ({deletes})");
}

// ---------------------------------------------------------------------------------------------
// targeted cases

fn keys(ks: &[&str], t: &str) -> BTreeMap<String, String> {
    ks.iter().map(|k| (k.to_string(), t.to_string())).collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test]
async fn a_key_moved_to_another_group_is_an_update() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    let b = t.create("p=b", &t0, keys(&["k3"], &t0));
    t.commit("commit", "INSERT", vec![a, b], &[]);
    let (fa, fb) = (t.live_groups()[0].clone(), t.live_groups()[1].clone());
    // k1 moves from p=a to p=b (global index, partition path change); k2 is deleted
    let t1 = instant(1);
    let x = t.rewrite(&fa, &t1, &[], &s(&["k1", "k2"]), &[]);
    let y = t.rewrite(&fb, &t1, &[], &[], &s(&["k1"]));
    t.commit("commit", "UPSERT", vec![x, y], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    let last = plan.slices.last().unwrap();
    assert_eq!(last.file_id, DELETES_SLICE_ID);
    let d = last.deletes.as_ref().unwrap();
    assert_eq!(d.units.len(), 1, "{d:?}");
    let rows = changes(&table, &plan, &ReadOptions::default()).await;
    assert_eq!(deletes_of(&rows), vec![("k2".to_string(), t1.clone())]);
    let ups: Vec<_> = rows.iter().filter(|r| r.2 == "upsert").collect();
    assert_eq!(ups.len(), 1);
    assert_eq!((ups[0].0.as_str(), ups[0].3.as_str()), ("k1", "p=b"));
}

#[tokio::test]
async fn cleaned_previous_slice_needs_a_resync() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let t1 = instant(1);
    let x = t.rewrite(&f, &t1, &[], &s(&["k2"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let old = t.groups[&f].versions[0].path.clone();
    std::fs::remove_file(t.dir.path().join(&old)).unwrap();
    let table = t.open().await;
    let e = table.plan(Some(&t.key(0)), None).await.unwrap_err();
    match &e {
        HudiError::HistoryNotRetained { file, instant, .. } => {
            assert_eq!(file, &old);
            assert_eq!(instant, &t0);
        }
        other => panic!("expected HistoryNotRetained, got {other}"),
    }
    assert!(e.needs_resync());
    // from the beginning nothing is deleted, so the old slice is not needed
    let plan = table.plan(None, None).await.unwrap();
    assert!(plan.slices.iter().all(|s| s.deletes.is_none()));

    // v6: the previous slice is found by prevCommit alone
    let mut t = Table::new(6);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let x = t.rewrite(&f, &t1, &[], &s(&["k2"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert_eq!(
        deletes_of(&changes(&table, &plan, &ReadOptions::default()).await),
        vec![("k2".to_string(), t1.clone())]
    );
    std::fs::remove_file(t.dir.path().join(&t.groups[&f].versions[0].path)).unwrap();
    let e = table.plan(Some(&t.key(0)), None).await.unwrap_err();
    assert!(
        matches!(&e, HudiError::HistoryNotRetained { file, .. } if file.contains(&format!("{f}_*_{t0}"))),
        "{e}"
    );
}

#[tokio::test]
async fn the_file_vanishing_after_planning_is_history_not_retained() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let x = t.rewrite(&f, &instant(1), &[], &s(&["k2"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    std::fs::remove_file(t.dir.path().join(&t.groups[&f].versions[0].path)).unwrap();
    let i = plan.slices.len() - 1;
    let e = table
        .read_slice(&plan, i, &ReadOptions::default())
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, HudiError::HistoryNotRetained { .. }), "{e}");
}

#[tokio::test]
async fn a_cleaned_intermediate_version_moves_the_delete_to_the_next_retained_one() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2", "k3"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let (t1, t2, t3) = (instant(1), instant(2), instant(3));
    let x = t.rewrite(&f, &t1, &[], &s(&["k2"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let x = t.rewrite(&f, &t2, &s(&["k1"]), &[], &[]);
    t.commit("commit", "UPSERT", vec![x], &[]);
    let x = t.rewrite(&f, &t3, &[], &s(&["k3"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    // every version retained: each delete carries its own instant
    assert_eq!(
        deletes_of(&changes(&table, &plan, &ReadOptions::default()).await),
        vec![("k2".into(), t1.clone()), ("k3".into(), t3.clone())]
    );
    // the version written by t1 is cleaned: k2's removal is seen in t2's version
    std::fs::remove_file(t.dir.path().join(&t.groups[&f].versions[1].path)).unwrap();
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert_eq!(
        deletes_of(&changes(&table, &plan, &ReadOptions::default()).await),
        vec![("k2".into(), t2.clone()), ("k3".into(), t3.clone())]
    );
}

#[tokio::test]
async fn insert_overwrite_retracts_all_but_reinserted_keys() {
    for version in [9, 6] {
        let mut t = Table::new(version);
        let t0 = instant(0);
        let a = t.create("p=a", &t0, keys(&["k1", "k2", "k3"], &t0));
        let b = t.create("p=a", &t0, keys(&["k4"], &t0));
        let c = t.create("p=b", &t0, keys(&["k5"], &t0));
        t.commit("commit", "INSERT", vec![a, b, c], &[]);
        let live = t.live_groups();
        let t1 = instant(1);
        // overwrite p=a: k2 is written again, k9 is new
        let n = t.create("p=a", &t1, keys(&["k2", "k9"], &t1));
        t.commit("replacecommit", "INSERT_OVERWRITE", vec![n], &live[..2]);
        let table = t.open().await;
        let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
        let rows = changes(&table, &plan, &ReadOptions::default()).await;
        assert_eq!(
            deletes_of(&rows),
            vec![
                ("k1".into(), t1.clone()),
                ("k3".into(), t1.clone()),
                ("k4".into(), t1.clone())
            ],
            "v{version}"
        );
        let mut ups: Vec<&str> = rows
            .iter()
            .filter(|r| r.2 == "upsert")
            .map(|r| r.0.as_str())
            .collect();
        ups.sort();
        assert_eq!(ups, vec!["k2", "k9"]);
        // deletes come after the window's upserts
        let first_delete = rows.iter().position(|r| r.2 == "delete").unwrap();
        assert!(rows[first_delete..].iter().all(|r| r.2 == "delete"));
        // the overwritten group's file was cleaned: resync
        std::fs::remove_file(t.dir.path().join(&t.groups[&live[0]].versions[0].path)).unwrap();
        let e = table.plan(Some(&t.key(0)), None).await.unwrap_err();
        assert!(matches!(e, HudiError::HistoryNotRetained { .. }), "{e}");
    }
}

#[tokio::test]
async fn clustering_moves_rows_and_deletes_nothing() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    let b = t.create("p=a", &t0, keys(&["k3"], &t0));
    t.commit("commit", "INSERT", vec![a, b], &[]);
    let live = t.live_groups();
    let t1 = instant(1);
    let mut rows = t.groups[&live[0]].rows().clone();
    rows.extend(t.groups[&live[1]].rows().clone());
    let n = t.create("p=a", &t1, rows);
    t.commit("replacecommit", "CLUSTER", vec![n], &live);
    let counting = t.counting();
    let table = HudiTable::open(counting.clone()).await.unwrap();
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert!(plan.slices.iter().all(|s| s.deletes.is_none()), "{plan:?}");
    let before = counting.reads.load(Ordering::Relaxed);
    assert!(
        changes(&table, &plan, &ReadOptions::default())
            .await
            .is_empty()
    );
    // only the clustered slice's footer and commit-time chunk
    assert!(counting.reads.load(Ordering::Relaxed) - before <= 4);

    // a delete in the clustered output later in the window is found by walking the output
    let o = t.live_groups()[0].clone();
    let t2 = instant(2);
    let x = t.rewrite(&o, &t2, &[], &s(&["k3"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    // and a delete before the clustering in the same window
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert_eq!(
        deletes_of(&changes(&table, &plan, &ReadOptions::default()).await),
        vec![("k3".into(), t2.clone())]
    );
}

#[tokio::test]
async fn deletes_before_a_clustering_in_the_same_window() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let t1 = instant(1);
    let x = t.rewrite(&f, &t1, &[], &s(&["k2"]), &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let t2 = instant(2);
    let rows = t.groups[&f].rows().clone();
    let n = t.create("p=a", &t2, rows);
    t.commit(
        "replacecommit",
        "CLUSTER",
        vec![n],
        std::slice::from_ref(&f),
    );
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert_eq!(
        deletes_of(&changes(&table, &plan, &ReadOptions::default()).await),
        vec![("k2".into(), t1.clone())]
    );
    // the removing version was cleaned and nothing retained follows it in the group
    std::fs::remove_file(t.dir.path().join(&t.groups[&f].versions[1].path)).unwrap();
    let e = table.plan(Some(&t.key(0)), None).await.unwrap_err();
    assert!(matches!(e, HudiError::HistoryNotRetained { .. }), "{e}");
}

#[tokio::test]
async fn no_removals_no_reads() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let x = t.rewrite(&f, &instant(1), &s(&["k1"]), &[], &s(&["k7"]));
    t.commit("commit", "UPSERT", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert!(
        plan.slices.iter().all(|s| s.deletes.is_none()),
        "numDeletes = 0: nothing to follow"
    );
    // a writer that does not report numDeletes is followed (and nothing is found)
    let mut t = Table::new(9);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let mut x = t.rewrite(&f, &instant(1), &s(&["k1"]), &[], &[]);
    x.deletes = None;
    t.commit("commit", "UPSERT", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    assert!(plan.slices.last().unwrap().deletes.is_some());
    let rows = changes(&table, &plan, &ReadOptions::default()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, "upsert");
}

#[tokio::test]
async fn soft_deletes_are_delete_rows() {
    let mut t = Table::new(9);
    t.with_flag_column = true;
    let t0 = instant(0);
    let a = t.create("p=a", &t0, keys(&["k1", "k2"], &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    t.soft_deleted.insert("k2".to_string());
    let t1 = instant(1);
    let x = t.rewrite(&f, &t1, &s(&["k1", "k2"]), &[], &[]);
    t.commit("commit", "UPSERT", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    let rows = changes(&table, &plan, &ReadOptions::default()).await;
    let mut got: Vec<(String, String)> = rows.iter().map(|r| (r.0.clone(), r.2.clone())).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("k1".into(), "upsert".into()),
            ("k2".into(), "delete".into())
        ]
    );
    // the replay reaches the model state (which drops soft-deleted rows)
    let mut state = t.state(Some(0));
    for r in &rows {
        if r.2 == "delete" {
            state.remove(&r.0);
        } else {
            state.insert(r.0.clone(), (r.1.clone(), r.3.clone()));
        }
    }
    assert_eq!(state, t.states[1]);
}

#[tokio::test]
async fn delete_rows_follow_the_projection_and_batch_size() {
    let mut t = Table::new(9);
    let t0 = instant(0);
    let ks: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
    let a = t.create("p=a", &t0, keys(&refs, &t0));
    t.commit("commit", "INSERT", vec![a], &[]);
    let f = t.live_groups()[0].clone();
    let x = t.rewrite(&f, &instant(1), &[], &ks[..20], &[]);
    t.commit("commit", "DELETE", vec![x], &[]);
    let table = t.open().await;
    let plan = table.plan(Some(&t.key(0)), None).await.unwrap();
    let opts = ReadOptions {
        columns: Some(s(&["_hoodie_record_key", "_hoodie_commit_time", "id"])),
        batch_size: 7,
    };
    let i = plan.slices.len() - 1;
    let batches: Vec<RecordBatch> = table
        .read_slice(&plan, i, &opts)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        vec![7, 7, 6]
    );
    let names: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        vec!["_hoodie_commit_time", "_hoodie_record_key", "id", "_op"]
    );
    // an unknown projected column is an error, as for upsert slices
    let bad = ReadOptions {
        columns: Some(s(&["nope"])),
        batch_size: 7,
    };
    let e = table
        .read_slice(&plan, i, &bad)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, HudiError::UnknownColumn { .. }), "{e}");
}
