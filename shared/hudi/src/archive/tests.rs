//! Synthetic archives of both layouts: decoding, deduplication, `after` pruning and hostile
//! inputs (every damage is a `MalformedArchive` naming the file).

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;
use arrow_array::{ArrayRef, BinaryArray, Int32Array, RecordBatch, StringArray};
use bytes::Bytes;
use hps_storage::{DynStore, LocalStore};

use super::layout1::parse_archive_name;
use super::layout2::parse_history_name;
use super::*;
use crate::log::block::encode_block;

const ENTRY_SCHEMA: &str = r#"{"type":"record","name":"HoodieArchivedMetaEntry","namespace":"org.apache.hudi.avro.model","fields":[
 {"name":"hoodieCommitMetadata","type":["null",{"type":"record","name":"HoodieCommitMetadata","fields":[
   {"name":"partitionToWriteStats","type":["null",{"type":"map","values":{"type":"array","items":{"type":"record","name":"HoodieWriteStat","fields":[
     {"name":"fileId","type":["null","string"],"default":null},
     {"name":"path","type":["null","string"],"default":null}]}}}],"default":null},
   {"name":"operationType","type":["null","string"],"default":null}]}],"default":null},
 {"name":"hoodieRollbackMetadata","type":["null",{"type":"record","name":"HoodieRollbackMetadata","fields":[
   {"name":"commitsRollback","type":{"type":"array","items":"string"}}]}],"default":null},
 {"name":"commitTime","type":["null","string"],"default":null},
 {"name":"actionType","type":["null","string"],"default":null},
 {"name":"version","type":["int","null"],"default":1},
 {"name":"actionState","type":["null","string"],"default":null},
 {"name":"hoodieReplaceCommitMetadata","type":["null","HoodieCommitMetadata"],"default":null},
 {"name":"stateTransitionTime","type":["null","string"],"default":null}]}"#;

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

fn s(v: &str) -> Value {
    some(Value::String(v.to_string()))
}

fn commit_meta(op: &str, path: &str) -> Value {
    let stat = Value::Record(vec![("fileId".into(), s("f1")), ("path".into(), s(path))]);
    Value::Record(vec![
        (
            "partitionToWriteStats".into(),
            some(Value::Map(
                [("p".to_string(), Value::Array(vec![stat]))]
                    .into_iter()
                    .collect(),
            )),
        ),
        ("operationType".into(), s(op)),
    ])
}

/// One `HoodieArchivedMetaEntry` datum.
fn entry(time: &str, action: &str, state: &str, transition: &str, meta: Option<Value>) -> Vec<u8> {
    let schema = Schema::parse_str(ENTRY_SCHEMA).unwrap();
    let (commit, replace, rollback) = match (action, meta) {
        ("replacecommit", Some(m)) => (none(), some(m), none()),
        ("rollback", Some(m)) => (none(), none(), some(m)),
        (_, Some(m)) => (some(m), none(), none()),
        (_, None) => (none(), none(), none()),
    };
    let v = Value::Record(vec![
        ("hoodieCommitMetadata".into(), commit),
        ("hoodieRollbackMetadata".into(), rollback),
        ("commitTime".into(), s(time)),
        ("actionType".into(), s(action)),
        ("version".into(), Value::Union(1, Box::new(Value::Null))),
        ("actionState".into(), s(state)),
        ("hoodieReplaceCommitMetadata".into(), replace),
        ("stateTransitionTime".into(), s(transition)),
    ]);
    apache_avro::to_avro_datum(&schema, v).unwrap()
}

fn content(records: &[Vec<u8>]) -> Vec<u8> {
    let mut c = 3i32.to_be_bytes().to_vec();
    c.extend((records.len() as i32).to_be_bytes());
    for r in records {
        c.extend((r.len() as i32).to_be_bytes());
        c.extend(r);
    }
    c
}

fn archive_block(records: &[Vec<u8>]) -> Vec<u8> {
    encode_block(3, &[(2, ENTRY_SCHEMA)], &content(records), &[])
}

/// Three states of one write instant.
fn instant_entries(t: &str, action: &str, done: &str, path: &str) -> Vec<Vec<u8>> {
    let (req_action, op) = match action {
        "commit" => ("compaction", "COMPACT"),
        _ => (action, "UPSERT"),
    };
    vec![
        entry(t, req_action, "REQUESTED", t, None),
        entry(t, req_action, "INFLIGHT", t, None),
        entry(t, action, "COMPLETED", done, Some(commit_meta(op, path))),
    ]
}

const V6: &str = "hoodie.table.version=6\nhoodie.table.type=MERGE_ON_READ\n";
const V8: &str = "hoodie.table.version=8\nhoodie.table.type=MERGE_ON_READ\n";

async fn store_with(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, DynStore) {
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(LocalStore::new(dir.path()));
    for (p, b) in files {
        store.put(p, Bytes::from(b.clone())).await.unwrap();
    }
    (dir, store)
}

async fn load(
    props: &str,
    files: &[(&str, Vec<u8>)],
    after: Option<&str>,
) -> Result<ArchivedTimeline> {
    let (_d, store) = store_with(files).await;
    let cfg = TableConfig::parse("t", props.as_bytes()).unwrap();
    load_archived(&store, &cfg, "t", after).await
}

fn malformed_file(r: Result<ArchivedTimeline>) -> String {
    match r {
        Err(e @ HudiError::MalformedArchive { .. }) => {
            assert!(!e.is_transient());
            assert!(!e.needs_resync());
            let HudiError::MalformedArchive { file, .. } = e else {
                unreachable!()
            };
            file
        }
        other => panic!("expected MalformedArchive, got {other:?}"),
    }
}

const A1: &str = ".hoodie/archived/.commits_.archive.1_1-0-1";
const A2: &str = ".hoodie/archived/.commits_.archive.2_1-0-1";

fn two_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut f1 = Vec::new();
    for e in instant_entries(
        "20250101000000001",
        "deltacommit",
        "20250101000000002",
        "p/a.parquet",
    ) {
        f1.extend(archive_block(&[e]));
    }
    // a rollback archived before the commits of the same run, and a clean
    let rb = Value::Record(vec![(
        "commitsRollback".into(),
        Value::Array(vec![Value::String("20250101000000004".into())]),
    )]);
    let mut f2 = archive_block(&[
        entry(
            "20250101000000005",
            "rollback",
            "COMPLETED",
            "20250101000000006",
            Some(rb),
        ),
        entry(
            "20250101000000007",
            "clean",
            "COMPLETED",
            "20250101000000008",
            None,
        ),
    ]);
    let mut batch = instant_entries(
        "20250101000000003",
        "commit",
        "20250101000000009",
        "p/b.parquet",
    );
    batch.extend(instant_entries(
        "20250101000000010",
        "replacecommit",
        "20250101000000011",
        "p/c.parquet",
    ));
    f2.extend(archive_block(&batch));
    vec![
        (A1, f1),
        (A2, f2),
        (
            ".hoodie/archived/..commits_.archive.1_1-0-1.crc",
            b"crc".to_vec(),
        ),
    ]
}

#[tokio::test]
async fn layout1_completed_instants_sorted_with_payloads() {
    let tl = load(V6, &two_files(), None).await.unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = tl
        .instants
        .iter()
        .map(|i| {
            (
                i.requested_time.as_str(),
                i.action.as_str(),
                i.completion_time.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "20250101000000001",
                "deltacommit",
                Some("20250101000000002")
            ),
            ("20250101000000003", "commit", Some("20250101000000009")),
            ("20250101000000005", "rollback", Some("20250101000000006")),
            ("20250101000000007", "clean", Some("20250101000000008")),
            (
                "20250101000000010",
                "replacecommit",
                Some("20250101000000011")
            ),
        ]
    );
    let c = tl.by_requested("20250101000000003").unwrap();
    let md = c.metadata.as_ref().unwrap();
    assert!(md.is_compaction());
    assert_eq!(
        md.write_stats().next().unwrap().1.path.as_deref(),
        Some("p/b.parquet")
    );
    let r = tl.by_requested("20250101000000010").unwrap();
    assert_eq!(r.metadata.as_ref().unwrap().write_stats().count(), 1);
    assert_eq!(tl.rolled_back_instants(), vec!["20250101000000004"]);
    assert_eq!(tl.writes().count(), 3);
    assert_eq!(tl.by_requested("20250101000000007").unwrap().metadata, None);
    assert_eq!(
        tl.watermark.as_deref(),
        Some(format!("v1:2:{}", two_files()[1].1.len())).as_deref()
    );
}

#[tokio::test]
async fn layout1_duplicates_collapse_and_missing_state_means_completed() {
    let mut files = two_files();
    // the same completed entry archived twice (a crashed run), plus an entry without state
    let mut f3 = archive_block(&[entry(
        "20250101000000001",
        "deltacommit",
        "COMPLETED",
        "20250101000000002",
        None,
    )]);
    let schema = Schema::parse_str(ENTRY_SCHEMA).unwrap();
    let stateless = apache_avro::to_avro_datum(
        &schema,
        Value::Record(vec![
            ("hoodieCommitMetadata".into(), none()),
            ("hoodieRollbackMetadata".into(), none()),
            ("commitTime".into(), s("20250101000000012")),
            ("actionType".into(), s("deltacommit")),
            ("version".into(), Value::Union(0, Box::new(Value::Int(1)))),
            ("actionState".into(), none()),
            ("hoodieReplaceCommitMetadata".into(), none()),
            ("stateTransitionTime".into(), none()),
        ]),
    )
    .unwrap();
    f3.extend(archive_block(&[stateless]));
    files.push((".hoodie/archived/.commits_.archive.3_1-0-1", f3));
    let tl = load(V6, &files, None).await.unwrap();
    assert_eq!(tl.instants.len(), 6);
    assert_eq!(
        tl.instants
            .iter()
            .filter(|i| i.requested_time == "20250101000000001")
            .count(),
        1
    );
    let last = tl.instants.last().unwrap();
    assert_eq!(
        (
            last.requested_time.as_str(),
            last.completion_time.as_deref()
        ),
        ("20250101000000012", None)
    );
}

#[tokio::test]
async fn layout1_after_stops_at_an_old_file() {
    // archive.1 is damaged, archive.2 holds only instants at or before the bound, archive.3
    // newer ones: reading stops after archive.2, so archive.1 is never opened
    let two = two_files();
    let files = vec![
        (A1, b"garbage that is not a log file".to_vec()),
        (A2, two[0].1.clone()),
        (
            ".hoodie/archived/.commits_.archive.3_1-0-1",
            two[1].1.clone(),
        ),
    ];
    let tl = load(V6, &files, Some("20250101000000002")).await.unwrap();
    let times: Vec<&str> = tl
        .instants
        .iter()
        .map(|i| i.requested_time.as_str())
        .collect();
    assert_eq!(
        times,
        vec![
            "20250101000000003",
            "20250101000000005",
            "20250101000000007",
            "20250101000000010"
        ]
    );
    // a bound past everything: nothing, and archive.1 still untouched
    let tl = load(V6, &files, Some("20250101000000010")).await.unwrap();
    assert!(tl.instants.is_empty());
    // a bound inside archive.2 (or none) reads archive.1 and reports its damage
    assert_eq!(
        malformed_file(load(V6, &files, Some("20250101000000000")).await),
        A1
    );
    assert_eq!(malformed_file(load(V6, &files, None).await), A1);
}

#[tokio::test]
async fn layout1_hostile_files_name_the_file() {
    let good = two_files()[0].1.clone();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero-byte file", Vec::new()),
        ("truncated", good[..good.len() - 10].to_vec()),
        ("cut in the first block", good[..40].to_vec()),
    ];
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    cases.push(("bad magic", bad_magic));
    let mut huge_len = good.clone();
    huge_len[6..14].copy_from_slice(&i64::MAX.to_be_bytes());
    cases.push(("huge block length", huge_len));
    let rec = entry(
        "20250101000000001",
        "deltacommit",
        "COMPLETED",
        "20250101000000002",
        None,
    );
    cases.push((
        "no SCHEMA header",
        encode_block(
            3,
            &[(0, "20250101000000001")],
            &content(std::slice::from_ref(&rec)),
            &[],
        ),
    ));
    cases.push((
        "delete block",
        encode_block(
            1,
            &[(2, ENTRY_SCHEMA)],
            &content(std::slice::from_ref(&rec)),
            &[],
        ),
    ));
    let mut c = content(std::slice::from_ref(&rec));
    c[0..4].copy_from_slice(&2i32.to_be_bytes());
    cases.push((
        "content version 2",
        encode_block(3, &[(2, ENTRY_SCHEMA)], &c, &[]),
    ));
    let mut c = content(std::slice::from_ref(&rec));
    c[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
    cases.push((
        "huge record count",
        encode_block(3, &[(2, ENTRY_SCHEMA)], &c, &[]),
    ));
    let mut c = content(std::slice::from_ref(&rec));
    c[8..12].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    cases.push((
        "huge record length",
        encode_block(3, &[(2, ENTRY_SCHEMA)], &c, &[]),
    ));
    let mut c = content(std::slice::from_ref(&rec));
    c.push(0);
    cases.push((
        "trailing byte",
        encode_block(3, &[(2, ENTRY_SCHEMA)], &c, &[]),
    ));
    cases.push((
        "invalid schema",
        encode_block(
            3,
            &[(2, "{not json")],
            &content(std::slice::from_ref(&rec)),
            &[],
        ),
    ));
    cases.push((
        "14-digit commit time is fine but 13 is not",
        archive_block(&[entry(
            "2025010100000",
            "deltacommit",
            "COMPLETED",
            "20250101000000002",
            None,
        )]),
    ));
    cases.push((
        "unknown state",
        archive_block(&[entry(
            "20250101000000001",
            "deltacommit",
            "DONE",
            "20250101000000002",
            None,
        )]),
    ));
    cases.push((
        "unknown action spelling",
        archive_block(&[entry(
            "20250101000000001",
            "Delta-Commit",
            "COMPLETED",
            "20250101000000002",
            None,
        )]),
    ));
    for (what, bytes) in cases {
        let r = load(V6, &[(A1, bytes)], None).await;
        assert_eq!(malformed_file(r), A1, "{what}");
    }
}

#[tokio::test]
async fn layout1_allocation_bombs_inside_a_record_are_refused() {
    // a map/array count and a string length of ~2^62 inside a tiny record
    let rec = entry(
        "20250101000000001",
        "deltacommit",
        "COMPLETED",
        "20250101000000002",
        Some(commit_meta("UPSERT", "p/a")),
    );
    // record layout: union 1 (0x02), union 1 for the map (0x02), then the map block count
    for bomb in [
        vec![
            0x02, 0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
        vec![0x02, 0x02, 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f],
    ] {
        let mut r = bomb.clone();
        r.extend_from_slice(&rec[bomb.len().min(rec.len())..]);
        let block = archive_block(&[r]);
        assert_eq!(malformed_file(load(V6, &[(A1, block)], None).await), A1);
    }
    // deep nesting through a recursive schema is capped
    let schema = r#"{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}"#;
    let mut deep = vec![0x02u8; 10_000];
    deep.push(0x00);
    let d = super::datum::DatumSchema::parse(schema).unwrap();
    assert!(d.decode(&deep).unwrap_err().contains("nesting"));
}

#[tokio::test]
async fn layout1_bad_names_and_merge_leftovers() {
    let good = two_files()[0].1.clone();
    let bad = ".hoodie/archived/.commits_.archive.x_1-0-1";
    assert_eq!(
        malformed_file(load(V6, &[(bad, good.clone())], None).await),
        bad
    );
    assert_eq!(
        parse_archive_name(".commits_.archive.12_1-0-1"),
        Some(Ok(12))
    );
    assert_eq!(parse_archive_name("..commits_.archive.1_1-0-1.crc"), None);
    assert!(
        parse_archive_name(".commits_.archive.1_1-0")
            .unwrap()
            .is_err()
    );
    // an unfinished merge: its half-written output is skipped, as Hudi does
    let plan_schema = Schema::parse_str(
        r#"{"type":"record","name":"HoodieMergeArchiveFilePlan","namespace":"org.apache.hudi.avro.model","fields":[
          {"name":"version","type":["int","null"],"default":1},
          {"name":"candidate","type":["null",{"type":"array","items":"string"}],"default":null},
          {"name":"mergedArchiveFileName","type":["null","string"],"default":null}]}"#,
    )
    .unwrap();
    let mut w = apache_avro::Writer::new(&plan_schema, Vec::new());
    w.append(Value::Record(vec![
        ("version".into(), Value::Union(0, Box::new(Value::Int(1)))),
        (
            "candidate".into(),
            some(Value::Array(vec![Value::String(format!("/t/{A1}"))])),
        ),
        (
            "mergedArchiveFileName".into(),
            s("/t/.hoodie/archived/.commits_.archive.2_1-0-1"),
        ),
    ]))
    .unwrap();
    let plan = w.into_inner().unwrap();
    let files = vec![
        (A1, good.clone()),
        (A2, good[..50].to_vec()),
        (".hoodie/archived/mergeArchivePlan", plan),
    ];
    let tl = load(V6, &files, None).await.unwrap();
    assert_eq!(tl.instants.len(), 1);
}

#[tokio::test]
async fn absent_archive_is_empty() {
    for props in [V6, V8] {
        let tl = load(props, &[], None).await.unwrap();
        assert!(tl.instants.is_empty());
        assert_eq!(tl.watermark, None);
    }
}

// ---------------------------------------------------------------------------------------
// layout 2

fn ocf(schema: &str, v: Value) -> Vec<u8> {
    let schema = Schema::parse_str(schema).unwrap();
    let mut w = apache_avro::Writer::new(&schema, Vec::new());
    w.append(v).unwrap();
    w.into_inner().unwrap()
}

const COMMIT_SCHEMA: &str = r#"{"type":"record","name":"HoodieCommitMetadata","namespace":"org.apache.hudi.avro.model","fields":[
   {"name":"partitionToWriteStats","type":["null",{"type":"map","values":{"type":"array","items":{"type":"record","name":"HoodieWriteStat","fields":[
     {"name":"fileId","type":["null","string"],"default":null},
     {"name":"path","type":["null","string"],"default":null}]}}}],"default":null},
   {"name":"operationType","type":["null","string"],"default":null}]}"#;

const ROLLBACK_SCHEMA: &str = r#"{"type":"record","name":"HoodieRollbackMetadata","namespace":"org.apache.hudi.avro.model","fields":[
   {"name":"commitsRollback","type":{"type":"array","items":"string"}}]}"#;

type Row<'a> = (&'a str, Option<&'a str>, &'a str, Option<Vec<u8>>);

fn history_parquet(rows: &[Row<'_>]) -> Vec<u8> {
    let col = |f: &dyn Fn(&Row<'_>) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_from_iter(vec![
        ("instantTime", col(&|r| Some(r.0.to_string()))),
        ("completionTime", col(&|r| r.1.map(str::to_string))),
        ("action", col(&|r| Some(r.2.to_string()))),
        (
            "metadata",
            Arc::new(BinaryArray::from(
                rows.iter().map(|r| r.3.as_deref()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "plan",
            Arc::new(BinaryArray::from(vec![None::<&[u8]>; rows.len()])) as ArrayRef,
        ),
        (
            "version",
            Arc::new(Int32Array::from(vec![1; rows.len()])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

const H: &str = ".hoodie/timeline/history";

fn commit_payload(op: &str, path: &str) -> Vec<u8> {
    ocf(COMMIT_SCHEMA, {
        let Value::Record(f) = commit_meta(op, path) else {
            unreachable!()
        };
        Value::Record(f)
    })
}

fn history() -> Vec<(String, Vec<u8>)> {
    let f1 = history_parquet(&[
        (
            "20250101000000001",
            Some("20250101000000003"),
            "deltacommit",
            Some(commit_payload("INSERT", "p/a.parquet")),
        ),
        (
            "20250101000000002",
            Some("20250101000000009"),
            "commit",
            Some(commit_payload("COMPACT", "p/b.parquet")),
        ),
    ]);
    let rb = ocf(
        ROLLBACK_SCHEMA,
        Value::Record(vec![(
            "commitsRollback".into(),
            Value::Array(vec![Value::String("20250101000000004".into())]),
        )]),
    );
    let f2 = history_parquet(&[
        (
            "20250101000000005",
            Some("20250101000000006"),
            "rollback",
            Some(rb),
        ),
        (
            "20250101000000007",
            Some("20250101000000008"),
            "clean",
            Some(b"not even looked at".to_vec()),
        ),
        (
            "20250101000000010",
            Some("20250101000000011"),
            "replacecommit",
            None,
        ),
    ]);
    let n1 = "20250101000000001_20250101000000002_0.parquet";
    let n2 = "20250101000000005_20250101000000010_0.parquet";
    let manifest = |files: &[(&str, usize)]| {
        let list: Vec<String> = files
            .iter()
            .map(|(n, l)| format!(r#"{{"fileName": "{n}", "fileLen": {l}, "extra": true}}"#))
            .collect();
        format!(r#"{{"files": [{}]}}"#, list.join(",")).into_bytes()
    };
    vec![
        (format!("{H}/_version_"), b"2".to_vec()),
        (format!("{H}/manifest_1"), manifest(&[(n1, f1.len())])),
        (
            format!("{H}/manifest_2"),
            manifest(&[(n1, f1.len()), (n2, f2.len())]),
        ),
        (format!("{H}/.manifest_2.crc"), b"x".to_vec()),
        // an orphan (unfinished write) the manifest does not list
        (
            format!("{H}/20250101000000012_20250101000000013_0.parquet"),
            b"junk".to_vec(),
        ),
        (format!("{H}/{n1}"), f1),
        (format!("{H}/{n2}"), f2),
    ]
}

async fn load2(files: &[(String, Vec<u8>)], after: Option<&str>) -> Result<ArchivedTimeline> {
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
    load(V8, &refs, after).await
}

fn set(files: &mut Vec<(String, Vec<u8>)>, name: &str, bytes: Option<Vec<u8>>) {
    let path = format!("{H}/{name}");
    files.retain(|(p, _)| *p != path);
    if let Some(b) = bytes {
        files.push((path, b));
    }
}

#[tokio::test]
async fn layout2_reads_the_current_manifest() {
    let tl = load2(&history(), None).await.unwrap();
    let got: Vec<(&str, Option<&str>, &str, bool)> = tl
        .instants
        .iter()
        .map(|i| {
            (
                i.requested_time.as_str(),
                i.completion_time.as_deref(),
                i.action.as_str(),
                i.metadata.is_some(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "20250101000000001",
                Some("20250101000000003"),
                "deltacommit",
                true
            ),
            (
                "20250101000000002",
                Some("20250101000000009"),
                "commit",
                true
            ),
            (
                "20250101000000005",
                Some("20250101000000006"),
                "rollback",
                false
            ),
            (
                "20250101000000007",
                Some("20250101000000008"),
                "clean",
                false
            ),
            (
                "20250101000000010",
                Some("20250101000000011"),
                "replacecommit",
                false
            ),
        ]
    );
    assert_eq!(tl.rolled_back_instants(), vec!["20250101000000004"]);
    assert_eq!(tl.watermark.as_deref(), Some("v2:2"));
    // by completion time: 002 was requested before the bound but completed after it
    let tl = load2(&history(), Some("20250101000000007")).await.unwrap();
    let times: Vec<&str> = tl
        .instants
        .iter()
        .map(|i| i.requested_time.as_str())
        .collect();
    assert_eq!(
        times,
        vec![
            "20250101000000002",
            "20250101000000007",
            "20250101000000010"
        ]
    );
}

#[tokio::test]
async fn layout2_version_file_fallbacks_and_errors() {
    // missing or empty _version_: the highest manifest
    for v in [None, Some(Vec::new()), Some(b"2\n".to_vec())] {
        let mut f = history();
        set(&mut f, "_version_", v);
        assert_eq!(load2(&f, None).await.unwrap().instants.len(), 5);
    }
    // an older version is honoured (manifest_1 lists one file)
    let mut f = history();
    set(&mut f, "_version_", Some(b"1".to_vec()));
    assert_eq!(load2(&f, None).await.unwrap().instants.len(), 2);
    for garbage in ["-1", "abc", "0", "99999999999999999999999"] {
        let mut f = history();
        set(&mut f, "_version_", Some(garbage.as_bytes().to_vec()));
        assert_eq!(
            malformed_file(load2(&f, None).await),
            format!("{H}/_version_"),
            "{garbage}"
        );
    }
    // a version whose manifest is missing
    let mut f = history();
    set(&mut f, "_version_", Some(b"7".to_vec()));
    assert_eq!(
        malformed_file(load2(&f, None).await),
        format!("{H}/manifest_7")
    );
    // no _version_ and no manifest, but history files
    let mut f = history();
    for n in ["_version_", "manifest_1", "manifest_2"] {
        set(&mut f, n, None);
    }
    assert_eq!(
        malformed_file(load2(&f, None).await),
        format!("{H}/_version_")
    );
}

#[tokio::test]
async fn layout2_hostile_manifests_and_files() {
    let n2 = "20250101000000005_20250101000000010_0.parquet";
    for bad in [
        &b"{"[..],
        b"[]",
        br#"{"files": [{"fileName": "../x.parquet", "fileLen": 1}]}"#,
        br#"{"files": [{"fileName": 5}]}"#,
    ] {
        let mut f = history();
        set(&mut f, "manifest_2", Some(bad.to_vec()));
        assert_eq!(
            malformed_file(load2(&f, None).await),
            format!("{H}/manifest_2")
        );
    }
    // a listed file is missing (even after re-reading the snapshot)
    let mut f = history();
    set(&mut f, n2, None);
    assert_eq!(malformed_file(load2(&f, None).await), format!("{H}/{n2}"));
    // size disagrees with fileLen
    let mut f = history();
    let mut grown = f.iter().find(|(p, _)| p.ends_with(n2)).unwrap().1.clone();
    grown.push(0);
    set(&mut f, n2, Some(grown));
    assert_eq!(malformed_file(load2(&f, None).await), format!("{H}/{n2}"));
    // a listed file that is not parquet (same length as recorded)
    let mut f = history();
    let len = f.iter().find(|(p, _)| p.ends_with(n2)).unwrap().1.len();
    set(&mut f, n2, Some(vec![b'x'; len]));
    assert_eq!(malformed_file(load2(&f, None).await), format!("{H}/{n2}"));
}

#[tokio::test]
async fn layout2_payloads_must_be_single_record_containers() {
    let two = {
        let schema = Schema::parse_str(COMMIT_SCHEMA).unwrap();
        let mut w = apache_avro::Writer::new(&schema, Vec::new());
        for _ in 0..2 {
            let Value::Record(f) = commit_meta("INSERT", "p") else {
                unreachable!()
            };
            w.append(Value::Record(f)).unwrap();
        }
        w.into_inner().unwrap()
    };
    let rb_as_commit = ocf(
        ROLLBACK_SCHEMA,
        Value::Record(vec![("commitsRollback".into(), Value::Array(vec![]))]),
    );
    let raw_json = br#"{"partitionToWriteStats": {}}"#.to_vec();
    for (what, payload) in [
        ("raw JSON", raw_json),
        ("empty", Vec::new()),
        ("two records", two),
        ("wrong record type", rb_as_commit),
    ] {
        let bytes = history_parquet(&[(
            "20250101000000001",
            Some("20250101000000002"),
            "commit",
            Some(payload),
        )]);
        let name = "20250101000000001_20250101000000001_0.parquet";
        let files = vec![
            (format!("{H}/_version_"), b"1".to_vec()),
            (
                format!("{H}/manifest_1"),
                format!(
                    r#"{{"files":[{{"fileName":"{name}","fileLen":{}}}]}}"#,
                    bytes.len()
                )
                .into_bytes(),
            ),
            (format!("{H}/{name}"), bytes),
        ];
        assert_eq!(
            malformed_file(load2(&files, None).await),
            format!("{H}/{name}"),
            "{what}"
        );
        // outside the window the payload is never read
        assert!(
            load2(&files, Some("20250101000000002"))
                .await
                .unwrap()
                .instants
                .is_empty(),
            "{what}"
        );
    }
    // null action is refused, null completion time is kept as unknown
    let name = "20250101000000001_20250101000000001_0.parquet";
    let bytes = history_parquet(&[("20250101000000001", None, "clean", None)]);
    let files = vec![
        (
            format!("{H}/manifest_3"),
            format!(
                r#"{{"files":[{{"fileName":"{name}","fileLen":{}}}]}}"#,
                bytes.len()
            )
            .into_bytes(),
        ),
        (format!("{H}/{name}"), bytes),
    ];
    let tl = load2(&files, None).await.unwrap();
    assert_eq!(tl.instants[0].completion_time, None);
    assert_eq!(tl.watermark.as_deref(), Some("v2:3"));
    assert_eq!(parse_history_name("1_2_0.parquet"), None);
    assert_eq!(
        parse_history_name("20250101000000001_20250101000000002_10.parquet"),
        Some(("20250101000000001".into(), "20250101000000002".into(), 10))
    );
}
