//! Data file names: base files `<fileId>_<writeToken>_<instant>.<ext>` and log files
//! `.<fileId>_<instant>.log.<version>_<writeToken>[.cdc]`.

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

/// A parsed log file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogFileName {
    /// The file group id.
    pub file_id: String,
    /// v6: base instant of the file slice; v8/v9: the deltacommit's own requested time.
    pub instant_time: String,
    /// The log version (`.log.<version>`).
    pub version: u64,
    /// The write token.
    pub write_token: String,
    /// Whether this is a CDC log (`.cdc` suffix).
    pub is_cdc: bool,
}

impl LogFileName {
    /// Parse `^\.([^_]+)_(\d{14,17})\.log\.(\d+)_(\d+-\d+-\d+)(\.cdc)?$` (last path segment).
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
}
