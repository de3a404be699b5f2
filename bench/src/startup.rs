//! Lambda start-up: the release `incremental-loader` binary is started with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a tiny emulated runtime API on loopback; the time from
//! spawn to its first `GET /2018-06-01/runtime/invocation/next` is the cold start the function
//! itself adds (configuration, logging, AWS clients, the pipeline). No event is served: the
//! process is killed once it asks for one.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::{BenchError, Result};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// Start the loader `runs` times; the start-up time of each.
pub async fn measure(bin: &Path, pg_port: u16, runs: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(once(bin, pg_port).await?);
    }
    Ok(out)
}

async fn once(bin: &Path, pg_port: u16) -> Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BenchError::io("binding the emulated runtime API"))?;
    let api = listener
        .local_addr()
        .map_err(BenchError::io("runtime API address"))?;
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "incremental-loader")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/incremental-loader",
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        // nothing listens here: start-up must not call AWS
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("HPS_TABLES", "orders=s3://bench-lake/warehouse/orders")
        .env(
            "HPS_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/hudi-pg-sync.fifo",
        )
        .env("HPS_BOOKMARK_TABLE", "hudi-pg-sync-bookmarks")
        .env("HPS_PG_HOST", "127.0.0.1")
        .env("HPS_PG_PORT", pg_port.to_string())
        .env("HPS_PG_PASSWORD", "bench")
        .env("HPS_PG_SSLMODE", "disable")
        .env("HPS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::io(format!("spawning {}", bin.display())))?;
    let wait = async {
        let (mut sock, _) = listener
            .accept()
            .await
            .map_err(BenchError::io("runtime API accept"))?;
        let mut buf = vec![0u8; 8192];
        let n = sock
            .read(&mut buf)
            .await
            .map_err(BenchError::io("runtime API read"))?;
        let at = t0.elapsed();
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let line = head.lines().next().unwrap_or("").to_string();
        if line.starts_with("GET ") && line.contains(NEXT) {
            return Ok::<Duration, BenchError>(at);
        }
        // anything else is an init error report: answer it and fail
        let _ = sock
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .await;
        Err(BenchError::step(format!(
            "the loader did not become ready: {line} {}",
            head.split("\r\n\r\n").nth(1).unwrap_or("")
        )))
    };
    let r = tokio::select! {
        r = wait => r,
        s = child.wait() => Err(BenchError::step(format!("the loader exited during start-up: {s:?}"))),
        _ = tokio::time::sleep(Duration::from_secs(20)) => Err(BenchError::step("the loader did not ask for an event within 20 s")),
    };
    let _ = child.start_kill();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
    }
    let _ = child.wait().await;
    r.map_err(|e| BenchError::step(format!("{e}; stderr: {}", err.trim())))
}
