//! Opening a table location given on the command line: a local path, `file://…`, or
//! `s3://bucket/prefix` (S3 through `hps_aws::S3Store`, configured from the environment:
//! credentials chain, region, and `AWS_ENDPOINT_URL` for S3-compatible servers such as moto).

use std::sync::Arc;

use hps_storage::{DynStore, LocalStore, StorageError};

/// Open a store rooted at `location`.
pub async fn open_store(location: &str) -> Result<DynStore, StorageError> {
    if location.starts_with("s3://") || location.starts_with("s3a://") {
        let store = hps_aws::S3Store::from_env(location).await?;
        return Ok(Arc::new(store));
    }
    if let Some((scheme, _)) = location.split_once("://")
        && scheme != "file"
    {
        return Err(StorageError::InvalidPath {
            path: location.to_string(),
            reason: format!("unsupported scheme {scheme}:// (use a local path, file:// or s3://)"),
        });
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(Arc::new(LocalStore::new(path)))
}
