//! The commit-time row filter: which rows a read keeps (`_hoodie_commit_time` is the requested
//! time of an admitted instant), per row and per row group (min/max statistics).

use std::collections::HashSet;

use arrow_array::{Array, ArrayRef, BooleanArray, LargeStringArray, StringArray, StringViewArray};
use arrow_schema::ArrowError;
use parquet::file::metadata::ParquetMetaData;

use crate::columns::COMMIT_TIME_COLUMN;
use crate::instant::CommitTimes;

/// The admitted commit times of a read, for per-row checks: a window admits a handful of
/// instants, so a short list of byte strings compared by length first beats hashing every
/// row's commit time; long windows use a hash set.
#[derive(Debug, Clone)]
pub(crate) enum TimeSet {
    /// A snapshot: every row.
    All,
    Few(Vec<Box<[u8]>>),
    Many(HashSet<String, foldhash::fast::RandomState>),
}

impl TimeSet {
    pub(crate) fn new(times: &CommitTimes) -> TimeSet {
        let times = match times {
            CommitTimes::All => return TimeSet::All,
            CommitTimes::Only(t) => t,
        };
        if times.len() <= 16 {
            TimeSet::Few(times.iter().map(|t| t.as_bytes().into()).collect())
        } else {
            TimeSet::Many(times.iter().cloned().collect())
        }
    }

    /// Whether a time lies within `min..=max` (row-group statistics).
    pub(crate) fn any_within(&self, min: &[u8], max: &[u8]) -> bool {
        match self {
            TimeSet::All => true,
            TimeSet::Few(v) => v.iter().any(|t| t.as_ref() >= min && t.as_ref() <= max),
            TimeSet::Many(s) => s.iter().any(|t| t.as_bytes() >= min && t.as_bytes() <= max),
        }
    }

    #[inline]
    pub(crate) fn contains(&self, t: &str) -> bool {
        match self {
            TimeSet::All => true,
            TimeSet::Few(v) => v.iter().any(|w| w.as_ref() == t.as_bytes()),
            TimeSet::Many(s) => s.contains(t),
        }
    }
}

/// The row groups whose min/max statistics of column chunk `leaf` may hold one of `wanted`
/// (all of them without statistics).
pub(crate) fn row_groups_within(md: &ParquetMetaData, leaf: usize, wanted: &TimeSet) -> Vec<usize> {
    (0..md.num_row_groups())
        .filter(|rg| {
            md.row_group(*rg)
                .column(leaf)
                .statistics()
                .and_then(|s| Some((s.min_bytes_opt()?, s.max_bytes_opt()?)))
                .is_none_or(|(min, max)| wanted.any_within(min, max))
        })
        .collect()
}

/// `true` where the commit time is one of `wanted`.
#[cfg(test)]
fn commit_time_mask(
    col: &ArrayRef,
    wanted: &HashSet<String>,
) -> std::result::Result<BooleanArray, ArrowError> {
    commit_time_mask_in(col, &TimeSet::new(&CommitTimes::Only(wanted.clone())))
}

/// `true` where the commit time is one of `wanted`.
pub(crate) fn commit_time_mask_in(
    col: &ArrayRef,
    wanted: &TimeSet,
) -> std::result::Result<BooleanArray, ArrowError> {
    fn mask<'a>(it: impl Iterator<Item = Option<&'a str>>, wanted: &TimeSet) -> BooleanArray {
        it.map(|v| Some(v.is_some_and(|s| wanted.contains(s))))
            .collect()
    }
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        Ok(mask(a.iter(), wanted))
    } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
        Ok(mask(a.iter(), wanted))
    } else if let Some(a) = col.as_any().downcast_ref::<StringViewArray>() {
        Ok(mask(a.iter(), wanted))
    } else {
        Err(ArrowError::SchemaError(format!(
            "{COMMIT_TIME_COLUMN} has type {}, expected a string",
            col.data_type()
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn mask_handles_nulls_and_types() {
        let wanted: HashSet<String> = ["a".to_string()].into_iter().collect();
        let col: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let m = commit_time_mask(&col, &wanted).unwrap();
        assert_eq!(m, BooleanArray::from(vec![true, false, false]));
        let bad: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1]));
        assert!(commit_time_mask(&bad, &wanted).is_err());
    }
}
