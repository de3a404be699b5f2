//! The Lambda runtime glue: clients built once per container, handlers that reuse them.
//!
//! `functions/commit-detector` and `functions/incremental-loader` call [`run_detector`] and
//! [`run_loader`]; everything they need (configuration, logging, AWS clients, the Postgres
//! pipeline) is set up here before the first invocation and shared by all of them.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hps_sync::{BookmarkStore, Queue};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{Instrument, debug, error, info, info_span};

use crate::config::{
    DetectorConfig, LoaderConfig, LogConfig, PasswordSource, ProcessEnv, load_config_file,
};
use crate::detector::{BookmarkPeek, DetectorOutcome, enqueue_retry_policy, handle_event};
use crate::discovery::{PrefixStores, S3Prefixes, tables_for_batch, tables_for_event};
use crate::event::parse_detector_event;
use crate::iam_auth::TokenSigner;
use crate::loader::{LoaderTiming, TableOutcome, TableSyncer, handle_batch};
use crate::metrics;
use crate::pg::Credentials;
use crate::syncer::{PipelineSyncer, sync_options};
use crate::telemetry::init_tracing;
use hps_retry::RetryPolicy;

/// Logging from `HPS_LOG`/`HPS_LOG_FORMAT`; a bad value is reported and replaced by defaults.
fn init_logging() {
    match LogConfig::from_env(&ProcessEnv) {
        Ok(c) => init_tracing(&c),
        Err(e) => {
            init_tracing(&LogConfig {
                filter: "info".into(),
                json: true,
            });
            error!(error = %e, "logging configuration invalid; using defaults");
        }
    }
}

/// Cold start of the detector: logging, configuration, AWS clients.
pub async fn detector_from_env() -> Result<DetectorState, Error> {
    init_logging();
    let mut config = DetectorConfig::from_env(&ProcessEnv)
        .inspect_err(|e| error!(error = %e, "configuration"))?;
    let aws = hps_aws::aws_config_from_env(None).await;
    load_config_file(config.config_file.as_ref(), &mut config.tables, &aws)
        .await
        .inspect_err(|e| error!(error = %e, "configuration"))?;
    let queue = hps_aws::SqsFifoQueue::from_config(&aws, config.queue_url.clone())?;
    let bookmarks = config.bookmark_table.as_ref().map(|t| {
        Arc::new(hps_aws::DynamoBookmarkStore::from_config(&aws, t.clone()))
            as Arc<dyn BookmarkStore>
    });
    info!(
        tables = config.tables.len(),
        discovery = config.tables.discovery().is_some(),
        bookmark_check = bookmarks.is_some(),
        "commit-detector ready"
    );
    let prefixes = prefix_stores(&config.tables, &aws);
    Ok(DetectorState {
        config,
        queue: Arc::new(queue),
        bookmarks,
        retry: enqueue_retry_policy(),
        prefixes,
    })
}

/// Cold start of the loader: logging, configuration, AWS clients, credentials, the pipeline.
pub async fn loader_from_env() -> Result<LoaderState, Error> {
    init_logging();
    let mut config =
        LoaderConfig::from_env(&ProcessEnv).inspect_err(|e| error!(error = %e, "configuration"))?;
    let aws = hps_aws::aws_config_from_env(None).await;
    load_config_file(config.config_file.as_ref(), &mut config.tables, &aws)
        .await
        .inspect_err(|e| error!(error = %e, "configuration"))?;
    let queue = hps_aws::SqsFifoQueue::from_config(&aws, config.queue_url.clone())?;
    let store = Arc::new(hps_aws::DynamoBookmarkStore::from_config(
        &aws,
        config.bookmark_table.clone(),
    ));
    let secrets = match config.pg.password {
        PasswordSource::Secret(_) => Some(aws_sdk_secretsmanager::Client::new(&aws)),
        PasswordSource::Literal(_) | PasswordSource::Iam => None,
    };
    let mut credentials = Credentials::new(config.pg.clone(), secrets);
    if config.pg.password == PasswordSource::Iam {
        credentials = credentials.with_iam(token_signer(&config, &aws)?);
    }
    let syncer = PipelineSyncer::new(
        &config,
        credentials,
        hps_aws::s3_client(&aws),
        store.clone(),
        store,
        sync_options(&config),
    )
    .await
    .inspect_err(|e| error!(error = %e, "start-up"))?;
    info!(
        tables = config.tables.len(),
        discovery = config.tables.discovery().is_some(),
        pipeline = %config.pipeline,
        "incremental-loader ready"
    );
    let prefixes = prefix_stores(&config.tables, &aws);
    Ok(LoaderState {
        config,
        syncer: Arc::new(syncer),
        queue: Arc::new(queue),
        prefixes,
    })
}

/// S3 access to the discovery prefixes, when the configuration has any.
fn prefix_stores(
    tables: &crate::tables::TableSet,
    aws: &aws_config::SdkConfig,
) -> Option<Arc<dyn PrefixStores>> {
    tables
        .discovery()
        .map(|_| Arc::new(S3Prefixes(hps_aws::s3_client(aws))) as Arc<dyn PrefixStores>)
}

/// The IAM token signer: the function's credentials and region from the AWS configuration.
fn token_signer(config: &LoaderConfig, aws: &aws_config::SdkConfig) -> Result<TokenSigner, Error> {
    let region = aws
        .region()
        .map(|r| r.to_string())
        .ok_or("HPS_PG_AUTH=iam needs the AWS region (AWS_REGION)")?;
    let credentials = aws
        .credentials_provider()
        .ok_or("HPS_PG_AUTH=iam needs AWS credentials")?;
    Ok(TokenSigner {
        host: config.pg.host.clone(),
        port: config.pg.port,
        user: config.pg.user.clone(),
        region,
        credentials,
    })
}

/// What the detector keeps across invocations.
pub struct DetectorState {
    /// Configuration.
    pub config: DetectorConfig,
    /// The FIFO queue.
    pub queue: Arc<dyn Queue>,
    /// Bookmarks for the optional "already applied" check.
    pub bookmarks: Option<Arc<dyn BookmarkStore>>,
    /// In-invocation retry of failed sends.
    pub retry: RetryPolicy,
    /// The discovery prefixes' storage (configurations with `[discovery]`).
    pub prefixes: Option<Arc<dyn PrefixStores>>,
}

/// One detector invocation.
pub async fn detector_invocation(
    state: &DetectorState,
    event: LambdaEvent<Value>,
) -> Result<DetectorOutcome, Error> {
    let request_id = event.context.request_id.clone();
    let span = info_span!("invocation", request_id = %request_id);
    async {
        let decoded = parse_detector_event(&event.payload)
            .inspect_err(|e| error!(error = %e, "event not understood"))?;
        let peek = state.bookmarks.as_deref().map(|store| BookmarkPeek {
            store,
            pipeline: state.config.pipeline.as_str(),
        });
        let tables = tables_for_event(&state.config.tables, state.prefixes.as_deref(), &decoded)
            .await
            .inspect_err(|e| error!(error = %e, "table discovery failed"))?;
        match handle_event(
            &tables,
            state.queue.as_ref(),
            peek,
            &decoded,
            &request_id,
            &state.retry,
        )
        .await
        {
            Ok(outcome) => {
                metrics::emit(&metrics::detector_invocation(
                    &state.config.pipeline,
                    &outcome,
                ));
                info!(
                    enqueued = outcome.enqueued,
                    already_applied = outcome.already_applied,
                    ignored = outcome.ignored,
                    unreadable = outcome.unreadable,
                    "done"
                );
                Ok(outcome)
            }
            Err(e) => {
                // the invocation fails: Lambda retries the event; sent messages deduplicate
                error!(error = %e, "detector invocation failed");
                Err(e.into())
            }
        }
    }
    .instrument(span)
    .await
}

/// Serve detector invocations until the runtime stops.
pub async fn run_detector(state: DetectorState) -> Result<(), Error> {
    let state = Arc::new(state);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = Arc::clone(&state);
        async move { detector_invocation(&state, event).await }
    }))
    .await
}

/// What the loader keeps across invocations.
pub struct LoaderState {
    /// Configuration.
    pub config: LoaderConfig,
    /// Runs the passes (owns the S3, DynamoDB and Postgres clients).
    pub syncer: Arc<dyn TableSyncer>,
    /// The FIFO queue (continuations).
    pub queue: Arc<dyn Queue>,
    /// The discovery prefixes' storage (configurations with `[discovery]`).
    pub prefixes: Option<Arc<dyn PrefixStores>>,
}

/// One loader invocation.
pub async fn loader_invocation(
    state: &LoaderState,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let ctx = &event.context;
    let span = info_span!("invocation", request_id = %ctx.request_id, messages = event.payload.records.len());
    async {
        let timing = LoaderTiming::from_deadline_ms(ctx.deadline, state.config.deadline_margin);
        debug!(
            time_left_ms = timing.time_left().as_millis() as u64,
            deadline_ms = ctx.deadline,
            "invocation start"
        );
        let tables = tables_for_batch(
            &state.config.tables,
            state.prefixes.as_deref(),
            &event.payload.records,
        )
        .await;
        let (response, outcomes) = handle_batch(
            &tables,
            state.syncer.as_ref(),
            state.queue.as_ref(),
            &event.payload.records,
            &ctx.request_id,
            timing,
        )
        .await;
        let now = chrono::Utc::now();
        for run in &outcomes {
            if let Some(line) = metrics::table_pass(&state.config.pipeline, run, now) {
                metrics::emit(&line);
            }
        }
        let failed = outcomes
            .iter()
            .filter(|r| matches!(r.outcome, TableOutcome::Failed(_)))
            .count();
        info!(
            tables = outcomes.len(),
            failed_tables = failed,
            failed_messages = response.batch_item_failures.len(),
            "done"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Serve loader invocations until the runtime stops.
pub async fn run_loader(state: LoaderState) -> Result<(), Error> {
    let state = Arc::new(state);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let state = Arc::clone(&state);
        async move { loader_invocation(&state, event).await }
    }))
    .await
}
