//! The project venv and the `hudi` PyPI package used as the independent oracle.
use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// The venv's python (`HPS_PYTHON`, else `<root>/.venv/bin/python`). Panics with a hint when
/// missing: `make venv` (part of `make test`) creates it.
pub fn venv_python() -> PathBuf {
    if let Ok(p) = std::env::var("HPS_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv").join("bin").join("python");
    assert!(
        p.exists(),
        "{} is missing: run `make venv` (make test does it)",
        p.display()
    );
    p
}

/// A binary installed in the venv (`moto_server`, `cargo-lambda`, `cfn-lint`, ...).
pub fn venv_bin(name: &str) -> PathBuf {
    venv_python()
        .parent()
        .map(|d| d.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Run a Python script from `tests/oracle/` with arguments; returns its stdout as text.
pub fn run_oracle_text(script: &str, args: &[&str]) -> String {
    let path = workspace_root().join("tests").join("oracle").join(script);
    let out = Command::new(venv_python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "oracle {} {:?} failed: {}",
        path.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a Python script from `tests/oracle/` with arguments; returns stdout parsed as JSON.
pub fn run_oracle(script: &str, args: &[&str]) -> serde_json::Value {
    let text = run_oracle_text(script, args);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("oracle {script} printed no JSON ({e}): {text}"))
}
