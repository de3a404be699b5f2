//! The `hudi-pg-sync` binary on the Spark-written fixtures: `timeline` and `changes` output,
//! exit codes, and an `s3://` table on a local moto server.

use std::path::Path;
use std::process::{Command, Output};

use hps_testkit::fixtures::{FixtureTable, unpack};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hudi-pg-sync"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run hudi-pg-sync")
}

fn fixture(name: &str) -> Option<FixtureTable> {
    let f = unpack(name);
    if f.is_none() {
        hps_testkit::skip(&format!("../shared/hudi-fixtures/{name} is absent"));
    }
    f
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn timeline_v9_lists_requested_completion_action_operation() {
    let Some(fx) = fixture("sample_table/cow/v9_txns_simple_meta.zip") else {
        return;
    };
    let out = stdout(&run(&["timeline", "--table", path(&fx.path)]));
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert!(lines.iter().all(|l| l.len() == 4), "{out}");
    assert_eq!(
        lines[0],
        vec!["20260307162434124", "20260307162438653", "commit", "INSERT"]
    );
    // ../shared/docs/hudi-format.md section 11 (the fixture workloads): c:I c:U* c:D* c:U* c:D* c:U* c:I rc:IO c:I c:I rc:CL c:I idx idx
    let ops: Vec<String> = lines.iter().map(|l| format!("{}:{}", l[2], l[3])).collect();
    assert_eq!(
        ops,
        [
            "commit:INSERT",
            "commit:UPSERT_PREPPED",
            "commit:DELETE_PREPPED",
            "commit:UPSERT_PREPPED",
            "commit:DELETE_PREPPED",
            "commit:UPSERT_PREPPED",
            "commit:INSERT",
            "replacecommit:INSERT_OVERWRITE",
            "commit:INSERT",
            "commit:INSERT",
            "replacecommit:CLUSTER",
            "commit:INSERT",
            "indexing:",
            "indexing:",
        ]
    );
    for l in &lines {
        assert!(l[1] > l[0], "completion after request: {l:?}");
    }
}

#[test]
fn timeline_v6_has_no_completion_times() {
    let Some(fx) = fixture("sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip")
    else {
        return;
    };
    let out = stdout(&run(&["timeline", "--table", path(&fx.path)]));
    assert_eq!(
        out,
        "20240707001301554\t\tcommit\tUPSERT\n20240707001302376\t\tcommit\tUPSERT\n20240707001303088\t\treplacecommit\tINSERT_OVERWRITE_TABLE\n"
    );
}

#[test]
fn timeline_archived_lists_archived_instants_first_and_marks_them() {
    for (name, first, first_completion, archived) in [
        (
            "hudi_v6_table_mor.zip",
            "20250922132126575",
            "20250922132142906",
            5,
        ),
        (
            "hudi_v8_table_mor.zip",
            "20250922133010859",
            "20250922133022856",
            5,
        ),
    ] {
        let Some(fx) = hps_testkit::fixtures::unpack_realworld(name) else {
            let reason = format!("../shared/realworld-fixtures/{name} is absent");
            assert!(std::env::var_os("CI").is_none(), "{reason} and CI is set");
            hps_testkit::skip(&reason);
            return;
        };
        let plain = stdout(&run(&["timeline", "--table", path(&fx.path)]));
        let out = stdout(&run(&["timeline", "--table", path(&fx.path), "--archived"]));
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert!(lines.iter().all(|l| l.len() == 5), "{out}");
        assert_eq!(
            lines[0],
            vec![first, first_completion, "deltacommit", "INSERT", "archived"]
        );
        let n_archived = lines.iter().filter(|l| l[4] == "archived").count();
        assert_eq!(n_archived, archived, "{name}");
        assert!(lines[..archived].iter().all(|l| l[4] == "archived"));
        // the active lines are the plain listing plus the marker
        let active: Vec<String> = lines[archived..]
            .iter()
            .map(|l| l[..4].join("\t"))
            .collect();
        assert_eq!(active, plain.lines().collect::<Vec<_>>(), "{name}");
    }
}

fn changes(table: &Path, extra: &[&str]) -> (Vec<serde_json::Map<String, Value>>, String) {
    let (rows, _, stderr) = changes_raw(table, extra);
    (rows, stderr)
}

/// Rows, raw lines (to check key order: serde_json maps sort keys), stderr.
fn changes_raw(
    table: &Path,
    extra: &[&str],
) -> (Vec<serde_json::Map<String, Value>>, Vec<String>, String) {
    let mut args = vec!["changes", "--table", path(table), "--format", "jsonl"];
    args.extend_from_slice(extra);
    let o = run(&args);
    let out = stdout(&o);
    let rows = out
        .lines()
        .map(
            |l| match serde_json::from_str::<Value>(l).expect("each line is JSON") {
                Value::Object(m) => m,
                other => panic!("not an object: {other}"),
            },
        )
        .collect();
    let lines = out.lines().map(str::to_string).collect();
    (rows, lines, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn keys(rows: &[serde_json::Map<String, Value>]) -> Vec<String> {
    let mut k: Vec<String> = rows
        .iter()
        .map(|r| r["_hoodie_record_key"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[test]
fn changes_after_the_first_commit_v9() {
    let Some(fx) = fixture("sample_table/cow/v9_txns_simple_meta.zip") else {
        return;
    };
    // (first, latest] = 001, 007, 011-018 (../shared/docs/hudi-format.md section 11, the fixture workloads)
    let (all, stderr) = changes(&fx.path, &["--after", "20260307162438653"]);
    // deletes derived by the reader (COW rewrites, insert_overwrite), after the upserts
    let (rows, deletes): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r["_op"] == "upsert");
    assert_eq!(
        keys(&deletes),
        ["TXN-002", "TXN-004", "TXN-005", "TXN-006"],
        "section 11: deletes of the window"
    );
    for d in &deletes {
        assert_eq!(d["_op"], "delete");
        assert_eq!(
            d["txn_id"], d["_hoodie_record_key"],
            "key column of a delete row"
        );
        assert!(
            d["amount"].is_null(),
            "other columns of a delete row are null"
        );
    }
    let want: Vec<String> = [
        "001", "007", "011", "012", "013", "014", "015", "016", "017", "018",
    ]
    .iter()
    .map(|n| format!("TXN-{n}"))
    .collect();
    assert_eq!(keys(&rows), want);
    assert!(
        stderr.contains("next bookmark: requested 20260307162456179 completion 20260307162456976"),
        "{stderr}"
    );
    for r in &rows {
        for c in [
            "_hoodie_commit_time",
            "_hoodie_commit_seqno",
            "_hoodie_record_key",
            "_hoodie_partition_path",
            "_hoodie_file_name",
        ] {
            assert!(r[c].is_string(), "{c} in {r:?}");
        }
        assert_eq!(r["_op"], "upsert");
        assert!(
            r["amount"].as_str().unwrap().contains('.'),
            "decimals are strings: {r:?}"
        );
        assert!(
            r["txn_datetime"].as_str().unwrap().ends_with('Z'),
            "timestamps ISO UTC: {r:?}"
        );
        assert_eq!(
            r["txn_date"].as_str().unwrap().len(),
            10,
            "dates YYYY-MM-DD: {r:?}"
        );
        assert!(r["txn_ts"].is_i64());
        assert!(r["is_international"].is_boolean());
    }
    // the column order is the table's
    let (_, lines, _) = changes_raw(&fx.path, &["--after", "20260307162438653"]);
    assert!(
        lines[0].starts_with(r#"{"_hoodie_commit_time":"#),
        "{}",
        lines[0]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(r#","_op":"upsert"}"#) || l.ends_with(r#","_op":"delete"}"#)),
        "_op comes last"
    );
    // one window = one commit: the insert_overwrite's rows
    let (rows, _) = changes(
        &fx.path,
        &[
            "--after",
            "20260307162450494",
            "--until",
            "20260307162451860",
        ],
    );
    let (ups, dels): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r["_op"] == "upsert");
    assert_eq!(keys(&ups), vec!["TXN-011", "TXN-012"]);
    // and the keys of the overwritten groups, retracted
    assert_eq!(keys(&dels), ["TXN-004", "TXN-006", "TXN-009", "TXN-010"]);
    // the clustering window has no changes
    let (rows, stderr) = changes(
        &fx.path,
        &[
            "--after",
            "20260307162454325",
            "--until",
            "20260307162456102",
        ],
    );
    assert!(rows.is_empty(), "{rows:?}");
    assert!(stderr.contains("1 instant(s)"), "{stderr}");
}

#[test]
fn changes_from_the_beginning_v6_wide_schema() {
    let Some(fx) = fixture("sample_table/cow/v6_complexkeygen_hivestyle.zip") else {
        return;
    };
    let (rows, _) = changes(&fx.path, &[]);
    // latest state of everything: ids 1 (updated), 2, 3, 4
    assert_eq!(rows.len(), 4);
    let r = rows.iter().find(|r| r["id"] == 2).unwrap();
    assert_eq!(r["_hoodie_record_key"], "id:2,name:Bob");
    assert_eq!(r["decimalField"], "67890.12345");
    assert_eq!(r["dateField"], "2023-04-02");
    assert_eq!(r["timestampField"], "2023-04-02T18:02:00Z");
    assert_eq!(r["binaryField"], "bW9yZSBiaW5hcnkgZGF0YQ==");
    assert_eq!(r["structField"]["child_struct"]["child_field2"], false);
    assert!(r["mapField"]["key3"].is_object());
    assert!(r["arrayField"].as_array().unwrap()[0]["arr_struct_f1"].is_string());
    // projection
    let (_, lines, _) = changes_raw(&fx.path, &["--columns", "_hoodie_record_key,id"]);
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(
            l.starts_with(r#"{"_hoodie_record_key":"id:"#) && l.ends_with(r#","_op":"upsert"}"#),
            "{l}"
        );
        assert_eq!(l.matches("\":").count(), 3, "{l}");
    }
}

#[test]
fn exit_codes() {
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "usage error");
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["timeline", "--table", path(dir.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Hudi table"));
    let o = run(&["changes", "--table", "ftp://x/y"]);
    assert_eq!(o.status.code(), Some(1));
    let Some(fx) = fixture("sample_table/cow/v9_lance_nonpartitioned.zip") else {
        return;
    };
    let o = run(&["changes", "--table", path(&fx.path)]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LANCE"));
    // the timeline of an unreadable table is still listed
    assert!(
        run(&["timeline", "--table", path(&fx.path)])
            .status
            .success()
    );
    let Some(fx) = fixture("sample_table/cow/v6_simplekeygen_hivestyle_no_metafields.zip") else {
        return;
    };
    let o = run(&["changes", "--table", path(&fx.path)]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hoodie.populate.meta.fields=false"));
    let Some(fx) = fixture("sample_table/cow/v9_txns_simple_meta.zip") else {
        return;
    };
    let o = run(&[
        "changes",
        "--table",
        path(&fx.path),
        "--after",
        "not-an-instant",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid window"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_table_via_aws_endpoint_url() {
    let Some(fx) = fixture("sample_table/cow/v8_nonpartitioned.zip") else {
        return;
    };
    let moto = hps_testkit::moto::MotoServer::start();
    let config = hps_aws::local_aws_config(&moto.endpoint()).await;
    let client = hps_aws::s3_client(&config);
    client.create_bucket().bucket("lake").send().await.unwrap();
    let mut stack = vec![fx.path.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = format!(
                    "tables/v8/{}",
                    p.strip_prefix(&fx.path).unwrap().to_string_lossy()
                );
                let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(&p).unwrap());
                client
                    .put_object()
                    .bucket("lake")
                    .key(key)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    let with_env = |args: &[&str]| {
        let mut c = bin();
        c.args(args);
        for (k, v) in moto.env() {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let local = stdout(&run(&["timeline", "--table", path(&fx.path)]));
    let remote = stdout(&with_env(&["timeline", "--table", "s3://lake/tables/v8"]));
    assert_eq!(local, remote);
    assert_eq!(remote.lines().count(), 2);
    let local = stdout(&run(&["changes", "--table", path(&fx.path)]));
    let remote = stdout(&with_env(&["changes", "--table", "s3://lake/tables/v8/"]));
    assert_eq!(local, remote);
    assert_eq!(remote.lines().count(), 4);
}

#[test]
fn config_check_prints_resolved_targets_and_refuses_hostile_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[defaults]\nschema = \"lake\"\n\n[tables.orders]\nlocation = \"s3://lake/wh/orders\"\n\
         table = \"orders_eu\"\nkey_columns = [\"order_id\"]\n\n[tables.orders.columns]\n\
         exclude = [\"email\"]\n",
    )
    .unwrap();
    let out = stdout(&run(&["config", "check", path(&good)]));
    assert!(out.contains("valid, 1 table(s)"), "{out}");
    assert!(
        out.contains("location:    s3://lake/wh/orders")
            && out.contains("staging:     lake.orders_eu")
            && out.contains("key:         order_id")
            && out.contains("columns:     all but email"),
        "{out}"
    );
    for (text, needle) in [
        (
            "[tables.orders]\nlocation = \"s3://lake/o\"\ntable = \"o; drop table x\"\n",
            "table \"orders\", key `table`",
        ),
        (
            "[tables.orders]\nlocation = \"s3://lake/o\"\nkeys = [\"id\"]\n",
            "keys",
        ),
        (
            "[tables.a]\nlocation = \"s3://lake/w\"\n[tables.b]\nlocation = \"s3://lake/w/b\"\n",
            "overlap",
        ),
        (
            "[tables.a]\nlocation = \"s3://lake/a\"\ntable = \"t\"\n[tables.b]\nlocation = \"s3://lake/b\"\ntable = \"t\"\n",
            "hudi.t",
        ),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let o = run(&["config", "check", path(&bad)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(needle) && err.contains("bad.toml"),
            "{text}: {err}"
        );
    }
}
