//! The Spark-written Hudi tables in `../shared/hudi-fixtures` (zips), unpacked into temp dirs.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shared_dir;

/// Every fixture zip (relative name like `sample_table/cow/v6_nonpartitioned.zip`, full path),
/// sorted. Empty when `../shared` is absent (callers should call [`crate::skip`]).
pub fn all_fixture_zips() -> Vec<(String, PathBuf)> {
    let Some(shared) = shared_dir() else {
        return Vec::new();
    };
    let root = shared.join("hudi-fixtures");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "zip") {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push((rel, p));
        }
    }
}

/// An unpacked fixture table; the temp dir is removed on drop.
pub struct FixtureTable {
    _dir: tempfile::TempDir,
    /// The table base path (the zip's top-level folder).
    pub path: PathBuf,
    /// The zip's relative name.
    pub name: String,
}

/// Unpack one fixture zip of `hudi-fixtures/` (skipping `__MACOSX/`) and return the table base path.
pub fn unpack(rel_name: &str) -> Option<FixtureTable> {
    unpack_from("hudi-fixtures", rel_name)
}

/// Unpack one zip of `realworld-fixtures/` (tables written by other projects' test suites),
/// e.g. `hudi_v6_table_mor.zip`.
pub fn unpack_realworld(name: &str) -> Option<FixtureTable> {
    unpack_from("realworld-fixtures", name)
}

/// `None` when the zip is absent, unless `HPS_REQUIRE_FIXTURES` is set (CI): then a missing
/// fixture fails the test instead of letting it skip.
fn unpack_from(folder: &str, rel_name: &str) -> Option<FixtureTable> {
    let zip = shared_dir().map(|s| s.join(folder).join(rel_name));
    let zip = match zip {
        Some(z) if z.exists() => z,
        _ if crate::fixtures_required() => {
            panic!("HPS_REQUIRE_FIXTURES is set and ../shared/{folder}/{rel_name} is missing")
        }
        _ => return None,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&zip)
        .arg(dir.path())
        .status()
        .expect("python3 -m zipfile");
    assert!(status.success(), "unzip {} failed", zip.display());
    let _ = std::fs::remove_dir_all(dir.path().join("__MACOSX"));
    let stem = zip
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut path = dir.path().join(&stem);
    if !path.is_dir() {
        // fall back to the single top-level directory
        if let Ok(rd) = std::fs::read_dir(dir.path())
            && let Some(d) = rd.flatten().map(|e| e.path()).find(|p| p.is_dir())
        {
            path = d;
        }
    }
    Some(FixtureTable {
        _dir: dir,
        path,
        name: rel_name.to_string(),
    })
}
