//! AWS Lambda `commit-detector`: S3 timeline events and scheduled sweeps in, one SQS FIFO
//! message per (table, completed instant) out. All logic lives in `hps-lambda`.

/// The global allocator (see the workspace `Cargo.toml`: lower peak RSS than glibc's).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = hps_lambda::runtime::detector_from_env().await?;
    hps_lambda::runtime::run_detector(state).await
}
