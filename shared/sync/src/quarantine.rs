//! The quarantine of a table's bad rows (`on_bad_row = quarantine`, see
//! [`hps_postgres::BadRowPolicy`]): list the rows, and apply them again after a fix.

use hps_postgres::{QuarantineRetry, QuarantinedRow, TargetTable};
use tracing::{Instrument, info_span, warn};

use crate::error::{SyncError, SyncResult};
use crate::pipeline::{SyncPipeline, TableSource};

impl SyncPipeline {
    /// The table's target and its quarantined rows, oldest first (none when the table never
    /// quarantined a row).
    pub async fn quarantine_list(
        &self,
        src: &TableSource,
    ) -> SyncResult<(TargetTable, Vec<QuarantinedRow>)> {
        let resolved = self.resolve(src).await?;
        let mut applier = self.take_applier();
        let rows = applier.quarantined(&resolved.spec).await;
        self.put_applier(applier);
        let rows = rows.map_err(|e| SyncError::pg(&src.id, e))?;
        Ok((resolved.spec, rows))
    }

    /// Apply the table's quarantined rows again, under its lease (see
    /// [`hps_postgres::Applier::retry_quarantined`]): the rows that now fit go into staging
    /// under the version guard and leave the quarantine in the same transaction; the others
    /// stay with their new reason. The fence does not move.
    pub async fn quarantine_retry(&self, src: &TableSource) -> SyncResult<QuarantineRetry> {
        let span = info_span!("quarantine_retry", pipeline = %self.name, table = %src.id);
        async {
            let resolved = self.resolve(src).await?;
            let lease = self.lease_for(&src.id, "quarantine retry").await?;
            let mut applier = self.take_applier();
            let out = applier.retry_quarantined(&resolved.spec).await;
            self.put_applier(applier);
            match self.leases.release(&lease).await {
                Ok(_) => {}
                Err(e) => warn!(error = %e, "releasing the lease failed; it will expire"),
            }
            out.map_err(|e| SyncError::pg(&src.id, e))
        }
        .instrument(span)
        .await
    }
}
