//! Hudi table generator (work in progress).
