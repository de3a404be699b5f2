//! `make run`, as a newcomer types it: in a clean clone of this repository (HEAD), with a
//! fresh state directory, twice. The first run starts a local PostgreSQL, syncs a table commit
//! by commit and shows staging and status; the second reuses that PostgreSQL and finds nothing
//! to do. Staging is compared with the table's snapshot as read by the `hudi` PyPI reader.
//! Both table sources are covered: the Spark fixture from `../shared` and, with `../shared`
//! hidden, the table the project generates itself. `make clean-state` stops the PostgreSQL.
//!
//! The clone builds into this workspace's target directory (`CARGO_TARGET_DIR`): registry
//! dependencies are reused, the workspace's own crates are compiled once for the clone.

mod sync_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use hps_storage::LocalStore;
use hps_sync::TableSource;
use sync_common::{assert_staging_matches, client, init_tracing};

/// A clean clone plus a fresh state dir; stops a PostgreSQL left running (by pid) on drop.
///
/// The clone lives at a fixed path under `target/make-run/` (removed and cloned again each
/// time): the same path keeps the clone's build artifacts in the shared target dir from
/// piling up across runs. State dirs live in a temp dir the `postgres` user can enter.
struct Clone {
    repo: PathBuf,
    states: tempfile::TempDir,
    state: PathBuf,
}

impl Clone {
    fn new() -> Clone {
        let root = hps_testkit::workspace_root();
        let base = root.join("target").join("make-run");
        let repo = base.join("hudi-pg-sync");
        let _ = std::fs::remove_dir_all(&repo);
        std::fs::create_dir_all(&base).expect("mkdir target/make-run");
        let o = Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(&root)
            .arg(&repo)
            .output()
            .expect("git clone");
        assert!(
            o.status.success(),
            "git clone: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let states = tempfile::Builder::new()
            .prefix("hps-make-run-")
            .tempdir()
            .expect("tempdir");
        // as root the demo PostgreSQL runs as `postgres`, which must reach the state dir
        let _ = Command::new("chmod").arg("755").arg(states.path()).status();
        let state = states.path().join("state");
        Clone {
            repo,
            states,
            state,
        }
    }

    /// A fresh state directory for the next scenario (the previous one stopped).
    fn fresh_state(&mut self, name: &str) {
        self.stop_leftover();
        self.state = self.states.path().join(name);
        let _ = std::fs::remove_dir_all(&self.state);
    }

    /// `make <target>` in the clone. `shared`: the fixtures dir to offer (None hides it).
    fn make(&self, target: &str, shared: Option<&Path>) -> Output {
        let root = hps_testkit::workspace_root();
        let target_dir: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let mut c = Command::new("timeout");
        c.args(["900", "make", "--no-print-directory", target])
            .current_dir(&self.repo)
            .env("HPS_STATE_DIR", &self.state)
            .env(
                "CARGO_TARGET_DIR",
                std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| root.join("target").into()),
            )
            // the binaries `make test` built just before (same sources: the clone is of HEAD);
            // building them again in the clone resolves features per package and rebuilds
            // the whole dependency tree, which costs many minutes on a 2-core machine
            .env("HPS_BIN_DIR", target_dir.join("debug"))
            .env(
                "HPS_SHARED_DIR",
                shared.map_or_else(|| self.states.path().join("no-shared"), Path::to_path_buf),
            );
        for v in [
            "MAKEFLAGS",
            "MFLAGS",
            "MAKELEVEL",
            "CARGO_MAKEFLAGS",
            "HPS_DEMO_FIXTURE",
            "HPS_POSTGRES_URL",
            "HPS_BOOKMARKS",
            "HPS_PIPELINE",
            "HPS_PG_SCHEMA",
            "HPS_DELETE_MODE",
            "RUST_LOG",
        ] {
            c.env_remove(v);
        }
        c.output().expect("make")
    }

    /// A fresh state directory inside a directory of mode 700 (as a clone in root's home):
    /// the `postgres` user cannot enter it.
    fn fresh_private_state(&mut self, name: &str) {
        self.stop_leftover();
        let private = self.states.path().join("private");
        std::fs::create_dir_all(&private).expect("mkdir");
        let _ = Command::new("chmod").arg("700").arg(&private).status();
        self.state = private.join(name);
        let _ = std::fs::remove_dir_all(&self.state);
    }

    /// The demo cluster's directory: `<state>/pg`, or where `<state>/pg-location` says.
    fn pg_dir(&self) -> PathBuf {
        match std::fs::read_to_string(self.state.join("pg-location")) {
            Ok(p) => PathBuf::from(p.trim()),
            Err(_) => self.state.join("pg"),
        }
    }

    fn port(&self) -> u16 {
        std::fs::read_to_string(self.pg_dir().join("port"))
            .expect("pg/port")
            .trim()
            .parse()
            .expect("port number")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pg_dir().join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
    }
}

impl Clone {
    fn stop_leftover(&self) {
        if let Some(pid) = self.pid()
            && alive(pid)
        {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..50 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Clone {
    fn drop(&mut self) {
        self.stop_leftover();
        let _ = std::fs::remove_dir_all(&self.repo);
    }
}

/// Whether a process is running (a zombie left for a non-reaping init counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains("Z (zombie)"))
        })
        .unwrap_or(false)
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The table `make run` synced (its only subdirectory of `state/table`).
fn synced_table(state: &Path) -> PathBuf {
    let tables: Vec<PathBuf> = std::fs::read_dir(state.join("table"))
        .expect("state/table")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".hoodie").is_dir())
        .collect();
    assert_eq!(tables.len(), 1, "{tables:?}");
    tables[0].clone()
}

/// Completed data-writing instants of the table, from its timeline.
async fn instants(table: &Path) -> Vec<String> {
    let t = hps_hudi::HudiTable::open(Arc::new(LocalStore::new(table)))
        .await
        .expect("open table");
    let tl = t.timeline().await.expect("timeline");
    tl.in_window_order()
        .into_iter()
        .filter(|i| i.action.is_write())
        .map(|i| i.requested_time.clone())
        .collect()
}

async fn twice(c: &mut Clone, scenario: &str, shared: Option<&Path>, expect_source: &str) {
    c.fresh_state(scenario);

    // ---- first run
    let o = c.make("run", shared);
    let out = text(&o);
    assert!(o.status.success(), "make run failed:\n{out}");
    let port = c.port();
    let pid = c.pid().expect("the demo PostgreSQL is running");
    assert!(
        out.contains(&format!(
            "started the demo PostgreSQL on 127.0.0.1:{port} (pid {pid};"
        )),
        "{out}"
    );
    assert!(out.contains(expect_source), "{out}");
    let table = synced_table(&c.state);
    let table = std::fs::canonicalize(&table).unwrap();
    let ids = instants(&table).await;
    assert!(!ids.is_empty());
    let n = ids.len();
    // commit by commit: one line per instant, in order
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(steps.len(), n, "{out}");
    for (i, (line, id)) in steps.iter().zip(&ids).enumerate() {
        assert!(
            line.starts_with(&format!(
                "[{:>w$}/{n}] {id}",
                i + 1,
                w = n.to_string().len()
            )),
            "{line}"
        );
    }
    assert!(out.contains(&format!("applied {n} instant")), "{out}");
    assert!(out.contains("· up to date · lag 0 s"), "{out}");
    assert!(out.contains("== staging"), "{out}");
    assert!(out.contains("  state            up to date"), "{out}");
    assert!(out.contains("mirrors the fence"), "{out}");
    let url = format!("postgresql://postgres@127.0.0.1:{port}/demo");
    let src = TableSource::new(table.to_str().unwrap(), Arc::new(LocalStore::new(&table)));
    assert_staging_matches(&url, &src, &table).await;
    let spec = sync_common::target_of(&src).await;
    let count: i64 = client(&url)
        .await
        .query_one(
            &format!("SELECT count(*) FROM {}", spec.display_name()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        out.contains(&format!("{} holds {count} rows", spec.display_name())),
        "{out}"
    );

    // ---- second run: same PostgreSQL, nothing to do
    let o = c.make("run", shared);
    let out2 = text(&o);
    assert!(o.status.success(), "second make run failed:\n{out2}");
    assert!(
        out2.contains(&format!(
            "reusing the demo PostgreSQL on 127.0.0.1:{port} (pid {pid})"
        )),
        "{out2}"
    );
    assert!(
        out2.contains(&format!(
            "nothing to do: {} is up to date at {}",
            table.display(),
            ids[n - 1]
        )),
        "{out2}"
    );
    assert!(!out2.lines().any(|l| l.starts_with('[')), "{out2}");
    assert!(out2.contains("reusing "), "{out2}");
    assert_staging_matches(&url, &src, &table).await;

    // ---- make clean-state stops it and removes the state
    let o = c.make("clean-state", shared);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("stopped the demo PostgreSQL (pid {pid})")),
        "{}",
        text(&o)
    );
    assert!(!c.state.exists());
    assert!(!alive(pid), "postgres {pid} still running");
}

/// One clone, two scenarios (one build of the clone): the fixture from `../shared` (when
/// present), then `../shared` hidden so that the project generates its own table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_run_twice_in_a_clean_clone() {
    init_tracing();
    let mut c = Clone::new();
    match hps_testkit::shared_dir() {
        Some(shared) => {
            twice(
                &mut c,
                "state-fixture",
                Some(&shared),
                "unpacked the fixture sample_table/cow/",
            )
            .await
        }
        None => hps_testkit::skip("../shared is absent: make run with a fixture not tested"),
    }
    twice(
        &mut c,
        "state-generated",
        None,
        "generating a small table with hudi-gen",
    )
    .await;
    if is_root() {
        // root's clone in its home (mode 700): the cluster goes where `postgres` can write
        c.fresh_private_state("state-private");
        let o = c.make("run", None);
        let out = text(&o);
        assert!(
            o.status.success(),
            "make run in a private directory:\n{out}"
        );
        let pg_dir = c.pg_dir();
        assert!(pg_dir.starts_with("/var/tmp"), "{}", pg_dir.display());
        assert!(
            out.contains(&format!("the demo cluster lives in {}", pg_dir.display())),
            "{out}"
        );
        let pid = c.pid().expect("the demo PostgreSQL is running");
        let o = c.make("clean-state", None);
        assert!(o.status.success(), "{}", text(&o));
        assert!(!alive(pid), "postgres {pid} still running");
        assert!(!pg_dir.exists(), "{} left behind", pg_dir.display());
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
