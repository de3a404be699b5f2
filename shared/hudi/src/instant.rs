//! Timeline file names: `<requested>[_<completed>].<action>[.requested|.inflight]`.
//!
//! [`parse_instant_file_name`] is pure (no I/O) so other components (e.g. a Lambda that
//! classifies S3 keys) can reuse it.

use std::cmp::Ordering;
use std::fmt;

/// The commit times whose rows a read returns: the requested times of a window's admitted
/// instants, or every row of the chosen file slices (a snapshot, which must also return rows
/// written by instants that have left the active timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitTimes {
    /// Every row, whatever its `_hoodie_commit_time`.
    All,
    /// Only rows whose `_hoodie_commit_time` is one of these requested times.
    Only(std::collections::HashSet<String>),
}

impl CommitTimes {
    /// Whether rows written at `t` are returned.
    #[inline]
    pub fn contains(&self, t: &str) -> bool {
        match self {
            CommitTimes::All => true,
            CommitTimes::Only(s) => s.contains(t),
        }
    }

    /// The admitted times of a window.
    pub fn only<I: IntoIterator<Item = String>>(times: I) -> CommitTimes {
        CommitTimes::Only(times.into_iter().collect())
    }
}

/// A timeline action (the part after the instant time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `commit` (COW writes; MOR compaction completes as `commit`).
    Commit,
    /// `deltacommit` (MOR writes; log compaction completes as `deltacommit`).
    DeltaCommit,
    /// `replacecommit` (insert_overwrite, delete_partition, completed clustering).
    ReplaceCommit,
    /// `clustering` (v8/v9 requested/inflight clustering; completes as `replacecommit`).
    Clustering,
    /// `compaction` (requested/inflight; completes as `commit`).
    Compaction,
    /// `logcompaction` (requested/inflight; completes as `deltacommit`).
    LogCompaction,
    /// `rollback`.
    Rollback,
    /// `restore`.
    Restore,
    /// `clean`.
    Clean,
    /// `savepoint`.
    Savepoint,
    /// `indexing`.
    Indexing,
    /// `schemacommit` and anything else.
    Other(String),
}

impl Action {
    /// Parse an action name (lowercase letters).
    pub fn parse(s: &str) -> Action {
        match s {
            "commit" => Action::Commit,
            "deltacommit" => Action::DeltaCommit,
            "replacecommit" => Action::ReplaceCommit,
            "clustering" => Action::Clustering,
            "compaction" => Action::Compaction,
            "logcompaction" => Action::LogCompaction,
            "rollback" => Action::Rollback,
            "restore" => Action::Restore,
            "clean" => Action::Clean,
            "savepoint" => Action::Savepoint,
            "indexing" => Action::Indexing,
            other => Action::Other(other.to_string()),
        }
    }

    /// The name as it appears in file names.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Commit => "commit",
            Action::DeltaCommit => "deltacommit",
            Action::ReplaceCommit => "replacecommit",
            Action::Clustering => "clustering",
            Action::Compaction => "compaction",
            Action::LogCompaction => "logcompaction",
            Action::Rollback => "rollback",
            Action::Restore => "restore",
            Action::Clean => "clean",
            Action::Savepoint => "savepoint",
            Action::Indexing => "indexing",
            Action::Other(s) => s,
        }
    }

    /// Whether a *completed* instant of this action can write data files
    /// (`commit`, `deltacommit`, `replacecommit`): the incremental window candidates.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Action::Commit | Action::DeltaCommit | Action::ReplaceCommit
        )
    }
}

impl Action {
    /// Whether an instant of this action, in any state, writes data files: the writes plus
    /// compaction, log compaction and clustering (the instants that bound the active timeline).
    pub fn is_write_or_table_service(&self) -> bool {
        self.is_write()
            || matches!(
                self,
                Action::Compaction | Action::LogCompaction | Action::Clustering
            )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state an instant file represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstantState {
    /// `<t>.<action>.requested`.
    Requested,
    /// `<t>.<action>.inflight` (and the bare `<t>.inflight` of a COW commit).
    Inflight,
    /// `<t>.<action>` (v6) or `<t>_<completion>.<action>` (v8/v9).
    Completed,
}

impl InstantState {
    /// `requested`, `inflight` or `completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstantState::Requested => "requested",
            InstantState::Inflight => "inflight",
            InstantState::Completed => "completed",
        }
    }
}

/// One parsed timeline file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstantFile {
    /// The instant (requested) time, 14 to 17 digits, as written.
    pub requested_time: String,
    /// The completion time (only in `<t>_<c>.<action>` names of layout 2).
    pub completion_time: Option<String>,
    /// The action.
    pub action: Action,
    /// The state this file represents.
    pub state: InstantState,
}

fn is_instant_time(s: &str) -> bool {
    (14..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse a timeline file name (the last path segment; a leading path is ignored).
///
/// Accepts `^(\d{14,17})(?:_(\d{14,17}))?\.([a-z]+)(?:\.(requested|inflight))?$`, treating a bare
/// `<t>.inflight` as a COW commit in flight. Returns `None` for anything else (`hoodie.properties`,
/// `*.crc`, directories, a `_<completion>` part on a non-completed state, ...).
pub fn parse_instant_file_name(name: &str) -> Option<InstantFile> {
    let name = name.rsplit('/').next().unwrap_or(name);
    let mut parts = name.split('.');
    let times = parts.next()?;
    let action = parts.next()?;
    let state = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let (requested, completion) = match times.split_once('_') {
        Some((r, c)) => (r, Some(c)),
        None => (times, None),
    };
    if !is_instant_time(requested) || completion.is_some_and(|c| !is_instant_time(c)) {
        return None;
    }
    if action.is_empty() || !action.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let (action, state) = match (action, state) {
        ("inflight", None) => (Action::Commit, InstantState::Inflight),
        ("requested", None) => return None,
        (a, None) => (Action::parse(a), InstantState::Completed),
        (a, Some("requested")) => (Action::parse(a), InstantState::Requested),
        (a, Some("inflight")) => (Action::parse(a), InstantState::Inflight),
        _ => return None,
    };
    if completion.is_some() && state != InstantState::Completed {
        return None;
    }
    Some(InstantFile {
        requested_time: requested.to_string(),
        completion_time: completion.map(str::to_string),
        action,
        state,
    })
}

/// A key that orders instant times the way Hudi does: 14-digit (second precision) ids are
/// padded with `999` milliseconds (`HoodieInstantTimeGenerator.DEFAULT_MILLIS_EXT`), then
/// compared as fixed-width strings.
pub fn instant_sort_key(t: &str) -> String {
    if t.len() == 14 {
        format!("{t}999")
    } else {
        t.to_string()
    }
}

/// Compare two instant times as Hudi does (see [`instant_sort_key`]).
pub fn compare_instant_times(a: &str, b: &str) -> Ordering {
    if a.len() == b.len() {
        a.cmp(b)
    } else {
        instant_sort_key(a).cmp(&instant_sort_key(b))
    }
}

/// Whether `s` looks like an instant time (14 to 17 ASCII digits).
pub fn is_valid_instant_time(s: &str) -> bool {
    is_instant_time(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(String, Option<String>, String, InstantState)> {
        parse_instant_file_name(s).map(|i| {
            (
                i.requested_time,
                i.completion_time,
                i.action.as_str().to_string(),
                i.state,
            )
        })
    }

    #[test]
    fn layouts_and_states() {
        use InstantState::*;
        assert_eq!(
            p("20260307162434124_20260307162438653.commit"),
            Some((
                "20260307162434124".into(),
                Some("20260307162438653".into()),
                "commit".into(),
                Completed
            ))
        );
        assert_eq!(
            p("20260307162434124.commit"),
            Some(("20260307162434124".into(), None, "commit".into(), Completed))
        );
        assert_eq!(
            p("20260307162434124.commit.requested").unwrap().3,
            Requested
        );
        assert_eq!(
            p("20260307162434124.inflight"),
            Some(("20260307162434124".into(), None, "commit".into(), Inflight))
        );
        assert_eq!(
            p("20260307162454799.clustering.inflight").unwrap().2,
            "clustering"
        );
        assert_eq!(
            p("20260307162454799.replacecommit.requested").unwrap().2,
            "replacecommit"
        );
        assert_eq!(
            p(".hoodie/timeline/20260307162434124.deltacommit")
                .unwrap()
                .2,
            "deltacommit"
        );
        assert_eq!(p("20200101000000.commit").unwrap().0, "20200101000000");
        assert_eq!(
            p("20260307162434124.schemacommit").unwrap().2,
            "schemacommit"
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "hoodie.properties",
            "hoodie.properties.backup",
            "20260307162434124",
            "20260307162434124.",
            "20260307162434124.commit.crc",
            ".20260307162434124.commit.crc",
            "20260307162434124.commit.requested.crc",
            "20260307162434124_20260307162438653.commit.requested",
            "20260307162434124_.commit",
            "2026030716243.commit",
            "202603071624341245.commit",
            "2026030716243412x.commit",
            "20260307162434124.Commit",
            "20260307162434124.requested",
            "20260307162434124.commit.done",
            "archived",
            "history",
            "metadata",
            "00000000000000000_x.commit",
            "20260307162434124.com-mit",
            "٢٠٢٦٠٣٠٧١٦٢٤٣٤١٢٤.commit",
        ] {
            assert_eq!(parse_instant_file_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ordering_pads_second_precision_ids() {
        assert_eq!(
            compare_instant_times("20200101000000", "20200101000000998"),
            Ordering::Greater
        );
        assert_eq!(
            compare_instant_times("20200101000000", "20200101000000999"),
            Ordering::Equal
        );
        assert_eq!(
            compare_instant_times("20200101000001000", "20200101000000"),
            Ordering::Greater
        );
    }
}
