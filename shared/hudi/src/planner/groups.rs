//! What the admitted instants wrote, from their commit metadata: the file groups they touched
//! (with the base file and log files their write stats name), the groups they replaced, the
//! groups replaced as of the window end and the v6 MOR log files written after it.

use std::collections::{BTreeMap, BTreeSet};

use crate::files::{BaseFileName, LogFileName};
use crate::instant::Action;
use crate::metadata::{CommitMetadata, WriteStat};
use crate::plan::{FileGroupId, PlannedInstant};
use crate::timeline::Instant;

use super::Planner;
use super::window::{Admission, Window};

/// Commit metadata by requested time.
pub(crate) type Metas = BTreeMap<String, CommitMetadata>;

/// A file group written by admitted instants.
pub(super) struct Touch {
    /// The base file named by the last admitted write stat that named one.
    pub expected_base: Option<ExpectedBase>,
    /// The last admitted instant (requested time) that wrote the group.
    pub last_written_by: String,
    /// MOR: log files (paths) written by admitted instants.
    pub window_logs: BTreeSet<String>,
}

/// A base file a write stat names, which must still be on storage.
pub(super) struct ExpectedBase {
    pub path: String,
    /// The instant in its name.
    pub instant: String,
}

/// A file group replaced by an admitted non-clustering replacecommit.
#[derive(Clone)]
pub(super) struct Replacement {
    pub group: FileGroupId,
    /// Requested time of the replacecommit.
    pub by: String,
    /// Its operation type.
    pub operation: String,
}

/// The file groups a window reads.
pub(super) struct Groups {
    /// Groups written by admitted instants and live at the window end.
    pub touched: BTreeMap<FileGroupId, Touch>,
    /// MOR groups written in the window and replaced by its end: they keep the deletes their
    /// log files recorded in the window (tombstone-only slices).
    pub tombstones: BTreeMap<FileGroupId, Touch>,
    /// Groups replaced by admitted non-clustering replacecommits.
    pub replacements: Vec<Replacement>,
    /// v6 MOR: log files (paths) written after the window end.
    pub late_logs: BTreeSet<String>,
}

impl Groups {
    /// The partitions holding the window's groups.
    pub(super) fn partitions(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.touched.keys().map(|g| g.partition.clone()).collect();
        out.extend(self.tombstones.keys().map(|g| g.partition.clone()));
        out.extend(self.replacements.iter().map(|r| r.group.partition.clone()));
        out
    }
}

impl Planner<'_> {
    /// The file groups the admitted instants wrote, split into live and replaced ones.
    pub(super) fn touched_groups(
        &self,
        w: &Window<'_>,
        adm: &Admission<'_>,
        metas: &Metas,
    ) -> Groups {
        let late_logs = log_paths(&self.late_deltacommits(w, adm), metas);
        let visible_writes: Vec<&Instant> = adm
            .ordered
            .iter()
            .copied()
            .filter(|i| i.action.is_write() && w.visible(i))
            .collect();
        let replaced_at_end = replaced_groups(&visible_writes, metas);
        let (mut touched, replacements) = writes(&adm.admitted, metas, self.config.is_mor());
        let tombstones = take_tombstones(&mut touched, &replaced_at_end);
        Groups {
            touched,
            tombstones,
            replacements,
            late_logs,
        }
    }
}

/// The groups written by `admitted`, and the groups their non-clustering replacecommits
/// replaced.
fn writes(
    admitted: &[&Instant],
    metas: &Metas,
    mor: bool,
) -> (BTreeMap<FileGroupId, Touch>, Vec<Replacement>) {
    let mut touched = BTreeMap::new();
    let mut replacements = Vec::new();
    for i in admitted {
        let Some(m) = metas.get(i.requested_time.as_str()) else {
            continue;
        };
        for (partition, stat) in m.write_stats() {
            record_write(&mut touched, &i.requested_time, partition, stat, mor);
        }
        if i.action == Action::ReplaceCommit && !m.is_clustering() {
            replacements.extend(m.replaced_file_groups().map(|(p, f)| Replacement {
                group: FileGroupId::new(p, f),
                by: i.requested_time.clone(),
                operation: m.operation().to_string(),
            }));
        }
    }
    (touched, replacements)
}

/// Record one write stat of `instant` on the group it names.
fn record_write(
    touched: &mut BTreeMap<FileGroupId, Touch>,
    instant: &str,
    partition: &str,
    stat: &WriteStat,
    mor: bool,
) {
    let Some(file_id) = stat.file_id.as_deref().filter(|f| !f.is_empty()) else {
        return;
    };
    let t = touched
        .entry(FileGroupId::new(partition, file_id))
        .or_insert_with(|| Touch {
            expected_base: None,
            last_written_by: instant.to_string(),
            window_logs: BTreeSet::new(),
        });
    t.last_written_by = instant.to_string();
    let Some(path) = stat.path.as_deref() else {
        return;
    };
    if mor && LogFileName::parse(path).is_some_and(|l| !l.is_cdc) {
        t.window_logs
            .insert(path.trim_start_matches('/').to_string());
    }
    if let Some(b) = BaseFileName::parse(path) {
        t.expected_base = Some(ExpectedBase {
            path: path.trim_start_matches('/').to_string(),
            instant: b.instant_time,
        });
    }
}

/// Remove the groups replaced at the window end from `touched`; those that wrote log files
/// in the window are returned (their deletes still count).
fn take_tombstones(
    touched: &mut BTreeMap<FileGroupId, Touch>,
    replaced_at_end: &BTreeSet<FileGroupId>,
) -> BTreeMap<FileGroupId, Touch> {
    let mut tombstones = BTreeMap::new();
    for g in replaced_at_end {
        if let Some(t) = touched.remove(g)
            && !t.window_logs.is_empty()
        {
            tombstones.insert(g.clone(), t);
        }
    }
    tombstones
}

/// File groups replaced by the replacecommits among `writes`.
pub(crate) fn replaced_groups(writes: &[&Instant], metas: &Metas) -> BTreeSet<FileGroupId> {
    writes
        .iter()
        .filter(|i| i.action == Action::ReplaceCommit)
        .filter_map(|i| metas.get(&i.requested_time))
        .flat_map(|m| {
            m.replaced_file_groups()
                .map(|(p, f)| FileGroupId::new(p, f))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Paths of the log files the given instants wrote.
pub(crate) fn log_paths(instants: &[&Instant], metas: &Metas) -> BTreeSet<String> {
    instants
        .iter()
        .filter_map(|i| metas.get(&i.requested_time))
        .flat_map(|m| {
            m.write_stats()
                .filter_map(|(_, s)| s.path.clone())
                .filter(|p| LogFileName::parse(p).is_some())
                .map(|p| p.trim_start_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The instants of a plan, with their operations.
pub(crate) fn planned_instants(writes: &[&Instant], metas: &Metas) -> Vec<PlannedInstant> {
    writes
        .iter()
        .filter_map(|i| {
            let m = metas.get(&i.requested_time)?;
            Some(PlannedInstant {
                requested_time: i.requested_time.clone(),
                completion_time: i.completion_time.clone(),
                action: i.action.clone(),
                operation_type: m.operation().to_string(),
                adds_rows: m.adds_rows(),
            })
        })
        .collect()
}

/// The admitted instants that have metadata, with it.
pub(super) fn with_metadata<'m>(
    admitted: &[&'m Instant],
    metas: &'m Metas,
) -> Vec<(&'m Instant, &'m CommitMetadata)> {
    admitted
        .iter()
        .filter_map(|i| Some((*i, metas.get(i.requested_time.as_str())?)))
        .collect()
}
