//! The SAM template (`infra/template.yaml`): cfn-lint on the SAM source and on the template the
//! SAM transform produces (which is where circular dependencies show up), plus checks of the
//! wiring the design depends on (FIFO + DLQ, partial batch responses, notification filters,
//! least-privilege roles, environment variable names the functions actually read).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hps_testkit::python::{venv_bin, venv_python};
use hps_testkit::workspace_root;
use serde_json::Value;

fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

/// Run cfn-lint on one file; (success, combined output).
fn cfn_lint(path: &Path) -> (bool, String) {
    let out = Command::new(venv_bin("cfn-lint"))
        .arg(path)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run cfn-lint (make venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// SAM-translate a template to CloudFormation JSON (infra/scripts/sam_translate.py).
fn translate(src: &Path, out: &Path) -> Result<(), String> {
    let script = workspace_root()
        .join("infra")
        .join("scripts")
        .join("sam_translate.py");
    let res = Command::new(venv_python())
        .arg(&script)
        .arg(src)
        .arg(out)
        .output()
        .expect("run sam_translate.py");
    if res.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        ))
    }
}

fn translated_template() -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("translated.json");
    translate(&template_path(), &out).unwrap_or_else(|e| panic!("SAM transform failed:\n{e}"));
    serde_json::from_slice(&std::fs::read(&out).expect("read translated")).expect("translated JSON")
}

#[test]
fn sam_template_passes_cfn_lint() {
    let (ok, text) = cfn_lint(&template_path());
    assert!(ok, "cfn-lint infra/template.yaml:\n{text}");
}

#[test]
fn translated_template_passes_cfn_lint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("translated.json");
    translate(&template_path(), &out).unwrap_or_else(|e| panic!("SAM transform failed:\n{e}"));
    let (ok, text) = cfn_lint(&out);
    assert!(ok, "cfn-lint on the SAM-translated template:\n{text}");
}

/// The check above can fail: a detector policy that references the bucket resource (instead
/// of the bucket-name parameter) closes the bucket -> permission -> function -> role -> bucket
/// cycle, which only the translated template shows to cfn-lint as E3004.
#[test]
fn lint_of_translated_template_catches_bucket_policy_cycle() {
    let src = std::fs::read_to_string(template_path()).expect("read template");
    let anchor = "        - DynamoDBReadPolicy:\n            TableName: !Ref BookmarkTable\n";
    assert!(
        src.contains(anchor),
        "template changed: update this test's anchor"
    );
    let broken = src.replacen(
        anchor,
        "        - S3ReadPolicy:\n            BucketName: !Ref LakeBucket\n",
        1,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("cyclic.yaml");
    std::fs::write(&yaml, broken).expect("write");
    let out = dir.path().join("cyclic.json");
    translate(&yaml, &out).unwrap_or_else(|e| panic!("SAM transform failed:\n{e}"));
    let (ok, text) = cfn_lint(&out);
    assert!(
        !ok && text.contains("E3004"),
        "expected E3004 for the cyclic variant, got:\n{text}"
    );
}

fn resources(t: &Value) -> &serde_json::Map<String, Value> {
    t["Resources"].as_object().expect("Resources")
}

/// Every IAM action granted by the inline policies of a role.
fn role_actions(t: &Value, role: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let r = &resources(t)[role]["Properties"];
    for p in r["Policies"].as_array().into_iter().flatten() {
        for st in p["PolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match &st["Action"] {
                Value::String(a) => {
                    out.insert(a.clone());
                }
                Value::Array(a) => {
                    out.extend(a.iter().filter_map(|x| x.as_str().map(String::from)))
                }
                _ => {}
            }
        }
    }
    out
}

fn managed_policies(t: &Value, role: &str) -> Vec<String> {
    resources(t)[role]["Properties"]["ManagedPolicyArns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn functions_queue_table_and_bucket_are_wired_as_designed() {
    let t = translated_template();
    let res = resources(&t);

    for f in ["CommitDetectorFunction", "IncrementalLoaderFunction"] {
        let p = &res[f]["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{f}");
        assert_eq!(p["Architectures"], serde_json::json!(["arm64"]), "{f}");
        assert_eq!(p["Handler"], "bootstrap", "{f}");
    }
    assert!(
        res["IncrementalLoaderFunction"]["Properties"]["VpcConfig"].is_object(),
        "loader runs in the VPC"
    );

    // FIFO queue with explicit dedup ids and a FIFO dead-letter queue
    let q = &res["CommitQueue"]["Properties"];
    assert_eq!(q["FifoQueue"], true);
    assert_eq!(q["ContentBasedDeduplication"], false);
    assert_eq!(
        q["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0],
        "CommitDeadLetterQueue"
    );
    assert_eq!(
        res["CommitDeadLetterQueue"]["Properties"]["FifoQueue"],
        true
    );

    // the loader's event source mapping reports partial batch failures
    let esm = res
        .values()
        .find(|r| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .expect("an event source mapping");
    let ep = &esm["Properties"];
    assert_eq!(
        ep["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    assert_eq!(ep["EventSourceArn"]["Fn::GetAtt"][0], "CommitQueue");
    assert_eq!(ep["FunctionName"]["Ref"], "IncrementalLoaderFunction");

    // bookmarks: on demand, point-in-time recovery
    let d = &res["BookmarkTable"]["Properties"];
    assert_eq!(d["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        d["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );

    // S3 -> detector for completed timeline instants only
    let confs =
        res["LakeBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
            .as_array()
            .expect("lambda notifications");
    let mut suffixes = BTreeSet::new();
    for c in confs {
        assert_eq!(c["Function"]["Fn::GetAtt"][0], "CommitDetectorFunction");
        for rule in c["Filter"]["S3Key"]["Rules"].as_array().expect("rules") {
            if rule["Name"] == "suffix" {
                suffixes.insert(rule["Value"].as_str().expect("suffix").to_string());
            }
        }
    }
    assert_eq!(
        suffixes,
        [".commit", ".deltacommit", ".replacecommit"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    // S3 rejects overlapping suffix filters on the same prefix
    for a in &suffixes {
        for b in &suffixes {
            assert!(
                a == b || !a.ends_with(b.as_str()),
                "suffix {a} overlaps {b}"
            );
        }
    }

    // the safety-net schedule invokes the detector
    let rule = res
        .values()
        .find(|r| r["Type"] == "AWS::Events::Rule")
        .expect("a scheduled rule");
    assert_eq!(
        rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0],
        "CommitDetectorFunction"
    );
}

#[test]
fn roles_are_least_privilege() {
    let t = translated_template();
    let det = role_actions(&t, "CommitDetectorFunctionRole");
    let load = role_actions(&t, "IncrementalLoaderFunctionRole");

    // detector: send to the queue, read bookmarks; nothing on S3, no writes to DynamoDB
    assert!(
        det.iter().any(|a| a.starts_with("sqs:SendMessage")),
        "{det:?}"
    );
    for a in &det {
        assert!(
            a.starts_with("sqs:SendMessage")
                || a == "sqs:GetQueueAttributes"
                || a == "sqs:GetQueueUrl"
                || matches!(
                    a.as_str(),
                    "dynamodb:GetItem"
                        | "dynamodb:Query"
                        | "dynamodb:Scan"
                        | "dynamodb:BatchGetItem"
                        | "dynamodb:DescribeTable"
                ),
            "detector role grants {a}"
        );
    }
    // loader: reads S3, never writes or deletes objects; no wildcard actions
    assert!(load.contains("s3:GetObject"), "{load:?}");
    assert!(load.contains("secretsmanager:GetSecretValue"), "{load:?}");
    assert!(
        load.contains("dynamodb:PutItem") && load.contains("dynamodb:UpdateItem"),
        "{load:?}"
    );
    for a in det.iter().chain(&load) {
        assert!(!a.ends_with(":*") && a != "*", "wildcard action {a}");
        assert!(
            !(a.starts_with("s3:Put") || a.starts_with("s3:Delete")),
            "object writes are not the functions' business: {a}"
        );
    }
    // the VPC execution role only for the loader
    let det_managed = managed_policies(&t, "CommitDetectorFunctionRole").join(" ");
    let load_managed = managed_policies(&t, "IncrementalLoaderFunctionRole").join(" ");
    assert!(!det_managed.contains("VPCAccess"), "{det_managed}");
    assert!(
        load_managed.contains("AWSLambdaVPCAccessExecutionRole"),
        "{load_managed}"
    );
}

/// Every environment variable the template sets is one the functions read (a renamed variable
/// in either place fails here), and every required variable is set by the template.
#[test]
fn template_environment_matches_lambda_config() {
    let t = translated_template();
    let res = resources(&t);
    let known: BTreeSet<&str> = hps_lambda::config::ENV_VARS
        .iter()
        .map(|v| v.name)
        .collect();
    for (f, role) in [
        ("CommitDetectorFunction", hps_lambda::config::Role::Detector),
        (
            "IncrementalLoaderFunction",
            hps_lambda::config::Role::Loader,
        ),
    ] {
        let vars = res[f]["Properties"]["Environment"]["Variables"]
            .as_object()
            .expect("variables");
        for k in vars.keys() {
            assert!(
                known.contains(k.as_str()),
                "{f} sets {k}, which hps-lambda does not read"
            );
        }
        for v in hps_lambda::config::ENV_VARS
            .iter()
            .filter(|v| v.required_for(role))
        {
            assert!(vars.contains_key(v.name), "{f} lacks required {}", v.name);
        }
    }
    // the deployed loader takes its password from Secrets Manager, never from the template
    let loader_vars = &res["IncrementalLoaderFunction"]["Properties"]["Environment"]["Variables"];
    assert!(loader_vars.get("HPS_PG_SECRET_ARN").is_some());
    assert!(loader_vars.get("HPS_PG_PASSWORD").is_none());
}
