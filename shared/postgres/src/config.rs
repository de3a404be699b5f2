//! Connection settings: a `postgresql://` URL or libpq-style `key=value` parameters, the
//! password from the settings, a file or an environment variable, and `sslmode` semantics.
//!
//! The password is held in a [`Secret`], whose `Debug` prints `***`; no error of this crate
//! ever includes it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::error::PgError;

/// libpq's `sslmode`, minus `allow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS if the server offers it, no certificate verification; plain otherwise.
    Prefer,
    /// TLS required, no certificate verification (encryption only).
    Require,
    /// TLS required, certificate chain verified against the CA bundle, host name not checked.
    VerifyCa,
    /// TLS required, chain and host name verified (the default for non-loopback hosts).
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = PgError;
    fn from_str(s: &str) -> Result<Self, PgError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(PgError::Config(format!(
                    "unknown sslmode {other:?} (expected disable, prefer, require, verify-ca or verify-full)"
                )));
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// A password. `Debug` never shows it; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a password.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The password itself (only for handing to the driver).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where to connect and how.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Host name, IP address, or a Unix-socket directory (starting with `/`).
    pub host: String,
    /// Connect to this address instead of resolving `host` (`host` is still used for TLS
    /// host-name verification), as libpq's `hostaddr`.
    pub hostaddr: Option<IpAddr>,
    /// Port (5432).
    pub port: u16,
    /// User name.
    pub user: String,
    /// Database (defaults to the user name).
    pub dbname: Option<String>,
    /// Password given inline (URL or `password=`); takes precedence over the file and env.
    pub password: Option<Secret>,
    /// File holding the password (trailing newline ignored), e.g. a mounted secret.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password (`PGPASSWORD` when none of the above is set).
    pub password_env: Option<String>,
    /// `sslmode`; `None` = `verify-full` for non-loopback hosts, `prefer` on loopback.
    pub sslmode: Option<SslMode>,
    /// CA bundle (PEM, may hold many certificates); without it, or with the libpq value
    /// `system`, the Mozilla roots (webpki-roots) are used, plus Amazon's RDS CAs for hosts
    /// under `.rds.amazonaws.com` (`.cn`).
    pub sslrootcert: Option<PathBuf>,
    /// `application_name` (default `hudi-pg-sync`).
    pub application_name: Option<String>,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// TCP keepalive idle time (default 60 s): dead peers are noticed while a Lambda sleeps.
    pub keepalives_idle: Option<Duration>,
    /// Only accept a read-write session (`target_session_attrs=read-write`), e.g. to skip an
    /// Aurora reader after failover.
    pub read_write: bool,
    /// `options` sent at startup (e.g. `-c statement_timeout=0`).
    pub options: Option<String>,
}

impl ConnectOptions {
    /// Options for `host:port` as `user`, everything else default.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        ConnectOptions {
            host: host.into(),
            hostaddr: None,
            port,
            user: user.into(),
            dbname: None,
            password: None,
            password_file: None,
            password_env: None,
            sslmode: None,
            sslrootcert: None,
            application_name: None,
            connect_timeout: None,
            keepalives_idle: None,
            read_write: false,
            options: None,
        }
    }

    /// Parse a `postgres://`/`postgresql://` URL or libpq `key=value` parameters. Besides the
    /// libpq keys `host hostaddr port user password dbname sslmode sslrootcert
    /// application_name connect_timeout keepalives_idle target_session_attrs options`, the
    /// keys `password_file` and `password_env` are understood. Errors never echo values.
    pub fn parse(s: &str) -> Result<Self, PgError> {
        let s = s.trim();
        let mut o = ConnectOptions::new("", 5432, "");
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            let url =
                url::Url::parse(s).map_err(|e| PgError::Config(format!("invalid URL: {e}")))?;
            let dec = |v: &str| percent_decode_str(v).decode_utf8_lossy().into_owned();
            if let Some(h) = url.host_str() {
                let h = h.trim_start_matches('[').trim_end_matches(']');
                o.host = dec(h);
            }
            if let Some(p) = url.port() {
                o.port = p;
            }
            if !url.username().is_empty() {
                o.user = dec(url.username());
            }
            if let Some(p) = url.password() {
                o.password = Some(Secret::new(dec(p)));
            }
            let path = url.path().trim_start_matches('/');
            if !path.is_empty() {
                o.dbname = Some(dec(path));
            }
            for (k, v) in url.query_pairs() {
                o.set(&k, &v)?;
            }
        } else {
            for (k, v) in parse_kv(s)? {
                o.set(&k, &v)?;
            }
        }
        if o.host.is_empty() && o.hostaddr.is_none() {
            o.host = "localhost".into();
        }
        if o.user.is_empty() {
            return Err(PgError::Config("no user given".into()));
        }
        Ok(o)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), PgError> {
        let bad = |what: &str| PgError::Config(format!("invalid value for {key}: expected {what}"));
        match key {
            "host" => self.host = value.to_string(),
            "hostaddr" => self.hostaddr = Some(value.parse().map_err(|_| bad("an IP address"))?),
            "port" => self.port = value.parse().map_err(|_| bad("a port number"))?,
            "user" => self.user = value.to_string(),
            "password" => self.password = Some(Secret::new(value)),
            "password_file" => self.password_file = Some(PathBuf::from(value)),
            "password_env" => self.password_env = Some(value.to_string()),
            "dbname" => self.dbname = Some(value.to_string()),
            "sslmode" => self.sslmode = Some(value.parse()?),
            "sslrootcert" => self.sslrootcert = Some(PathBuf::from(value)),
            "application_name" => self.application_name = Some(value.to_string()),
            "connect_timeout" => {
                let secs: u64 = value.parse().map_err(|_| bad("seconds"))?;
                self.connect_timeout = Some(Duration::from_secs(secs));
            }
            "keepalives_idle" => {
                let secs: u64 = value.parse().map_err(|_| bad("seconds"))?;
                self.keepalives_idle = Some(Duration::from_secs(secs));
            }
            "target_session_attrs" => match value {
                "any" => self.read_write = false,
                "read-write" => self.read_write = true,
                _ => return Err(bad("any or read-write")),
            },
            "options" => self.options = Some(value.to_string()),
            other => {
                return Err(PgError::Config(format!(
                    "unknown connection parameter {other:?}"
                )));
            }
        }
        Ok(())
    }

    /// Whether the target is this machine (loopback address, `localhost`, or a Unix socket).
    pub fn is_loopback(&self) -> bool {
        if let Some(a) = self.hostaddr {
            // a named host reached through hostaddr is verified against its name
            if !self.host.is_empty()
                && self.host.parse::<IpAddr>().is_err()
                && self.host != "localhost"
            {
                return false;
            }
            return a.is_loopback();
        }
        let h = self.host.as_str();
        h.starts_with('/')
            || h == "localhost"
            || h.parse::<IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false)
    }

    /// The `sslmode` in force: the configured one, else `verify-full` for remote hosts and
    /// `prefer` on loopback. Unix sockets never use TLS.
    pub fn effective_sslmode(&self) -> SslMode {
        if self.host.starts_with('/') {
            return SslMode::Disable;
        }
        self.sslmode.unwrap_or(if self.is_loopback() {
            SslMode::Prefer
        } else {
            SslMode::VerifyFull
        })
    }

    /// The password: inline, else the password file, else the named env var, else
    /// `PGPASSWORD`, else none.
    pub fn resolve_password(&self) -> Result<Option<Secret>, PgError> {
        if let Some(p) = &self.password {
            return Ok(Some(p.clone()));
        }
        if let Some(path) = &self.password_file {
            let s = std::fs::read_to_string(path).map_err(|source| PgError::Io {
                context: "reading password file",
                path: path.clone(),
                source,
            })?;
            return Ok(Some(Secret::new(s.trim_end_matches(['\n', '\r']))));
        }
        let var = self.password_env.as_deref().unwrap_or("PGPASSWORD");
        match std::env::var(var) {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(std::env::VarError::NotPresent) if self.password_env.is_none() => Ok(None),
            Err(_) => Err(PgError::Config(format!(
                "password environment variable {var} is not set or not UTF-8"
            ))),
        }
    }

    /// `user@host:port/db` for logs and errors (no password).
    pub fn target(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user,
            self.host,
            self.port,
            self.dbname.as_deref().unwrap_or(&self.user)
        )
    }

    /// The driver configuration.
    pub(crate) fn to_pg_config(&self, password: Option<&Secret>) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        if !self.host.is_empty() {
            c.host(&self.host);
        }
        if let Some(a) = self.hostaddr {
            c.hostaddr(a);
        }
        c.port(self.port);
        c.user(&self.user);
        c.dbname(self.dbname.as_deref().unwrap_or(&self.user));
        if let Some(p) = password {
            c.password(p.expose());
        }
        c.application_name(self.application_name.as_deref().unwrap_or("hudi-pg-sync"));
        c.connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
        c.keepalives(true);
        c.keepalives_idle(self.keepalives_idle.unwrap_or(Duration::from_secs(60)));
        if self.read_write {
            c.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        c.ssl_mode(match self.effective_sslmode() {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c
    }
}

/// libpq `key=value` pairs: values may be single-quoted with `\'` and `\\` escapes.
fn parse_kv(s: &str) -> Result<Vec<(String, String)>, PgError> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(PgError::Config(format!(
                "missing '=' after parameter {key:?}"
            )));
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut value = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            let mut closed = false;
            while let Some(c) = it.next() {
                match c {
                    '\\' => match it.next() {
                        Some(n) => value.push(n),
                        None => break,
                    },
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(PgError::Config(format!(
                    "unterminated quoted value for {key:?}"
                )));
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    it.next();
                    if let Some(n) = it.next() {
                        value.push(n);
                    }
                    continue;
                }
                value.push(c);
                it.next();
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let o = ConnectOptions::parse(
            "postgresql://app%40x:s3cr%2Ft@db.example.com:6543/my%20db?sslmode=verify-ca&sslrootcert=/etc/rds.pem&application_name=t",
        )
        .unwrap();
        assert_eq!(o.user, "app@x");
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("s3cr/t"));
        assert_eq!(o.host, "db.example.com");
        assert_eq!(o.port, 6543);
        assert_eq!(o.dbname.as_deref(), Some("my db"));
        assert_eq!(o.sslmode, Some(SslMode::VerifyCa));
        assert_eq!(o.sslrootcert, Some(PathBuf::from("/etc/rds.pem")));
        assert_eq!(o.application_name.as_deref(), Some("t"));
    }

    #[test]
    fn kv_parsing() {
        let o = ConnectOptions::parse(
            "host=10.0.0.5 port=5433 user=app dbname='my \\'db' password_env=DBPW sslmode=require",
        )
        .unwrap();
        assert_eq!(o.host, "10.0.0.5");
        assert_eq!(o.port, 5433);
        assert_eq!(o.dbname.as_deref(), Some("my 'db"));
        assert_eq!(o.password_env.as_deref(), Some("DBPW"));
        assert_eq!(o.effective_sslmode(), SslMode::Require);
        assert!(ConnectOptions::parse("host=x user=a bogus=1").is_err());
        assert!(ConnectOptions::parse("host=x user=a sslmode=allow").is_err());
        assert!(ConnectOptions::parse("host=x").is_err()); // no user
        assert!(ConnectOptions::parse("host=x user='a").is_err());
    }

    #[test]
    fn default_sslmode_by_host() {
        let remote =
            ConnectOptions::parse("postgres://u@aurora.cluster-x.eu-west-1.rds.amazonaws.com/db")
                .unwrap();
        assert_eq!(remote.effective_sslmode(), SslMode::VerifyFull);
        for h in ["127.0.0.1", "localhost", "::1"] {
            let o = ConnectOptions::new(h, 5432, "u");
            assert_eq!(o.effective_sslmode(), SslMode::Prefer, "{h}");
        }
        let ip6 = ConnectOptions::parse("postgres://u@[::1]:5432/db").unwrap();
        assert_eq!(ip6.host, "::1");
        assert_eq!(ip6.effective_sslmode(), SslMode::Prefer);
        let unix = ConnectOptions::new("/var/run/postgresql", 5432, "u");
        assert_eq!(unix.effective_sslmode(), SslMode::Disable);
        // a name reached through hostaddr is remote for TLS purposes
        let mut named = ConnectOptions::new("db.internal", 5432, "u");
        named.hostaddr = Some("127.0.0.1".parse().unwrap());
        assert_eq!(named.effective_sslmode(), SslMode::VerifyFull);
    }

    #[test]
    fn password_never_printed() {
        let o = ConnectOptions::parse("postgresql://app:hunter2-very-secret@h/db").unwrap();
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        let cfg = o.to_pg_config(o.password.as_ref());
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert!(!o.target().contains("hunter2"));
        // errors on bad values do not echo them
        let e = ConnectOptions::parse("host=h user=u port=hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn password_sources() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "from-file\n").unwrap();
        let mut o = ConnectOptions::new("h", 5432, "u");
        o.password_file = Some(f.clone());
        assert_eq!(o.resolve_password().unwrap().unwrap().expose(), "from-file");
        o.password = Some(Secret::new("inline"));
        assert_eq!(o.resolve_password().unwrap().unwrap().expose(), "inline");
        let mut o = ConnectOptions::new("h", 5432, "u");
        o.password_env = Some("HPS_PG_TEST_SURELY_UNSET_VAR".into());
        assert!(o.resolve_password().is_err());
        o.password_file = Some(dir.path().join("missing"));
        let e = o.resolve_password().unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
