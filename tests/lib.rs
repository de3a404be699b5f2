//! Integration tests live in `tests/*.rs`; shared harness code is the `hps-testkit` crate in `tests/support`.
