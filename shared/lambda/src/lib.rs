//! # hps-lambda: the two AWS Lambda functions of hudi-pg-sync, as a library
//!
//! - **commit-detector** ([`detector`]): S3 `ObjectCreated` events for Hudi timeline files (and
//!   scheduled sweeps) in; one SQS FIFO message per (table, completed instant) out, message
//!   group = table, dedup id = table + instant.
//! - **incremental-loader** ([`loader`]): SQS batches in; one sync pass per table up to its
//!   newest completed instant within the invocation's deadline; continuation messages when
//!   work remains; a partial batch response failing only the tables that failed.
//!
//! Both write CloudWatch Embedded Metric Format lines ([`metrics`]) beside their JSON logs.
//!
//! The function binaries in `functions/` are thin mains over this crate. Configuration comes
//! from environment variables ([`config::ENV_VARS`], documented in `docs/lambda-config.md`).

pub mod config;
pub mod detector;
pub mod discovery;
pub mod error;
pub mod event;
pub mod iam_auth;
pub mod loader;
pub mod message;
pub mod metrics;
pub mod pg;
pub mod runtime;
pub mod syncer;
pub mod tables;
pub mod telemetry;
pub mod timeline_key;

pub use config::{DetectorConfig, LoaderConfig};
pub use error::ConfigError;
pub use tables::{TableId, TableSet, TableSpec};
