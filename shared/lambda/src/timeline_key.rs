//! Which S3 keys announce a completed, data-bearing Hudi instant.
//!
//! A key relative to a table's base path is a candidate when it is a timeline file of the data
//! table: `.hoodie/<name>` (layout 1, table version 6) or `.hoodie/timeline/<name>` (layout 2,
//! table versions 8/9). The file name is parsed by [`hps_hudi::parse_instant_file_name`]; only
//! *completed* `commit`, `deltacommit` and `replacecommit` instants are data-bearing.
//! Everything else is ignored with a reason: requested/inflight states, other actions (clean,
//! rollback, compaction/clustering plans, indexing, ...), the metadata table
//! (`.hoodie/metadata/`), archives (`.hoodie/archived/`, `.hoodie/timeline/history/`),
//! `hoodie.properties`, markers and data files.
//!
//! A completed `commit` can be a MOR compaction and a completed `replacecommit` a clustering:
//! neither adds rows, but telling them apart needs the file's content, and a pass over them is
//! cheap and harmless, so they are enqueued like any other.

use std::fmt;

use hps_hudi::{Action, InstantState, parse_instant_file_name};
use serde::{Deserialize, Serialize};

/// A completed instant named by a timeline key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstantRef {
    /// The requested (instant) time.
    pub requested: String,
    /// The completion time (layout 2 file names only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// `commit`, `deltacommit` or `replacecommit`.
    pub action: String,
}

impl fmt::Display for InstantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.completed {
            Some(c) => write!(f, "{}_{}.{}", self.requested, c, self.action),
            None => write!(f, "{}.{}", self.requested, self.action),
        }
    }
}

/// Why a key is not enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Not under any configured table's base path.
    OutsideTables,
    /// Not a notification of an object creation.
    NotCreated,
    /// Under the table but not in its `.hoodie/` directory (data files, partition metadata).
    NotTimeline,
    /// Inside `.hoodie/metadata/` (the metadata table is a Hudi table of its own).
    MetadataTable,
    /// Archived timeline (`.hoodie/archived/`, `.hoodie/timeline/history/`).
    Archive,
    /// Other `.hoodie/` content: markers, `.aux`, `.schema`, `.temp`, index definitions.
    HoodieInternal,
    /// In the timeline directory but not an instant file name (`hoodie.properties`, `*.crc`).
    NotAnInstant,
    /// A requested or inflight state file.
    NotCompleted(&'static str),
    /// A completed instant of an action that adds no rows (clean, rollback, indexing, ...).
    NotDataBearing(String),
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::OutsideTables => f.write_str("outside the configured tables"),
            Ignored::NotCreated => f.write_str("not an object creation"),
            Ignored::NotTimeline => f.write_str("not a timeline file"),
            Ignored::MetadataTable => f.write_str("metadata table"),
            Ignored::Archive => f.write_str("archived timeline"),
            Ignored::HoodieInternal => f.write_str("hudi internal file"),
            Ignored::NotAnInstant => f.write_str("not an instant file"),
            Ignored::NotCompleted(state) => write!(f, "{state} instant"),
            Ignored::NotDataBearing(action) => write!(f, "{action} instant adds no rows"),
        }
    }
}

/// Classify a key relative to a table's base path.
pub fn classify(relative_key: &str) -> Result<InstantRef, Ignored> {
    let Some(in_hoodie) = relative_key.strip_prefix(".hoodie/") else {
        return Err(Ignored::NotTimeline);
    };
    let name = match in_hoodie.split_once('/') {
        // layout 1: directly in .hoodie/
        None => in_hoodie,
        Some(("timeline", rest)) => match rest.split_once('/') {
            // layout 2: directly in .hoodie/timeline/
            None => rest,
            Some(("history", _)) => return Err(Ignored::Archive),
            Some(_) => return Err(Ignored::HoodieInternal),
        },
        Some(("metadata", _)) => return Err(Ignored::MetadataTable),
        Some(("archived", _)) => return Err(Ignored::Archive),
        Some(_) => return Err(Ignored::HoodieInternal),
    };
    let file = parse_instant_file_name(name).ok_or(Ignored::NotAnInstant)?;
    match file.state {
        InstantState::Requested => return Err(Ignored::NotCompleted("requested")),
        InstantState::Inflight => return Err(Ignored::NotCompleted("inflight")),
        InstantState::Completed => {}
    }
    if !matches!(
        file.action,
        Action::Commit | Action::DeltaCommit | Action::ReplaceCommit
    ) {
        return Err(Ignored::NotDataBearing(file.action.as_str().to_string()));
    }
    Ok(InstantRef {
        requested: file.requested_time,
        completed: file.completion_time,
        action: file.action.as_str().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(k: &str) -> (String, Option<String>, String) {
        let i = classify(k).unwrap_or_else(|e| panic!("{k}: {e}"));
        (i.requested, i.completed, i.action)
    }

    #[test]
    fn completed_write_instants_in_both_layouts() {
        assert_eq!(
            ok(".hoodie/20240418173551906.commit"),
            ("20240418173551906".into(), None, "commit".into())
        );
        assert_eq!(ok(".hoodie/20250117083125837.deltacommit").2, "deltacommit");
        assert_eq!(
            ok(".hoodie/20240707001303088.replacecommit").2,
            "replacecommit"
        );
        assert_eq!(
            ok(".hoodie/timeline/20260307162434124_20260307162438653.commit"),
            (
                "20260307162434124".into(),
                Some("20260307162438653".into()),
                "commit".into()
            )
        );
        assert_eq!(
            ok(".hoodie/timeline/20260307162557587_20260307162601961.deltacommit").2,
            "deltacommit"
        );
        assert_eq!(
            ok(".hoodie/timeline/20260307162614221_20260307162615208.replacecommit").2,
            "replacecommit"
        );
        // 14-digit (second precision) ids of old tables
        assert_eq!(ok(".hoodie/20190101000000.commit").0, "20190101000000");
        assert_eq!(
            InstantRef {
                requested: "1".into(),
                completed: Some("2".into()),
                action: "commit".into()
            }
            .to_string(),
            "1_2.commit"
        );
    }

    #[test]
    fn everything_else_is_ignored_with_a_reason() {
        use Ignored::*;
        let cases: &[(&str, Ignored)] = &[
            (
                ".hoodie/20240418173551906.commit.requested",
                NotCompleted("requested"),
            ),
            (
                ".hoodie/20240418173551906.inflight",
                NotCompleted("inflight"),
            ),
            (
                ".hoodie/20240418173551906.deltacommit.inflight",
                NotCompleted("inflight"),
            ),
            (
                ".hoodie/timeline/20260307162454799.clustering.requested",
                NotCompleted("requested"),
            ),
            (
                ".hoodie/timeline/20260307162618152.compaction.requested",
                NotCompleted("requested"),
            ),
            (
                ".hoodie/timeline/20260307162450901.replacecommit.inflight",
                NotCompleted("inflight"),
            ),
            (
                ".hoodie/20250126040836540.rollback",
                NotDataBearing("rollback".into()),
            ),
            (
                ".hoodie/20250126040836540.clean",
                NotDataBearing("clean".into()),
            ),
            (
                ".hoodie/timeline/20260307162457540_20260307162458389.indexing",
                NotDataBearing("indexing".into()),
            ),
            (
                ".hoodie/timeline/20260307162457540_20260307162458389.savepoint",
                NotDataBearing("savepoint".into()),
            ),
            (".hoodie/hoodie.properties", NotAnInstant),
            (".hoodie/hoodie.properties.backup", NotAnInstant),
            (".hoodie/.20240418173551906.commit.crc", NotAnInstant),
            (".hoodie/timeline/hoodie.properties", NotAnInstant),
            // a completion part on a non-completed state is not a valid name
            (
                ".hoodie/timeline/20260307162434124_20260307162438653.commit.requested",
                NotAnInstant,
            ),
            (".hoodie/2026030716243.commit", NotAnInstant),
            (
                ".hoodie/metadata/.hoodie/timeline/20260307162442820_20260307162443605.deltacommit",
                MetadataTable,
            ),
            (
                ".hoodie/metadata/.hoodie/20240418173551906.deltacommit",
                MetadataTable,
            ),
            (".hoodie/archived/.commits_.archive.1_1-0-1", Archive),
            (".hoodie/timeline/history/manifest_1", Archive),
            (
                ".hoodie/timeline/history/20260307162434124_20260307162438653.commit",
                Archive,
            ),
            (
                ".hoodie/.temp/20240418173551906/x.parquet.marker.CREATE",
                HoodieInternal,
            ),
            (".hoodie/.aux/.bootstrap/x", HoodieInternal),
            (".hoodie/.index_defs/index.json", HoodieInternal),
            (
                "region=us/c7bbe63e-0_0-30-35_20260307162442820.parquet",
                NotTimeline,
            ),
            (".hoodie_partition_metadata", NotTimeline),
            ("20240418173551906.commit", NotTimeline),
            ("nested/.hoodie/20240418173551906.commit", NotTimeline),
        ];
        for (k, want) in cases {
            assert_eq!(classify(k).as_ref().err(), Some(want), "{k}");
        }
    }
}
