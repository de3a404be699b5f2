//! The PostgreSQL server of the benchmark: a throwaway loopback cluster (as the tests use),
//! tuned for bulk loads the way a production server would be (WAL size, checkpoints), one
//! database per contender. Everything talks to it over TCP on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use hps_testkit::postgres::{PgCluster, PgOptions};

use crate::error::{BenchError, Result};
use crate::proc::{Measured, run_measured};

/// The server.
pub struct Server {
    cluster: PgCluster,
    psql: PathBuf,
}

impl Server {
    /// Start the cluster.
    pub fn start() -> Server {
        let settings = [
            ("shared_buffers", "512MB"),
            ("max_wal_size", "8GB"),
            ("checkpoint_timeout", "30min"),
            ("work_mem", "64MB"),
            ("maintenance_work_mem", "256MB"),
            ("wal_compression", "off"),
        ];
        let cluster = PgCluster::start_with(PgOptions {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        });
        let psql = cluster.bindir().join("psql");
        Server { cluster, psql }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// Create database `name`; returns its URL (superuser, no TLS on loopback).
    pub fn database(&self, name: &str) -> String {
        self.cluster
            .psql(&format!("DROP DATABASE IF EXISTS \"{name}\""));
        self.cluster.create_database(name);
        self.url_of(name)
    }

    /// `postgresql://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port())
    }

    /// libpq key=value settings of `db` (for Python clients).
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} sslmode=disable",
            self.port()
        )
    }

    fn psql_cmd(&self, db: &str) -> Command {
        let mut c = Command::new(&self.psql);
        c.args(["-h", "127.0.0.1", "-p", &self.port().to_string()])
            .args(["-U", "postgres", "-d", db])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        c
    }

    /// Run SQL in `db`; returns stdout (unaligned, tuples only).
    pub fn sql(&self, db: &str, sql: &str) -> Result<String> {
        let out = self
            .psql_cmd(db)
            .args(["-c", sql])
            .output()
            .map_err(BenchError::io("running psql"))?;
        if !out.status.success() {
            return Err(BenchError::step(format!(
                "psql {sql:?} in {db}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Run a psql script file in `db`, measured as a child process.
    pub fn script(&self, what: &str, db: &str, script: &Path, log: &Path) -> Result<Measured> {
        let mut c = self.psql_cmd(db);
        c.arg("-f").arg(script);
        run_measured(what, &mut c, log)
    }

    /// Flush dirty buffers so that one contender's writes are not paid by the next.
    pub fn checkpoint(&self) -> Result<()> {
        self.sql("postgres", "CHECKPOINT").map(|_| ())
    }

    /// The URL of an existing database `db` (as [`Server::database`] returns it).
    pub fn url_of(&self, db: &str) -> String {
        format!("{}?sslmode=disable", self.url(db))
    }

    /// `<db>_r<r>`: a copy of database `db` as it stands (`FILE_COPY` on PostgreSQL 15+: the
    /// default WAL_LOG strategy stopped with "buffer is pinned" on 10M-row databases).
    pub fn copy_of(&self, db: &str, r: usize) -> Result<String> {
        let version: u32 = self
            .sql("postgres", "SHOW server_version_num")?
            .parse()
            .map_err(|e| BenchError::step(format!("server_version_num: {e}")))?;
        let strategy = if version >= 150000 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        };
        let copy = format!("{db}_r{r}");
        self.drop_database(&copy)?;
        self.sql(
            "postgres",
            &format!("CREATE DATABASE \"{copy}\" TEMPLATE \"{db}\"{strategy}"),
        )?;
        Ok(copy)
    }

    /// Drop database `name` if it exists.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.sql("postgres", &format!("DROP DATABASE IF EXISTS \"{name}\""))?;
        Ok(())
    }

    /// Before a step: after the first, `VACUUM (ANALYZE)` the contender's database (what
    /// autovacuum does soon after a bulk load; otherwise the next step races it). Untimed.
    pub fn settle(&self, db: &str, step: usize) -> Result<()> {
        if step > 0 {
            self.sql(db, "VACUUM (ANALYZE)")?;
        }
        Ok(())
    }
}

/// A landing table's COPY columns (every column but the defaulted `_hps_landed_at`), with
/// their SQL types, in table order.
pub fn landing_columns(
    server: &Server,
    db: &str,
    landing_q: &str,
) -> Result<Vec<(String, String)>> {
    let out = server.sql(
        db,
        &format!(
            "SELECT attname || E'\\t' || format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = '{landing_q}'::regclass AND attnum > 0 AND NOT attisdropped \
               AND attname <> '{}' ORDER BY attnum",
            hps_postgres::HPS_LANDED_AT
        ),
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect())
}
