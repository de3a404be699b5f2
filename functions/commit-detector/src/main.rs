//! AWS Lambda `commit-detector`: S3 timeline events and scheduled sweeps in, one SQS FIFO
//! message per (table, completed instant) out. All logic lives in `hps-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = hps_lambda::runtime::detector_from_env().await?;
    hps_lambda::runtime::run_detector(state).await
}
