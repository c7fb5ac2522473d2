//! Figures and the markdown table. Each figure keeps one sample per run and is shown as its
//! median with the min–max range, next to its target and whether the median meets it.

use std::fmt::Write as _;

/// How a figure's numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages per second.
    Rate,
    /// Nanoseconds, shown in µs.
    Nanos,
    /// Milliseconds.
    Millis,
    /// Bytes, shown in B, KiB or MiB.
    Bytes,
    /// A plain count.
    Count,
    /// A fraction, shown in percent.
    Percent,
    /// A factor, shown as `1.23×`.
    Factor,
}

impl Unit {
    /// `x` in this unit, for people.
    pub fn show(self, x: f64) -> String {
        match self {
            Unit::Rate if x >= 1e6 => format!("{:.2} M msgs/s", x / 1e6),
            Unit::Rate => format!("{:.0} k msgs/s", x / 1e3),
            Unit::Nanos => format!("{:.1} µs", x / 1e3),
            Unit::Millis => format!("{x:.1} ms"),
            Unit::Bytes if x.abs() >= 1024.0 * 1024.0 => {
                format!("{:.2} MiB", x / (1024.0 * 1024.0))
            }
            Unit::Bytes if x.abs() >= 1024.0 => format!("{:.1} KiB", x / 1024.0),
            Unit::Bytes => format!("{x:.0} B"),
            // One decimal at most, none when it would be zero.
            Unit::Count if (x * 10.0).round() % 10.0 == 0.0 => format!("{x:.0}"),
            Unit::Count => format!("{x:.1}"),
            Unit::Percent => format!("{:.0} %", x * 100.0),
            Unit::Factor => format!("{x:.2}×"),
        }
    }
}

/// What a figure should reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// No target: the figure is for information.
    None,
    /// The median should be at least this.
    AtLeast(f64),
    /// The median should be at most this.
    AtMost(f64),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// A stable key, for figures derived from others.
    pub id: String,
    /// What was measured, for people.
    pub what: String,
    /// How the numbers read.
    pub unit: Unit,
    /// One per run.
    pub samples: Vec<f64>,
    /// What the median should reach.
    pub target: Target,
    /// Conditions and remarks.
    pub notes: String,
}

impl Row {
    /// A figure without a target or notes.
    pub fn new(id: &str, what: &str, unit: Unit, samples: Vec<f64>) -> Row {
        Row {
            id: id.to_owned(),
            what: what.to_owned(),
            unit,
            samples,
            target: Target::None,
            notes: String::new(),
        }
    }

    /// Sets the target.
    pub fn target(mut self, target: Target) -> Row {
        self.target = target;
        self
    }

    /// Sets the notes.
    pub fn notes(mut self, notes: impl Into<String>) -> Row {
        self.notes = notes.into();
        self
    }

    /// The median of the samples.
    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    /// Whether the median meets the target (`None` without a target).
    pub fn met(&self) -> Option<bool> {
        let m = self.median();
        match self.target {
            Target::None => None,
            Target::AtLeast(t) => Some(m >= t),
            Target::AtMost(t) => Some(m <= t),
        }
    }
}

/// Every figure of the run, every benchmark that failed, and every one this build cannot run.
#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
    failures: Vec<(String, String)>,
    unavailable: Vec<(String, String)>,
}

impl Report {
    /// Adds a figure, and says so on stderr so that a long run shows progress.
    pub fn add(&mut self, row: Row) {
        eprintln!("  {}: {}", row.what, row.unit.show(row.median()));
        self.rows.push(row);
    }

    /// Records that benchmark `id` could not finish, and why.
    pub fn fail(&mut self, id: &str, error: String) {
        eprintln!("  {id} FAILED: {error}");
        self.failures.push((id.to_owned(), error));
    }

    /// Records that benchmark `id` cannot run in this build, and why: a line of the table,
    /// not a failure.
    pub fn unavailable(&mut self, id: &str, why: &str) {
        eprintln!("  {id} not run: {why}");
        self.unavailable.push((id.to_owned(), why.to_owned()));
    }

    /// Whether any benchmark failed.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// The figure with key `id`, if measured in this run.
    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// Adds the ratio of two medians measured in this run, if both were.
    pub fn ratio(
        &mut self,
        id: &str,
        what: &str,
        num: &str,
        den: &str,
        unit: Unit,
        target: Target,
    ) {
        let (Some(n), Some(d)) = (self.row(num), self.row(den)) else {
            return;
        };
        let notes = format!("median {} ÷ median {}", n.what, d.what);
        let ratio = n.median() / d.median();
        self.add(
            Row::new(id, what, unit, vec![ratio])
                .target(target)
                .notes(notes),
        );
    }

    /// The markdown table, with a header line saying how it was measured.
    pub fn table(&self, header: &str) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{header}\n");
        let _ = writeln!(
            t,
            "| measurement | median | min – max | target | met | notes |"
        );
        let _ = writeln!(t, "|---|---:|---:|---|---|---|");
        for r in &self.rows {
            let (lo, hi) = r
                .samples
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
            let range = if r.samples.len() > 1 {
                format!("{} – {}", r.unit.show(lo), r.unit.show(hi))
            } else {
                "—".to_owned()
            };
            let target = match r.target {
                Target::None => String::new(),
                Target::AtLeast(x) => format!("≥ {}", r.unit.show(x)),
                Target::AtMost(x) => format!("≤ {}", r.unit.show(x)),
            };
            let met = match r.met() {
                None => "",
                Some(true) => "yes",
                Some(false) => "**no**",
            };
            let _ = writeln!(
                t,
                "| {} | {} | {range} | {target} | {met} | {} |",
                r.what,
                r.unit.show(r.median()),
                r.notes
            );
        }
        for (id, why) in &self.unavailable {
            let _ = writeln!(t, "| {id} | not run | | | | {why} |");
        }
        for (id, error) in &self.failures {
            let error = error.replace('|', "\\|").replace('\n', " ");
            let _ = writeln!(t, "| {id} | failed | | | **no** | {error} |");
        }
        t
    }
}

/// The median (the mean of the middle two for an even count); NaN for no samples.
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The 50th and 99th percentiles and the maximum of some durations (nearest rank).
pub fn percentiles(samples: &mut [u64]) -> Option<(u64, u64, u64)> {
    samples.sort_unstable();
    let n = samples.len();
    let rank = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    let max = *samples.last()?;
    Some((rank(0.50), rank(0.99), max))
}
