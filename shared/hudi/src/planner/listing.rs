//! Partition listings: the base and log files of each partition a plan reads, by file id.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::error::{HudiError, Result};
use crate::files::{BaseFileName, LogFileName};
use crate::plan::{BaseFile, LogFile};

use super::Planner;
use super::groups::{Groups, Metas, with_metadata};
use super::window::{Admission, Window};

/// How many partition listings the planner runs concurrently.
const LIST_CONCURRENCY: usize = 8;

impl Planner<'_> {
    /// List each partition the window reads once: those of its groups and, for a window
    /// with a start, those of groups rewritten and then clustered in it (the deletes read
    /// their versions).
    pub(super) async fn list_touched(
        &self,
        groups: &Groups,
        adm: &Admission<'_>,
        metas: &Metas,
        w: &Window<'_>,
    ) -> Result<BTreeMap<String, PartitionFiles>> {
        let mut partitions = groups.partitions();
        if w.after.is_some() {
            let admitted = with_metadata(&adm.admitted, metas);
            partitions.extend(crate::deletes::replaced_partitions(&admitted));
        }
        let lists: Vec<BoxFuture<'_, Result<(String, PartitionFiles)>>> = partitions
            .into_iter()
            .map(|p| {
                async move {
                    let files = self.list_partition(&p).await?;
                    Ok::<_, HudiError>((p, files))
                }
                .boxed()
            })
            .collect();
        let listings: Vec<(String, PartitionFiles)> = futures::stream::iter(lists)
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(listings.into_iter().collect())
    }

    async fn list_partition(&self, partition: &str) -> Result<PartitionFiles> {
        let listing = self
            .store
            .list(partition)
            .await
            .map_err(|e| HudiError::storage(self.table, e))?;
        Ok(PartitionFiles::from_objects(listing.objects))
    }
}

/// The base and log files of one partition, by file id.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionFiles {
    pub bases: BTreeMap<String, Vec<BaseFile>>,
    pub logs: BTreeMap<String, Vec<LogFile>>,
}

impl PartitionFiles {
    /// Sort a directory listing into base and (non-CDC) log files; other files are ignored.
    pub(crate) fn from_objects(objects: Vec<hps_storage::ObjectMeta>) -> PartitionFiles {
        let mut out = PartitionFiles::default();
        for obj in objects {
            let name = obj.file_name().to_string();
            if let Some(b) = BaseFileName::parse(&name) {
                out.bases
                    .entry(b.file_id.clone())
                    .or_default()
                    .push(BaseFile {
                        path: obj.path.clone(),
                        size: obj.size,
                        instant_time: b.instant_time,
                    });
            } else if let Some(l) = LogFileName::parse(&name) {
                if l.is_cdc {
                    continue;
                }
                out.logs
                    .entry(l.file_id.clone())
                    .or_default()
                    .push(LogFile {
                        path: obj.path.clone(),
                        size: obj.size,
                        instant_time: l.instant_time,
                        version: l.version,
                    });
            }
        }
        out
    }

    /// The base files of a file group.
    pub(crate) fn group_bases(&self, file_id: &str) -> Vec<&BaseFile> {
        self.bases
            .get(file_id)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// The file ids with a base or a log file.
    pub(crate) fn file_ids(&self) -> BTreeSet<&str> {
        self.bases
            .keys()
            .chain(self.logs.keys())
            .map(String::as_str)
            .collect()
    }
}
