//! Bookmarks: how far each (pipeline, table) has been applied to Postgres, and the store seam.
//!
//! A [`Bookmark`] is written with optimistic concurrency: every write names the version it
//! replaces ([`BookmarkStore::put_if_version`]) and the store refuses it with
//! [`BookmarkError::StaleVersion`] when someone else wrote in between. A bookmark's
//! [`Position`] never moves backwards through an ordinary write
//! ([`BookmarkError::Backwards`]); only the explicit [`BookmarkStore::rewind`] and
//! [`BookmarkStore::reset`] operations may move it back, and they bump the version too, so
//! a concurrent writer holding the old version is fenced off.
//!
//! Implementations: [`crate::embedded::FileBookmarkStore`] (a local JSON file) and
//! `hps_aws::DynamoBookmarkStore` (DynamoDB conditional writes). Both run the same contract
//! test suite, so their semantics match.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hps_retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The last applied Hudi instant of a table.
///
/// On table versions 8/9 windows are ordered by completion time; on version 6 (no completion
/// times) by requested (instant) time. See [`Position::cmp_progress`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The instant's requested time (`yyyyMMddHHmmssSSS`, the timeline file name's timestamp).
    pub requested_time: String,
    /// The instant's completion time (table versions 8/9); `None` on version 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
}

impl Position {
    /// A position with a requested time only (table version 6).
    pub fn requested(requested_time: impl Into<String>) -> Self {
        Self {
            requested_time: requested_time.into(),
            completion_time: None,
        }
    }

    /// A position with requested and completion time (table versions 8/9).
    pub fn completed(
        requested_time: impl Into<String>,
        completion_time: impl Into<String>,
    ) -> Self {
        Self {
            requested_time: requested_time.into(),
            completion_time: Some(completion_time.into()),
        }
    }

    /// The time windows are compared on: the completion time when known, else the requested time.
    pub fn ordering_time(&self) -> &str {
        self.completion_time
            .as_deref()
            .unwrap_or(&self.requested_time)
    }

    /// Progress order: by [`Self::ordering_time`], then by requested time. Hudi timestamps are
    /// compared as strings, exactly as Hudi compares them.
    pub fn cmp_progress(&self, other: &Position) -> Ordering {
        self.ordering_time()
            .cmp(other.ordering_time())
            .then_with(|| self.requested_time.cmp(&other.requested_time))
    }

    /// Whether moving from `from` to `to` goes backwards (`None` is "before the first instant").
    pub fn is_backwards(from: Option<&Position>, to: Option<&Position>) -> bool {
        match (from, to) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(f), Some(t)) => t.cmp_progress(f) == Ordering::Less,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.completion_time {
            Some(c) => write!(f, "{} (completed {c})", self.requested_time),
            None => write!(f, "{}", self.requested_time),
        }
    }
}

/// A resumable position inside one window `(bookmark.position, window_end]`: the window is
/// applied as a planned sequence of file slices, and the cursor names the next one to apply.
/// Written after each applied slice so a timed-out or crashed run resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceCursor {
    /// The inclusive end of the window being applied (the instant the position will move to).
    pub window_end: Position,
    /// Identifies the plan the slice indexes refer to (e.g. a hash of the planned file list);
    /// a resumed run whose new plan has a different id must not trust `next_slice`.
    pub plan_id: String,
    /// Index (0-based) of the next slice to apply within the plan.
    pub next_slice: u64,
    /// Identifier of the next slice (file group id / file name), as a cross-check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_slice_id: Option<String>,
    /// Number of slices in the plan, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_slices: Option<u64>,
}

/// The lifecycle state of a table's sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BookmarkState {
    /// Syncing normally.
    Active,
    /// Stopped by an operator; sync passes skip the table.
    Paused {
        /// Why, for humans.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Incremental sync is impossible (e.g. the position fell off the archived timeline, or an
    /// incompatible schema change); a full resync is required.
    NeedsResync {
        /// Why, for humans.
        reason: String,
    },
    /// A full resync (snapshot load) is in progress.
    Resyncing {
        /// When it started.
        since: DateTime<Utc>,
    },
}

impl BookmarkState {
    /// Short name (`active`, `paused`, `needs_resync`, `resyncing`), e.g. for indexes and logs.
    pub fn name(&self) -> &'static str {
        match self {
            BookmarkState::Active => "active",
            BookmarkState::Paused { .. } => "paused",
            BookmarkState::NeedsResync { .. } => "needs_resync",
            BookmarkState::Resyncing { .. } => "resyncing",
        }
    }
}

/// The last failure of a sync pass on this table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The error message (with context).
    pub message: String,
    /// Whether it was classified as transient.
    pub transient: bool,
    /// How many passes in a row have failed.
    pub consecutive_failures: u32,
}

/// The sync progress of one table in one pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// The pipeline name (see [`validate_pipeline`]).
    pub pipeline: String,
    /// A stable table id (e.g. the table's base URI; see [`validate_table_id`]).
    pub table: String,
    /// The last fully applied instant; `None` before the first one.
    #[serde(default)]
    pub position: Option<Position>,
    /// The Hudi table version the position was read from (6, 8, 9); 0 when unknown.
    #[serde(default)]
    pub table_version: u32,
    /// Total change rows applied so far.
    #[serde(default)]
    pub rows_applied: u64,
    /// When the store last wrote this bookmark (set by the store).
    pub updated_at: DateTime<Utc>,
    /// Monotonic write counter, set by the store: 0 = never stored, 1 after the first write.
    #[serde(default)]
    pub version: u64,
    /// Progress inside the window being applied, if a window is partially applied.
    #[serde(default)]
    pub cursor: Option<SliceCursor>,
    /// Lifecycle state.
    pub state: BookmarkState,
    /// The last failure, cleared by a successful pass.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// Free-form string properties for the sync pass (schema fingerprint, target names, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

impl Bookmark {
    /// A fresh, never-stored bookmark (version 0, no position, active).
    pub fn new(pipeline: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            pipeline: pipeline.into(),
            table: table.into(),
            position: None,
            table_version: 0,
            rows_applied: 0,
            updated_at: Utc::now(),
            version: 0,
            cursor: None,
            state: BookmarkState::Active,
            last_error: None,
            properties: BTreeMap::new(),
        }
    }

    /// Whether this bookmark has been stored (version > 0).
    pub fn is_stored(&self) -> bool {
        self.version > 0
    }
}

/// How a write treats the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// An ordinary write: the position must not move backwards.
    Forward,
    /// An explicit rewind/reset: the position may move anywhere.
    Rewind,
}

/// Errors of a [`BookmarkStore`].
#[derive(Debug, Error)]
pub enum BookmarkError {
    /// The conditional write lost: the stored version is not the expected one (`found` is
    /// `None` when the bookmark does not exist, `Some(0)` never occurs).
    #[error(
        "bookmark {pipeline}/{table}: stale version (expected {expected}, found {})",
        found.map_or_else(|| "no bookmark".to_string(), |v| v.to_string())
    )]
    StaleVersion {
        /// The pipeline.
        pipeline: String,
        /// The table (id or base path).
        table: String,
        /// What was expected.
        expected: u64,
        /// What was found.
        found: Option<u64>,
    },

    /// An ordinary write would have moved the position backwards.
    #[error(
        "bookmark {pipeline}/{table}: position would move backwards from {from} to {}; use rewind",
        to.as_ref().map_or_else(|| "the beginning".to_string(), |p| p.to_string())
    )]
    Backwards {
        /// The pipeline.
        pipeline: String,
        /// The table (id or base path).
        table: String,
        /// The position it would move from.
        from: Box<Position>,
        /// The position it would move to.
        to: Option<Box<Position>>,
    },

    /// The bookmark does not exist (for operations that need one).
    #[error("bookmark {pipeline}/{table} does not exist")]
    NotFound {
        /// The pipeline.
        pipeline: String,
        /// The table (id or base path).
        table: String,
    },

    /// A read-modify-write kept losing to concurrent writers.
    #[error("bookmark {pipeline}/{table}: gave up after {attempts} conflicting concurrent writes")]
    Contention {
        /// The pipeline.
        pipeline: String,
        /// The table (id or base path).
        table: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// A pipeline name, table id or bookmark is not acceptable.
    #[error("invalid bookmark input: {reason}")]
    Invalid {
        /// Why, in words.
        reason: String,
    },

    /// Stored data could not be decoded.
    #[error("corrupt bookmark data in {location}: {reason}")]
    Corrupt {
        /// Where: the storage location.
        location: String,
        /// Why, in words.
        reason: String,
    },

    /// The backend (file system, DynamoDB) failed. `transient` tells whether a retry may succeed.
    #[error("bookmark store error ({location}): {message}")]
    Backend {
        /// Where: the storage location.
        location: String,
        /// What went wrong, in words.
        message: String,
        /// Whether trying again may succeed.
        transient: bool,
    },
}

impl BookmarkError {
    /// Whether retrying the same call (after re-reading, for conflicts) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            BookmarkError::Backend { transient, .. } => *transient,
            BookmarkError::Contention { .. } => true,
            _ => false,
        }
    }

    /// Whether this is a lost optimistic-concurrency race.
    pub fn is_stale(&self) -> bool {
        matches!(self, BookmarkError::StaleVersion { .. })
    }
}

/// Result alias of bookmark operations.
pub type BookmarkResult<T> = Result<T, BookmarkError>;

/// Longest accepted pipeline name.
pub const MAX_PIPELINE_LEN: usize = 128;
/// Longest accepted table id in bytes (DynamoDB's sort-key limit).
pub const MAX_TABLE_ID_LEN: usize = 1024;

/// A pipeline name: 1..=128 characters of `[A-Za-z0-9_.-]`, not starting with `.`. The
/// restriction keeps it usable as a file name and as a DynamoDB key with reserved prefixes.
pub fn validate_pipeline(pipeline: &str) -> BookmarkResult<()> {
    let ok_chars = pipeline
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if pipeline.is_empty()
        || pipeline.len() > MAX_PIPELINE_LEN
        || !ok_chars
        || pipeline.starts_with('.')
    {
        return Err(BookmarkError::Invalid {
            reason: format!(
                "pipeline name {pipeline:?} must be 1..={MAX_PIPELINE_LEN} characters of [A-Za-z0-9_.-] not starting with '.'"
            ),
        });
    }
    Ok(())
}

/// A table id: 1..=1024 bytes without control characters.
pub fn validate_table_id(table: &str) -> BookmarkResult<()> {
    if table.is_empty() || table.len() > MAX_TABLE_ID_LEN || table.chars().any(char::is_control) {
        return Err(BookmarkError::Invalid {
            reason: format!(
                "table id {table:?} must be 1..={MAX_TABLE_ID_LEN} bytes without control characters"
            ),
        });
    }
    Ok(())
}

/// Validate both key parts.
pub fn validate_key(pipeline: &str, table: &str) -> BookmarkResult<()> {
    validate_pipeline(pipeline)?;
    validate_table_id(table)
}

/// The store-independent rules of a conditional write, for stores that read and write under a
/// lock: the stored version must equal `expected` (0 = must not exist) and, in
/// [`WriteMode::Forward`], the position must not move backwards. Returns the bookmark as it
/// must be stored (version `expected + 1`, `updated_at = now`).
pub fn check_conditional_write(
    stored: Option<&Bookmark>,
    new: &Bookmark,
    expected: u64,
    mode: WriteMode,
    now: DateTime<Utc>,
) -> BookmarkResult<Bookmark> {
    validate_key(&new.pipeline, &new.table)?;
    let found = stored.map(|b| b.version);
    let version_ok = match stored {
        None => expected == 0,
        Some(s) => expected != 0 && s.version == expected,
    };
    if !version_ok {
        return Err(BookmarkError::StaleVersion {
            pipeline: new.pipeline.clone(),
            table: new.table.clone(),
            expected,
            found,
        });
    }
    if mode == WriteMode::Forward
        && let Some(s) = stored
        && Position::is_backwards(s.position.as_ref(), new.position.as_ref())
        && let Some(from) = s.position.clone()
    {
        return Err(BookmarkError::Backwards {
            pipeline: new.pipeline.clone(),
            table: new.table.clone(),
            from: Box::new(from),
            to: new.position.clone().map(Box::new),
        });
    }
    let mut out = new.clone();
    out.version = expected
        .checked_add(1)
        .ok_or_else(|| BookmarkError::Invalid {
            reason: format!(
                "bookmark {}/{}: version counter overflow",
                new.pipeline, new.table
            ),
        })?;
    out.updated_at = now;
    Ok(out)
}

/// Persistent bookmarks with optimistic concurrency. See the module docs for the rules.
#[async_trait]
pub trait BookmarkStore: Send + Sync + Debug {
    /// The bookmark of one table, if stored.
    async fn get(&self, pipeline: &str, table: &str) -> BookmarkResult<Option<Bookmark>>;

    /// All bookmarks of a pipeline, ordered by table id.
    async fn list(&self, pipeline: &str) -> BookmarkResult<Vec<Bookmark>>;

    /// The conditional write every other write is made of: store `bookmark` (keyed by its
    /// `pipeline` and `table`) if the stored version is `expected_version` (0 = the bookmark
    /// must not exist yet). [`WriteMode::Forward`] additionally refuses a position that moves
    /// backwards. The stored copy gets `version = expected_version + 1` and `updated_at =
    /// now`; it is returned. The input's own `version` and `updated_at` are ignored.
    async fn write(
        &self,
        bookmark: &Bookmark,
        expected_version: u64,
        mode: WriteMode,
    ) -> BookmarkResult<Bookmark>;

    /// Remove a table's bookmark (e.g. a table dropped from the pipeline). Absent is not an
    /// error. Prefer [`Self::reset`] to start a table over: it keeps the version monotonic.
    async fn delete(&self, pipeline: &str, table: &str) -> BookmarkResult<()>;

    /// An ordinary conditional write ([`WriteMode::Forward`]).
    async fn put_if_version(
        &self,
        bookmark: &Bookmark,
        expected_version: u64,
    ) -> BookmarkResult<Bookmark> {
        self.write(bookmark, expected_version, WriteMode::Forward)
            .await
    }

    /// [`Self::put_if_version`] expecting the bookmark's own `version` (what a
    /// read-modify-write of a bookmark obtained from this store wants).
    async fn save(&self, bookmark: &Bookmark) -> BookmarkResult<Bookmark> {
        self.write(bookmark, bookmark.version, WriteMode::Forward)
            .await
    }

    /// Move the position to `to` (possibly backwards; `None` = before the first instant),
    /// dropping any slice cursor and the last error. Bumps the version, fencing off concurrent
    /// writers. [`BookmarkError::NotFound`] when the bookmark does not exist.
    async fn rewind(
        &self,
        pipeline: &str,
        table: &str,
        to: Option<Position>,
    ) -> BookmarkResult<Bookmark> {
        modify(
            self,
            pipeline,
            table,
            WriteMode::Rewind,
            &move |b: &mut Bookmark| {
                b.position = to.clone();
                b.cursor = None;
                b.last_error = None;
            },
        )
        .await
    }

    /// Start the table over: no position, no cursor, no rows, no error, state active. Keeps
    /// the version counter (bumped) and the properties.
    async fn reset(&self, pipeline: &str, table: &str) -> BookmarkResult<Bookmark> {
        modify(
            self,
            pipeline,
            table,
            WriteMode::Rewind,
            &|b: &mut Bookmark| {
                b.position = None;
                b.cursor = None;
                b.rows_applied = 0;
                b.last_error = None;
                b.state = BookmarkState::Active;
            },
        )
        .await
    }

    /// Set the lifecycle state (pause, resume, mark for resync), whatever the current version.
    async fn update_state(
        &self,
        pipeline: &str,
        table: &str,
        state: BookmarkState,
    ) -> BookmarkResult<Bookmark> {
        modify(
            self,
            pipeline,
            table,
            WriteMode::Forward,
            &move |b: &mut Bookmark| {
                b.state = state.clone();
            },
        )
        .await
    }

    /// Pause a table.
    async fn pause(
        &self,
        pipeline: &str,
        table: &str,
        reason: Option<String>,
    ) -> BookmarkResult<Bookmark> {
        self.update_state(pipeline, table, BookmarkState::Paused { reason })
            .await
    }

    /// Resume a paused table (state back to active).
    async fn resume(&self, pipeline: &str, table: &str) -> BookmarkResult<Bookmark> {
        self.update_state(pipeline, table, BookmarkState::Active)
            .await
    }
}

/// How often a read-modify-write retries after losing a race.
const MODIFY_ATTEMPTS: u32 = 20;

/// Read-modify-write retries after lost races: 5 ms doubling, at most 100 ms apart.
const MODIFY_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: MODIFY_ATTEMPTS,
    initial_backoff: std::time::Duration::from_millis(5),
    max_backoff: std::time::Duration::from_millis(100),
};

/// Read-modify-write with retry on lost races.
async fn modify<S: BookmarkStore + ?Sized>(
    store: &S,
    pipeline: &str,
    table: &str,
    mode: WriteMode,
    change: &(dyn Fn(&mut Bookmark) + Send + Sync),
) -> BookmarkResult<Bookmark> {
    validate_key(pipeline, table)?;
    let mut attempts = MODIFY_RETRY.attempts();
    loop {
        let Some(current) = store.get(pipeline, table).await? else {
            return Err(BookmarkError::NotFound {
                pipeline: pipeline.to_string(),
                table: table.to_string(),
            });
        };
        let mut next = current.clone();
        change(&mut next);
        match store.write(&next, current.version, mode).await {
            // a lost race: re-read and try again, the backoff spreading out many contenders
            Err(e) if e.is_stale() => {
                if !attempts.retry("bookmark read-modify-write", &e).await {
                    break;
                }
            }
            other => return other,
        }
    }
    Err(BookmarkError::Contention {
        pipeline: pipeline.to_string(),
        table: table.to_string(),
        attempts: MODIFY_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_order() {
        let a = Position::completed("20240101000000000", "20240101000005000");
        // requested earlier but completed later: later in v8/v9 order
        let b = Position::completed("20231231000000000", "20240101000006000");
        assert_eq!(a.cmp_progress(&b), Ordering::Less);
        assert!(!Position::is_backwards(Some(&a), Some(&b)));
        assert!(Position::is_backwards(Some(&b), Some(&a)));
        assert!(!Position::is_backwards(Some(&a), Some(&a)));
        assert!(Position::is_backwards(Some(&a), None));
        assert!(!Position::is_backwards(None, None));
        let v6a = Position::requested("20240101000000000");
        let v6b = Position::requested("20240102000000000");
        assert!(Position::is_backwards(Some(&v6b), Some(&v6a)));
        // an upgrade from v6 to v8: the new instant's completion time is after the old one
        let v8 = Position::completed("20240103000000000", "20240103000001000");
        assert!(!Position::is_backwards(Some(&v6b), Some(&v8)));
    }

    #[test]
    fn validates_keys() {
        assert!(validate_pipeline("orders-prod_1.x").is_ok());
        for bad in ["", ".hidden", "a/b", "a#b", "a b", &"x".repeat(129)] {
            assert!(validate_pipeline(bad).is_err(), "{bad:?}");
        }
        assert!(validate_table_id("s3://bucket/warehouse/orders").is_ok());
        assert!(validate_table_id("").is_err());
        assert!(validate_table_id("a\nb").is_err());
        assert!(validate_table_id(&"t".repeat(1025)).is_err());
    }

    #[test]
    fn conditional_write_rules() {
        let now = Utc::now();
        let mut b = Bookmark::new("p", "t");
        b.position = Some(Position::requested("002"));
        let stored = check_conditional_write(None, &b, 0, WriteMode::Forward, now).unwrap();
        assert_eq!(stored.version, 1);
        assert!(matches!(
            check_conditional_write(Some(&stored), &b, 0, WriteMode::Forward, now),
            Err(BookmarkError::StaleVersion {
                expected: 0,
                found: Some(1),
                ..
            })
        ));
        assert!(matches!(
            check_conditional_write(None, &b, 3, WriteMode::Forward, now),
            Err(BookmarkError::StaleVersion {
                expected: 3,
                found: None,
                ..
            })
        ));
        let mut back = stored.clone();
        back.position = Some(Position::requested("001"));
        assert!(matches!(
            check_conditional_write(Some(&stored), &back, 1, WriteMode::Forward, now),
            Err(BookmarkError::Backwards { .. })
        ));
        assert_eq!(
            check_conditional_write(Some(&stored), &back, 1, WriteMode::Rewind, now)
                .unwrap()
                .version,
            2
        );
    }

    #[test]
    fn json_round_trip_and_tolerant_decoding() {
        let mut b = Bookmark::new("p", "s3://b/t");
        b.position = Some(Position::completed("1", "2"));
        b.cursor = Some(SliceCursor {
            window_end: Position::completed("3", "4"),
            plan_id: "abc".into(),
            next_slice: 7,
            next_slice_id: Some("fg-1".into()),
            total_slices: Some(10),
        });
        b.state = BookmarkState::NeedsResync {
            reason: "archived".into(),
        };
        b.properties.insert("schema".into(), "h1".into());
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Bookmark>(&json).unwrap(), b);
        // minimal documents (older writers) decode with defaults
        let min: Bookmark = serde_json::from_str(
            r#"{"pipeline":"p","table":"t","updated_at":"2024-01-01T00:00:00Z","state":{"kind":"active"}}"#,
        )
        .unwrap();
        assert_eq!(min.version, 0);
        assert!(min.position.is_none());
    }
}
