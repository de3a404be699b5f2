//! What the generator wrote: per commit, the keys it inserted, updated and deleted, plus
//! sample rows of the final state. Tests and benchmarks check readers against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{GenConfig, TableType, TableVersion};
use crate::naming::Schedule;
use crate::rows::{Row, RowGen};

/// Manifest format tag.
pub const MANIFEST_FORMAT: &str = "hudi-gen-manifest/1";

/// Where [`crate::generate`] stores the manifest inside the table (Hudi ignores `.hoodie/.aux/`).
pub const MANIFEST_PATH: &str = ".hoodie/.aux/hudi-gen/manifest.json";

/// Static facts about the generated table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// `hoodie.table.name`.
    pub name: String,
    /// COW or MOR.
    pub table_type: TableType,
    /// 6 or 9.
    pub table_version: TableVersion,
    /// Record key column (SIMPLE key generator; key string = decimal value).
    pub record_key_field: String,
    /// Partition column (hive-style paths).
    pub partition_field: String,
    /// Ordering (precombine) column.
    pub ordering_field: String,
    /// `region` values, index = partition.
    pub partition_values: Vec<String>,
    /// Partition paths (`region=<v>`, `""`, or formatted dates), index = partition.
    pub partition_paths: Vec<String>,
    /// The key generator.
    #[serde(default)]
    pub key_generator: crate::keygen::KeyGenerator,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Index of the commit (the rows' `revision`).
    pub version: u16,
    /// Requested instant time (`_hoodie_commit_time` of the rows it wrote).
    pub instant: String,
    /// Completion time (table version 9), `None` on version 6.
    pub completion: Option<String>,
    /// `commit` or `deltacommit`.
    pub action: String,
    /// `INSERT` (first commit) or `UPSERT`.
    pub operation: String,
    /// Inserted ids as half-open ranges `[start, end)`.
    pub inserted: Vec<[i64; 2]>,
    /// Updated ids, ascending.
    pub updated: Vec<i64>,
    /// Deleted ids, ascending.
    pub deleted: Vec<i64>,
    /// Live rows after this commit.
    pub live_rows: u64,
    /// Files written (relative paths), in write-stat order.
    pub files: Vec<String>,
    /// Bytes of those files.
    pub bytes: u64,
    /// Requested time of the `clean` instant run right after this commit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_instant: Option<String>,
    /// Data files that clean deleted (relative paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleaned: Vec<String>,
    /// Requested times of the instants archived right after this commit (commits,
    /// compactions and cleans), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<String>,
}

impl CommitRecord {
    /// Upper bound of this commit's incremental window: the completion time on v9, the
    /// instant time on v6 (contract: windows are `(after, until]` in that domain).
    pub fn window_bound(&self) -> &str {
        self.completion.as_deref().unwrap_or(&self.instant)
    }

    /// Ids this commit wrote as upserts (inserted ∪ updated), ascending.
    pub fn upserted_ids(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self.inserted.iter().flat_map(|[a, b]| *a..*b).collect();
        out.extend_from_slice(&self.updated);
        out.sort_unstable();
        out
    }
}

/// The expected row of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    /// Record key value.
    pub id: i64,
    /// Commit that wrote this version.
    pub version: u16,
    /// `_hoodie_commit_time`.
    pub commit_time: String,
    /// `_hoodie_partition_path`.
    pub partition_path: String,
    /// Data columns (decimals as strings, timestamps as epoch µs, dates as epoch days).
    pub row: serde_json::Value,
}

/// Everything the generator wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The configuration (with the seed: the manifest reproduces the table).
    pub config: GenConfig,
    /// Table facts.
    pub table: TableInfo,
    /// Commits in timeline order.
    pub commits: Vec<CommitRecord>,
    /// Live rows after the last commit.
    pub final_live_rows: u64,
    /// Expected rows of some keys in the final state.
    pub samples: Vec<SampleRow>,
}

impl Manifest {
    /// Every archived requested time, over all commits, oldest first.
    pub fn archived_instants(&self) -> Vec<String> {
        self.commits
            .iter()
            .flat_map(|c| c.archived.iter().cloned())
            .collect()
    }

    /// Every data file deleted by cleaning, over all commits.
    pub fn cleaned_files(&self) -> Vec<String> {
        self.commits
            .iter()
            .flat_map(|c| c.cleaned.iter().cloned())
            .collect()
    }

    /// The final state, replayed from the commits: id → version that wrote its live row.
    pub fn expected_state(&self) -> BTreeMap<i64, u16> {
        let mut state = BTreeMap::new();
        for c in &self.commits {
            for [a, b] in &c.inserted {
                for id in *a..*b {
                    state.insert(id, c.version);
                }
            }
            for id in &c.updated {
                state.insert(*id, c.version);
            }
            for id in &c.deleted {
                state.remove(id);
            }
        }
        state
    }

    /// A row generator equivalent to the one that wrote the table.
    pub fn row_gen(&self) -> RowGen {
        RowGen::new(
            self.config.seed,
            self.config.partitions,
            Schedule::new(&self.config).epoch_ms(),
        )
        .with_logical_types(self.config.logical_types)
        .with_bad_values(self.config.bad_values_every)
    }

    /// The expected row of `id` as written by commit `version`.
    pub fn expected_row(&self, id: i64, version: u16) -> Option<Row> {
        RowGen::key_of(id).map(|k| self.row_gen().row(k, version))
    }

    /// Read a manifest from JSON.
    pub fn from_json(bytes: &[u8]) -> crate::GenResult<Self> {
        serde_json::from_slice(bytes).map_err(|e| crate::GenError::Json {
            what: "manifest".into(),
            source: e,
        })
    }

    /// Encode as pretty JSON.
    pub fn to_json(&self) -> crate::GenResult<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| crate::GenError::Json {
            what: "manifest".into(),
            source: e,
        })
    }
}

/// Table facts for `cfg`.
pub fn table_info(cfg: &GenConfig) -> crate::GenResult<TableInfo> {
    let kg = cfg.key_generator;
    let values = kg.partition_values(cfg.partitions, cfg.start_time);
    Ok(TableInfo {
        name: cfg.table_name.clone(),
        table_type: cfg.table_type,
        table_version: cfg.table_version,
        record_key_field: kg.record_key_fields(),
        partition_field: crate::schema::PARTITION_FIELD.to_string(),
        ordering_field: crate::schema::ORDERING_FIELD.to_string(),
        partition_paths: values
            .iter()
            .map(|v| kg.partition_path(v))
            .collect::<crate::GenResult<_>>()?,
        partition_values: values,
        key_generator: kg,
    })
}

/// Ids of a sorted key list as contiguous half-open ranges.
pub fn id_ranges(range: std::ops::Range<u32>) -> Vec<[i64; 2]> {
    if range.is_empty() {
        Vec::new()
    } else {
        vec![[RowGen::id_of(range.start), RowGen::id_of(range.end)]]
    }
}
