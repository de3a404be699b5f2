//! What to generate.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{GenError, GenResult};
use crate::keygen::KeyGenerator;

/// Hudi table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableType {
    /// Copy-on-write: every change rewrites the affected base files.
    CopyOnWrite,
    /// Merge-on-read: inserts go to new base files, updates and deletes to log files.
    MergeOnRead,
}

impl TableType {
    /// The `hoodie.table.type` value.
    pub fn as_hudi(self) -> &'static str {
        match self {
            TableType::CopyOnWrite => "COPY_ON_WRITE",
            TableType::MergeOnRead => "MERGE_ON_READ",
        }
    }

    /// The commit action this table type writes (`commit` or `deltacommit`).
    pub fn commit_action(self) -> &'static str {
        match self {
            TableType::CopyOnWrite => "commit",
            TableType::MergeOnRead => "deltacommit",
        }
    }
}

impl std::str::FromStr for TableType {
    type Err = GenError;
    fn from_str(s: &str) -> GenResult<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cow" | "copy_on_write" => Ok(TableType::CopyOnWrite),
            "mor" | "merge_on_read" => Ok(TableType::MergeOnRead),
            _ => Err(GenError::Config(format!(
                "table type {s:?}: expected cow or mor"
            ))),
        }
    }
}

/// Hudi table version written. 5 = Hudi 0.12/0.13 and 6 = Hudi 0.14/0.15 (both timeline
/// layout 1, JSON commit metadata; they differ in `hoodie.properties`, the commit JSON and the
/// log block headers), 9 = Hudi 1.1 (timeline layout 2 in `.hoodie/timeline/`, Avro commit
/// metadata, completion times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableVersion {
    /// Table version 5.
    #[serde(rename = "5")]
    V5,
    /// Table version 6.
    #[serde(rename = "6")]
    V6,
    /// Table version 9.
    #[serde(rename = "9")]
    V9,
}

impl TableVersion {
    /// The numeric `hoodie.table.version`.
    pub fn number(self) -> u32 {
        match self {
            TableVersion::V5 => 5,
            TableVersion::V6 => 6,
            TableVersion::V9 => 9,
        }
    }

    /// Whether this version uses the layout-2 timeline (completion times, Avro metadata).
    pub fn is_layout2(self) -> bool {
        matches!(self, TableVersion::V9)
    }
}

impl std::str::FromStr for TableVersion {
    type Err = GenError;
    fn from_str(s: &str) -> GenResult<Self> {
        match s {
            "5" => Ok(TableVersion::V5),
            "6" => Ok(TableVersion::V6),
            "9" => Ok(TableVersion::V9),
            _ => Err(GenError::Config(format!(
                "table version {s:?}: expected 5, 6 or 9"
            ))),
        }
    }
}

/// Parquet compression of base files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Snappy (fast; default).
    Snappy,
    /// GZIP level 6 (what Spark/parquet-mr writes by default for Hudi; slower).
    Gzip,
    /// ZSTD level 3.
    Zstd,
    /// No compression.
    Uncompressed,
}

impl std::str::FromStr for Codec {
    type Err = GenError;
    fn from_str(s: &str) -> GenResult<Self> {
        match s.to_ascii_lowercase().as_str() {
            "snappy" => Ok(Codec::Snappy),
            "gzip" => Ok(Codec::Gzip),
            "zstd" => Ok(Codec::Zstd),
            "none" | "uncompressed" => Ok(Codec::Uncompressed),
            _ => Err(GenError::Config(format!(
                "compression {s:?}: expected snappy, gzip, zstd or none"
            ))),
        }
    }
}

/// Everything that determines a generated table. Same config (incl. seed) ⇒ same table contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// `hoodie.table.name` (also names the Avro record: `<name>_record`).
    pub table_name: String,
    /// COW or MOR.
    pub table_type: TableType,
    /// Table version 5, 6 or 9 (with [`GenConfig::upgrade_from_v5_after`]: the version the
    /// table is upgraded to, 6).
    pub table_version: TableVersion,
    /// Number of partitions (values of the `region` column, hive-style `region=<v>` paths).
    pub partitions: u32,
    /// Rows written by the first commit (an `INSERT`).
    pub rows: u64,
    /// Commits after the first one (each an `UPSERT` mixing updates, inserts and deletes).
    pub commits: u32,
    /// Per commit, fraction of the live rows updated.
    pub update_fraction: f64,
    /// Per commit, new rows inserted, as a fraction of the live rows.
    pub insert_fraction: f64,
    /// Per commit, fraction of the live rows deleted.
    pub delete_fraction: f64,
    /// Maximum rows per file group (base file). COW packs inserts into the newest group of a
    /// partition until it is full.
    pub rows_per_file_group: u64,
    /// Maximum rows per parquet row group.
    pub row_group_rows: usize,
    /// Seed of every random choice and value.
    pub seed: u64,
    /// Base file compression.
    pub compression: Codec,
    /// Requested time of the first instant (UTC; instant ids are UTC wall-clock,
    /// `hoodie.table.timeline.timezone=UTC`).
    pub start_time: DateTime<Utc>,
    /// Milliseconds between the requested times of consecutive commits.
    pub commit_interval_ms: u64,
    /// Files encoded concurrently (memory ≈ this × one base file).
    pub threads: usize,
    /// MOR only: after every this many upsert deltacommits, compact every file group that
    /// has log files (a `compaction` instant completing as a `COMPACT` commit). 0 = never.
    #[serde(default)]
    pub compact_every: u32,
    /// Archive old instants after each commit, as Hudi's timeline archiver does. `None` = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchivalConfig>,
    /// After each commit, delete the file slices no reader of the latest this-many commits
    /// needs (Hudi's `KEEP_LATEST_COMMITS` cleaner), writing a `clean` instant. `None` = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_retain_commits: Option<u32>,
    /// Only with table version 6: the first this-many instants are written by a version-5
    /// writer (Hudi 0.12/0.13), then the table is upgraded in place as Hudi 0.14's first write
    /// does (`hoodie.properties` rewritten through `hoodie.properties.backup`), and the later
    /// instants are written as version 6. `None` = the whole life in `table_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_from_v5_after: Option<u32>,
    /// Append the logical-type columns of [`crate::schema::LOGICAL_COLUMNS`]
    /// (timestamp-millis, local-timestamp-millis/micros, time-micros, uuid) to base files and
    /// log blocks. The other columns keep their values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub logical_types: bool,
    /// How record keys and partition paths are made ([`KeyGenerator`]).
    #[serde(default)]
    pub key_generator: KeyGenerator,
    /// Write values PostgreSQL cannot hold into the row versions that
    /// [`crate::rows::bad_value`] picks (about one in this many; `None`: never): a NUL in
    /// `description`, an `amount` beyond decimal(18,4), a `created_at` before 4713 BC, an
    /// `order_date` after 5874897 AD. Valid Hudi data all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_values_every: Option<u32>,
}

/// When the generator archives: Hudi's `hoodie.keep.min.commits` / `hoodie.keep.max.commits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivalConfig {
    /// Completed commits left on the active timeline after an archival run.
    pub keep_min: u32,
    /// An archival run starts once more than this many completed commits are active.
    pub keep_max: u32,
}

/// What one instant of the generated timeline does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstantKind {
    /// The first commit: inserts [`GenConfig::rows`] rows.
    Insert,
    /// Updates, inserts and deletes.
    Upsert,
    /// MOR compaction of all file groups with log files.
    Compaction,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            table_name: "hudi_gen".to_string(),
            table_type: TableType::CopyOnWrite,
            table_version: TableVersion::V9,
            partitions: 4,
            rows: 100_000,
            commits: 5,
            update_fraction: 0.01,
            insert_fraction: 0.005,
            delete_fraction: 0.001,
            rows_per_file_group: 250_000,
            row_group_rows: 128 * 1024,
            seed: 42,
            compression: Codec::Snappy,
            // 2025-01-01T00:00:00Z: a fixed default keeps output reproducible
            start_time: Utc
                .timestamp_opt(1_735_689_600, 0)
                .single()
                .unwrap_or_default(),
            commit_interval_ms: 60_000,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            compact_every: 0,
            archive: None,
            clean_retain_commits: None,
            upgrade_from_v5_after: None,
            logical_types: false,
            key_generator: KeyGenerator::Simple,
            bad_values_every: None,
        }
    }
}

/// Largest number of instants (commits and compactions): versions are stored per key as `u16`.
pub const MAX_COMMITS: u32 = 60_000;

impl GenConfig {
    /// The same workload (same seed, same commits) written by a version-6 writer from the
    /// start: the oracle twin of a version-5 or upgraded table, which the `hudi` wheel reads.
    pub fn v6_twin(&self) -> GenConfig {
        GenConfig {
            table_version: TableVersion::V6,
            upgrade_from_v5_after: None,
            ..self.clone()
        }
    }

    /// Check ranges; every generator entry point calls this.
    pub fn validate(&self) -> GenResult<()> {
        let bad = |m: String| Err(GenError::Config(m));
        if self.table_name.is_empty()
            || !self
                .table_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || self.table_name.starts_with(|c: char| c.is_ascii_digit())
        {
            return bad(format!(
                "table name {:?} must be a non-empty identifier of [A-Za-z0-9_] not starting with a digit (it names an Avro record)",
                self.table_name
            ));
        }
        if self.partitions == 0 || self.partitions > 10_000 {
            return bad(format!(
                "partitions = {} must be in 1..=10000",
                self.partitions
            ));
        }
        if self.instant_kinds().len() as u64 >= u64::from(MAX_COMMITS) {
            return bad(format!(
                "commits = {} (plus compactions) must be < {MAX_COMMITS}",
                self.commits
            ));
        }
        if self.compact_every > 0 && self.table_type != TableType::MergeOnRead {
            return bad("compaction (compact_every > 0) applies to MOR tables only".into());
        }
        for (name, f) in [
            ("update", self.update_fraction),
            ("insert", self.insert_fraction),
            ("delete", self.delete_fraction),
        ] {
            if !f.is_finite() || !(0.0..=1.0).contains(&f) {
                return bad(format!("{name} fraction {f} must be in [0, 1]"));
            }
        }
        if self.update_fraction + self.delete_fraction > 1.0 {
            return bad(format!(
                "update fraction {} + delete fraction {} exceed 1 (a key is updated or deleted at most once per commit)",
                self.update_fraction, self.delete_fraction
            ));
        }
        if let Some(a) = self.archive
            && (a.keep_min == 0 || a.keep_max <= a.keep_min)
        {
            return bad(format!(
                "archival keep_min = {} must be > 0 and < keep_max = {}",
                a.keep_min, a.keep_max
            ));
        }
        self.validate_v5()?;
        if self.key_generator == KeyGenerator::NonPartitioned && self.partitions != 1 {
            return bad(format!(
                "the non-partitioned key generator writes one partition, not {}",
                self.partitions
            ));
        }
        if self.clean_retain_commits == Some(0) {
            return bad("clean_retain_commits must be > 0".into());
        }
        if self.rows_per_file_group == 0 {
            return bad("rows per file group must be > 0".into());
        }
        if self.row_group_rows == 0 {
            return bad("row group rows must be > 0".into());
        }
        if self.threads == 0 {
            return bad("threads must be > 0".into());
        }
        if self.commit_interval_ms < 10 {
            return bad(format!(
                "commit interval {} ms must be >= 10 (requested and completion times of one commit must fit between commits)",
                self.commit_interval_ms
            ));
        }
        // Keys are u32 indices; the total must fit.
        let max_rows = self.max_total_rows();
        if max_rows > u64::from(u32::MAX - 1) {
            return bad(format!(
                "up to {max_rows} rows could be written; the generator supports < 2^32"
            ));
        }
        Ok(())
    }

    /// The table version instant `version` (its index in [`GenConfig::instant_kinds`]) is
    /// written in.
    pub fn version_at(&self, version: u16) -> TableVersion {
        match self.upgrade_from_v5_after {
            Some(k) if u32::from(version) < k => TableVersion::V5,
            _ => self.table_version,
        }
    }

    /// The instant before which the table is upgraded from version 5 to 6, if any.
    pub fn upgrade_instant(&self) -> Option<u16> {
        self.upgrade_from_v5_after
            .and_then(|k| u16::try_from(k).ok())
    }

    /// Whether some instant is written by a version-5 writer.
    pub fn writes_v5(&self) -> bool {
        self.table_version == TableVersion::V5 || self.upgrade_from_v5_after.is_some()
    }

    /// Version-5 rules: the upgrade goes from 5 to 6 only, after at least one and before the
    /// last instant; MOR tables written by a version-5 writer have no deletes, because Hudi
    /// 0.12/0.13 store them in Kryo-serialized DELETE blocks (Java objects), which this
    /// generator does not write and the reader refuses.
    fn validate_v5(&self) -> GenResult<()> {
        let bad = |m: String| Err(GenError::Config(m));
        if let Some(k) = self.upgrade_from_v5_after {
            if self.table_version != TableVersion::V6 {
                return bad(format!(
                    "upgrade_from_v5_after applies to table version 6 (the upgrade 5 -> 6), not {}",
                    self.table_version.number()
                ));
            }
            let n = self.instant_kinds().len();
            if k == 0 || k as usize >= n {
                return bad(format!(
                    "upgrade_from_v5_after = {k} must leave at least one instant on each side of the upgrade (1..{n})"
                ));
            }
        }
        if self.writes_v5()
            && self.table_type == TableType::MergeOnRead
            && self.delete_fraction > 0.0
        {
            return bad(format!(
                "delete fraction {} in a MOR table written by Hudi 0.12/0.13 (table version 5): those writers store deletes in Kryo-serialized DELETE blocks, which hudi-gen does not write; use delete_fraction = 0 or table version 6",
                self.delete_fraction
            ));
        }
        Ok(())
    }

    /// The instants of the timeline in order: the insert, the upserts, and (MOR with
    /// [`GenConfig::compact_every`]) a compaction after every `compact_every`-th upsert.
    /// The index of an instant is its *version*.
    pub fn instant_kinds(&self) -> Vec<InstantKind> {
        let mut kinds = vec![InstantKind::Insert];
        for i in 1..=u64::from(self.commits) {
            kinds.push(InstantKind::Upsert);
            if self.compact_every > 0 && i % u64::from(self.compact_every) == 0 {
                kinds.push(InstantKind::Compaction);
            }
            if kinds.len() > MAX_COMMITS as usize {
                break;
            }
        }
        kinds
    }

    /// Upper bound of keys ever written (initial rows plus every commit's inserts).
    pub fn max_total_rows(&self) -> u64 {
        let mut live = self.rows as f64;
        let mut total = self.rows as f64;
        for _ in 0..self.commits {
            let ins = (live * self.insert_fraction).round();
            let del = (live * self.delete_fraction).round();
            total += ins;
            live = (live + ins - del).max(0.0);
        }
        total.ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        GenConfig::default().validate().unwrap();
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = GenConfig {
            partitions: 0,
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            update_fraction: 0.7,
            delete_fraction: 0.5,
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            insert_fraction: f64::NAN,
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            archive: Some(ArchivalConfig {
                keep_min: 5,
                keep_max: 5,
            }),
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            clean_retain_commits: Some(0),
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            table_name: "bad-name".into(),
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
        c = GenConfig {
            rows: u64::from(u32::MAX),
            ..GenConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn compactions_follow_every_kth_upsert() {
        use InstantKind::*;
        let c = GenConfig {
            table_type: TableType::MergeOnRead,
            commits: 5,
            compact_every: 2,
            ..GenConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(
            c.instant_kinds(),
            vec![
                Insert, Upsert, Upsert, Compaction, Upsert, Upsert, Compaction, Upsert
            ]
        );
        assert_eq!(GenConfig::default().instant_kinds().len(), 6);
    }

    #[test]
    fn version_5_rules() {
        let upgraded = GenConfig {
            table_version: TableVersion::V6,
            commits: 4,
            upgrade_from_v5_after: Some(2),
            ..GenConfig::default()
        };
        upgraded.validate().unwrap();
        let at: Vec<u32> = (0..5).map(|v| upgraded.version_at(v).number()).collect();
        assert_eq!(at, vec![5, 5, 6, 6, 6]);
        assert_eq!(upgraded.upgrade_instant(), Some(2));
        for k in [0, 5] {
            let c = GenConfig {
                upgrade_from_v5_after: Some(k),
                ..upgraded.clone()
            };
            assert!(c.validate().is_err(), "upgrade after {k}");
        }
        let from_v9 = GenConfig {
            table_version: TableVersion::V9,
            ..upgraded.clone()
        };
        assert!(from_v9.validate().is_err());
        let mor_deletes = GenConfig {
            table_type: TableType::MergeOnRead,
            table_version: TableVersion::V5,
            delete_fraction: 0.01,
            ..GenConfig::default()
        };
        assert!(mor_deletes.validate().is_err());
        let mor = GenConfig {
            delete_fraction: 0.0,
            ..mor_deletes.clone()
        };
        mor.validate().unwrap();
        assert_eq!(mor.version_at(3), TableVersion::V5);
        let cow = GenConfig {
            table_type: TableType::CopyOnWrite,
            ..mor_deletes
        };
        cow.validate().unwrap();
    }

    #[test]
    fn parses_cli_words() {
        assert_eq!("cow".parse::<TableType>().unwrap(), TableType::CopyOnWrite);
        assert_eq!("MOR".parse::<TableType>().unwrap(), TableType::MergeOnRead);
        assert_eq!("9".parse::<TableVersion>().unwrap(), TableVersion::V9);
        assert!("8".parse::<TableVersion>().is_err());
        assert_eq!("5".parse::<TableVersion>().unwrap(), TableVersion::V5);
        assert_eq!("GZIP".parse::<Codec>().unwrap(), Codec::Gzip);
    }
}
