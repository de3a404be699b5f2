//! What every sync command needs: the PostgreSQL connection, the bookmark store, the pipeline
//! name and the target overrides ([`SyncArgs`]), turned into a [`SyncPipeline`] and
//! [`TableSource`]s.
//!
//! A table's id in the pipeline (the bookmark and fence key) is its normalized location:
//! `s3://bucket/prefix` (no trailing slash; the id the Lambda loader uses for the same table)
//! or the canonical absolute path of a local table. So `status` and `rewind` from a laptop
//! act on the bookmarks the Lambda functions write, and a table named by different relative
//! paths is still one table.

use std::path::PathBuf;
use std::sync::Arc;

use hps_postgres::{ConnectOptions, Connector, DeletePolicy};
use hps_sync::{
    BookmarkStore, FileBookmarkStore, LeaseStore, SyncOptions, SyncPipeline, TableSource,
    TargetOverrides,
};

use crate::CliError;
use crate::store::open_store;

/// Default directory of the embedded bookmark store (relative to the working directory).
pub const DEFAULT_BOOKMARKS: &str = ".hudi-pg-sync";

/// Scheme of DynamoDB bookmark locations.
pub const DYNAMODB_SCHEME: &str = "dynamodb://";

/// Delete policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeleteMode {
    /// Hudi deletes remove the staging row (a tombstone table keeps the delete's version).
    Hard,
    /// Hudi deletes keep the row and mark it deleted (`_hps_deleted`, `_hps_deleted_at`).
    Soft,
}

impl From<DeleteMode> for DeletePolicy {
    fn from(m: DeleteMode) -> Self {
        match m {
            DeleteMode::Hard => DeletePolicy::Hard,
            DeleteMode::Soft => DeletePolicy::Soft,
        }
    }
}

/// The bookmark store and pipeline name (all that `pause`/`resume` need).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Bookmark store: a directory (embedded JSON store) or `dynamodb://<table>` (AWS
    /// credentials and region from the environment; AWS_ENDPOINT_URL is honoured).
    #[arg(long, env = "HPS_BOOKMARKS", default_value = DEFAULT_BOOKMARKS)]
    pub bookmarks: String,
    /// Pipeline name: the namespace of bookmarks, leases and fences (the Lambda's HPS_PIPELINE).
    #[arg(long, env = "HPS_PIPELINE", default_value = "default")]
    pub pipeline: String,
}

impl StoreArgs {
    /// The validated pipeline name.
    pub fn pipeline_name(&self) -> Result<&str, CliError> {
        hps_sync::bookmark::validate_pipeline(&self.pipeline)
            .map_err(|e| CliError::Usage(format!("--pipeline: {e}")))?;
        Ok(&self.pipeline)
    }

    /// The bookmark store (also the lease store).
    pub async fn stores(&self) -> Result<Stores, CliError> {
        match BookmarkLocation::parse(&self.bookmarks)? {
            BookmarkLocation::Dir(dir) => {
                let s = Arc::new(FileBookmarkStore::new(dir));
                Ok(Stores {
                    bookmarks: s.clone(),
                    leases: s,
                })
            }
            BookmarkLocation::Dynamo(table) => {
                let config = hps_aws::aws_config_from_env(None).await;
                let s = Arc::new(hps_aws::DynamoBookmarkStore::from_config(&config, table));
                Ok(Stores {
                    bookmarks: s.clone(),
                    leases: s,
                })
            }
        }
    }
}

/// Connection, bookmarks and target options shared by the sync commands.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// PostgreSQL: a `postgresql://user[:password]@host[:port]/db[?sslmode=…]` URL or libpq
    /// `key=value` settings (the password may also come from PGPASSWORD).
    #[arg(long, env = "HPS_POSTGRES_URL", hide_env_values = true)]
    pub postgres: String,
    /// Bookmark store and pipeline.
    #[command(flatten)]
    pub store: StoreArgs,
    /// PostgreSQL schema of the staging, landing and fence tables (default `hudi`).
    #[arg(long, env = "HPS_PG_SCHEMA")]
    pub schema: Option<String>,
    /// What a Hudi delete does to the staging row (default `hard`).
    #[arg(long, env = "HPS_DELETE_MODE", value_enum)]
    pub delete_mode: Option<DeleteMode>,
    /// Configuration file with per-table settings: a path, s3://bucket/key or ssm:/name.
    /// `--table` then names a table of the file by id or by location.
    #[arg(long, env = "HPS_CONFIG")]
    pub config: Option<String>,
}

/// Where a table's target settings came from (`status` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsOrigin {
    /// Command-line flags and environment variables only.
    CommandLine,
    /// A configuration file (its location) and the table's id in it.
    File {
        /// `--config` as shown by [`hps_config::ConfigSource::describe`].
        source: String,
        /// The table's id in the file (derived for a discovered table).
        id: String,
        /// Found under a discovery prefix, with the defaults (no entry of its own).
        discovered: bool,
    },
}

impl std::fmt::Display for SettingsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsOrigin::CommandLine => f.write_str("command line"),
            SettingsOrigin::File {
                source,
                id,
                discovered: false,
            } => write!(f, "{source} [tables.{id}]"),
            SettingsOrigin::File { source, id, .. } => {
                write!(f, "{source} [discovery] {id} (defaults)")
            }
        }
    }
}

/// Load a configuration file (AWS settings from the environment for S3 and SSM) and discover
/// the tables under its `[discovery] prefixes`.
pub async fn load_config(location: &str) -> Result<hps_config::PipelineConfig, CliError> {
    let source = hps_config::ConfigSource::parse(location)?;
    let mut aws = if source.needs_aws() {
        Some(hps_aws::aws_config_from_env(None).await)
    } else {
        None
    };
    let config = source.load(aws.as_ref()).await?;
    let s3_prefixes = config
        .prefixes
        .iter()
        .any(|p| matches!(p, hps_config::Location::S3 { .. }));
    if s3_prefixes && aws.is_none() {
        aws = Some(hps_aws::aws_config_from_env(None).await);
    }
    Ok(hps_config::discover_tables(&config, aws.as_ref()).await?)
}

/// The entry of `config` that `table` names: its id, or its location.
fn find_table<'c>(
    config: &'c hps_config::PipelineConfig,
    table: &str,
) -> Result<&'c hps_config::TableConfig, CliError> {
    if let Some(t) = config.table(table) {
        return Ok(t);
    }
    let wanted = table_id(table).ok();
    let found = config.tables.iter().find(|t| {
        let id = match &t.location {
            hps_config::Location::S3 { .. } => Some(t.location.uri()),
            hps_config::Location::Local(p) => p.to_str().and_then(|p| table_id(p).ok()),
        };
        id.is_some() && id == wanted
    });
    found.ok_or_else(|| {
        let ids: Vec<&str> = config.tables.iter().map(|t| t.id.as_str()).collect();
        CliError::Usage(format!(
            "--table {table:?} is not in the configuration {} (its tables: {})",
            config.origin,
            ids.join(", ")
        ))
    })
}

impl SyncArgs {
    /// The target overrides these options imply.
    pub fn overrides(&self) -> TargetOverrides {
        TargetOverrides {
            schema: self.schema.clone(),
            delete_policy: self.delete_mode.map(DeletePolicy::from),
            ..TargetOverrides::default()
        }
    }

    /// The PostgreSQL connector (`application_name` defaults to `hudi-pg-sync`).
    pub fn connector(&self) -> Result<Connector, CliError> {
        let mut o = ConnectOptions::parse(&self.postgres)
            .map_err(|e| CliError::Usage(format!("--postgres: {e}")))?;
        if o.application_name.is_none() {
            o.application_name = Some("hudi-pg-sync".to_string());
        }
        Connector::new(o).map_err(|e| CliError::Usage(format!("--postgres: {e}")))
    }

    /// The pipeline over these options.
    pub async fn pipeline(&self, options: SyncOptions) -> Result<SyncPipeline, CliError> {
        let name = self.store.pipeline_name()?.to_string();
        let connector = self.connector()?;
        let stores = self.store.stores().await?;
        Ok(SyncPipeline::new(
            name,
            stores.bookmarks,
            stores.leases,
            connector,
            options,
        )?)
    }

    /// The table at `location` as a pipeline source (id = normalized location).
    pub async fn source(&self, location: &str) -> Result<TableSource, CliError> {
        Ok(self.resolve(location).await?.0)
    }

    /// The table `table` names as a pipeline source, and where its settings came from. With
    /// `--config`, `table` is an id or a location of the file and the file's settings apply
    /// under the explicit flags; without, it is a location.
    pub async fn resolve(&self, table: &str) -> Result<(TableSource, SettingsOrigin), CliError> {
        let (location, target, after_apply, columns, filter, origin) = match &self.config {
            None => (
                table.to_string(),
                self.overrides(),
                Vec::new(),
                hps_sync::ColumnMapping::default(),
                None,
                SettingsOrigin::CommandLine,
            ),
            Some(c) => {
                let config = load_config(c).await?;
                let entry = find_table(&config, table)?;
                (
                    entry.location.uri(),
                    self.overrides().or(&entry.target),
                    entry.after_apply.clone(),
                    entry.columns.clone(),
                    entry.partition_filter.clone(),
                    SettingsOrigin::File {
                        source: config.origin.clone(),
                        id: entry.id.clone(),
                        discovered: entry.discovered,
                    },
                )
            }
        };
        let id = table_id(&location)?;
        let store = open_store(&id).await.map_err(|e| CliError::Store {
            location: location.clone(),
            source: e,
        })?;
        let src = TableSource::new(id, store)
            .with_target(target)
            .with_after_apply(after_apply)
            .with_columns(columns)
            .with_partition_filter(filter);
        Ok((src, origin))
    }
}

/// The bookmark and lease stores of a command.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Bookmarks.
    pub bookmarks: Arc<dyn BookmarkStore>,
    /// Leases (the same object).
    pub leases: Arc<dyn LeaseStore>,
}

/// Where bookmarks live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookmarkLocation {
    /// The embedded store in this directory.
    Dir(PathBuf),
    /// A DynamoDB table.
    Dynamo(String),
}

impl BookmarkLocation {
    /// Parse `dynamodb://<table>`, `file://<dir>` or a directory path.
    pub fn parse(s: &str) -> Result<Self, CliError> {
        if let Some(table) = s.strip_prefix(DYNAMODB_SCHEME) {
            let table = table.trim_end_matches('/');
            let ok = (3..=255).contains(&table.len())
                && table
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(CliError::Usage(format!(
                    "--bookmarks {s:?}: a DynamoDB table name is 3-255 characters of [A-Za-z0-9_.-]"
                )));
            }
            return Ok(BookmarkLocation::Dynamo(table.to_string()));
        }
        let path = s.strip_prefix("file://").unwrap_or(s);
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(CliError::Usage(format!(
                "--bookmarks {s:?}: unsupported scheme {scheme}:// (use a directory or dynamodb://<table>)"
            )));
        }
        if path.is_empty() {
            return Err(CliError::Usage("--bookmarks is empty".into()));
        }
        Ok(BookmarkLocation::Dir(PathBuf::from(path)))
    }
}

/// The id of the table at `location` in a pipeline: `s3://bucket/prefix` for S3 (`s3a://`
/// accepted), the canonical absolute path for a local table (which must exist).
pub fn table_id(location: &str) -> Result<String, CliError> {
    if location.starts_with("s3://") || location.starts_with("s3a://") {
        let l = hps_aws::parse_s3_uri(location).map_err(|e| CliError::Store {
            location: location.to_string(),
            source: e,
        })?;
        return Ok(if l.prefix.is_empty() {
            format!("s3://{}", l.bucket)
        } else {
            format!("s3://{}/{}", l.bucket, l.prefix)
        });
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    if let Some((scheme, _)) = path.split_once("://") {
        return Err(CliError::Usage(format!(
            "--table {location:?}: unsupported scheme {scheme}:// (use a local path, file:// or s3://)"
        )));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        CliError::Usage(format!(
            "--table {location:?}: cannot resolve the path: {e}"
        ))
    })?;
    if !canonical.is_dir() {
        return Err(CliError::Usage(format!(
            "--table {location:?}: not a directory (give the table's base path, the folder holding .hoodie/)"
        )));
    }
    canonical
        .into_os_string()
        .into_string()
        .map_err(|p| CliError::Usage(format!("--table {p:?}: the path is not valid UTF-8")))
}

/// The table id for operations that do not read the table (pause, resume): like
/// [`table_id`], but a local path that does not exist (any more) is made absolute as given.
pub fn table_id_lenient(location: &str) -> Result<String, CliError> {
    match table_id(location) {
        Ok(id) => Ok(id),
        Err(CliError::Usage(_)) if !location.contains("://") || location.starts_with("file://") => {
            let path = location.strip_prefix("file://").unwrap_or(location);
            let abs = std::path::absolute(path).map_err(|e| {
                CliError::Usage(format!(
                    "--table {location:?}: cannot resolve the path: {e}"
                ))
            })?;
            abs.into_os_string()
                .into_string()
                .map_err(|p| CliError::Usage(format!("--table {p:?}: the path is not valid UTF-8")))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmark_locations() {
        assert_eq!(
            BookmarkLocation::parse("dynamodb://hps-bookmarks").unwrap(),
            BookmarkLocation::Dynamo("hps-bookmarks".into())
        );
        assert_eq!(
            BookmarkLocation::parse("target/run/bookmarks").unwrap(),
            BookmarkLocation::Dir("target/run/bookmarks".into())
        );
        assert_eq!(
            BookmarkLocation::parse("file:///var/lib/hps").unwrap(),
            BookmarkLocation::Dir("/var/lib/hps".into())
        );
        for bad in ["dynamodb://", "dynamodb://a b", "s3://bucket/x", ""] {
            assert!(
                matches!(BookmarkLocation::parse(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn table_ids_are_normalized() {
        assert_eq!(table_id("s3://b/w/orders/").unwrap(), "s3://b/w/orders");
        assert_eq!(table_id("s3a://b/w/orders").unwrap(), "s3://b/w/orders");
        assert_eq!(table_id("s3://b").unwrap(), "s3://b");
        assert!(table_id("gs://b/x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        std::fs::create_dir(&t).unwrap();
        let canonical = std::fs::canonicalize(&t).unwrap();
        let via_dots = format!("{}/../t/", t.display());
        assert_eq!(table_id(&via_dots).unwrap(), canonical.to_str().unwrap());
        assert_eq!(
            table_id(&format!("file://{}", t.display())).unwrap(),
            canonical.to_str().unwrap()
        );
        assert!(matches!(
            table_id(&format!("{}/missing", t.display())),
            Err(CliError::Usage(_))
        ));
        assert_eq!(
            table_id_lenient(&format!("{}/missing", canonical.display())).unwrap(),
            format!("{}/missing", canonical.display())
        );
    }
}
