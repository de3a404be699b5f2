//! Log file names (hudi-format.md 6.1): `.<fileId>_<instant>.log.<version>_<writeToken>[.cdc]`.
//!
//! On table version 6 `<instant>` is the base instant of the file slice and several deltacommits
//! append to (or roll over from) the same name; on versions 8/9 it is the requested time of the
//! deltacommit that wrote the file, one file per deltacommit.

use std::cmp::Ordering;
use std::fmt;

/// A parsed log file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogFileName {
    /// The file group id.
    pub file_id: String,
    /// v6: the base instant of the file slice; v8/v9: the deltacommit's own requested time.
    pub base_or_delta_instant: String,
    /// The log version (`.log.<version>`), 1-based.
    pub version: u32,
    /// `<taskPartition>-<stageId>-<attemptId>`.
    pub write_token: String,
    /// Whether this is a CDC log (`.cdc` suffix); CDC logs hold supplemental change data, not
    /// table rows.
    pub cdc: bool,
}

fn is_instant(s: &str) -> bool {
    (14..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_write_token(s: &str) -> bool {
    let mut n = 0;
    for part in s.split('-') {
        n += 1;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    n == 3
}

/// Instant times compare as fixed-width strings; 14-digit (second precision) ids are padded
/// with `999` the way Hudi does (`HoodieInstantTimeGenerator.DEFAULT_MILLIS_EXT`).
pub(crate) fn compare_instants(a: &str, b: &str) -> Ordering {
    if a.len() == b.len() {
        return a.cmp(b);
    }
    let pad = |s: &str| {
        if s.len() == 14 {
            format!("{s}999")
        } else {
            s.to_string()
        }
    };
    pad(a).cmp(&pad(b))
}

impl LogFileName {
    /// Parse the last path segment of `path` against
    /// `^\.([^_]+)_(\d{14,17})\.log\.(\d+)_(\d+-\d+-\d+)(\.cdc)?$`. `None` when it is not a
    /// log file name (base files, `.hoodie_partition_metadata`, `.DS_Store`, ...).
    pub fn parse(path: &str) -> Option<LogFileName> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let rest = name.strip_prefix('.')?;
        let (rest, cdc) = match rest.strip_suffix(".cdc") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (head, tail) = rest.split_once(".log.")?;
        let (file_id, instant) = head.split_once('_')?;
        let (version, token) = tail.split_once('_')?;
        if file_id.is_empty()
            || !is_instant(instant)
            || version.is_empty()
            || version.len() > 9
            || !version.bytes().all(|b| b.is_ascii_digit())
            || !is_write_token(token)
        {
            return None;
        }
        Some(LogFileName {
            file_id: file_id.to_string(),
            base_or_delta_instant: instant.to_string(),
            version: version.parse().ok()?,
            write_token: token.to_string(),
            cdc,
        })
    }

    /// The file name this parses from.
    pub fn file_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LogFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            ".{}_{}.log.{}_{}{}",
            self.file_id,
            self.base_or_delta_instant,
            self.version,
            self.write_token,
            if self.cdc { ".cdc" } else { "" }
        )
    }
}

impl Ord for LogFileName {
    /// Hudi's `HoodieLogFile.LogFileComparator`: instant, then version, then write token
    /// (natural string order); file id and the CDC flag only break remaining ties so the order
    /// is total.
    fn cmp(&self, other: &Self) -> Ordering {
        compare_instants(&self.base_or_delta_instant, &other.base_or_delta_instant)
            .then(self.version.cmp(&other.version))
            .then_with(|| self.write_token.cmp(&other.write_token))
            .then_with(|| self.file_id.cmp(&other.file_id))
            .then(self.cdc.cmp(&other.cdc))
            .then_with(|| self.base_or_delta_instant.cmp(&other.base_or_delta_instant))
    }
}

impl PartialOrd for LogFileName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixture_names() {
        let l = LogFileName::parse(
            "sample_table/.0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0_20250126040823628.log.2_1-0-1",
        )
        .unwrap();
        assert_eq!(l.file_id, "0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0");
        assert_eq!(l.base_or_delta_instant, "20250126040823628");
        assert_eq!(l.version, 2);
        assert_eq!(l.write_token, "1-0-1");
        assert!(!l.cdc);
        assert_eq!(
            l.file_name(),
            ".0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0_20250126040823628.log.2_1-0-1"
        );

        let c = LogFileName::parse(".abc-0_20250126040823628.log.12_0-33-43.cdc").unwrap();
        assert!(c.cdc);
        assert_eq!(c.version, 12);
        assert_eq!(c.to_string(), ".abc-0_20250126040823628.log.12_0-33-43.cdc");
        // 14-digit instants are valid
        assert!(LogFileName::parse(".abc-0_20250126040823.log.1_0-1-2").is_some());
    }

    #[test]
    fn rejects_non_log_names() {
        for bad in [
            "",
            ".",
            ".hoodie_partition_metadata",
            ".DS_Store",
            "._.DS_Store",
            "abc-0_0-1-2_20250126040823628.parquet",
            "abc-0_20250126040823628.log.1_0-1-2", // no leading dot
            "._20250126040823628.log.1_0-1-2",     // empty file id
            ".a_b_20250126040823628.log.1_0-1-2",  // underscore in the file id
            ".a_2025012604082.log.1_0-1-2",        // 13 digits
            ".a_202501260408236281.log.1_0-1-2",   // 18 digits
            ".a_20250126040823628.log._0-1-2",     // empty version
            ".a_20250126040823628.log.x_0-1-2",    // non-numeric version
            ".a_20250126040823628.log.99999999999_0-1-2", // version overflows
            ".a_20250126040823628.log.1_0-1",      // two-part token
            ".a_20250126040823628.log.1_0-1-2-3",  // four-part token
            ".a_20250126040823628.log.1_0--2",     // empty token part
            ".a_20250126040823628.log.1_0-1-2.crc", // checksum side file
            ".a_20250126040823628.log.1_0-1-2.cdc.x",
        ] {
            assert_eq!(LogFileName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn orders_like_hudi() {
        let mut names: Vec<LogFileName> = [
            ".f-0_20250126040823628.log.10_0-1-1",
            ".f-0_20250126040823628.log.2_1-0-1",
            ".f-0_20250126040823628.log.2_0-9-9",
            ".f-0_20250126040823628.log.1_0-33-43",
            ".f-0_20250101000000.log.1_0-1-1", // 14 digits = ...000999
            ".f-0_20250101000000500.log.1_0-1-1",
            ".f-0_20250101000000999.log.2_0-1-1",
        ]
        .iter()
        .map(|n| LogFileName::parse(n).unwrap())
        .collect();
        names.sort();
        let got: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            got,
            [
                ".f-0_20250101000000500.log.1_0-1-1",
                ".f-0_20250101000000.log.1_0-1-1",
                ".f-0_20250101000000999.log.2_0-1-1",
                ".f-0_20250126040823628.log.1_0-33-43",
                ".f-0_20250126040823628.log.2_0-9-9",
                ".f-0_20250126040823628.log.2_1-0-1",
                ".f-0_20250126040823628.log.10_0-1-1",
            ]
        );
        assert_eq!(
            compare_instants("20250101000000", "20250101000000999"),
            Ordering::Equal
        );
    }
}
