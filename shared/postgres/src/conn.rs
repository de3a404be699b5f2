//! Connecting (TLS per `sslmode`), retrying transient failures with backoff, and a manager
//! that keeps one connection and replaces it when it breaks (a Lambda reuses it across
//! invocations).

use std::future::Future;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{debug, warn};

use crate::config::{ConnectOptions, SslMode};
use crate::error::{PgError, describe_pg};
use crate::tls::{Roots, make_tls};

/// Exponential backoff with full jitter for transient errors.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Backoff cap for the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// Upper bound of any single backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        }
    }

    /// The sleep before retry number `retry` (1-based): uniform in
    /// `[cap/2, cap]` with `cap = min(max, initial × 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(20));
        let cap = exp.min(self.max_backoff);
        let half = cap / 2;
        let jitter = rand::random::<f64>();
        half + half.mul_f64(jitter)
    }

    /// Run `op` until it succeeds, fails permanently, or attempts run out; `on_retry` is
    /// awaited before each retry (e.g. to drop a broken connection).
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, PgError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, PgError>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < self.max_attempts => {
                    let wait = self.backoff(attempt);
                    warn!(what, attempt, error = %e, backoff_ms = wait.as_millis() as u64, "transient error, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Makes connections for one set of [`ConnectOptions`].
#[derive(Clone)]
pub struct Connector {
    options: ConnectOptions,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Validate the options and build the TLS configuration (reads the CA bundle).
    pub fn new(options: ConnectOptions) -> Result<Self, PgError> {
        let mode = options.effective_sslmode();
        let roots = Roots::for_host(&options.host, options.sslrootcert.as_deref());
        let tls = make_tls(mode, roots)?;
        Ok(Connector { options, tls })
    }

    /// The options.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// One connection attempt; the password is resolved now (a rotated secret file is
    /// picked up). The connection's background task is spawned on the current runtime.
    pub async fn connect(&self) -> Result<Client, PgError> {
        let password = self.options.resolve_password()?;
        let cfg = self.options.to_pg_config(password.as_ref());
        let mode = self.options.effective_sslmode();
        let target = self.options.target();
        let (client, connection) = cfg
            .connect(self.tls.clone())
            .await
            .map_err(|e| PgError::db(format!("connecting to {target} (sslmode={mode})"), e))?;
        let t = target.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(target = %t, error = %describe_pg(&e), "postgres connection ended");
            }
        });
        if mode == SslMode::Prefer {
            debug!(target = %target, "connected (sslmode=prefer)");
        }
        Ok(client)
    }
}

/// Holds one connection, reconnecting (with the retry policy) when it is absent or broken.
pub struct ConnectionManager {
    connector: Connector,
    client: Option<Client>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("connector", &self.connector)
            .field("connected", &self.is_connected())
            .field("retry", &self.retry)
            .finish()
    }
}

impl ConnectionManager {
    /// A manager that connects lazily.
    pub fn new(connector: Connector) -> Self {
        ConnectionManager {
            connector,
            client: None,
            retry: RetryPolicy::default(),
        }
    }

    /// Parse settings (URL or `key=value`) and build a manager.
    pub fn from_settings(settings: &str) -> Result<Self, PgError> {
        Ok(Self::new(Connector::new(ConnectOptions::parse(settings)?)?))
    }

    /// Replace the retry policy (also used by [`crate::Applier`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The connector.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Whether a live connection is held.
    pub fn is_connected(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Drop the current connection (the next [`Self::client`] reconnects).
    pub fn reset(&mut self) {
        self.client = None;
    }

    /// Tell the manager about a failure of a statement run on its client: after a
    /// connection-level error the connection is dropped, so that the next [`Self::client`]
    /// reconnects instead of handing out a dead session (the driver may not have noticed yet).
    pub fn on_error(&mut self, e: &PgError) {
        if e.is_connection_error() {
            debug!(target = %self.connector.options().target(), error = %e, "dropping the connection");
            self.client = None;
        }
    }

    /// A live client: the held one, or a new connection (retrying transient failures).
    pub async fn client(&mut self) -> Result<&mut Client, PgError> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            debug!(target = %self.connector.options().target(), "connection closed, reconnecting");
            self.client = None;
        }
        if self.client.is_none() {
            let connector = &self.connector;
            let c = self.retry.run("connect", |_| connector.connect()).await?;
            self.client = Some(c);
        }
        match self.client.as_mut() {
            Some(c) => Ok(c),
            None => Err(PgError::Config("no connection".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!(
                b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100),
                "{b1:?}"
            );
            let b3 = p.backoff(3);
            assert!(
                b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400),
                "{b3:?}"
            );
            let b9 = p.backoff(9);
            assert!(
                b9 >= Duration::from_millis(500) && b9 <= Duration::from_secs(1),
                "{b9:?}"
            );
        }
    }

    #[tokio::test]
    async fn run_retries_only_transient() {
        let p = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r: Result<(), PgError> = p
            .run("x", |_| {
                calls += 1;
                async { Err(PgError::Config("permanent".into())) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
