//! Connecting (TLS per `sslmode`), retrying transient failures with backoff, and a manager
//! that keeps one connection and replaces it when it breaks (a Lambda reuses it across
//! invocations).

use hps_retry::{RetryPolicy, Transient};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::debug;

use crate::config::{ConnectOptions, SslMode};
use crate::error::{PgError, describe_pg};
use crate::tls::{Roots, make_tls};

impl Transient for PgError {
    fn is_transient(&self) -> bool {
        PgError::is_transient(self)
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
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn only_transient_pg_errors_are_retried() {
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
