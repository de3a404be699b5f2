//! The markdown report: throughput per contender and step, the ratios, RSS, start-up, size,
//! and the targets with what was measured against each.

use std::fmt::Write as _;

/// One timed run of a contender on one step.
#[derive(Debug, Clone)]
pub struct Timed {
    /// Contender label.
    pub who: String,
    /// `full` or `incr`.
    pub step: String,
    /// Rows it applied.
    pub rows: u64,
    /// Its own time (see the report's notes), seconds.
    pub secs: f64,
    /// Spawn to exit, seconds.
    pub wall_secs: f64,
    /// Peak RSS (loader only).
    pub max_rss: Option<u64>,
    /// When the step ran several times: its fastest and slowest time (`secs` is the median).
    pub spread: Option<(f64, f64)>,
}

/// The median run of `runs` (by time), with the spread of all.
pub fn median_run(mut runs: Vec<Timed>) -> Option<Timed> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let (lo, hi) = (runs[0].secs, runs[runs.len() - 1].secs);
    let mut m = runs.swap_remove(runs.len() / 2);
    if !runs.is_empty() {
        m.spread = Some((lo, hi));
    }
    Some(m)
}

/// A time cell: `1.23`, or `1.23 (1.10–1.40)` for a median of several runs.
fn secs_cell(t: &Timed) -> String {
    match t.spread {
        Some((lo, hi)) => format!("{:.2} ({lo:.2}–{hi:.2})", t.secs),
        None => format!("{:.2}", t.secs),
    }
}

impl Timed {
    /// Rows per second of its own time.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.rows as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Scale label and rows.
    pub scale: String,
    /// Rows of the full load.
    pub rows: u64,
    /// Environment lines (server, machine).
    pub env: Vec<String>,
    /// The COW table: loader, floor, peers (label order as measured).
    pub cow: Vec<Timed>,
    /// Label of the loader rows in `cow`.
    pub loader: String,
    /// Label of the floor rows in `cow`.
    pub floor: String,
    /// Label of the byte-moving limit row in `cow` (full load only).
    pub limit: String,
    /// Labels of the peers in `cow`.
    pub peers: Vec<String>,
    /// The loader on the MOR table.
    pub mor: Vec<Timed>,
    /// RSS run: base file bytes, rows, seconds, peak RSS.
    pub rss: Option<(u64, u64, f64, u64)>,
    /// Start-up times, milliseconds.
    pub startup_ms: Vec<f64>,
    /// Binary sizes: name, bytes.
    pub sizes: Vec<(String, u64)>,
    /// Consistency checks: description, ok.
    pub checks: Vec<(String, bool)>,
    /// Free-form notes.
    pub notes: Vec<String>,
}

fn find<'a>(v: &'a [Timed], who: &str, step: &str) -> Option<&'a Timed> {
    v.iter().find(|t| t.who == who && t.step == step)
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

fn mark(ok: bool) -> &'static str {
    if ok { "✅" } else { "❌" }
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(s[s.len() / 2])
}

impl Results {
    /// The best peer's run on `step` (highest rows/s).
    fn best_peer(&self, step: &str) -> Option<&Timed> {
        self.peers
            .iter()
            .filter_map(|p| find(&self.cow, p, step))
            .max_by(|a, b| a.rate().total_cmp(&b.rate()))
    }

    /// Render the markdown report.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        self.write_throughput(&mut s);
        self.write_mor(&mut s);
        let _ = writeln!(s, "\n## Targets (issue 9; reported, not enforced)\n");
        let _ = writeln!(s, "| target | measured | met |");
        let _ = writeln!(s, "|---|---|:-:|");
        self.write_load_targets(&mut s);
        self.write_resource_targets(&mut s);
        self.write_checks_and_notes(&mut s);
        s
    }

    /// The title and the environment.
    fn write_header(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "# hudi-pg-sync benchmark ({}, {} rows)\n",
            self.scale, self.rows
        );
        for e in &self.env {
            let _ = writeln!(s, "- {e}");
        }
    }

    /// The COW table: every contender, both steps.
    fn write_throughput(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n## Throughput: COW table v9, full load, then one commit touching 1 % of the rows\n"
        );
        let _ = writeln!(
            s,
            "| contender | step | rows | time (s) | rows/s | loader ÷ this | wall (s) | peak RSS |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for step in ["full", "incr"] {
            let loader = find(&self.cow, &self.loader, step);
            for t in self.cow.iter().filter(|t| t.step == step) {
                let ratio = match loader {
                    Some(l) if t.who != self.loader && t.rate() > 0.0 => {
                        format!("{:.2}×", l.rate() / t.rate())
                    }
                    _ => "".into(),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                    t.who,
                    t.step,
                    t.rows,
                    secs_cell(t),
                    rate(t.rate()),
                    ratio,
                    t.wall_secs,
                    t.max_rss.map(mb).unwrap_or_default()
                );
            }
        }
    }

    /// The loader on the MOR table.
    fn write_mor(&self, s: &mut String) {
        if !self.mor.is_empty() {
            let _ = writeln!(
                s,
                "\n## The loader on a MOR table v9 (same rows and commits)\n"
            );
            let _ = writeln!(
                s,
                "| step | rows | time (s) | rows/s | wall (s) | peak RSS |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
            for t in &self.mor {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.2} | {} |",
                    t.step,
                    t.rows,
                    secs_cell(t),
                    rate(t.rate()),
                    t.wall_secs,
                    t.max_rss.map(mb).unwrap_or_default()
                );
            }
        }
    }

    /// The throughput targets, with context rows.
    fn write_load_targets(&self, s: &mut String) {
        let lf = find(&self.cow, &self.loader, "full");
        let ff = find(&self.cow, &self.floor, "full");
        if let (Some(l), Some(f)) = (lf, ff) {
            let r = l.rate() / f.rate();
            let _ = writeln!(
                s,
                "| loader ≥ 0.9 × floor (full load) | {r:.2}× ({} vs {} rows/s) | {} |",
                rate(l.rate()),
                rate(f.rate()),
                mark(r >= 0.9)
            );
        }
        if let (Some(l), Some(c)) = (lf, find(&self.cow, &self.limit, "full")) {
            let _ = writeln!(
                s,
                "| (context) full load (bulk bootstrap) against the byte-moving limit | {:.2}× ({} vs {} rows/s; peak RSS {}) | — |",
                l.rate() / c.rate(),
                rate(l.rate()),
                rate(c.rate()),
                l.max_rss.map(mb).unwrap_or_default()
            );
        }
        if let (Some(l), Some(p)) = (lf, self.best_peer("full")) {
            let r = l.rate() / p.rate();
            let _ = writeln!(
                s,
                "| loader ≥ 1.5 × best peer (full load) | {r:.2}× the best peer ({}: {} rows/s) | {} |",
                p.who,
                rate(p.rate()),
                mark(r >= 1.5)
            );
        }
        if let (Some(l), Some(i)) = (lf, find(&self.cow, &self.loader, "incr")) {
            let r = i.secs / l.secs;
            let _ = writeln!(
                s,
                "| 1 % incremental ≤ 3 % of the full-load time (COW) | {:.1} % ({:.2} s vs {:.2} s) | {} |",
                r * 100.0,
                i.secs,
                l.secs,
                mark(r <= 0.03)
            );
        }
        if let (Some(l), Some(f), Some(i)) = (
            lf,
            find(&self.cow, &self.floor, "incr"),
            find(&self.cow, &self.loader, "incr"),
        ) {
            let _ = writeln!(
                s,
                "| (context) the floor's own 1 % commit, against the loader's full load | {:.1} % ({:.2} s); the loader's 1 % commit takes {:.2}× the floor's | — |",
                f.secs / l.secs * 100.0,
                f.secs,
                i.secs / f.secs
            );
        }
        if let (Some(l), Some(i)) = (
            find(&self.mor, &self.loader, "full"),
            find(&self.mor, &self.loader, "incr"),
        ) {
            let r = i.secs / l.secs;
            let _ = writeln!(
                s,
                "| 1 % incremental ≤ 3 % of the full-load time (MOR) | {:.1} % ({:.2} s vs {:.2} s) | {} |",
                r * 100.0,
                i.secs,
                l.secs,
                mark(r <= 0.03)
            );
        }
    }

    /// Memory, start-up and binary size targets.
    fn write_resource_targets(&self, s: &mut String) {
        if let Some((bytes, rows, secs, rss)) = self.rss {
            let _ = writeln!(
                s,
                "| peak RSS ≤ 256 MB on a file slice ≥ 1 GB | {} for a {} base file ({rows} rows, {:.1} s, {} rows/s) | {} |",
                mb(rss),
                mb(bytes),
                secs,
                rate(rows as f64 / secs.max(1e-9)),
                mark(rss <= 256_000_000 && bytes >= 1_000_000_000)
            );
        }
        if let Some(m) = median(&self.startup_ms) {
            let min = self
                .startup_ms
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let max = self.startup_ms.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "| Lambda start-up ≤ 50 ms (spawn → first `GET …/invocation/next`) | median {m:.1} ms (min {min:.1}, max {max:.1}, {} runs) | {} |",
                self.startup_ms.len(),
                mark(m <= 50.0)
            );
        }
        for (name, bytes) in &self.sizes {
            let _ = writeln!(
                s,
                "| `{name}` stripped ≤ 25 MB | {:.1} MB | {} |",
                *bytes as f64 / 1e6,
                mark(*bytes <= 25_000_000)
            );
        }
    }

    /// Consistency checks and notes.
    fn write_checks_and_notes(&self, s: &mut String) {
        if !self.checks.is_empty() {
            let _ = writeln!(s, "\n## Consistency checks\n");
            for (c, ok) in &self.checks {
                let _ = writeln!(s, "- {} {c}", mark(*ok));
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(who: &str, step: &str, rows: u64, secs: f64) -> Timed {
        Timed {
            who: who.into(),
            step: step.into(),
            rows,
            secs,
            wall_secs: secs,
            max_rss: None,
            spread: None,
        }
    }

    #[test]
    fn median_of_runs() {
        let m = median_run(vec![
            t("L", "incr", 10, 0.9),
            t("L", "incr", 10, 0.5),
            t("L", "incr", 10, 0.6),
        ])
        .unwrap();
        assert_eq!(m.secs, 0.6);
        assert_eq!(m.spread, Some((0.5, 0.9)));
        assert_eq!(secs_cell(&m), "0.60 (0.50–0.90)");
        let one = median_run(vec![t("L", "full", 10, 2.0)]).unwrap();
        assert_eq!((one.spread, secs_cell(&one)), (None, "2.00".to_string()));
        assert!(median_run(Vec::new()).is_none());
    }

    #[test]
    fn ratios_and_targets() {
        let r = Results {
            scale: "test".into(),
            rows: 1000,
            loader: "L".into(),
            floor: "F".into(),
            peers: vec!["A".into(), "B".into()],
            cow: vec![
                t("L", "full", 1000, 1.0),
                t("F", "full", 1000, 1.0),
                t("A", "full", 1000, 4.0),
                t("B", "full", 1000, 2.0),
                t("L", "incr", 10, 0.02),
                t("F", "incr", 10, 0.01),
            ],
            startup_ms: vec![30.0, 10.0, 70.0],
            sizes: vec![("incremental-loader".into(), 30_000_000)],
            ..Default::default()
        };
        let md = r.markdown();
        // loader vs floor 1.00, vs best peer (B at 500 rows/s) 2.00, incr 2 % of full
        assert!(
            md.contains("| loader ≥ 0.9 × floor (full load) | 1.00×"),
            "{md}"
        );
        assert!(
            md.contains("2.00× the best peer (B: 500 rows/s) | ✅"),
            "{md}"
        );
        assert!(md.contains("| 2.0 % (0.02 s vs 1.00 s) | ✅"), "{md}");
        assert!(
            md.contains("| 1.0 % (0.01 s); the loader's 1 % commit takes 2.00× the floor's |"),
            "{md}"
        );
        assert!(md.contains("median 30.0 ms"), "{md}");
        assert!(
            md.contains("| `incremental-loader` stripped ≤ 25 MB | 30.0 MB | ❌"),
            "{md}"
        );
        // the per-row ratio column: loader ÷ A = 4×
        assert!(
            md.contains("| A | full | 1000 | 4.00 | 250 | 4.00× |"),
            "{md}"
        );
    }
}
