//! Configuration of both functions from environment variables.
//!
//! [`ENV_VARS`] is the single list of variables the functions read; `docs/lambda-config.md`
//! documents exactly these (a unit test keeps the two in step) and the infra tests check the
//! SAM template sets only these.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use hps_config::ConfigSource;

use crate::error::ConfigError;
use crate::tables::TableSet;

/// Which function reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `commit-detector`.
    Detector,
    /// `incremental-loader`.
    Loader,
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable name.
    pub name: &'static str,
    /// The functions that read it.
    pub roles: &'static [Role],
    /// The functions that cannot start without it.
    pub required: &'static [Role],
    /// Default when unset (`None`: no default).
    pub default: Option<&'static str>,
    /// One-line description (the docs table).
    pub doc: &'static str,
}

impl EnvVar {
    /// Whether `role` reads this variable.
    pub fn used_by(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether `role` refuses to start without it.
    pub fn required_for(&self, role: Role) -> bool {
        self.required.contains(&role)
    }
}

const BOTH: &[Role] = &[Role::Detector, Role::Loader];
const LOAD: &[Role] = &[Role::Loader];
const NONE: &[Role] = &[];

/// Every variable the functions read.
pub static ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "HPS_CONFIG",
        roles: BOTH,
        required: NONE,
        default: None,
        doc: "The configuration file (TOML, README \"Configuration file\"): a path, `s3://bucket/key` or `ssm:/parameter-name`. Read and validated at cold start; it lists the tables and their per-table settings. One of `HPS_CONFIG` / `HPS_TABLES` is required; both together are refused.",
    },
    EnvVar {
        name: "HPS_TABLES",
        roles: BOTH,
        required: NONE,
        default: None,
        doc: "Tables to sync without a configuration file: `id=s3://bucket/base/path` entries separated by commas, semicolons or whitespace, or a JSON object `{\"id\": \"s3://…\"}`. Ids are 1–64 of `A-Z a-z 0-9 _ . -` and become the SQS message group id; base paths must not contain one another.",
    },
    EnvVar {
        name: "HPS_QUEUE_URL",
        roles: BOTH,
        required: BOTH,
        default: None,
        doc: "URL of the SQS FIFO queue: the detector sends to it; the loader sends continuation messages to it when a pass runs out of time.",
    },
    EnvVar {
        name: "HPS_BOOKMARK_TABLE",
        roles: BOTH,
        required: LOAD,
        default: None,
        doc: "DynamoDB table of bookmarks and leases. Loader: required. Detector: optional; when set, instants already at or behind a table's bookmark are not enqueued (an optimisation, never needed for correctness).",
    },
    EnvVar {
        name: "HPS_PIPELINE",
        roles: BOTH,
        required: NONE,
        default: Some("default"),
        doc: "Pipeline name: the namespace of bookmarks, leases and fences (`A-Z a-z 0-9 _ . -`), so several targets can sync the same tables independently.",
    },
    EnvVar {
        name: "HPS_PG_HOST",
        roles: LOAD,
        required: LOAD,
        default: None,
        doc: "PostgreSQL (Aurora writer) host name.",
    },
    EnvVar {
        name: "HPS_PG_PORT",
        roles: LOAD,
        required: NONE,
        default: Some("5432"),
        doc: "PostgreSQL port.",
    },
    EnvVar {
        name: "HPS_PG_DATABASE",
        roles: LOAD,
        required: NONE,
        default: Some("postgres"),
        doc: "Database name.",
    },
    EnvVar {
        name: "HPS_PG_USER",
        roles: LOAD,
        required: NONE,
        default: Some("postgres"),
        doc: "Database user; a `username` field in the secret takes precedence.",
    },
    EnvVar {
        name: "HPS_PG_AUTH",
        roles: LOAD,
        required: NONE,
        default: Some("password"),
        doc: "`password`: the password comes from `HPS_PG_SECRET_ARN` or `HPS_PG_PASSWORD`. `iam`: IAM database authentication, a token signed with the function's role (`rds-db:connect`), taken at each login and renewed before a pass once it is 10 minutes old; the user needs the `rds_iam` role and TLS is required.",
    },
    EnvVar {
        name: "HPS_PG_SECRET_ARN",
        roles: LOAD,
        required: NONE,
        default: None,
        doc: "Secrets Manager secret holding the password: an RDS-style JSON secret (`password`, optional `username`) or a plain string. Read once per container, again after an authentication failure. Takes precedence over `HPS_PG_PASSWORD`.",
    },
    EnvVar {
        name: "HPS_PG_PASSWORD",
        roles: LOAD,
        required: NONE,
        default: None,
        doc: "The password itself (local runs and tests). One of `HPS_PG_SECRET_ARN` / `HPS_PG_PASSWORD` is required.",
    },
    EnvVar {
        name: "HPS_PG_SSLMODE",
        roles: LOAD,
        required: NONE,
        default: Some("verify-full"),
        doc: "`disable`, `prefer`, `require` (encrypt, no certificate check), `verify-ca` (chain only) or `verify-full` (chain and host name).",
    },
    EnvVar {
        name: "HPS_PG_SSLROOTCERT",
        roles: LOAD,
        required: NONE,
        default: None,
        doc: "PEM file of CA certificates for `verify-ca`/`verify-full` (e.g. shipped in a layer under `/opt`). Unset: the public WebPKI roots, plus Amazon's RDS CAs (built in) for `*.rds.amazonaws.com` hosts, so Aurora, RDS and RDS Proxy endpoints verify without a bundle.",
    },
    EnvVar {
        name: "HPS_PG_SCHEMA",
        roles: LOAD,
        required: NONE,
        default: Some("hudi"),
        doc: "Target schema of staging (`<table>`), landing (`<table>__landing`) and fence (`hudi_sync_state`) tables.",
    },
    EnvVar {
        name: "HPS_PG_CONNECT_TIMEOUT_SECS",
        roles: LOAD,
        required: NONE,
        default: Some("10"),
        doc: "Connection timeout in seconds.",
    },
    EnvVar {
        name: "HPS_DELETE_MODE",
        roles: LOAD,
        required: NONE,
        default: Some("hard"),
        doc: "`hard`: Hudi deletes remove staging rows. `soft`: they keep the row and mark it deleted.",
    },
    EnvVar {
        name: "HPS_MAX_ROWS_PER_TXN",
        roles: LOAD,
        required: NONE,
        default: Some("1000000"),
        doc: "A transaction stops adding file slices once it holds this many change rows (bounds transaction size; progress is committed per transaction).",
    },
    EnvVar {
        name: "HPS_MAX_INSTANTS_PER_WINDOW",
        roles: LOAD,
        required: NONE,
        default: Some("200"),
        doc: "Instants planned per window; a pass applies window after window until it is up to date or out of time.",
    },
    EnvVar {
        name: "HPS_AUTO_RESYNC",
        roles: LOAD,
        required: NONE,
        default: Some("false"),
        doc: "`true`: when a table's incremental history is gone (archived or cleaned past the bookmark, rollback of applied instants), the loader resyncs it from a snapshot (resumable across invocations). `false`: the table's messages fail until an operator runs `hudi-pg-sync resync`.",
    },
    EnvVar {
        name: "HPS_DEADLINE_MARGIN_SECS",
        roles: LOAD,
        required: NONE,
        default: Some("20"),
        doc: "Seconds before the Lambda deadline at which a pass stops starting new work, so it can commit, enqueue its continuation and answer in time.",
    },
    EnvVar {
        name: "HPS_LOG",
        roles: BOTH,
        required: NONE,
        default: Some("info"),
        doc: "Log filter (`error` … `trace`, or `tracing` directives such as `info,hps_hudi=debug`).",
    },
    EnvVar {
        name: "HPS_LOG_FORMAT",
        roles: BOTH,
        required: NONE,
        default: Some("json"),
        doc: "`json` (one JSON object per line, for CloudWatch) or `text`.",
    },
    EnvVar {
        name: "AWS_ENDPOINT_URL",
        roles: BOTH,
        required: NONE,
        default: None,
        doc: "Standard AWS SDK variable: send every AWS call to this endpoint (moto, LocalStack); path-style S3 addressing is used then.",
    },
];

/// Where configuration values come from: the process environment, or a map in tests.
pub trait Env {
    /// The value of `name`, if set and not empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.trim().is_empty())
    }
}

fn spec(name: &str) -> &'static EnvVar {
    // every name passed here is a literal from ENV_VARS (unit-tested)
    ENV_VARS
        .iter()
        .find(|v| v.name == name)
        .unwrap_or(&ENV_VARS[0])
}

fn required(env: &impl Env, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    env.get(name)
        .ok_or(ConfigError::Missing { var: name, hint })
}

fn with_default(env: &impl Env, name: &'static str) -> String {
    env.get(name)
        .or_else(|| spec(name).default.map(String::from))
        .unwrap_or_default()
}

fn parse_num<T: std::str::FromStr>(env: &impl Env, name: &'static str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    let raw = with_default(env, name);
    raw.trim().parse::<T>().map_err(|e| ConfigError::Invalid {
        var: name,
        reason: format!("{raw:?} is not a valid number: {e}"),
    })
}

/// Logging settings (both functions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `tracing` filter directives.
    pub filter: String,
    /// JSON lines (true) or human-readable text.
    pub json: bool,
}

impl LogConfig {
    /// From `HPS_LOG` / `HPS_LOG_FORMAT`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let json = match with_default(env, "HPS_LOG_FORMAT")
            .to_ascii_lowercase()
            .as_str()
        {
            "json" => true,
            "text" => false,
            other => {
                return Err(ConfigError::Invalid {
                    var: "HPS_LOG_FORMAT",
                    reason: format!("{other:?}: expected json or text"),
                });
            }
        };
        Ok(LogConfig {
            filter: with_default(env, "HPS_LOG"),
            json,
        })
    }
}

/// The commit detector's configuration.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Configured tables (empty until [`load_config_file`] when they come from `HPS_CONFIG`).
    pub tables: TableSet,
    /// The configuration file, when the tables come from one.
    pub config_file: Option<ConfigSource>,
    /// The FIFO queue.
    pub queue_url: String,
    /// Bookmark table for the optional "already applied" check.
    pub bookmark_table: Option<String>,
    /// Pipeline name (bookmark namespace).
    pub pipeline: String,
}

impl DetectorConfig {
    /// Read from `env`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let (tables, config_file) = tables(env)?;
        Ok(DetectorConfig {
            tables,
            config_file,
            queue_url: queue_url(env)?,
            bookmark_table: env.get("HPS_BOOKMARK_TABLE"),
            pipeline: pipeline(env)?,
        })
    }
}

/// The tables of `HPS_TABLES`, or (empty) the source of `HPS_CONFIG`: exactly one of the two.
fn tables(env: &impl Env) -> Result<(TableSet, Option<ConfigSource>), ConfigError> {
    match (env.get("HPS_TABLES"), env.get("HPS_CONFIG")) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            var: "HPS_CONFIG",
            reason: "HPS_TABLES is set too: the configuration file lists the tables, set only one of the two".into(),
        }),
        (Some(list), None) => Ok((TableSet::parse(&list)?, None)),
        (None, Some(location)) => {
            let source = ConfigSource::parse(&location).map_err(ConfigError::File)?;
            Ok((TableSet::default(), Some(source)))
        }
        (None, None) => Err(ConfigError::Missing {
            var: "HPS_TABLES",
            hint: "id=s3://bucket/path,... (or HPS_CONFIG: a configuration file listing the tables)",
        }),
    }
}

/// Read the configuration file (`HPS_CONFIG`), if there is one, and take its tables.
pub async fn load_config_file(
    source: Option<&ConfigSource>,
    tables: &mut TableSet,
    aws: &SdkConfig,
) -> Result<(), ConfigError> {
    let Some(source) = source else {
        return Ok(());
    };
    let config = source.load(Some(aws)).await.map_err(ConfigError::File)?;
    *tables = TableSet::from_config(&config)?;
    Ok(())
}

fn pipeline(env: &impl Env) -> Result<String, ConfigError> {
    let p = with_default(env, "HPS_PIPELINE");
    hps_sync::bookmark::validate_pipeline(&p).map_err(|e| ConfigError::Invalid {
        var: "HPS_PIPELINE",
        reason: e.to_string(),
    })?;
    Ok(p)
}

fn queue_url(env: &impl Env) -> Result<String, ConfigError> {
    let url = required(env, "HPS_QUEUE_URL", "the SQS FIFO queue URL")?;
    if !url.ends_with(".fifo") {
        return Err(ConfigError::Invalid {
            var: "HPS_QUEUE_URL",
            reason: format!("{url:?} is not a FIFO queue (its name must end in .fifo)"),
        });
    }
    Ok(url)
}

/// TLS mode of the Postgres connection (libpq's `sslmode` names, as hps-postgres implements
/// them).
pub use hps_postgres::SslMode;

fn parse_ssl_mode(s: &str) -> Result<SslMode, ConfigError> {
    s.to_ascii_lowercase()
        .parse()
        .map_err(|e: hps_postgres::PgError| ConfigError::Invalid {
            var: "HPS_PG_SSLMODE",
            reason: e.to_string(),
        })
}

/// Where the Postgres password comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A Secrets Manager secret (ARN or name).
    Secret(String),
    /// The password itself.
    Literal(String),
    /// IAM database authentication: a token signed with the function's credentials.
    Iam,
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Secret(arn) => f.debug_tuple("Secret").field(arn).finish(),
            PasswordSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            PasswordSource::Iam => f.write_str("Iam"),
        }
    }
}

/// Postgres connection settings. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub database: String,
    /// User (a secret's `username` overrides it).
    pub user: String,
    /// Password source.
    pub password: PasswordSource,
    /// TLS mode.
    pub ssl_mode: SslMode,
    /// CA bundle for verification (None: WebPKI roots).
    pub ssl_root_cert: Option<PathBuf>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Target schema.
    pub schema: String,
}

/// What a Hudi delete does to the staging row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Remove the row.
    Hard,
    /// Keep the row, marked deleted.
    Soft,
}

/// The incremental loader's configuration.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Configured tables (empty until [`load_config_file`] when they come from `HPS_CONFIG`).
    pub tables: TableSet,
    /// The configuration file, when the tables come from one.
    pub config_file: Option<ConfigSource>,
    /// The FIFO queue (continuations).
    pub queue_url: String,
    /// Bookmarks and leases.
    pub bookmark_table: String,
    /// Pipeline name (bookmark namespace).
    pub pipeline: String,
    /// Postgres.
    pub pg: PgSettings,
    /// Delete policy.
    pub delete_mode: DeleteMode,
    /// Change rows per transaction.
    pub max_rows_per_txn: u64,
    /// Instants per planned window.
    pub max_instants_per_window: usize,
    /// Resync automatically when the incremental history is gone.
    pub auto_resync: bool,
    /// Reserve before the Lambda deadline.
    pub deadline_margin: Duration,
}

/// `HPS_PG_AUTH` and the password variables.
fn password_source(env: &impl Env) -> Result<PasswordSource, ConfigError> {
    match with_default(env, "HPS_PG_AUTH")
        .to_ascii_lowercase()
        .as_str()
    {
        "iam" => return Ok(PasswordSource::Iam),
        "password" => {}
        other => {
            return Err(ConfigError::Invalid {
                var: "HPS_PG_AUTH",
                reason: format!("{other:?}: expected password or iam"),
            });
        }
    }
    match (env.get("HPS_PG_SECRET_ARN"), env.get("HPS_PG_PASSWORD")) {
        (Some(arn), _) => Ok(PasswordSource::Secret(arn)),
        (None, Some(p)) => Ok(PasswordSource::Literal(p)),
        (None, None) => Err(ConfigError::Missing {
            var: "HPS_PG_SECRET_ARN",
            hint: "a Secrets Manager secret with the password (or HPS_PG_PASSWORD for local runs, or HPS_PG_AUTH=iam)",
        }),
    }
}

impl LoaderConfig {
    /// Read from `env`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let password = password_source(env)?;
        let delete_mode = match with_default(env, "HPS_DELETE_MODE")
            .to_ascii_lowercase()
            .as_str()
        {
            "hard" => DeleteMode::Hard,
            "soft" => DeleteMode::Soft,
            other => {
                return Err(ConfigError::Invalid {
                    var: "HPS_DELETE_MODE",
                    reason: format!("{other:?}: expected hard or soft"),
                });
            }
        };
        let max_rows_per_txn: u64 = parse_num(env, "HPS_MAX_ROWS_PER_TXN")?;
        if max_rows_per_txn == 0 {
            return Err(ConfigError::Invalid {
                var: "HPS_MAX_ROWS_PER_TXN",
                reason: "must be at least 1".into(),
            });
        }
        let max_instants_per_window: usize = parse_num(env, "HPS_MAX_INSTANTS_PER_WINDOW")?;
        if max_instants_per_window == 0 {
            return Err(ConfigError::Invalid {
                var: "HPS_MAX_INSTANTS_PER_WINDOW",
                reason: "must be at least 1".into(),
            });
        }
        let auto_resync = match with_default(env, "HPS_AUTO_RESYNC")
            .to_ascii_lowercase()
            .as_str()
        {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(ConfigError::Invalid {
                    var: "HPS_AUTO_RESYNC",
                    reason: format!("{other:?}: expected true or false"),
                });
            }
        };
        let port: u16 = parse_num(env, "HPS_PG_PORT")?;
        let ssl_mode = parse_ssl_mode(&with_default(env, "HPS_PG_SSLMODE"))?;
        if password == PasswordSource::Iam && ssl_mode == SslMode::Disable {
            return Err(ConfigError::Invalid {
                var: "HPS_PG_AUTH",
                reason: "iam needs TLS: HPS_PG_SSLMODE must not be disable".into(),
            });
        }
        let connect_timeout = Duration::from_secs(parse_num(env, "HPS_PG_CONNECT_TIMEOUT_SECS")?);
        let (tables, config_file) = tables(env)?;
        Ok(LoaderConfig {
            tables,
            config_file,
            queue_url: queue_url(env)?,
            bookmark_table: required(env, "HPS_BOOKMARK_TABLE", "the DynamoDB bookmark table")?,
            pipeline: pipeline(env)?,
            pg: PgSettings {
                host: required(env, "HPS_PG_HOST", "the PostgreSQL host")?,
                port,
                database: with_default(env, "HPS_PG_DATABASE"),
                user: with_default(env, "HPS_PG_USER"),
                password,
                ssl_mode,
                ssl_root_cert: env.get("HPS_PG_SSLROOTCERT").map(PathBuf::from),
                connect_timeout,
                schema: with_default(env, "HPS_PG_SCHEMA"),
            },
            delete_mode,
            max_rows_per_txn,
            max_instants_per_window,
            auto_resync,
            deadline_margin: Duration::from_secs(parse_num(env, "HPS_DEADLINE_MARGIN_SECS")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 5] = [
        ("HPS_TABLES", "orders=s3://lake/wh/orders"),
        (
            "HPS_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
        ),
        ("HPS_BOOKMARK_TABLE", "bm"),
        ("HPS_PG_HOST", "db"),
        (
            "HPS_PG_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
        ),
    ];

    fn with<const N: usize, const M: usize>(
        base: [(&'static str, &'static str); N],
        over: [(&'static str, &'static str); M],
    ) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = base
            .into_iter()
            .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
            .collect();
        v.extend(over);
        v
    }

    struct VecEnv(Vec<(&'static str, &'static str)>);
    impl Env for VecEnv {
        fn get(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .filter(|v| !v.is_empty())
        }
    }

    #[test]
    fn every_name_used_in_code_is_in_the_table() {
        let src = include_str!("config.rs");
        // collect "HPS_…" literals used outside the ENV_VARS table and check each is listed
        for (i, _) in src.match_indices("\"HPS_") {
            let rest = &src[i + 1..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if name == "HPS_" {
                continue; // this test's own pattern
            }
            assert!(
                ENV_VARS.iter().any(|v| v.name == name),
                "{name} is not in ENV_VARS"
            );
        }
        let mut names: Vec<_> = ENV_VARS.iter().map(|v| v.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ENV_VARS.len(), "duplicate names in ENV_VARS");
        for v in ENV_VARS {
            for r in v.required {
                assert!(
                    v.roles.contains(r),
                    "{} required by a role that does not read it",
                    v.name
                );
            }
        }
    }

    #[test]
    fn docs_table_lists_exactly_the_variables() {
        let doc = include_str!("../../../docs/lambda-config.md");
        let documented: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(String::from)
            .collect();
        let listed: std::collections::BTreeSet<String> =
            ENV_VARS.iter().map(|v| v.name.to_string()).collect();
        assert_eq!(
            documented, listed,
            "docs/lambda-config.md and ENV_VARS differ"
        );
    }

    #[test]
    fn iam_authentication_needs_no_password_but_tls() {
        let no_secret = ("HPS_PG_SECRET_ARN", "");
        let c = LoaderConfig::from_env(&VecEnv(with(BASE, [no_secret, ("HPS_PG_AUTH", "IAM")])))
            .unwrap();
        assert_eq!(c.pg.password, PasswordSource::Iam);
        // without it, a password source is required
        let e = LoaderConfig::from_env(&VecEnv(with(BASE, [no_secret]))).unwrap_err();
        assert!(e.to_string().contains("HPS_PG_SECRET_ARN"), "{e}");
        let e = LoaderConfig::from_env(&VecEnv(with(
            BASE,
            [
                no_secret,
                ("HPS_PG_AUTH", "iam"),
                ("HPS_PG_SSLMODE", "disable"),
            ],
        )))
        .unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        let e =
            LoaderConfig::from_env(&VecEnv(with(BASE, [("HPS_PG_AUTH", "kerberos")]))).unwrap_err();
        assert!(e.to_string().contains("HPS_PG_AUTH"), "{e}");
    }

    #[test]
    fn loader_defaults_and_overrides() {
        let c = LoaderConfig::from_env(&BASE).unwrap();
        assert_eq!(c.pg.port, 5432);
        assert_eq!(c.pg.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.pg.schema, "hudi");
        assert_eq!(c.delete_mode, DeleteMode::Hard);
        assert_eq!(c.deadline_margin, Duration::from_secs(20));
        assert_eq!(
            (c.max_rows_per_txn, c.max_instants_per_window, c.auto_resync),
            (1_000_000, 200, false)
        );
        assert!(matches!(c.pg.password, PasswordSource::Secret(_)));

        let e = VecEnv(with(
            BASE,
            [
                ("HPS_PG_SECRET_ARN", ""),
                ("HPS_PG_PASSWORD", "hunter2"),
                ("HPS_PG_PORT", "6543"),
                ("HPS_PG_SSLMODE", "disable"),
                ("HPS_DELETE_MODE", "SOFT"),
                ("HPS_MAX_INSTANTS_PER_WINDOW", "3"),
                ("HPS_AUTO_RESYNC", "TRUE"),
            ],
        ));
        let c = LoaderConfig::from_env(&e).unwrap();
        assert_eq!(c.pg.port, 6543);
        assert_eq!(c.pg.ssl_mode, SslMode::Disable);
        assert_eq!(c.delete_mode, DeleteMode::Soft);
        assert_eq!((c.max_instants_per_window, c.auto_resync), (3, true));
        // the password never shows in Debug output
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn loader_rejects_bad_values() {
        for (k, v) in [
            ("HPS_PG_PORT", "70000"),
            ("HPS_PG_SSLMODE", "allow"),
            ("HPS_DELETE_MODE", "archive"),
            ("HPS_MAX_ROWS_PER_TXN", "0"),
            ("HPS_MAX_INSTANTS_PER_WINDOW", "0"),
            ("HPS_AUTO_RESYNC", "maybe"),
            (
                "HPS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/standard",
            ),
            ("HPS_PG_HOST", ""),
            ("HPS_BOOKMARK_TABLE", ""),
            ("HPS_PIPELINE", "bad name"),
        ] {
            let e = VecEnv(with(BASE, [(k, v)]));
            assert!(LoaderConfig::from_env(&e).is_err(), "{k}={v} accepted");
        }
        let e = VecEnv(with(BASE, [("HPS_PG_SECRET_ARN", "")]));
        assert!(
            LoaderConfig::from_env(&e).is_err(),
            "no password source accepted"
        );
    }

    #[test]
    fn detector_needs_only_tables_and_queue() {
        let e = [
            ("HPS_TABLES", "a=s3://lake/a"),
            ("HPS_QUEUE_URL", "http://127.0.0.1:1/123/q.fifo"),
        ];
        let c = DetectorConfig::from_env(&e).unwrap();
        assert_eq!(c.tables.len(), 1);
        assert_eq!(c.bookmark_table, None);
        assert!(DetectorConfig::from_env(&[("HPS_TABLES", "a=s3://lake/a")]).is_err());
    }

    #[test]
    fn tables_from_exactly_one_of_hps_tables_and_hps_config() {
        let q = ("HPS_QUEUE_URL", "http://127.0.0.1:1/123/q.fifo");
        let c = DetectorConfig::from_env(&[("HPS_CONFIG", "s3://cfg/hps.toml"), q]).unwrap();
        assert!(c.tables.is_empty());
        assert_eq!(
            c.config_file,
            Some(ConfigSource::S3 {
                bucket: "cfg".into(),
                key: "hps.toml".into()
            })
        );
        let both = [
            ("HPS_CONFIG", "ssm:/hps"),
            ("HPS_TABLES", "a=s3://lake/a"),
            q,
        ];
        let e = DetectorConfig::from_env(&both).unwrap_err().to_string();
        assert!(e.contains("HPS_CONFIG") && e.contains("HPS_TABLES"), "{e}");
        let e = DetectorConfig::from_env(&[q]).unwrap_err().to_string();
        assert!(e.contains("HPS_TABLES") && e.contains("HPS_CONFIG"), "{e}");
        assert!(DetectorConfig::from_env(&[("HPS_CONFIG", "gs://x/y"), q]).is_err());
        let e = VecEnv(with(
            BASE,
            [("HPS_TABLES", ""), ("HPS_CONFIG", "/etc/hps.toml")],
        ));
        let c = LoaderConfig::from_env(&e).unwrap();
        assert_eq!(
            c.config_file,
            Some(ConfigSource::File("/etc/hps.toml".into()))
        );
    }

    #[test]
    fn log_config() {
        assert_eq!(
            LogConfig::from_env(&[("X", "")]).unwrap(),
            LogConfig {
                filter: "info".into(),
                json: true
            }
        );
        assert!(
            !LogConfig::from_env(&[("HPS_LOG_FORMAT", "TEXT")])
                .unwrap()
                .json
        );
        assert!(LogConfig::from_env(&[("HPS_LOG_FORMAT", "xml")]).is_err());
    }
}
