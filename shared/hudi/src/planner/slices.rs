//! Choosing the slices of a window: per touched file group the slice current as of the window
//! end, tombstone-only slices of replaced MOR groups, the derived-deletes slice, and the report
//! of the groups the window replaced (docs/hudi-format.md §6.2–6.4).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::deletes::{DELETES_SLICE_ID, DeleteInputs, plan_deletes};
use crate::error::{HudiError, Result};
use crate::instant::compare_instant_times;
use crate::plan::{BaseFile, FileGroupId, FileSlice, LogFile, ReplacedFileGroup};
use crate::timeline::Instant;

use super::groups::{Groups, Metas, Replacement, Touch, with_metadata};
use super::slice_logs::sort_logs;
use super::window::{Admission, Window};
use super::{AsOf, PartitionFiles, Planner, RESYNC_HINT_CLEANED};

/// What slices are chosen from: the window, its instants and the partition listings.
pub(super) struct FileSlices<'p, 't> {
    pub window: &'p Window<'t>,
    pub admission: &'p Admission<'t>,
    pub metas: &'p Metas,
    pub listings: &'p BTreeMap<String, PartitionFiles>,
}

/// A partition without a listing has no files.
static NO_FILES: std::sync::LazyLock<PartitionFiles> =
    std::sync::LazyLock::new(PartitionFiles::default);

impl FileSlices<'_, '_> {
    fn files(&self, partition: &str) -> &PartitionFiles {
        self.listings.get(partition).unwrap_or(&NO_FILES)
    }

    /// A group's base and log files from the listings.
    fn group_files(&self, partition: &str, file_id: &str) -> (Vec<BaseFile>, Vec<LogFile>) {
        let files = self.files(partition);
        (
            files.bases.get(file_id).cloned().unwrap_or_default(),
            files.logs.get(file_id).cloned().unwrap_or_default(),
        )
    }

    /// The groups replaced by admitted non-clustering replacecommits, with their last base
    /// file visible before the replacement.
    pub(super) fn replaced_report(&self, replacements: &[Replacement]) -> Vec<ReplacedFileGroup> {
        replacements
            .iter()
            .map(|r| ReplacedFileGroup {
                partition_path: r.group.partition.clone(),
                file_id: r.group.file_id.clone(),
                replaced_by: r.by.clone(),
                operation_type: r.operation.clone(),
                last_base_file: self.base_before(&r.group, &r.by),
            })
            .collect()
    }

    /// The group's newest base file visible at the window end and older than `instant`.
    fn base_before(&self, group: &FileGroupId, instant: &str) -> Option<BaseFile> {
        self.listings
            .get(&group.partition)?
            .bases
            .get(&group.file_id)?
            .iter()
            .filter(|b| {
                self.window.base_visible(&b.instant_time)
                    && compare_instant_times(&b.instant_time, instant).is_lt()
            })
            .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
            .cloned()
    }
}

impl Planner<'_> {
    /// One slice per touched group and per tombstone group, in slice order, then the
    /// window's derived deletes, read last.
    pub(super) fn choose_slices(
        &self,
        fs: &FileSlices<'_, '_>,
        groups: &Groups,
    ) -> Result<Vec<FileSlice>> {
        let mut slices = Vec::with_capacity(groups.touched.len());
        for (group, touch) in &groups.touched {
            slices.push(self.touched_slice(fs, group, touch, groups)?);
        }
        for (group, touch) in &groups.tombstones {
            let files = fs.files(&group.partition);
            let window_log_files = window_log_files(self.table, files, &group.file_id, touch, &[])?;
            slices.push(FileSlice {
                partition_path: group.partition.clone(),
                file_id: group.file_id.clone(),
                base_file: None,
                log_files: Vec::new(),
                window_log_files,
                last_written_by: touch.last_written_by.clone(),
                deletes: None,
            });
        }
        sort_slices(&mut slices);
        if let Some(d) = self.deletes_slice(fs, &slices)? {
            slices.push(d);
        }
        Ok(slices)
    }

    /// The slice of a touched group as of the window end.
    fn touched_slice(
        &self,
        fs: &FileSlices<'_, '_>,
        group: &FileGroupId,
        touch: &Touch,
        groups: &Groups,
    ) -> Result<FileSlice> {
        let files = fs.files(&group.partition);
        let group_bases = files.group_bases(&group.file_id);
        self.check_expected_base(touch, &group_bases)?;
        let base_visible = |b: &str| fs.window.base_visible(b);
        let chosen = latest_base(self.table, &group_bases, &base_visible)?;
        let log_files = if self.config.is_mor() {
            let visible = |i: &Instant| fs.window.visible(i);
            let asof = AsOf {
                base_visible: &base_visible,
                visible: &visible,
                late_logs: &groups.late_logs,
            };
            self.slice_logs(files, &group.file_id, chosen.as_ref(), &group_bases, &asof)
        } else {
            Vec::new()
        };
        let window_log_files =
            window_log_files(self.table, files, &group.file_id, touch, &log_files)?;
        if chosen.is_none() && log_files.is_empty() {
            return Err(HudiError::HistoryNotRetained {
                table: self.table.to_string(),
                file: format!(
                    "file group {} in partition {:?}",
                    group.file_id, group.partition
                ),
                instant: touch.last_written_by.clone(),
                hint: RESYNC_HINT_CLEANED.to_string(),
            });
        }
        Ok(FileSlice {
            partition_path: group.partition.clone(),
            file_id: group.file_id.clone(),
            base_file: chosen,
            log_files,
            window_log_files,
            last_written_by: touch.last_written_by.clone(),
            deletes: None,
        })
    }

    /// The base file the group's last admitted write named must still be there.
    fn check_expected_base(&self, touch: &Touch, group_bases: &[&BaseFile]) -> Result<()> {
        match &touch.expected_base {
            Some(e) if !group_bases.iter().any(|b| b.path == e.path) => {
                Err(HudiError::HistoryNotRetained {
                    table: self.table.to_string(),
                    file: e.path.clone(),
                    instant: e.instant.clone(),
                    hint: RESYNC_HINT_CLEANED.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The slice of the window's derived deletes ([`crate::deletes`]), if it has any.
    fn deletes_slice(
        &self,
        fs: &FileSlices<'_, '_>,
        slices: &[FileSlice],
    ) -> Result<Option<FileSlice>> {
        let group_files = |p: &str, f: &str| fs.group_files(p, f);
        let visible = |i: &Instant| fs.window.visible(i);
        let admitted = &fs.admission.admitted;
        let Some(d) = plan_deletes(&DeleteInputs {
            table: self.table,
            config: self.config,
            timeline: self.timeline,
            after: fs.window.after.as_deref(),
            admitted: with_metadata(admitted, fs.metas),
            group_files: &group_files,
            visible_at_end: &visible,
            slices,
        })?
        else {
            return Ok(None);
        };
        Ok(Some(FileSlice {
            partition_path: String::new(),
            file_id: DELETES_SLICE_ID.to_string(),
            base_file: None,
            log_files: Vec::new(),
            window_log_files: Vec::new(),
            last_written_by: admitted
                .last()
                .map(|i| i.requested_time.clone())
                .unwrap_or_default(),
            deletes: Some(Arc::new(d)),
        }))
    }
}

/// The newest visible base file of a group; only parquet base files are read.
pub(crate) fn latest_base(
    table: &str,
    group_bases: &[&BaseFile],
    base_visible: &dyn Fn(&str) -> bool,
) -> Result<Option<BaseFile>> {
    let chosen = group_bases
        .iter()
        .filter(|b| base_visible(&b.instant_time))
        .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
        .map(|b| (*b).clone());
    if let Some(b) = &chosen
        && let Some(ext) = b.path.rsplit('.').next()
        && ext != "parquet"
    {
        return Err(HudiError::UnsupportedBaseFormat {
            table: table.to_string(),
            format: ext.to_ascii_uppercase(),
        });
    }
    Ok(chosen)
}

/// Slices in reading order: by base instant, partition, file id.
fn sort_slices(slices: &mut [FileSlice]) {
    slices.sort_by(|a, b| {
        compare_instant_times(
            a.base_instant().unwrap_or(""),
            b.base_instant().unwrap_or(""),
        )
        .then_with(|| a.partition_path.cmp(&b.partition_path))
        .then_with(|| a.file_id.cmp(&b.file_id))
    });
}

/// The log files of `touch.window_logs` that are not in `current` (the slice's own logs), from
/// the partition listing; a missing one was cleaned, and the window's deletes with it.
fn window_log_files(
    table: &str,
    files: &PartitionFiles,
    file_id: &str,
    touch: &Touch,
    current: &[LogFile],
) -> Result<Vec<LogFile>> {
    let mut out = Vec::new();
    for path in &touch.window_logs {
        if current.iter().any(|l| &l.path == path) {
            continue;
        }
        match files
            .logs
            .get(file_id)
            .and_then(|logs| logs.iter().find(|l| &l.path == path))
        {
            Some(l) => out.push(l.clone()),
            None => {
                return Err(HudiError::HistoryNotRetained {
                    table: table.to_string(),
                    file: path.clone(),
                    instant: touch.last_written_by.clone(),
                    hint: RESYNC_HINT_CLEANED.to_string(),
                });
            }
        }
    }
    sort_logs(&mut out);
    Ok(out)
}
