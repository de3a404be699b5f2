//! The progress bar of long syncs (`indicatif`, on stderr, only when stderr is a terminal):
//! instants applied out of instants known, change rows read, rows/s, instants left, and the
//! file slice of the current window. Fed by the pipeline's [`ProgressEvent`]s and by the
//! command's loop ([`Progress::instants_applied`]).

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use hps_sync::{ProgressEvent, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::lag::thousands;

#[derive(Debug, Default)]
struct State {
    rows: u64,
    instants_done: u64,
    /// Instants known to be left (window + after it) at the last plan.
    instants_left: u64,
    slices_done: usize,
    slices: usize,
}

/// A progress bar that tolerates being hidden (then it only counts).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    state: Mutex<State>,
    started: Instant,
}

impl Progress {
    /// A progress bar on stderr; hidden when `enabled` is false or stderr is not a terminal.
    pub fn new(enabled: bool) -> Self {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:28}] {pos}/{len} instants · {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        if !bar.is_hidden() {
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        }
        Progress {
            bar,
            state: Mutex::new(State::default()),
            started: Instant::now(),
        }
    }

    /// Whether the bar is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Print a line on stdout without tearing the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Print a line on stderr without tearing the bar.
    pub fn eprintln(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// The command's loop applied `n` more instants.
    pub fn instants_applied(&self, n: usize) {
        let mut s = self.lock();
        s.instants_done += n as u64;
        s.instants_left = s.instants_left.saturating_sub(n as u64);
        self.bar.set_position(s.instants_done);
        self.bar
            .set_length(s.instants_done.saturating_add(s.instants_left));
        self.refresh(&s);
    }

    /// Change rows read so far.
    pub fn rows(&self) -> u64 {
        self.lock().rows
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh(&self, s: &State) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (s.rows as f64 / secs).round() as u64;
        let mut msg = format!(
            "{} rows · {} rows/s · {} instant{} left",
            thousands(s.rows),
            thousands(rate),
            s.instants_left,
            if s.instants_left == 1 { "" } else { "s" }
        );
        if s.slices > 1 {
            msg.push_str(&format!(" · slice {}/{}", s.slices_done, s.slices));
        }
        self.bar.set_message(msg);
    }
}

impl ProgressSink for Progress {
    fn event(&self, event: &ProgressEvent) {
        let mut s = self.lock();
        match event {
            ProgressEvent::Planned {
                instants,
                slices,
                first_slice,
                instants_after,
                ..
            } => {
                s.instants_left = (*instants + *instants_after) as u64;
                s.slices = *slices;
                s.slices_done = *first_slice;
                self.bar
                    .set_length(s.instants_done.saturating_add(s.instants_left));
            }
            ProgressEvent::SliceRead {
                slice,
                slices,
                rows,
                ..
            } => {
                s.rows += rows;
                s.slices = *slices;
                s.slices_done = slice + 1;
            }
            ProgressEvent::Committed {
                slices_done,
                slices,
                ..
            } => {
                s.slices = *slices;
                s.slices_done = *slices_done;
            }
        }
        self.refresh(&s);
    }
}
