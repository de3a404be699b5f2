//! The slice feed: a task reads the file slices of a window ahead of the COPY and hands them
//! over in plan order through a bounded channel; the pass consumes them transaction by
//! transaction, deciding at each slice boundary whether the next slice still fits the
//! transaction.
//!
//! Up to [`ReadAhead::slices`] slices are read at once, each by a task of its own into a
//! bounded channel of its own, so decoding (CPU-bound: decompression, the commit-time filter,
//! the deletes walk) uses several cores while the slice in front streams to PostgreSQL. A slice
//! is started ahead only while the slices in flight sum up to at most [`ReadAhead::bytes`] of
//! files (the first one always starts), which bounds memory: each reader holds one row group of
//! its file and its channel's batches.

use std::collections::VecDeque;
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
        ahead: ReadAhead,
    ) -> Feed {
        // the batches are buffered by the slice readers' channels; this one only hands over
        let (tx, rx) = mpsc::channel(1);
        let span = tracing::Span::current();
        let task = tokio::spawn(produce(table, plan, start, options, ahead, tx).instrument(span));
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

/// How far the feed reads ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadAhead {
    /// Batches buffered per slice in flight.
    pub batches: usize,
    /// Slices read at once.
    pub slices: usize,
    /// A further slice starts only while the files of the slices in flight sum up to at most
    /// this many bytes.
    pub bytes: u64,
}

/// What a slice reader task sends.
enum SliceMsg {
    Batch(RecordBatch),
    Failed(HudiError),
    Done,
}

/// A slice being read by its own task (aborted when dropped).
struct InFlight {
    slice: usize,
    size: u64,
    rx: mpsc::Receiver<SliceMsg>,
    task: JoinHandle<()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn slice_size(plan: &IncrementalPlan, i: usize) -> u64 {
    let s = &plan.slices[i];
    s.base_file.as_ref().map_or(0, |b| b.size) + s.log_files.iter().map(|l| l.size).sum::<u64>()
}

/// Start the reader task of slice `i`.
fn spawn_slice(
    table: &HudiTable,
    plan: &IncrementalPlan,
    i: usize,
    options: &ReadOptions,
    batches: usize,
) -> InFlight {
    let (tx, rx) = mpsc::channel(batches.max(1));
    let size = slice_size(plan, i);
    let stream = table.read_slice(plan, i, options);
    let task = tokio::spawn(
        async move {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(SliceMsg::Failed(e)).await;
                    return;
                }
            };
            loop {
                let msg = match stream.try_next().await {
                    Ok(Some(b)) if b.num_rows() == 0 => continue,
                    Ok(Some(b)) => SliceMsg::Batch(b),
                    Ok(None) => {
                        let _ = tx.send(SliceMsg::Done).await;
                        return;
                    }
                    Err(e) => SliceMsg::Failed(e),
                };
                let failed = matches!(msg, SliceMsg::Failed(_));
                if tx.send(msg).await.is_err() || failed {
                    return;
                }
            }
        }
        .instrument(tracing::Span::current()),
    );
    InFlight {
        slice: i,
        size,
        rx,
        task,
    }
}

async fn produce(
    table: HudiTable,
    plan: Arc<IncrementalPlan>,
    start: usize,
    options: ReadOptions,
    ahead: ReadAhead,
    tx: mpsc::Sender<Msg>,
) {
    let mut flight: VecDeque<InFlight> = VecDeque::new();
    let mut next = start;
    // the derived-deletes slice comes last but only walks record keys (CPU, little output):
    // with more than one reader it starts at once, beside the others
    let deletes = plan.slices.iter().position(|s| s.deletes.is_some());
    let mut early = match deletes {
        Some(d) if d > start && ahead.slices > 1 => {
            Some(spawn_slice(&table, &plan, d, &options, ahead.batches))
        }
        _ => None,
    };
    loop {
        // start slices while the read-ahead allows
        while next < plan.slices.len()
            && flight.len() < ahead.slices.max(1)
            && (flight.is_empty()
                || flight.iter().map(|f| f.size).sum::<u64>() + slice_size(&plan, next)
                    <= ahead.bytes)
        {
            let f = match early.take() {
                Some(e) if e.slice == next => e,
                other => {
                    early = other;
                    spawn_slice(&table, &plan, next, &options, ahead.batches)
                }
            };
            flight.push_back(f);
            next += 1;
        }
        let Some(mut front) = flight.pop_front() else {
            return;
        };
        if !forward(&mut front, &tx).await {
            return;
        }
    }
}

/// Hand one slice over: `Start`, its batches, `End` (or `Failed`). `false` when the feed must
/// stop (failed, the consumer is gone, the slice's task died).
async fn forward(f: &mut InFlight, tx: &mpsc::Sender<Msg>) -> bool {
    // the slice's schema is the schema of its first non-empty batch
    let first = match f.rx.recv().await {
        Some(SliceMsg::Batch(b)) => Some(b),
        Some(SliceMsg::Done) => None,
        Some(SliceMsg::Failed(e)) => {
            let _ = tx.send(Msg::Failed(e)).await;
            return false;
        }
        // the task ended without a word (it panicked): the feed ends early
        None => return false,
    };
    let start = Msg::Start {
        slice: f.slice,
        size: f.size,
        schema: first.as_ref().map(RecordBatch::schema),
    };
    if tx.send(start).await.is_err() {
        return false;
    }
    let mut rows = 0u64;
    if let Some(b) = first {
        rows += b.num_rows() as u64;
        if tx.send(Msg::Batch(b)).await.is_err() {
            return false;
        }
        loop {
            match f.rx.recv().await {
                Some(SliceMsg::Batch(b)) => {
                    rows += b.num_rows() as u64;
                    if tx.send(Msg::Batch(b)).await.is_err() {
                        return false;
                    }
                }
                Some(SliceMsg::Done) => break,
                Some(SliceMsg::Failed(e)) => {
                    let _ = tx.send(Msg::Failed(e)).await;
                    return false;
                }
                None => return false,
            }
        }
    }
    tx.send(Msg::End {
        slice: f.slice,
        rows,
    })
    .await
    .is_ok()
}
