//! Instant times, file ids, write tokens and file names, as Spark writes them.

use chrono::{DateTime, Duration, Utc};

use crate::config::{GenConfig, TableType, TableVersion};
use crate::rng::{SplitMix64, hash_words};

/// `yyyyMMddHHmmssSSS` of `t` (UTC).
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

/// Requested and completion times of every commit (index = version).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Requested instant times.
    pub requested: Vec<DateTime<Utc>>,
    /// Completion times (used in file names on table version 9).
    pub completed: Vec<DateTime<Utc>>,
}

const SALT_SCHEDULE: u64 = 0x0053_4348_4544; // "SCHED"

impl Schedule {
    /// Commit `v` is requested at `start + v·interval` and completes 75 % of the interval
    /// later at most (2–3 s for the default one-minute interval), before the next request.
    pub fn new(cfg: &GenConfig) -> Self {
        let n = cfg.instant_kinds().len();
        let mut rng = SplitMix64::new(hash_words(&[cfg.seed, SALT_SCHEDULE]));
        let interval = cfg.commit_interval_ms as i64;
        let mut requested = Vec::with_capacity(n);
        let mut completed = Vec::with_capacity(n);
        for v in 0..n as i64 {
            let r = cfg.start_time + Duration::milliseconds(v * interval);
            let natural = 2_000 + rng.below(1_000) as i64;
            let offset = natural.min(interval * 3 / 4).max(1);
            requested.push(r);
            completed.push(r + Duration::milliseconds(offset));
        }
        Self {
            requested,
            completed,
        }
    }

    /// Requested instant ids.
    pub fn instants(&self) -> Vec<String> {
        self.requested.iter().map(|t| format_instant(*t)).collect()
    }

    /// Completion ids.
    pub fn completions(&self) -> Vec<String> {
        self.completed.iter().map(|t| format_instant(*t)).collect()
    }

    /// Requested times as epoch milliseconds (the rows' `ts`).
    pub fn epoch_ms(&self) -> Vec<i64> {
        self.requested
            .iter()
            .map(|t| t.timestamp_millis())
            .collect()
    }
}

/// A new file group id: a random (seeded) UUID v4 plus `-0`, like Spark's `FSUtils.createNewFileIdPfx() + "-0"`.
pub fn new_file_id(rng: &mut SplitMix64) -> String {
    let mut b = rng.bytes16();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}-0",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Spark write token `<task partition>-<stage id>-<task attempt id>`.
pub fn write_token(task: usize, stage: u64, attempt: u64) -> String {
    format!("{task}-{stage}-{attempt}")
}

/// `<fileId>_<token>_<instant>.parquet`.
pub fn base_file_name(file_id: &str, token: &str, instant: &str) -> String {
    format!("{file_id}_{token}_{instant}.parquet")
}

/// `.<fileId>_<instant>.log.<version>_<token>`.
pub fn log_file_name(file_id: &str, instant: &str, version: u32, token: &str) -> String {
    format!(".{file_id}_{instant}.log.{version}_{token}")
}

/// The timeline directory (relative to the base path).
pub fn timeline_dir(version: TableVersion) -> &'static str {
    match version {
        TableVersion::V5 | TableVersion::V6 => ".hoodie",
        TableVersion::V9 => ".hoodie/timeline",
    }
}

/// Names of the three instant files of a compaction: `compaction.requested`,
/// `compaction.inflight`, and the completed `commit`.
pub fn compaction_files(version: TableVersion, instant: &str, completion: &str) -> [String; 3] {
    let dir = timeline_dir(version);
    let completed = match version {
        TableVersion::V5 | TableVersion::V6 => format!("{dir}/{instant}.commit"),
        TableVersion::V9 => format!("{dir}/{instant}_{completion}.commit"),
    };
    [
        format!("{dir}/{instant}.compaction.requested"),
        format!("{dir}/{instant}.compaction.inflight"),
        completed,
    ]
}

/// Names of the three instant files of one commit: requested, inflight, completed.
pub fn instant_files(
    version: TableVersion,
    table_type: TableType,
    instant: &str,
    completion: &str,
) -> [String; 3] {
    let action = table_type.commit_action();
    let dir = timeline_dir(version);
    let inflight = match table_type {
        TableType::CopyOnWrite => format!("{dir}/{instant}.inflight"),
        TableType::MergeOnRead => format!("{dir}/{instant}.{action}.inflight"),
    };
    let completed = match version {
        TableVersion::V5 | TableVersion::V6 => format!("{dir}/{instant}.{action}"),
        TableVersion::V9 => format!("{dir}/{instant}_{completion}.{action}"),
    };
    [
        format!("{dir}/{instant}.{action}.requested"),
        inflight,
        completed,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_17_digits_increasing_and_complete_before_the_next() {
        let cfg = GenConfig {
            commits: 20,
            commit_interval_ms: 1000,
            ..GenConfig::default()
        };
        let s = Schedule::new(&cfg);
        let (req, comp) = (s.instants(), s.completions());
        assert_eq!(req[0], "20250101000000000");
        for i in 0..req.len() {
            assert_eq!(req[i].len(), 17);
            assert!(comp[i] > req[i]);
            if i + 1 < req.len() {
                assert!(req[i + 1] > comp[i], "{} {}", req[i + 1], comp[i]);
            }
        }
    }

    #[test]
    fn names_follow_hudi_patterns() {
        let mut rng = SplitMix64::new(1);
        let id = new_file_id(&mut rng);
        assert_eq!(id.len(), 38);
        assert!(id.ends_with("-0"));
        assert_eq!(&id[14..15], "4");
        let t = write_token(0, 27, 52);
        assert_eq!(
            base_file_name(&id, &t, "20250101000000000"),
            format!("{id}_0-27-52_20250101000000000.parquet")
        );
        assert_eq!(
            log_file_name("f-0", "20250101000000000", 2, "1-2-3"),
            ".f-0_20250101000000000.log.2_1-2-3"
        );
        let [r, i, c] = instant_files(TableVersion::V9, TableType::CopyOnWrite, "1", "2");
        assert_eq!(
            (r.as_str(), i.as_str(), c.as_str()),
            (
                ".hoodie/timeline/1.commit.requested",
                ".hoodie/timeline/1.inflight",
                ".hoodie/timeline/1_2.commit"
            )
        );
        let [r, i, c] = instant_files(TableVersion::V6, TableType::MergeOnRead, "1", "2");
        assert_eq!(
            (r.as_str(), i.as_str(), c.as_str()),
            (
                ".hoodie/1.deltacommit.requested",
                ".hoodie/1.deltacommit.inflight",
                ".hoodie/1.deltacommit"
            )
        );
    }
}
