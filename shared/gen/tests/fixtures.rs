//! The generator against Spark-written ground truth (`../shared/hudi-fixtures`): the keys of
//! `hoodie.properties` per table version, the Avro writer schema of commit metadata, and the
//! parquet types of base files. Skips loudly when `../shared` is absent.

use std::collections::BTreeSet;
use std::path::Path;

use hps_gen::{GenConfig, TableType, TableVersion, generate_local};
use hps_testkit::fixtures::unpack;

fn property_keys(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path.join(".hoodie/hoodie.properties"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().to_string())
        .collect()
}

fn generated(table_type: TableType, version: TableVersion) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        table_type,
        table_version: version,
        rows: 200,
        commits: 1,
        threads: 1,
        ..GenConfig::default()
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(generate_local(dir.path(), &cfg))
        .unwrap();
    dir
}

/// Keys we write although the fixtures lack them: defaults made explicit.
const EXPLICIT_DEFAULTS: [&str; 3] = [
    "hoodie.populate.meta.fields",
    "hoodie.table.base.file.format",
    "hoodie.table.timeline.timezone",
];
/// Fixture keys we do not write: metadata table and index definitions (none generated).
const METADATA_TABLE_KEYS: [&str; 3] = [
    "hoodie.table.index.defs.path",
    "hoodie.table.metadata.partitions",
    "hoodie.table.metadata.partitions.inflight",
];

fn compare_properties(fixtures: &[&str], table_type: TableType, version: TableVersion) {
    let mut spark = BTreeSet::new();
    for f in fixtures {
        let Some(t) = unpack(f) else {
            hps_testkit::skip(&format!("fixture {f} not available (../shared absent)"));
            return;
        };
        spark.extend(property_keys(&t.path));
    }
    let ours = property_keys(generated(table_type, version).path());
    let extra: Vec<_> = ours
        .difference(&spark)
        .filter(|k| !EXPLICIT_DEFAULTS.contains(&k.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "keys Spark never writes for v{}: {extra:?}",
        version.number()
    );
    let missing: Vec<_> = spark
        .difference(&ours)
        .filter(|k| !METADATA_TABLE_KEYS.contains(&k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "Spark writes these, we do not: {missing:?}"
    );
}

#[test]
fn v6_properties_match_spark() {
    compare_properties(
        &[
            "quickstart_trips_table/mor/avro/v6_trips_8i1u.zip",
            "sample_table/cow/v6_simplekeygen_nonhivestyle.zip",
        ],
        TableType::MergeOnRead,
        TableVersion::V6,
    );
}

#[test]
fn v9_properties_match_spark() {
    compare_properties(
        &[
            "sample_table/cow/v9_txns_simple_meta.zip",
            "sample_table/mor/avro/v9_txns_simple_meta.zip",
        ],
        TableType::CopyOnWrite,
        TableVersion::V9,
    );
}

fn writer_schema(file: &Path) -> apache_avro::Schema {
    let bytes = std::fs::read(file).unwrap();
    let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
    reader.writer_schema().clone()
}

fn completed_commits(timeline: &Path, action: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(timeline)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(&format!(".{action}")) && n.contains('_')
        })
        .collect();
    v.sort();
    v
}

#[test]
fn v9_commit_metadata_has_the_spark_writer_schema() {
    let Some(t) = unpack("sample_table/mor/avro/v9_txns_simple_meta.zip") else {
        hps_testkit::skip("fixture v9_txns_simple_meta not available (../shared absent)");
        return;
    };
    let spark = completed_commits(&t.path.join(".hoodie/timeline"), "deltacommit");
    let ours_dir = generated(TableType::MergeOnRead, TableVersion::V9);
    let ours = completed_commits(&ours_dir.path().join(".hoodie/timeline"), "deltacommit");
    assert!(!spark.is_empty() && ours.len() == 2);
    assert_eq!(
        writer_schema(&ours[1]).canonical_form(),
        writer_schema(&spark[1]).canonical_form(),
        "HoodieCommitMetadata writer schema differs from Hudi 1.1's"
    );
}

#[test]
fn base_files_use_parquet_avro_physical_types() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let Some(t) = unpack("sample_table/cow/v9_txns_simple_meta.zip") else {
        hps_testkit::skip("fixture v9_txns_simple_meta not available (../shared absent)");
        return;
    };
    let first_parquet = |dir: &Path| {
        let mut files: Vec<_> = walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        files.remove(0)
    };
    let describe = |p: &Path, col: &str| {
        let r = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
        let schema = r.metadata().file_metadata().schema_descr_ptr();
        let c = (0..schema.num_columns())
            .map(|i| schema.column(i))
            .find(|c| c.name() == col)
            .unwrap();
        (c.physical_type(), format!("{:?}", c.logical_type_ref()))
    };
    let spark = first_parquet(&t.path);
    let ours_dir = generated(TableType::CopyOnWrite, TableVersion::V9);
    let ours = first_parquet(ours_dir.path());
    // same physical and logical types for the same kinds of column
    assert_eq!(
        describe(&ours, "created_at"),
        describe(&spark, "txn_datetime")
    );
    assert_eq!(describe(&ours, "order_date"), describe(&spark, "txn_date"));
    assert_eq!(
        describe(&ours, "_hoodie_commit_time"),
        describe(&spark, "_hoodie_commit_time")
    );
    let (ours_dec, spark_dec) = (describe(&ours, "amount"), describe(&spark, "amount"));
    assert_eq!(ours_dec.0, spark_dec.0, "decimals as FIXED_LEN_BYTE_ARRAY");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
