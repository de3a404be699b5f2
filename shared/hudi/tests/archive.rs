//! Archived timelines of the real tables in `../shared/realworld-fixtures`: layout 1
//! (`hudi_v6_table_mor`, 15 archive entries = 5 instants x 3 states) and layout 2
//! (`hudi_v8_table_mor`, LSM history of 5 instants), plus damage done to copies of them.
//!
//! When `../shared` is absent the tests print a loud skip, or fail when `CI` is set.

use std::path::PathBuf;
use std::sync::Arc;

use hps_hudi::{Action, ArchivedInstant, ArchivedTimeline, HudiError, HudiTable};
use hps_storage::{DynStore, LocalStore};
use hps_testkit::fixtures::{FixtureTable, unpack_realworld};

/// An unpacked copy of a realworld fixture; removed on drop.
struct Fixture(FixtureTable);

impl Fixture {
    async fn table(&self) -> HudiTable {
        let store: DynStore = Arc::new(LocalStore::new(&self.0.path));
        HudiTable::open(store).await.unwrap()
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.0.path.join(rel)
    }
}

/// Unpack `realworld-fixtures/<name>.zip`; a loud skip when `../shared` is absent, a failure
/// when it is absent under CI.
fn fixture(name: &str) -> Option<Fixture> {
    let Some(t) = unpack_realworld(&format!("{name}.zip")) else {
        let reason = format!("fixture ../shared/realworld-fixtures/{name}.zip is absent");
        assert!(std::env::var_os("CI").is_none(), "{reason} and CI is set");
        hps_testkit::skip(&reason);
        return None;
    };
    Some(Fixture(t))
}

fn summary(tl: &ArchivedTimeline) -> Vec<(String, String, Option<String>)> {
    tl.instants
        .iter()
        .map(|i| {
            (
                i.requested_time.clone(),
                i.action.as_str().to_string(),
                i.completion_time.clone(),
            )
        })
        .collect()
}

fn row(r: &str, a: &str, c: &str) -> (String, String, Option<String>) {
    (r.to_string(), a.to_string(), Some(c.to_string()))
}

/// `(partition, path)` of every write stat, the path checked by prefix and suffix since the
/// handbook shortens file ids.
fn paths(i: &ArchivedInstant) -> Vec<(String, String)> {
    let md = i.metadata.as_ref().expect("commit metadata");
    md.write_stats()
        .map(|(p, s)| (p.to_string(), s.path.clone().unwrap_or_default()))
        .collect()
}

fn assert_path(i: &ArchivedInstant, idx: usize, partition: &str, prefix: &str, suffix: &str) {
    let p = paths(i);
    let (part, path) = &p[idx];
    assert_eq!(part, partition, "{}", i.requested_time);
    assert!(
        path.starts_with(&format!("{partition}/{prefix}")) && path.ends_with(suffix),
        "{}: {path}",
        i.requested_time
    );
}

fn replaced(i: &ArchivedInstant) -> Vec<(String, String)> {
    let md = i.metadata.as_ref().unwrap();
    md.replaced_file_groups()
        .map(|(p, f)| (p.to_string(), f.chars().take(8).collect()))
        .collect()
}

fn malformed_file(r: hps_hudi::Result<ArchivedTimeline>) -> String {
    match r {
        Err(HudiError::MalformedArchive { file, .. }) => file,
        other => panic!("expected MalformedArchive, got {other:?}"),
    }
}

const V6_A1: &str = ".hoodie/archived/.commits_.archive.1_1-0-1";
const V6_A2: &str = ".hoodie/archived/.commits_.archive.2_1-0-1";

#[tokio::test]
async fn v6_layout1_archive_has_the_five_completed_instants() {
    let Some(fx) = fixture("hudi_v6_table_mor") else {
        return;
    };
    let table = fx.table().await;
    let tl = table.archived_timeline(None).await.unwrap();
    assert_eq!(
        summary(&tl),
        vec![
            row("20250922132126575", "deltacommit", "20250922132142906"),
            row("20250922132143658", "deltacommit", "20250922132145735"),
            row("20250922132146183", "deltacommit", "20250922132149341"),
            row("20250922132149538", "commit", "20250922132151243"),
            row("20250922132151286", "replacecommit", "20250922132154278"),
        ]
    );
    let i = &tl.instants;
    assert_eq!(i[0].metadata.as_ref().unwrap().operation(), "INSERT");
    assert_path(
        &i[0],
        0,
        "2023-01-01",
        "27f970ca",
        "-0_0-13-25_20250922132126575.parquet",
    );
    assert_path(
        &i[0],
        1,
        "2023-01-02",
        "449fde7c",
        "-0_2-13-26_20250922132126575.parquet",
    );
    assert_path(
        &i[1],
        0,
        "2023-01-01",
        "8dbd20a3",
        "-0_0-28-47_20250922132143658.parquet",
    );
    assert_eq!(i[2].metadata.as_ref().unwrap().operation(), "UPSERT");
    assert_path(
        &i[2],
        0,
        "2023-01-01",
        ".27f970ca",
        "-0_20250922132126575.log.1_0-59-74",
    );
    let upsert = i[2]
        .metadata
        .as_ref()
        .unwrap()
        .write_stats()
        .next()
        .unwrap()
        .1
        .clone();
    assert_eq!(upsert.prev_commit.as_deref(), Some("20250922132126575"));
    assert_eq!(upsert.num_update_writes, Some(1));
    assert!(i[3].metadata.as_ref().unwrap().is_compaction());
    assert_path(
        &i[3],
        0,
        "2023-01-01",
        "27f970ca",
        "-0_0-74-87_20250922132149538.parquet",
    );
    assert!(i[4].metadata.as_ref().unwrap().is_clustering());
    assert_path(
        &i[4],
        0,
        "2023-01-01",
        "5023772b",
        "-0_0-88-103_20250922132151286.parquet",
    );
    assert_path(
        &i[4],
        1,
        "2023-01-02",
        "343e5050",
        "-0_0-87-102_20250922132151286.parquet",
    );
    let mut groups = replaced(&i[4]);
    groups.sort();
    assert_eq!(
        groups,
        vec![
            ("2023-01-01".to_string(), "27f970ca".to_string()),
            ("2023-01-01".to_string(), "8dbd20a3".to_string()),
            ("2023-01-02".to_string(), "449fde7c".to_string()),
        ]
    );
    assert_eq!(i[0].file, V6_A1);
    assert_eq!(i[4].file, V6_A2);
    assert_eq!(tl.watermark.as_deref(), Some("v1:2:136126"));
    assert!(tl.rolled_back_instants().is_empty());
    // the active timeline starts right after the archive: nothing overlaps
    let active = table.timeline().await.unwrap();
    let mut kept = tl.clone();
    kept.retain_not_active(&active);
    assert_eq!(kept, tl);
}

#[tokio::test]
async fn v6_after_skips_older_archive_files() {
    let Some(fx) = fixture("hudi_v6_table_mor") else {
        return;
    };
    let table = fx.table().await;
    let tl = table
        .archived_timeline(Some("20250922132146183"))
        .await
        .unwrap();
    let times: Vec<String> = tl
        .instants
        .iter()
        .map(|i| i.requested_time.clone())
        .collect();
    assert_eq!(times, vec!["20250922132149538", "20250922132151286"]);
    // archive.1 only holds instants at or before this bound once archive.2 is also old:
    // damage it, and a bound past archive.2 never opens it
    std::fs::write(fx.file(V6_A1), b"not an archive").unwrap();
    let tl = table
        .archived_timeline(Some("20250922132151286"))
        .await
        .unwrap();
    assert!(tl.instants.is_empty());
    assert_eq!(malformed_file(table.archived_timeline(None).await), V6_A1);
}

#[tokio::test]
async fn v6_damaged_archive_files_are_named() {
    let Some(fx) = fixture("hudi_v6_table_mor") else {
        return;
    };
    let table = fx.table().await;
    let original = std::fs::read(fx.file(V6_A2)).unwrap();
    let mut bad_magic = original.clone();
    bad_magic[44858] ^= 0xff; // the magic of entry 10's block
    let mut huge = original.clone();
    huge[6..14].copy_from_slice(&i64::MAX.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", original[..original.len() - 100].to_vec()),
        ("cut mid-block", original[..20_000].to_vec()),
        ("zero bytes", Vec::new()),
        ("bad magic at a block boundary", bad_magic),
        ("huge block length", huge),
    ];
    for (what, bytes) in cases {
        std::fs::write(fx.file(V6_A2), &bytes).unwrap();
        assert_eq!(
            malformed_file(table.archived_timeline(None).await),
            V6_A2,
            "{what}"
        );
    }
}

const V8_H: &str = ".hoodie/timeline/history";

#[tokio::test]
async fn v8_layout2_history_has_the_five_instants_with_completion_times() {
    let Some(fx) = fixture("hudi_v8_table_mor") else {
        return;
    };
    let table = fx.table().await;
    let tl = table.archived_timeline(None).await.unwrap();
    assert_eq!(
        summary(&tl),
        vec![
            row("20250922133010859", "deltacommit", "20250922133022856"),
            row("20250922133023329", "deltacommit", "20250922133025527"),
            row("20250922133025778", "deltacommit", "20250922133028211"),
            row("20250922133028343", "commit", "20250922133030613"),
            row("20250922133030689", "replacecommit", "20250922133033386"),
        ]
    );
    let i = &tl.instants;
    assert_eq!(i[0].metadata.as_ref().unwrap().operation(), "INSERT");
    assert_path(
        &i[0],
        0,
        "2023-01-01",
        "2069f073",
        "-0_0-29-45_20250922133010859.parquet",
    );
    assert_path(
        &i[0],
        1,
        "2023-01-02",
        "ee77de42",
        "-0_2-29-46_20250922133010859.parquet",
    );
    assert_path(
        &i[1],
        0,
        "2023-01-01",
        "71df301e",
        "-0_0-45-87_20250922133023329.parquet",
    );
    let upsert = i[2]
        .metadata
        .as_ref()
        .unwrap()
        .write_stats()
        .next()
        .unwrap()
        .1
        .clone();
    assert_eq!(upsert.prev_commit.as_deref(), Some("20250922133025778"));
    assert_eq!(upsert.base_file.as_deref(), Some(""));
    assert_eq!(upsert.log_files.len(), 1);
    assert_path(
        &i[2],
        0,
        "2023-01-01",
        ".2069f073",
        "-0_20250922133025778.log.1_0-71-127",
    );
    assert!(i[3].metadata.as_ref().unwrap().is_compaction());
    assert_path(
        &i[3],
        0,
        "2023-01-01",
        "2069f073",
        "-0_0-87-153_20250922133028343.parquet",
    );
    assert!(i[4].metadata.as_ref().unwrap().is_clustering());
    assert_path(
        &i[4],
        0,
        "2023-01-01",
        "bcf2b792",
        "-0_0-98-178_20250922133030689.parquet",
    );
    assert_path(
        &i[4],
        1,
        "2023-01-02",
        "9ed36c30",
        "-0_1-98-179_20250922133030689.parquet",
    );
    let mut groups = replaced(&i[4]);
    groups.sort();
    assert_eq!(
        groups,
        vec![
            ("2023-01-01".to_string(), "2069f073".to_string()),
            ("2023-01-01".to_string(), "71df301e".to_string()),
            ("2023-01-02".to_string(), "ee77de42".to_string()),
        ]
    );
    assert_eq!(tl.watermark.as_deref(), Some("v2:2"));
    assert!(i.iter().all(|x| x.action != Action::Clustering));
    let active = table.timeline().await.unwrap();
    let mut kept = tl.clone();
    kept.retain_not_active(&active);
    assert_eq!(kept, tl);
}

#[tokio::test]
async fn v8_after_compares_completion_times() {
    let Some(fx) = fixture("hudi_v8_table_mor") else {
        return;
    };
    let table = fx.table().await;
    // 20250922133028343 was requested before the bound but completed after it
    let tl = table
        .archived_timeline(Some("20250922133030000"))
        .await
        .unwrap();
    let times: Vec<String> = tl
        .instants
        .iter()
        .map(|i| i.requested_time.clone())
        .collect();
    assert_eq!(times, vec!["20250922133028343", "20250922133030689"]);
    assert!(tl.instants.iter().all(|i| i.metadata.is_some()));
    let tl = table
        .archived_timeline(Some("20250922133033386"))
        .await
        .unwrap();
    assert!(tl.instants.is_empty());
}

#[tokio::test]
async fn v8_damaged_history_is_named() {
    let Some(fx) = fixture("hudi_v8_table_mor") else {
        return;
    };
    let table = fx.table().await;
    let version = fx.file(&format!("{V8_H}/_version_"));
    // _version_ missing: the highest manifest is used
    std::fs::remove_file(&version).unwrap();
    assert_eq!(
        table.archived_timeline(None).await.unwrap().instants.len(),
        5
    );
    std::fs::write(&version, b"garbage").unwrap();
    assert_eq!(
        malformed_file(table.archived_timeline(None).await),
        format!("{V8_H}/_version_")
    );
    std::fs::write(&version, b"3").unwrap();
    assert_eq!(
        malformed_file(table.archived_timeline(None).await),
        format!("{V8_H}/manifest_3")
    );
    std::fs::write(&version, b"2").unwrap();
    let second = format!("{V8_H}/20250922133025778_20250922133030689_0.parquet");
    std::fs::remove_file(fx.file(&second)).unwrap();
    assert_eq!(malformed_file(table.archived_timeline(None).await), second);
}
