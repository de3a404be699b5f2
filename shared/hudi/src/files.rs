//! Data file names: base files `<fileId>_<writeToken>_<instant>.<ext>` and log files
//! `.<fileId>_<instant>.log.<version>_<writeToken>[.cdc]`.

use std::cmp::Ordering;
use std::fmt;

use crate::instant::compare_instant_times;

fn is_instant(s: &str) -> bool {
    crate::instant::is_valid_instant_time(s)
}

fn is_write_token(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A parsed base file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseFileName {
    /// The file group id.
    pub file_id: String,
    /// `<taskPartition>-<stageId>-<attemptId>`.
    pub write_token: String,
    /// Requested time of the instant that wrote the file.
    pub instant_time: String,
    /// The extension (`parquet`, `orc`, `hfile`, `lance`).
    pub extension: String,
}

impl BaseFileName {
    /// Parse `^([^_]+)_(\d+-\d+-\d+)_(\d{14,17})\.(parquet|orc|hfile|lance)$` (last path segment).
    pub fn parse(name: &str) -> Option<BaseFileName> {
        let name = name.rsplit('/').next().unwrap_or(name);
        let (stem, ext) = name.rsplit_once('.')?;
        if !matches!(ext, "parquet" | "orc" | "hfile" | "lance") {
            return None;
        }
        let mut it = stem.rsplitn(3, '_');
        let instant = it.next()?;
        let token = it.next()?;
        let file_id = it.next()?;
        if file_id.is_empty()
            || file_id.contains('_')
            || file_id.starts_with('.')
            || !is_write_token(token)
            || !is_instant(instant)
        {
            return None;
        }
        Some(BaseFileName {
            file_id: file_id.to_string(),
            write_token: token.to_string(),
            instant_time: instant.to_string(),
            extension: ext.to_string(),
        })
    }
}

/// A parsed log file name (docs/hudi-format.md §2). On table version 6 its instant is the base
/// instant of the file slice and several deltacommits append to (or roll over from) the same
/// name; on versions 8/9 it is the requested time of the deltacommit that wrote the file, one
/// file per deltacommit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogFileName {
    /// The file group id.
    pub file_id: String,
    /// v6: base instant of the file slice; v8/v9: the deltacommit's own requested time.
    pub instant_time: String,
    /// The log version (`.log.<version>`), 1-based.
    pub version: u64,
    /// `<taskPartition>-<stageId>-<attemptId>`.
    pub write_token: String,
    /// Whether this is a CDC log (`.cdc` suffix); CDC logs hold supplemental change data, not
    /// table rows.
    pub is_cdc: bool,
}

impl LogFileName {
    /// Parse `^\.([^_]+)_(\d{14,17})\.log\.(\d+)_(\d+-\d+-\d+)(\.cdc)?$` (last path segment).
    /// `None` when it is not a log file name (base files, `.hoodie_partition_metadata`,
    /// `.DS_Store`, ...).
    pub fn parse(name: &str) -> Option<LogFileName> {
        let name = name.rsplit('/').next().unwrap_or(name);
        let rest = name.strip_prefix('.')?;
        let (rest, is_cdc) = match rest.strip_suffix(".cdc") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (head, tail) = rest.split_once(".log.")?;
        let (file_id, instant) = head.rsplit_once('_')?;
        let (version, token) = tail.split_once('_')?;
        if file_id.is_empty()
            || file_id.contains('_')
            || !is_instant(instant)
            || version.is_empty()
            || !version.bytes().all(|b| b.is_ascii_digit())
            || !is_write_token(token)
        {
            return None;
        }
        Some(LogFileName {
            file_id: file_id.to_string(),
            instant_time: instant.to_string(),
            version: version.parse().ok()?,
            write_token: token.to_string(),
            is_cdc,
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
            self.instant_time,
            self.version,
            self.write_token,
            if self.is_cdc { ".cdc" } else { "" }
        )
    }
}

impl Ord for LogFileName {
    /// Hudi's `HoodieLogFile.LogFileComparator`: instant, then version, then write token
    /// (natural string order); file id and the CDC flag only break remaining ties so the order
    /// is total.
    fn cmp(&self, other: &Self) -> Ordering {
        compare_instant_times(&self.instant_time, &other.instant_time)
            .then(self.version.cmp(&other.version))
            .then_with(|| self.write_token.cmp(&other.write_token))
            .then_with(|| self.file_id.cmp(&other.file_id))
            .then(self.is_cdc.cmp(&other.is_cdc))
            .then_with(|| self.instant_time.cmp(&other.instant_time))
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
    fn base_files() {
        let b = BaseFileName::parse(
            "region=us/c7bbe63e-fa43-40ba-94a9-03158165edc6-0_0-52-126_20260307162440672.parquet",
        )
        .unwrap();
        assert_eq!(b.file_id, "c7bbe63e-fa43-40ba-94a9-03158165edc6-0");
        assert_eq!(b.write_token, "0-52-126");
        assert_eq!(b.instant_time, "20260307162440672");
        assert_eq!(b.extension, "parquet");
        assert_eq!(
            BaseFileName::parse("x-0_1-2-3_20260307162440672.lance")
                .unwrap()
                .extension,
            "lance"
        );
        for bad in [
            "",
            ".hoodie_partition_metadata",
            // the base-format partition metafile (hoodie.partition.metafile.use.base.format,
            // v4+) and a writer's leftover temp metafile are not base files
            ".hoodie_partition_metadata.parquet",
            ".hoodie_partition_metadata.orc",
            ".hoodie_partition_metadata_0",
            // Hadoop checksum side files next to every file of the v3-v6 fixtures
            ".a_1-2-3_20260307162440672.parquet.crc",
            ".DS_Store",
            "a_1-2-3_2026030716244.parquet",
            "a_1-2_20260307162440672.parquet",
            "a_1-2-3_20260307162440672.csv",
            "_1-2-3_20260307162440672.parquet",
            "a_b_1-2-3_20260307162440672.parquet",
            "a_1-2-x_20260307162440672.parquet",
            "._a_1-2-3_20260307162440672.parquet",
        ] {
            assert_eq!(BaseFileName::parse(bad), None, "{bad:?}");
        }
    }

    /// Hudi 0.10 (table version 3) still wrote 14-digit instant times into file names.
    #[test]
    fn second_precision_instants_in_file_names() {
        let b = BaseFileName::parse(
            "default/297a6753-3b99-4c49-87ee-b61a5792089a-0_0-33-36_20211022144701.parquet",
        )
        .unwrap();
        assert_eq!(b.instant_time, "20211022144701");
        let l = LogFileName::parse(".g-0_20211022144701.log.2_0-1-2").unwrap();
        assert_eq!((l.instant_time.as_str(), l.version), ("20211022144701", 2));
    }

    #[test]
    fn log_files() {
        let l = LogFileName::parse(".b2f1-0_20250126040826878.log.3_0-64-70").unwrap();
        assert_eq!(l.file_id, "b2f1-0");
        assert_eq!(l.instant_time, "20250126040826878");
        assert_eq!(l.version, 3);
        assert_eq!(l.write_token, "0-64-70");
        assert!(!l.is_cdc);
        assert!(
            LogFileName::parse(".b-0_20250126040826878.log.1_0-1-2.cdc")
                .unwrap()
                .is_cdc
        );
        for bad in [
            "",
            ".",
            "b-0_20250126040826878.log.1_0-1-2",
            ".b-0_20250126040826878.log._0-1-2",
            ".b-0_20250126040826878.log.1_0-1",
            ".b-0_2025012604082.log.1_0-1-2",
            ".b-0_20250126040826878.log.99999999999999999999999_0-1-2",
            ".hoodie_partition_metadata",
            "..b-0_20250126040826878.log.1_0-1-2.crc",
        ] {
            assert_eq!(LogFileName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_fixture_names() {
        let l = LogFileName::parse(
            "sample_table/.0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0_20250126040823628.log.2_1-0-1",
        )
        .unwrap();
        assert_eq!(l.file_id, "0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0");
        assert_eq!(l.instant_time, "20250126040823628");
        assert_eq!(l.version, 2);
        assert_eq!(l.write_token, "1-0-1");
        assert!(!l.is_cdc);
        assert_eq!(
            l.file_name(),
            ".0712b9f9-d2d5-4cae-bcf4-8fd7146af503-0_20250126040823628.log.2_1-0-1"
        );

        let c = LogFileName::parse(".abc-0_20250126040823628.log.12_0-33-43.cdc").unwrap();
        assert!(c.is_cdc);
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
            ".a_20250126040823628.log.99999999999999999999_0-1-2", // version overflows
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
    }
}
