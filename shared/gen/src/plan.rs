//! The generator's model of the table: which keys are live, at which version, in which file
//! group; and the planning of each commit into file jobs.
//!
//! Memory: 10 bytes per key ever written (version `u16`, group `u32`, one `u32` in its
//! group's member list), independent of the row width.

use std::collections::BTreeMap;

use crate::config::{GenConfig, TableType, TableVersion};
use crate::naming::{base_file_name, log_file_name, new_file_id, write_token};
use crate::rng::{SplitMix64, hash_words};
use crate::rows::RowGen;

/// Version marker of a deleted (or never written) key.
pub const DEAD: u16 = u16::MAX;

/// One file group.
#[derive(Debug, Clone)]
pub struct FileGroup {
    /// Partition index.
    pub partition: u32,
    /// File group id.
    pub file_id: String,
    /// Keys in the current base file plus (MOR) keys whose updates sit in its logs, ascending.
    /// May contain deleted keys until the group is next touched.
    pub members: Vec<u32>,
    /// Commit that wrote the current base file.
    pub base_version: u16,
    /// Current base file name (empty before the first write).
    pub base_file: String,
    /// MOR: log files of the current file slice, oldest first.
    pub log_files: Vec<String>,
    /// MOR: what the current slice's log files hold (compaction statistics).
    pub slice: SliceStats,
}

/// Contents of a MOR file slice's log files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceStats {
    /// Updated records in data blocks.
    pub updates: u64,
    /// Keys in delete blocks.
    pub deletes: u64,
    /// Blocks.
    pub blocks: u64,
    /// Bytes of the log files.
    pub bytes: u64,
}

/// A file to write in one commit.
#[derive(Debug, Clone)]
pub enum FileJob {
    /// A new base file version (COW rewrite or insert, MOR insert).
    Base {
        /// Group index.
        group: u32,
        /// Partition index.
        partition: u32,
        /// File group id.
        file_id: String,
        /// New base file name.
        file_name: String,
        /// Rows: keys ascending, with the version each row is written at.
        keys: Vec<u32>,
        /// Versions, parallel to `keys`.
        versions: Vec<u16>,
        /// Updated keys in this file.
        num_updates: u64,
        /// Keys deleted from this group.
        num_deletes: u64,
        /// New keys in this file.
        num_inserts: u64,
        /// `prevCommit`: instant of the replaced base file, `None` for a new group.
        prev_version: Option<u16>,
        /// Replaced base file name (v9 `prevBaseFile`).
        prev_base_file: Option<String>,
    },
    /// A MOR log file with an AVRO_DATA block (updates) and/or a DELETE block.
    Log {
        /// Group index.
        group: u32,
        /// Partition index.
        partition: u32,
        /// File group id.
        file_id: String,
        /// Log file name.
        file_name: String,
        /// Log version in the name.
        log_version: u32,
        /// Updated keys (ascending), written at this commit's version.
        updates: Vec<u32>,
        /// Deleted keys (ascending).
        deletes: Vec<u32>,
        /// Base instant version of the slice (v6 `prevCommit`).
        base_version: u16,
        /// Base file of the slice (v6 `baseFile`).
        base_file: String,
        /// v6: all log files of the slice including this one.
        slice_log_files: Vec<String>,
    },
    /// MOR compaction of one file group: a new base file merging the slice's logs.
    Compact {
        /// Group index.
        group: u32,
        /// Partition index.
        partition: u32,
        /// File group id.
        file_id: String,
        /// New base file name (compaction instant).
        file_name: String,
        /// Live keys ascending, with their versions (rows keep their commit times).
        keys: Vec<u32>,
        /// Versions, parallel to `keys`.
        versions: Vec<u16>,
        /// Base instant version of the compacted slice (`prevCommit`).
        prev_version: u16,
        /// Base file of the compacted slice.
        prev_base_file: String,
        /// Log files merged.
        log_files: Vec<String>,
        /// What those logs held.
        slice: SliceStats,
    },
}

impl FileJob {
    /// Group index.
    pub fn group(&self) -> u32 {
        match self {
            FileJob::Base { group, .. }
            | FileJob::Log { group, .. }
            | FileJob::Compact { group, .. } => *group,
        }
    }

    /// Whether this job writes a log file.
    pub fn is_log(&self) -> bool {
        matches!(self, FileJob::Log { .. })
    }

    /// Partition index.
    pub fn partition(&self) -> u32 {
        match self {
            FileJob::Base { partition, .. }
            | FileJob::Log { partition, .. }
            | FileJob::Compact { partition, .. } => *partition,
        }
    }
}

/// Keys a commit inserted, updated and deleted (key indices, ascending).
#[derive(Debug, Clone, Default)]
pub struct CommitChanges {
    /// New keys: a contiguous range of key indices.
    pub inserted: std::ops::Range<u32>,
    /// Updated keys.
    pub updated: Vec<u32>,
    /// Deleted keys.
    pub deleted: Vec<u32>,
}

/// The generator's table model.
#[derive(Debug)]
pub struct TableState {
    table_type: TableType,
    table_version: TableVersion,
    rows_per_group: usize,
    /// Version per key index; [`DEAD`] when deleted.
    versions: Vec<u16>,
    /// Group per key index.
    group_of: Vec<u32>,
    groups: Vec<FileGroup>,
    /// COW: per partition, the group new keys are packed into while it has room.
    open_group: Vec<Option<u32>>,
    live: u64,
    rng: SplitMix64,
    attempt: u64,
    /// Requested instant of each commit (index = version).
    instants: Vec<String>,
}

const SALT_PLAN: u64 = 0x504C_414E; // "PLAN"

impl TableState {
    /// An empty table whose commit `v` has requested instant `instants[v]`.
    pub fn new(cfg: &GenConfig, instants: Vec<String>) -> Self {
        Self {
            table_type: cfg.table_type,
            table_version: cfg.table_version,
            rows_per_group: usize::try_from(cfg.rows_per_file_group).unwrap_or(usize::MAX),
            versions: Vec::new(),
            group_of: Vec::new(),
            groups: Vec::new(),
            open_group: vec![None; cfg.partitions as usize],
            live: 0,
            rng: SplitMix64::new(hash_words(&[cfg.seed, SALT_PLAN])),
            attempt: 0,
            instants,
        }
    }

    /// Live keys.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Keys ever written (next key index).
    pub fn next_key(&self) -> u32 {
        self.versions.len() as u32
    }

    /// Version of `key`, `None` when deleted or unknown.
    pub fn version_of(&self, key: u32) -> Option<u16> {
        self.versions
            .get(key as usize)
            .copied()
            .filter(|&v| v != DEAD)
    }

    /// File groups.
    pub fn groups(&self) -> &[FileGroup] {
        &self.groups
    }

    /// Live key indices (ascending).
    pub fn live_keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.versions
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != DEAD)
            .map(|(k, _)| k as u32)
    }

    /// Choose the changes of a commit: `rows` inserts for the first commit (`initial`),
    /// fractions of the live rows for later ones.
    pub fn choose_changes(&mut self, cfg: &GenConfig, initial: bool) -> CommitChanges {
        let next = self.next_key();
        if initial {
            let n = u32::try_from(cfg.rows).unwrap_or(u32::MAX - 1);
            return CommitChanges {
                inserted: next..next + n,
                ..Default::default()
            };
        }
        let live = self.live as f64;
        let n_del = (live * cfg.delete_fraction).round() as u64;
        let n_upd = (live * cfg.update_fraction).round() as u64;
        let n_ins = (live * cfg.insert_fraction).round() as u32;
        let picked = self.sample_live(n_del.saturating_add(n_upd).min(self.live));
        let n_del = (n_del as usize).min(picked.len());
        let mut deleted = picked[..n_del].to_vec();
        let mut updated = picked[n_del..].to_vec();
        deleted.sort_unstable();
        updated.sort_unstable();
        CommitChanges {
            inserted: next..next + n_ins,
            updated,
            deleted,
        }
    }

    /// `n` distinct live keys in random order.
    fn sample_live(&mut self, n: u64) -> Vec<u32> {
        let n = n as usize;
        if n == 0 {
            return Vec::new();
        }
        let total = self.versions.len() as u64;
        if (n as u64).saturating_mul(2) > self.live {
            // dense: partial Fisher-Yates over the live keys
            let mut all: Vec<u32> = self.live_keys().collect();
            for i in 0..n.min(all.len()) {
                let j = i + self.rng.below((all.len() - i) as u64) as usize;
                all.swap(i, j);
            }
            all.truncate(n);
            return all;
        }
        // sparse: rejection sampling (at least half of the draws hit a new live key)
        let mut chosen = vec![0u64; (total as usize).div_ceil(64)];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let k = self.rng.below(total) as usize;
            let (word, bit) = (k / 64, 1u64 << (k % 64));
            if self.versions[k] != DEAD && chosen[word] & bit == 0 {
                chosen[word] |= bit;
                out.push(k as u32);
            }
        }
        out
    }

    fn new_group(&mut self, partition: u32, version: u16) -> u32 {
        let file_id = new_file_id(&mut self.rng);
        self.groups.push(FileGroup {
            partition,
            file_id,
            members: Vec::new(),
            base_version: version,
            base_file: String::new(),
            log_files: Vec::new(),
            slice: SliceStats::default(),
        });
        (self.groups.len() - 1) as u32
    }

    /// Apply `changes` as commit `version` and return the files it writes, in a deterministic
    /// order (by partition, then group).
    pub fn apply(&mut self, rows: &RowGen, changes: &CommitChanges, version: u16) -> Vec<FileJob> {
        let instant = self
            .instants
            .get(usize::from(version))
            .cloned()
            .unwrap_or_default();
        let instant = instant.as_str();
        // per touched group: (updates, deletes, inserts)
        let mut touched: BTreeMap<u32, (Vec<u32>, Vec<u32>, u64)> = BTreeMap::new();
        for &k in &changes.deleted {
            self.versions[k as usize] = DEAD;
            self.live -= 1;
            touched
                .entry(self.group_of[k as usize])
                .or_default()
                .1
                .push(k);
        }
        for &k in &changes.updated {
            self.versions[k as usize] = version;
            touched
                .entry(self.group_of[k as usize])
                .or_default()
                .0
                .push(k);
        }
        // inserts: COW packs into the partition's open group; MOR opens groups per commit
        let mut mor_open: Vec<Option<u32>> = vec![None; self.open_group.len()];
        for k in changes.inserted.clone() {
            let p = rows.partition_of(k);
            let slot = match self.table_type {
                TableType::CopyOnWrite => &mut self.open_group[p as usize],
                TableType::MergeOnRead => &mut mor_open[p as usize],
            };
            let g = match *slot {
                Some(g) if self.groups[g as usize].members.len() < self.rows_per_group => g,
                _ => {
                    let g = self.new_group(p, version);
                    match self.table_type {
                        TableType::CopyOnWrite => self.open_group[p as usize] = Some(g),
                        TableType::MergeOnRead => mor_open[p as usize] = Some(g),
                    }
                    g
                }
            };
            self.versions.push(version);
            self.group_of.push(g);
            self.groups[g as usize].members.push(k);
            self.live += 1;
            touched.entry(g).or_default().2 += 1;
        }

        let stage = 10 + 3 * u64::from(version);
        let mut order: Vec<(u32, u32)> = touched
            .keys()
            .map(|&g| (self.groups[g as usize].partition, g))
            .collect();
        order.sort_unstable();
        let mut jobs = Vec::with_capacity(order.len());
        for (task, (_, g)) in order.into_iter().enumerate() {
            let Some((updates, deletes, inserts)) = touched.remove(&g) else {
                continue;
            };
            self.attempt += 1;
            let token = write_token(task, stage, self.attempt);
            let group_is_new = self.groups[g as usize].base_file.is_empty();
            let job = if self.table_type == TableType::MergeOnRead && !group_is_new {
                self.log_job(g, instant, &token, updates, deletes)
            } else {
                self.base_job(
                    g,
                    version,
                    instant,
                    &token,
                    updates.len(),
                    deletes.len(),
                    inserts,
                )
            };
            jobs.push(job);
        }
        jobs
    }

    #[allow(clippy::too_many_arguments)]
    fn base_job(
        &mut self,
        g: u32,
        version: u16,
        instant: &str,
        token: &str,
        num_updates: usize,
        num_deletes: usize,
        num_inserts: u64,
    ) -> FileJob {
        let versions = &self.versions;
        let group = &mut self.groups[g as usize];
        group.members.retain(|&k| versions[k as usize] != DEAD);
        let keys = group.members.clone();
        let row_versions: Vec<u16> = keys.iter().map(|&k| versions[k as usize]).collect();
        let file_name = base_file_name(&group.file_id, token, instant);
        let (prev_version, prev_base_file) = if group.base_file.is_empty() {
            (None, None)
        } else {
            (
                Some(group.base_version),
                Some(std::mem::take(&mut group.base_file)),
            )
        };
        group.base_version = version;
        group.base_file = file_name.clone();
        group.log_files.clear();
        group.slice = SliceStats::default();
        FileJob::Base {
            group: g,
            partition: group.partition,
            file_id: group.file_id.clone(),
            file_name,
            keys,
            versions: row_versions,
            num_updates: num_updates as u64,
            num_deletes: num_deletes as u64,
            num_inserts,
            prev_version,
            prev_base_file,
        }
    }

    fn log_job(
        &mut self,
        g: u32,
        instant: &str,
        token: &str,
        updates: Vec<u32>,
        deletes: Vec<u32>,
    ) -> FileJob {
        let versions = &self.versions;
        let group = &mut self.groups[g as usize];
        if !deletes.is_empty() {
            group.members.retain(|&k| versions[k as usize] != DEAD);
        }
        let file_name = match self.table_version {
            // v6: logs are named after the slice's base instant; on object stores every
            // deltacommit writes the next log version of the slice
            TableVersion::V5 | TableVersion::V6 => {
                let base_instant = self
                    .instants
                    .get(usize::from(group.base_version))
                    .map(String::as_str)
                    .unwrap_or("");
                log_file_name(
                    &group.file_id,
                    base_instant,
                    group.log_files.len() as u32 + 1,
                    token,
                )
            }
            // v8/v9: one log file per deltacommit, named after it
            TableVersion::V9 => log_file_name(&group.file_id, instant, 1, token),
        };
        let log_version = match self.table_version {
            TableVersion::V5 | TableVersion::V6 => group.log_files.len() as u32 + 1,
            TableVersion::V9 => 1,
        };
        group.log_files.push(file_name.clone());
        group.slice.updates += updates.len() as u64;
        group.slice.deletes += deletes.len() as u64;
        group.slice.blocks += u64::from(!updates.is_empty()) + u64::from(!deletes.is_empty());
        FileJob::Log {
            group: g,
            partition: group.partition,
            file_id: group.file_id.clone(),
            file_name,
            log_version,
            updates,
            deletes,
            base_version: group.base_version,
            base_file: group.base_file.clone(),
            slice_log_files: group.log_files.clone(),
        }
    }
}

impl TableState {
    /// Record the size of a log file written into group `g` (compaction statistics).
    pub fn add_log_bytes(&mut self, g: u32, bytes: u64) {
        if let Some(group) = self.groups.get_mut(g as usize) {
            group.slice.bytes += bytes;
        }
    }

    /// Plan compaction `version`: every group with log files gets a new base file holding its
    /// live rows at their current versions; its slice starts over.
    pub fn compact(&mut self, version: u16) -> Vec<FileJob> {
        let instant = self
            .instants
            .get(usize::from(version))
            .cloned()
            .unwrap_or_default();
        let stage = 10 + 3 * u64::from(version);
        let mut order: Vec<(u32, u32)> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.log_files.is_empty())
            .map(|(i, g)| (g.partition, i as u32))
            .collect();
        order.sort_unstable();
        let mut jobs = Vec::with_capacity(order.len());
        for (task, (_, g)) in order.into_iter().enumerate() {
            self.attempt += 1;
            let token = write_token(task, stage, self.attempt);
            let versions = &self.versions;
            let group = &mut self.groups[g as usize];
            group.members.retain(|&k| versions[k as usize] != DEAD);
            let keys = group.members.clone();
            let row_versions: Vec<u16> = keys.iter().map(|&k| versions[k as usize]).collect();
            let file_name = base_file_name(&group.file_id, &token, &instant);
            jobs.push(FileJob::Compact {
                group: g,
                partition: group.partition,
                file_id: group.file_id.clone(),
                file_name: file_name.clone(),
                keys,
                versions: row_versions,
                prev_version: group.base_version,
                prev_base_file: std::mem::replace(&mut group.base_file, file_name),
                log_files: std::mem::take(&mut group.log_files),
                slice: std::mem::take(&mut group.slice),
            });
            group.base_version = version;
        }
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Schedule;

    fn setup(table_type: TableType, rows: u64) -> (GenConfig, TableState, RowGen) {
        let cfg = GenConfig {
            table_type,
            rows,
            partitions: 2,
            rows_per_file_group: 100,
            update_fraction: 0.1,
            insert_fraction: 0.05,
            delete_fraction: 0.02,
            ..GenConfig::default()
        };
        let s = Schedule::new(&cfg);
        let rows = RowGen::new(cfg.seed, cfg.partitions, s.epoch_ms());
        (cfg.clone(), TableState::new(&cfg, s.instants()), rows)
    }

    #[test]
    fn first_commit_fills_groups_per_partition() {
        let (cfg, mut st, rows) = setup(TableType::CopyOnWrite, 450);
        let ch = st.choose_changes(&cfg, true);
        assert_eq!(ch.inserted, 0..450);
        let jobs = st.apply(&rows, &ch, 0);
        assert_eq!(st.live(), 450);
        let mut total = 0;
        for j in &jobs {
            let FileJob::Base {
                keys,
                prev_version,
                num_inserts,
                ..
            } = j
            else {
                panic!()
            };
            assert!(keys.len() <= 100);
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(*prev_version, None);
            assert_eq!(*num_inserts as usize, keys.len());
            total += keys.len();
        }
        assert_eq!(total, 450);
        // jobs sorted by partition
        assert!(
            jobs.windows(2)
                .all(|w| w[0].partition() <= w[1].partition())
        );
    }

    #[test]
    fn cow_update_rewrites_groups_and_packs_inserts() {
        let (cfg, mut st, rows) = setup(TableType::CopyOnWrite, 450);
        let ch0 = st.choose_changes(&cfg, true);
        st.apply(&rows, &ch0, 0);
        let ch = st.choose_changes(&cfg, false);
        assert_eq!(ch.updated.len(), 45);
        assert_eq!(ch.deleted.len(), 9);
        assert_eq!(ch.inserted.len(), 23);
        assert!(ch.updated.iter().all(|k| !ch.deleted.contains(k)));
        let jobs = st.apply(&rows, &ch, 1);
        assert_eq!(st.live(), 450 - 9 + 23);
        let (mut upd, mut del, mut ins) = (0, 0, 0);
        for j in &jobs {
            let FileJob::Base {
                keys,
                versions,
                num_updates,
                num_deletes,
                num_inserts,
                prev_version,
                ..
            } = j
            else {
                panic!("COW writes base files only")
            };
            upd += num_updates;
            del += num_deletes;
            ins += num_inserts;
            if *num_updates + *num_deletes > 0 {
                assert_eq!(*prev_version, Some(0));
            }
            for (k, v) in keys.iter().zip(versions) {
                assert_eq!(st.version_of(*k), Some(*v));
                assert!(!ch.deleted.contains(k));
            }
        }
        assert_eq!((upd, del, ins), (45, 9, 23));
    }

    #[test]
    fn mor_updates_go_to_logs_and_inserts_to_new_groups() {
        let (cfg, mut st, rows) = setup(TableType::MergeOnRead, 300);
        let ch0 = st.choose_changes(&cfg, true);
        st.apply(&rows, &ch0, 0);
        let groups_before = st.groups().len();
        let ch = st.choose_changes(&cfg, false);
        let jobs = st.apply(&rows, &ch, 1);
        let mut logs = 0;
        for j in &jobs {
            match j {
                FileJob::Log {
                    file_name,
                    log_version,
                    updates,
                    deletes,
                    ..
                } => {
                    logs += updates.len() + deletes.len();
                    assert_eq!(*log_version, 1);
                    assert!(
                        file_name.contains("_20250101000100000.log.1_"),
                        "{file_name}"
                    );
                }
                FileJob::Base {
                    group,
                    keys,
                    versions,
                    prev_version,
                    ..
                } => {
                    assert!(*group as usize >= groups_before, "inserts open new groups");
                    assert!(versions.iter().all(|v| *v == 1));
                    assert_eq!(*prev_version, None);
                    assert!(!keys.is_empty());
                }
                FileJob::Compact { .. } => panic!("no compaction in a deltacommit"),
            }
        }
        assert_eq!(logs, ch.updated.len() + ch.deleted.len());

        // compaction: every group with logs gets a new base file, rows keep their versions
        let with_logs = st
            .groups()
            .iter()
            .filter(|g| !g.log_files.is_empty())
            .count();
        let compacted = st.compact(2);
        assert_eq!(compacted.len(), with_logs);
        for j in &compacted {
            let FileJob::Compact {
                keys,
                versions,
                prev_version,
                log_files,
                slice,
                file_name,
                ..
            } = j
            else {
                panic!()
            };
            assert_eq!(*prev_version, 0);
            assert!(!log_files.is_empty());
            assert!(slice.blocks as usize >= log_files.len());
            assert!(file_name.ends_with("_20250101000200000.parquet"));
            for (k, v) in keys.iter().zip(versions) {
                assert_eq!(st.version_of(*k), Some(*v));
            }
        }
        assert!(st.groups().iter().all(|g| g.log_files.is_empty()));
        assert!(st.compact(3).is_empty(), "nothing left to compact");
    }

    #[test]
    fn sampling_is_distinct_and_live_in_both_regimes() {
        let (cfg, mut st, rows) = setup(TableType::CopyOnWrite, 1000);
        let ch0 = st.choose_changes(&cfg, true);
        st.apply(&rows, &ch0, 0);
        for n in [10u64, 900] {
            let s = st.sample_live(n);
            assert_eq!(s.len() as u64, n);
            let set: std::collections::BTreeSet<_> = s.iter().collect();
            assert_eq!(set.len() as u64, n);
        }
    }
}
