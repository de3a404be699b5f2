//! Logging: `tracing` to stdout, JSON lines by default (CloudWatch), no ANSI colours.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Install the global subscriber. Spans (`table`, `instant`) are attached to every event
/// logged inside them; in JSON mode each line carries the current span and the span list.
/// Calling it twice is harmless (the second call does nothing).
pub fn init_tracing(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|e| {
        eprintln!(
            "HPS_LOG={:?} is not a valid filter ({e}); using \"info\"",
            config.filter
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let result = if config.json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
    // already installed (tests, or a second call): keep the first
    let _ = result;
}
