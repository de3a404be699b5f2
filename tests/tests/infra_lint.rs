//! The SAM template (`infra/template.yaml`): cfn-lint, with and without the serverless rules
//! (`cfn-lint-serverless`), on the SAM source and on the template the SAM transform produces
//! (which is where circular dependencies show up), plus checks of the translated template's
//! wiring (FIFO + DLQ, partial batch responses, notification filters, the EventBridge rule),
//! least privilege (every statement names its resources), the alarms and their actions, the
//! optional VPC endpoints, and the environment variable names the functions actually read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hps_testkit::python::{venv_bin, venv_python};
use hps_testkit::workspace_root;
use serde_json::Value;

fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

/// Run cfn-lint on one file with extra arguments; (success, combined output).
fn cfn_lint_with(path: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(venv_bin("cfn-lint"))
        .args(extra)
        .arg("--")
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

/// Run cfn-lint on one file; (success, combined output).
fn cfn_lint(path: &Path) -> (bool, String) {
    cfn_lint_with(path, &[])
}

/// The serverless rules (PyPI `cfn-lint-serverless`) on top of cfn-lint's own.
const SERVERLESS_RULES: [&str; 2] = ["--append-rules", "cfn_lint_serverless.rules"];

/// cfn-lint's findings: (rule id, message) of each `ES1001 message` line.
fn finding_ids(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (id, msg) = l.split_once(' ')?;
            // E3004, W1001 (cfn-lint), ES1001, WS1000 (serverless rules)
            let is_id = (5..=6).contains(&id.len())
                && id.starts_with(['E', 'W', 'I'])
                && id[id.len() - 4..].bytes().all(|b| b.is_ascii_digit());
            is_id.then(|| (id.to_string(), msg.to_string()))
        })
        .collect()
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

/// The serverless rules on the SAM source are clean; the findings they would make are
/// justified where they arise (`Metadata.cfn-lint.config.ignore_checks`, with the reason).
#[test]
fn sam_template_passes_the_serverless_rules() {
    let (ok, text) = cfn_lint_with(&template_path(), &SERVERLESS_RULES);
    assert!(
        ok,
        "cfn-lint with cfn-lint-serverless on infra/template.yaml:\n{text}"
    );
    let src = std::fs::read_to_string(template_path()).expect("read template");
    let ignored = src.matches("ignore_checks:").count();
    assert!(ignored >= 3, "the justified exceptions are in the template");
}

#[test]
fn translated_template_passes_cfn_lint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("translated.json");
    translate(&template_path(), &out).unwrap_or_else(|e| panic!("SAM transform failed:\n{e}"));
    let (ok, text) = cfn_lint(&out);
    assert!(ok, "cfn-lint on the SAM-translated template:\n{text}");
    // the serverless rules on the translated template: what SAM generates carries no
    // Metadata, so the one finding there is justified here
    let (_, text) = cfn_lint_with(&out, &SERVERLESS_RULES);
    let findings = finding_ids(&text);
    assert!(
        findings.iter().any(|(id, _)| id == "ES1001"),
        "the serverless rules did not run:\n{text}"
    );
    for (id, msg) in findings {
        let justified = match id.as_str() {
            // an SQS event source mapping has no on-failure destination (Lambda supports it
            // for stream sources only): the queue's RedrivePolicy to the FIFO dead-letter
            // queue is its failure path
            "ES1001" => msg.contains("IncrementalLoaderFunctionCommits"),
            // the SAM source's justified exceptions, now on the generated resources
            "WS1000" | "WS1002" | "WS1004" | "ES6000" => true,
            _ => false,
        };
        assert!(justified, "unjustified finding {id} {msg}\n{text}");
    }
}

/// The check above can fail: a detector policy that references the bucket resource (instead
/// of the bucket-name parameter) closes the bucket -> permission -> function -> role -> bucket
/// cycle, which cfn-lint reports as E3004 on the translated template.
#[test]
fn lint_of_translated_template_catches_bucket_policy_cycle() {
    let src = std::fs::read_to_string(template_path()).expect("read template");
    let anchor = "              - Sid: PeekBookmarks\n";
    assert!(
        src.contains(anchor),
        "template changed: update this test's anchor"
    );
    let broken = src.replacen(
        anchor,
        "              - Sid: ReadLake\n                Effect: Allow\n                Action: s3:GetObject\n                Resource: !Sub \"${LakeBucket.Arn}/*\"\n              - Sid: PeekBookmarks\n",
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

/// A value as a list (a single string or object is a list of one).
fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The statements of a policy document; a statement behind `Fn::If` counts with its
/// condition's name.
fn statements(doc: &Value) -> Vec<(Option<String>, &Value)> {
    let mut out = Vec::new();
    for st in as_list(&doc["Statement"]) {
        match st.get("Fn::If").and_then(Value::as_array) {
            Some(branches) => {
                let cond = branches[0].as_str().map(String::from);
                for b in &branches[1..] {
                    if b.get("Ref") != Some(&Value::String("AWS::NoValue".into())) {
                        out.push((cond.clone(), b));
                    }
                }
            }
            None => out.push((None, st)),
        }
    }
    out
}

/// Every statement of every IAM policy in the template: the roles' inline policies and the
/// resource policies (queue policies). (owner resource, condition, statement)
fn all_statements(t: &Value) -> Vec<(String, Option<String>, &Value)> {
    let mut out = Vec::new();
    for (name, r) in resources(t) {
        let p = &r["Properties"];
        let docs: Vec<&Value> = match r["Type"].as_str() {
            Some("AWS::IAM::Role") => as_list(&p["Policies"])
                .into_iter()
                .map(|pol| &pol["PolicyDocument"])
                .collect(),
            Some("AWS::IAM::Policy") | Some("AWS::SQS::QueuePolicy") => {
                vec![&p["PolicyDocument"]]
            }
            _ => continue,
        };
        for d in docs {
            for (cond, st) in statements(d) {
                out.push((name.clone(), cond, st));
            }
        }
    }
    out
}

fn actions(st: &Value) -> Vec<String> {
    as_list(&st["Action"])
        .into_iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

/// Every IAM action granted by the inline policies of a role.
fn role_actions(t: &Value, role: &str) -> BTreeSet<String> {
    all_statements(t)
        .into_iter()
        .filter(|(owner, _, _)| owner == role)
        .flat_map(|(_, _, st)| actions(st))
        .collect()
}

/// The statements of a role that grant `action`.
fn grants<'t>(t: &'t Value, role: &str, action: &str) -> Vec<&'t Value> {
    all_statements(t)
        .into_iter()
        .filter(|(owner, _, st)| owner == role && actions(st).iter().any(|a| a == action))
        .map(|(_, _, st)| st)
        .collect()
}

fn alarm_action_target() -> Value {
    serde_json::json!({"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]})
}

#[test]
fn functions_queue_table_and_bucket_are_wired_as_designed() {
    let t = translated_template();
    let res = resources(&t);

    for (f, log_group, role) in [
        (
            "CommitDetectorFunction",
            "CommitDetectorLogGroup",
            "CommitDetectorFunctionRole",
        ),
        (
            "IncrementalLoaderFunction",
            "IncrementalLoaderLogGroup",
            "IncrementalLoaderFunctionRole",
        ),
    ] {
        let p = &res[f]["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{f}");
        assert_eq!(p["Architectures"], serde_json::json!(["arm64"]), "{f}");
        assert_eq!(p["Handler"], "bootstrap", "{f}");
        assert!(
            p["MemorySize"].is_number() && !p["Timeout"].is_null(),
            "{f}"
        );
        // the function writes to the group the stack created (never one Lambda creates)
        assert_eq!(p["LoggingConfig"]["LogGroup"]["Ref"], log_group, "{f}");
        assert!(
            !res[log_group]["Properties"]["RetentionInDays"].is_null(),
            "{f}"
        );
        // its own role, with the inline policy the tests below read
        assert_eq!(p["Role"]["Fn::GetAtt"][0], role, "{f}");
    }
    // no role other than the two (SAM generates none)
    let roles: Vec<&String> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        roles,
        [
            "CommitDetectorFunctionRole",
            "IncrementalLoaderFunctionRole"
        ]
    );
    let loader = &res["IncrementalLoaderFunction"]["Properties"];
    assert!(loader["VpcConfig"].is_object(), "loader runs in the VPC");
    assert_eq!(
        loader["ReservedConcurrentExecutions"]["Fn::If"][0],
        "HasReservedConcurrency"
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
    // visibility timeout = 6 x the loader's timeout, for every timeout the template allows
    let find = &q["VisibilityTimeout"]["Fn::FindInMap"];
    assert_eq!(find[0], "LoaderTimeouts");
    assert_eq!(find[1]["Ref"], "LoaderTimeoutSeconds");
    let allowed = &t["Parameters"]["LoaderTimeoutSeconds"]["AllowedValues"];
    let map = t["Mappings"]["LoaderTimeouts"]
        .as_object()
        .expect("mapping");
    assert_eq!(allowed.as_array().map(Vec::len), Some(map.len()));
    for v in allowed.as_array().expect("allowed values") {
        let secs: u64 = v.to_string().trim_matches('"').parse().expect("timeout");
        assert_eq!(
            map[&secs.to_string()][find[2].as_str().expect("key")],
            6 * secs,
            "visibility for a {secs} s timeout"
        );
    }

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

    // a created bucket: S3 notifications for completed timeline instants only, or everything
    // to EventBridge
    let nc = &res["LakeBucket"]["Properties"]["NotificationConfiguration"]["Fn::If"];
    assert_eq!(nc[0], "UseS3Notifications");
    assert_eq!(
        nc[2]["EventBridgeConfiguration"]["EventBridgeEnabled"],
        true
    );
    let confs = nc[1]["LambdaConfigurations"]
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

    // the safety-net schedule invokes the detector; its undeliverable events and the
    // detector's failed asynchronous invocations go to the failure queue
    let sweep = &res["SweepSchedule"]["Properties"];
    assert!(
        sweep["ScheduleExpression"]["Fn::Sub"]
            .as_str()
            .is_some_and(|e| e.starts_with("rate("))
    );
    assert_eq!(
        sweep["Targets"][0]["Arn"]["Fn::GetAtt"][0],
        "CommitDetectorFunction"
    );
    assert_eq!(
        sweep["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
        "DetectorFailureQueue"
    );
    let eic = &res["CommitDetectorEventInvokeConfig"]["Properties"];
    assert_eq!(eic["FunctionName"]["Ref"], "CommitDetectorFunction");
    assert_eq!(
        eic["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0],
        "DetectorFailureQueue"
    );
    // every permission to invoke the detector names its source
    for (name, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Permission")
    {
        let p = &r["Properties"];
        assert_eq!(p["FunctionName"]["Ref"], "CommitDetectorFunction", "{name}");
        assert!(!p["SourceArn"].is_null(), "{name} without SourceArn");
    }
}

/// LakeEventSource=eventbridge: the rule matches S3 "Object Created" events of the lake bucket
/// whose key is a completed instant under TimelineKeyPrefix and a `.hoodie/` folder (the
/// pattern `lambda_e2e.rs` runs on moto), targets the detector, and may invoke it.
#[test]
fn eventbridge_rule_matches_completed_instants_of_the_lake_bucket() {
    let t = translated_template();
    let res = resources(&t);
    let rule = &res["LakeTimelineRule"];
    assert_eq!(rule["Condition"], "UseEventBridge");
    assert_eq!(
        t["Conditions"]["UseEventBridge"],
        serde_json::json!({"Fn::Equals": [{"Ref": "LakeEventSource"}, "eventbridge"]})
    );
    assert_eq!(t["Parameters"]["LakeEventSource"]["Default"], "eventbridge");
    let p = &rule["Properties"];
    let pattern = &p["EventPattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.s3"]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["Object Created"])
    );
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        serde_json::json!([{"Ref": "LakeBucketName"}])
    );
    let keys: Vec<&str> = pattern["detail"]["object"]["key"]
        .as_array()
        .expect("key filters")
        .iter()
        .map(|k| k["wildcard"]["Fn::Sub"].as_str().expect("wildcard"))
        .collect();
    assert_eq!(
        keys,
        [
            "${TimelineKeyPrefix}*.hoodie/*.commit",
            "${TimelineKeyPrefix}*.hoodie/*.deltacommit",
            "${TimelineKeyPrefix}*.hoodie/*.replacecommit"
        ]
    );
    assert_eq!(
        p["Targets"][0]["Arn"]["Fn::GetAtt"][0],
        "CommitDetectorFunction"
    );
    assert_eq!(
        p["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
        "DetectorFailureQueue"
    );
    let perm = &res["LakeTimelineRulePermission"];
    assert_eq!(perm["Condition"], "UseEventBridge");
    assert_eq!(perm["Properties"]["Principal"], "events.amazonaws.com");
    assert_eq!(
        perm["Properties"]["SourceArn"]["Fn::GetAtt"][0],
        "LakeTimelineRule"
    );
    // EventBridge may put its undeliverable events in the failure queue, for these rules only
    let queue_policy = &res["DetectorFailureQueuePolicy"]["Properties"]["PolicyDocument"];
    let st = &queue_policy["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        st["Condition"]["ArnEquals"]["aws:SourceArn"][1]["Fn::If"][1]["Fn::GetAtt"][0],
        "LakeTimelineRule"
    );
}

/// Every statement names its resources (no "*" where the action has a resource: the one
/// exception is Lambda's VPC network interface management), and each function can do only
/// what it does.
#[test]
fn roles_are_least_privilege() {
    let t = translated_template();
    for (owner, _, st) in all_statements(&t) {
        let sid = st["Sid"].as_str().unwrap_or("");
        for r in as_list(&st["Resource"]) {
            if r == "*" {
                assert!(
                    owner == "IncrementalLoaderFunctionRole"
                        && sid == "VpcNetworkInterfaces"
                        && actions(st).iter().all(|a| a.starts_with("ec2:")),
                    "{owner} {sid}: Resource \"*\""
                );
            } else {
                assert!(
                    r.get("Ref").is_some()
                        || r.get("Fn::GetAtt").is_some()
                        || r.get("Fn::Sub").is_some(),
                    "{owner} {sid}: resource {r} is neither a reference nor built from one"
                );
            }
        }
        for a in actions(st) {
            assert!(
                !a.ends_with(":*") && !a.contains('*'),
                "{owner} {sid}: wildcard action {a}"
            );
            assert!(
                !matches!(a.as_str(), "dynamodb:Scan" | "dynamodb:BatchWriteItem"),
                "{owner} {sid}: {a}"
            );
            assert!(
                !(a.starts_with("s3:Put") || a.starts_with("s3:Delete")),
                "object writes are not the functions' business: {owner} {a}"
            );
        }
    }
    // no managed policies (AWSLambdaBasicExecutionRole and friends grant logs on "*")
    for (name, r) in resources(&t) {
        assert!(
            r["Properties"]["ManagedPolicyArns"].is_null(),
            "{name} has managed policies"
        );
    }

    let det = role_actions(&t, "CommitDetectorFunctionRole");
    let want_det: BTreeSet<String> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "dynamodb:GetItem",
        // only with a configuration file (conditions checked below)
        "s3:GetObject",
        "s3:ListBucket",
        "ssm:GetParameter",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        det, want_det,
        "detector: send to the queues, peek bookmarks, log; read the configuration file"
    );
    let load = role_actions(&t, "IncrementalLoaderFunctionRole");
    for a in [
        "s3:GetObject",
        "s3:ListBucket",
        "secretsmanager:GetSecretValue",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "kms:Decrypt",
        "rds-db:connect",
    ] {
        assert!(load.contains(a), "loader lacks {a}: {load:?}");
    }

    // resources: the queue, the bookmark table, the tables' prefix, the secret, the log group
    let target = |role: &str, action: &str| -> Vec<Value> {
        grants(&t, role, action)
            .into_iter()
            .flat_map(|st| as_list(&st["Resource"]).into_iter().cloned())
            .collect()
    };
    let getatt = |name: &str, attr: &str| serde_json::json!({"Fn::GetAtt": [name, attr]});
    assert_eq!(
        target("IncrementalLoaderFunctionRole", "sqs:ReceiveMessage"),
        [getatt("CommitQueue", "Arn")]
    );
    assert_eq!(
        target("CommitDetectorFunctionRole", "sqs:SendMessage"),
        [
            getatt("CommitQueue", "Arn"),
            getatt("DetectorFailureQueue", "Arn")
        ]
    );
    for role in [
        "CommitDetectorFunctionRole",
        "IncrementalLoaderFunctionRole",
    ] {
        assert_eq!(
            target(role, "dynamodb:GetItem"),
            [getatt("BookmarkTable", "Arn")]
        );
    }
    let lake_objects = serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${LakeBucketName}/${TimelineKeyPrefix}*"});
    let config_object = serde_json::json!({"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Path}",
        {"Path": {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Ref": "ConfigLocation"}]}]}}]});
    let config_parameter = serde_json::json!({"Fn::Sub": ["arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${Name}",
        {"Name": {"Fn::Select": [1, {"Fn::Split": ["ssm:/", {"Ref": "ConfigLocation"}]}]}}]});
    assert_eq!(
        target("IncrementalLoaderFunctionRole", "s3:GetObject"),
        [lake_objects.clone(), config_object.clone()]
    );
    // the configuration file (object or parameter), and for the detector the lake (discovered
    // tables), each granted only under its condition
    let role_by_cond = |role: &str, action: &str| -> Vec<(Option<String>, Value)> {
        all_statements(&t)
            .into_iter()
            .filter(|(owner, _, st)| owner == role && actions(st).iter().any(|a| a == action))
            .map(|(_, c, st)| (c, st["Resource"].clone()))
            .collect()
    };
    for role in [
        "CommitDetectorFunctionRole",
        "IncrementalLoaderFunctionRole",
    ] {
        assert_eq!(
            role_by_cond(role, "ssm:GetParameter"),
            [(Some("ConfigInSsm".into()), config_parameter.clone())],
            "{role}"
        );
    }
    assert_eq!(
        role_by_cond("CommitDetectorFunctionRole", "s3:GetObject"),
        [
            (Some("ConfigInS3".into()), config_object.clone()),
            (Some("HasConfig".into()), lake_objects.clone())
        ]
    );
    let det_list = grants(&t, "CommitDetectorFunctionRole", "s3:ListBucket");
    assert_eq!(
        det_list[0]["Condition"]["StringLike"]["s3:prefix"],
        serde_json::json!({"Fn::Sub": "${TimelineKeyPrefix}*"})
    );
    let list = grants(&t, "IncrementalLoaderFunctionRole", "s3:ListBucket");
    assert_eq!(
        list[0]["Condition"]["StringLike"]["s3:prefix"],
        serde_json::json!({"Fn::Sub": "${TimelineKeyPrefix}*"})
    );
    assert_eq!(
        target(
            "IncrementalLoaderFunctionRole",
            "secretsmanager:GetSecretValue"
        ),
        [serde_json::json!({"Ref": "PgSecretArn"})]
    );
    assert_eq!(
        target("IncrementalLoaderFunctionRole", "logs:PutLogEvents"),
        [getatt("IncrementalLoaderLogGroup", "Arn")]
    );
    // the password from the secret, or (PgAuth=iam) a login as PgUser on the given database
    let by_cond = |action: &str| -> Vec<(Option<String>, Value)> {
        all_statements(&t)
            .into_iter()
            .filter(|(_, _, st)| actions(st).iter().any(|a| a == action))
            .map(|(_, c, st)| (c, st["Resource"].clone()))
            .collect()
    };
    assert_eq!(
        by_cond("secretsmanager:GetSecretValue"),
        [(
            Some("UsePasswordSecret".into()),
            serde_json::json!({"Ref": "PgSecretArn"})
        )]
    );
    assert_eq!(
        by_cond("rds-db:connect"),
        [(
            Some("UseIamAuth".into()),
            serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${PgDbResourceId}/${PgUser}"})
        )]
    );
    // kms:Decrypt only on the given keys, only when some are given
    let kms: Vec<(Option<String>, &Value)> = all_statements(&t)
        .into_iter()
        .filter(|(_, _, st)| actions(st).iter().any(|a| a == "kms:Decrypt"))
        .map(|(_, c, st)| (c, st))
        .collect();
    assert_eq!(kms.len(), 1);
    assert_eq!(kms[0].0.as_deref(), Some("HasKmsKeys"));
    assert_eq!(
        kms[0].1["Resource"],
        serde_json::json!({"Ref": "KmsKeyArns"})
    );
}

/// The alarms the operator needs, each with the SNS topic (created or given) as its action,
/// on the metrics the functions emit.
#[test]
fn alarms_watch_queues_lag_resyncs_and_loader_errors() {
    use hps_lambda::metrics::{NAMESPACE, names};
    let t = translated_template();
    let res = resources(&t);
    let mut watched = Vec::new();
    for (name, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
    {
        let p = &r["Properties"];
        assert_eq!(
            p["AlarmActions"],
            serde_json::json!([alarm_action_target()]),
            "{name}"
        );
        assert_eq!(
            p["OKActions"],
            serde_json::json!([alarm_action_target()]),
            "{name}"
        );
        assert_eq!(p["TreatMissingData"], "notBreaching", "{name}");
        let ns = p["Namespace"].as_str().expect("namespace");
        let metric = p["MetricName"].as_str().expect("metric");
        let dims: Vec<(String, Value)> = as_list(&p["Dimensions"])
            .into_iter()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap_or("").to_string(),
                    d["Value"].clone(),
                )
            })
            .collect();
        if ns == NAMESPACE {
            // across tables: the pipeline dimension set of the EMF lines
            assert_eq!(
                dims,
                [(
                    "Pipeline".to_string(),
                    serde_json::json!({"Ref": "Pipeline"})
                )],
                "{name}"
            );
        }
        let subject = dims
            .first()
            .map(|(_, v)| {
                v.get("Fn::GetAtt")
                    .and_then(|g| g[0].as_str())
                    .or_else(|| v.get("Ref").and_then(Value::as_str))
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        watched.push((
            ns.to_string(),
            metric.to_string(),
            subject,
            p["Threshold"].clone(),
        ));
    }
    let has = |ns: &str, metric: &str, subject: &str| {
        watched
            .iter()
            .find(|(n, m, s, _)| n == ns && m == metric && s == subject)
            .map(|(_, _, _, threshold)| threshold.clone())
    };
    assert_eq!(
        has(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "CommitDeadLetterQueue"
        ),
        Some(Value::from(0))
    );
    assert_eq!(
        has(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "DetectorFailureQueue"
        ),
        Some(Value::from(0))
    );
    assert_eq!(
        has("AWS/SQS", "ApproximateAgeOfOldestMessage", "CommitQueue"),
        Some(serde_json::json!({"Ref": "QueueAgeAlarmSeconds"}))
    );
    assert_eq!(
        has(NAMESPACE, names::LAG, "Pipeline"),
        Some(serde_json::json!({"Ref": "LagAlarmSeconds"}))
    );
    assert_eq!(
        t["Parameters"]["LagAlarmSeconds"]["Default"], 900,
        "15 minutes"
    );
    assert!(has(NAMESPACE, names::NEEDS_RESYNC, "Pipeline").is_some());
    assert!(has(NAMESPACE, names::FAILURES, "Pipeline").is_some());
    for m in ["Errors", "Throttles"] {
        assert_eq!(
            has("AWS/Lambda", m, "IncrementalLoaderFunction"),
            Some(Value::from(0)),
            "loader {m}"
        );
    }
    // the topic: created unless an existing one is given
    assert_eq!(res["AlarmTopic"]["Condition"], "CreateAlarmTopic");
    // the dashboard plots the per-table metrics the loader emits
    let body = res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .expect("dashboard body");
    for m in [
        names::LAG,
        names::ROWS_UPSERTED,
        names::ROWS_DELETED,
        names::INSTANTS_BEHIND,
    ] {
        assert!(
            body.contains(&format!(
                "{{{NAMESPACE},Pipeline,Table}} MetricName=\\\"{m}\\\""
            )),
            "dashboard lacks {m} per table"
        );
    }
}

/// The optional VPC endpoints exist only behind their conditions: S3 and DynamoDB gateway
/// endpoints on the given route tables, SQS and Secrets Manager interface endpoints in the
/// loader's subnets behind a security group that admits the loader on 443.
#[test]
fn vpc_endpoints_are_optional() {
    let t = translated_template();
    let res = resources(&t);
    let mut services = BTreeSet::new();
    for (name, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::EC2::VPCEndpoint")
    {
        let p = &r["Properties"];
        let service = p["ServiceName"]["Fn::Sub"]
            .as_str()
            .expect("service")
            .to_string();
        let kind = p["VpcEndpointType"].as_str().expect("type");
        let cond = r["Condition"]
            .as_str()
            .expect("endpoint without a condition");
        match kind {
            "Gateway" => {
                assert_eq!(cond, "CreateGatewayEndpoints", "{name}");
                assert_eq!(p["RouteTableIds"]["Ref"], "EndpointRouteTableIds", "{name}");
            }
            "Interface" => {
                assert_eq!(cond, "CreateVpcEndpoints", "{name}");
                assert_eq!(p["PrivateDnsEnabled"], true, "{name}");
                assert_eq!(p["SubnetIds"]["Ref"], "SubnetIds", "{name}");
                assert_eq!(
                    p["SecurityGroupIds"][0]["Ref"], "EndpointSecurityGroup",
                    "{name}"
                );
            }
            other => panic!("{name}: endpoint type {other}"),
        }
        services.insert((
            service.rsplit('.').next().unwrap_or("").to_string(),
            kind.to_string(),
        ));
    }
    let want: BTreeSet<(String, String)> = [
        ("dynamodb", "Gateway"),
        ("s3", "Gateway"),
        ("secretsmanager", "Interface"),
        ("sqs", "Interface"),
    ]
    .into_iter()
    .map(|(s, k)| (s.to_string(), k.to_string()))
    .collect();
    assert_eq!(services, want);
    let sg = &res["EndpointSecurityGroup"];
    assert_eq!(sg["Condition"], "CreateVpcEndpoints");
    let ingress = &sg["Properties"]["SecurityGroupIngress"][0];
    assert_eq!(
        (ingress["FromPort"].clone(), ingress["ToPort"].clone()),
        (Value::from(443), Value::from(443))
    );
    // gateway endpoints need the VPC too
    let gw = t["Conditions"]["CreateGatewayEndpoints"]["Fn::And"]
        .as_array()
        .expect("and");
    assert!(gw.contains(&serde_json::json!({"Condition": "CreateVpcEndpoints"})));
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
