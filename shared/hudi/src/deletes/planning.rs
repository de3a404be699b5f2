//! Planning a window's deletes: which file groups the deletes slice follows through the
//! window (their start, versions and end) and which end slices may still hold a removed key.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, warn};

use super::history_gone;
use crate::config::TableConfig;
use crate::error::{HudiError, Result};
use crate::files::BaseFileName;
use crate::instant::{Action, compare_instant_times};
use crate::metadata::{CommitMetadata, WriteStat};
use crate::plan::deletes::{
    DeletePlan, DeleteStep, DeleteUnit, GroupEnd, KeySource, KeyVisibility, StartKind,
};
use crate::plan::{BaseFile, FileGroupId, FileSlice, LogFile};
use crate::timeline::{Instant, Timeline};

/// A group's base and log files by (partition, file id), from the partition listings.
pub(crate) type GroupFiles<'a> = dyn Fn(&str, &str) -> (Vec<BaseFile>, Vec<LogFile>) + Sync + 'a;

/// What the planner hands over to plan the window's deletes.
pub(crate) struct DeleteInputs<'a> {
    pub table: &'a str,
    pub config: &'a TableConfig,
    pub timeline: &'a Timeline,
    /// The window's exclusive start (`None`: from the beginning; nothing can be deleted).
    pub after: Option<&'a str>,
    /// Admitted instants in window order with their metadata.
    pub admitted: Vec<(&'a Instant, &'a CommitMetadata)>,
    /// A group's base and log files from the partition listing.
    pub group_files: &'a GroupFiles<'a>,
    /// Whether an instant is visible at the window end.
    pub visible_at_end: &'a (dyn Fn(&Instant) -> bool + Sync),
    /// The plan's file slices as of the window end.
    pub slices: &'a [FileSlice],
}

/// Partitions of the groups replaced by admitted replacecommits (a group rewritten and then
/// clustered in the window is no touched group of the plan, yet its versions are read).
pub(crate) fn replaced_partitions(admitted: &[(&Instant, &CommitMetadata)]) -> BTreeSet<String> {
    admitted
        .iter()
        .filter(|(i, _)| i.action == Action::ReplaceCommit)
        .flat_map(|(_, m)| m.replaced_file_groups().map(|(p, _)| p.to_string()))
        .collect()
}

/// Where a followed group starts.
#[derive(Debug, Clone)]
enum Start {
    /// Created in the window by a plain write: it held nothing at the window start.
    Nothing,
    /// The base file a rewrite replaced (`prevCommit`, and `prevBaseFile` on v8/v9).
    Prev {
        instant: String,
        name: Option<String>,
    },
    /// Created in the window by a replacecommit (clustering or overwrite output).
    Created {
        path: String,
        instant: String,
        clustering: bool,
    },
    /// Not written in the window before it was replaced: its state as of the window start.
    Untouched,
}

impl Start {
    /// Where a group first written in the window by `stat` of `instant` starts; `path` is the
    /// base file the stat names.
    fn of_first_write(
        instant: &Instant,
        meta: &CommitMetadata,
        stat: &WriteStat,
        path: Option<&str>,
    ) -> Start {
        match (&stat.prev_commit, path) {
            (Some(pc), _) => Start::Prev {
                instant: pc.clone(),
                name: stat.prev_base_file.clone().filter(|n| !n.is_empty()),
            },
            (None, Some(p)) if instant.action == Action::ReplaceCommit => Start::Created {
                path: p.to_string(),
                instant: instant.requested_time.clone(),
                clustering: meta.is_clustering(),
            },
            _ => Start::Nothing,
        }
    }
}

#[derive(Debug)]
struct Step {
    instant: String,
    path: String,
    may_delete: bool,
    adds_keys: bool,
}

/// A file group's history in the window: where it starts, its versions, how it ends.
#[derive(Debug)]
struct Chain {
    group: FileGroupId,
    order: usize,
    start: Start,
    steps: Vec<Step>,
    retracted_by: Option<String>,
    clustered_by: Option<String>,
}

impl Chain {
    fn ended(&self) -> bool {
        self.retracted_by.is_some() || self.clustered_by.is_some()
    }

    /// Whether the group must be followed, given which clusterings have followed outputs.
    fn is_unit(&self, mor: bool, followed: &BTreeSet<String>) -> bool {
        if mor {
            return self.retracted_by.is_some() && !matches!(self.start, Start::Nothing);
        }
        if matches!(self.start, Start::Nothing) {
            // created in the window: all its keys arrived in it, but a key moved in from an
            // older group and removed here re-dates that group's delete
            // (its first step is its creation, which removes nothing)
            return self.retracted_by.is_some() || self.steps.iter().skip(1).any(|s| s.may_delete);
        }
        self.retracted_by.is_some()
            || self.steps.iter().any(|s| s.may_delete)
            || self.clustered_by.as_ref().is_some_and(|c| {
                followed.contains(c)
                    && (!self.steps.is_empty() || matches!(self.start, Start::Created { .. }))
            })
    }

    /// How the group's window ends.
    fn end(&self, followed: &BTreeSet<String>) -> GroupEnd {
        match (&self.retracted_by, &self.clustered_by) {
            (Some(by), _) => GroupEnd::Retracted { by: by.clone() },
            (None, Some(by)) => GroupEnd::Clustered {
                followed: followed.contains(by),
                by: by.clone(),
            },
            (None, None) => GroupEnd::Survives,
        }
    }
}

/// The histories of the groups admitted instants wrote or replaced, and the groups that
/// received rows in the window.
#[derive(Default)]
struct Chains {
    by_group: BTreeMap<FileGroupId, Chain>,
    receiving: BTreeSet<FileGroupId>,
    count: usize,
}

impl Chains {
    fn collect(inp: &DeleteInputs<'_>, mor: bool) -> Chains {
        let mut out = Chains::default();
        for (instant, meta) in &inp.admitted {
            for (partition, stat) in meta.write_stats() {
                out.record_write(instant, meta, partition, stat, mor);
            }
            if instant.action == Action::ReplaceCommit {
                out.record_replaced(instant, meta);
            }
        }
        out
    }

    /// The group's chain, created (numbered in window order) when new.
    fn chain(&mut self, group: FileGroupId, start: impl FnOnce() -> Start) -> &mut Chain {
        let count = &mut self.count;
        self.by_group.entry(group.clone()).or_insert_with(|| {
            *count += 1;
            Chain {
                group,
                order: *count,
                start: start(),
                steps: Vec::new(),
                retracted_by: None,
                clustered_by: None,
            }
        })
    }

    fn record_write(
        &mut self,
        instant: &Instant,
        meta: &CommitMetadata,
        partition: &str,
        stat: &WriteStat,
        mor: bool,
    ) {
        let Some(file_id) = stat.file_id.as_deref().filter(|f| !f.is_empty()) else {
            return;
        };
        let group = FileGroupId::new(partition, file_id);
        if stat.num_inserts != Some(0)
            || instant.action == Action::ReplaceCommit
            || meta.is_compaction()
        {
            self.receiving.insert(group.clone());
        }
        let path = stat
            .path
            .as_deref()
            .map(|p| p.trim_start_matches('/').to_string())
            .filter(|p| BaseFileName::parse(p).is_some());
        let chain = self.chain(group, || {
            Start::of_first_write(instant, meta, stat, path.as_deref())
        });
        if chain.ended() || mor {
            // merge-on-read base files come from compaction, clustering and inserts; its
            // removals live in DELETE log blocks
            return;
        }
        let Some(path) = path else { return };
        if matches!(&chain.start, Start::Created { path: p, .. } if *p == path) {
            return;
        }
        chain.steps.push(Step {
            instant: instant.requested_time.clone(),
            path,
            may_delete: stat.num_deletes != Some(0),
            adds_keys: stat.num_inserts != Some(0),
        });
    }

    fn record_replaced(&mut self, instant: &Instant, meta: &CommitMetadata) {
        let clustering = meta.is_clustering();
        for (partition, file_id) in meta.replaced_file_groups() {
            let chain = self.chain(FileGroupId::new(partition, file_id), || {
                if clustering {
                    // keys of a group untouched in the window keep old commit times in the
                    // clustering output, which classifies them itself
                    Start::Nothing
                } else {
                    Start::Untouched
                }
            });
            if chain.ended() {
                continue;
            }
            let by = Some(instant.requested_time.clone());
            if clustering {
                chain.clustered_by = by;
            } else {
                chain.retracted_by = by;
            }
        }
    }

    /// Clusterings whose outputs are followed (to a fixpoint: outputs clustered again).
    fn followed_clusterings(&self, mor: bool) -> BTreeSet<String> {
        let mut followed: BTreeSet<String> = BTreeSet::new();
        loop {
            let next: BTreeSet<String> = self
                .by_group
                .values()
                .filter_map(|c| match &c.start {
                    Start::Created {
                        instant,
                        clustering: true,
                        ..
                    } if c.is_unit(mor, &followed) => Some(instant.clone()),
                    _ => None,
                })
                .collect();
            if next == followed {
                return followed;
            }
            followed = next;
        }
    }
}

/// Plan the window's deletes; `None` when nothing can have been deleted.
pub(crate) fn plan_deletes(inp: &DeleteInputs<'_>) -> Result<Option<DeletePlan>> {
    let Some(after) = inp.after else {
        // from the beginning: nothing existed before the window
        return Ok(None);
    };
    let mor = inp.config.is_mor();
    let chains = Chains::collect(inp, mor);
    let followed = chains.followed_clusterings(mor);
    let mut units: Vec<Chain> = chains
        .by_group
        .into_values()
        .filter(|c| c.is_unit(mor, &followed))
        .collect();
    if units.is_empty() {
        return Ok(None);
    }
    units.sort_by_key(|c| c.order);
    let units = units
        .into_iter()
        .map(|c| delete_unit(inp, c, after, &followed))
        .collect::<Result<Vec<DeleteUnit>>>()?;
    let receivers = receivers(inp, &chains.receiving, &units);
    let schema_file = schema_file(inp, &units)?;
    debug!(
        table = inp.table,
        units = units.len(),
        receivers = receivers.len(),
        "deletes planned"
    );
    Ok(Some(DeletePlan {
        units,
        receivers,
        schema_file,
        admitted: inp
            .admitted
            .iter()
            .map(|(i, _)| i.requested_time.clone())
            .collect(),
        visibility: key_visibility(inp, mor),
    }))
}

/// A followed group with its files resolved from the listings.
fn delete_unit(
    inp: &DeleteInputs<'_>,
    c: Chain,
    after: &str,
    followed: &BTreeSet<String>,
) -> Result<DeleteUnit> {
    let (bases, logs) = (inp.group_files)(&c.group.partition, &c.group.file_id);
    let (start, start_kind) = resolve_start(inp, &c, after, &bases, &logs)?;
    let steps: Vec<DeleteStep> = c
        .steps
        .iter()
        .map(|s| DeleteStep {
            instant: s.instant.clone(),
            path: s.path.clone(),
            file: bases.iter().find(|b| b.path == s.path).cloned(),
            may_delete: s.may_delete,
            adds_keys: s.adds_keys,
        })
        .collect();
    if c.clustered_by.is_some() {
        check_removals_retained(inp.table, &steps)?;
    }
    let end = c.end(followed);
    Ok(DeleteUnit {
        partition_path: c.group.partition,
        file_id: c.group.file_id,
        start,
        start_kind,
        steps,
        end,
    })
}

/// Removals of a cleaned version show in the next retained one; a group that ends by a
/// clustering has none after its last version.
fn check_removals_retained(table: &str, steps: &[DeleteStep]) -> Result<()> {
    if let Some(i) = steps.iter().rposition(|s| s.may_delete && s.file.is_none())
        && !steps[i + 1..].iter().any(|s| s.file.is_some())
    {
        let s = &steps[i];
        return Err(history_gone(
            table,
            s.path.clone(),
            &s.instant,
            "a version of a file group that removed keys before the group was clustered is gone",
        ));
    }
    Ok(())
}

/// End slices that may hold a key removed elsewhere: groups that received rows in the window
/// and every slice in a partition of a followed group.
fn receivers(
    inp: &DeleteInputs<'_>,
    receiving: &BTreeSet<FileGroupId>,
    units: &[DeleteUnit],
) -> Vec<KeySource> {
    let unit_partitions: BTreeSet<&str> = units.iter().map(|u| u.partition_path.as_str()).collect();
    inp.slices
        .iter()
        .filter(|s| s.deletes.is_none())
        .filter(|s| {
            receiving.contains(&FileGroupId::new(&s.partition_path, &s.file_id))
                || unit_partitions.contains(s.partition_path.as_str())
        })
        .map(|s| KeySource {
            base_file: s.base_file.clone(),
            log_files: s.log_files.clone(),
        })
        .filter(|k| k.base_file.is_some() || !k.log_files.is_empty())
        .collect()
}

/// The file whose schema the delete rows take: the newest base file of the window's slices,
/// else of the followed groups' starts.
fn schema_file(inp: &DeleteInputs<'_>, units: &[DeleteUnit]) -> Result<BaseFile> {
    let newest = |files: Vec<&BaseFile>| {
        files
            .into_iter()
            .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
            .cloned()
    };
    let from_slices = newest(
        inp.slices
            .iter()
            .filter_map(|s| s.base_file.as_ref())
            .collect(),
    );
    let from_units = || {
        newest(
            units
                .iter()
                .filter_map(|u| u.start.base_file.as_ref())
                .collect(),
        )
    };
    from_slices
        .or_else(from_units)
        .ok_or_else(|| HudiError::NotYetSupported {
            table: inp.table.to_string(),
            what: "deriving deletes of a window in which no base file is readable (log-only file \
                   groups): the delete rows would have no schema"
                .to_string(),
        })
}

/// Merge-on-read: which instants' log blocks count when a key source is read.
fn key_visibility(inp: &DeleteInputs<'_>, mor: bool) -> KeyVisibility {
    if !mor {
        return KeyVisibility::default();
    }
    let tl = inp.timeline;
    KeyVisibility {
        visible: tl
            .completed
            .iter()
            .filter(|i| i.action.is_write() && (inp.visible_at_end)(i))
            .map(|i| i.requested_time.clone())
            .collect(),
        oldest_active: tl.oldest_requested_time().map(str::to_string),
    }
}

fn resolve_start(
    inp: &DeleteInputs<'_>,
    c: &Chain,
    after: &str,
    bases: &[BaseFile],
    logs: &[LogFile],
) -> Result<(KeySource, StartKind)> {
    let table = inp.table;
    let mor = inp.config.is_mor();
    match &c.start {
        Start::Nothing => Ok((KeySource::default(), StartKind::WindowStart)),
        Start::Created {
            path,
            instant,
            clustering,
        } => {
            let kind = if *clustering {
                StartKind::ClusteringOutput
            } else {
                StartKind::OverwriteOutput
            };
            match bases.iter().find(|b| &b.path == path) {
                Some(b) => Ok((KeySource::base(b.clone()), kind)),
                None => Err(history_gone(
                    table,
                    path.clone(),
                    instant,
                    "the first version of a file group created in the window is gone",
                )),
            }
        }
        // merge-on-read: the slice as of the window start (v8/v9 log writes name their own
        // instant as prevCommit)
        Start::Prev { .. } | Start::Untouched if mor => {
            at_window_start(inp, c, after, bases, logs).map(|k| (k, StartKind::WindowStart))
        }
        Start::Untouched => {
            at_window_start(inp, c, after, bases, logs).map(|k| (k, StartKind::WindowStart))
        }
        Start::Prev { instant, name } => {
            let base = prev_base(table, c, instant, name.as_deref(), bases)?;
            Ok((KeySource::base(base), StartKind::WindowStart))
        }
    }
}

/// The base file a rewrite replaced: by name (`prevBaseFile`), else by instant (`prevCommit`).
fn prev_base(
    table: &str,
    c: &Chain,
    instant: &str,
    name: Option<&str>,
    bases: &[BaseFile],
) -> Result<BaseFile> {
    let found: Vec<&BaseFile> = match name {
        Some(n) => bases
            .iter()
            .filter(|b| b.path.rsplit('/').next() == Some(n))
            .collect(),
        None => bases.iter().filter(|b| b.instant_time == instant).collect(),
    };
    match found.as_slice() {
        [] => {
            let file = match name {
                Some(n) => join_partition(&c.group.partition, n),
                None => join_partition(
                    &c.group.partition,
                    &format!("{}_*_{instant}.parquet", c.group.file_id),
                ),
            };
            Err(history_gone(
                table,
                file,
                instant,
                "the file group's base file as of the window start is gone",
            ))
        }
        [one] => Ok((*one).clone()),
        several => {
            // failed task attempts are removed before a commit completes; should several
            // remain, the last write token is the likeliest survivor
            warn!(table, file_id = %c.group.file_id, instant = %instant, files = several.len(),
                "several base files of one instant; using the last");
            Ok(several
                .iter()
                .max_by(|a, b| a.path.cmp(&b.path))
                .map(|b| (*b).clone())
                .unwrap_or_else(|| (*several[0]).clone()))
        }
    }
}

/// A group's files as of the window start: the newest base file of an instant completed by
/// then (or archived), and on merge-on-read the group's log files from that base on.
fn at_window_start(
    inp: &DeleteInputs<'_>,
    c: &Chain,
    after: &str,
    bases: &[BaseFile],
    logs: &[LogFile],
) -> Result<KeySource> {
    let tl = inp.timeline;
    let oldest = tl.oldest_requested_time();
    let visible_at_start = |t: &str| match tl.completed_by_requested(t) {
        Some(i) => compare_instant_times(i.window_time(), after).is_le(),
        None => oldest.is_some_and(|o| compare_instant_times(t, o).is_lt()),
    };
    let base = bases
        .iter()
        .filter(|b| visible_at_start(&b.instant_time))
        .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
        .cloned();
    let mut log_files: Vec<LogFile> = if inp.config.is_mor() {
        logs.iter()
            .filter(|l| {
                base.as_ref()
                    .is_none_or(|b| compare_instant_times(&l.instant_time, &b.instant_time).is_ge())
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    log_files.sort_by(|a, b| {
        compare_instant_times(&a.instant_time, &b.instant_time)
            .then(a.version.cmp(&b.version))
            .then_with(|| a.path.cmp(&b.path))
    });
    if base.is_none() && log_files.is_empty() {
        return Err(history_gone(
            inp.table,
            format!(
                "file group {} in partition {:?}",
                c.group.file_id, c.group.partition
            ),
            c.retracted_by.as_deref().unwrap_or(after),
            "the replaced file group's files as of the window start are gone",
        ));
    }
    Ok(KeySource {
        base_file: base,
        log_files,
    })
}

fn join_partition(partition: &str, name: &str) -> String {
    if partition.is_empty() {
        name.to_string()
    } else {
        format!("{partition}/{name}")
    }
}
