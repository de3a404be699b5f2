//! [`PipelineSyncer`]: the loader's [`TableSyncer`] over the hps-sync pipeline (Hudi reader
//! on S3, Postgres apply path, DynamoDB bookmarks and leases).
//!
//! Built once per container. The pipeline keeps its Postgres connections across invocations
//! and reconnects broken ones; when Postgres rejects the password (a rotated secret), the
//! credentials are fetched again and the pipeline is rebuilt, once per pass.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use hps_aws::S3Store;
use hps_postgres::{Connector, DeletePolicy};
use hps_sync::target::TargetOverrides;
use hps_sync::{
    BookmarkStore, BusyReason, LeaseStore, PassMode, PassOutcome, ResyncMode, SyncError,
    SyncOptions, SyncPipeline, TableSource,
};
use tracing::{info, warn};

use crate::config::{DeleteMode, LoaderConfig};
use crate::iam_auth::REFRESH_AFTER;
use crate::loader::{PassBudget, PassError, PassReport, TableSyncer};
use crate::pg::{Credentials, CredentialsError, Login};
use crate::tables::TableSpec;

/// Loader start-up failed (configuration, credentials, TLS setup).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Credentials could not be loaded.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The Postgres connector (TLS, CA bundle) or the pipeline could not be built.
    #[error("setting up the sync pipeline: {0}")]
    Pipeline(String),
}

/// The production [`TableSyncer`].
pub struct PipelineSyncer {
    pipeline: RwLock<Arc<SyncPipeline>>,
    /// When the current login was taken (a short-lived one is renewed before it expires).
    logged_in: RwLock<std::time::Instant>,
    credentials: Credentials,
    bookmarks: Arc<dyn BookmarkStore>,
    leases: Arc<dyn LeaseStore>,
    options: SyncOptions,
    name: String,
    sources: HashMap<String, TableSource>,
    /// For tables discovered after start-up: the S3 client and the pipeline-wide settings.
    s3: aws_sdk_s3::Client,
    target: TargetOverrides,
    auto_resync: bool,
}

impl std::fmt::Debug for PipelineSyncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineSyncer")
            .field("pipeline", &self.name)
            .field("tables", &self.sources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The pipeline-wide target settings (`HPS_PG_SCHEMA`, `HPS_DELETE_MODE`); a table's own
/// settings from the configuration file win over them.
fn overrides(config: &LoaderConfig) -> TargetOverrides {
    TargetOverrides {
        schema: Some(config.pg.schema.clone()),
        delete_policy: Some(match config.delete_mode {
            DeleteMode::Hard => DeletePolicy::Hard,
            DeleteMode::Soft => DeletePolicy::Soft,
        }),
        ..TargetOverrides::default()
    }
}

/// Sync options for the loader from its configuration (lease owner: log stream, process,
/// random suffix).
pub fn sync_options(config: &LoaderConfig) -> SyncOptions {
    SyncOptions {
        max_rows_per_txn: config.max_rows_per_txn,
        max_instants_per_window: config.max_instants_per_window,
        ..SyncOptions::default()
    }
}

impl PipelineSyncer {
    /// Build the syncer: fetch credentials, build the connector and the pipeline, and one
    /// S3 store per configured table (sharing `s3`).
    pub async fn new(
        config: &LoaderConfig,
        credentials: Credentials,
        s3: aws_sdk_s3::Client,
        bookmarks: Arc<dyn BookmarkStore>,
        leases: Arc<dyn LeaseStore>,
        options: SyncOptions,
    ) -> Result<Self, StartupError> {
        let login = credentials.refresh().await?;
        let pipeline = build_pipeline(
            &config.pipeline,
            &credentials,
            &login,
            &bookmarks,
            &leases,
            &options,
        )?;
        let target = overrides(config);
        let mut sources = HashMap::new();
        for t in config.tables.iter() {
            sources.insert(t.id.to_string(), source_for(&s3, t, &target)?);
        }
        Ok(PipelineSyncer {
            pipeline: RwLock::new(Arc::new(pipeline)),
            logged_in: RwLock::new(std::time::Instant::now()),
            credentials,
            bookmarks,
            leases,
            options,
            name: config.pipeline.clone(),
            sources,
            s3,
            target,
            auto_resync: config.auto_resync,
        })
    }

    fn current(&self) -> Arc<SyncPipeline> {
        Arc::clone(
            &self
                .pipeline
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Fetch the credentials again and replace the pipeline (new connector, empty pool).
    async fn rebuild(&self) -> Result<(), PassError> {
        let login = self.credentials.refresh().await.map_err(|e| PassError {
            transient: e.is_transient(),
            needs_resync: false,
            message: format!("refreshing database credentials: {e}"),
        })?;
        let p = build_pipeline(
            &self.name,
            &self.credentials,
            &login,
            &self.bookmarks,
            &self.leases,
            &self.options,
        )
        .map_err(|e| PassError::permanent(e.to_string()))?;
        *self
            .pipeline
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(p);
        *self
            .logged_in
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::time::Instant::now();
        Ok(())
    }

    /// A short-lived login (IAM token) older than [`REFRESH_AFTER`] is replaced before a pass,
    /// so the pass never connects with an expired one.
    async fn renew_if_expiring(&self) -> Result<(), PassError> {
        let age = self
            .logged_in
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed();
        if self.credentials.is_short_lived() && age >= REFRESH_AFTER {
            info!(age_secs = age.as_secs(), "renewing the database token");
            self.rebuild().await?;
        }
        Ok(())
    }

    async fn run(&self, src: &TableSource, budget: PassBudget) -> Result<PassOutcome, SyncError> {
        let p = self.current();
        let out = p
            .run_pass(src, Some(budget.soft_deadline), PassMode::ToLatest)
            .await?;
        match out {
            PassOutcome::NeedsResync { reason } if self.auto_resync => {
                warn!(reason = %reason, "incremental history unusable; resyncing (HPS_AUTO_RESYNC)");
                p.resync(src, ResyncMode::Auto, Some(budget.soft_deadline))
                    .await
            }
            other => Ok(other),
        }
    }
}

/// The pipeline source of one table: its S3 store, its own settings over `target`.
fn source_for(
    s3: &aws_sdk_s3::Client,
    t: &TableSpec,
    target: &TargetOverrides,
) -> Result<TableSource, StartupError> {
    let store = S3Store::new(s3.clone(), t.bucket.clone(), &t.prefix)
        .map_err(|e| StartupError::Pipeline(format!("table {}: {e}", t.id)))?;
    Ok(TableSource::new(t.uri(), Arc::new(store))
        .with_target(t.target.clone().or(target))
        .with_after_apply(t.after_apply.clone())
        .with_columns(t.columns.clone())
        .with_partition_filter(t.partition_filter.clone()))
}

fn build_pipeline(
    name: &str,
    credentials: &Credentials,
    login: &Login,
    bookmarks: &Arc<dyn BookmarkStore>,
    leases: &Arc<dyn LeaseStore>,
    options: &SyncOptions,
) -> Result<SyncPipeline, StartupError> {
    let connector = Connector::new(credentials.connect_options(login))
        .map_err(|e| StartupError::Pipeline(format!("postgres connector: {e}")))?;
    SyncPipeline::new(
        name,
        Arc::clone(bookmarks),
        Arc::clone(leases),
        connector,
        options.clone(),
    )
    .map_err(|e| StartupError::Pipeline(e.to_string()))
}

/// Postgres rejected the login (wrong password, e.g. after a secret rotation).
fn is_auth_failure(e: &SyncError) -> bool {
    matches!(e, SyncError::Postgres { source, .. } if matches!(source.sqlstate(), Some("28P01") | Some("28000")))
}

fn to_pass_error(e: &SyncError) -> PassError {
    let mut message = e.to_string();
    if e.needs_resync() {
        message.push_str(
            " (incremental history lost: run `hudi-pg-sync resync`, or set HPS_AUTO_RESYNC=true)",
        );
    }
    PassError {
        transient: e.is_transient(),
        needs_resync: e.needs_resync(),
        message,
    }
}

fn report(r: &hps_sync::PassReport, more: bool) -> PassReport {
    PassReport {
        instants_applied: r.instants.len(),
        rows_applied: r.rows,
        rows_upserted: r.upserted,
        rows_deleted: r.deleted,
        rows_quarantined: r.quarantined,
        transactions: r.transactions,
        instants_behind: r.remaining_instants,
        newest_completed_at: r.newest_completed_at,
        up_to_date: !more && r.remaining_instants == 0,
        position: r.position.as_ref().map(|p| p.to_string()),
        more_remaining: more,
        bootstrap: r.bootstrap,
    }
}

#[async_trait]
impl TableSyncer for PipelineSyncer {
    async fn sync_table(
        &self,
        table: &TableSpec,
        budget: PassBudget,
    ) -> Result<PassReport, PassError> {
        let found;
        let src = match self.sources.get(table.id.as_str()) {
            Some(s) => s,
            None if table.discovered => {
                // found under a discovery prefix after start-up (the loader checked it)
                found = source_for(&self.s3, table, &self.target)
                    .map_err(|e| PassError::permanent(e.to_string()))?;
                &found
            }
            None => {
                return Err(PassError::permanent(format!(
                    "table {} has no source (not configured at start-up)",
                    table.id
                )));
            }
        };
        self.renew_if_expiring().await?;
        let mut out = self.run(src, budget).await;
        if let Err(e) = &out
            && is_auth_failure(e)
        {
            warn!("postgres rejected the credentials; fetching them again");
            self.rebuild().await?;
            out = self.run(src, budget).await;
        }
        match out {
            Ok(PassOutcome::UpToDate {
                position,
                blocked_by_pending,
            }) => {
                if let Some(p) = &blocked_by_pending {
                    info!(pending = %p, "later instants wait for a pending write (hollow-commit guard)");
                }
                Ok(PassReport {
                    position: position.map(|p| p.to_string()),
                    up_to_date: blocked_by_pending.is_none(),
                    ..PassReport::default()
                })
            }
            Ok(PassOutcome::Applied(r)) => Ok(report(&r, false)),
            Ok(PassOutcome::MoreToDo(r)) => Ok(report(&r, true)),
            Ok(PassOutcome::Paused { reason }) => {
                info!(
                    reason = reason.as_deref().unwrap_or(""),
                    "table is paused; messages acknowledged"
                );
                Ok(PassReport::default())
            }
            Ok(PassOutcome::Busy(BusyReason::Lease { owner, expires_at })) => {
                Err(PassError::transient(format!(
                    "table {} is being synced by {owner} (lease until {expires_at})",
                    table.id
                )))
            }
            Ok(PassOutcome::Busy(BusyReason::FenceMoved { expected, found })) => {
                Err(PassError::transient(format!(
                    "table {}: another writer moved the fence (expected version {expected}, found {found:?})",
                    table.id
                )))
            }
            Ok(PassOutcome::NeedsResync { reason }) => Err(PassError {
                transient: false,
                needs_resync: true,
                message: format!(
                    "table {} needs a resync: {reason} (run `hudi-pg-sync resync`, or set HPS_AUTO_RESYNC=true)",
                    table.id
                ),
            }),
            Err(e) => Err(to_pass_error(&e)),
        }
    }
}
