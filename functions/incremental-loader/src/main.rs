//! AWS Lambda `incremental-loader`: SQS FIFO batches in, one sync pass per table (Hudi on S3 to
//! PostgreSQL), partial batch response out. All logic lives in `hps-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = hps_lambda::runtime::loader_from_env().await?;
    hps_lambda::runtime::run_loader(state).await
}
