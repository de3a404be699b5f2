//! The deployment build path, without network: `make build` cross-compiles both functions for
//! arm64 with cargo-lambda (zig as the linker, from `.venv-deploy`), then `sam build` packages
//! them from `infra/template.yaml` (`BuildMethod: rust-cargolambda`), as `make deploy` does.
//! Every artifact must be an aarch64 ELF executable, and the loader's must carry the built-in
//! RDS CA bundle (`shared/postgres/certs/amazon-rds-ca.pem`, compiled in), so a default
//! deployment can verify Aurora's certificate.
//!
//! Opt-in, because it is slow and needs more than the test venv: set `HPS_BUILD_TEST=1`. A cold
//! release cross build takes several minutes on a 2-core machine (see the README), and the first
//! run needs PyPI (`.venv-deploy`: aws-sam-cli, cargo-lambda, ziglang) and the Rust target
//! `aarch64-unknown-linux-gnu` (`rustup target add aarch64-unknown-linux-gnu`). Cargo runs with
//! `CARGO_NET_OFFLINE=true`: every crate must already be in the local cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hps_testkit::workspace_root;

const ENABLE: &str = "HPS_BUILD_TEST";

/// (SAM logical id, cargo binary, connects to PostgreSQL) of the two functions. Only the
/// loader connects, so only its binary keeps the RDS CA bundle (the detector's linker drops it).
const FUNCTIONS: [(&str, &str, bool); 2] = [
    ("CommitDetectorFunction", "commit-detector", false),
    ("IncrementalLoaderFunction", "incremental-loader", true),
];

/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;

fn deploy_bin() -> PathBuf {
    workspace_root().join(".venv-deploy").join("bin")
}

fn path_with_deploy_tools() -> String {
    format!(
        "{}:{}",
        deploy_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run(cmd: &mut Command, what: &str) {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    eprintln!("{what}: {:.0} s", started.elapsed().as_secs_f64());
}

/// An aarch64 Linux executable, containing the whole RDS CA bundle when given.
fn check_bootstrap(path: &Path, rds_cas: Option<&[u8]>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(bytes[4], 2, "{}: not a 64-bit ELF", path.display());
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    assert_eq!(
        machine,
        EM_AARCH64,
        "{}: e_machine {machine}",
        path.display()
    );
    if let Some(rds_cas) = rds_cas {
        let head = &rds_cas[..64];
        let found = bytes
            .windows(head.len())
            .enumerate()
            .filter(|(_, w)| *w == head)
            .any(|(i, _)| bytes.get(i..i + rds_cas.len()) == Some(rds_cas));
        assert!(found, "{} lacks the RDS CA bundle", path.display());
    }
    eprintln!(
        "{}: {:.1} MB",
        path.display(),
        bytes.len() as f64 / 1_000_000.0
    );
}

#[test]
fn make_build_and_sam_build_make_arm64_bootstraps_with_the_rds_cas() {
    if std::env::var(ENABLE).as_deref() != Ok("1") {
        // an opt-in test, not a fixture test: HPS_REQUIRE_FIXTURES does not make it fail
        eprintln!("\n*** NOT RUN: the build path test is opt-in: HPS_BUILD_TEST=1 ***\n");
        return;
    }
    let root = workspace_root();
    let rds_cas = std::fs::read(root.join("shared/postgres/certs/amazon-rds-ca.pem"))
        .expect("the RDS CA bundle");
    assert!(rds_cas.len() > 1000);

    run(
        Command::new("make")
            .arg("build")
            .current_dir(&root)
            .env("CARGO_NET_OFFLINE", "true"),
        "make build",
    );
    for (_, bin, connects) in FUNCTIONS {
        check_bootstrap(
            &root.join("target/lambda").join(bin).join("bootstrap"),
            connects.then_some(rds_cas.as_slice()),
        );
    }

    let build_dir = tempfile::tempdir().expect("tempdir");
    run(
        Command::new(deploy_bin().join("sam"))
            // --no-cached (as samconfig.toml says too): SAM's cache would hash the whole
            // source directory (CodeUri is the workspace root, target/ included) first
            .args([
                "build",
                "--no-cached",
                "--template-file",
                "template.yaml",
                "--build-dir",
            ])
            .arg(build_dir.path())
            .current_dir(root.join("infra"))
            .env("PATH", path_with_deploy_tools())
            .env("SAM_CLI_TELEMETRY", "0")
            .env("CARGO_NET_OFFLINE", "true"),
        "sam build",
    );
    for (logical, _, connects) in FUNCTIONS {
        check_bootstrap(
            &build_dir.path().join(logical).join("bootstrap"),
            connects.then_some(rds_cas.as_slice()),
        );
    }
}
