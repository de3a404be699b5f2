//! Generated tables read back by the independent oracle: the `hudi` PyPI package (hudi-rs),
//! through `tests/oracle/gen_check.py`. Snapshot, sample rows and every per-commit incremental
//! window must match what the generator's manifest says it wrote.

use hps_gen::{GenConfig, TableType, TableVersion, generate_local};
use hps_testkit::python::run_oracle;
use serde_json::Value;

fn small(table_type: TableType, table_version: TableVersion, name: &str) -> GenConfig {
    GenConfig {
        table_name: name.to_string(),
        table_type,
        table_version,
        partitions: 3,
        rows: 3_000,
        commits: 4,
        update_fraction: 0.05,
        insert_fraction: 0.03,
        delete_fraction: 0.02,
        // several groups per partition, COW small-file packing, several row groups per file
        rows_per_file_group: 400,
        row_group_rows: 256,
        seed: 7,
        threads: 2,
        // MOR: compactions after the 2nd and 4th upsert; later logs start new file slices
        compact_every: if table_type == TableType::MergeOnRead {
            2
        } else {
            0
        },
        ..GenConfig::default()
    }
}

fn check(table_type: TableType, table_version: TableVersion, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(table_type, table_version, name);
    let report = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir.path(), &cfg))
        .unwrap();
    let m = &report.manifest;
    let compactions = m
        .commits
        .iter()
        .filter(|c| c.operation == "COMPACT")
        .count();
    assert_eq!(
        compactions,
        if table_type == TableType::MergeOnRead {
            2
        } else {
            0
        }
    );
    assert_eq!(m.commits.len(), 5 + compactions);
    assert!(
        m.commits
            .iter()
            .filter(|c| c.operation == "UPSERT")
            .all(|c| !c.updated.is_empty() && !c.deleted.is_empty())
    );

    let path = dir.path().to_str().unwrap();
    let r = run_oracle("gen_check.py", &[path]);
    assert_eq!(r["ok"], true, "oracle disagrees with the manifest: {r:#}");

    // what the oracle saw, spelled out (so a silently empty read cannot pass)
    assert_eq!(r["table_type"], table_type.as_hudi());
    assert_eq!(r["snapshot"]["rows"], m.final_live_rows);
    assert_eq!(r["snapshot"]["expected"], m.expected_state().len());
    assert!(r["samples"]["checked"].as_u64().unwrap() >= 10, "{r}");
    let windows = r["incremental"].as_array().unwrap();
    assert_eq!(windows.len(), m.commits.len());
    assert_eq!(windows[0]["rows"], 3_000);
    for (w, c) in windows.iter().zip(&m.commits) {
        assert_eq!(w["end"], c.window_bound());
        assert_eq!(
            w["rows"].as_u64().unwrap() as usize,
            c.upserted_ids().len(),
            "{w}"
        );
    }
    assert!(r["cumulative"]["rows"].as_u64().unwrap() > 0);
    let schema = &r["schema"];
    for (col, ty) in [
        ("id", "int64"),
        ("amount", "decimal128(18, 4)"),
        ("created_at", "timestamp[us, tz=UTC]"),
        ("order_date", "date32[day]"),
        ("is_active", "bool"),
        ("price", "double"),
        ("quantity", "int32"),
        ("email", "string"),
    ] {
        assert_eq!(schema[col], ty, "{col}: {schema}");
    }
    assert_eq!(schema.as_object().unwrap().len(), 20);
}

#[test]
fn cow_v6_reads_back() {
    check(TableType::CopyOnWrite, TableVersion::V6, "gen_cow_v6");
}

#[test]
fn cow_v9_reads_back() {
    check(TableType::CopyOnWrite, TableVersion::V9, "gen_cow_v9");
}

#[test]
fn mor_v6_reads_back() {
    check(TableType::MergeOnRead, TableVersion::V6, "gen_mor_v6");
}

#[test]
fn mor_v9_reads_back() {
    check(TableType::MergeOnRead, TableVersion::V9, "gen_mor_v9");
}

/// The check bites: a manifest claiming one delete fewer, or a table missing a log file,
/// is reported as a mismatch.
#[test]
fn oracle_detects_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        compact_every: 0,
        ..small(TableType::MergeOnRead, TableVersion::V9, "gen_tamper")
    };
    let report = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir.path(), &cfg))
        .unwrap();
    let path = dir.path().to_str().unwrap();

    // 1. manifest forgets a delete of the last commit
    let mut m = report.manifest.clone();
    let last = m.commits.last_mut().unwrap();
    let forgotten = last.deleted.remove(0);
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, m.to_json().unwrap()).unwrap();
    let r = run_oracle("gen_check.py", &[path, tampered.to_str().unwrap()]);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["snapshot"]["missing"], Value::from(vec![forgotten]));

    // 2. the last commit loses one of its log files: its updates/deletes vanish
    let last = report.manifest.commits.last().unwrap();
    let log = last
        .files
        .iter()
        .find(|f| f.contains(".log."))
        .expect("a log file");
    std::fs::remove_file(dir.path().join(log)).unwrap();
    let r = run_oracle("gen_check.py", &[path]);
    assert_eq!(r["ok"], false, "{r}");
    let w = r["incremental"].as_array().unwrap().last().unwrap();
    assert!(w["missing_count"].as_u64().unwrap() > 0, "{w}");
}

/// Edge: every live row deleted in every commit (COW writes 0-row base files, MOR delete-only
/// log files), while inserts keep arriving.
#[test]
fn delete_everything_edges() {
    for (table_type, version) in [
        (TableType::CopyOnWrite, TableVersion::V9),
        (TableType::MergeOnRead, TableVersion::V6),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GenConfig {
            table_name: "gen_edges".into(),
            table_type,
            table_version: version,
            partitions: 2,
            rows: 20,
            commits: 2,
            update_fraction: 0.0,
            insert_fraction: 0.5,
            delete_fraction: 1.0,
            threads: 1,
            ..GenConfig::default()
        };
        let report = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(generate_local(dir.path(), &cfg))
            .unwrap();
        assert_eq!(report.manifest.commits[2].deleted.len(), 10);
        assert_eq!(report.manifest.final_live_rows, 5);
        let r = run_oracle("gen_check.py", &[dir.path().to_str().unwrap()]);
        assert_eq!(r["ok"], true, "{table_type:?} v{}: {r:#}", version.number());
        assert_eq!(r["snapshot"]["rows"], 5);
    }
}
