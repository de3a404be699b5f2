//! The harness's error: what failed, with enough context to find it.

/// A failed step of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A step failed; the message names it.
    #[error("{0}")]
    Step(String),
    /// I/O on a named path or process.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result of the harness.
pub type Result<T> = std::result::Result<T, BenchError>;

impl BenchError {
    /// A step failure with a message.
    pub fn step(msg: impl Into<String>) -> Self {
        BenchError::Step(msg.into())
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

/// Map any displayable error into a step failure with context.
pub trait Context<T> {
    /// Attach `what` to the error.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| BenchError::Step(format!("{}: {e}", what())))
    }
}
