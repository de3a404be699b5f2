//! Conformance of hps-hudi against the `hudi` PyPI package (hudi-rs 0.5.0) over every
//! copy-on-write table in `../shared/hudi-fixtures`, read from local directories (the
//! merge-on-read ones are in `conformance_mor.rs`). See `hudi_conformance/mod.rs` for what is
//! compared and where the semantics differ on purpose.

mod hudi_conformance;

use std::sync::Arc;

use hps_storage::{DynStore, LocalStore};
use hudi_conformance::{Expect, FIXTURES, check_fixture};

async fn run(name: &str) {
    let Some(&(_, expect)) = FIXTURES.iter().find(|(n, _)| *n == name) else {
        panic!("{name} is not in FIXTURES");
    };
    let Some(fx) = hps_testkit::fixtures::unpack(name) else {
        hps_testkit::skip(&format!("../shared/hudi-fixtures/{name} is absent"));
        return;
    };
    let store: DynStore = Arc::new(LocalStore::new(&fx.path));
    check_fixture(name, expect, &fx.path, store).await;
}

/// Every fixture zip on disk is in the list (none is skipped silently), and vice versa.
#[test]
fn fixture_list_is_complete() {
    let on_disk: Vec<String> = hps_testkit::fixtures::all_fixture_zips()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if on_disk.is_empty() {
        hps_testkit::skip("../shared/hudi-fixtures is absent");
        return;
    }
    let mut known: Vec<String> = FIXTURES.iter().map(|(n, _)| n.to_string()).collect();
    known.sort();
    assert_eq!(on_disk, known);
    assert!(FIXTURES.iter().any(|(_, e)| *e == Expect::Match));
}

hps_testkit::fixture_tests! {
    run;
    cow_v6_complexkeygen_hivestyle => "sample_table/cow/v6_complexkeygen_hivestyle.zip",
    cow_v6_empty => "sample_table/cow/v6_empty.zip",
    cow_v6_nonpartitioned => "sample_table/cow/v6_nonpartitioned.zip",
    cow_v6_no_metafields => "sample_table/cow/v6_simplekeygen_hivestyle_no_metafields.zip",
    cow_v6_simplekeygen_nonhivestyle => "sample_table/cow/v6_simplekeygen_nonhivestyle.zip",
    cow_v6_overwritetable => "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
    cow_v8_empty => "sample_table/cow/v8_empty.zip",
    cow_v8_nonpartitioned => "sample_table/cow/v8_nonpartitioned.zip",
    cow_v8_simplekeygen_nonhivestyle => "sample_table/cow/v8_simplekeygen_nonhivestyle.zip",
    cow_v9_lance => "sample_table/cow/v9_lance_nonpartitioned.zip",
    cow_v9_timebasedkeygen => "sample_table/cow/v9_timebasedkeygen_nonhivestyle.zip",
    cow_v9_txns_nonpart_nometa => "sample_table/cow/v9_txns_nonpart_nometa.zip",
    cow_v9_txns_simple_meta => "sample_table/cow/v9_txns_simple_meta.zip",
    cow_v9_txns_simple_overwrite => "sample_table/cow/v9_txns_simple_overwrite.zip",
}
