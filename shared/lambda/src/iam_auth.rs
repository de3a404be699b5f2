//! IAM database authentication (`HPS_PG_AUTH=iam`): the password is a token the function's
//! role signs (SigV4, service `rds-db`), so no password needs storing.
//!
//! A token is the presigned URL `https://<host>:<port>/?Action=connect&DBUser=<user>&X-Amz-…`
//! without its scheme. RDS accepts it for new connections during 15 minutes; a connection
//! opened with it stays open after that. The loader takes a new token when it logs in, and
//! before a pass once its token is older than [`REFRESH_AFTER`] (so a reconnect mid-pass never
//! presents an expired one).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use thiserror::Error;

/// How long RDS accepts a token.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// A token this old is replaced before the next pass.
pub const REFRESH_AFTER: Duration = Duration::from_secs(600);

/// The signing service of RDS database logins.
const SERVICE: &str = "rds-db";

/// SigV4's URI encoding: everything but the unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A token could not be made.
#[derive(Debug, Error)]
pub enum IamAuthError {
    /// The function's credentials could not be loaded (retrying may help).
    #[error("loading AWS credentials for the database token: {0}")]
    Credentials(String),
    /// The request could not be signed (a bad host name or user).
    #[error("signing the database token for {host}: {message}")]
    Sign {
        /// The database host.
        host: String,
        /// What went wrong.
        message: String,
    },
}

impl IamAuthError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, IamAuthError::Credentials(_))
    }
}

/// Where and as whom to log in, and with which credentials.
#[derive(Clone, Debug)]
pub struct TokenSigner {
    /// Database host (the cluster or proxy endpoint).
    pub host: String,
    /// Database port.
    pub port: u16,
    /// Database user (granted `rds_iam`).
    pub user: String,
    /// AWS region of the database.
    pub region: String,
    /// The function's credentials.
    pub credentials: SharedCredentialsProvider,
}

impl TokenSigner {
    /// A token signed now with the current credentials.
    pub async fn token(&self) -> Result<String, IamAuthError> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| IamAuthError::Credentials(e.to_string()))?;
        auth_token(
            &self.host,
            self.port,
            &self.user,
            &self.region,
            creds,
            SystemTime::now(),
        )
    }
}

/// The token for `user` at `host:port` signed with `credentials` at time `at`.
pub fn auth_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    credentials: Credentials,
    at: SystemTime,
) -> Result<String, IamAuthError> {
    let fail = |message: String| IamAuthError::Sign {
        host: host.to_string(),
        message,
    };
    let user_param: String = percent_encoding::utf8_percent_encode(user, QUERY_VALUE).collect();
    let url = format!("https://{host}:{port}/?Action=connect&DBUser={user_param}");
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| fail(e.to_string()))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| fail(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| fail(e.to_string()))?
        .into_parts();
    let mut req = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| fail(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut req);
    let signed = req.uri().to_string();
    Ok(signed
        .strip_prefix("https://")
        .unwrap_or(&signed)
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    const HOST: &str = "sync.cluster-abc.us-east-1.rds.amazonaws.com";
    const USER: &str = "hudi_sync.loader";

    fn creds() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("FwoGZXIvYXdzEXAMPLE/token+=".into()),
            None,
            "test",
        )
    }

    /// 2026-03-07T16:24:38Z
    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_772_900_678)
    }

    fn query(token: &str) -> BTreeMap<String, String> {
        let (_, q) = token.split_once('?').unwrap();
        q.split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn a_token_is_a_presigned_connect_request_without_its_scheme() {
        let t = auth_token(HOST, 5432, USER, "us-east-1", creds(), at()).unwrap();
        assert!(t.starts_with(&format!("{HOST}:5432/?")), "{t}");
        let q = query(&t);
        assert_eq!(q["Action"], "connect");
        assert_eq!(q["DBUser"], USER);
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            q["X-Amz-Credential"],
            "AKIDEXAMPLE%2F20260307%2Fus-east-1%2Frds-db%2Faws4_request"
        );
        assert_eq!(q["X-Amz-Date"], "20260307T162438Z");
        assert_eq!(q["X-Amz-Expires"], "900");
        assert_eq!(q["X-Amz-SignedHeaders"], "host");
        assert!(q.contains_key("X-Amz-Security-Token"));
        assert_eq!(q["X-Amz-Signature"].len(), 64);
    }

    /// The same token as botocore's `generate_db_auth_token` (what the AWS CLI's
    /// `rds generate-db-auth-token` prints) for the same credentials and time: an independent
    /// implementation of the signature RDS checks.
    #[test]
    fn the_token_matches_botocore() {
        let script = r#"
import datetime, sys
from unittest import mock
import botocore.auth, botocore.session
fixed = datetime.datetime(2026, 3, 7, 16, 24, 38)
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=fixed):
    s = botocore.session.get_session()
    s.set_credentials(sys.argv[4], sys.argv[5], sys.argv[6])
    rds = s.create_client("rds", region_name="us-east-1")
    print(rds.generate_db_auth_token(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"#;
        let c = creds();
        let out = std::process::Command::new(hps_testkit::python::venv_python())
            .arg("-c")
            .arg(script)
            .args([HOST, "5432", USER, c.access_key_id(), c.secret_access_key()])
            .arg(c.session_token().unwrap_or_default())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("run the venv's python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ours = auth_token(HOST, 5432, USER, "us-east-1", c, at()).unwrap();
        assert_eq!(
            query(&ours),
            query(&theirs),
            "ours {ours}\nbotocore {theirs}"
        );
        assert_eq!(
            ours.split_once('?').unwrap().0,
            theirs.split_once('?').unwrap().0
        );
    }
}
