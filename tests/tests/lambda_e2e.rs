//! End to end on this machine with the real parts: a moto server (S3, SQS, DynamoDB), a real
//! PostgreSQL, the two Lambda binaries served by `cargo lambda watch --only-lambda-apis` and
//! invoked with `cargo lambda invoke`.
//!
//! PostgreSQL accepts TLS connections only; the loader connects with `verify-full` against the
//! cluster's throwaway CA, passed as `HPS_PG_SSLROOTCERT` like a deployment's CA bundle.
//!
//! Fixture tables from `../shared/hudi-fixtures` are uploaded to the moto bucket instant by
//! instant (data files, then the instant's timeline files, completed file last). The bucket
//! notifies a plain SQS queue of timeline keys (same suffix filters as the SAM template); those
//! S3 events are fed to the detector; the FIFO queue is then drained into the loader the way
//! the Lambda event source mapping does it (batches of up to ten, delete what did not fail).
//! The v9 table's instants reach the detector the other way a deployment can deliver them:
//! the bucket's EventBridge notifications, matched by a rule with the template's pattern
//! (Object Created under `.hoodie/`, completed-instant suffixes) and queued for the test.
//! After each instant the staging table is compared with the table's snapshot as the `hudi`
//! PyPI reader sees it, and the loader's metrics line (CloudWatch EMF) with what the instant
//! changed. Also covered: reordered and duplicate events, a lost event recovered by
//! the scheduled sweep, a poison table that ends in the dead-letter queue without holding up
//! the other tables, and keys the detector must ignore.
//!
//! Needs the function binaries: `make test` builds them (`cargo build --workspace --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use hps_sync::SyncMessage;
use hps_sync::queue::group_id_for_table;
use hps_testkit::fixtures::{FixtureTable, unpack};
use hps_testkit::moto::MotoServer;
use hps_testkit::net::{free_port, wait_for_port};
use hps_testkit::postgres::PgCluster;
use hps_testkit::python::{run_oracle, venv_bin};
use hps_testkit::{skip, workspace_root};
use serde_json::{Value, json};

const BUCKET: &str = "hudi-lake";
const PIPELINE: &str = "e2e";
const MAX_RECEIVE: i32 = 3;
const CONFIG_BUCKET: &str = "hps-config";

/// `target/debug` of this build (the test executable lives in `target/debug/deps`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

fn function_binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the functions first (`make test` does: cargo build --workspace --tests --bins)",
        p.display()
    );
    // a binary older than the sources it is built from would test yesterday's code
    let built = p
        .metadata()
        .and_then(|m| m.modified())
        .expect("binary mtime");
    let root = workspace_root();
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for dir in ["storage", "hudi", "postgres", "sync", "aws", "lambda"]
        .iter()
        .map(|c| root.join("shared").join(c).join("src"))
        .chain(
            ["commit-detector", "incremental-loader"]
                .iter()
                .map(|f| root.join("functions").join(f).join("src")),
        )
    {
        newest_rs(&dir, &mut newest);
    }
    if let Some((t, src)) = newest {
        assert!(
            t <= built,
            "{} is older than {}: rebuild the functions (`cargo build --workspace --bins`, part of `make test`)",
            p.display(),
            src.display()
        );
    }
    p
}

fn newest_rs(dir: &Path, newest: &mut Option<(std::time::SystemTime, PathBuf)>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_rs(&p, newest);
        } else if p.extension().is_some_and(|x| x == "rs")
            && let Ok(t) = e.metadata().and_then(|m| m.modified())
            && newest.as_ref().is_none_or(|(n, _)| t > *n)
        {
            *newest = Some((t, p));
        }
    }
}

/// A child process killed (by pid) on drop; its output goes to a log file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_logged(mut cmd: Command, log: PathBuf) -> Proc {
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = cmd
        .stdout(out)
        .stderr(err)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    Proc { child, log }
}

/// One configured table of the scenario and its local files.
struct Table {
    id: &'static str,
    prefix: &'static str,
    key: &'static str,
    fixture: FixtureTable,
    /// The table's files as uploaded so far (what the `hudi` oracle reads).
    mirror: PathBuf,
}

impl Table {
    fn uri(&self) -> String {
        format!("s3://{BUCKET}/{}", self.prefix)
    }

    fn staging(&self) -> String {
        let props = std::fs::read_to_string(self.fixture.path.join(".hoodie/hoodie.properties"))
            .expect("props");
        let name = props
            .lines()
            .find_map(|l| l.strip_prefix("hoodie.table.name="))
            .expect("hoodie.table.name")
            .trim()
            .to_string();
        hps_postgres::sanitize_table_name(&name)
    }
}

/// Files of a fixture grouped for upload: the ones needed first, then per instant (in
/// completion order) its data files followed by its timeline files, completed file last.
struct UploadPlan {
    initial: Vec<String>,
    instants: Vec<(String, Vec<String>)>,
}

fn instant_prefix(name: &str) -> Option<&str> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    (14..=17).contains(&digits).then(|| &name[..digits])
}

fn plan_upload(root: &Path) -> UploadPlan {
    let mut files = Vec::new();
    walk(root, root, &mut files);
    let mut initial = Vec::new();
    let mut timeline: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut data: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut completion: BTreeMap<String, String> = BTreeMap::new();
    for rel in files {
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        if let Some(rest) = rel.strip_prefix(".hoodie/") {
            let timeline_dir = rest.strip_prefix("timeline/").unwrap_or(rest);
            if timeline_dir.contains('/') {
                continue; // metadata table, archive, markers, .aux, .schema
            }
            if let Some(t) = instant_prefix(&name) {
                if let Some((_, c)) = name.split('.').next().and_then(|s| s.split_once('_')) {
                    completion.insert(t.to_string(), c.to_string());
                }
                timeline.entry(t.to_string()).or_default().push(rel.clone());
            } else if name == "hoodie.properties" {
                initial.push(rel);
            }
            continue;
        }
        // base file `<fileId>_<token>_<instant>.parquet`; log file `.<fileId>_<instant>.log.N_<token>`
        let t = name
            .strip_suffix(".parquet")
            .and_then(|s| s.rsplit('_').next())
            .or_else(|| {
                name.split(".log.")
                    .next()
                    .and_then(|s| s.rsplit('_').next())
            })
            .filter(|t| instant_prefix(t) == Some(t));
        match t {
            Some(t) => data.entry(t.to_string()).or_default().push(rel),
            None => initial.push(rel),
        }
    }
    let mut order: Vec<String> = timeline.keys().cloned().collect();
    order.sort_by_key(|t| completion.get(t).cloned().unwrap_or_else(|| t.clone()));
    let instants = order
        .into_iter()
        .map(|t| {
            let mut files = data.remove(&t).unwrap_or_default();
            let mut tl = timeline.remove(&t).unwrap_or_default();
            // requested, then inflight, then the completed file
            tl.sort_by_key(|f| {
                if f.ends_with(".requested") {
                    0
                } else if f.ends_with(".inflight") {
                    1
                } else {
                    2
                }
            });
            files.extend(tl);
            (t, files)
        })
        .collect();
    // data files of instants that are not on the timeline (failed writes) go first
    initial.extend(data.into_values().flatten());
    UploadPlan { initial, instants }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            walk(root, &p, out);
        } else if name != ".DS_Store" {
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

struct Harness {
    tmp: tempfile::TempDir,
    moto: MotoServer,
    pg: PgCluster,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
    events_url: String,
    /// EventBridge `Object Created` events the lake rule matched
    eventbridge_url: String,
    invoke_port: u16,
    // dropped in declaration order: functions before the emulator
    detector: Option<Proc>,
    loader: Option<Proc>,
    watch: Option<Proc>,
    invocations: u32,
}

/// What one drain of the FIFO queue into the loader did.
#[derive(Debug, Default)]
struct Drain {
    invocations: u32,
    /// table URI of every message reported as a batch item failure
    failed_tables: Vec<String>,
    /// tables seen in batches that also held messages of other tables
    mixed_batches: u32,
}

impl Harness {
    async fn start(tables: &str) -> Harness {
        Harness::start_with(("HPS_TABLES", tables.to_string()), None).await
    }

    /// Start with the tables from `source` (`HPS_TABLES` or `HPS_CONFIG`); `config` is
    /// written to the S3 object `s3://CONFIG_BUCKET/<key>` before the functions start.
    async fn start_with(source: (&str, String), config: Option<(&str, &str)>) -> Harness {
        let tmp = tempfile::tempdir().expect("tempdir");
        let moto = MotoServer::start();
        // TLS only (hostssl): the loader must verify the server with the test CA
        let pg = PgCluster::start_with(hps_testkit::postgres::PgOptions {
            tls: true,
            ..Default::default()
        });
        let conf = hps_aws::local_aws_config(&moto.endpoint()).await;
        let s3 = hps_aws::s3_client(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);

        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create bucket");
        let dlq_url = sqs
            .create_queue()
            .queue_name("commits-dlq.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .expect("dlq")
            .queue_url
            .expect("dlq url");
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq attrs")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dlq arn");
        let redrive =
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE}).to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name("commits.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("queue url");
        // S3 -> plain queue of notifications (what S3 would send to the detector), filtered
        // on the same suffixes as the SAM template
        let events_url = sqs
            .create_queue()
            .queue_name("s3-events")
            .send()
            .await
            .expect("events queue")
            .queue_url
            .expect("events url");
        let events_arn = "arn:aws:sqs:us-east-1:123456789012:s3-events".to_string();
        let mut nc = aws_sdk_s3::types::NotificationConfiguration::builder();
        for suffix in [".commit", ".deltacommit", ".replacecommit"] {
            let rules = aws_sdk_s3::types::S3KeyFilter::builder()
                .filter_rules(
                    aws_sdk_s3::types::FilterRule::builder()
                        .name("prefix".into())
                        .value("warehouse/")
                        .build(),
                )
                .filter_rules(
                    aws_sdk_s3::types::FilterRule::builder()
                        .name("suffix".into())
                        .value(suffix)
                        .build(),
                )
                .build();
            nc = nc.queue_configurations(
                aws_sdk_s3::types::QueueConfiguration::builder()
                    .queue_arn(&events_arn)
                    .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                    .filter(
                        aws_sdk_s3::types::NotificationConfigurationFilter::builder()
                            .key(rules)
                            .build(),
                    )
                    .build()
                    .expect("queue config"),
            );
        }
        // S3 -> EventBridge -> the rule a deployment with LakeEventSource=eventbridge has
        // (same pattern) -> a plain queue the test reads
        let eventbridge_url = sqs
            .create_queue()
            .queue_name("eventbridge-events")
            .send()
            .await
            .expect("eventbridge queue")
            .queue_url
            .expect("eventbridge url");
        create_lake_rule(
            &moto,
            "arn:aws:sqs:us-east-1:123456789012:eventbridge-events",
        );
        nc = nc.event_bridge_configuration(
            aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
        );
        s3.put_bucket_notification_configuration()
            .bucket(BUCKET)
            .notification_configuration(nc.build())
            .send()
            .await
            .expect("bucket notifications");
        let bookmarks = hps_aws::DynamoBookmarkStore::from_config(&conf, "hps-bookmarks");
        bookmarks
            .create_table_if_missing()
            .await
            .expect("bookmark table");

        if let Some((key, text)) = config {
            s3.create_bucket()
                .bucket(CONFIG_BUCKET)
                .send()
                .await
                .expect("create config bucket");
            s3.put_object()
                .bucket(CONFIG_BUCKET)
                .key(key)
                .body(ByteStream::from(text.as_bytes().to_vec()))
                .send()
                .await
                .expect("put config");
        }

        // the Lambda emulator, then the two functions talking to it
        let invoke_port = free_port();
        let mut watch = Command::new(venv_bin("cargo-lambda"));
        watch
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(invoke_port.to_string())
            .current_dir(workspace_root());
        let watch = spawn_logged(watch, tmp.path().join("watch.log"));
        assert!(
            wait_for_port(invoke_port, Duration::from_secs(30)),
            "cargo lambda watch did not listen"
        );

        let mut common: Vec<(String, String)> = moto.env();
        common.extend(
            [
                (source.0, source.1),
                ("HPS_QUEUE_URL", queue_url.clone()),
                ("HPS_BOOKMARK_TABLE", "hps-bookmarks".to_string()),
                ("HPS_PIPELINE", PIPELINE.to_string()),
                ("HPS_LOG", "info".to_string()),
                ("HPS_LOG_FORMAT", "json".to_string()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        let function = |name: &str, memory: &str, extra: &[(&str, String)]| {
            let mut cmd = Command::new(function_binary(name));
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(common.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{invoke_port}/.rt/{name}"),
                );
            spawn_logged(cmd, tmp.path().join(format!("{name}.log")))
        };
        let detector = function("commit-detector", "256", &[]);
        let loader = function(
            "incremental-loader",
            "1024",
            &[
                ("HPS_PG_HOST", "localhost".to_string()),
                ("HPS_PG_PORT", pg.port.to_string()),
                ("HPS_PG_DATABASE", "app".to_string()),
                ("HPS_PG_USER", "app".to_string()),
                // the test cluster trusts loopback; the loader still needs a password source
                ("HPS_PG_PASSWORD", "pw-e2e-7f3a9c".to_string()),
                ("HPS_PG_SSLMODE", "verify-full".to_string()),
                ("HPS_PG_SSLROOTCERT", cluster_ca(&pg).display().to_string()),
                ("HPS_DEADLINE_MARGIN_SECS", "5".to_string()),
            ],
        );
        Harness {
            tmp,
            moto,
            pg,
            s3,
            sqs,
            queue_url,
            dlq_url,
            events_url,
            eventbridge_url,
            invoke_port,
            detector: Some(detector),
            loader: Some(loader),
            watch: Some(watch),
            invocations: 0,
        }
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for (name, p) in [
            ("watch", &self.watch),
            ("commit-detector", &self.detector),
            ("incremental-loader", &self.loader),
        ] {
            if let Some(p) = p {
                let text = p.log_text();
                // errors and warnings first, else the last lines
                let mut tail: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        l.contains("\"level\":\"ERROR\"") || l.contains("\"level\":\"WARN\"")
                    })
                    .rev()
                    .take(20)
                    .collect();
                if tail.is_empty() {
                    tail = text.lines().rev().take(20).collect();
                }
                s.push_str(&format!("\n--- {name} (last lines) ---\n"));
                for l in tail.into_iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }

    /// The loader's EMF lines so far (validated).
    fn loader_emf(&self) -> Vec<Value> {
        emf_lines(&self.loader.as_ref().map(Proc::log_text).unwrap_or_default())
    }

    /// The detector's latest EMF line (validated).
    fn last_detector_emf(&self) -> Value {
        let log = self
            .detector
            .as_ref()
            .map(Proc::log_text)
            .unwrap_or_default();
        emf_lines(&log)
            .pop()
            .expect("the detector wrote a metrics line")
    }

    /// `cargo lambda invoke <function> --data-file <payload>`, bounded by `timeout`.
    fn invoke(&mut self, function: &str, payload: &Value) -> Result<Value, String> {
        self.invocations += 1;
        let file = self
            .tmp
            .path()
            .join(format!("event-{}.json", self.invocations));
        let mut f = std::fs::File::create(&file).expect("event file");
        f.write_all(payload.to_string().as_bytes())
            .expect("write event");
        let out = Command::new("timeout")
            .arg("120")
            .arg(venv_bin("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.invoke_port.to_string())
            .arg("--data-file")
            .arg(&file)
            .args(["--output-format", "json"])
            .current_dir(workspace_root())
            .output()
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
        }
        serde_json::from_str(&stdout)
            .map_err(|e| format!("invoke output is not JSON ({e}): {stdout}"))
    }

    fn invoke_ok(&mut self, function: &str, payload: &Value) -> Value {
        match self.invoke(function, payload) {
            Ok(v) => v,
            Err(e) => panic!("invoking {function} failed: {e}{}", self.logs()),
        }
    }

    /// Upload files of a table (and mirror them locally for the oracle).
    async fn upload(&self, table: &Table, rels: &[String]) {
        for rel in rels {
            let src = table.fixture.path.join(rel);
            let body = std::fs::read(&src).expect("read fixture file");
            let key = format!("{}/{rel}", table.prefix);
            self.s3
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            let dst = table.mirror.join(rel);
            std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir mirror");
            std::fs::copy(&src, &dst).expect("mirror copy");
        }
    }

    /// The S3 notifications the uploads produced so far (each an S3 event document).
    async fn take_s3_events(&self) -> Vec<Value> {
        self.take_queued(&self.events_url).await
    }

    /// The EventBridge events the lake rule matched so far.
    async fn take_eventbridge_events(&self) -> Vec<Value> {
        self.take_queued(&self.eventbridge_url).await
    }

    /// Receive and delete every message of a plain queue (JSON bodies).
    async fn take_queued(&self, url: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive s3 events");
            let msgs = r.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                out.push(serde_json::from_str(m.body().unwrap_or("null")).expect("event JSON"));
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete s3 event");
            }
        }
    }

    async fn queue_counts(&self, url: &str) -> (i64, i64) {
        let a = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Look at the FIFO queue's messages without consuming them: (group id, dedup id, body).
    async fn peek(&self) -> Vec<(String, String, SyncMessage)> {
        let r = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("peek");
        r.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.clone().unwrap_or_default();
                let get =
                    |k: MessageSystemAttributeName| attrs.get(&k).cloned().unwrap_or_default();
                (
                    get(MessageSystemAttributeName::MessageGroupId),
                    get(MessageSystemAttributeName::MessageDeduplicationId),
                    SyncMessage::from_json(m.body().unwrap_or("")).expect("sync message"),
                )
            })
            .collect()
    }

    /// Deliver the FIFO queue to the loader like the event source mapping: batches of up to
    /// ten, delete the messages not reported as failures, until nothing is visible or in
    /// flight (failed messages come back after the visibility timeout and move to the DLQ
    /// after `MAX_RECEIVE` receives).
    async fn drain(&mut self) -> Drain {
        let mut d = Drain::default();
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "queue did not drain{}",
                self.logs()
            );
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            let msgs = r.messages.unwrap_or_default();
            if msgs.is_empty() {
                let (visible, in_flight) = self.queue_counts(&self.queue_url).await;
                if visible == 0 && in_flight == 0 {
                    return d;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            let records: Vec<Value> = msgs
                .iter()
                .map(|m| {
                    let attrs: BTreeMap<String, String> = m
                        .attributes
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k.as_str().to_string(), v))
                        .collect();
                    json!({
                        "messageId": m.message_id(),
                        "receiptHandle": m.receipt_handle(),
                        "body": m.body(),
                        "attributes": attrs,
                        "messageAttributes": {},
                        "md5OfBody": m.md5_of_body(),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:commits.fifo",
                        "awsRegion": "us-east-1",
                    })
                })
                .collect();
            let tables: BTreeSet<String> = msgs
                .iter()
                .filter_map(|m| SyncMessage::from_json(m.body().unwrap_or("")).ok())
                .map(|m| m.table)
                .collect();
            if tables.len() > 1 {
                d.mixed_batches += 1;
            }
            let resp = self.invoke_ok("incremental-loader", &json!({ "Records": records }));
            d.invocations += 1;
            let failed: BTreeSet<String> = resp["batchItemFailures"]
                .as_array()
                .unwrap_or_else(|| panic!("loader response without batchItemFailures: {resp}"))
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(String::from))
                .collect();
            for m in &msgs {
                let id = m.message_id().unwrap_or_default();
                if failed.contains(id) {
                    let t = SyncMessage::from_json(m.body().unwrap_or(""))
                        .map(|s| s.table)
                        .unwrap_or_default();
                    d.failed_tables.push(t);
                } else {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
    }

    /// Staging rows: key -> (commit time, commit seqno); empty when staging does not exist yet.
    async fn staging(&self, table: &Table) -> BTreeMap<String, [String; 2]> {
        let client = connect(&self.pg).await;
        let sql = format!(
            "SELECT {}::text, _hoodie_commit_time, _hoodie_commit_seqno FROM hudi.{}",
            hps_postgres::quote_ident(table.key),
            hps_postgres::quote_ident(&table.staging())
        );
        match client.query(&sql, &[]).await {
            Ok(rows) => rows
                .iter()
                .map(|r| (r.get(0), [r.get(1), r.get(2)]))
                .collect(),
            Err(e)
                if e.code()
                    .is_some_and(|c| c.code() == "42P01" || c.code() == "3F000") =>
            {
                BTreeMap::new()
            }
            Err(e) => panic!("reading staging {}: {e}", table.staging()),
        }
    }
}

/// The EventBridge pattern of `infra/template.yaml`'s `LakeTimelineRule` with
/// `TimelineKeyPrefix=warehouse/`: S3 "Object Created" in the lake bucket, keys of completed
/// instants under a `.hoodie/` folder (`infra_lint.rs` checks the template has this shape).
fn lake_rule_pattern() -> Value {
    let keys: Vec<Value> = ["commit", "deltacommit", "replacecommit"]
        .iter()
        .map(|s| json!({ "wildcard": format!("warehouse/*.hoodie/*.{s}") }))
        .collect();
    json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": { "bucket": { "name": [BUCKET] }, "object": { "key": keys } },
    })
}

/// Create the lake rule on moto's default event bus, targeting `queue_arn` (boto3 from the
/// venv: the Rust tests have no EventBridge client).
fn create_lake_rule(moto: &MotoServer, queue_arn: &str) {
    let script = r#"
import sys, boto3
events = boto3.client("events")
events.put_rule(Name="lake-timeline", EventPattern=sys.argv[1], State="ENABLED")
events.put_targets(Rule="lake-timeline", Targets=[{"Id": "queue", "Arn": sys.argv[2]}])
"#;
    let out = Command::new(hps_testkit::python::venv_python())
        .arg("-c")
        .arg(script)
        .arg(lake_rule_pattern().to_string())
        .arg(queue_arn)
        .envs(moto.env())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "creating the EventBridge rule failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The EMF lines in a function's output, each checked the way CloudWatch reads them: an
/// `_aws` member with a millisecond timestamp and one directive (namespace, dimension sets,
/// metric definitions), every dimension a string member and every metric a number member.
fn emf_lines(log: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in log.lines().filter(|l| l.contains("\"_aws\"")) {
        let doc: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("EMF line is not JSON ({e}): {line}"));
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_i64(), "EMF timestamp: {line}");
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .unwrap_or_else(|| panic!("no CloudWatchMetrics: {line}"));
        assert_eq!(directives.len(), 1, "{line}");
        let d = &directives[0];
        assert_eq!(d["Namespace"], hps_lambda::metrics::NAMESPACE, "{line}");
        let sets = d["Dimensions"].as_array().expect("dimension sets");
        assert!(!sets.is_empty(), "{line}");
        for dim in sets.iter().flat_map(|s| s.as_array().expect("set").iter()) {
            let name = dim.as_str().expect("dimension name");
            assert!(doc[name].is_string(), "dimension {name} missing: {line}");
        }
        let metrics = d["Metrics"].as_array().expect("metric definitions");
        assert!(!metrics.is_empty(), "{line}");
        for m in metrics {
            let name = m["Name"].as_str().expect("metric name");
            assert!(doc[name].is_number(), "metric {name} missing: {line}");
            assert!(
                ["Count", "Seconds", "Milliseconds"].contains(&m["Unit"].as_str().unwrap_or("")),
                "{line}"
            );
        }
        out.push(doc);
    }
    out
}

/// The EMF lines of one table.
fn table_lines(lines: &[Value], table: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["Table"] == table)
        .cloned()
        .collect()
}

fn metric(line: &Value, name: &str) -> f64 {
    line[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing: {line}"))
}

/// The cluster's CA certificate (PEM file): what the loader gets as `HPS_PG_SSLROOTCERT`,
/// the way a deployment passes a CA bundle (`PgSslRootCert`).
fn cluster_ca(pg: &PgCluster) -> PathBuf {
    pg.tls.as_ref().expect("a TLS cluster").ca_cert.clone()
}

/// The test's own reads go over TLS too (the cluster accepts nothing else).
async fn connect(pg: &PgCluster) -> hps_postgres::tokio_postgres::Client {
    let mut o = hps_postgres::ConnectOptions::new("localhost", pg.port, "app");
    o.dbname = Some("app".into());
    o.sslmode = Some(hps_postgres::SslMode::VerifyFull);
    o.sslrootcert = Some(cluster_ca(pg));
    o.password = Some(hps_postgres::Secret::new("unused"));
    hps_postgres::Connector::new(o)
        .expect("connector")
        .connect()
        .await
        .expect("connect")
}

/// The `hudi` reader's snapshot of the mirrored (uploaded so far) table.
fn oracle(table: &Table) -> BTreeMap<String, [String; 2]> {
    if !table.mirror.join(".hoodie/hoodie.properties").exists() {
        return BTreeMap::new();
    }
    let v = run_oracle(
        "snapshot_versions.py",
        &[&table.mirror.to_string_lossy(), table.key],
    );
    assert!(
        v.get("error").is_none(),
        "oracle failed on {}: {v}",
        table.id
    );
    serde_json::from_value(v).expect("oracle map")
}

fn s3_event_key(ev: &Value) -> String {
    let raw = ev["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap_or_default();
    hps_lambda::event::decode_s3_key(raw).expect("decodable key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_end_to_end() {
    let (Some(v6), Some(v9)) = (
        unpack("sample_table/cow/v6_nonpartitioned.zip"),
        unpack("sample_table/cow/v9_txns_nonpart_nometa.zip"),
    ) else {
        skip(
            "../shared/hudi-fixtures not found: the Lambda end-to-end test needs the fixture tables",
        );
        return;
    };
    let mirror = tempfile::tempdir().expect("mirror");
    // a base path with `=` (URL-encoded in S3 events) and a plain one
    let v6 = Table {
        id: "v6_nonpartitioned",
        prefix: "warehouse/db=sales/v6_nonpartitioned",
        key: "id",
        mirror: mirror.path().join("v6"),
        fixture: v6,
    };
    let v9 = Table {
        id: "v9_txns",
        prefix: "warehouse/v9_txns_nonpart_nometa",
        key: "txn_id",
        mirror: mirror.path().join("v9"),
        fixture: v9,
    };
    let garbage_uri = format!("s3://{BUCKET}/warehouse/garbage");
    let tables = format!(
        "{}={},{}={},garbage={garbage_uri}",
        v6.id,
        v6.uri(),
        v9.id,
        v9.uri()
    );
    let mut h = Harness::start(&tables).await;

    // --- a poison table: a completed-commit key with garbage and no hoodie.properties ---
    let poison_key =
        "warehouse/garbage/.hoodie/timeline/20260101000000000_20260101000001000.commit";
    h.s3.put_object()
        .bucket(BUCKET)
        .key(poison_key)
        .body(ByteStream::from_static(b"not avro"))
        .send()
        .await
        .expect("put");

    // --- v6: both commits uploaded, their events delivered reordered and duplicated ---
    let plan6 = plan_upload(&v6.fixture.path);
    assert_eq!(plan6.instants.len(), 2, "v6_nonpartitioned has two commits");
    h.upload(&v6, &plan6.initial).await;
    for (_, files) in &plan6.instants {
        h.upload(&v6, files).await;
    }
    let mut events = h.take_s3_events().await;
    // S3 announces a new notification configuration with a test event: tolerated, ignored
    let test_events: Vec<Value> = events
        .iter()
        .filter(|e| e["Event"] == "s3:TestEvent")
        .cloned()
        .collect();
    assert_eq!(test_events.len(), 1, "{events:?}");
    let r = h.invoke_ok("commit-detector", &test_events[0]);
    assert_eq!(r["enqueued"], 0, "{r}");
    events.retain(|e| e["Event"] != "s3:TestEvent");
    let keys: Vec<String> = events.iter().map(s3_event_key).collect();
    assert_eq!(
        keys.len(),
        3,
        "S3 notified the poison key and the two v6 commits only: {keys:?}"
    );
    let (t1, t2) = (plan6.instants[0].0.clone(), plan6.instants[1].0.clone());
    let ev_for = |t: &str| {
        events
            .iter()
            .find(|e| s3_event_key(e).contains(t))
            .cloned()
            .expect("event")
    };
    let poison_ev = events
        .iter()
        .find(|e| s3_event_key(e) == poison_key)
        .cloned()
        .expect("poison event");
    for ev in [ev_for(&t2), ev_for(&t1), ev_for(&t2), poison_ev] {
        let r = h.invoke_ok("commit-detector", &ev);
        assert_eq!(r["enqueued"], 1, "{r}");
    }
    // one message per (table, instant), grouped by table, deduplicated by table + instant
    let peeked = h.peek().await;
    let v6_msgs: Vec<_> = peeked
        .iter()
        .filter(|(_, _, m)| m.table == v6.uri())
        .collect();
    assert_eq!(
        v6_msgs.len(),
        2,
        "duplicate S3 event deduplicated: {peeked:?}"
    );
    for (group, dedup, m) in &v6_msgs {
        assert_eq!(*group, group_id_for_table(&v6.uri()));
        assert_eq!(
            *dedup,
            SyncMessage::event(v6.uri(), m.instant.clone()).dedup_id()
        );
    }
    let mut instants: Vec<String> = v6_msgs
        .iter()
        .filter_map(|(_, _, m)| m.instant.clone())
        .collect();
    instants.sort();
    assert_eq!(instants, vec![t1.clone(), t2.clone()]);

    let d = h.drain().await;
    assert!(
        d.failed_tables.iter().all(|t| *t == garbage_uri),
        "only the poison table fails: {d:?}"
    );
    assert_eq!(
        d.failed_tables.len(),
        MAX_RECEIVE as usize - 1,
        "poison deliveries after the peek: {d:?}"
    );
    assert!(
        d.mixed_batches >= 1,
        "a batch held the poison and v6 messages: {d:?}"
    );
    let expected6 = oracle(&v6);
    assert!(!expected6.is_empty());
    assert_eq!(
        h.staging(&v6).await,
        expected6,
        "v6 staging after both commits"
    );
    let (dlq_visible, _) = h.queue_counts(&h.dlq_url).await;
    assert_eq!(
        dlq_visible, 1,
        "the poison message reached the dead-letter queue"
    );
    // metrics: a failure line per poison delivery; v6's passes applied both instants and
    // at least every row staging now holds
    let lines = h.loader_emf();
    let poison = table_lines(&lines, "garbage");
    assert_eq!(poison.len(), d.failed_tables.len(), "{poison:?}");
    for l in &poison {
        assert_eq!(
            (metric(l, "Failures"), metric(l, "NeedsResync")),
            (1.0, 0.0),
            "{l}"
        );
        assert_eq!(l["Pipeline"], PIPELINE);
    }
    let v6_lines = table_lines(&lines, v6.id);
    let sum = |ls: &[Value], m: &str| ls.iter().map(|l| metric(l, m)).sum::<f64>();
    assert_eq!(sum(&v6_lines, "InstantsApplied"), 2.0, "{v6_lines:?}");
    assert_eq!(sum(&v6_lines, "Failures"), 0.0, "{v6_lines:?}");
    assert!(
        sum(&v6_lines, "RowsUpserted") >= expected6.len() as f64,
        "{v6_lines:?}"
    );
    let last6 = v6_lines.last().expect("a v6 line");
    assert_eq!(metric(last6, "InstantsBehind"), 0.0, "{last6}");
    // the lake rule matched the poison key and the two v6 commits (and no other upload)
    let bridged = h.take_eventbridge_events().await;
    let mut bridged_keys: Vec<String> = bridged
        .iter()
        .map(|e| {
            e["detail"]["object"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    bridged_keys.sort();
    let mut s3_keys = keys.clone();
    s3_keys.sort();
    assert_eq!(
        bridged_keys, s3_keys,
        "EventBridge matched what the S3 filter matched"
    );

    // --- v9: instant by instant, staging compared with the snapshot after each one; the
    // last instant's S3 event is lost ---
    let plan9 = plan_upload(&v9.fixture.path);
    h.upload(&v9, &plan9.initial).await;
    let n = plan9.instants.len();
    assert!(n >= 10, "v9_txns_nonpart_nometa has 11 instants, found {n}");
    let mut first_event: Option<Value> = None;
    let mut before_last: BTreeMap<String, [String; 2]> = BTreeMap::new();
    let mut shrank = false;
    let mut v9_lines_seen = 0;
    for (i, (t, files)) in plan9.instants.iter().enumerate() {
        let uploading = Instant::now();
        h.upload(&v9, files).await;
        let events = h.take_s3_events().await;
        assert_eq!(
            events.len(),
            1,
            "one completed-instant notification for {t}"
        );
        // the detector gets the EventBridge form of the same notification
        let bridged = h.take_eventbridge_events().await;
        assert_eq!(bridged.len(), 1, "one rule match for {t}: {bridged:?}");
        assert_eq!(bridged[0]["detail-type"], "Object Created");
        assert_eq!(
            bridged[0]["detail"]["object"]["key"].as_str(),
            Some(s3_event_key(&events[0]).as_str())
        );
        first_event.get_or_insert_with(|| bridged[0].clone());
        let lost = i + 1 == n;
        if !lost {
            let r = h.invoke_ok("commit-detector", &bridged[0]);
            assert_eq!(r["enqueued"], 1, "{r}");
            let m = h.last_detector_emf();
            assert_eq!(
                (metric(&m, "EventsSeen"), metric(&m, "InstantsEnqueued")),
                (1.0, 1.0),
                "{m}"
            );
        }
        let d = h.drain().await;
        assert!(d.failed_tables.is_empty(), "instant {t}: {d:?}");
        let staging = h.staging(&v9).await;
        let lines = table_lines(&h.loader_emf(), v9.id);
        let new_lines = &lines[v9_lines_seen..];
        v9_lines_seen = lines.len();
        if lost {
            assert_eq!(
                staging, before_last,
                "without its event the last instant is not applied yet"
            );
            assert_ne!(staging, oracle(&v9), "the last instant changes the table");
            assert!(new_lines.is_empty(), "no pass, no line: {new_lines:?}");
        } else {
            let expected = oracle(&v9);
            assert_eq!(
                staging,
                expected,
                "v9 staging after instant {t} ({}/{n})",
                i + 1
            );
            // the pass's metrics are what the instant did to staging: rows now carrying its
            // commit time were upserted, keys gone were deleted
            assert_eq!(new_lines.len(), 1, "one pass for {t}: {new_lines:?}");
            let l = &new_lines[0];
            let upserted = expected.values().filter(|v| v[0] == *t).count();
            let deleted = before_last
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .count();
            assert_eq!(
                [
                    "InstantsApplied",
                    "RowsUpserted",
                    "RowsDeleted",
                    "InstantsBehind",
                    "NeedsResync",
                    "Failures"
                ]
                .map(|m| metric(l, m)),
                [1.0, upserted as f64, deleted as f64, 0.0, 0.0, 0.0],
                "metrics of instant {t}: {l}"
            );
            assert!(metric(l, "Transactions") >= 1.0, "{l}");
            assert!(metric(l, "PassDuration") > 0.0, "{l}");
            // LOCAL timeline timezone: the completed file's S3 time (whole seconds on moto)
            let lag = metric(l, "Lag");
            let bound = uploading.elapsed().as_secs_f64() + 1.0;
            assert!(
                (0.0..=bound).contains(&lag),
                "lag {lag} s, uploaded {bound} s ago: {l}"
            );
            shrank |= !before_last.is_empty() && expected.len() < before_last.len();
            before_last = expected;
        }
    }

    assert!(
        shrank,
        "some v9 instant deleted rows (the fixture has DELETE commits)"
    );
    assert!(!before_last.is_empty());

    // --- a late redelivery of an applied instant's event: the detector's bookmark check
    // drops it ---
    let r = h.invoke_ok(
        "commit-detector",
        first_event.as_ref().expect("first v9 event"),
    );
    assert_eq!(
        (r["enqueued"].as_u64(), r["already_applied"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    let m = h.last_detector_emf();
    assert_eq!(
        (
            metric(&m, "InstantsAlreadyApplied"),
            metric(&m, "InstantsEnqueued")
        ),
        (1.0, 0.0),
        "{m}"
    );

    // --- the scheduled safety-net sweep recovers the lost event ---
    let sweep: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("infra/events/scheduled-sweep.json"))
            .expect("sweep event"),
    )
    .expect("sweep JSON");
    let r = h.invoke_ok("commit-detector", &sweep);
    assert_eq!(
        r["enqueued"], 3,
        "one sweep message per configured table: {r}"
    );
    let m = h.last_detector_emf();
    assert_eq!(
        (metric(&m, "SweepsEnqueued"), metric(&m, "EventsSeen")),
        (3.0, 0.0),
        "{m}"
    );
    let d = h.drain().await;
    assert!(d.failed_tables.iter().all(|t| *t == garbage_uri), "{d:?}");
    assert_eq!(
        h.staging(&v9).await,
        oracle(&v9),
        "v9 staging after the sweep"
    );
    assert_eq!(
        h.staging(&v6).await,
        oracle(&v6),
        "v6 staging unchanged by the sweep"
    );

    // --- keys the detector must ignore (sample event: states, other actions, metadata
    // table, data files, archives, foreign tables, deletions) ---
    let ignored: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("infra/events/s3-put-ignored.json"))
            .expect("ignored event"),
    )
    .expect("ignored JSON");
    let r = h.invoke_ok("commit-detector", &ignored);
    assert_eq!(
        (r["enqueued"].as_u64(), r["ignored"].as_u64()),
        (Some(0), Some(18)),
        "{r}"
    );
    let m = h.last_detector_emf();
    let records = ignored["Records"].as_array().map_or(0, Vec::len);
    assert_eq!(
        (metric(&m, "KeysIgnored"), metric(&m, "EventsSeen")),
        (18.0, records as f64),
        "{m}"
    );
    assert_eq!(
        h.queue_counts(&h.queue_url).await,
        (0, 0),
        "nothing enqueued for ignored keys"
    );

    // --- the poison table ended in the DLQ twice (S3 event, sweep); nothing else did ---
    let dlq = h
        .sqs
        .receive_message()
        .queue_url(&h.dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive dlq")
        .messages
        .unwrap_or_default();
    let dlq_tables: Vec<String> = dlq
        .iter()
        .map(|m| {
            SyncMessage::from_json(m.body().unwrap_or(""))
                .expect("dlq body")
                .table
        })
        .collect();
    assert_eq!(
        dlq_tables,
        vec![garbage_uri.clone(), garbage_uri.clone()],
        "dead-letter queue"
    );

    // bookmarks advanced to the tables' last instants
    let store = hps_aws::DynamoBookmarkStore::from_config(
        &hps_aws::local_aws_config(&h.moto.endpoint()).await,
        "hps-bookmarks",
    );
    use hps_sync::BookmarkStore;
    let b9 = store
        .get(PIPELINE, &v9.uri())
        .await
        .expect("bookmark")
        .expect("v9 bookmark");
    assert_eq!(
        b9.position.map(|p| p.requested_time),
        plan9.instants.last().map(|(t, _)| t.clone())
    );
    let b6 = store
        .get(PIPELINE, &v6.uri())
        .await
        .expect("bookmark")
        .expect("v6 bookmark");
    assert_eq!(b6.position.map(|p| p.requested_time), Some(t2));
    // the loader logs JSON lines with a table span and never the password
    let loader_log = h.loader.as_ref().map(Proc::log_text).unwrap_or_default();
    assert!(
        loader_log
            .lines()
            .any(|l| l.contains("\"table\"") && l.starts_with('{')),
        "JSON logs with table spans"
    );
    assert!(
        !loader_log.contains("pw-e2e-7f3a9c"),
        "the password appears in the loader's logs"
    );
}

/// Every file of a table, relative to its base path (archives and the metadata table too).
fn all_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files
}

/// A real table whose early instants were archived (and whose oldest files were cleaned),
/// uploaded whole: the sweep enqueues it and the loader bootstraps it from its snapshot, then
/// staging equals the `hudi` reader's snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstraps_an_archived_table() {
    let Some(fixture) = hps_testkit::fixtures::unpack_realworld("hudi_v6_table_mor.zip") else {
        skip("../shared/realworld-fixtures not found");
        return;
    };
    let mirror = tempfile::tempdir().expect("mirror");
    let table = Table {
        id: "v6_archived",
        prefix: "warehouse/v6_archived",
        key: "id",
        mirror: mirror.path().join("v6_archived"),
        fixture,
    };
    let mut h = Harness::start(&format!("{}={}", table.id, table.uri())).await;
    let files = all_files(&table.fixture.path);
    assert!(files.iter().any(|f| f.contains(".hoodie/archived/")));
    h.upload(&table, &files).await;
    let _ = h.take_s3_events().await;
    let sweep: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("infra/events/scheduled-sweep.json"))
            .expect("sweep event"),
    )
    .expect("sweep JSON");
    let r = h.invoke_ok("commit-detector", &sweep);
    assert_eq!(r["enqueued"], 1, "{r}");
    let d = h.drain().await;
    assert!(d.failed_tables.is_empty(), "{d:?}\n{}", h.logs());
    let expected = oracle(&table);
    assert_eq!(expected.len(), 9, "the wheel's snapshot of the fixture");
    assert_eq!(
        h.staging(&table).await,
        expected,
        "staging after the bootstrap"
    );
    let loader_log = h.loader.as_ref().map(Proc::log_text).unwrap_or_default();
    assert!(
        loader_log.contains("bootstrapping a new table from its snapshot"),
        "the loader says it bootstrapped"
    );
}

/// A pipeline configured with `HPS_CONFIG` (an S3 object) naming a prefix and no tables: a
/// table created under the prefix after the functions started is synced from its S3 events,
/// another one from the scheduled sweep, without restarting them; keys and messages outside
/// the prefix are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_discovers_tables_under_a_prefix() {
    let (Some(v9), Some(v6)) = (
        unpack("sample_table/cow/v9_txns_nonpart_nometa.zip"),
        unpack("sample_table/cow/v6_nonpartitioned.zip"),
    ) else {
        skip("../shared/hudi-fixtures not found: the discovery end-to-end test needs them");
        return;
    };
    let mirror = tempfile::tempdir().expect("mirror");
    let v9 = Table {
        id: "v9 (discovered)",
        prefix: "warehouse/db=sales/v9_txns",
        key: "txn_id",
        mirror: mirror.path().join("v9"),
        fixture: v9,
    };
    let v6 = Table {
        id: "v6 (discovered by the sweep)",
        prefix: "warehouse/late/v6_nonpartitioned",
        key: "id",
        mirror: mirror.path().join("v6"),
        fixture: v6,
    };
    let config = "[discovery]\nprefixes = [\"s3://hudi-lake/warehouse/\"]\n";
    let mut h = Harness::start_with(
        ("HPS_CONFIG", format!("s3://{CONFIG_BUCKET}/pipeline.toml")),
        Some(("pipeline.toml", config)),
    )
    .await;
    // the functions are up (a first invocation), with no table under the prefix yet
    let outside = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": "elsewhere/t/.hoodie/timeline/20260101000000000_20260101000001000.commit"}}}]});
    let r = h.invoke_ok("commit-detector", &outside);
    assert_eq!(
        (r["enqueued"].as_i64(), r["ignored"].as_i64()),
        (Some(0), Some(1)),
        "{r}"
    );

    // --- v9 appears under the prefix; its S3 events reach the detector ---
    let plan = plan_upload(&v9.fixture.path);
    h.upload(&v9, &plan.initial).await;
    for (_, files) in &plan.instants {
        h.upload(&v9, files).await;
    }
    let events: Vec<Value> = h
        .take_s3_events()
        .await
        .into_iter()
        .filter(|e| e["Event"] != "s3:TestEvent")
        .collect();
    assert!(!events.is_empty(), "S3 notified the completed instants");
    for ev in &events {
        let r = h.invoke_ok("commit-detector", ev);
        assert_eq!(r["enqueued"], 1, "{r}{}", h.logs());
    }
    let peeked = h.peek().await;
    assert!(
        !peeked.is_empty()
            && peeked
                .iter()
                .all(|(g, _, m)| m.table == v9.uri() && *g == group_id_for_table(&v9.uri())),
        "{peeked:?}"
    );
    let d = h.drain().await;
    assert!(d.failed_tables.is_empty(), "{d:?}{}", h.logs());
    let expected9 = oracle(&v9);
    assert!(!expected9.is_empty());
    assert_eq!(
        h.staging(&v9).await,
        expected9,
        "v9 staging vs the snapshot{}",
        h.logs()
    );
    // the loader's metrics name the table by its derived id
    let ids: BTreeSet<String> = h
        .loader_emf()
        .iter()
        .filter_map(|l| l["Table"].as_str().map(String::from))
        .collect();
    assert!(
        ids.iter().any(|i| i.starts_with("db_sales.v9_txns-")),
        "{ids:?}"
    );

    // --- v6 appears with no event delivered: the scheduled sweep finds it ---
    h.upload(&v6, &all_files(&v6.fixture.path)).await;
    let _ = h.take_s3_events().await;
    let sweep: Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("infra/events/scheduled-sweep.json"))
            .expect("sweep event"),
    )
    .expect("sweep JSON");
    let r = h.invoke_ok("commit-detector", &sweep);
    assert_eq!(r["enqueued"], 2, "both tables swept: {r}");
    let d = h.drain().await;
    assert!(d.failed_tables.is_empty(), "{d:?}{}", h.logs());
    let expected6 = oracle(&v6);
    assert!(!expected6.is_empty());
    assert_eq!(
        h.staging(&v6).await,
        expected6,
        "v6 staging vs the snapshot"
    );
    assert_eq!(h.staging(&v9).await, expected9, "v9 unchanged");

    // --- a message naming a location outside the prefix is never synced ---
    let forged = SyncMessage::event(format!("s3://{BUCKET}/elsewhere/t"), None);
    h.sqs
        .send_message()
        .queue_url(&h.queue_url)
        .message_body(forged.to_json().expect("json"))
        .message_group_id(forged.group_id())
        .message_deduplication_id(forged.dedup_id())
        .send()
        .await
        .expect("send forged");
    let d = h.drain().await;
    assert_eq!(
        d.failed_tables,
        vec![forged.table.clone(); MAX_RECEIVE as usize],
        "{d:?}"
    );
    let (dlq, _) = h.queue_counts(&h.dlq_url).await;
    assert_eq!(dlq, 1, "the forged message is dead-lettered");
}
