//! `hps-gen`: writes valid Apache Hudi tables at scale, independently of the project's reader.
//!
//! A table has 20 data columns of mixed types ([`schema::COLUMNS`]), a bigint record key
//! `id` (SIMPLE key generator), hive-style partitions on `region` and the ordering field `ts`.
//! The first commit inserts [`GenConfig::rows`] rows; each of the [`GenConfig::commits`] later
//! commits updates, inserts and deletes the configured fractions of the live rows:
//!
//! - **COW**: every file group holding an updated or deleted key is rewritten (new base file
//!   version with all surviving rows; untouched rows keep their `_hoodie_commit_time`/seqno);
//!   inserts are packed into the partition's newest group until it holds
//!   [`GenConfig::rows_per_file_group`] rows, then go to new groups.
//! - **MOR**: inserts go to new file groups (base files); updates and deletes go to one log
//!   file per touched group and deltacommit (an AVRO_DATA block and a DELETE block).
//! - **MOR compaction** ([`GenConfig::compact_every`]): a `compaction` instant rewrites every
//!   group with log files into a new base file; rows keep their commit times.
//! - **Cleaning** ([`GenConfig::clean_retain_commits`], [`clean`]) and **archival**
//!   ([`GenConfig::archive`], [`archive`]) after each instant, as Hudi's table services run
//!   them; the manifest records the deleted files and archived instants per commit.
//! - **Table version 5** (Hudi 0.12/0.13): the version-6 layout with that era's properties,
//!   commit JSON and log block headers; [`GenConfig::upgrade_from_v5_after`] upgrades such a
//!   table to 6 in the middle of its life.
//! - **Logical types** ([`GenConfig::logical_types`], [`logical`]): timestamp-millis,
//!   local-timestamp-millis/micros, time-micros and uuid columns.
//! - **Key generators** ([`GenConfig::key_generator`], [`keygen`]): simple, complex,
//!   non-partitioned, timestamp-based and custom.
//! - **Table version 6**: timeline in `.hoodie/`, JSON commit metadata, v6 log naming (base
//!   instant + increasing log version). **Version 9**: `.hoodie/timeline/`,
//!   `<requested>_<completion>.<action>` files, Avro commit metadata, one log file per
//!   deltacommit named after it.
//!
//! Row contents are a pure function of (seed, key, version) ([`rows::RowGen`]), so the
//! generator streams: it keeps ~10 bytes per key, never a table in memory. What it wrote is
//! returned and stored as a [`Manifest`] (`.hoodie/.aux/hudi-gen/manifest.json`).
//!
//! ```no_run
//! # async fn demo() -> hps_gen::GenResult<()> {
//! let cfg = hps_gen::GenConfig { rows: 10_000, commits: 3, ..Default::default() };
//! let report = hps_gen::generate_local("/tmp/my_table", &cfg).await?;
//! println!("{} live rows", report.manifest.final_live_rows);
//! # Ok(()) }
//! ```

pub mod archive;
pub mod clean;
pub mod commit_meta;
pub mod config;
pub mod encode;
mod error;
mod generate;
mod jobs;
pub mod keygen;
pub mod log_block;
pub mod logical;
pub mod manifest;
pub mod naming;
pub mod plan;
pub mod properties;
pub mod rng;
pub mod rows;
pub mod schema;

pub use config::{ArchivalConfig, Codec, GenConfig, InstantKind, TableType, TableVersion};
pub use error::{GenError, GenResult};
pub use generate::{GenReport, GenStats, generate, generate_local};
pub use keygen::KeyGenerator;
pub use manifest::{CommitRecord, MANIFEST_PATH, Manifest, SampleRow, TableInfo};
