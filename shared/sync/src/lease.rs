//! Leases: at most one sync pass per (pipeline, table) at a time.
//!
//! A lease is a conditional write with an expiry: [`LeaseStore::acquire`] succeeds when nobody
//! holds the lease or the holder's lease has expired (a crashed holder never blocks the table
//! for longer than its TTL). Every acquisition gets a fresh random `token` and a
//! `generation` one higher than the previous holder's, usable as a fencing token.
//! [`LeaseStore::renew`] and [`LeaseStore::release`] only act while the token still matches.
//!
//! Expiry uses the wall clocks of the contenders: keep TTLs far above the clock skew between
//! hosts (seconds on AWS), and renew well before expiry.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Pipeline name.
    pub pipeline: String,
    /// Table id.
    pub table: String,
    /// Who holds it (free text: host/pid, Lambda request id).
    pub owner: String,
    /// Random id of this acquisition; renew/release must present it.
    pub token: String,
    /// Incremented on every acquisition of this (pipeline, table): a fencing token.
    pub generation: u64,
    /// When the lease was acquired.
    pub acquired_at: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The `token` of a released lease record. Released records are kept (as free leases) so
/// the next acquisition continues the generation sequence.
pub const RELEASED_TOKEN: &str = "released";

impl Lease {
    /// Whether this record is a released lease (free, kept only for its generation).
    pub fn is_released(&self) -> bool {
        self.token == RELEASED_TOKEN
    }

    /// The record a release leaves behind: no holder token, expired at `now`.
    pub fn released_at(&self, now: DateTime<Utc>) -> Lease {
        Lease {
            token: RELEASED_TOKEN.to_string(),
            expires_at: self.expires_at.min(now.trunc_subsecs(3)),
            ..self.clone()
        }
    }

    /// Whether the lease has expired at `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// Time left before expiry (zero when expired).
    pub fn remaining(&self, now: DateTime<Utc>) -> Duration {
        (self.expires_at - now).to_std().unwrap_or(Duration::ZERO)
    }
}

/// The outcome of [`LeaseStore::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// The lease is ours.
    Acquired(Lease),
    /// Someone else holds an unexpired lease.
    Busy {
        /// The current holder.
        owner: String,
        /// When their lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },
}

impl Acquire {
    /// The lease, if acquired.
    pub fn into_lease(self) -> Option<Lease> {
        match self {
            Acquire::Acquired(l) => Some(l),
            Acquire::Busy { .. } => None,
        }
    }
}

/// Errors of a [`LeaseStore`].
#[derive(Debug, Error)]
pub enum LeaseError {
    /// The lease was taken over by someone else (ours expired) or deleted: stop working.
    #[error("lease on {pipeline}/{table} lost (held by {current_owner:?} now)")]
    Lost {
        /// The pipeline.
        pipeline: String,
        /// The table (id or base path).
        table: String,
        /// Who holds it now, if known.
        current_owner: Option<String>,
    },

    /// Bad input (names, TTL).
    #[error("invalid lease request: {reason}")]
    Invalid {
        /// Why, in words.
        reason: String,
    },

    /// Stored data could not be decoded.
    #[error("corrupt lease data in {location}: {reason}")]
    Corrupt {
        /// Where: the storage location.
        location: String,
        /// Why, in words.
        reason: String,
    },

    /// The backend failed. `transient` tells whether a retry may succeed.
    #[error("lease store error ({location}): {message}")]
    Backend {
        /// Where: the storage location.
        location: String,
        /// What went wrong, in words.
        message: String,
        /// Whether trying again may succeed.
        transient: bool,
    },
}

impl LeaseError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LeaseError::Backend {
                transient: true,
                ..
            }
        )
    }
}

/// Result alias of lease operations.
pub type LeaseResult<T> = Result<T, LeaseError>;

/// Shortest accepted TTL.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest accepted TTL.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Validate the inputs of an acquire/renew and compute the expiry (millisecond precision,
/// like every lease timestamp, so all stores round-trip them exactly).
pub fn lease_expiry(owner: &str, ttl: Duration, now: DateTime<Utc>) -> LeaseResult<DateTime<Utc>> {
    if owner.is_empty() || owner.len() > 512 {
        return Err(LeaseError::Invalid {
            reason: format!("lease owner {owner:?} must be 1..=512 bytes"),
        });
    }
    if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
        return Err(LeaseError::Invalid {
            reason: format!("lease TTL {ttl:?} must be between {MIN_TTL:?} and {MAX_TTL:?}"),
        });
    }
    let ttl = chrono::Duration::from_std(ttl).map_err(|e| LeaseError::Invalid {
        reason: e.to_string(),
    })?;
    Ok((now + ttl).trunc_subsecs(3))
}

/// Map a bookmark key validation failure to a lease error.
pub fn validate_lease_key(pipeline: &str, table: &str) -> LeaseResult<()> {
    crate::bookmark::validate_key(pipeline, table).map_err(|e| LeaseError::Invalid {
        reason: e.to_string(),
    })
}

/// Exclusive, expiring leases per (pipeline, table).
#[async_trait]
pub trait LeaseStore: Send + Sync + Debug {
    /// Take the lease for `ttl` if it is free or expired; [`Acquire::Busy`] otherwise
    /// (also when `owner` itself holds an unexpired lease: leases are not re-entrant).
    async fn acquire(
        &self,
        pipeline: &str,
        table: &str,
        owner: &str,
        ttl: Duration,
    ) -> LeaseResult<Acquire>;

    /// Extend a held lease to `now + ttl`. [`LeaseError::Lost`] when the token no longer
    /// matches (someone acquired it after it expired, or it was released).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> LeaseResult<Lease>;

    /// Give the lease up (the next acquisition succeeds at once and gets a higher generation).
    /// Returns false when it was no longer ours (nothing was changed).
    async fn release(&self, lease: &Lease) -> LeaseResult<bool>;

    /// The current lease, expired or not (for status displays); `None` when free or released.
    async fn current(&self, pipeline: &str, table: &str) -> LeaseResult<Option<Lease>>;
}

/// The acquisition rule shared by the stores that decide under a lock: returns the new lease,
/// or `Busy` when `current` is held and unexpired at `now`.
pub fn decide_acquire(
    current: Option<&Lease>,
    pipeline: &str,
    table: &str,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> LeaseResult<Acquire> {
    validate_lease_key(pipeline, table)?;
    let now = now.trunc_subsecs(3);
    let expires_at = lease_expiry(owner, ttl, now)?;
    if let Some(c) = current
        && !c.is_released()
        && !c.is_expired_at(now)
    {
        return Ok(Acquire::Busy {
            owner: c.owner.clone(),
            expires_at: c.expires_at,
        });
    }
    Ok(Acquire::Acquired(Lease {
        pipeline: pipeline.to_string(),
        table: table.to_string(),
        owner: owner.to_string(),
        token: uuid::Uuid::new_v4().to_string(),
        generation: current.map_or(1, |c| c.generation.saturating_add(1)),
        acquired_at: now,
        expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_rules() {
        let now = Utc::now();
        let ttl = Duration::from_secs(30);
        let a = decide_acquire(None, "p", "t", "a", ttl, now)
            .unwrap()
            .into_lease()
            .unwrap();
        assert_eq!(a.generation, 1);
        match decide_acquire(Some(&a), "p", "t", "b", ttl, now).unwrap() {
            Acquire::Busy { owner, .. } => assert_eq!(owner, "a"),
            other => panic!("{other:?}"),
        }
        // not re-entrant
        assert!(
            decide_acquire(Some(&a), "p", "t", "a", ttl, now)
                .unwrap()
                .into_lease()
                .is_none()
        );
        let later = now + chrono::Duration::seconds(31);
        let b = decide_acquire(Some(&a), "p", "t", "b", ttl, later)
            .unwrap()
            .into_lease()
            .unwrap();
        assert_eq!(b.generation, 2);
        assert_ne!(a.token, b.token);
        let released = b.released_at(later);
        let c = decide_acquire(Some(&released), "p", "t", "c", ttl, later)
            .unwrap()
            .into_lease()
            .unwrap();
        assert_eq!(c.generation, 3);
        assert!(decide_acquire(None, "p", "t", "a", Duration::ZERO, now).is_err());
        assert!(decide_acquire(None, "p", "t", "", ttl, now).is_err());
        assert!(decide_acquire(None, "bad/name", "t", "a", ttl, now).is_err());
    }
}
