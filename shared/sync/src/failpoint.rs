//! Fault-injection points for the crash-matrix tests.
//!
//! A sync pass calls [`FailPoints::eval`] at each named step ([`ALL`]). Without the
//! `failpoints` cargo feature [`FailPoints`] is an empty type whose `eval` is an inlined
//! `Ok(())`: the points compile to nothing. With the feature, a point still does nothing
//! unless a test armed it on the pipeline's own [`FailPoints`] (so tests running in parallel
//! in one process do not see each other's points), choosing what a firing point does:
//! return an error (`FailAction::Error`, a failed step), panic (`FailAction::Panic`, a
//! crash: nothing after it runs, not even the lease release), or stop until the test lets it
//! go on (`FailAction::Wait`, to interleave two loaders deterministically).

/// After the window was planned, before anything is read or written.
pub const AFTER_PLAN: &str = "after_plan";
/// Inside the COPY of a transaction, after at least one batch was sent (evaluated before
/// every further batch).
pub const MID_COPY: &str = "mid_copy";
/// After the last batch of a transaction was handed to COPY, before the upsert.
pub const AFTER_COPY: &str = "after_copy";
/// Inside the apply transaction after the upsert and the fence update, before COMMIT.
pub const AFTER_UPSERT_BEFORE_COMMIT: &str = "after_upsert_before_commit";
/// After COMMIT, before the bookmark store is written.
pub const AFTER_COMMIT_BEFORE_BOOKMARK: &str = "after_commit_before_bookmark";
/// After the bookmark store was written.
pub const AFTER_BOOKMARK: &str = "after_bookmark";

/// Every point, in the order a transaction passes them.
pub const ALL: [&str; 6] = [
    AFTER_PLAN,
    MID_COPY,
    AFTER_COPY,
    AFTER_UPSERT_BEFORE_COMMIT,
    AFTER_COMMIT_BEFORE_BOOKMARK,
    AFTER_BOOKMARK,
];

#[cfg(feature = "failpoints")]
mod imp {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, PoisonError};

    use tokio::sync::{Semaphore, watch};

    use crate::error::SyncError;

    /// What an armed point does when it fires.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FailAction {
        /// Return [`SyncError::Injected`] from the step.
        Error,
        /// Panic (a crash of the process as far as the pass can tell).
        Panic,
        /// Stop until [`FailPoints::resume`] (see [`FailPoints::wait_reached`]).
        Wait,
    }

    /// The rendezvous of a [`FailAction::Wait`] point.
    #[derive(Debug)]
    struct Gate {
        reached: watch::Sender<u64>,
        resume: Semaphore,
    }

    impl Default for Gate {
        fn default() -> Self {
            Gate {
                reached: watch::channel(0).0,
                resume: Semaphore::new(0),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Armed {
        action: FailAction,
        /// Hits to let pass before firing.
        skip: u64,
        /// Firings left.
        times: u64,
    }

    #[derive(Debug, Default)]
    struct State {
        armed: HashMap<String, Armed>,
        hits: HashMap<String, u64>,
        fired: HashMap<String, u64>,
        gates: HashMap<String, Arc<Gate>>,
    }

    /// The fault-injection points of one pipeline (cheap to clone; clones share state).
    #[derive(Debug, Clone, Default)]
    pub struct FailPoints {
        state: Arc<Mutex<State>>,
    }

    impl FailPoints {
        /// No point armed.
        pub fn new() -> Self {
            Self::default()
        }

        fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
            let mut g = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut g)
        }

        /// Fire `name` once, at its `skip + 1`-th hit from now.
        pub fn arm(&self, name: &str, action: FailAction, skip: u64) {
            self.arm_times(name, action, skip, 1);
        }

        /// Fire `name` `times` times, starting at its `skip + 1`-th hit from now.
        pub fn arm_times(&self, name: &str, action: FailAction, skip: u64, times: u64) {
            self.with(|s| {
                s.armed.insert(
                    name.to_string(),
                    Armed {
                        action,
                        skip,
                        times,
                    },
                );
            });
        }

        /// Disarm one point.
        pub fn disarm(&self, name: &str) {
            self.with(|s| {
                s.armed.remove(name);
            });
        }

        /// Disarm every point (hit counters are kept).
        pub fn clear(&self) {
            self.with(|s| s.armed.clear());
        }

        /// How often the pass reached `name` (armed or not).
        pub fn hits(&self, name: &str) -> u64 {
            self.with(|s| s.hits.get(name).copied().unwrap_or(0))
        }

        /// How often `name` fired.
        pub fn fired(&self, name: &str) -> u64 {
            self.with(|s| s.fired.get(name).copied().unwrap_or(0))
        }

        fn gate(&self, name: &str) -> Arc<Gate> {
            self.with(|s| s.gates.entry(name.to_string()).or_default().clone())
        }

        /// Wait until a [`FailAction::Wait`] point `name` was reached (and is waiting).
        pub async fn wait_reached(&self, name: &str) {
            let mut rx = self.gate(name).reached.subscribe();
            let _ = rx.wait_for(|n| *n > 0).await;
        }

        /// Let one waiting (or the next) [`FailAction::Wait`] firing of `name` go on.
        pub fn resume(&self, name: &str) {
            self.gate(name).resume.add_permits(1);
        }

        /// Count a hit of `name` and fire it if armed.
        pub async fn eval(&self, name: &str) -> Result<(), SyncError> {
            let action = self.with(|s| {
                *s.hits.entry(name.to_string()).or_default() += 1;
                let a = s.armed.get_mut(name)?;
                if a.skip > 0 {
                    a.skip -= 1;
                    return None;
                }
                if a.times == 0 {
                    return None;
                }
                a.times -= 1;
                let action = a.action;
                *s.fired.entry(name.to_string()).or_default() += 1;
                Some(action)
            });
            match action {
                None => Ok(()),
                Some(FailAction::Error) => {
                    tracing::warn!(point = name, "fault injected: error");
                    Err(SyncError::Injected {
                        point: name.to_string(),
                    })
                }
                Some(FailAction::Panic) => {
                    tracing::warn!(point = name, "fault injected: panic");
                    panic!("fault injected at {name}");
                }
                Some(FailAction::Wait) => {
                    tracing::warn!(point = name, "fault injected: waiting to be resumed");
                    let gate = self.gate(name);
                    gate.reached.send_modify(|n| *n += 1);
                    if let Ok(permit) = gate.resume.acquire().await {
                        permit.forget();
                    }
                    Ok(())
                }
            }
        }
    }
}

#[cfg(not(feature = "failpoints"))]
mod imp {
    use crate::error::SyncError;

    /// Fault-injection points: compiled out (the `failpoints` feature is off).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FailPoints;

    impl FailPoints {
        /// No point armed.
        pub fn new() -> Self {
            FailPoints
        }

        /// Always `Ok(())`.
        #[inline(always)]
        pub async fn eval(&self, _name: &str) -> Result<(), SyncError> {
            Ok(())
        }
    }
}

#[cfg(feature = "failpoints")]
pub use imp::FailAction;
pub use imp::FailPoints;
