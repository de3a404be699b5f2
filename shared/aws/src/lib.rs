//! AWS implementations of hudi-pg-sync's seams.
//!
//! - [`S3Store`]: the [`hps_storage::ObjectStore`] over S3 (ranged GETs, paginated listing,
//!   S3-compatible endpoints with path-style addressing).
//! - [`DynamoBookmarkStore`]: bookmarks and leases ([`hps_sync::BookmarkStore`],
//!   [`hps_sync::LeaseStore`]) with DynamoDB conditional writes; the table schema is in its docs.
//! - [`ssm::get_parameter`]: one SSM parameter (the pipeline configuration).
//! - [`SqsFifoQueue`]: the [`hps_sync::Queue`] on SQS FIFO (group per table, content dedup ids).
//! - [`aws_config_from_env`] / [`local_aws_config`]: building an [`SdkConfig`].

mod dynamo;
mod s3;
mod sdk_error;
mod sqs;
pub mod ssm;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub use dynamo::DynamoBookmarkStore;
pub use s3::{S3Location, S3Store, parse_s3_uri, s3_client};
pub use sqs::{SQS_MAX_BATCH, SqsFifoQueue};

/// Load the AWS configuration the standard way (environment, profile, container/instance
/// credentials; `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>` are
/// honoured by aws-config). `endpoint`, when given, overrides the endpoint of every service.
pub async fn aws_config_from_env(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(ep) = endpoint {
        loader = loader.endpoint_url(ep);
    }
    loader.load().await
}

/// A configuration for a local AWS-compatible server (moto, MinIO, LocalStack): the given
/// endpoint, region `us-east-1` and static dummy credentials. Nothing is read from the
/// environment, so tests cannot pick up real credentials by accident.
pub async fn local_aws_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "hps-local",
        ))
        .load()
        .await
}
