//! The fence: one row per (pipeline, table) in PostgreSQL (`"<schema>"."hudi_sync_state"`),
//! written in the same transaction as the staging upsert, with a compare-and-set on its
//! version. It is the only record committed atomically with the data, so it is the truth
//! about what staging holds; the bookmark store mirrors it (see `docs/sync-protocol.md`).
//!
//! Also here: the resync key table (`hudi_sync_resync_keys`), which collects the keys a
//! resync snapshot delivered so that staging rows absent from the snapshot can be removed.

use chrono::{DateTime, Utc};
use hps_postgres::tokio_postgres::{Client, GenericClient, Row, Transaction};
use hps_postgres::{
    DeletePolicy, HPS_DELETED, HPS_DELETED_AT, Ident, PgError, TargetTable, quote_ident,
};
use tracing::{debug, info};

use crate::bookmark::{Position, SliceCursor};

/// Name of the fence table (in the target's schema).
pub const FENCE_TABLE: &str = "hudi_sync_state";
/// Name of the resync key table (in the target's schema).
pub const RESYNC_KEYS_TABLE: &str = "hudi_sync_resync_keys";

/// What the fence says about the table's staging contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceStatus {
    /// Incremental sync.
    Active,
    /// The incremental history is gone or was rewritten; a resync is required.
    NeedsResync {
        /// Why.
        reason: String,
    },
    /// A resync (snapshot load) is in progress; `resync_id` tags the keys it collected.
    Resyncing {
        /// Id of this resync.
        resync_id: String,
    },
}

impl FenceStatus {
    fn parts(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            FenceStatus::Active => ("active", None, None),
            FenceStatus::NeedsResync { reason } => ("needs_resync", Some(reason), None),
            FenceStatus::Resyncing { resync_id } => ("resyncing", None, Some(resync_id)),
        }
    }

    /// Short name (`active`, `needs_resync`, `resyncing`).
    pub fn name(&self) -> &'static str {
        self.parts().0
    }
}

/// One fence row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// Pipeline name.
    pub pipeline: String,
    /// Table id.
    pub table: String,
    /// Compare-and-set counter: +1 on every write (0 = initialized, never applied).
    pub version: i64,
    /// Last fully applied instant (`None`: nothing yet, or a resync in progress).
    pub position: Option<Position>,
    /// Hudi table version the position belongs to (0 = unknown).
    pub table_version: u32,
    /// Progress inside a partially applied window.
    pub cursor: Option<SliceCursor>,
    /// Change rows applied in total.
    pub rows_applied: u64,
    /// Status.
    pub status: FenceStatus,
    /// With [`FenceStatus::NeedsResync`]: the history was rewritten (a rollback or restore of
    /// applied instants), so staging may hold row versions the table no longer has and the
    /// resync must reload ([`crate::ResyncMode::Reload`]) rather than merge.
    pub needs_reload: bool,
    /// Load id of the last transaction that wrote the fence.
    pub load_id: Option<String>,
    /// Qualified staging table the fence describes.
    pub staging: Option<String>,
    /// When the fence was last written (database clock).
    pub applied_at: DateTime<Utc>,
}

/// Errors of fence operations: PostgreSQL failed, or the compare-and-set lost.
#[derive(Debug)]
pub enum FenceError {
    /// PostgreSQL failed.
    Pg(PgError),
    /// The row's version was not the expected one.
    Moved {
        /// Expected version.
        expected: i64,
        /// Found version (`None`: no row).
        found: Option<i64>,
    },
}

impl From<PgError> for FenceError {
    fn from(e: PgError) -> Self {
        FenceError::Pg(e)
    }
}

fn db(context: impl Into<String>) -> impl FnOnce(hps_postgres::tokio_postgres::Error) -> PgError {
    let c = context.into();
    move |e| PgError::db(c, e)
}

/// FNV-1a 64 (the same advisory-lock key derivation as hps-postgres' DDL lock, so that
/// fence DDL and table DDL in one schema serialize).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const COLUMNS: &str = "pipeline, table_id, fence_version, requested_time, completion_time, table_version, \
                       cursor::text, rows_applied, status, status_reason, resync_id, load_id, staging, applied_at, \
                       resync_reload";

/// The fence table of one PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct FenceTable {
    schema: Ident,
    fence_q: String,
    keys_q: String,
}

impl FenceTable {
    /// The fence of `schema`.
    pub fn new(schema: &str) -> Result<Self, PgError> {
        let schema = Ident::new(schema)?;
        let fence_q = format!("{}.{}", schema, quote_ident(FENCE_TABLE));
        let keys_q = format!("{}.{}", schema, quote_ident(RESYNC_KEYS_TABLE));
        Ok(FenceTable {
            schema,
            fence_q,
            keys_q,
        })
    }

    /// The fence of a target's schema.
    pub fn for_target(spec: &TargetTable) -> Result<Self, PgError> {
        Self::new(&spec.schema)
    }

    /// Qualified fence table name.
    pub fn qualified(&self) -> &str {
        &self.fence_q
    }

    /// Create the schema, the fence table and the resync key table if absent.
    pub async fn ensure(&self, client: &mut Client) -> Result<(), PgError> {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                &[&self.fence_q, &self.keys_q],
            )
            .await
            .map_err(db(format!("checking {}", self.fence_q)))?
            .get(0);
        if exists {
            return Ok(());
        }
        let tx = client.transaction().await.map_err(db("begin fence DDL"))?;
        let lock_key = fnv1a64(format!("hps-ddl:{}", self.schema.as_str()).as_bytes()) as i64;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
            .await
            .map_err(db("fence DDL lock"))?;
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};\n\
             CREATE TABLE IF NOT EXISTS {fence} (\n  \
               pipeline text NOT NULL,\n  table_id text NOT NULL,\n  fence_version bigint NOT NULL DEFAULT 0,\n  \
               requested_time text,\n  completion_time text,\n  table_version integer NOT NULL DEFAULT 0,\n  \
               cursor jsonb,\n  rows_applied bigint NOT NULL DEFAULT 0,\n  \
               status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_resync', 'resyncing')),\n  \
               status_reason text,\n  resync_reload boolean NOT NULL DEFAULT false,\n  resync_id text,\n  load_id text,\n  staging text,\n  \
               applied_at timestamp with time zone NOT NULL DEFAULT now(),\n  \
               PRIMARY KEY (pipeline, table_id)\n);\n\
             CREATE TABLE IF NOT EXISTS {keys} (\n  \
               pipeline text NOT NULL,\n  table_id text NOT NULL,\n  resync_id text NOT NULL,\n  \
               record_key text NOT NULL,\n  partition_path text NOT NULL DEFAULT '',\n  \
               PRIMARY KEY (pipeline, table_id, resync_id, record_key, partition_path)\n)",
            schema = self.schema,
            fence = self.fence_q,
            keys = self.keys_q,
        );
        info!(fence = %self.fence_q, "creating the fence table");
        tx.batch_execute(&ddl)
            .await
            .map_err(db(format!("creating {}", self.fence_q)))?;
        tx.commit().await.map_err(db("commit fence DDL"))?;
        Ok(())
    }

    fn decode(&self, row: &Row) -> Result<Fence, PgError> {
        let corrupt = |what: &str, e: String| PgError::InvalidSpec {
            table: self.fence_q.clone(),
            reason: format!("fence row has an unreadable {what}: {e}"),
        };
        let requested: Option<String> = row.get(3);
        let completion: Option<String> = row.get(4);
        let position = requested.map(|r| Position {
            requested_time: r,
            completion_time: completion,
        });
        let cursor: Option<String> = row.get(6);
        let cursor = cursor
            .map(|c| serde_json::from_str::<SliceCursor>(&c))
            .transpose()
            .map_err(|e| corrupt("cursor", e.to_string()))?;
        let status: String = row.get(8);
        let reason: Option<String> = row.get(9);
        let resync_id: Option<String> = row.get(10);
        let status = match status.as_str() {
            "active" => FenceStatus::Active,
            "needs_resync" => FenceStatus::NeedsResync {
                reason: reason.unwrap_or_default(),
            },
            "resyncing" => FenceStatus::Resyncing {
                resync_id: resync_id
                    .ok_or_else(|| corrupt("status", "resyncing without a resync id".into()))?,
            },
            other => return Err(corrupt("status", format!("{other:?}"))),
        };
        let table_version: i32 = row.get(5);
        let rows_applied: i64 = row.get(7);
        Ok(Fence {
            pipeline: row.get(0),
            table: row.get(1),
            version: row.get(2),
            position,
            table_version: u32::try_from(table_version).unwrap_or(0),
            cursor,
            rows_applied: u64::try_from(rows_applied).unwrap_or(0),
            status,
            load_id: row.get(11),
            staging: row.get(12),
            applied_at: row.get(13),
            needs_reload: row.get(14),
        })
    }

    /// The fence row, if any.
    pub async fn read<C: GenericClient + Sync>(
        &self,
        c: &C,
        pipeline: &str,
        table: &str,
    ) -> Result<Option<Fence>, PgError> {
        let row = c
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM {} WHERE pipeline = $1 AND table_id = $2",
                    self.fence_q
                ),
                &[&pipeline, &table],
            )
            .await
            .map_err(db(format!("reading {}", self.fence_q)))?;
        row.map(|r| self.decode(&r)).transpose()
    }

    /// The fence row, created (version 0, no position) when absent.
    pub async fn read_or_init(
        &self,
        c: &Client,
        pipeline: &str,
        table: &str,
        staging: &str,
    ) -> Result<Fence, PgError> {
        if let Some(f) = self.read(c, pipeline, table).await? {
            return Ok(f);
        }
        c.execute(
            &format!(
                "INSERT INTO {} (pipeline, table_id, staging) VALUES ($1, $2, $3) \
                 ON CONFLICT (pipeline, table_id) DO NOTHING",
                self.fence_q
            ),
            &[&pipeline, &table, &staging],
        )
        .await
        .map_err(db(format!("initializing {}", self.fence_q)))?;
        self.read(c, pipeline, table)
            .await?
            .ok_or_else(|| PgError::InvalidSpec {
                table: self.fence_q.clone(),
                reason: format!(
                    "fence row of {pipeline}/{table} vanished right after it was created"
                ),
            })
    }

    /// Another table synced into `staging`: the pipeline and table id of a fence row, other
    /// than `pipeline`/`table`'s, that names the same staging table. Two tables must never
    /// share one (their rows, versions and deletes would mix).
    pub async fn other_writer(
        &self,
        c: &Client,
        pipeline: &str,
        table: &str,
        staging: &str,
    ) -> Result<Option<(String, String)>, PgError> {
        let row = c
            .query_opt(
                &format!(
                    "SELECT pipeline, table_id FROM {} WHERE staging = $3 \
                     AND (pipeline, table_id) <> ($1, $2) ORDER BY pipeline, table_id LIMIT 1",
                    self.fence_q
                ),
                &[&pipeline, &table, &staging],
            )
            .await
            .map_err(db(format!("reading {}", self.fence_q)))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Compare-and-set: store `new` (keyed by its pipeline and table) if the row's version is
    /// `expected`; the stored row gets version `expected + 1` and is returned. Run it inside
    /// the transaction whose data it describes.
    pub async fn write(
        &self,
        tx: &Transaction<'_>,
        new: &Fence,
        expected: i64,
    ) -> Result<Fence, FenceError> {
        let cursor = new
            .cursor
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| PgError::InvalidSpec {
                table: self.fence_q.clone(),
                reason: format!("cursor: {e}"),
            })?;
        let (status, reason, resync_id) = new.status.parts();
        let reload = new.needs_reload && matches!(new.status, FenceStatus::NeedsResync { .. });
        let requested = new.position.as_ref().map(|p| p.requested_time.as_str());
        let completion = new
            .position
            .as_ref()
            .and_then(|p| p.completion_time.as_deref());
        let table_version = i32::try_from(new.table_version).unwrap_or(i32::MAX);
        let rows = i64::try_from(new.rows_applied).unwrap_or(i64::MAX);
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE {} SET fence_version = fence_version + 1, requested_time = $3, completion_time = $4, \
                     table_version = $5, cursor = $6::text::jsonb, rows_applied = $7, status = $8, status_reason = $9, \
                     resync_id = $10, load_id = $11, staging = $12, resync_reload = $14, applied_at = now() \
                     WHERE pipeline = $1 AND table_id = $2 AND fence_version = $13 RETURNING {COLUMNS}",
                    self.fence_q
                ),
                &[
                    &new.pipeline,
                    &new.table,
                    &requested,
                    &completion,
                    &table_version,
                    &cursor,
                    &rows,
                    &status,
                    &reason,
                    &resync_id,
                    &new.load_id,
                    &new.staging,
                    &expected,
                    &reload,
                ],
            )
            .await
            .map_err(db(format!("updating {}", self.fence_q)))?;
        match row {
            Some(r) => {
                let f = self.decode(&r)?;
                debug!(fence = %self.fence_q, table = %f.table, version = f.version, "fence written");
                Ok(f)
            }
            None => {
                let found = self
                    .read(tx, &new.pipeline, &new.table)
                    .await?
                    .map(|f| f.version);
                Err(FenceError::Moved { expected, found })
            }
        }
    }

    /// Record keys a resync delivered (`record_keys[i]` with `partition_paths[i]`).
    pub async fn insert_resync_keys(
        &self,
        tx: &Transaction<'_>,
        pipeline: &str,
        table: &str,
        resync_id: &str,
        record_keys: &[String],
        partition_paths: &[String],
    ) -> Result<u64, PgError> {
        const CHUNK: usize = 50_000;
        let mut n = 0;
        for (keys, parts) in record_keys.chunks(CHUNK).zip(partition_paths.chunks(CHUNK)) {
            n += tx
                .execute(
                    &format!(
                        "INSERT INTO {} (pipeline, table_id, resync_id, record_key, partition_path) \
                         SELECT $1, $2, $3, k, p FROM unnest($4::text[], $5::text[]) AS u(k, p) ON CONFLICT DO NOTHING",
                        self.keys_q
                    ),
                    &[&pipeline, &table, &resync_id, &keys, &parts],
                )
                .await
                .map_err(db(format!("recording resync keys in {}", self.keys_q)))?;
        }
        Ok(n)
    }

    /// Forget every collected resync key of a table.
    pub async fn clear_resync_keys(
        &self,
        tx: &Transaction<'_>,
        pipeline: &str,
        table: &str,
    ) -> Result<u64, PgError> {
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE pipeline = $1 AND table_id = $2",
                self.keys_q
            ),
            &[&pipeline, &table],
        )
        .await
        .map_err(db(format!("clearing {}", self.keys_q)))
    }

    /// End of a resync: remove (hard policy) or mark deleted (soft policy) every staging row
    /// whose key the snapshot did not deliver. Returns the number of rows affected.
    pub async fn remove_absent_keys(
        &self,
        tx: &Transaction<'_>,
        spec: &TargetTable,
        pipeline: &str,
        table: &str,
        resync_id: &str,
    ) -> Result<u64, PgError> {
        let names = spec.validate()?;
        let staging = names.staging_q();
        let exists: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&staging])
            .await
            .map_err(db(format!("checking {staging}")))?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let rk = quote_ident(hps_postgres::COL_RECORD_KEY);
        let pp = quote_ident(hps_postgres::COL_PARTITION_PATH);
        let mut matches = format!(
            "k.pipeline = $1 AND k.table_id = $2 AND k.resync_id = $3 AND k.record_key = s.{rk}"
        );
        if spec
            .key_columns
            .iter()
            .any(|k| k == hps_postgres::COL_PARTITION_PATH)
        {
            matches.push_str(&format!(" AND k.partition_path = COALESCE(s.{pp}, '')"));
        }
        let absent = format!(
            "NOT EXISTS (SELECT 1 FROM {} k WHERE {matches})",
            self.keys_q
        );
        let sql = match spec.delete_policy {
            DeletePolicy::Hard => format!("DELETE FROM {staging} s WHERE {absent}"),
            DeletePolicy::Soft => format!(
                "UPDATE {staging} s SET {del} = true, {del_at} = now() WHERE NOT s.{del} AND {absent}",
                del = quote_ident(HPS_DELETED),
                del_at = quote_ident(HPS_DELETED_AT),
            ),
        };
        let n = tx
            .execute(&sql, &[&pipeline, &table, &resync_id])
            .await
            .map_err(db(format!(
                "{staging}: removing rows absent from the resync snapshot"
            )))?;
        Ok(n)
    }

    /// Empty staging and tombstones of `spec` (reset, reload resync). Absent tables are skipped.
    pub async fn truncate_target(
        &self,
        tx: &Transaction<'_>,
        spec: &TargetTable,
    ) -> Result<(), PgError> {
        let names = spec.validate()?;
        for q in [names.staging_q(), names.tombstones_q()] {
            let exists: bool = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
                .await
                .map_err(db(format!("checking {q}")))?
                .get(0);
            if exists {
                tx.batch_execute(&format!("TRUNCATE {q}"))
                    .await
                    .map_err(db(format!("truncating {q}")))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_matches_fnv1a() {
        // FNV-1a 64 test vectors
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn names_are_quoted() {
        let f = FenceTable::new("Lake \"x\"").unwrap();
        assert_eq!(f.qualified(), "\"Lake \"\"x\"\"\".\"hudi_sync_state\"");
        assert!(FenceTable::new("").is_err());
    }
}
