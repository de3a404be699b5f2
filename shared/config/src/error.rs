//! Errors of loading and validating a configuration.

use thiserror::Error;

/// A configuration that cannot be used. Every variant names where the configuration came
/// from; validation errors also name the table and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The `HPS_CONFIG` value (or `--config`) is not a path, `s3://bucket/key` or `ssm:/name`.
    #[error("configuration location {location:?}: {reason}")]
    Location {
        /// The value as given.
        location: String,
        /// Why it is refused.
        reason: String,
    },
    /// The configuration could not be read (file system, S3, SSM).
    #[error("reading the configuration from {origin}: {reason}")]
    Read {
        /// Where it was read from.
        origin: String,
        /// What failed.
        reason: String,
        /// Whether a retry may succeed (throttling, network).
        transient: bool,
    },
    /// The text is not valid TOML for the model (syntax, unknown key, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// Where it was read from.
        origin: String,
        /// The parser's message (it names the key and the line).
        message: String,
    },
    /// A table's setting is invalid.
    #[error("{origin}: table {table:?}, key `{key}`: {reason}")]
    Table {
        /// Where it was read from.
        origin: String,
        /// The table id.
        table: String,
        /// The key (dotted below the table, e.g. `columns.rename`).
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A pipeline default is invalid.
    #[error("{origin}: key `defaults.{key}`: {reason}")]
    Default {
        /// Where it was read from.
        origin: String,
        /// The key below `[defaults]`.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A discovery prefix is invalid (or overlaps another).
    #[error("{origin}: key `discovery.prefixes`, prefix {prefix:?}: {reason}")]
    Prefix {
        /// Where it was read from.
        origin: String,
        /// The prefix as written.
        prefix: String,
        /// Why it is refused.
        reason: String,
    },
    /// Listing a discovery prefix failed.
    #[error("{origin}: discovering tables under {prefix}: {reason}")]
    Discovery {
        /// Where the configuration was read from.
        origin: String,
        /// The prefix.
        prefix: String,
        /// What failed.
        reason: String,
        /// Whether a retry may succeed.
        transient: bool,
    },
    /// Two tables conflict (same target, nested locations).
    #[error("{origin}: tables {first:?} and {second:?}: {reason}")]
    Conflict {
        /// Where it was read from.
        origin: String,
        /// One table id.
        first: String,
        /// The other table id.
        second: String,
        /// What they share.
        reason: String,
    },
}

impl ConfigError {
    /// Whether trying again may succeed (only reads can fail transiently).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConfigError::Read {
                transient: true,
                ..
            } | ConfigError::Discovery {
                transient: true,
                ..
            }
        )
    }
}
