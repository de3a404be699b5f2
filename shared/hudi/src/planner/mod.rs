//! The incremental planner: which instants a window `(after, until]` admits and which file
//! slice to read per touched file group (docs/hudi-format.md §6).
//!
//! [`Planner::plan`] runs named steps: check the bounds and the history (`checks`), admit the
//! window's instants (`window`), load their metadata, find the file groups they touched
//! (`groups`), list those partitions (`listing`), choose one slice per group (`slices`, with
//! its log files from `slice_logs`) and assemble the plan.

mod checks;
mod groups;
mod listing;
mod slice_logs;
mod slices;
mod window;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use hps_storage::DynStore;
use tracing::{Instrument, debug, info_span};

use crate::config::{BaseFileFormat, TableConfig};
use crate::error::{HudiError, Result};
use crate::instant::is_valid_instant_time;
use crate::metadata::CommitMetadata;
use crate::plan::{IncrementalPlan, LogVisibility, ReplacedFileGroup};
use crate::timeline::{Instant, Timeline, TimelineLoader};

pub(crate) use groups::{Metas, log_paths, planned_instants, replaced_groups};
pub(crate) use listing::PartitionFiles;
pub(crate) use slice_logs::AsOf;
pub(crate) use slices::latest_base;

use slices::FileSlices;
use window::{Admission, Bounds, Window};

/// How many instant files the planner fetches concurrently.
const METADATA_CONCURRENCY: usize = 16;

/// A bound is an instant time (14-17 digits) or an all-zero string meaning "the beginning".
pub(crate) fn check_bound(table: &str, name: &str, v: Option<&str>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b == b'0') => Ok(None),
        Some(s) if is_valid_instant_time(s) => Ok(Some(s.to_string())),
        Some(s) => Err(HudiError::InvalidWindow {
            table: table.to_string(),
            reason: format!(
                "{name}={s:?} is not an instant time (14 to 17 digits, yyyyMMddHHmmss[SSS])"
            ),
        }),
    }
}

pub(crate) const RESYNC_HINT_CLEANED: &str = "it was removed by the cleaner (or a rollback) before this consumer read it; \
     the incremental history is gone: resync the table (full snapshot), then continue incrementally \
     from the latest instant; to avoid this, sync more often than hoodie.cleaner.commits.retained commits";

pub(crate) struct Planner<'a> {
    pub store: &'a DynStore,
    pub config: &'a TableConfig,
    pub table: &'a str,
    pub timeline: &'a Timeline,
}

impl Planner<'_> {
    pub(crate) fn loader(&self) -> TimelineLoader<'_> {
        TimelineLoader {
            store: self.store,
            config: self.config,
            table: self.table,
        }
    }

    /// Refuse tables an incremental read cannot answer correctly.
    pub fn check_readable(config: &TableConfig, table: &str) -> Result<()> {
        if let BaseFileFormat::Other(f) = &config.base_file_format {
            return Err(HudiError::UnsupportedBaseFormat {
                table: table.to_string(),
                format: f.clone(),
            });
        }
        if !config.populate_meta_fields {
            return Err(HudiError::IncrementalUnsupported {
                table: table.to_string(),
                reason: "hoodie.populate.meta.fields=false: rows carry no _hoodie_commit_time, so the rows \
                         an instant changed cannot be told from rows it merely rewrote (every read of a touched \
                         file would return all its rows as changes). Apache Hudi refuses incremental queries on \
                         such tables too; re-create the table with meta fields or sync it by full snapshots"
                    .to_string(),
            });
        }
        if let Some(b) = &config.bootstrap_base_path {
            return Err(HudiError::NotYetSupported {
                table: table.to_string(),
                what: format!("bootstrap tables (hoodie.bootstrap.base.path={b})"),
            });
        }
        Ok(())
    }

    pub async fn plan(&self, after: Option<&str>, until: Option<&str>) -> Result<IncrementalPlan> {
        let span = info_span!("plan", table = self.table, after = ?after, until = ?until);
        async {
            let bound = check_bound(self.table, "after", after)?;
            match self.reach_into_archive(bound.as_deref()).await? {
                Some(extended) => {
                    let planner = Planner {
                        timeline: &extended,
                        ..*self
                    };
                    planner.plan_inner(after, until).await
                }
                None => self.plan_inner(after, until).await,
            }
        }
        .instrument(span)
        .await
    }

    /// Commit metadata of a completed instant: from the archive for archived instants merged
    /// into the timeline, else from its instant file.
    pub(crate) fn metadata_of<'b>(
        &'b self,
        i: &'b Instant,
    ) -> BoxFuture<'b, Result<CommitMetadata>> {
        if let Some(m) = self.timeline.archived_metadata.get(&i.requested_time) {
            let m = m.clone();
            return async move { Ok(m) }.boxed();
        }
        let loader = self.loader();
        async move { loader.commit_metadata(i).await }.boxed()
    }

    /// Commit metadata of `instants`, by requested time.
    pub(crate) async fn load_metadata<'i>(
        &self,
        instants: impl Iterator<Item = &'i &'i Instant>,
    ) -> Result<Metas> {
        let wanted: Vec<&Instant> = instants.copied().collect();
        // futures are collected first (not built lazily inside the stream): keeps the
        // planner's future `Send` for callers on multi-threaded runtimes
        let loads: Vec<BoxFuture<'_, Result<CommitMetadata>>> =
            wanted.iter().map(|i| self.metadata_of(i)).collect();
        let metas: Vec<CommitMetadata> = futures::stream::iter(loads)
            .buffered(METADATA_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(wanted
            .iter()
            .map(|i| i.requested_time.clone())
            .zip(metas)
            .collect())
    }

    /// The window's plan, step by step.
    async fn plan_inner(
        &self,
        after_in: Option<&str>,
        until_in: Option<&str>,
    ) -> Result<IncrementalPlan> {
        Self::check_readable(self.config, self.table)?;
        let bounds = Bounds::parse(self.table, after_in, until_in)?;
        self.check_archive(bounds.after.as_deref())?;
        self.check_rollbacks(bounds.after.as_deref()).await?;
        let w = self.window(bounds).await?;
        let adm = w.admit();
        let metas = self
            .load_metadata(self.metadata_wanted(&w, &adm).iter())
            .await?;
        self.refuse_log_compaction(&adm, &metas)?;
        let groups = self.touched_groups(&w, &adm, &metas);
        let listings = self.list_touched(&groups, &adm, &metas, &w).await?;
        let files = FileSlices {
            window: &w,
            admission: &adm,
            metas: &metas,
            listings: &listings,
        };
        let slices = self.choose_slices(&files, &groups)?;
        let replaced = files.replaced_report(&groups.replacements);
        Ok(self.assemble(until_in, &w, &adm, &metas, slices, replaced))
    }

    /// The plan of the chosen slices.
    fn assemble(
        &self,
        until_in: Option<&str>,
        w: &Window<'_>,
        adm: &Admission<'_>,
        metas: &Metas,
        slices: Vec<crate::plan::FileSlice>,
        replaced: Vec<ReplacedFileGroup>,
    ) -> IncrementalPlan {
        let instants = planned_instants(&adm.admitted, metas);
        debug!(
            table = self.table,
            admitted = instants.len(),
            slices = slices.len(),
            "planned"
        );
        IncrementalPlan {
            table: self.table.to_string(),
            table_version: self.config.table_version,
            after: w.after.clone(),
            until: until_in.map(str::to_string),
            instants,
            slices,
            replaced,
            end: adm.admitted.last().map(|i| i.position()),
            capped_by_pending: adm.capped_by_pending.clone(),
            log_visibility: self.log_visibility(w, adm),
            snapshot: false,
        }
    }

    /// MOR only: the write instants whose log blocks count at the window end.
    fn log_visibility(&self, w: &Window<'_>, adm: &Admission<'_>) -> LogVisibility {
        if !self.config.is_mor() {
            return LogVisibility::default();
        }
        LogVisibility {
            visible: adm
                .ordered
                .iter()
                .filter(|i| i.action.is_write() && w.visible(i))
                .map(|i| i.requested_time.clone())
                .collect(),
            oldest_active: w.oldest_active.map(str::to_string),
        }
    }

    /// The earliest pending instant that will add rows (commit, deltacommit, non-clustering
    /// replacecommit), if any.
    pub(crate) async fn hollow_commit_cap(&self) -> Result<Option<String>> {
        let loader = self.loader();
        for p in &self.timeline.pending {
            if loader.pending_adds_rows(p).await? {
                return Ok(Some(p.requested_time.clone()));
            }
        }
        Ok(None)
    }
}
