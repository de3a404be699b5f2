//! The one way to move a fence: a compare-and-set inside a transaction, its failure mapped to
//! the sync's errors. [`commit_cas`] writes inside a transaction someone else owns (the apply
//! path's, beside the rows it describes); [`fence_transaction`] opens a transaction of its own,
//! runs the caller's statements, writes the fence and commits, so the statements and the
//! fence take effect together or not at all.

use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::{Applier, PgError};

use crate::error::{SyncError, SyncResult};
use crate::fence::{Fence, FenceError, FenceTable};

/// Compare-and-set table `id`'s fence to `new` inside `tx` if its version is still
/// `expected`; the stored fence (version `expected + 1`) is returned. A moved fence is
/// [`SyncError::FenceMoved`]: another process committed to the table meanwhile.
pub(crate) async fn commit_cas(
    fence_table: &FenceTable,
    tx: &Transaction<'_>,
    id: &str,
    new: &Fence,
    expected: i64,
) -> SyncResult<Fence> {
    fence_table
        .write(tx, new, expected)
        .await
        .map_err(|e| match e {
            FenceError::Pg(e) => SyncError::pg(id, e),
            FenceError::Moved { expected, found } => SyncError::FenceMoved {
                table: id.to_string(),
                fence: fence_table.qualified().to_string(),
                expected,
                found,
            },
        })
}

/// One transaction of its own on `applier`'s connection: `body`'s statements, then the
/// fence's compare-and-set ([`commit_cas`]), then commit. `what` names the transaction in
/// errors ("resync start", "reset", …). Returns the stored fence and `body`'s result.
pub(crate) async fn fence_transaction<T>(
    applier: &mut Applier,
    fence_table: &FenceTable,
    id: &str,
    what: &str,
    new: &Fence,
    expected: i64,
    body: impl AsyncFnOnce(&Transaction<'_>) -> SyncResult<T>,
) -> SyncResult<(Fence, T)> {
    let client = applier
        .connection()
        .client()
        .await
        .map_err(|e| SyncError::pg(id, e))?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| SyncError::pg(id, PgError::db(format!("begin {what}"), e)))?;
    let out = body(&tx).await?;
    let stored = commit_cas(fence_table, &tx, id, new, expected).await?;
    tx.commit()
        .await
        .map_err(|e| SyncError::pg(id, PgError::db(format!("commit {what}"), e)))?;
    Ok((stored, out))
}
