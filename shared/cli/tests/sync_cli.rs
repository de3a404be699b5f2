//! The sync commands of the `hudi-pg-sync` binary against a real PostgreSQL: `run` (step,
//! to-latest, `--watch` with new commits arriving and Ctrl-C, busy leases), `status` (text
//! and JSON), `rewind`, `reset`, `resync`, `pause`/`resume`, usage errors, and `status` +
//! `rewind` with bookmarks in DynamoDB on a local moto server. Staging is checked against the
//! generator's manifest (an oracle independent of the reader and the sync).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use hps_gen::{GenConfig, Manifest, TableType, TableVersion};
use hps_testkit::moto::MotoServer;
use hps_testkit::postgres::PgCluster;
use serde_json::Value;

static PG: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
static SEQ: AtomicU64 = AtomicU64::new(0);

/// One PostgreSQL cluster for the tests running at the same time.
fn pg() -> Arc<PgCluster> {
    let mut g = PG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = g.upgrade() {
        return p;
    }
    let p = Arc::new(PgCluster::start());
    *g = Arc::downgrade(&p);
    p
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A test's world: a database, a temp dir with the bookmarks, tables generated into it.
struct World {
    pg: Arc<PgCluster>,
    db: String,
    url: String,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    bookmarks: String,
}

impl World {
    fn new() -> World {
        let pg = pg();
        let db = unique("db");
        let url = pg.create_database(&db);
        let dir = tempfile::tempdir().unwrap();
        let bookmarks = dir.path().join("bookmarks").to_str().unwrap().to_string();
        World {
            pg,
            db,
            url,
            dir,
            env: vec![],
            bookmarks,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hudi-pg-sync"));
        c.args(args)
            .env("HPS_POSTGRES_URL", &self.url)
            .env("HPS_BOOKMARKS", &self.bookmarks)
            .env_remove("HPS_PIPELINE")
            .env_remove("HPS_PG_SCHEMA")
            .env_remove("HPS_DELETE_MODE")
            .env_remove("RUST_LOG");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn hps(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run hudi-pg-sync")
    }

    /// Run and expect success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.hps(args);
        assert!(
            o.status.success(),
            "hudi-pg-sync {args:?} failed ({}):\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn status_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["status", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).expect("status JSON")
    }

    fn sql(&self, q: &str) -> String {
        self.pg.psql_db(&self.db, q)
    }

    /// `id|_hoodie_commit_time|revision` of every staging row.
    fn staging(&self, qualified: &str) -> BTreeMap<i64, (String, i64)> {
        self.sql(&format!(
            "SELECT id, _hoodie_commit_time, revision FROM {qualified} ORDER BY id"
        ))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].parse().unwrap(),
                (f[1].to_string(), f[2].parse().unwrap()),
            )
        })
        .collect()
    }
}

/// A generated COW table (inserts, updates and deletes).
struct Table {
    path: PathBuf,
    manifest: Manifest,
}

impl Table {
    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// What staging must hold after `n` commits: id -> (commit time, revision).
    fn expected_after(&self, n: usize) -> BTreeMap<i64, (String, i64)> {
        let mut m = BTreeMap::new();
        for (v, c) in self.manifest.commits.iter().enumerate().take(n) {
            for id in c.upserted_ids() {
                m.insert(id, (c.instant.clone(), v as i64));
            }
            for id in &c.deleted {
                m.remove(id);
            }
        }
        m
    }

    fn expected(&self) -> BTreeMap<i64, (String, i64)> {
        let all = self.expected_after(self.manifest.commits.len());
        // the manifest's own final state agrees
        let state = self.manifest.expected_state();
        assert_eq!(all.len(), state.len());
        for (id, v) in &state {
            assert_eq!(all[id].1, i64::from(*v), "id {id}");
        }
        all
    }
}

fn gen_cfg(name: &str, commits: u32) -> GenConfig {
    GenConfig {
        table_name: name.to_string(),
        table_type: TableType::CopyOnWrite,
        table_version: TableVersion::V9,
        partitions: 2,
        rows: 120,
        commits,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 50,
        row_group_rows: 32,
        threads: 1,
        ..Default::default()
    }
}

async fn gen_table(dir: &Path, name: &str, commits: u32) -> Table {
    let path = dir.join(name);
    let r = hps_gen::generate_local(&path, &gen_cfg(name, commits))
        .await
        .expect("generate");
    Table {
        path,
        manifest: r.manifest,
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_step_status_rewind_reset() {
    let w = World::new();
    let t = gen_table(w.dir.path(), "orders", 4).await;
    let n = t.manifest.commits.len();

    // commit by commit: one line per instant, then the summary
    let out = w.ok(&["run", "--table", t.path(), "--step"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), n, "{out}");
    for (i, (l, c)) in lines.iter().zip(&t.manifest.commits).enumerate() {
        assert!(
            l.starts_with(&format!("[{}/{n}] {}", i + 1, c.instant)),
            "{l}"
        );
        let rows = c.upserted_ids().len() + c.deleted.len();
        assert!(
            l.ends_with(&format!(" {rows} change rows")),
            "line {l:?}: expected {rows} change rows"
        );
    }
    assert!(out.contains(&format!("applied {n} instants in ")), "{out}");
    assert!(out.contains("up to date · lag 0 s"), "{out}");
    assert_eq!(w.staging("hudi.orders"), t.expected());

    // the second run has nothing to do
    let out = w.ok(&["run", "--table", t.path()]);
    let last = t.manifest.commits.last().unwrap();
    assert!(
        out.starts_with(&format!(
            "nothing to do: {} is up to date at {}",
            canonical(&t.path),
            last.instant
        )),
        "{out}"
    );

    // status: text and JSON
    let text = w.ok(&["status"]);
    assert!(text.starts_with(&canonical(&t.path)), "{text}");
    assert!(text.contains("  state            up to date"), "{text}");
    assert!(text.contains("mirrors the fence"), "{text}");
    let s = w.status_json(&[]);
    assert_eq!(s["pipeline"], "default");
    let tables = s["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1);
    let st = &tables[0];
    assert_eq!(st["table"], canonical(&t.path));
    assert_eq!(st["state"], "up_to_date");
    assert_eq!(st["staging"], "\"hudi\".\"orders\"");
    assert_eq!(st["landing"], "\"hudi\".\"orders__landing\"");
    assert_eq!(st["fence_table"], "\"hudi\".\"hudi_sync_state\"");
    assert_eq!(st["delete_policy"], "hard");
    assert_eq!(st["tombstone_column"], Value::Null);
    assert_eq!(st["tombstone_table"], "\"hudi\".\"orders__tombstones\"");
    assert_eq!(st["staging_exists"], true);
    assert_eq!(st["instants_behind"], 0);
    assert_eq!(st["lag_seconds"], 0);
    assert_eq!(st["bookmark_in_sync"], true);
    assert_eq!(
        st["latest_instant"]["requested_time"],
        last.instant.as_str()
    );
    assert_eq!(
        st["fence"]["position"]["requested_time"],
        last.instant.as_str()
    );
    assert_eq!(
        st["fence"]["position"]["completion_time"],
        last.completion.clone().unwrap().as_str()
    );
    assert_eq!(
        st["bookmark"]["position"]["requested_time"],
        last.instant.as_str()
    );
    let rows: u64 = t
        .manifest
        .commits
        .iter()
        .map(|c| (c.upserted_ids().len() + c.deleted.len()) as u64)
        .sum();
    assert_eq!(st["fence"]["rows_applied"], rows);
    assert_eq!(st["bookmark"]["rows_applied"], rows);
    assert_eq!(st["lease"], Value::Null);

    // rewind to the second commit: status shows the rest behind, run re-applies it
    let second = &t.manifest.commits[1];
    let out = w.ok(&["rewind", "--table", t.path(), "--to", &second.instant]);
    assert!(out.contains(&format!("-> {}", second.instant)), "{out}");
    assert!(out.contains(&format!("{} instants behind", n - 2)), "{out}");
    let st = &w.status_json(&["--table", t.path()])["tables"][0];
    assert_eq!(st["state"], "behind");
    assert_eq!(st["instants_behind"], n - 2);
    assert!(st["lag_seconds"].as_u64().unwrap() > 0);
    assert_eq!(
        st["fence"]["position"]["requested_time"],
        second.instant.as_str()
    );
    assert_eq!(
        st["bookmark"]["position"]["requested_time"],
        second.instant.as_str()
    );
    let out = w.ok(&["run", "--table", t.path(), "--step"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with('[')).count(),
        n - 2,
        "{out}"
    );
    assert!(
        out.contains(&format!("[1/{}] {}", n - 2, t.manifest.commits[2].instant)),
        "{out}"
    );
    assert_eq!(w.staging("hudi.orders"), t.expected());

    // rewinding forward, or to an unknown instant, is refused
    let o = w.hps(&["rewind", "--table", t.path(), "--to", "20990101000000000"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("rewind of"), "{}", stderr(&o));

    // reset needs --yes, then empties staging; the next run reloads everything
    let o = w.hps(&["reset", "--table", t.path()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"));
    assert_eq!(
        w.sql("SELECT count(*) FROM hudi.orders").trim(),
        t.expected().len().to_string()
    );
    let out = w.ok(&["reset", "--table", t.path(), "--yes"]);
    assert!(out.contains("staging \"hudi\".\"orders\" emptied"), "{out}");
    assert_eq!(w.sql("SELECT count(*) FROM hudi.orders").trim(), "0");
    let st = &w.status_json(&[])["tables"][0];
    assert_eq!(st["fence"]["position"], Value::Null);
    assert_eq!(st["instants_behind"], n);
    // to latest this time: one pass, one line
    let out = w.ok(&["run", "--table", t.path()]);
    assert!(out.contains(&format!("[{n}/{n}] {n} instants")), "{out}");
    assert_eq!(w.staging("hudi.orders"), t.expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_soft_deletes_show_in_status() {
    let w = World::new();
    let t = gen_table(w.dir.path(), "trades", 1).await;
    w.ok(&[
        "run",
        "--table",
        t.path(),
        "--schema",
        "lake",
        "--delete-mode",
        "soft",
        "--step",
    ]);
    // deleted keys stay as tombstone rows, marked
    let deleted: BTreeSet<i64> = t.manifest.commits[1].deleted.iter().copied().collect();
    assert!(!deleted.is_empty());
    let marked: BTreeSet<i64> = w
        .sql("SELECT id FROM lake.trades WHERE _hps_deleted ORDER BY id")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(marked, deleted);
    let mut live = w.staging("lake.trades");
    live.retain(|id, _| !deleted.contains(id));
    assert_eq!(live, t.expected());
    let st = &w.status_json(&["--schema", "lake", "--delete-mode", "soft"])["tables"][0];
    assert_eq!(st["staging"], "\"lake\".\"trades\"");
    assert_eq!(st["fence_table"], "\"lake\".\"hudi_sync_state\"");
    assert_eq!(st["delete_policy"], "soft");
    assert_eq!(st["tombstone_column"], "_hps_deleted");
    assert_eq!(st["tombstone_table"], Value::Null);
    // the policy reported is the staging table's, even when the flag is forgotten
    let st = &w.status_json(&["--schema", "lake"])["tables"][0];
    assert_eq!(st["delete_policy"], "soft");
    // a database without the table: the fence is absent, nothing is created by status
    let other = World {
        bookmarks: w.bookmarks.clone(),
        ..World::new()
    };
    let st = &other.status_json(&["--schema", "lake"])["tables"][0];
    assert_eq!(st["state"], "new");
    assert_eq!(st["staging_exists"], false);
    assert_eq!(st["fence"], Value::Null);
    assert_eq!(st["bookmark_in_sync"], false);
}

/// Copy the table's files that belong to instants requested before `before` (data files and
/// timeline files carry their instant times in their names): data first, then `.hoodie/`, so
/// a watcher never sees a completed instant before its files.
fn copy_until(from: &Path, to: &Path, before: &str) {
    copy_files(from, to, before, &|p| !p.ends_with(".hoodie"));
    copy_files(&from.join(".hoodie"), &to.join(".hoodie"), before, &|_| {
        true
    });
}

fn copy_files(from: &Path, to: &Path, before: &str, keep: &dyn Fn(&Path) -> bool) {
    fn times(name: &str) -> Vec<&str> {
        let b = name.as_bytes();
        let mut out = vec![];
        let mut i = 0;
        while i + 17 <= b.len() {
            if b[i..i + 17].iter().all(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_digit())
                && (i + 17 == b.len() || !b[i + 17].is_ascii_digit())
            {
                out.push(&name[i..i + 17]);
                i += 17;
            } else {
                i += 1;
            }
        }
        out
    }
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let target = to.join(&name);
        if !keep(&p) {
            continue;
        }
        if p.is_dir() {
            copy_files(&p, &target, before, &|_| true);
        } else if times(&name).iter().all(|t| *t < before) && !target.exists() {
            // data first, then the timeline: write to a temp name and rename
            let tmp = to.join(format!(".{name}.tmp"));
            std::fs::copy(&p, &tmp).unwrap();
            std::fs::rename(&tmp, &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_applies_new_commits_then_stops_on_ctrl_c() {
    let w = World::new();
    let full = gen_table(w.dir.path(), "events", 3).await;
    let commits = &full.manifest.commits;
    let live = w.dir.path().join("live").join("events");
    // the first two commits exist when the watch starts
    copy_until(&full.path, &live, &commits[2].instant);
    let mut child = w
        .cmd(&[
            "run",
            "--table",
            live.to_str().unwrap(),
            "--watch",
            "--interval",
            "0.3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = vec![];
    let wait_for = |pat: &str, seen: &mut Vec<String>| {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if seen.iter().any(|l| l.contains(pat)) {
                return;
            }
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => seen.push(l),
                Err(_) => panic!(
                    "no line with {pat:?} within 60 s; got:\n{}",
                    seen.join("\n")
                ),
            }
        }
    };
    wait_for("watching for new commits", &mut seen);
    assert_eq!(w.staging("hudi.events"), full.expected_after(2));
    // two more commits complete while it watches
    copy_until(&full.path, &live, "99999999999999999");
    wait_for(&commits[3].instant, &mut seen);
    // Ctrl-C: the summary, exit 0
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(l);
    }
    let out = seen.join("\n");
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("stopping after the current pass"), "{err}");
    assert!(
        out.contains(&format!("applied {} instants", commits.len())),
        "{out}"
    );
    assert!(out.contains("(stopped by Ctrl-C)"), "{out}");
    // one line per instant, each with the time of day
    for c in commits {
        assert!(out.contains(&c.instant), "{} missing:\n{out}", c.instant);
    }
    assert_eq!(w.staging("hudi.events"), full.expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_lease_exits_5_or_waits() {
    use hps_sync::LeaseStore;
    let w = World::new();
    let t = gen_table(w.dir.path(), "busy", 1).await;
    let store = hps_sync::FileBookmarkStore::new(&w.bookmarks);
    let id = canonical(&t.path);
    let lease = store
        .acquire("default", &id, "someone-else", Duration::from_secs(6))
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    let o = w.hps(&["run", "--table", t.path()]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("someone-else"), "{}", stderr(&o));
    let st = &w.status_json(&[])["tables"];
    // no bookmark yet: status lists nothing; name the table
    assert_eq!(st.as_array().unwrap().len(), 0);
    let st = &w.status_json(&["--table", t.path()])["tables"][0];
    assert_eq!(st["lease"]["owner"], "someone-else");
    // --wait waits the lease out
    let started = Instant::now();
    let out = w.ok(&["run", "--table", t.path(), "--wait"]);
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait");
    assert!(out.contains("applied 2 instants"), "{out}");
    assert_eq!(w.staging("hudi.busy"), t.expected());
    drop(lease);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_resync() {
    let w = World::new();
    let t = gen_table(w.dir.path(), "paused", 2).await;
    let n = t.manifest.commits.len();
    let out = w.ok(&["pause", "--table", t.path(), "--reason", "maintenance"]);
    assert!(out.starts_with("paused "), "{out}");
    let out = w.ok(&["run", "--table", t.path()]);
    assert!(
        out.contains("is paused (maintenance): nothing applied"),
        "{out}"
    );
    let st = &w.status_json(&[])["tables"][0];
    assert_eq!(st["state"], "paused");
    assert_eq!(st["bookmark"]["reason"], "maintenance");
    let o = w.hps(&["resync", "--table", t.path()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = w.ok(&["resume", "--table", t.path()]);
    assert!(out.starts_with("resumed "), "{out}");
    let out = w.ok(&["resume", "--table", t.path()]);
    assert!(out.contains("is not paused"), "{out}");
    w.ok(&["run", "--table", t.path()]);
    assert_eq!(w.staging("hudi.paused"), t.expected());

    // a row staging should not have: resync (merge) removes it, keeps the rest
    w.sql(
        "CREATE TEMP TABLE extra AS SELECT * FROM hudi.paused LIMIT 1; \
         UPDATE extra SET id = 999999, _hoodie_record_key = '999999'; \
         INSERT INTO hudi.paused SELECT * FROM extra;",
    );
    assert_eq!(w.staging("hudi.paused").len(), t.expected().len() + 1);
    let out = w.ok(&["resync", "--table", t.path()]);
    assert!(out.contains("(auto: "), "{out}");
    assert!(
        out.contains("1 staging row absent from the snapshot removed"),
        "{out}"
    );
    assert_eq!(w.staging("hudi.paused"), t.expected());
    let out = w.ok(&["resync", "--table", t.path(), "--reload"]);
    assert!(out.contains("(reload)"), "{out}");
    assert_eq!(w.staging("hudi.paused"), t.expected());
    w.sql(
        "CREATE TEMP TABLE extra AS SELECT * FROM hudi.paused LIMIT 1; \
         UPDATE extra SET id = 999998, _hoodie_record_key = '999998'; \
         INSERT INTO hudi.paused SELECT * FROM extra;",
    );
    let out = w.ok(&["resync", "--table", t.path(), "--merge"]);
    assert!(out.contains("(merge)"), "{out}");
    assert!(
        out.contains("1 staging row absent from the snapshot removed"),
        "{out}"
    );
    assert_eq!(w.staging("hudi.paused"), t.expected());
    let o = w.hps(&["resync", "--table", t.path(), "--merge", "--reload"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let st = &w.status_json(&[])["tables"][0];
    assert_eq!(st["state"], "up_to_date");
    assert_eq!(
        st["fence"]["position"]["requested_time"],
        t.manifest.commits[n - 1].instant.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let w = World::new();
    let missing = w.dir.path().join("nope");
    let o = w.hps(&["run", "--table", missing.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot resolve the path"),
        "{}",
        stderr(&o)
    );
    let t = gen_table(w.dir.path(), "u", 0).await;
    for (args, needle) in [
        (
            vec!["run", "--table", t.path(), "--bookmarks", "s3://x/y"],
            "unsupported scheme",
        ),
        (
            vec![
                "run",
                "--table",
                t.path(),
                "--postgres",
                "postgresql://h/db?bogus=1",
            ],
            "unknown connection parameter",
        ),
        (
            vec!["run", "--table", t.path(), "--pipeline", "a b"],
            "--pipeline",
        ),
        (
            vec!["run", "--table", t.path(), "--interval", "0"],
            "interval",
        ),
    ] {
        let o = w.hps(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    // the password is never echoed
    let o = w.hps(&[
        "status",
        "--postgres",
        "postgresql://u:s3cret@h/db?sslmode=nonsense",
    ]);
    assert_eq!(code(&o), 2);
    assert!(!stderr(&o).contains("s3cret"), "{}", stderr(&o));
}

/// Upload a local table to `s3://bucket/prefix` (data files first, the timeline last).
async fn upload(client: &aws_sdk_s3::Client, table: &Path, bucket: &str, prefix: &str) {
    let mut files = vec![];
    let mut stack = vec![table.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort_by_key(|p| p.starts_with(table.join(".hoodie")));
    for p in files {
        let key = format!(
            "{prefix}/{}",
            p.strip_prefix(table).unwrap().to_string_lossy()
        );
        let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(&p).unwrap());
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .unwrap();
    }
}

/// What an operator does from a laptop against a deployed pipeline: the table on S3, the
/// bookmarks in DynamoDB (both on moto), the Lambda's table id (`s3://bucket/prefix`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_table_with_dynamodb_bookmarks_status_and_rewind() {
    use hps_sync::BookmarkStore;
    let moto = MotoServer::start();
    let mut w = World::new();
    let name = unique("bookmarks").replace('_', "-");
    let cfg = hps_aws::local_aws_config(&moto.endpoint()).await;
    let store = hps_aws::DynamoBookmarkStore::from_config(&cfg, name.clone());
    store.create_table_if_missing().await.unwrap();
    let s3 = hps_aws::s3_client(&cfg);
    s3.create_bucket().bucket("lake").send().await.unwrap();
    let t = gen_table(w.dir.path(), "ddb", 2).await;
    upload(&s3, &t.path, "lake", "warehouse/ddb").await;
    w.env = moto.env();
    w.bookmarks = format!("dynamodb://{name}");
    let id = "s3://lake/warehouse/ddb";
    let n = t.manifest.commits.len();
    let out = w.ok(&["run", "--table", "s3://lake/warehouse/ddb/", "--step"]);
    assert!(out.contains(&format!("applied {n} instants")), "{out}");
    assert_eq!(w.staging("hudi.ddb"), t.expected());
    // the bookmark is in DynamoDB under the table's URI (and nothing was written locally)
    let b = store
        .get("default", id)
        .await
        .unwrap()
        .expect("bookmark in DynamoDB");
    let last = t.manifest.commits.last().unwrap();
    assert_eq!(b.position.as_ref().unwrap().requested_time, last.instant);
    assert!(!w.dir.path().join("bookmarks").exists());
    let s = w.status_json(&[]);
    assert_eq!(s["bookmarks"], format!("dynamodb://{name}"));
    let st = &s["tables"][0];
    assert_eq!(st["table"], id);
    assert_eq!(st["state"], "up_to_date");
    assert_eq!(st["bookmark"]["version"], b.version);
    assert_eq!(st["bookmark_in_sync"], true);
    let text = w.ok(&["status", "--table", id]);
    assert!(text.starts_with(id), "{text}");
    assert!(text.contains("mirrors the fence"), "{text}");

    let out = w.ok(&["rewind", "--table", id, "--to", "beginning"]);
    assert!(out.contains("-> (beginning)"), "{out}");
    let b2 = store.get("default", id).await.unwrap().unwrap();
    assert_eq!(b2.position, None);
    assert!(b2.version > b.version);
    let st = &w.status_json(&[])["tables"][0];
    assert_eq!(st["instants_behind"], n);
    assert_eq!(st["state"], "behind");
    let out = w.ok(&["run", "--table", id]);
    assert!(out.contains(&format!("[{n}/{n}] {n} instants")), "{out}");
    assert_eq!(w.staging("hudi.ddb"), t.expected());
    let st = &w.status_json(&[])["tables"][0];
    assert_eq!(st["state"], "up_to_date");
    // a missing DynamoDB table is an error, not an empty status
    w.bookmarks = "dynamodb://no-such-table".into();
    let o = w.hps(&["status"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

/// A configuration file drives `run` and `status`: the table is named by its id, lands in the
/// configured schema and table, its `after_apply` statement runs, and `status` (without
/// `--table`: the file's tables) says where the settings came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_file_drives_run_and_status() {
    let w = World::new();
    let t = gen_table(w.dir.path(), "trades", 1).await;
    w.sql("CREATE SCHEMA mart; CREATE TABLE mart.loads (load_id text PRIMARY KEY, rows bigint)");
    let config = w.dir.path().join("hps.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nschema = \"lake\"\n\n[tables.trades]\nlocation = \"{}\"\ntable = \"trades_eu\"\n\
             after_apply = [\"INSERT INTO mart.loads VALUES ($1, $4)\"]\n",
            t.path()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    w.ok(&["run", "--config", cfg, "--table", "trades"]);
    assert_eq!(w.staging("lake.trades_eu"), t.expected());
    let logged: i64 = w
        .sql("SELECT sum(rows) FROM mart.loads")
        .trim()
        .parse()
        .unwrap();
    let fence: i64 = w
        .sql("SELECT rows_applied FROM lake.hudi_sync_state")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(logged, fence);
    let st = &w.status_json(&["--config", cfg])["tables"][0];
    assert_eq!(st["staging"], "\"lake\".\"trades_eu\"");
    assert_eq!(st["settings"], format!("{cfg} [tables.trades]"));
    assert_eq!(st["state"], "up_to_date");
    let st = &w.status_json(&["--table", t.path(), "--schema", "lake"])["tables"][0];
    assert_eq!(st["settings"], "command line");
    let o = w.hps(&["run", "--config", cfg, "--table", "orders"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not in the configuration"),
        "{}",
        stderr(&o)
    );
}

/// A configuration naming a local prefix: `config check` lists the tables found under it
/// (at any depth, not the one nested in a table) with their resolved targets, `run` syncs a
/// discovered table by its derived id, and `status` reports the discovered tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_prefix_finds_tables_for_check_run_and_status() {
    let w = World::new();
    let lake = w.dir.path().join("lake");
    let trades = gen_table(&lake.join("db=eu"), "trades", 2).await;
    let quotes = gen_table(&lake, "quotes", 1).await;
    // a table written inside another table's directory is not discovered
    gen_table(&quotes.path, "inner", 1).await;
    let config = w.dir.path().join("hps.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nschema = \"lake\"\n\n[discovery]\nprefixes = [\"{}\"]\n\n\
             [tables.quotes]\nlocation = \"{}\"\ntable = \"quotes_eu\"\n",
            lake.display(),
            quotes.path()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let out = w.ok(&["config", "check", cfg]);
    assert!(out.contains("valid, 2 table(s) (1 discovered)"), "{out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("[tables.")?.strip_suffix("] (discovered)"))
        .unwrap_or_else(|| panic!("no discovered table in {out}"))
        .to_string();
    assert!(
        id.starts_with("db_eu.trades-") && id.len() == "db_eu.trades-".len() + 10,
        "{id}"
    );
    assert!(
        out.contains(&format!("location:    {}", trades.path())),
        "{out}"
    );
    assert!(
        out.contains("staging:     lake.<hoodie.table.name>"),
        "{out}"
    );
    assert!(
        out.contains("[tables.quotes]\n") && out.contains("staging:     lake.quotes_eu"),
        "{out}"
    );
    assert!(!out.contains("inner"), "{out}");
    // the same id every time
    assert!(
        w.ok(&["config", "check", cfg])
            .contains(&format!("[tables.{id}] (discovered)"))
    );

    w.ok(&["run", "--config", cfg, "--table", &id]);
    assert_eq!(w.staging("lake.trades"), trades.expected());
    let st = w.status_json(&["--config", cfg]);
    let tables = st["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{st}");
    let row = tables
        .iter()
        .find(|t| t["settings"] == format!("{cfg} [discovery] {id} (defaults)"))
        .unwrap_or_else(|| panic!("{st}"));
    assert_eq!(row["state"], "up_to_date", "{row}");
    assert_eq!(row["staging"], "\"lake\".\"trades\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_list_retry_and_status() {
    let w = World::new();
    let path = w.dir.path().join("bad");
    hps_gen::generate_local(
        &path,
        &GenConfig {
            bad_values_every: Some(11),
            ..gen_cfg("bad", 1)
        },
    )
    .await
    .expect("generate");
    let config = w.dir.path().join("q.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\non_bad_row = \"quarantine\"\n\n[tables.bad]\nlocation = \"{}\"\n",
            path.to_str().unwrap()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    w.ok(&["run", "--config", cfg, "--table", "bad"]);
    let st = &w.status_json(&["--config", cfg])["tables"][0];
    assert_eq!(st["state"], "up_to_date", "{st}");
    assert_eq!(st["quarantine_table"], "\"hudi\".\"bad__quarantine\"");
    let n = st["quarantined"].as_u64().expect("a count");
    assert!(n >= 4, "{st}");
    let text = w.ok(&["status", "--config", cfg]);
    assert!(
        text.contains(&format!(
            "quarantine       {n} rows in \"hudi\".\"bad__quarantine\""
        )),
        "{text}"
    );

    let listed = w.ok(&["quarantine", "list", "--config", cfg]);
    // the table's id in the pipeline is its location
    let id = canonical(&path);
    assert!(
        listed.starts_with(&format!(
            "{id}: {n} quarantined row(s) in \"hudi\".\"bad__quarantine\"\n"
        )),
        "{listed}"
    );
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, n, "{listed}");
    for c in ["description", "amount", "created_at", "order_date"] {
        assert!(
            rows.iter().any(|l| l.contains(&format!("· column {c}: "))),
            "{c}: {listed}"
        );
    }
    assert!(
        rows.iter()
            .all(|l| l.contains(" instant 2") && l.contains(".parquet")),
        "{listed}"
    );
    let wide = rows
        .iter()
        .filter(|l| l.contains("· column amount: "))
        .count();

    // nothing fixed: all stay; then the operator widens amount and those rows apply
    let out = w.ok(&["quarantine", "retry", "--config", cfg, "--table", "bad"]);
    assert_eq!(
        out.trim(),
        format!("{id}: 0 applied, 0 superseded by a newer version, {n} still bad, 0 failed")
    );
    w.sql("ALTER TABLE hudi.bad ALTER COLUMN amount TYPE numeric(30,4)");
    let out = w.ok(&["quarantine", "retry", "--config", cfg]);
    assert_eq!(
        out.trim(),
        format!(
            "{id}: {wide} applied, 0 superseded by a newer version, {} still bad, 0 failed",
            n as usize - wide
        )
    );
    let listed = w.ok(&["quarantine", "list", "--config", cfg]);
    assert!(!listed.contains("· column amount: "), "{listed}");
    assert!(listed.contains("(still after 2 retries)"), "{listed}");
}
