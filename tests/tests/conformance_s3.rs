//! The conformance suite with an S3 source: every copy-on-write fixture and every
//! merge-on-read fixture with log files is uploaded to a bucket on a local moto server and read by hps-hudi
//! through `hps_aws::S3Store` (paginated LIST, ranged GETs); the rows must equal what the
//! `hudi` PyPI oracle reads from the same table on local disk. See `hudi_conformance/mod.rs`.

mod hudi_conformance;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hps_aws::{S3Store, local_aws_config, s3_client};
use hps_storage::{DynStore, ObjectStore};
use hps_testkit::moto::MotoServer;
use hudi_conformance::{Expect, FIXTURES, check_fixture};

fn files_under(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, p));
        }
    }
}

async fn upload(store: &S3Store, table_dir: &Path) -> usize {
    let mut files = Vec::new();
    files_under(table_dir, table_dir, &mut files);
    for (rel, path) in &files {
        store
            .put(rel, Bytes::from(std::fs::read(path).unwrap()))
            .await
            .unwrap();
    }
    files.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_from_s3_match_the_oracle() {
    let selected: Vec<(&str, Expect)> = FIXTURES
        .iter()
        .copied()
        .filter(|(n, e)| n.contains("/cow/") || *e == Expect::Mor)
        .collect();
    if hps_testkit::fixtures::all_fixture_zips().is_empty() {
        hps_testkit::skip("../shared/hudi-fixtures is absent");
        return;
    }
    let moto = MotoServer::start();
    let config = local_aws_config(&moto.endpoint()).await;
    let client = s3_client(&config);
    client.create_bucket().bucket("lake").send().await.unwrap();

    let mut compared = 0;
    let mut merged = 0;
    for (i, (name, expect)) in selected.iter().enumerate() {
        let fx = hps_testkit::fixtures::unpack(name).expect("fixture");
        let prefix = format!("warehouse/t{i}");
        let store = S3Store::new(client.clone(), "lake", &prefix).unwrap();
        let n = upload(&store, &fx.path).await;
        assert!(n > 0);
        let dyn_store: DynStore = Arc::new(store);
        assert!(
            dyn_store.root_uri().starts_with("s3://lake/"),
            "{}",
            dyn_store.root_uri()
        );
        let s = check_fixture(name, *expect, &fx.path, dyn_store).await;
        compared += s.compared;
        merged += s.merged_windows;
    }
    assert!(compared > 100, "compared {compared} windows over S3");
    assert!(merged > 20, "merged log files in {merged} windows over S3");
}
