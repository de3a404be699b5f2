//! The generated tables, made once and cached: a table is reused when its stored manifest was
//! written by the same configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use hps_gen::{Codec, GenConfig, Manifest, TableType, TableVersion};
use hps_hudi::{HudiTable, IncrementalPlan, ReadOptions};
use hps_storage::LocalStore;

use crate::error::{BenchError, Context, Result};

/// A generated table on disk.
#[derive(Debug, Clone)]
pub struct BenchTable {
    /// Base path (absolute).
    pub dir: PathBuf,
    /// What the generator wrote.
    pub manifest: Manifest,
}

impl BenchTable {
    /// The table id the loader uses (its absolute path).
    pub fn id(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// Open it with the reader.
    pub async fn open(&self) -> Result<HudiTable> {
        HudiTable::open(Arc::new(LocalStore::new(&self.dir)))
            .await
            .ctx(|| format!("opening {}", self.dir.display()))
    }

    /// Window bound (completion time on v9, instant on v6) of commit `i`.
    pub fn bound(&self, i: usize) -> Result<String> {
        self.manifest
            .commits
            .get(i)
            .map(|c| c.window_bound().to_string())
            .ok_or_else(|| BenchError::step(format!("{}: no commit {i}", self.dir.display())))
    }

    /// The plan of commit `i`'s window.
    pub async fn plan(&self, i: usize) -> Result<IncrementalPlan> {
        let t = self.open().await?;
        let after = if i == 0 {
            None
        } else {
            Some(self.bound(i - 1)?)
        };
        let until = self.bound(i)?;
        t.plan(after.as_deref(), Some(&until))
            .await
            .ctx(|| format!("planning commit {i} of {}", self.dir.display()))
    }

    /// The change schema of the table's rows (from the first batch of the first window).
    pub async fn change_schema(&self) -> Result<SchemaRef> {
        let t = self.open().await?;
        let plan = self.plan(0).await?;
        let mut s = t
            .read_slice(&plan, 0, &ReadOptions::default())
            .ctx(|| "reading slice 0".to_string())?;
        let b = s
            .try_next()
            .await
            .ctx(|| "reading slice 0".to_string())?
            .ok_or_else(|| BenchError::step("slice 0 has no rows"))?;
        Ok(b.schema())
    }

    /// Bytes of the largest base file.
    pub fn largest_file(&self) -> u64 {
        fn walk(p: &Path, best: &mut u64) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        if !path.ends_with(".hoodie") {
                            walk(&path, best);
                        }
                    } else if path.extension().is_some_and(|x| x == "parquet")
                        && let Ok(m) = e.metadata()
                    {
                        *best = (*best).max(m.len());
                    }
                }
            }
        }
        let mut best = 0;
        walk(&self.dir, &mut best);
        best
    }
}

/// The tables of one scale.
pub struct Specs {
    /// COW v9: a full insert of `rows`, then one upsert touching 1 % of them.
    pub cow: GenConfig,
    /// MOR v9, same commits.
    pub mor: GenConfig,
    /// One file group of at least `rss_bytes` (uncompressed parquet), one commit.
    pub big: GenConfig,
}

/// Uncompressed parquet bytes per generated row (20 data columns + 5 meta columns; measured
/// ≈ 207 on this generator); the big table gets 10 % more rows than this suggests and its
/// size is checked after generation.
const BYTES_PER_ROW_ESTIMATE: u64 = 200;

impl Specs {
    /// Configurations for `rows` rows and a big file of `rss_bytes`.
    pub fn new(rows: u64, rss_bytes: u64) -> Specs {
        let base = GenConfig {
            table_name: "bench_cow".into(),
            table_type: TableType::CopyOnWrite,
            table_version: TableVersion::V9,
            partitions: 4,
            rows,
            commits: 1,
            // 1 % of the rows touched: 0.8 % updated, 0.1 % inserted, 0.1 % deleted
            update_fraction: 0.008,
            insert_fraction: 0.001,
            delete_fraction: 0.001,
            rows_per_file_group: 250_000,
            row_group_rows: 128 * 1024,
            seed: 7,
            compression: Codec::Snappy,
            threads: 2,
            ..GenConfig::default()
        };
        let mor = GenConfig {
            table_name: "bench_mor".into(),
            table_type: TableType::MergeOnRead,
            ..base.clone()
        };
        let big_rows = rss_bytes / BYTES_PER_ROW_ESTIMATE * 11 / 10;
        let big = GenConfig {
            table_name: "bench_big".into(),
            partitions: 1,
            rows: big_rows,
            commits: 0,
            rows_per_file_group: big_rows,
            compression: Codec::Uncompressed,
            threads: 1,
            ..base.clone()
        };
        Specs {
            cow: base,
            mor,
            big,
        }
    }
}

/// The table for `cfg` under `dir`, generating it unless a table of the same configuration is
/// already there.
pub async fn ensure(dir: &Path, cfg: &GenConfig) -> Result<BenchTable> {
    let manifest_path = dir.join(hps_gen::MANIFEST_PATH);
    if let Ok(bytes) = std::fs::read(&manifest_path)
        && let Ok(m) = Manifest::from_json(&bytes)
        && same_config(&m.config, cfg)
    {
        eprintln!("== table {} (cached)", dir.display());
        return Ok(BenchTable {
            dir: std::path::absolute(dir).ctx(|| dir.display().to_string())?,
            manifest: m,
        });
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(BenchError::io(format!(
            "removing the stale table {}",
            dir.display()
        )))?;
    }
    std::fs::create_dir_all(dir).map_err(BenchError::io(format!("creating {}", dir.display())))?;
    eprintln!(
        "== generating {} ({} rows, {} commit(s) after the first)",
        dir.display(),
        cfg.rows,
        cfg.commits
    );
    let t = std::time::Instant::now();
    let report = hps_gen::generate_local(dir, cfg)
        .await
        .ctx(|| format!("generating {}", dir.display()))?;
    eprintln!("   done in {:.1}s", t.elapsed().as_secs_f64());
    Ok(BenchTable {
        dir: std::path::absolute(dir).ctx(|| dir.display().to_string())?,
        manifest: report.manifest,
    })
}

fn same_config(a: &GenConfig, b: &GenConfig) -> bool {
    let mut a = a.clone();
    a.threads = b.threads;
    a == *b
}
