//! How far PostgreSQL is behind a table: the completed data-writing instants after a
//! position, and the lag — how long the oldest of them has been waiting (0 when up to date).
//!
//! Instant times are `yyyyMMddHHmmss[SSS]` in the table's timeline timezone
//! (`hoodie.table.timeline.timezone`). With `UTC` they are exact. With `LOCAL` (the default,
//! the writer's zone, which the table does not record) the completed instant file's
//! modification time is used when the storage reports one (S3 `LastModified`), otherwise
//! the time is read in this machine's zone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hps_hudi::instant::compare_instant_times;
use hps_hudi::timeline::{Instant, Timeline};
use hps_sync::Position;

pub use hps_hudi::timeline::parse_instant_time;

/// The wall-clock time an instant completed (see the module docs for the timezone rules);
/// `None` when it cannot be told.
pub fn completed_at(instant: &Instant, timeline_timezone: &str) -> Option<DateTime<Utc>> {
    instant.completed_at(timeline_timezone)
}

/// The freshness of a table's copy at `position`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// Completed data-writing instants after the position (all of them when there is none).
    pub instants_behind: usize,
    /// The first of them (in window order).
    pub oldest_unapplied: Option<Position>,
    /// The latest completed data-writing instant.
    pub latest: Option<Position>,
    /// How long the oldest unapplied instant has been complete: zero when up to date, `None`
    /// when its time cannot be told.
    pub lag: Option<Duration>,
    /// When the instant at the position completed (if it is still on the active timeline).
    pub position_completed_at: Option<DateTime<Utc>>,
}

fn position_of(i: &Instant) -> Position {
    Position {
        requested_time: i.requested_time.clone(),
        completion_time: i.completion_time.clone(),
    }
}

/// Compute the [`Freshness`] of `position` on `timeline` at `now`.
pub fn freshness(
    timeline: &Timeline,
    timeline_timezone: &str,
    position: Option<&Position>,
    now: DateTime<Utc>,
) -> Freshness {
    let writes: Vec<&Instant> = timeline
        .in_window_order()
        .into_iter()
        .filter(|i| i.action.is_write())
        .collect();
    let after = position.map(|p| p.ordering_time());
    let behind: Vec<&&Instant> = writes
        .iter()
        .filter(|i| after.is_none_or(|a| compare_instant_times(i.window_time(), a).is_gt()))
        .collect();
    let lag = match behind.first() {
        None => Some(Duration::ZERO),
        Some(first) => completed_at(first, timeline_timezone)
            .map(|t| (now - t).to_std().unwrap_or(Duration::ZERO)),
    };
    let position_completed_at = position
        .and_then(|p| timeline.completed_by_requested(&p.requested_time))
        .and_then(|i| completed_at(i, timeline_timezone));
    Freshness {
        instants_behind: behind.len(),
        oldest_unapplied: behind.first().map(|i| position_of(i)),
        latest: writes.last().map(|i| position_of(i)),
        lag,
        position_completed_at,
    }
}

/// A short human duration: `0 s`, `42 s`, `3 min 12 s`, `2 h 5 min`, `8 d 3 h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86400, (s % 86400) / 3600),
    }
}

/// A count with thousands separators (`1,234,567`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hps_hudi::instant::Action;

    use super::*;

    fn instant(req: &str, done: Option<&str>, action: &str) -> Instant {
        Instant {
            requested_time: req.into(),
            completion_time: done.map(Into::into),
            action: Action::parse(action),
            path: format!(".hoodie/{req}.{action}"),
            size: 1,
            last_modified: None,
        }
    }

    fn timeline(instants: Vec<Instant>) -> Timeline {
        Timeline {
            completed: instants,
            pending: vec![],
            archive_present: false,
            uses_completion_time: true,
            archived_after: None,
            archived_metadata: Default::default(),
        }
    }

    #[test]
    fn parses_instant_times() {
        let t = parse_instant_time("20260307162434124").unwrap();
        assert_eq!(t.to_string(), "2026-03-07 16:24:34.124");
        let t = parse_instant_time("20260307162434").unwrap();
        assert_eq!(t.to_string(), "2026-03-07 16:24:34");
        assert!(parse_instant_time("2026030716243").is_none());
        assert!(parse_instant_time("2026030716243x124").is_none());
        assert!(parse_instant_time("20261307162434124").is_none());
    }

    #[test]
    fn freshness_counts_writes_after_the_position_in_completion_order() {
        // completion order differs from requested order: 002 completes before 001
        let tl = timeline(vec![
            instant("20260101000001000", Some("20260101000010000"), "commit"),
            instant("20260101000002000", Some("20260101000005000"), "commit"),
            instant("20260101000003000", Some("20260101000011000"), "clean"),
            instant(
                "20260101000004000",
                Some("20260101000012000"),
                "replacecommit",
            ),
        ]);
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 0).unwrap();
        let f = freshness(&tl, "UTC", None, now);
        assert_eq!(f.instants_behind, 3);
        assert_eq!(
            f.oldest_unapplied.unwrap().requested_time,
            "20260101000002000"
        );
        assert_eq!(f.latest.unwrap().requested_time, "20260101000004000");
        assert_eq!(f.lag, Some(Duration::from_secs(55)));
        let p = Position::completed("20260101000002000", "20260101000005000");
        let f = freshness(&tl, "UTC", Some(&p), now);
        assert_eq!(f.instants_behind, 2);
        assert_eq!(f.lag, Some(Duration::from_secs(50)));
        assert_eq!(
            f.position_completed_at,
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 5).unwrap())
        );
        let p = Position::completed("20260101000004000", "20260101000012000");
        let f = freshness(&tl, "UTC", Some(&p), now);
        assert_eq!(f.instants_behind, 0);
        assert_eq!(f.lag, Some(Duration::ZERO));
        assert!(f.oldest_unapplied.is_none());
    }

    #[test]
    fn local_timeline_prefers_the_file_time() {
        let mut i = instant("20260101000001000", Some("20260101000010000"), "commit");
        let m = Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 10).unwrap();
        i.last_modified = Some(m);
        assert_eq!(completed_at(&i, "LOCAL"), Some(m));
        assert_eq!(
            completed_at(&i, "UTC"),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap())
        );
    }

    #[test]
    fn formats() {
        assert_eq!(human_duration(Duration::from_secs(0)), "0 s");
        assert_eq!(human_duration(Duration::from_secs(192)), "3 min 12 s");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(
            human_duration(Duration::from_secs(8 * 86400 + 3 * 3600)),
            "8 d 3 h"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
