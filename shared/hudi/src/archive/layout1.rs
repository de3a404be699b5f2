//! Layout 1 archives: Hudi log files `.commits_.archive.<N>_<writeToken>` whose AVRO_DATA
//! blocks hold `HoodieArchivedMetaEntry` records.
//!
//! The block framing is the log layer's ([`LogFileReader`]); archive blocks differ from data
//! blocks only in carrying no `INSTANT_TIME` header, which the framing parser does not need.
//! Each record is decoded with the writer schema of its own block (old archives carry older
//! schemas) and is one *state file* of an instant; only the completed entries become
//! [`ArchivedInstant`]s. A torn or foreign block is an error rather than a skipped block, except
//! in the one file an unfinished archive merge (`mergeArchivePlan`) names as its output.

use bytes::Bytes;
use serde_json::{Map, Value as Json};
use tracing::{debug, warn};

use super::datum::{DatumSchema, decode_single_record_ocf};
use super::{ArchiveCtx, ArchivedInstant, Loaded, completed_action, rolled_back_from_json};
use crate::error::{HudiError, Result};
use crate::instant::{Action, is_valid_instant_time};
use crate::log::{BlockType, LogBlock, LogError, LogFileReader};
use crate::metadata::{CommitMetadata, MAX_INSTANT_FILE_BYTES};

/// Prefix of every archive file name.
const NAME_PREFIX: &str = ".commits_.archive.";
/// The plan file of an unfinished merge of small archive files (Hudi 0.x).
const MERGE_PLAN: &str = "mergeArchivePlan";
/// Largest block content held in memory (archive blocks hold a handful of records).
const MAX_BLOCK_CONTENT: u64 = MAX_INSTANT_FILE_BYTES;
/// The only content version of AVRO_DATA blocks.
const CONTENT_VERSION: i32 = 3;

/// One archive file of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Path relative to the base path.
    pub path: String,
    /// The version `N` of `.commits_.archive.N_<token>`.
    pub version: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Parse `.commits_.archive.<N>_<d+-d+-d+>` (last path segment) into its version.
///
/// `None` for names that are not archive files at all; `Some(Err)` for names that start like
/// one but do not parse (a foreign or damaged file in the archive folder).
pub fn parse_archive_name(name: &str) -> Option<std::result::Result<u64, String>> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let parsed = rest.split_once('_').and_then(|(v, token)| {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let token_ok = token.split('-').count() == 3 && token.split('-').all(digits);
        (digits(v) && token_ok)
            .then(|| v.parse::<u64>().ok())
            .flatten()
    });
    Some(parsed.ok_or_else(|| format!("{name:?} is not a valid archive file name")))
}

/// Read the layout-1 archive, newest file first.
pub(crate) async fn load(ctx: &ArchiveCtx<'_>) -> Result<Loaded> {
    let listing = ctx.list().await?;
    let files = archive_files(ctx, &listing)?;
    let merge_output = merge_output(ctx, &listing).await?;
    let mut out = Loaded {
        watermark: files
            .first()
            .map(|f| format!("v1:{}:{}", f.version, f.size)),
        ..Loaded::default()
    };
    for f in &files {
        let entries = match read_file(ctx, f).await {
            Ok(e) => e,
            Err(e @ HudiError::MalformedArchive { .. })
                if merge_output.as_deref() == Some(file_name(&f.path)) =>
            {
                warn!(file = %f.path, error = %e, "skipping the unfinished output of an archive merge");
                continue;
            }
            Err(e) => return Err(e),
        };
        let whole_file_old =
            !ctx.by_completion && entries.iter().all(|e| !ctx.is_after(&e.commit_time));
        out.instants
            .extend(entries.into_iter().filter_map(|e| e.into_instant(&f.path)));
        if ctx.after.is_some() && whole_file_old {
            debug!(file = %f.path, "archive file entirely at or before the bound: older files skipped");
            break;
        }
    }
    Ok(out)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The archive files of the listing, newest version first; checksum files are ignored.
fn archive_files(
    ctx: &ArchiveCtx<'_>,
    listing: &[hps_storage::ObjectMeta],
) -> Result<Vec<ArchiveFile>> {
    let mut files = Vec::new();
    for o in listing {
        match parse_archive_name(o.file_name()) {
            None => continue,
            Some(Err(reason)) => return Err(ctx.malformed(&o.path, reason)),
            Some(Ok(version)) => files.push(ArchiveFile {
                path: o.path.clone(),
                version,
                size: o.size,
            }),
        }
    }
    files.sort_by(|a, b| b.version.cmp(&a.version).then_with(|| b.path.cmp(&a.path)));
    Ok(files)
}

/// The file name an unfinished archive merge was writing, if a merge plan exists.
async fn merge_output(
    ctx: &ArchiveCtx<'_>,
    listing: &[hps_storage::ObjectMeta],
) -> Result<Option<String>> {
    let Some(plan) = listing.iter().find(|o| o.file_name() == MERGE_PLAN) else {
        return Ok(None);
    };
    if plan.size > MAX_INSTANT_FILE_BYTES {
        return Err(ctx.malformed(
            &plan.path,
            format!("{} bytes is too large for a merge plan", plan.size),
        ));
    }
    let bytes = ctx
        .store
        .get(&plan.path)
        .await
        .map_err(|e| ctx.storage(e))?;
    let (_, v) = decode_single_record_ocf(&bytes).map_err(|r| ctx.malformed(&plan.path, r))?;
    Ok(v.get("mergedArchiveFileName")
        .and_then(Json::as_str)
        .map(|s| file_name(s).to_string()))
}

/// Every entry of one archive file, block by block.
async fn read_file(ctx: &ArchiveCtx<'_>, f: &ArchiveFile) -> Result<Vec<Entry>> {
    if f.size == 0 {
        return Err(ctx.malformed(&f.path, "empty archive file (no block)"));
    }
    let mut reader = LogFileReader::new(ctx.store.clone(), f.path.clone(), f.size);
    let mut schemas = SchemaCache::default();
    let mut entries = Vec::new();
    while let Some(block) = reader
        .next_block()
        .await
        .map_err(|e| log_error(ctx, &f.path, e))?
    {
        check_block(ctx, &block)?;
        let content = block
            .fetch_content(ctx.store, MAX_BLOCK_CONTENT)
            .await
            .map_err(|e| log_error(ctx, &f.path, e))?;
        let schema = schemas.get(ctx, &block)?;
        for (i, datum) in split_records(&content)
            .map_err(|r| block_error(ctx, &block, r))?
            .into_iter()
            .enumerate()
        {
            let v = schema
                .decode(datum)
                .map_err(|r| block_error(ctx, &block, format!("record {i}: {r}")))?;
            let e = Entry::from_json(v)
                .map_err(|r| block_error(ctx, &block, format!("record {i}: {r}")))?;
            entries.push(e);
        }
    }
    Ok(entries)
}

/// Archive blocks must be intact AVRO_DATA blocks.
fn check_block(ctx: &ArchiveCtx<'_>, b: &LogBlock) -> Result<()> {
    if let Some(reason) = &b.corruption {
        return Err(block_error(
            ctx,
            b,
            format!("torn or truncated block: {reason}"),
        ));
    }
    if b.block_type != BlockType::AvroData {
        return Err(block_error(
            ctx,
            b,
            format!("block type {} where AVRO_DATA was expected", b.block_type),
        ));
    }
    Ok(())
}

/// The parsed `SCHEMA` header of the last block (archive blocks usually repeat one schema).
#[derive(Default)]
struct SchemaCache {
    text: String,
    schema: Option<DatumSchema>,
}

impl SchemaCache {
    fn get(&mut self, ctx: &ArchiveCtx<'_>, b: &LogBlock) -> Result<&DatumSchema> {
        let text = b
            .header
            .schema()
            .ok_or_else(|| block_error(ctx, b, "no SCHEMA header"))?;
        if self.schema.is_none() || self.text != text {
            let parsed = DatumSchema::parse(text).map_err(|r| block_error(ctx, b, r))?;
            self.schema = Some(parsed);
            self.text = text.to_string();
        }
        self.schema
            .as_ref()
            .ok_or_else(|| block_error(ctx, b, "no SCHEMA header"))
    }
}

/// Split AVRO_DATA content (`i32 version, i32 count, count x (i32 len, datum)`) into datums,
/// checking every count and length against the bytes present.
fn split_records(content: &Bytes) -> std::result::Result<Vec<&[u8]>, String> {
    let mut rest: &[u8] = content;
    let version = take_i32(&mut rest).ok_or("content too short for its version")?;
    if version != CONTENT_VERSION {
        return Err(format!(
            "content version {version}; only {CONTENT_VERSION} is supported"
        ));
    }
    let count = take_i32(&mut rest).ok_or("content too short for its record count")?;
    let count = usize::try_from(count)
        .ok()
        .filter(|n| n.saturating_mul(4) <= rest.len())
        .ok_or_else(|| {
            format!(
                "record count {count} does not fit the {} content bytes",
                rest.len()
            )
        })?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let len = take_i32(&mut rest).ok_or_else(|| format!("record {i}: length cut off"))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= rest.len())
            .ok_or_else(|| {
                format!(
                    "record {i}: length {len} does not fit the {} bytes left",
                    rest.len()
                )
            })?;
        let (datum, tail) = rest.split_at(len);
        out.push(datum);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last record", rest.len()));
    }
    Ok(out)
}

fn take_i32(b: &mut &[u8]) -> Option<i32> {
    let (head, tail) = std::mem::take(b).split_first_chunk::<4>()?;
    *b = tail;
    Some(i32::from_be_bytes(*head))
}

fn block_error(ctx: &ArchiveCtx<'_>, b: &LogBlock, reason: impl std::fmt::Display) -> HudiError {
    ctx.malformed(&b.file, format!("block at byte {}: {reason}", b.offset))
}

/// Storage failures keep their classification; everything else is a damaged archive.
fn log_error(ctx: &ArchiveCtx<'_>, file: &str, e: LogError) -> HudiError {
    match e {
        LogError::Storage { source, .. } => ctx.storage(source),
        e @ LogError::ShortRead { .. } => HudiError::ReadFailed {
            table: ctx.table.to_string(),
            file: file.to_string(),
            reason: e.to_string(),
            transient: true,
        },
        e => ctx.malformed(file, e.to_string()),
    }
}

/// The state an archived entry represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Requested,
    Inflight,
    Completed,
}

/// One `HoodieArchivedMetaEntry`, reduced to what the archived timeline needs.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    commit_time: String,
    action: Action,
    state: State,
    transition_time: Option<String>,
    metadata: Option<CommitMetadata>,
    rolled_back: Vec<String>,
}

impl Entry {
    /// Pick the fields out of a decoded entry; payloads are parsed for completed entries only.
    fn from_json(v: Json) -> std::result::Result<Entry, String> {
        let Json::Object(mut m) = v else {
            return Err("archived entry is not a record".to_string());
        };
        let commit_time = instant_field(&m, "commitTime")?.ok_or("commitTime is missing")?;
        let action = action_field(&m)?;
        let state = state_field(&m)?;
        let transition_time = instant_field(&m, "stateTransitionTime")?;
        let mut e = Entry {
            commit_time,
            action,
            state,
            transition_time,
            metadata: None,
            rolled_back: Vec::new(),
        };
        if state == State::Completed {
            e.fill_payload(&mut m)?;
        }
        Ok(e)
    }

    fn fill_payload(&mut self, m: &mut Map<String, Json>) -> std::result::Result<(), String> {
        let field = match completed_action(self.action.clone()) {
            Action::Commit | Action::DeltaCommit => "hoodieCommitMetadata",
            Action::ReplaceCommit => "hoodieReplaceCommitMetadata",
            Action::Rollback => "hoodieRollbackMetadata",
            _ => return Ok(()),
        };
        match m.remove(field) {
            None | Some(Json::Null) => {}
            Some(v) if self.action == Action::Rollback => {
                self.rolled_back = rolled_back_from_json(v).map_err(|r| format!("{field}: {r}"))?;
            }
            Some(v) => {
                let md = CommitMetadata::from_json(v).map_err(|r| format!("{field}: {r}"))?;
                self.metadata = Some(md);
            }
        }
        Ok(())
    }

    /// The archived instant of a completed entry (`None` for requested / inflight entries).
    fn into_instant(self, file: &str) -> Option<ArchivedInstant> {
        (self.state == State::Completed).then(|| ArchivedInstant {
            requested_time: self.commit_time,
            completion_time: self.transition_time,
            action: completed_action(self.action),
            metadata: self.metadata,
            rolled_back: self.rolled_back,
            file: file.to_string(),
        })
    }
}

/// An optional string field that must be an instant time when set.
fn instant_field(m: &Map<String, Json>, name: &str) -> std::result::Result<Option<String>, String> {
    match m.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if is_valid_instant_time(s) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{name} {other} is not an instant time")),
    }
}

fn action_field(m: &Map<String, Json>) -> std::result::Result<Action, String> {
    match m.get("actionType") {
        Some(Json::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()) => {
            Ok(Action::parse(s))
        }
        None | Some(Json::Null) => Err("actionType is missing".to_string()),
        Some(other) => Err(format!("actionType {other} is not an action name")),
    }
}

/// `actionState`; very old archives lack it, and then the entry counts as completed.
fn state_field(m: &Map<String, Json>) -> std::result::Result<State, String> {
    match m.get("actionState") {
        None | Some(Json::Null) => Ok(State::Completed),
        Some(Json::String(s)) => match s.as_str() {
            "REQUESTED" => Ok(State::Requested),
            "INFLIGHT" => Ok(State::Inflight),
            "COMPLETED" => Ok(State::Completed),
            other => Err(format!("unknown actionState {other:?}")),
        },
        Some(other) => Err(format!("actionState {other} is not a string")),
    }
}
