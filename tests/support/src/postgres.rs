//! A throwaway PostgreSQL cluster: initdb into a temp dir, listen on a loopback port, run as
//! the unprivileged `postgres` user when the tests run as root (postgres refuses root).
//! Stopped (by pid) and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};

/// Options for [`PgCluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Enable TLS with a fresh throwaway CA and a server certificate for `127.0.0.1`/`localhost`.
    pub tls: bool,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
}

/// Certificates made for a TLS cluster.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM of the CA that signed the server certificate.
    pub ca_cert: PathBuf,
    /// PEM of an unrelated CA (for negative tests).
    pub other_ca_cert: PathBuf,
}

/// A running cluster. The superuser is `postgres` (trust auth on loopback), database `postgres`.
pub struct PgCluster {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Loopback port.
    pub port: u16,
    /// TLS material when started with `tls: true`.
    pub tls: Option<TlsFiles>,
    bindir: PathBuf,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Directory of initdb/postgres: `HPS_PG_BINDIR`, else `pg_config --bindir` if it has initdb,
/// else the newest `/usr/lib/postgresql/*/bin`.
pub fn pg_bindir() -> PathBuf {
    if let Ok(d) = std::env::var("HPS_PG_BINDIR") {
        return PathBuf::from(d);
    }
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binaries found (apt-get install postgresql)")
}

fn as_pg_user(bin: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn chown_to_postgres(path: &Path) {
    if is_root() {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(st.success(), "chown {}", path.display());
    }
}

fn openssl(args: &[&str], cwd: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {:?}: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
}

fn make_tls(dir: &Path) -> TlsFiles {
    make_ca(dir, "ca");
    make_ca(dir, "otherca");
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
    TlsFiles {
        ca_cert: dir.join("ca.crt"),
        other_ca_cert: dir.join("otherca.crt"),
    }
}

impl PgCluster {
    /// Start a plain cluster.
    pub fn start() -> Self {
        Self::start_with(PgOptions::default())
    }

    /// Start a cluster with options.
    pub fn start_with(opts: PgOptions) -> Self {
        let bindir = pg_bindir();
        let dir = tempfile::Builder::new()
            .prefix("hps-pg-")
            .tempdir()
            .expect("tempdir");
        // the postgres user must be able to traverse into the temp dir
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).expect("mkdir sock");
        chown_to_postgres(dir.path());
        let out = as_pg_user(&bindir.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let tls = if opts.tls {
            let certs = dir.path().join("certs");
            std::fs::create_dir_all(&certs).expect("mkdir certs");
            let files = make_tls(&certs);
            std::fs::copy(certs.join("server.crt"), data.join("server.crt")).expect("copy crt");
            std::fs::copy(certs.join("server.key"), data.join("server.key")).expect("copy key");
            chown_to_postgres(&data);
            let _ = Command::new("chmod")
                .arg("600")
                .arg(data.join("server.key"))
                .status();
            // hostssl only: a non-TLS connection is refused
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            )
            .expect("write pg_hba");
            chown_to_postgres(&data);
            Some(files)
        } else {
            None
        };

        let port = free_port();
        let mut cmd = as_pg_user(&bindir.join("postgres"));
        cmd.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", sock.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=128MB"]);
        if opts.tls {
            cmd.args(["-c", "ssl=on"]);
        }
        for (k, v) in &opts.settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        cmd.stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().expect("spawn postgres");
        let me = PgCluster {
            dir,
            child: Some(child),
            port,
            tls,
            bindir,
        };
        if !wait_for_port(port, Duration::from_secs(30)) {
            panic!("postgres did not start on port {port}: {}", me.log());
        }
        // accept connections only once recovery finished
        for _ in 0..100 {
            let ok = Command::new(me.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // a non-superuser role for the product (what a real deployment would use)
        me.psql("CREATE ROLE app LOGIN CREATEDB");
        me.psql("CREATE DATABASE app OWNER app");
        me
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres` (superuser).
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// URL of database `db` as user `user`.
    pub fn url_for(&self, user: &str, db: &str) -> String {
        format!("postgresql://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Create a fresh database (owned by `postgres`) and return its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE \"{name}\";"));
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Run SQL with the server's psql as superuser over the unix socket; returns stdout
    /// (unaligned, tuples only). Panics on error.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// Like [`Self::psql`] in database `db`.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-h",
                &self.dir.path().join("sock").to_string_lossy(),
                "-p",
                &self.port.to_string(),
            ])
            .args([
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-A",
                "-t",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The directory of the server binaries.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Connect with tokio-postgres (no TLS) as superuser to `postgres`.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connect to test postgres");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// Stop the server now (fast shutdown), waiting for the process to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT = fast shutdown; runuser forwards signals to its child
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            // runuser may have left postgres itself: kill by postmaster.pid
            if let Ok(pidfile) =
                std::fs::read_to_string(self.dir.path().join("data").join("postmaster.pid"))
                && let Some(pid) = pidfile.lines().next()
            {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
