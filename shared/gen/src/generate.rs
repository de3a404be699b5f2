//! The generation run: properties, then per commit requested → inflight → data files →
//! completed instant, then the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, LocalStore};
use tracing::{Instrument, info, info_span};

use crate::archive::{ActiveInstant, Archiver};
use crate::clean::{CleanPlan, CleanTimes, Cleaner, clean_metadata_ocf, cleaner_plan_ocf};
use crate::commit_meta::{CommitMetadata, CompactionOperation, WriteStat, compaction_plan_ocf};
use crate::config::{GenConfig, InstantKind, TableVersion};
use crate::encode::EncodeCtx;
use crate::error::{GenError, GenResult};
use crate::jobs::encode_job;
use crate::keygen::KeyGenerator;
use crate::manifest::{
    CommitRecord, MANIFEST_FORMAT, MANIFEST_PATH, Manifest, SampleRow, id_ranges, table_info,
};
use crate::naming::{Schedule, compaction_files, format_instant, instant_files, timeline_dir};
use crate::plan::{CommitChanges, FileJob, TableState};
use crate::properties::{partition_metadata, table_properties, upgraded_to_v6_properties};
use crate::rng::{SplitMix64, hash_words};
use crate::rows::RowGen;
use crate::schema::TableSchema;

/// Counters of one run.
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    /// Files written (base files, log files; not timeline files).
    pub data_files: u64,
    /// Bytes of those files.
    pub data_bytes: u64,
    /// Rows physically written (including rows rewritten by COW merges).
    pub rows_written: u64,
    /// Logical changes (inserts + updates + deletes over all commits).
    pub changes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl GenStats {
    /// Physical rows written per second.
    pub fn rows_per_sec(&self) -> f64 {
        self.rows_written as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Result of a run.
#[derive(Debug, Clone)]
pub struct GenReport {
    /// What was written (also stored at [`MANIFEST_PATH`] in the table).
    pub manifest: Manifest,
    /// Counters.
    pub stats: GenStats,
}

const SALT_MARKER: u64 = 0x4D41_524B; // "MARK"
const SALT_SAMPLES: u64 = 0x5341_4D50; // "SAMP"
const SALT_CLEAN: u64 = 0x0043_4C45_414E; // "CLEAN"

/// Generate a table into a local directory (created if missing).
pub async fn generate_local(dir: impl AsRef<Path>, cfg: &GenConfig) -> GenResult<GenReport> {
    let store: DynStore = Arc::new(LocalStore::new(dir.as_ref()));
    generate(store, cfg).await
}

/// Generate a table at the root of `store`. Refuses a store that already holds a table.
pub async fn generate(store: DynStore, cfg: &GenConfig) -> GenResult<GenReport> {
    cfg.validate()?;
    let started = Instant::now();
    match store.head(".hoodie/hoodie.properties").await {
        Ok(_) => {
            return Err(GenError::TableExists {
                uri: store.root_uri(),
            });
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(GenError::storage(".hoodie/hoodie.properties", e)),
    }

    let schedule = Schedule::new(cfg);
    let instants = schedule.instants();
    let completions = schedule.completions();
    let info = table_info(cfg)?;
    let schema = TableSchema::with_logical_types(&cfg.table_name, cfg.logical_types)?;
    let rows = RowGen::new(cfg.seed, cfg.partitions, schedule.epoch_ms())
        .with_logical_types(cfg.logical_types)
        .with_bad_values(cfg.bad_values_every);
    let ctx = Arc::new(EncodeCtx {
        schema,
        rows: rows.clone(),
        instants: instants.clone(),
        partition_values: info.partition_values.clone(),
        partition_paths: info.partition_paths.clone(),
        props: EncodeCtx::writer_props(cfg.compression, cfg.row_group_rows)?,
        key_generator: cfg.key_generator,
    });

    let props = table_properties(
        &ctx.schema,
        cfg.table_type,
        cfg.version_at(0),
        cfg.key_generator,
        cfg.start_time,
    );
    put(&store, PROPERTIES, props.clone().into_bytes()).await?;

    let mut state = TableState::new(cfg, instants.clone());
    let mut stats = GenStats::default();
    let mut commits = Vec::with_capacity(cfg.commits as usize + 1);
    let mut partitions_written: BTreeSet<u32> = BTreeSet::new();
    let mut last_changes = CommitChanges::default();
    let mut archiver = Archiver::default();
    let mut cleaner = Cleaner::default();

    for (v, kind) in cfg.instant_kinds().into_iter().enumerate() {
        let version = u16::try_from(v)
            .map_err(|_| GenError::Config(format!("instant {v} exceeds the supported count")))?;
        let instant = &instants[usize::from(version)];
        if cfg.upgrade_instant() == Some(version) {
            let at = schedule.requested[usize::from(version)];
            upgrade_to_v6(&store, &props, &ctx.schema, cfg, at).await?;
        }
        let span = info_span!("instant", version, instant = instant.as_str(), kind = ?kind);
        let io = CommitIo {
            store: &store,
            cfg,
            ctx: &ctx,
            schedule: &schedule,
            completions: &completions,
        };
        match kind {
            InstantKind::Insert | InstantKind::Upsert => {
                let (mut record, changes, active) = write_commit(
                    &io,
                    &mut state,
                    version,
                    kind == InstantKind::Insert,
                    &mut partitions_written,
                    &mut stats,
                )
                .instrument(span)
                .await?;
                maintain(&io, &mut archiver, &mut cleaner, active, &mut record).await?;
                commits.push(record);
                last_changes = changes;
            }
            InstantKind::Compaction => {
                if let Some((mut record, active)) =
                    write_compaction(&io, &mut state, version, &mut stats)
                        .instrument(span)
                        .await?
                {
                    maintain(&io, &mut archiver, &mut cleaner, active, &mut record).await?;
                    commits.push(record);
                }
            }
        }
    }

    let samples = choose_samples(
        cfg,
        &state,
        &rows,
        &info.partition_values,
        &info.partition_paths,
        &instants,
        &last_changes,
    );
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        config: cfg.clone(),
        table: info,
        commits,
        final_live_rows: state.live(),
        samples,
    };
    put(&store, MANIFEST_PATH, manifest.to_json()?).await?;
    stats.elapsed = started.elapsed();
    info!(
        rows_written = stats.rows_written,
        data_files = stats.data_files,
        data_bytes = stats.data_bytes,
        elapsed_ms = stats.elapsed.as_millis() as u64,
        rows_per_sec = stats.rows_per_sec() as u64,
        "table generated at {}",
        store.root_uri()
    );
    Ok(GenReport { manifest, stats })
}

const PROPERTIES: &str = ".hoodie/hoodie.properties";
const PROPERTIES_BACKUP: &str = ".hoodie/hoodie.properties.backup";

/// The first write of Hudi 0.14 to a version-5 table upgrades it in place: the
/// `FiveToSixUpgradeHandler` removes `.aux/` copies of *pending* compaction plans (there are
/// none: every generated compaction completes), then `hoodie.properties` is rewritten with
/// `hoodie.table.version=6` the way `HoodieTableConfig.modify` does it: a backup copy, the new
/// file, the backup deleted. Data files, logs and earlier instants stay as version 5 wrote them.
async fn upgrade_to_v6(
    store: &DynStore,
    v5_properties: &str,
    schema: &TableSchema,
    cfg: &GenConfig,
    at: chrono::DateTime<chrono::Utc>,
) -> GenResult<()> {
    put(store, PROPERTIES_BACKUP, v5_properties.as_bytes().to_vec()).await?;
    let text = upgraded_to_v6_properties(schema, cfg.table_type, cfg.key_generator, at);
    put(store, PROPERTIES, text.into_bytes()).await?;
    store
        .delete(PROPERTIES_BACKUP)
        .await
        .map_err(|e| GenError::storage(PROPERTIES_BACKUP, e))?;
    info!("table upgraded from version 5 to 6");
    Ok(())
}

async fn put(store: &DynStore, path: &str, data: Vec<u8>) -> GenResult<()> {
    store
        .put(path, Bytes::from(data))
        .await
        .map_err(|e| GenError::storage(path, e))
}

/// What every instant writer needs.
struct CommitIo<'a> {
    store: &'a DynStore,
    cfg: &'a GenConfig,
    ctx: &'a Arc<EncodeCtx>,
    schedule: &'a Schedule,
    completions: &'a [String],
}

/// One written file: (group, path, write stat, rows, bytes), in job order.
type Written = (u32, String, WriteStat, u64, u64);

/// Encode and store `jobs`, `threads` at a time; results in job order.
async fn run_jobs(io: &CommitIo<'_>, jobs: Vec<FileJob>, version: u16) -> GenResult<Vec<Written>> {
    let table_version = io.cfg.version_at(version);
    let mut written: Vec<(usize, Written)> = futures::stream::iter(jobs.into_iter().enumerate())
        .map(|(i, job)| {
            let ctx = Arc::clone(io.ctx);
            let store = Arc::clone(io.store);
            async move {
                let group = job.group();
                let encoded = tokio::task::spawn_blocking(move || {
                    encode_job(&ctx, &job, version, table_version)
                })
                .await
                .map_err(|e| GenError::Task {
                    path: format!("instant {version} file {i}"),
                    message: e.to_string(),
                })??;
                let size = encoded.bytes.len() as u64;
                store
                    .put(&encoded.path, Bytes::from(encoded.bytes))
                    .await
                    .map_err(|e| GenError::storage(&encoded.path, e))?;
                Ok::<_, GenError>((i, (group, encoded.path, encoded.stat, encoded.rows, size)))
            }
        })
        .buffer_unordered(io.cfg.threads)
        .try_collect()
        .await?;
    written.sort_by_key(|w| w.0);
    Ok(written.into_iter().map(|(_, w)| w).collect())
}

async fn write_commit(
    io: &CommitIo<'_>,
    state: &mut TableState,
    version: u16,
    initial: bool,
    partitions_written: &mut BTreeSet<u32>,
    stats: &mut GenStats,
) -> GenResult<(CommitRecord, CommitChanges, ActiveInstant)> {
    let (store, cfg, ctx, schedule) = (io.store, io.cfg, io.ctx, io.schedule);
    let commit_started = Instant::now();
    let instant = ctx.instant(version).to_string();
    let completion = io
        .completions
        .get(usize::from(version))
        .cloned()
        .unwrap_or_default();
    let changes = state.choose_changes(cfg, initial);
    let jobs = state.apply(&ctx.rows, &changes, version);
    let operation = if initial { "INSERT" } else { "UPSERT" };
    let table_version = cfg.version_at(version);
    let [requested_path, inflight_path, completed_path] =
        instant_files(table_version, cfg.table_type, &instant, &completion);
    let marker = |salt: u64| {
        SplitMix64::new(hash_words(&[
            cfg.seed,
            SALT_MARKER,
            u64::from(version),
            salt,
        ]))
        .bytes16()
    };

    // requested (empty), then inflight (the workload profile)
    put(store, &requested_path, Vec::new()).await?;
    let profile = workload_profile(ctx, &jobs, operation);
    put(
        store,
        &inflight_path,
        encode_metadata(&profile, table_version, marker(1))?,
    )
    .await?;

    // partition metadata before any data file of a new partition
    for p in jobs.iter().map(FileJob::partition).collect::<BTreeSet<_>>() {
        if partitions_written.insert(p) {
            let path = hps_storage::join(
                &ctx.partition_paths[p as usize],
                ".hoodie_partition_metadata",
            );
            let text = partition_metadata(
                &instant,
                KeyGenerator::partition_depth(&ctx.partition_paths[p as usize]),
                schedule.requested[usize::from(version)],
            );
            put(store, &path, text.into_bytes()).await?;
        }
    }

    // data files
    let log_groups: Vec<Option<u32>> = jobs.iter().map(|j| j.is_log().then(|| j.group())).collect();
    let written = run_jobs(io, jobs, version).await?;
    for (w, log_group) in written.iter().zip(log_groups) {
        if let Some(g) = log_group {
            state.add_log_bytes(g, w.4);
        }
    }

    let mut metadata = CommitMetadata {
        operation_type: operation.to_string(),
        extra_metadata: BTreeMap::from([(
            "schema".to_string(),
            ctx.schema.commit_schema().to_string(),
        )]),
        ..Default::default()
    };
    let mut files = Vec::with_capacity(written.len());
    let mut bytes = 0u64;
    for (_, path, stat, rows, size) in written {
        let partition = stat.partition_path.clone().unwrap_or_default();
        metadata
            .partition_to_write_stats
            .entry(partition)
            .or_default()
            .push(stat);
        files.push(path);
        bytes += size;
        stats.rows_written += rows;
        stats.data_files += 1;
    }
    stats.data_bytes += bytes;
    stats.changes += u64::from(changes.inserted.end - changes.inserted.start)
        + changes.updated.len() as u64
        + changes.deleted.len() as u64;

    // completed last: only now does the commit become visible
    put(
        store,
        &completed_path,
        encode_metadata(&metadata, table_version, marker(2))?,
    )
    .await?;

    let record = CommitRecord {
        version,
        instant: instant.clone(),
        completion: cfg.table_version.is_layout2().then(|| completion.clone()),
        action: cfg.table_type.commit_action().to_string(),
        operation: operation.to_string(),
        inserted: id_ranges(changes.inserted.clone()),
        updated: changes.updated.iter().map(|&k| RowGen::id_of(k)).collect(),
        deleted: changes.deleted.iter().map(|&k| RowGen::id_of(k)).collect(),
        live_rows: state.live(),
        files,
        bytes,
        clean_instant: None,
        cleaned: Vec::new(),
        archived: Vec::new(),
    };
    let active = ActiveInstant {
        instant: instant.clone(),
        completion: completion.clone(),
        requested_action: cfg.table_type.commit_action().to_string(),
        action: cfg.table_type.commit_action().to_string(),
        files: [requested_path, inflight_path, completed_path],
        profile: keeps_payloads(cfg).then_some(profile),
        metadata: keeps_payloads(cfg).then_some(metadata),
    };
    info!(
        inserted = changes.inserted.end - changes.inserted.start,
        updated = changes.updated.len(),
        deleted = changes.deleted.len(),
        files = record.files.len(),
        bytes,
        elapsed_ms = commit_started.elapsed().as_millis() as u64,
        "commit {instant} written"
    );
    Ok((record, changes, active))
}

/// Whether archival needs the commit metadata kept in memory (layout 1 re-encodes it).
fn keeps_payloads(cfg: &GenConfig) -> bool {
    cfg.archive.is_some() && !cfg.table_version.is_layout2()
}

/// A compaction: plan (`compaction.requested`), empty `compaction.inflight`, new base files,
/// then the completed `commit` (`compacted: true`, `operationType: COMPACT`). Returns `None`
/// when no file group has log files (nothing to schedule).
async fn write_compaction(
    io: &CommitIo<'_>,
    state: &mut TableState,
    version: u16,
    stats: &mut GenStats,
) -> GenResult<Option<(CommitRecord, ActiveInstant)>> {
    let (store, cfg, ctx) = (io.store, io.cfg, io.ctx);
    let started = Instant::now();
    let instant = ctx.instant(version).to_string();
    let completion = io
        .completions
        .get(usize::from(version))
        .cloned()
        .unwrap_or_default();
    let jobs = state.compact(version);
    if jobs.is_empty() {
        info!("compaction {instant} skipped: no log files");
        return Ok(None);
    }
    let marker = |salt: u64| {
        SplitMix64::new(hash_words(&[
            cfg.seed,
            SALT_MARKER,
            u64::from(version),
            salt,
        ]))
        .bytes16()
    };
    let ops: Vec<CompactionOperation> = jobs
        .iter()
        .filter_map(|j| match j {
            FileJob::Compact {
                partition,
                file_id,
                prev_version,
                prev_base_file,
                log_files,
                slice,
                ..
            } => Some(CompactionOperation {
                base_instant: ctx.instant(*prev_version).to_string(),
                delta_files: log_files.clone(),
                data_file: prev_base_file.clone(),
                file_id: file_id.clone(),
                partition_path: ctx.partition_paths[*partition as usize].clone(),
                log_bytes: slice.bytes,
            }),
            _ => None,
        })
        .collect();
    let table_version = cfg.version_at(version);
    let [requested_path, inflight_path, completed_path] =
        compaction_files(table_version, &instant, &completion);
    let plan = compaction_plan_ocf(&ops, marker(1));
    if table_version == TableVersion::V5 {
        // Hudi <= 0.13 also keeps a copy of the plan in `.hoodie/.aux/` (HUDI-6040)
        let copy = format!(".hoodie/.aux/{instant}.compaction.requested");
        put(store, &copy, plan.clone()).await?;
    }
    put(store, &requested_path, plan).await?;
    put(store, &inflight_path, Vec::new()).await?;

    let written = run_jobs(io, jobs, version).await?;
    let mut metadata = CommitMetadata {
        compacted: true,
        operation_type: "COMPACT".to_string(),
        extra_metadata: BTreeMap::from([(
            "schema".to_string(),
            ctx.schema.commit_schema().to_string(),
        )]),
        ..Default::default()
    };
    let mut files = Vec::with_capacity(written.len());
    let mut bytes = 0u64;
    for (_, path, stat, rows, size) in written {
        let partition = stat.partition_path.clone().unwrap_or_default();
        metadata
            .partition_to_write_stats
            .entry(partition)
            .or_default()
            .push(stat);
        files.push(path);
        bytes += size;
        stats.rows_written += rows;
        stats.data_files += 1;
    }
    stats.data_bytes += bytes;
    // completed last: only now do the new base files become the current slices
    put(
        store,
        &completed_path,
        encode_metadata(&metadata, table_version, marker(2))?,
    )
    .await?;
    info!(
        files = files.len(),
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "compaction {instant} written"
    );
    let active = ActiveInstant {
        instant: instant.clone(),
        completion: completion.clone(),
        requested_action: "compaction".to_string(),
        action: "commit".to_string(),
        files: [requested_path, inflight_path, completed_path],
        profile: None,
        metadata: keeps_payloads(cfg).then_some(metadata),
    };
    let record = CommitRecord {
        version,
        instant,
        completion: cfg.table_version.is_layout2().then_some(completion),
        action: "commit".to_string(),
        operation: "COMPACT".to_string(),
        inserted: Vec::new(),
        updated: Vec::new(),
        deleted: Vec::new(),
        live_rows: state.live(),
        files,
        bytes,
        clean_instant: None,
        cleaned: Vec::new(),
        archived: Vec::new(),
    };
    Ok(Some((record, active)))
}

/// Table services after an instant completed, as Hudi runs them: clean, then archive (each
/// when configured); what they did is recorded in `record`.
async fn maintain(
    io: &CommitIo<'_>,
    archiver: &mut Archiver,
    cleaner: &mut Cleaner,
    active: ActiveInstant,
    record: &mut CommitRecord,
) -> GenResult<()> {
    archiver.push(active);
    if let Some(n) = io.cfg.clean_retain_commits {
        cleaner.record(record.version, &record.files);
        if let Some(plan) = cleaner.plan(n).filter(|p| !p.is_empty()) {
            archiver.push(write_clean(io, &plan, record).await?);
        }
    }
    if let Some(a) = io.cfg.archive {
        record.archived = archiver.run(io.store, io.cfg.table_version, a).await?;
    }
    Ok(())
}

/// A `clean` instant right after commit `record` (requested 1 ms after its completion):
/// the plan as `clean.requested` and `clean.inflight`, the deletions, then the completed
/// `clean` file.
async fn write_clean(
    io: &CommitIo<'_>,
    plan: &CleanPlan,
    record: &mut CommitRecord,
) -> GenResult<ActiveInstant> {
    let (store, cfg) = (io.store, io.cfg);
    let v = usize::from(record.version);
    let done = io
        .schedule
        .completed
        .get(v)
        .copied()
        .unwrap_or(cfg.start_time);
    let instant = format_instant(done + chrono::Duration::milliseconds(1));
    let completion = format_instant(done + chrono::Duration::milliseconds(2));
    let earliest = io.ctx.instant(plan.earliest_retained).to_string();
    let earliest_action = match cfg.instant_kinds().get(usize::from(plan.earliest_retained)) {
        Some(InstantKind::Compaction) => "commit",
        _ => cfg.table_type.commit_action(),
    };
    let times = CleanTimes {
        clean: &instant,
        earliest: &earliest,
        earliest_action,
        last_commit: &record.instant,
    };
    let marker =
        |salt: u64| SplitMix64::new(hash_words(&[cfg.seed, SALT_CLEAN, v as u64, salt])).bytes16();
    let dir = timeline_dir(cfg.table_version);
    let completed = match cfg.table_version {
        TableVersion::V5 | TableVersion::V6 => format!("{dir}/{instant}.clean"),
        TableVersion::V9 => format!("{dir}/{instant}_{completion}.clean"),
    };
    let files = [
        format!("{dir}/{instant}.clean.requested"),
        format!("{dir}/{instant}.clean.inflight"),
        completed,
    ];
    let plan_bytes = cleaner_plan_ocf(plan, times, &store.root_uri(), marker(1));
    put(store, &files[0], plan_bytes.clone()).await?;
    put(store, &files[1], plan_bytes).await?;
    for f in plan.files() {
        store
            .delete(&f)
            .await
            .map_err(|e| GenError::storage(&f, e))?;
    }
    put(store, &files[2], clean_metadata_ocf(plan, times, marker(2))).await?;
    info!(files = plan.files().len(), "clean {instant} written");
    record.clean_instant = Some(instant.clone());
    record.cleaned = plan.files();
    Ok(ActiveInstant {
        instant,
        completion,
        requested_action: "clean".to_string(),
        action: "clean".to_string(),
        files,
        profile: None,
        metadata: None,
    })
}

fn encode_metadata(
    m: &CommitMetadata,
    version: TableVersion,
    marker: [u8; 16],
) -> GenResult<Vec<u8>> {
    match version {
        TableVersion::V5 => m.to_v5_json(),
        TableVersion::V6 => m.to_json(),
        TableVersion::V9 => Ok(m.to_avro_ocf(marker)),
    }
}

/// The inflight file's provisional metadata, as Spark's `WorkloadProfile` writes it: per
/// partition one entry for new inserts (`fileId ""`) and one per updated file group.
fn workload_profile(ctx: &EncodeCtx, jobs: &[FileJob], operation: &str) -> CommitMetadata {
    let mut m = CommitMetadata {
        operation_type: operation.to_string(),
        ..Default::default()
    };
    let mut inserts: BTreeMap<u32, i64> = BTreeMap::new();
    let mut updates: Vec<(u32, WriteStat)> = Vec::new();
    for job in jobs {
        match job {
            FileJob::Base {
                partition,
                file_id,
                num_inserts,
                num_updates,
                num_deletes,
                prev_version,
                ..
            } => {
                *inserts.entry(*partition).or_default() += *num_inserts as i64;
                if let Some(pv) = prev_version {
                    updates.push((
                        *partition,
                        profile_stat(
                            file_id,
                            ctx.instant(*pv),
                            (*num_updates + *num_deletes) as i64,
                        ),
                    ));
                }
            }
            FileJob::Compact { .. } => {}
            FileJob::Log {
                partition,
                file_id,
                updates: u,
                deletes: d,
                base_version,
                ..
            } => {
                inserts.entry(*partition).or_default();
                updates.push((
                    *partition,
                    profile_stat(
                        file_id,
                        ctx.instant(*base_version),
                        (u.len() + d.len()) as i64,
                    ),
                ));
            }
        }
    }
    for (p, n) in inserts {
        let mut s = profile_stat("", "null", 0);
        s.num_inserts = n;
        m.partition_to_write_stats
            .entry(ctx.partition_paths[p as usize].clone())
            .or_default()
            .push(s);
    }
    for (p, s) in updates {
        m.partition_to_write_stats
            .entry(ctx.partition_paths[p as usize].clone())
            .or_default()
            .push(s);
    }
    m
}

fn profile_stat(file_id: &str, prev_commit: &str, updates: i64) -> WriteStat {
    WriteStat {
        file_id: file_id.to_string(),
        prev_commit: prev_commit.to_string(),
        num_update_writes: updates,
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn choose_samples(
    cfg: &GenConfig,
    state: &TableState,
    rows: &RowGen,
    partition_values: &[String],
    partition_paths: &[String],
    instants: &[String],
    last: &CommitChanges,
) -> Vec<SampleRow> {
    let mut keys: BTreeSet<u32> = BTreeSet::new();
    let mut rng = SplitMix64::new(hash_words(&[cfg.seed, SALT_SAMPLES]));
    let next = u64::from(state.next_key());
    if next > 0 {
        for _ in 0..64 {
            let k = rng.below(next) as u32;
            if state.version_of(k).is_some() {
                keys.insert(k);
            }
            if keys.len() >= 12 {
                break;
            }
        }
    }
    keys.extend(last.updated.iter().take(6));
    keys.extend(last.inserted.clone().take(6));
    if let Some(first) = state.live_keys().next() {
        keys.insert(first);
    }
    keys.into_iter()
        .filter_map(|k| {
            let version = state.version_of(k)?;
            let row = rows.row(k, version);
            Some(SampleRow {
                id: row.id,
                version,
                commit_time: instants
                    .get(usize::from(version))
                    .cloned()
                    .unwrap_or_default(),
                partition_path: partition_paths
                    .get(row.partition as usize)
                    .cloned()
                    .unwrap_or_default(),
                row: row.to_json(partition_values),
            })
        })
        .collect()
}
