//! Where a configuration comes from (`HPS_CONFIG`, `--config`): a local file, an S3 object or
//! an SSM parameter, read through the project's AWS seams (`hps_aws::S3Store`,
//! `hps_aws::ssm`).

use std::path::PathBuf;

use aws_config::SdkConfig;
use std::sync::Arc;

use hps_storage::{DynStore, LocalStore, ObjectStore, StorageError};
use tracing::info;

use crate::error::ConfigError;
use crate::resolve::{Location, PipelineConfig, parse};

/// A configuration location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A local file.
    File(PathBuf),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `ssm:<name>`, e.g. `ssm:/hudi-pg-sync/prod` (a `SecureString` is decrypted).
    Ssm(String),
}

impl ConfigSource {
    /// Parse `s3://bucket/key`, `ssm:/name` or a path.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::Location {
            location: value.to_string(),
            reason: reason.to_string(),
        };
        let v = value.trim();
        if let Some(name) = v.strip_prefix("ssm:") {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(bad(
                    "expected ssm:<parameter name>, e.g. ssm:/hudi-pg-sync/config",
                ));
            }
            return Ok(ConfigSource::Ssm(name.to_string()));
        }
        if let Some(rest) = v.strip_prefix("s3://") {
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty() && !k.ends_with('/'))
                .ok_or_else(|| bad("expected s3://bucket/key of the configuration object"))?;
            return Ok(ConfigSource::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        if v.contains("://") {
            return Err(bad("use a path, s3://bucket/key or ssm:/name"));
        }
        if v.is_empty() {
            return Err(bad("empty"));
        }
        Ok(ConfigSource::File(PathBuf::from(v)))
    }

    /// How the source is shown in messages and `status`.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            ConfigSource::Ssm(name) => format!("ssm:{name}"),
        }
    }

    /// Whether reading it needs AWS.
    pub fn needs_aws(&self) -> bool {
        !matches!(self, ConfigSource::File(_))
    }

    /// Read and validate the configuration; `aws` is used for S3 and SSM sources only.
    pub async fn load(&self, aws: Option<&SdkConfig>) -> Result<PipelineConfig, ConfigError> {
        let text = self.read(aws).await?;
        let config = parse(&self.describe(), &text)?;
        info!(source = %self.describe(), tables = config.tables.len(), "configuration loaded");
        Ok(config)
    }

    /// Read and validate the configuration, then discover the tables under its prefixes
    /// (S3 prefixes need `aws`).
    pub async fn load_and_discover(
        &self,
        aws: Option<&SdkConfig>,
    ) -> Result<PipelineConfig, ConfigError> {
        let config = self.load(aws).await?;
        discover_tables(&config, aws).await
    }

    /// The raw text.
    async fn read(&self, aws: Option<&SdkConfig>) -> Result<String, ConfigError> {
        let origin = self.describe();
        let read_err = |reason: String, transient: bool| ConfigError::Read {
            origin: origin.clone(),
            reason,
            transient,
        };
        let aws = || aws.ok_or_else(|| read_err("no AWS configuration was given".into(), false));
        match self {
            ConfigSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| read_err(e.to_string(), false))
            }
            ConfigSource::S3 { bucket, key } => {
                let client = hps_aws::s3_client(aws()?);
                let store = hps_aws::S3Store::new(client, bucket.clone(), "")
                    .map_err(|e| read_err(e.to_string(), false))?;
                let bytes = store.get(key).await.map_err(|e| {
                    let transient = e.is_transient();
                    read_err(e.to_string(), transient)
                })?;
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| read_err("the object is not UTF-8 text".into(), false))
            }
            ConfigSource::Ssm(name) => {
                let client = hps_aws::ssm::ssm_client(aws()?);
                hps_aws::ssm::get_parameter(&client, name)
                    .await
                    .map_err(|e| read_err(e.message, e.transient))
            }
        }
    }
}

/// `config` with the tables under its prefixes (local directories, or S3 through `aws`).
pub async fn discover_tables(
    config: &PipelineConfig,
    aws: Option<&SdkConfig>,
) -> Result<PipelineConfig, ConfigError> {
    if config.prefixes.is_empty() {
        return Ok(config.clone());
    }
    let client = aws.map(hps_aws::s3_client);
    let expanded =
        crate::discover::expand(config, |prefix| open_store(prefix, client.as_ref())).await?;
    info!(
        origin = %config.origin,
        prefixes = config.prefixes.len(),
        discovered = expanded.tables.iter().filter(|t| t.discovered).count(),
        "tables discovered"
    );
    Ok(expanded)
}

/// The store rooted at `location`.
pub fn open_store(
    location: &Location,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<DynStore, StorageError> {
    match location {
        Location::Local(p) => Ok(Arc::new(LocalStore::new(p.clone()))),
        Location::S3 { bucket, prefix } => {
            let client = s3.ok_or_else(|| StorageError::Remote {
                uri: location.uri(),
                message: "no AWS configuration was given".into(),
                transient: false,
            })?;
            Ok(Arc::new(hps_aws::S3Store::new(
                client.clone(),
                bucket.clone(),
                prefix,
            )?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            ConfigSource::parse("s3://cfg/hps/pipeline.toml").unwrap(),
            ConfigSource::S3 {
                bucket: "cfg".into(),
                key: "hps/pipeline.toml".into()
            }
        );
        assert_eq!(
            ConfigSource::parse("ssm:/hps/prod").unwrap(),
            ConfigSource::Ssm("/hps/prod".into())
        );
        assert_eq!(
            ConfigSource::parse("conf/hps.toml").unwrap(),
            ConfigSource::File("conf/hps.toml".into())
        );
        for bad in [
            "",
            "ssm:",
            "s3://bucket",
            "s3://bucket/",
            "s3:///k",
            "gs://b/k",
            "ssm:a b",
        ] {
            assert!(ConfigSource::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
