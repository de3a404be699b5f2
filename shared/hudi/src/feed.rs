//! [`ChangeFeed`]: the "what changed since my bookmark" helper.
//!
//! ```no_run
//! # async fn demo(store: hps_storage::DynStore, saved: Option<hps_hudi::InstantPosition>) -> hps_hudi::Result<()> {
//! use futures::TryStreamExt;
//! let feed = hps_hudi::ChangeFeed::open(store).await?;
//! let mut changes = feed.since(saved.as_ref()).await?;
//! while let Some(batch) = changes.batches.try_next().await? {
//!     let _ = batch; // apply the change rows
//! }
//! if let Some(next) = changes.next_bookmark() {
//!     let _ = next; // persist: requested + completion time of the last admitted instant
//! }
//! # Ok(()) }
//! ```

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use hps_storage::DynStore;

use crate::change_rows::ReadOptions;
use crate::error::Result;
use crate::timeline::InstantPosition;
use crate::{Changes, HudiTable};

/// A table opened for "changes since bookmark" reads, with fixed read options.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    table: HudiTable,
    options: ReadOptions,
}

impl ChangeFeed {
    /// Open the table at the store's root with default read options.
    pub async fn open(store: DynStore) -> Result<ChangeFeed> {
        Ok(ChangeFeed::new(HudiTable::open(store).await?))
    }

    /// A feed over an already opened table.
    pub fn new(table: HudiTable) -> ChangeFeed {
        ChangeFeed {
            table,
            options: ReadOptions::default(),
        }
    }

    /// Use these read options (projection, batch size).
    pub fn with_options(mut self, options: ReadOptions) -> ChangeFeed {
        self.options = options;
        self
    }

    /// The table.
    pub fn table(&self) -> &HudiTable {
        &self.table
    }

    /// Everything after `bookmark` (`None`: from the beginning) up to the latest instant.
    pub async fn since(&self, bookmark: Option<&InstantPosition>) -> Result<Changes> {
        self.between(bookmark, None).await
    }

    /// Everything after `bookmark` up to `until` (inclusive, in the table's window domain).
    pub async fn between(
        &self,
        bookmark: Option<&InstantPosition>,
        until: Option<&str>,
    ) -> Result<Changes> {
        self.table
            .changes_since(
                bookmark.map(InstantPosition::window_key),
                until,
                &self.options,
            )
            .await
    }
}

impl Changes {
    /// The bookmark to persist once every batch was applied (`None`: keep the old one).
    pub fn next_bookmark(&self) -> Option<&InstantPosition> {
        self.plan.end.as_ref()
    }

    /// Collect all batches (small windows, tests and tools only: this holds every row).
    pub async fn collect(self) -> Result<(crate::IncrementalPlan, Vec<RecordBatch>)> {
        let batches = self.batches.try_collect().await?;
        Ok((self.plan, batches))
    }
}
