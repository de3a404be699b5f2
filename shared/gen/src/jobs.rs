//! Encoding one planned file (CPU work, run on the blocking pool) and its write stat.

use crate::commit_meta::{RuntimeStats, WriteStat};
use crate::config::TableVersion;
use crate::encode::{EncodeCtx, LogMeta, encode_avro_row, encode_base_file};
use crate::error::{GenError, GenResult};
use crate::log_block::{BlockFormat, DataBlock, DeleteRecord, write_delete_block};
use crate::plan::FileJob;
use crate::rows::Row;
use hps_storage::join;

/// A file ready to be stored.
#[derive(Debug)]
pub struct EncodedJob {
    /// Path relative to the base path.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Its write stat for the commit metadata.
    pub stat: WriteStat,
    /// Rows physically written (base rows, or log data records + delete records).
    pub rows: u64,
}

/// Encode `job`, written by commit `version` of a table of `table_version`.
pub fn encode_job(
    ctx: &EncodeCtx,
    job: &FileJob,
    version: u16,
    table_version: TableVersion,
) -> GenResult<EncodedJob> {
    let partition_path = ctx
        .partition_paths
        .get(job.partition() as usize)
        .cloned()
        .unwrap_or_default();
    match job {
        FileJob::Base {
            partition,
            file_id,
            file_name,
            keys,
            versions,
            num_updates,
            num_deletes,
            num_inserts,
            prev_version,
            prev_base_file,
            ..
        } => {
            let path = join(&partition_path, file_name);
            let file = encode_base_file(ctx, &path, file_name, *partition, keys, versions)?;
            let size = file.bytes.len() as i64;
            let stat = WriteStat {
                file_id: file_id.clone(),
                path: Some(path.clone()),
                prev_commit: match prev_version {
                    Some(v) => ctx.instant(*v).to_string(),
                    None => "null".to_string(),
                },
                num_writes: file.rows as i64,
                num_deletes: *num_deletes as i64,
                num_update_writes: *num_updates as i64,
                num_inserts: *num_inserts as i64,
                total_write_bytes: size,
                file_size_in_bytes: size,
                partition_path: Some(partition_path),
                runtime_stats: Some(RuntimeStats::default()),
                prev_base_file: match table_version {
                    TableVersion::V5 | TableVersion::V6 => None,
                    TableVersion::V9 => prev_base_file.clone(),
                },
                ..Default::default()
            };
            Ok(EncodedJob {
                path,
                bytes: file.bytes,
                stat,
                rows: file.rows,
            })
        }
        FileJob::Compact {
            partition,
            file_id,
            file_name,
            keys,
            versions,
            prev_version,
            prev_base_file,
            log_files,
            slice,
            ..
        } => {
            let path = join(&partition_path, file_name);
            let file = encode_base_file(ctx, &path, file_name, *partition, keys, versions)?;
            let size = file.bytes.len() as i64;
            let log_records = (slice.updates + slice.deletes) as i64;
            let stat = WriteStat {
                file_id: file_id.clone(),
                path: Some(path.clone()),
                prev_commit: ctx.instant(*prev_version).to_string(),
                num_writes: file.rows as i64,
                num_deletes: slice.deletes as i64,
                num_update_writes: slice.updates as i64,
                total_write_bytes: size,
                file_size_in_bytes: size,
                partition_path: Some(partition_path),
                total_log_records: log_records,
                total_updated_records_compacted: log_records,
                total_log_blocks: slice.blocks as i64,
                total_log_files_compacted: log_files.len() as i64,
                total_log_size_compacted: slice.bytes as i64,
                runtime_stats: Some(RuntimeStats::default()),
                prev_base_file: match table_version {
                    TableVersion::V5 | TableVersion::V6 => None,
                    TableVersion::V9 => Some(prev_base_file.clone()),
                },
                ..Default::default()
            };
            Ok(EncodedJob {
                path,
                bytes: file.bytes,
                stat,
                rows: file.rows,
            })
        }
        FileJob::Log {
            partition,
            file_id,
            file_name,
            log_version,
            updates,
            deletes,
            base_version,
            base_file,
            slice_log_files,
            ..
        } => {
            let job = LogJob {
                partition: *partition,
                file_id,
                file_name,
                log_version: *log_version,
                updates,
                deletes,
                base_version: *base_version,
                base_file,
                slice_log_files,
            };
            encode_log(ctx, &job, version, table_version, partition_path)
        }
    }
}

/// The fields of a [`FileJob::Log`].
struct LogJob<'a> {
    partition: u32,
    file_id: &'a String,
    file_name: &'a String,
    log_version: u32,
    updates: &'a [u32],
    deletes: &'a [u32],
    base_version: u16,
    base_file: &'a String,
    slice_log_files: &'a Vec<String>,
}

/// A log file: a data block of the updated rows and a delete block of the deleted keys.
fn encode_log(
    ctx: &EncodeCtx,
    job: &LogJob<'_>,
    version: u16,
    table_version: TableVersion,
    partition_path: String,
) -> GenResult<EncodedJob> {
    let LogJob {
        partition,
        file_id,
        file_name,
        log_version,
        updates,
        deletes,
        base_version,
        base_file,
        slice_log_files,
    } = job;
    let path = join(&partition_path, file_name);
    let instant = ctx.instant(version);
    let schema = ctx.schema.schema_with_meta();
    let mut bytes = Vec::new();
    if !updates.is_empty() {
        let block = data_block(ctx, version, *partition, &partition_path, file_id, updates);
        block.write_to(&mut bytes, instant, schema, BlockFormat::of(table_version));
    }
    if !deletes.is_empty() && table_version == TableVersion::V5 {
        // GenConfig::validate refuses this combination; never write a block Hudi
        // 0.12/0.13 would not have written
        return Err(GenError::Config(format!(
            "{path}: {} deletes in a table-version-5 log file (Hudi 0.12/0.13 writes Kryo DELETE blocks, which hudi-gen does not)",
            deletes.len()
        )));
    }
    if !deletes.is_empty() {
        let records = delete_records(ctx, version, &partition_path, deletes);
        write_delete_block(&mut bytes, instant, schema, &records);
    }
    let size = bytes.len() as i64;
    let (prev_commit, stat_base_file, log_files, log_offset) = match table_version {
        TableVersion::V5 | TableVersion::V6 => (
            ctx.instant(*base_version).to_string(),
            base_file.to_string(),
            slice_log_files.to_vec(),
            Some(0),
        ),
        TableVersion::V9 => (
            instant.to_string(),
            String::new(),
            vec![file_name.to_string()],
            None,
        ),
    };
    let stat = WriteStat {
        file_id: file_id.to_string(),
        path: Some(path.clone()),
        prev_commit,
        num_writes: updates.len() as i64,
        num_deletes: deletes.len() as i64,
        num_update_writes: updates.len() as i64,
        total_write_bytes: size,
        file_size_in_bytes: size,
        partition_path: Some(partition_path),
        runtime_stats: Some(RuntimeStats::default()),
        log_version: Some(*log_version as i32),
        log_offset,
        base_file: Some(stat_base_file),
        log_files: Some(log_files),
        ..Default::default()
    };
    Ok(EncodedJob {
        path,
        bytes,
        stat,
        rows: (updates.len() + deletes.len()) as u64,
    })
}

/// The Avro data block of a log file: `updates` rewritten at commit `version`.
fn data_block(
    ctx: &EncodeCtx,
    version: u16,
    partition: u32,
    partition_path: &str,
    file_id: &str,
    updates: &[u32],
) -> DataBlock {
    let instant = ctx.instant(version);
    let region = ctx
        .partition_values
        .get(partition as usize)
        .map(String::as_str)
        .unwrap_or("");
    let mut block = DataBlock::default();
    let mut row = Row::default();
    for &k in updates {
        ctx.rows.fill(k, version, &mut row);
        let record_key = ctx.key_generator.record_key(row.id, row.customer_id);
        let seqno = ctx.seqno(version, partition, k);
        let meta = LogMeta {
            commit_time: instant,
            seqno: &seqno,
            record_key: &record_key,
            partition_path,
            file_name: file_id,
        };
        block.push(|buf| encode_avro_row(buf, &meta, region, &row));
    }
    block
}

/// The delete records of a log file's delete block; each carries the deleting write's ordering
/// value (`ts` = commit time).
fn delete_records(
    ctx: &EncodeCtx,
    version: u16,
    partition_path: &str,
    deletes: &[u32],
) -> Vec<DeleteRecord> {
    let ordering = ctx.rows.ts_of(version);
    deletes
        .iter()
        .map(|&k| DeleteRecord {
            record_key: ctx
                .key_generator
                .record_key(crate::rows::RowGen::id_of(k), ctx.rows.customer_id_of(k)),
            partition_path: partition_path.to_string(),
            ordering_val: Some(ordering),
        })
        .collect()
}
