//! The loader's Postgres credentials and connection options.
//!
//! The password comes from Secrets Manager (an RDS-style JSON secret with `password` and
//! optionally `username`, or a plain string) or, for local runs, from the environment. It is
//! fetched once per container; after an authentication failure the caller asks again
//! ([`Credentials::refresh`]) so a rotated secret is picked up without a cold start. With
//! IAM database authentication the password is a short-lived token ([`crate::iam_auth`]),
//! taken at each refresh.

use aws_sdk_secretsmanager::Client as SecretsClient;
use hps_postgres::{ConnectOptions, Secret};
use serde::Deserialize;
use thiserror::Error;
use tracing::info;

use crate::config::{PasswordSource, PgSettings};
use crate::iam_auth::{IamAuthError, TokenSigner};

/// Fetching or decoding the password failed. Never contains the secret value.
#[derive(Debug, Error)]
pub enum CredentialsError {
    /// Secrets Manager refused or failed.
    #[error("reading secret {secret}: {message}")]
    Fetch {
        /// The secret ARN or name.
        secret: String,
        /// What went wrong.
        message: String,
        /// Whether a retry may succeed.
        transient: bool,
    },
    /// The secret holds no usable password.
    #[error("secret {secret}: {reason}")]
    Unusable {
        /// The secret ARN or name.
        secret: String,
        /// Why (never the value).
        reason: String,
    },
    /// No IAM authentication token could be made.
    #[error(transparent)]
    Iam(#[from] IamAuthError),
}

impl CredentialsError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialsError::Fetch { transient, .. } => *transient,
            CredentialsError::Iam(e) => e.is_transient(),
            CredentialsError::Unusable { .. } => false,
        }
    }
}

/// User and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
}

#[derive(Deserialize)]
struct RdsSecret {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Decode a secret string: RDS-style JSON (`password`, optional `username`) or the password
/// itself. `default_user` applies when the secret names no user.
pub fn parse_secret(
    secret_id: &str,
    value: &str,
    default_user: &str,
) -> Result<Login, CredentialsError> {
    let unusable = |reason: &str| CredentialsError::Unusable {
        secret: secret_id.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = value.trim();
    if trimmed.starts_with('{') {
        let s: RdsSecret = serde_json::from_str(trimmed)
            .map_err(|_| unusable("looks like JSON but is not a JSON object with string fields"))?;
        let password = s
            .password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| unusable("JSON secret has no \"password\""))?;
        let user = s
            .username
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| default_user.to_string());
        return Ok(Login {
            user,
            password: Secret::new(password),
        });
    }
    if value.is_empty() {
        return Err(unusable("the secret string is empty"));
    }
    Ok(Login {
        user: default_user.to_string(),
        password: Secret::new(value),
    })
}

/// Resolves the login, caching nothing itself: the loader keeps the [`Login`] it got.
#[derive(Debug, Clone)]
pub struct Credentials {
    settings: PgSettings,
    secrets: Option<SecretsClient>,
    iam: Option<TokenSigner>,
}

impl Credentials {
    /// `secrets` is needed when the password source is a secret.
    pub fn new(settings: PgSettings, secrets: Option<SecretsClient>) -> Self {
        Credentials {
            settings,
            secrets,
            iam: None,
        }
    }

    /// The signer of IAM authentication tokens (needed when the password source is IAM).
    pub fn with_iam(mut self, signer: TokenSigner) -> Self {
        self.iam = Some(signer);
        self
    }

    /// The login expires by itself (an IAM token): take a new one before it does.
    pub fn is_short_lived(&self) -> bool {
        self.settings.password == PasswordSource::Iam
    }

    /// Fetch the login now (Secrets Manager call for secrets).
    pub async fn refresh(&self) -> Result<Login, CredentialsError> {
        match &self.settings.password {
            PasswordSource::Literal(p) => Ok(Login {
                user: self.settings.user.clone(),
                password: Secret::new(p.clone()),
            }),
            PasswordSource::Iam => {
                let signer = self.iam.as_ref().ok_or_else(|| {
                    IamAuthError::Credentials("no token signer configured".into())
                })?;
                let token = signer.token().await?;
                info!(user = %self.settings.user, "database token signed (IAM authentication)");
                Ok(Login {
                    user: self.settings.user.clone(),
                    password: Secret::new(token),
                })
            }
            PasswordSource::Secret(id) => {
                let client = self
                    .secrets
                    .as_ref()
                    .ok_or_else(|| CredentialsError::Fetch {
                        secret: id.clone(),
                        message: "no Secrets Manager client configured".into(),
                        transient: false,
                    })?;
                let out = client
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        let transient = e.as_service_error().is_none_or(|se| {
                            se.is_internal_service_error()
                                || se.meta().code() == Some("ThrottlingException")
                        });
                        let message = match e.as_service_error() {
                            Some(se) => format!(
                                "{}: {}",
                                se.meta().code().unwrap_or("error"),
                                se.meta().message().unwrap_or("")
                            ),
                            None => format!("{e}"),
                        };
                        CredentialsError::Fetch {
                            secret: id.clone(),
                            message,
                            transient,
                        }
                    })?;
                let value = out
                    .secret_string()
                    .ok_or_else(|| CredentialsError::Unusable {
                        secret: id.clone(),
                        reason: "the secret has no SecretString (binary secrets are not supported)"
                            .into(),
                    })?;
                let login = parse_secret(id, value, &self.settings.user)?;
                info!(secret = %id, user = %login.user, "database credentials loaded");
                Ok(login)
            }
        }
    }

    /// Connection options for `login`.
    pub fn connect_options(&self, login: &Login) -> ConnectOptions {
        let s = &self.settings;
        let mut o = ConnectOptions::new(s.host.clone(), s.port, login.user.clone());
        o.dbname = Some(s.database.clone());
        o.password = Some(login.password.clone());
        o.sslmode = Some(s.ssl_mode);
        o.sslrootcert = s.ssl_root_cert.clone();
        o.connect_timeout = Some(s.connect_timeout);
        o.application_name = Some("hudi-pg-sync-loader".into());
        // after an Aurora failover the old writer endpoint can briefly resolve to a reader
        o.read_write = true;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_rds_json_or_plain_form() {
        let l = parse_secret(
            "s",
            r#"{"engine":"postgres","username":"app","password":"p@ss","port":5432}"#,
            "dflt",
        )
        .unwrap();
        assert_eq!((l.user.as_str(), l.password.expose()), ("app", "p@ss"));
        let l = parse_secret("s", r#"{"password":"x"}"#, "dflt").unwrap();
        assert_eq!(l.user, "dflt");
        let l = parse_secret("s", "plain secret ", "dflt").unwrap();
        assert_eq!(l.password.expose(), "plain secret ");
        for bad in ["", r#"{"username":"u"}"#, r#"{"password":""}"#, "{not json"] {
            let e = parse_secret("arn:x", bad, "d").unwrap_err();
            assert!(e.to_string().contains("arn:x"), "{e}");
        }
        // errors never echo the value
        let e = parse_secret("s", r#"{"password": 12345}"#, "d").unwrap_err();
        assert!(!e.to_string().contains("12345"), "{e}");
    }

    #[tokio::test]
    async fn iam_logins_are_fresh_tokens_for_the_configured_user() {
        use aws_credential_types::provider::SharedCredentialsProvider;
        let settings = PgSettings {
            host: "sync.cluster-abc.eu-west-1.rds.amazonaws.com".into(),
            port: 5432,
            database: "analytics".into(),
            user: "hudi_sync".into(),
            password: PasswordSource::Iam,
            ssl_mode: hps_postgres::SslMode::VerifyFull,
            ssl_root_cert: None,
            connect_timeout: std::time::Duration::from_secs(10),
            schema: "hudi".into(),
        };
        let creds =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let signer = TokenSigner {
            host: settings.host.clone(),
            port: settings.port,
            user: settings.user.clone(),
            region: "eu-west-1".into(),
            credentials: SharedCredentialsProvider::new(creds),
        };
        // without a signer: a clear error, not a login without password
        let bare = Credentials::new(settings.clone(), None);
        assert!(bare.is_short_lived());
        assert!(bare.refresh().await.is_err());
        let c = Credentials::new(settings, None).with_iam(signer);
        let login = c.refresh().await.unwrap();
        assert_eq!(login.user, "hudi_sync");
        let token = login.password.expose();
        assert!(
            token.starts_with("sync.cluster-abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=hudi_sync&"),
            "{token}"
        );
        assert!(
            token.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
            "{token}"
        );
        // the password settings are not short-lived
        let mut s = c.settings.clone();
        s.password = PasswordSource::Literal("pw".into());
        assert!(!Credentials::new(s, None).is_short_lived());
    }
}
