//! The optional logical-type columns ([`crate::GenConfig::logical_types`]): Avro logical types
//! beyond the base schema's `decimal`, `timestamp-micros` and `date`, as Hudi's Avro writers
//! store them in parquet base files and in AVRO_DATA log blocks.
//!
//! | column | Avro | parquet (parquet-avro) | Arrow |
//! |---|---|---|---|
//! | `event_at` | `long` timestamp-millis | INT64 TIMESTAMP(MILLIS, UTC) | `Timestamp(ms, "UTC")` |
//! | `local_at_ms` | `long` local-timestamp-millis | INT64 TIMESTAMP(MILLIS, not UTC) | `Timestamp(ms)` |
//! | `local_at_us` | `long` local-timestamp-micros | INT64 TIMESTAMP(MICROS, not UTC) | `Timestamp(µs)` |
//! | `pickup_time` | `long` time-micros | INT64 TIME(MICROS, UTC) | `Time64(µs)` |
//! | `ref_uuid` | `string` uuid (nullable) | BINARY STRING | `Utf8` |
//!
//! Values come from their own random stream of (seed, key, version), so switching the columns
//! on leaves every other column's values unchanged.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder,
};

use crate::rng::{SplitMix64, hash_words};

const SALT_LOGICAL: u64 = 0x004C_4F47_4943_414C; // "LOGICAL"

/// Microseconds per day (range of `time-micros`).
const DAY_US: u64 = 86_400 * 1_000_000;

/// Values of the logical-type columns of one row version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalValues {
    /// `event_at`: epoch milliseconds (UTC), up to a day before the writing commit.
    pub event_at_ms: i64,
    /// `local_at_ms`: wall-clock milliseconds (no time zone).
    pub local_at_ms: i64,
    /// `local_at_us`: wall-clock microseconds (no time zone).
    pub local_at_us: i64,
    /// `pickup_time`: microseconds since midnight.
    pub pickup_time_us: i64,
    /// `ref_uuid`: a version-4 UUID in canonical text form (nullable).
    pub ref_uuid: Option<String>,
}

impl LogicalValues {
    /// The values of `key` as written by the commit requested at `epoch_ms` (version `version`).
    pub fn generate(seed: u64, key: u32, version: u16, epoch_ms: i64) -> Self {
        let mut r = SplitMix64::new(hash_words(&[
            seed,
            SALT_LOGICAL,
            u64::from(key),
            u64::from(version),
        ]));
        let event_at_ms = epoch_ms - r.below(86_400_000) as i64;
        // a wall clock some hours away from UTC, with sub-second digits in each unit
        let local_at_ms = event_at_ms + (r.below(27) as i64 - 12) * 3_600_000;
        let local_at_us = local_at_ms * 1000 + r.below(1000) as i64;
        let pickup_time_us = r.below(DAY_US) as i64;
        let ref_uuid = (!r.one_in(8)).then(|| uuid_v4(r.bytes16()));
        Self {
            event_at_ms,
            local_at_ms,
            local_at_us,
            pickup_time_us,
            ref_uuid,
        }
    }

    /// Manifest JSON entries: timestamps and times as integers in their own unit.
    pub fn json_entries(&self) -> [(&'static str, serde_json::Value); 5] {
        [
            ("event_at", self.event_at_ms.into()),
            ("local_at_ms", self.local_at_ms.into()),
            ("local_at_us", self.local_at_us.into()),
            ("pickup_time", self.pickup_time_us.into()),
            (
                "ref_uuid",
                self.ref_uuid
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            ),
        ]
    }
}

/// Canonical text of a random (version 4, RFC 4122 variant) UUID made of `b`.
fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Arrow builders of the logical-type columns of one batch.
#[derive(Debug)]
pub struct LogicalBuilders {
    event_at: TimestampMillisecondBuilder,
    local_at_ms: TimestampMillisecondBuilder,
    local_at_us: TimestampMicrosecondBuilder,
    pickup_time: Time64MicrosecondBuilder,
    ref_uuid: StringBuilder,
}

impl LogicalBuilders {
    /// Builders for `cap` rows.
    pub fn new(cap: usize) -> Self {
        Self {
            event_at: TimestampMillisecondBuilder::with_capacity(cap).with_timezone("UTC"),
            local_at_ms: TimestampMillisecondBuilder::with_capacity(cap),
            local_at_us: TimestampMicrosecondBuilder::with_capacity(cap),
            pickup_time: Time64MicrosecondBuilder::with_capacity(cap),
            ref_uuid: StringBuilder::with_capacity(cap, cap * 36),
        }
    }

    /// Append one row's values.
    pub fn append(&mut self, v: &LogicalValues) {
        self.event_at.append_value(v.event_at_ms);
        self.local_at_ms.append_value(v.local_at_ms);
        self.local_at_us.append_value(v.local_at_us);
        self.pickup_time.append_value(v.pickup_time_us);
        self.ref_uuid.append_option(v.ref_uuid.as_deref());
    }

    /// The finished columns, in schema order.
    pub fn finish(&mut self) -> [ArrayRef; 5] {
        [
            Arc::new(self.event_at.finish()),
            Arc::new(self.local_at_ms.finish()),
            Arc::new(self.local_at_us.finish()),
            Arc::new(self.pickup_time.finish()),
            Arc::new(self.ref_uuid.finish()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deterministic_and_in_range() {
        let a = LogicalValues::generate(7, 3, 2, 1_735_689_600_000);
        assert_eq!(a, LogicalValues::generate(7, 3, 2, 1_735_689_600_000));
        assert_ne!(a, LogicalValues::generate(7, 3, 1, 1_735_689_600_000));
        assert!(a.event_at_ms <= 1_735_689_600_000 && a.event_at_ms > 1_735_603_200_000);
        assert_eq!(a.local_at_us / 1000, a.local_at_ms);
        assert!((0..DAY_US as i64).contains(&a.pickup_time_us));
        let nulls = (0..200)
            .filter(|k| LogicalValues::generate(7, *k, 0, 0).ref_uuid.is_none())
            .count();
        assert!(nulls > 5 && nulls < 60, "{nulls} null uuids of 200");
    }

    #[test]
    fn uuids_are_version_4_text() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
    }
}
