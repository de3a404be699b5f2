//! [`S3Store`]: an [`ObjectStore`] over one S3 bucket and key prefix.
//!
//! Listing is non-recursive (delimiter `/`) and follows continuation tokens, so directories
//! with more than 1000 entries list completely. Ranged reads send an HTTP `Range` header and
//! never fetch the whole object. Works against S3-compatible servers (moto, MinIO) through a
//! custom endpoint with path-style addressing.

use std::ops::Range;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hps_storage::{Listing, ObjectMeta, ObjectStore, StorageError, StorageResult};
use tracing::{debug, instrument};

use crate::sdk_error::classify;

/// Where an `s3://bucket/prefix` URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix without leading or trailing `/` (`""` for the bucket root).
    pub prefix: String,
}

/// Parse `s3://bucket/some/prefix/` (also `s3a://`) into bucket and normalized prefix.
pub fn parse_s3_uri(uri: &str) -> StorageResult<S3Location> {
    let invalid = |reason: &str| StorageError::InvalidPath {
        path: uri.to_string(),
        reason: reason.to_string(),
    };
    let rest = uri
        .strip_prefix("s3://")
        .or_else(|| uri.strip_prefix("s3a://"))
        .ok_or_else(|| invalid("an S3 URI must start with s3:// (or s3a://)"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid("the S3 URI has no bucket name"));
    }
    if bucket.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
        return Err(invalid(
            "the bucket name contains characters S3 does not allow",
        ));
    }
    let prefix = prefix.trim_matches('/');
    check_relative(prefix).map_err(invalid)?;
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// Refuse `.` and `..` segments: every path must stay under the store root.
fn check_relative(path: &str) -> Result<(), &'static str> {
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err("`.` and `..` segments are not allowed in object paths");
    }
    Ok(())
}

/// An S3 client for `config`; path-style addressing when the config has a custom endpoint
/// (`AWS_ENDPOINT_URL`, moto, MinIO), virtual-hosted style against AWS itself.
pub fn s3_client(config: &SdkConfig) -> Client {
    let builder = aws_sdk_s3::config::Builder::from(config);
    let builder = if config.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    Client::from_conf(builder.build())
}

/// An [`ObjectStore`] rooted at `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Without leading or trailing `/`; may be empty.
    prefix: String,
}

impl S3Store {
    /// A store over `bucket`/`prefix` using an existing client.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> StorageResult<Self> {
        let prefix = prefix.trim_matches('/');
        check_relative(prefix).map_err(|reason| StorageError::InvalidPath {
            path: prefix.to_string(),
            reason: reason.to_string(),
        })?;
        Ok(Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.to_string(),
        })
    }

    /// A store for `uri` (`s3://bucket/prefix`) with a client built from `config`
    /// (see [`s3_client`] for the addressing style).
    pub fn from_uri(config: &SdkConfig, uri: &str) -> StorageResult<Self> {
        let loc = parse_s3_uri(uri)?;
        Ok(Self {
            client: s3_client(config),
            bucket: loc.bucket,
            prefix: loc.prefix,
        })
    }

    /// A store for `uri` configured from the environment (credentials chain, region,
    /// `AWS_ENDPOINT_URL`).
    pub async fn from_env(uri: &str) -> StorageResult<Self> {
        let config = crate::aws_config_from_env(None).await;
        Self::from_uri(&config, uri)
    }

    /// A store for a sub-directory of this one (same client and bucket).
    pub fn child(&self, dir: &str) -> StorageResult<Self> {
        let key = self.key(dir)?;
        Ok(Self {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            prefix: key,
        })
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix of the root (no leading/trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full object key of a root-relative path.
    fn key(&self, path: &str) -> StorageResult<String> {
        let rel = path.trim_start_matches('/');
        check_relative(rel).map_err(|reason| StorageError::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        })?;
        Ok(hps_storage::join(&self.prefix, rel))
    }

    /// The root-relative path of a full key (None when the key is outside the root).
    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    fn uri_of_key(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn not_found(&self, key: &str) -> StorageError {
        StorageError::NotFound {
            uri: self.uri_of_key(key),
        }
    }

    /// Map an SDK error; 404 / `NoSuchKey` / `NotFound` become [`StorageError::NotFound`].
    fn map_err<E>(&self, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let f = classify(&err);
        let missing = matches!(f.code.as_deref(), Some("NoSuchKey" | "NotFound"))
            || (f.status == Some(404) && f.code.as_deref() != Some("NoSuchBucket"));
        if missing {
            return self.not_found(key);
        }
        StorageError::Remote {
            uri: self.uri_of_key(key),
            message: f.message,
            transient: f.transient,
        }
    }

    /// Read a response body completely; a broken stream is a transient failure.
    async fn collect(&self, key: &str, body: ByteStream) -> StorageResult<Bytes> {
        body.collect()
            .await
            .map(|agg| agg.into_bytes())
            .map_err(|e| StorageError::Remote {
                uri: self.uri_of_key(key),
                message: format!("reading the response body failed: {e}"),
                transient: true,
            })
    }
}

fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn to_size(key: &str, size: Option<i64>) -> u64 {
    match size.map(u64::try_from) {
        Some(Ok(s)) => s,
        _ => {
            debug!(key, ?size, "S3 returned no or a negative size; using 0");
            0
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn root_uri(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    #[instrument(level = "debug", skip(self), fields(bucket = %self.bucket))]
    async fn list(&self, dir: &str) -> StorageResult<Listing> {
        let dir_key = self.key(dir)?;
        let list_prefix = if dir_key.is_empty() {
            String::new()
        } else {
            format!("{dir_key}/")
        };
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .delimiter("/");
            if !list_prefix.is_empty() {
                req = req.prefix(&list_prefix);
            }
            if let Some(t) = token.take() {
                req = req.continuation_token(t);
            }
            let out = req.send().await.map_err(|e| {
                // listing a prefix never yields NotFound; a missing bucket is a real error
                match self.map_err(&list_prefix, e) {
                    StorageError::NotFound { uri } => StorageError::Remote {
                        uri,
                        message: "bucket not found".into(),
                        transient: false,
                    },
                    other => other,
                }
            })?;
            pages += 1;
            for obj in out.contents() {
                let Some(key) = obj.key() else { continue };
                // a "directory marker" object (`dir/`) is not a file of the directory
                if key == list_prefix || key.ends_with('/') {
                    continue;
                }
                let Some(rel) = self.relative(key) else {
                    continue;
                };
                listing.objects.push(ObjectMeta {
                    path: rel.to_string(),
                    size: to_size(key, obj.size()),
                    last_modified: obj.last_modified().and_then(to_chrono),
                });
            }
            for cp in out.common_prefixes() {
                let Some(p) = cp.prefix() else { continue };
                let p = p.strip_suffix('/').unwrap_or(p);
                let Some(rel) = self.relative(p) else {
                    continue;
                };
                if !rel.is_empty() && rel != dir_key.as_str() {
                    listing.directories.push(rel.to_string());
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        listing.objects.sort_by(|a, b| a.path.cmp(&b.path));
        listing.directories.sort();
        listing.directories.dedup();
        debug!(
            pages,
            objects = listing.objects.len(),
            dirs = listing.directories.len(),
            "listed"
        );
        Ok(listing)
    }

    #[instrument(level = "debug", skip(self), fields(bucket = %self.bucket))]
    async fn head(&self, path: &str) -> StorageResult<ObjectMeta> {
        let key = self.key(path)?;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| self.map_err(&key, e))?;
        Ok(ObjectMeta {
            path: path.trim_start_matches('/').to_string(),
            size: to_size(&key, out.content_length()),
            last_modified: out.last_modified().and_then(to_chrono),
        })
    }

    #[instrument(level = "debug", skip(self), fields(bucket = %self.bucket))]
    async fn get(&self, path: &str) -> StorageResult<Bytes> {
        let key = self.key(path)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| self.map_err(&key, e))?;
        self.collect(&key, out.body).await
    }

    #[instrument(level = "debug", skip(self), fields(bucket = %self.bucket))]
    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes> {
        let key = self.key(path)?;
        if range.start >= range.end {
            // nothing to read; still report a missing object like any other read would
            self.head(path).await?;
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // 416: the range starts at or past the end of the object -> clamped to empty
            Err(e)
                if {
                    let f = classify(&e);
                    f.status == Some(416) || f.code.as_deref() == Some("InvalidRange")
                } =>
            {
                return Ok(Bytes::new());
            }
            Err(e) => return Err(self.map_err(&key, e)),
        };
        let ranged = out.content_range().is_some();
        let data = self.collect(&key, out.body).await?;
        if ranged {
            // S3 clamps the end to the object size itself
            Ok(data.slice(..data.len().min(usize::try_from(want).unwrap_or(usize::MAX))))
        } else {
            // a server that ignored the Range header sent the whole object: cut it here
            let len = data.len() as u64;
            let start = usize::try_from(range.start.min(len)).unwrap_or(data.len());
            let end = usize::try_from(range.end.min(len)).unwrap_or(data.len());
            Ok(data.slice(start..end.max(start)))
        }
    }

    #[instrument(level = "debug", skip(self, data), fields(bucket = %self.bucket, len = data.len()))]
    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()> {
        let key = self.key(path)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.map_err(&key, e))?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self), fields(bucket = %self.bucket))]
    async fn delete(&self, path: &str) -> StorageResult<()> {
        let key = self.key(path)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match self.map_err(&key, e) {
                StorageError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let l = parse_s3_uri("s3://bkt/a/b/").unwrap();
        assert_eq!(
            l,
            S3Location {
                bucket: "bkt".into(),
                prefix: "a/b".into()
            }
        );
        let l = parse_s3_uri("s3a://bkt").unwrap();
        assert_eq!(
            l,
            S3Location {
                bucket: "bkt".into(),
                prefix: String::new()
            }
        );
        let l = parse_s3_uri("s3://bkt/").unwrap();
        assert_eq!(l.prefix, "");
        assert!(parse_s3_uri("s3:///x").is_err());
        assert!(parse_s3_uri("http://bkt/x").is_err());
        assert!(parse_s3_uri("s3://bkt/a/../b").is_err());
    }
}
