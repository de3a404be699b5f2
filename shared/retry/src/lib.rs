//! The one retry policy of the workspace.
//!
//! Every place that retries — a PostgreSQL connection, an apply transaction, a whole sync
//! pass, a batch of queue messages, a bookmark compare-and-set — counts its attempts and
//! sleeps between them with a [`RetryPolicy`]. Only errors the caller classifies as
//! transient are retried; the caller decides that, since only it knows its error type.
//!
//! Two ways to use it:
//! - [`RetryPolicy::run`] for an operation that is a closure and an error that implements
//!   [`Transient`];
//! - [`RetryPolicy::attempts`] for a loop that must borrow its state mutably between
//!   attempts (reset a connection, check a deadline): [`Attempts::retry`] says whether
//!   another attempt is allowed and sleeps the backoff before it.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tracing::warn;

/// An error that says whether trying again can succeed.
pub trait Transient {
    /// `true` when the same operation may succeed if tried again (a lost connection, a
    /// throttled request, a serialization failure); `false` for everything else.
    fn is_transient(&self) -> bool;
}

/// Bounded attempts with exponential backoff and jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry; 0 is read as 1).
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

    /// The sleep before retry number `retry` (1-based): uniform in `[cap/2, cap]` with
    /// `cap = min(max_backoff, initial_backoff × 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        let half = cap / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// A counter of attempts under this policy, starting at attempt 1.
    pub fn attempts(&self) -> Attempts<'_> {
        Attempts {
            policy: self,
            attempt: 1,
        }
    }

    /// Run `op` (given the attempt number, from 1) until it succeeds, fails with an error
    /// that is not transient, or the attempts run out; the last error is returned.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, E>
    where
        E: Transient + Display + Sync,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = self.attempts();
        loop {
            match op(attempts.number()).await {
                Err(e) if e.is_transient() && attempts.retry(what, &e).await => {}
                other => return other,
            }
        }
    }
}

/// The attempts of one retried operation (see [`RetryPolicy::attempts`]).
#[derive(Debug)]
pub struct Attempts<'a> {
    policy: &'a RetryPolicy,
    attempt: u32,
}

impl Attempts<'_> {
    /// The number of the attempt under way (1 for the first).
    pub fn number(&self) -> u32 {
        self.attempt
    }

    /// Whether another attempt is allowed after the current one.
    pub fn remaining(&self) -> bool {
        self.attempt < self.policy.max_attempts.max(1)
    }

    /// After a transient failure `error` of the current attempt: when another attempt is
    /// allowed, log it, sleep the backoff, count the attempt and return `true`; otherwise
    /// return `false` at once. The caller has already decided the error is transient.
    pub async fn retry(&mut self, what: &str, error: &(dyn Display + Sync)) -> bool {
        if !self.remaining() {
            return false;
        }
        let wait = self.policy.backoff(self.attempt);
        warn!(what, attempt = self.attempt, error = %error,
              backoff_ms = wait.as_millis() as u64, "transient failure, retrying");
        tokio::time::sleep(wait).await;
        self.attempt += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(bool);
    impl Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "transient={}", self.0)
        }
    }
    impl Transient for E {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b9 = p.backoff(9);
            assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_secs(1));
            assert!(p.backoff(u32::MAX) <= Duration::from_secs(1));
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_attempts_run_out() {
        let mut calls = Vec::new();
        let r: Result<(), E> = quick(3)
            .run("op", |n| {
                calls.push(n);
                async { Err(E(true)) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn permanent_errors_and_successes_end_at_once() {
        let mut calls = 0;
        let r: Result<(), E> = quick(5)
            .run("op", |_| {
                calls += 1;
                async { Err(E(false)) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
        let r: Result<u32, E> = quick(5)
            .run(
                "op",
                |n| async move { if n < 2 { Err(E(true)) } else { Ok(n) } },
            )
            .await;
        assert_eq!(r.unwrap(), 2);
    }

    #[tokio::test]
    async fn zero_attempts_means_one() {
        let p = quick(0);
        let mut a = p.attempts();
        assert!(!a.remaining());
        assert!(!a.retry("op", &"boom").await);
        assert_eq!(a.number(), 1);
    }
}
