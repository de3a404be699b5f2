//! The slice feed: a task reads the file slices of a window in plan order (ahead of the
//! COPY, through a bounded channel) and the pass consumes them transaction by transaction,
//! deciding at each slice boundary whether the next slice still fits the transaction.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use hps_hudi::{HudiError, HudiTable, IncrementalPlan, ReadOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// One message of the feed. Per slice: `Start`, its non-empty batches, `End`.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A slice begins. `schema` is the schema of its batches, `None` when it yields no rows.
    Start {
        slice: usize,
        size: u64,
        schema: Option<SchemaRef>,
    },
    /// A batch of the current slice (never empty).
    Batch(RecordBatch),
    /// The current slice is complete.
    End { slice: usize, rows: u64 },
    /// Reading failed; nothing follows.
    Failed(HudiError),
}

/// What the next message is, without taking it.
#[derive(Debug, Clone)]
pub(crate) enum Peeked {
    Start {
        slice: usize,
        size: u64,
        schema: Option<SchemaRef>,
    },
    Batch,
    End,
    Failed,
}

/// The consuming side, with one message of look-ahead.
pub(crate) struct Feed {
    rx: mpsc::Receiver<Msg>,
    peeked: Option<Msg>,
    task: JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Feed {
    /// Start reading slices `start..` of `plan`.
    pub fn start(
        table: HudiTable,
        plan: Arc<IncrementalPlan>,
        start: usize,
        options: ReadOptions,
        prefetch: usize,
    ) -> Feed {
        let (tx, rx) = mpsc::channel(prefetch.max(1));
        let span = tracing::Span::current();
        let task = tokio::spawn(produce(table, plan, start, options, tx).instrument(span));
        Feed {
            rx,
            peeked: None,
            task,
        }
    }

    /// The next message's kind, waiting for it; `None` when the feed ended.
    pub async fn peek(&mut self) -> Option<Peeked> {
        if self.peeked.is_none() {
            self.peeked = self.rx.recv().await;
        }
        self.peeked.as_ref().map(|m| match m {
            Msg::Start {
                slice,
                size,
                schema,
            } => Peeked::Start {
                slice: *slice,
                size: *size,
                schema: schema.clone(),
            },
            Msg::Batch(_) => Peeked::Batch,
            Msg::End { .. } => Peeked::End,
            Msg::Failed(_) => Peeked::Failed,
        })
    }

    /// Take the next message.
    pub async fn take(&mut self) -> Option<Msg> {
        match self.peeked.take() {
            Some(m) => Some(m),
            None => self.rx.recv().await,
        }
    }

    /// Why the feed ended early, when the reader task failed (panicked or was cancelled).
    pub fn task_failure(&self) -> Option<String> {
        self.task
            .is_finished()
            .then(|| "the slice reader task ended before the last slice".to_string())
    }
}

async fn produce(
    table: HudiTable,
    plan: Arc<IncrementalPlan>,
    start: usize,
    options: ReadOptions,
    tx: mpsc::Sender<Msg>,
) {
    for i in start..plan.slices.len() {
        let size = plan.slices[i].base_file.as_ref().map_or(0, |b| b.size);
        let mut stream = match table.read_slice(&plan, i, &options) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Msg::Failed(e)).await;
                return;
            }
        };
        // the slice's schema is the schema of its first non-empty batch
        let first = loop {
            match stream.try_next().await {
                Ok(Some(b)) if b.num_rows() == 0 => continue,
                Ok(b) => break b,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(e)).await;
                    return;
                }
            }
        };
        let schema = first.as_ref().map(RecordBatch::schema);
        if tx
            .send(Msg::Start {
                slice: i,
                size,
                schema,
            })
            .await
            .is_err()
        {
            return;
        }
        let mut rows = 0u64;
        let mut next = first;
        loop {
            if let Some(b) = next.take() {
                rows += b.num_rows() as u64;
                if tx.send(Msg::Batch(b)).await.is_err() {
                    return;
                }
            }
            match stream.try_next().await {
                Ok(Some(b)) if b.num_rows() == 0 => {}
                Ok(Some(b)) => next = Some(b),
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(e)).await;
                    return;
                }
            }
        }
        if tx.send(Msg::End { slice: i, rows }).await.is_err() {
            return;
        }
    }
}
