//! The files the generator writes, checked directly (no Hudi reader involved): timeline
//! shape per table version, commit metadata counts against the manifest, COW rewrites keeping
//! the commit times of untouched rows, determinism, and refusal to overwrite a table.

use std::collections::BTreeMap;
use std::path::Path;

use apache_avro::types::Value;
use arrow_array::cast::AsArray;
use hps_gen::{GenConfig, GenReport, TableType, TableVersion, generate_local};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn cfg(table_type: TableType, table_version: TableVersion) -> GenConfig {
    GenConfig {
        table_name: "gen_struct".into(),
        table_type,
        table_version,
        partitions: 2,
        rows: 1_500,
        commits: 3,
        update_fraction: 0.04,
        insert_fraction: 0.02,
        delete_fraction: 0.01,
        rows_per_file_group: 300,
        row_group_rows: 500,
        seed: 11,
        threads: 2,
        compact_every: if table_type == TableType::MergeOnRead {
            2
        } else {
            0
        },
        ..GenConfig::default()
    }
}

fn run(dir: &Path, c: &GenConfig) -> GenReport {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir, c))
        .unwrap()
}

/// Every file under `dir` (relative path → bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Commit metadata as JSON, whatever the encoding (v6 JSON, v9 Avro OCF).
fn metadata_json(bytes: &[u8]) -> serde_json::Value {
    if bytes.starts_with(b"Obj\x01") {
        let reader = apache_avro::Reader::new(bytes).unwrap();
        let records: Vec<Value> = reader.map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 1);
        serde_json::Value::try_from(records.into_iter().next().unwrap()).unwrap()
    } else {
        serde_json::from_slice(bytes).unwrap()
    }
}

/// A count field (absent/null counts as 0).
fn num(v: &serde_json::Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn check_layout(table_type: TableType, table_version: TableVersion) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(table_type, table_version);
    if table_version == TableVersion::V5 && table_type == TableType::MergeOnRead {
        // Hudi 0.12/0.13 write MOR deletes as Kryo blocks, which the generator refuses
        c.delete_fraction = 0.0;
    }
    let report = run(dir.path(), &c);
    let files = tree(dir.path());
    let m = &report.manifest;
    let action = table_type.commit_action();
    let tl = match table_version {
        TableVersion::V5 | TableVersion::V6 => ".hoodie",
        TableVersion::V9 => ".hoodie/timeline",
    };
    let props = String::from_utf8(files[".hoodie/hoodie.properties"].clone()).unwrap();
    assert!(props.contains(&format!(
        "\nhoodie.table.version={}\n",
        table_version.number()
    )));
    assert!(props.contains(&format!("\nhoodie.table.type={}\n", table_type.as_hudi())));

    let mut prev_completion = String::new();
    let mut compactions = 0;
    for commit in &m.commits {
        let t = &commit.instant;
        if commit.operation == "COMPACT" {
            compactions += 1;
            check_compaction(&files, tl, table_version, commit);
            if let Some(c) = &commit.completion {
                prev_completion = c.clone();
            }
            continue;
        }
        // requested (empty), inflight, completed
        assert_eq!(files[&format!("{tl}/{t}.{action}.requested")].len(), 0);
        let inflight = match table_type {
            TableType::CopyOnWrite => format!("{tl}/{t}.inflight"),
            TableType::MergeOnRead => format!("{tl}/{t}.{action}.inflight"),
        };
        assert!(!files[&inflight].is_empty(), "{inflight}");
        let completed = match table_version {
            TableVersion::V5 | TableVersion::V6 => {
                assert!(commit.completion.is_none());
                format!("{tl}/{t}.{action}")
            }
            TableVersion::V9 => {
                let comp = commit.completion.clone().unwrap();
                assert!(comp.as_str() > t.as_str() && comp.len() == 17);
                assert!(t.as_str() > prev_completion.as_str());
                prev_completion = comp.clone();
                format!("{tl}/{t}_{comp}.{action}")
            }
        };
        let md = metadata_json(&files[&completed]);
        check_era(&md, table_version);
        assert_eq!(
            md["operationType"],
            if commit.version == 0 {
                "INSERT"
            } else {
                "UPSERT"
            }
        );
        assert_eq!(md["compacted"], false);
        let schema: serde_json::Value =
            serde_json::from_str(md["extraMetadata"]["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema["fields"].as_array().unwrap().len(), 20);

        // counts in the write stats = the manifest's changes; every path exists
        let (mut ins, mut upd, mut del) = (0i64, 0i64, 0i64);
        let mut paths = Vec::new();
        for (partition, stats) in md["partitionToWriteStats"].as_object().unwrap() {
            for s in stats.as_array().unwrap() {
                assert_eq!(s["partitionPath"], partition.as_str());
                let path = s["path"].as_str().unwrap();
                assert!(path.starts_with(&format!("{partition}/")));
                let bytes = &files[path];
                assert_eq!(num(&s["fileSizeInBytes"]), bytes.len() as i64);
                assert_eq!(num(&s["totalWriteBytes"]), bytes.len() as i64);
                ins += num(&s["numInserts"]);
                upd += num(&s["numUpdateWrites"]);
                del += num(&s["numDeletes"]);
                paths.push(path.to_string());
                let file_name = path.rsplit('/').next().unwrap();
                let file_id = s["fileId"].as_str().unwrap();
                if file_name.ends_with(".parquet") {
                    assert!(file_name.starts_with(&format!("{file_id}_")));
                    assert!(file_name.ends_with(&format!("_{t}.parquet")));
                    let prev = s["prevCommit"].as_str().unwrap();
                    if prev == "null" {
                        assert_eq!(num(&s["numInserts"]), num(&s["numWrites"]));
                    } else {
                        assert!(prev < t.as_str());
                        if table_version == TableVersion::V9 {
                            let pbf = s["prevBaseFile"].as_str().unwrap();
                            assert!(pbf.ends_with(&format!("_{prev}.parquet")));
                            assert!(files.contains_key(&format!("{partition}/{pbf}")));
                        }
                    }
                } else {
                    assert_eq!(table_type, TableType::MergeOnRead);
                    assert!(file_name.starts_with(&format!(".{file_id}_")));
                    let log_files = s["logFiles"].as_array().unwrap();
                    assert_eq!(log_files.last().unwrap(), file_name);
                    match table_version {
                        TableVersion::V9 => {
                            assert_eq!(s["prevCommit"], t.as_str());
                            assert_eq!(s["baseFile"], "");
                            assert_eq!(log_files.len(), 1);
                            assert!(file_name.contains(&format!("_{t}.log.1_")));
                        }
                        TableVersion::V5 | TableVersion::V6 => {
                            let base = s["baseFile"].as_str().unwrap();
                            let prev = s["prevCommit"].as_str().unwrap();
                            assert!(base.ends_with(&format!("_{prev}.parquet")));
                            assert!(
                                file_name.contains(&format!("_{prev}.log.{}_", log_files.len()))
                            );
                        }
                    }
                }
            }
        }
        let inserted: i64 = commit.inserted.iter().map(|[a, b]| b - a).sum();
        assert_eq!(
            (ins, upd, del),
            (
                inserted,
                commit.updated.len() as i64,
                commit.deleted.len() as i64
            )
        );
        paths.sort();
        let mut listed = commit.files.clone();
        listed.sort();
        assert_eq!(paths, listed);
    }
    // commits = 3 upserts: one compaction after the 2nd (MOR)
    let expected = if table_type == TableType::MergeOnRead {
        1
    } else {
        0
    };
    assert_eq!(compactions, expected);
    for p in &m.table.partition_paths {
        let meta =
            String::from_utf8(files[&format!("{p}/.hoodie_partition_metadata")].clone()).unwrap();
        assert!(meta.contains("\npartitionDepth=1\n") && meta.contains("\ncommitTime="));
    }
}

/// The write-stat keys of the writer release: version 5 (Hudi 0.12) has no `cdcStats` and
/// `recordsStats` in log stats, version 6 (Hudi 0.14) a null `cdcStats`.
fn check_era(md: &serde_json::Value, table_version: TableVersion) {
    for stats in md["partitionToWriteStats"].as_object().unwrap().values() {
        for s in stats.as_array().unwrap() {
            match table_version {
                TableVersion::V5 => {
                    assert!(s.get("cdcStats").is_none(), "{s}");
                    assert_eq!(s.get("recordsStats").is_some(), s.get("logFiles").is_some());
                }
                TableVersion::V6 => {
                    assert!(
                        s["cdcStats"].is_null() && s.get("cdcStats").is_some(),
                        "{s}"
                    );
                    assert!(s.get("recordsStats").is_none());
                }
                TableVersion::V9 => {}
            }
        }
    }
}

/// `compaction.requested` (Avro plan), empty `compaction.inflight`, completed `commit` with
/// `compacted: true`; each new base file replaces a slice's base file and logs.
fn check_compaction(
    files: &BTreeMap<String, Vec<u8>>,
    tl: &str,
    table_version: TableVersion,
    commit: &hps_gen::CommitRecord,
) {
    let t = &commit.instant;
    assert_eq!(commit.action, "commit");
    assert!(commit.inserted.is_empty() && commit.updated.is_empty() && commit.deleted.is_empty());
    let plan = metadata_json(&files[&format!("{tl}/{t}.compaction.requested")]);
    let ops = plan["operations"].as_array().unwrap();
    assert_eq!(ops.len(), commit.files.len());
    assert!(files[&format!("{tl}/{t}.compaction.inflight")].is_empty());
    let completed = match table_version {
        TableVersion::V5 | TableVersion::V6 => format!("{tl}/{t}.commit"),
        TableVersion::V9 => format!("{tl}/{t}_{}.commit", commit.completion.as_ref().unwrap()),
    };
    // Hudi <= 0.13 keeps a copy of the plan in .aux (deleted for pending plans by the 5 -> 6
    // upgrade only)
    let aux = files.get(&format!(".hoodie/.aux/{t}.compaction.requested"));
    match table_version {
        TableVersion::V5 => assert_eq!(aux, files.get(&format!("{tl}/{t}.compaction.requested"))),
        TableVersion::V6 | TableVersion::V9 => assert!(aux.is_none()),
    }
    let md = metadata_json(&files[&completed]);
    check_era(&md, table_version);
    assert_eq!(md["operationType"], "COMPACT");
    assert_eq!(md["compacted"], true);
    let mut n = 0;
    for (partition, stats) in md["partitionToWriteStats"].as_object().unwrap() {
        for s in stats.as_array().unwrap() {
            n += 1;
            let path = s["path"].as_str().unwrap();
            assert!(path.ends_with(&format!("_{t}.parquet")), "{path}");
            assert!(files.contains_key(path));
            let op = ops
                .iter()
                .find(|o| o["fileId"] == s["fileId"])
                .expect("planned");
            assert_eq!(op["partitionPath"], partition.as_str());
            assert_eq!(s["prevCommit"], op["baseInstantTime"]);
            let logs = op["deltaFilePaths"].as_array().unwrap();
            assert!(!logs.is_empty());
            assert_eq!(num(&s["totalLogFilesCompacted"]), logs.len() as i64);
            let log_bytes: usize = logs
                .iter()
                .map(|l| files[&format!("{partition}/{}", l.as_str().unwrap())].len())
                .sum();
            assert_eq!(num(&s["totalLogSizeCompacted"]), log_bytes as i64);
            assert!(files.contains_key(&format!(
                "{partition}/{}",
                op["dataFilePath"].as_str().unwrap()
            )));
        }
    }
    assert_eq!(n, commit.files.len());
}

#[test]
fn layout_cow_v6() {
    check_layout(TableType::CopyOnWrite, TableVersion::V6);
}

#[test]
fn layout_cow_v5() {
    check_layout(TableType::CopyOnWrite, TableVersion::V5);
}

#[test]
fn layout_mor_v5() {
    check_layout(TableType::MergeOnRead, TableVersion::V5);
}

#[test]
fn layout_cow_v9() {
    check_layout(TableType::CopyOnWrite, TableVersion::V9);
}

#[test]
fn layout_mor_v6() {
    check_layout(TableType::MergeOnRead, TableVersion::V6);
}

#[test]
fn layout_mor_v9() {
    check_layout(TableType::MergeOnRead, TableVersion::V9);
}

/// A COW rewrite keeps untouched rows' commit time and seqno, sets the new file name, and
/// drops deleted keys; every row equals the manifest's expected row.
#[test]
fn cow_rewrite_keeps_untouched_rows() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(dir.path(), &cfg(TableType::CopyOnWrite, TableVersion::V9));
    let m = &report.manifest;
    let last = m.commits.last().unwrap();
    let state = m.expected_state();
    let instants: Vec<&str> = m.commits.iter().map(|c| c.instant.as_str()).collect();
    let mut seen_old = 0;
    let mut seen_new = 0;
    for path in last.files.iter().filter(|f| f.ends_with(".parquet")) {
        let bytes = bytes::Bytes::from(std::fs::read(dir.path().join(path)).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let file_name = path.rsplit('/').next().unwrap();
        for batch in reader {
            let b = batch.unwrap();
            let ct = b.column(0).as_string::<i32>();
            let seq = b.column(1).as_string::<i32>();
            let key = b.column(2).as_string::<i32>();
            let fname = b.column(4).as_string::<i32>();
            let ids = b.column(5).as_primitive::<arrow_array::types::Int64Type>();
            let revision = b.column(24).as_primitive::<arrow_array::types::Int32Type>();
            for i in 0..b.num_rows() {
                let id = ids.value(i);
                let v = *state
                    .get(&id)
                    .unwrap_or_else(|| panic!("deleted id {id} still in {path}"));
                assert_eq!(ct.value(i), instants[usize::from(v)]);
                assert!(
                    seq.value(i)
                        .starts_with(&format!("{}_", instants[usize::from(v)]))
                );
                assert_eq!(key.value(i), id.to_string());
                assert_eq!(fname.value(i), file_name);
                assert_eq!(revision.value(i), i32::from(v));
                if usize::from(v) + 1 == m.commits.len() {
                    seen_new += 1;
                } else {
                    seen_old += 1;
                }
            }
        }
    }
    assert!(seen_old > 0 && seen_new > 0, "{seen_old} {seen_new}");
}

#[test]
fn same_config_same_bytes_other_seed_other_table() {
    let c = cfg(TableType::MergeOnRead, TableVersion::V9);
    let (a, b, d) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let ra = run(a.path(), &c);
    let rb = run(b.path(), &c);
    assert_eq!(ra.manifest, rb.manifest);
    assert_eq!(tree(a.path()), tree(b.path()));
    let rd = run(d.path(), &GenConfig { seed: 12, ..c });
    assert_ne!(
        ra.manifest.commits[1].updated,
        rd.manifest.commits[1].updated
    );
}

#[test]
fn refuses_to_overwrite_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = GenConfig {
        rows: 10,
        commits: 0,
        ..cfg(TableType::CopyOnWrite, TableVersion::V6)
    };
    run(dir.path(), &c);
    let err = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir.path(), &c))
        .unwrap_err();
    assert!(
        matches!(err, hps_gen::GenError::TableExists { .. }),
        "{err}"
    );
}

#[test]
fn manifest_is_stored_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(dir.path(), &cfg(TableType::CopyOnWrite, TableVersion::V9));
    let stored = std::fs::read(dir.path().join(hps_gen::MANIFEST_PATH)).unwrap();
    let m = hps_gen::Manifest::from_json(&stored).unwrap();
    assert_eq!(m, report.manifest);
    assert_eq!(m.expected_state().len() as u64, m.final_live_rows);
    for s in &m.samples {
        let row = m.expected_row(s.id, s.version).unwrap();
        assert_eq!(row.to_json(&m.table.partition_values), s.row);
    }
}

/// Content version and header keys of the first block of a log file.
fn first_block(bytes: &[u8]) -> (i32, Vec<i32>) {
    let i32_at = |p: usize| i32::from_be_bytes(bytes[p..p + 4].try_into().unwrap());
    assert_eq!(&bytes[..6], b"#HUDI#");
    let mut p = 6 + 8 + 8;
    let n = i32_at(p);
    p += 4;
    let mut keys = Vec::new();
    for _ in 0..n {
        keys.push(i32_at(p));
        p += 8 + i32_at(p + 4) as usize;
    }
    (i32_at(p + 8), keys)
}

/// A MOR table written by Hudi 0.12 for four instants (a compaction among them), upgraded in
/// place, then written by Hudi 0.14: `hoodie.properties` says 6 and keeps the version-5 keys,
/// no backup is left, and every commit file and log block is in the format of the release
/// that wrote it.
#[test]
fn upgrade_from_v5_mid_life() {
    let dir = tempfile::tempdir().unwrap();
    let c = GenConfig {
        commits: 5,
        delete_fraction: 0.0,
        upgrade_from_v5_after: Some(4),
        ..cfg(TableType::MergeOnRead, TableVersion::V6)
    };
    let report = run(dir.path(), &c);
    let files = tree(dir.path());
    let props = String::from_utf8(files[".hoodie/hoodie.properties"].clone()).unwrap();
    assert!(props.contains("\nhoodie.table.version=6\n"), "{props}");
    assert!(props.contains("\nhoodie.table.keygenerator.class="));
    assert!(!props.contains("hoodie.table.create.schema"));
    assert!(!files.contains_key(".hoodie/hoodie.properties.backup"));
    let m = &report.manifest;
    assert_eq!(
        m.commits
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>(),
        [
            "INSERT", "UPSERT", "UPSERT", "COMPACT", "UPSERT", "UPSERT", "COMPACT", "UPSERT"
        ]
    );
    let (mut v5_logs, mut v6_logs) = (0, 0);
    for commit in &m.commits {
        let era = c.version_at(commit.version);
        assert_eq!(
            era,
            if commit.version < 4 {
                TableVersion::V5
            } else {
                TableVersion::V6
            }
        );
        let completed = format!(".hoodie/{}.{}", commit.instant, commit.action);
        check_era(&metadata_json(&files[&completed]), era);
        let aux = format!(".hoodie/.aux/{}.compaction.requested", commit.instant);
        if commit.operation == "COMPACT" {
            assert_eq!(files.contains_key(&aux), era == TableVersion::V5, "{aux}");
        }
        for f in commit.files.iter().filter(|f| f.contains(".log.")) {
            let (content_version, keys) = first_block(&files[f]);
            match era {
                TableVersion::V5 => {
                    v5_logs += 1;
                    assert_eq!((content_version, keys), (2, vec![2, 0]), "{f}");
                }
                _ => {
                    v6_logs += 1;
                    assert_eq!((content_version, keys), (3, vec![0, 2]), "{f}");
                }
            }
        }
    }
    assert!(
        v5_logs > 0 && v6_logs > 0,
        "{v5_logs} / {v6_logs} log files"
    );
}

/// A MOR table with deletes cannot be written as version 5 (Kryo DELETE blocks).
#[test]
fn version_5_mor_deletes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(TableType::MergeOnRead, TableVersion::V5);
    let err = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir.path(), &c))
        .unwrap_err();
    assert!(err.to_string().contains("Kryo"), "{err}");
}
