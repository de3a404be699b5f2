//! The snapshot plan: a table's state as of one completed instant, read from the latest
//! committed file slice of every live file group.
//!
//! A snapshot needs no history. It lists the partitions on storage instead of collecting them
//! from commit metadata, and it counts a file as committed when its instant completed on the
//! active timeline or is older than the active timeline (only completed instants are
//! archived). So it works on tables whose early instants were archived and whose old file
//! versions were cleaned, which is every long-lived table. What it honours:
//! - pending and failed writers: a base file or log block whose instant is on the active
//!   timeline but not completed (as of the snapshot point) is never read;
//! - the v6 hollow-commit guard: nothing at or after the oldest pending writer counts;
//! - replaced file groups (clustering, insert_overwrite, delete_partition) of the active
//!   timeline; an archived replacecommit's groups were cleaned before it could be archived.
//!
//! Its slices are whole file groups in (partition, file id) order, so a caller can apply them
//! in any grouping and resume after any slice; [`SnapshotUnit`] groups them into bounded work
//! units.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use hps_storage::Listing;
use tracing::{Instrument, info, info_span};

use crate::error::{HudiError, Result};
use crate::instant::{Action, compare_instant_times};
use crate::plan::{FileGroupId, FileSlice, IncrementalPlan, LogVisibility};
use crate::planner::{
    AsOf, PartitionFiles, Planner, check_bound, latest_base, log_paths, planned_instants,
    replaced_groups,
};
use crate::timeline::Instant;

/// How many directory listings run at once while the partitions are discovered.
const LIST_CONCURRENCY: usize = 8;

/// A run of consecutive snapshot slices (whole file groups) loadable and recordable on its
/// own: bounded by bytes on storage and by slice count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUnit {
    /// Index of the first slice in the plan.
    pub first_slice: usize,
    /// One past the last slice.
    pub end_slice: usize,
    /// Bytes of the units' base and log files.
    pub bytes: u64,
}

impl IncrementalPlan {
    /// Group the plan's slices, in order, into units of at most `max_bytes` (a single larger
    /// file group is a unit of its own) and `max_slices` slices.
    pub fn work_units(&self, max_bytes: u64, max_slices: usize) -> Vec<SnapshotUnit> {
        let mut units: Vec<SnapshotUnit> = Vec::new();
        for (i, slice) in self.slices.iter().enumerate() {
            let size = slice_bytes(slice);
            match units.last_mut() {
                Some(u)
                    if u.end_slice - u.first_slice < max_slices.max(1)
                        && u.bytes.saturating_add(size) <= max_bytes =>
                {
                    u.end_slice = i + 1;
                    u.bytes += size;
                }
                _ => units.push(SnapshotUnit {
                    first_slice: i,
                    end_slice: i + 1,
                    bytes: size,
                }),
            }
        }
        units
    }
}

/// Bytes on storage of a slice's base and log files.
pub fn slice_bytes(slice: &FileSlice) -> u64 {
    slice.base_file.as_ref().map_or(0, |b| b.size)
        + slice.log_files.iter().map(|l| l.size).sum::<u64>()
}

/// What counts as of the snapshot point.
struct Point<'t> {
    until: Option<String>,
    /// v6: the oldest pending writer; nothing at or after it is visible yet.
    cap: Option<String>,
    /// Where the active write timeline starts: older files are committed.
    first_active: Option<String>,
    ordered: Vec<&'t Instant>,
}

impl Point<'_> {
    fn visible(&self, i: &Instant) -> bool {
        self.until
            .as_deref()
            .is_none_or(|u| compare_instant_times(i.window_time(), u).is_le())
            && self
                .cap
                .as_deref()
                .is_none_or(|c| compare_instant_times(&i.requested_time, c).is_lt())
    }

    /// The visible completed writes in window order.
    fn writes(&self) -> Vec<&Instant> {
        self.ordered
            .iter()
            .copied()
            .filter(|i| i.action.is_write() && self.visible(i))
            .collect()
    }
}

impl Planner<'_> {
    /// The snapshot plan as of `until` (default: the latest completed instant).
    pub async fn plan_snapshot(&self, until: Option<&str>) -> Result<IncrementalPlan> {
        let span = info_span!("plan_snapshot", table = self.table, until = ?until);
        self.snapshot_inner(until).instrument(span).await
    }

    async fn snapshot_inner(&self, until_in: Option<&str>) -> Result<IncrementalPlan> {
        Self::check_readable(self.config, self.table)?;
        let until = check_bound(self.table, "until", until_in)?;
        let point = self.snapshot_point(until).await?;
        let tl = self.timeline;
        let base_visible = |b: &str| match tl.completed_by_requested(b) {
            Some(i) => point.visible(i),
            None => point
                .first_active
                .as_deref()
                .is_some_and(|o| compare_instant_times(b, o).is_lt()),
        };
        let writes = point.writes();
        let late: Vec<&Instant> = if self.config.is_mor() && !tl.uses_completion_time {
            point
                .ordered
                .iter()
                .copied()
                .filter(|i| i.action == Action::DeltaCommit && !point.visible(i))
                .collect()
        } else {
            Vec::new()
        };
        let metas = self.load_metadata(writes.iter().chain(late.iter())).await?;
        let replaced = replaced_groups(&writes, &metas);
        let late_logs = log_paths(&late, &metas);
        let listings = self.list_partitions().await?;
        let visible = |i: &Instant| point.visible(i);
        let asof = AsOf {
            base_visible: &base_visible,
            visible: &visible,
            late_logs: &late_logs,
        };
        let slices = self.latest_slices(&listings, &replaced, &asof)?;
        let instants = planned_instants(&writes, &metas);
        info!(
            table = self.table,
            partitions = listings.len(),
            slices = slices.len(),
            replaced = replaced.len(),
            until = ?writes.last().map(|i| i.window_time()),
            "snapshot planned"
        );
        Ok(IncrementalPlan {
            table: self.table.to_string(),
            table_version: self.config.table_version,
            after: None,
            until: until_in.map(str::to_string),
            end: writes.last().map(|i| i.position()),
            instants,
            slices,
            replaced: Vec::new(),
            capped_by_pending: point.cap.clone(),
            log_visibility: self.snapshot_log_visibility(&writes, &point),
            snapshot: true,
        })
    }

    async fn snapshot_point(&self, until: Option<String>) -> Result<Point<'_>> {
        let tl = self.timeline;
        let cap = if tl.uses_completion_time {
            None
        } else {
            self.hollow_commit_cap().await?
        };
        Ok(Point {
            until,
            cap,
            first_active: tl.oldest_requested_time().map(str::to_string),
            ordered: tl.in_window_order(),
        })
    }

    fn snapshot_log_visibility(&self, writes: &[&Instant], point: &Point<'_>) -> LogVisibility {
        if !self.config.is_mor() {
            return LogVisibility::default();
        }
        LogVisibility {
            visible: writes.iter().map(|i| i.requested_time.clone()).collect(),
            oldest_active: point.first_active.clone(),
        }
    }

    /// Every partition directory with base or log files, found by walking the table's
    /// directories (hidden ones such as `.hoodie` skipped), with its files.
    pub(crate) async fn list_partitions(&self) -> Result<BTreeMap<String, PartitionFiles>> {
        let mut out = BTreeMap::new();
        let mut level = vec![String::new()];
        while !level.is_empty() {
            let lists: Vec<BoxFuture<'_, Result<(String, Listing)>>> = level
                .into_iter()
                .map(|dir| {
                    async move {
                        let l = self
                            .store
                            .list(&dir)
                            .await
                            .map_err(|e| HudiError::storage(self.table, e))?;
                        Ok::<_, HudiError>((dir, l))
                    }
                    .boxed()
                })
                .collect();
            let listed: Vec<(String, Listing)> = futures::stream::iter(lists)
                .buffered(LIST_CONCURRENCY)
                .try_collect()
                .await?;
            level = Vec::new();
            for (dir, listing) in listed {
                level.extend(
                    listing
                        .directories
                        .into_iter()
                        .filter(|d| !is_hidden_dir(d)),
                );
                let files = PartitionFiles::from_objects(listing.objects);
                if !files.bases.is_empty() || !files.logs.is_empty() {
                    out.insert(dir, files);
                }
            }
        }
        Ok(out)
    }

    /// The latest committed slice of every file group not replaced.
    fn latest_slices(
        &self,
        listings: &BTreeMap<String, PartitionFiles>,
        replaced: &BTreeSet<FileGroupId>,
        asof: &AsOf<'_>,
    ) -> Result<Vec<FileSlice>> {
        let mut out = Vec::new();
        for (partition, files) in listings {
            for file_id in files.file_ids() {
                if replaced.contains(&FileGroupId::new(partition, file_id)) {
                    continue;
                }
                if let Some(s) = self.latest_slice(partition, files, file_id, asof)? {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    fn latest_slice(
        &self,
        partition: &str,
        files: &PartitionFiles,
        file_id: &str,
        asof: &AsOf<'_>,
    ) -> Result<Option<FileSlice>> {
        let group_bases = files.group_bases(file_id);
        let chosen = latest_base(self.table, &group_bases, asof.base_visible)?;
        let log_files = if self.config.is_mor() {
            self.slice_logs(files, file_id, chosen.as_ref(), &group_bases, asof)
        } else {
            Vec::new()
        };
        let last_written_by = log_files
            .iter()
            .map(|l| l.instant_time.as_str())
            .chain(chosen.as_ref().map(|b| b.instant_time.as_str()))
            .max_by(|a, b| compare_instant_times(a, b))
            .map(str::to_string);
        let Some(last_written_by) = last_written_by else {
            // only files of pending or failed writers
            return Ok(None);
        };
        Ok(Some(FileSlice {
            partition_path: partition.to_string(),
            file_id: file_id.to_string(),
            base_file: chosen,
            log_files,
            window_log_files: Vec::new(),
            last_written_by,
            deletes: None,
        }))
    }
}

/// Hidden directories (`.hoodie`, `.temp`, ...) hold no partitions.
fn is_hidden_dir(dir: &str) -> bool {
    dir.rsplit('/').next().is_some_and(|n| n.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BaseFile;

    fn slice(bytes: u64) -> FileSlice {
        FileSlice {
            partition_path: String::new(),
            file_id: format!("f{bytes}"),
            base_file: Some(BaseFile {
                path: format!("f{bytes}.parquet"),
                size: bytes,
                instant_time: "20240101000000000".into(),
            }),
            log_files: Vec::new(),
            window_log_files: Vec::new(),
            last_written_by: "20240101000000000".into(),
            deletes: None,
        }
    }

    #[test]
    fn work_units_are_bounded_and_cover_every_slice_once() {
        let plan = IncrementalPlan {
            table: "t".into(),
            table_version: 6,
            after: None,
            until: None,
            instants: Vec::new(),
            slices: [10, 20, 30, 100, 5, 5, 5].into_iter().map(slice).collect(),
            replaced: Vec::new(),
            end: None,
            capped_by_pending: None,
            log_visibility: LogVisibility::default(),
            snapshot: true,
        };
        let units = plan.work_units(40, 2);
        let spans: Vec<(usize, usize, u64)> = units
            .iter()
            .map(|u| (u.first_slice, u.end_slice, u.bytes))
            .collect();
        assert_eq!(
            spans,
            vec![(0, 2, 30), (2, 3, 30), (3, 4, 100), (4, 6, 10), (6, 7, 5)]
        );
    }

    #[test]
    fn hidden_directories_are_skipped() {
        assert!(is_hidden_dir(".hoodie"));
        assert!(is_hidden_dir("a/.temp"));
        assert!(!is_hidden_dir("__HIVE_DEFAULT_PARTITION__"));
        assert!(!is_hidden_dir("region=eu/.x/y"));
    }
}
