//! `vastar diff BASE.json NEW.json`: how a second run differs from a
//! first, figure by figure, and whether each difference is larger than the
//! runs' own noise.
//!
//! The noise comes from the files themselves: each run's timeline is cut
//! into up to [`MAX_BLOCKS`] blocks of consecutive intervals, and a block
//! bootstrap resamples them ([`RESAMPLES`] times, with a fixed seed so the
//! verdict is the same every time): each resample draws as many blocks as
//! the run has, with replacement, and computes the figure from the drawn
//! blocks exactly as for the whole run (their histograms added, rates over
//! their time). A difference is real when the middle 95% of the resampled
//! differences (new minus base) lies entirely on one side of zero. Blocks
//! rather than single intervals keep the bootstrap honest when neighbouring
//! intervals resemble each other (a warm-up, a slow drift).
//!
//! [`render`] writes the comparison as text or as a Markdown table.

pub mod render;

use crate::result::ResultDoc;
use crate::stats::histogram::{BUCKETS, percentile};
use crate::stats::metrics::SparseMetrics;
use crate::stats::{COUNTERS, CounterSums, Interval, METRICS, Sparse, Timeline, WorkerStats};
use crate::summary::PERCENTILES;

/// Most blocks a run is cut into for the bootstrap.
pub const MAX_BLOCKS: usize = 100;
/// Fewest blocks (each at least one interval) a verdict needs from each run.
pub const MIN_BLOCKS: usize = 5;
/// Bootstrap resamples.
pub const RESAMPLES: usize = 1000;

/// What a difference means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    /// Within the runs' noise.
    Noise,
    /// Beyond noise, for a figure that is neither better nor worse when
    /// it moves (bytes per request).
    Changed,
    /// The files cannot tell (too few intervals, or no timeline).
    Unknown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Noise => "within noise",
            Verdict::Changed => "changed",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One compared figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Figure {
    Rps,
    /// Corrected latency at a percentile, seconds.
    Percentile(f64),
    /// A named metric (its index in [`METRICS`]) at a percentile, seconds.
    Metric(usize, f64),
    /// A named count (its index in [`COUNTERS`]) per second.
    CounterRate(usize),
    /// Failed requests as a share of the completed ones, percent.
    ErrorRate,
    BytesPerRequest,
}

impl Figure {
    pub fn name(self) -> String {
        match self {
            Figure::Rps => "requests/sec".into(),
            Figure::Percentile(p) => format!("p{p}"),
            Figure::Metric(i, p) => format!("{}.p{p}", METRICS[i].id),
            Figure::CounterRate(i) => format!("{}/sec", COUNTERS[i].id),
            Figure::ErrorRate => "error rate".into(),
            Figure::BytesPerRequest => "bytes/request".into(),
        }
    }

    /// Whether a higher value is better (None: neither).
    fn higher_is_better(self) -> Option<bool> {
        match self {
            Figure::Rps | Figure::CounterRate(_) => Some(true),
            Figure::Percentile(_) | Figure::Metric(..) | Figure::ErrorRate => Some(false),
            Figure::BytesPerRequest => None,
        }
    }

    /// Every figure two results are compared on: a named metric's only
    /// when both have samples of it (an older result has none), a named
    /// count's rate only when both counted some.
    fn all(base: &ResultDoc, new: &ResultDoc) -> Vec<Figure> {
        let has = |doc: &ResultDoc, i: usize| doc.metrics.get(METRICS[i].id).is_some_and(|m| m.histogram.count > 0);
        let sampled = |i: &usize| has(base, *i) && has(new, *i);
        let percentiles = PERCENTILES.iter().map(|&p| Figure::Percentile(p));
        let metrics = (0..METRICS.len()).filter(sampled).flat_map(|i| PERCENTILES.map(|p| Figure::Metric(i, p)));
        let counted = |doc: &ResultDoc, i: usize| doc.counters.get(COUNTERS[i].id).is_some_and(|&n| n > 0);
        let rates = (0..COUNTERS.len()).filter(|&i| COUNTERS[i].compared && counted(base, i) && counted(new, i));
        let counts = [Figure::ErrorRate, Figure::BytesPerRequest];
        let head = std::iter::once(Figure::Rps).chain(percentiles).chain(metrics);
        head.chain(rates.map(Figure::CounterRate)).chain(counts).collect()
    }

    /// The distribution a figure reads (`None`: the corrected latency;
    /// `Some(i)`: named metric `i`) and at which percentile.
    fn distribution(self) -> Option<(Option<usize>, f64)> {
        match self {
            Figure::Percentile(p) => Some((None, p)),
            Figure::Metric(i, p) => Some((Some(i), p)),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub figure: Figure,
    pub base: f64,
    pub new: f64,
    /// (new - base) / base in percent; None when base is 0.
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diff {
    pub rows: Vec<Row>,
    /// Blocks each run's noise was estimated from (0 without a timeline).
    pub blocks: [usize; 2],
    /// Why verdicts are unknown, when they are.
    pub note: Option<String>,
}

impl Row {
    /// Whether this row fails `--fail-on-regression pct`. A figure judged
    /// worse beyond noise fails when it moved by more than `pct` percent.
    /// When the noise could not be judged ([`Verdict::Unknown`]) the gate
    /// fails closed: the change alone decides, so a figure that moved the
    /// worse way by more than `pct` fails. A figure whose base was 0 and
    /// that moved the worse way fails at any `pct`; a figure that is
    /// neither better nor worse when it moves never fails.
    pub fn regressed(&self, pct: f64) -> bool {
        let beyond = self.change_pct.is_none_or(|change| change.abs() > pct);
        match self.verdict {
            Verdict::Worse => beyond,
            Verdict::Unknown => {
                let worse_way = match self.figure.higher_is_better() {
                    Some(true) => self.new < self.base,
                    Some(false) => self.new > self.base,
                    None => false,
                };
                worse_way && beyond
            }
            Verdict::Better | Verdict::Noise | Verdict::Changed => false,
        }
    }
}

/// Why the noise of two runs could not be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unjudged {
    /// A result without a timeline.
    NoTimeline,
    /// A run with fewer than [`MIN_BLOCKS`] intervals.
    TooFewIntervals,
}

impl Unjudged {
    /// Which runs' blocks leave the noise unjudged, if they do.
    fn of(blocks: [usize; 2]) -> Option<Unjudged> {
        match blocks {
            [0, _] | [_, 0] => Some(Unjudged::NoTimeline),
            [a, b] if a.min(b) < MIN_BLOCKS => Some(Unjudged::TooFewIntervals),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Unjudged::NoTimeline => "no timeline",
            Unjudged::TooFewIntervals => "too few intervals",
        }
    }
}

impl Diff {
    /// Rows that fail `--fail-on-regression pct` (see [`Row::regressed`]).
    pub fn regressions(&self, pct: f64) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |row| row.regressed(pct))
    }

    /// Why the verdicts are unknown, when they are.
    pub fn unjudged(&self) -> Option<Unjudged> {
        Unjudged::of(self.blocks)
    }
}

/// A run's figures and the blocks its noise is estimated from.
struct Side {
    figures: Vec<f64>,
    blocks: Vec<Block>,
}

/// Consecutive intervals added together.
#[derive(Clone, Debug, Default)]
struct Block {
    responses: u64,
    errors: u64,
    body_bytes: u64,
    seconds: f64,
    latency: Sparse,
    metrics: SparseMetrics,
    counts: CounterSums,
}

fn figures_of(stats: &WorkerStats, rps: f64, figures: &[Figure]) -> Vec<f64> {
    let completed = stats.responses + stats.total_errors();
    figures
        .iter()
        .map(|figure| match *figure {
            Figure::Rps => rps,
            Figure::Percentile(p) => stats.corrected.percentile_ns(p) as f64 / 1e9,
            Figure::Metric(i, p) => stats.metrics.get(i).percentile_ns(p) as f64 / 1e9,
            Figure::CounterRate(i) => rps * stats.counts.get(i) as f64 / stats.responses.max(1) as f64,
            Figure::ErrorRate => 100.0 * stats.total_errors() as f64 / completed.max(1) as f64,
            Figure::BytesPerRequest => stats.body_bytes as f64 / stats.responses.max(1) as f64,
        })
        .collect()
}

/// The blocks of a timeline covering `span_s` seconds, leaving out the
/// intervals that begin in the first `warmup_s` (the run's figures do).
fn blocks_of(timeline: &Timeline, span_s: f64, warmup_s: f64) -> Vec<Block> {
    let interval_s = timeline.interval().as_secs_f64();
    let intervals: Vec<(f64, &Interval)> = (timeline.intervals().iter().enumerate())
        .filter(|&(i, _)| i as f64 * interval_s >= warmup_s)
        .map(|(i, part)| ((span_s - i as f64 * interval_s).clamp(0.0, interval_s), part))
        .filter(|&(seconds, _)| seconds > 0.0)
        .collect();
    let count = intervals.len().min(MAX_BLOCKS);
    let mut blocks = vec![Block::default(); count];
    for (i, (seconds, part)) in intervals.iter().enumerate() {
        let block = &mut blocks[i * count / intervals.len()];
        block.responses = block.responses.saturating_add(part.responses());
        block.errors = block.errors.saturating_add(part.total_errors());
        block.body_bytes = block.body_bytes.saturating_add(part.body_bytes);
        block.seconds += seconds;
        // Counts from one checked document cannot overflow when regrouped.
        block.latency = block.latency.merged(&part.latency).unwrap_or_default();
        if block.metrics.add(&part.metrics).is_err() {
            block.metrics = SparseMetrics::default();
        }
        if block.counts.merge(&part.counts).is_err() {
            block.counts = CounterSums::default();
        }
    }
    blocks
}

/// The figures of a resample: `draw` picks the blocks.
fn resampled(
    blocks: &[Block],
    draw: &mut impl FnMut(usize) -> usize,
    figures: &[Figure],
    dense: &mut [u64],
) -> Vec<f64> {
    let drawn: Vec<&Block> = (0..blocks.len()).map(|_| &blocks[draw(blocks.len())]).collect();
    let mut sum = Block::default();
    for block in &drawn {
        // Saturating: blocks drawn more than once can add up beyond what
        // one (hostile) document's checked counts allow.
        sum.responses = sum.responses.saturating_add(block.responses);
        sum.errors = sum.errors.saturating_add(block.errors);
        sum.body_bytes = sum.body_bytes.saturating_add(block.body_bytes);
        sum.seconds += block.seconds;
        for (total, n) in sum.counts.0.iter_mut().zip(block.counts.0) {
            *total = total.saturating_add(n);
        }
    }
    let (responses, errors, seconds) = (sum.responses, sum.errors, sum.seconds);
    let mut values: Vec<f64> = figures
        .iter()
        .map(|figure| match *figure {
            Figure::Rps => responses as f64 / seconds.max(f64::MIN_POSITIVE),
            Figure::ErrorRate => 100.0 * errors as f64 / responses.saturating_add(errors).max(1) as f64,
            Figure::BytesPerRequest => sum.body_bytes as f64 / responses.max(1) as f64,
            Figure::CounterRate(i) => sum.counts.get(i) as f64 / seconds.max(f64::MIN_POSITIVE),
            Figure::Percentile(_) | Figure::Metric(..) => 0.0,
        })
        .collect();
    // Each distribution a figure reads, added up over the drawn blocks in turn.
    for source in std::iter::once(None).chain((0..METRICS.len()).map(Some)) {
        let reads = |figure: &Figure| figure.distribution().filter(|&(of, _)| of == source).map(|(_, p)| p);
        if !figures.iter().any(|f| reads(f).is_some()) {
            continue;
        }
        let parts = drawn.iter().map(|b| source.map_or(&b.latency, |i| b.metrics.get(i)));
        let (count, min_ns, max_ns) = add_up(parts, dense);
        for (value, figure) in values.iter_mut().zip(figures) {
            if let Some(p) = reads(figure).filter(|_| count > 0) {
                *value = percentile(dense.iter().copied().enumerate(), count, min_ns, max_ns, p) as f64 / 1e9;
            }
        }
    }
    values
}

/// Adds `parts` into `dense` (emptied first): their values' count,
/// minimum and maximum.
fn add_up<'a>(parts: impl Iterator<Item = &'a Sparse>, dense: &mut [u64]) -> (u64, u64, u64) {
    dense.fill(0);
    let (mut count, mut min_ns, mut max_ns) = (0u64, u64::MAX, 0u64);
    for part in parts.filter(|part| part.count() > 0) {
        for (i, n) in part.buckets() {
            dense[i] = dense[i].saturating_add(n);
        }
        count = count.saturating_add(part.count());
        (min_ns, max_ns) = (min_ns.min(part.min_ns()), max_ns.max(part.max_ns()));
    }
    (count, min_ns, max_ns)
}

/// A small, seeded generator (splitmix64): the same files always give the
/// same verdicts.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn side(doc: &ResultDoc, figures: &[Figure]) -> Result<Side, String> {
    let stats = doc.stats()?;
    let span_s = (doc.end_unix_ns.saturating_sub(doc.start_unix_ns)) as f64 / 1e9;
    let warmup_s = doc.run.warmup.map_or(0.0, |w| w.seconds);
    let blocks = doc.timeline()?.map_or_else(Vec::new, |t| blocks_of(&t, span_s, warmup_s));
    Ok(Side { figures: figures_of(&stats, doc.summary.requests_per_sec, figures), blocks })
}

/// Compares `new` with `base`.
pub fn diff(base: &ResultDoc, new: &ResultDoc) -> Result<Diff, String> {
    let figures = Figure::all(base, new);
    let base = side(base, &figures).map_err(|e| format!("the base result: {e}"))?;
    let new = side(new, &figures).map_err(|e| format!("the new result: {e}"))?;
    let blocks = [base.blocks.len(), new.blocks.len()];
    let [a, b] = blocks;
    let note = Unjudged::of(blocks).map(|why| match why {
        Unjudged::NoTimeline => "a result without a timeline (written before vastar kept one): no verdicts".into(),
        Unjudged::TooFewIntervals => format!(
            "too few intervals for a verdict ({a} and {b}; at least {MIN_BLOCKS} each): run longer or with a shorter --interval"
        ),
    });
    let spread = if note.is_none() { Some(differences(&base.blocks, &new.blocks, &figures)) } else { None };
    let rows = figures.iter().enumerate().map(|(i, &figure)| {
        let (b, n) = (base.figures[i], new.figures[i]);
        let verdict = match &spread {
            None => Verdict::Unknown,
            Some(spread) => verdict(figure, spread[i]),
        };
        let change_pct = (b != 0.0).then(|| 100.0 * (n - b) / b);
        Row { figure, base: b, new: n, change_pct, verdict }
    });
    Ok(Diff { rows: rows.collect(), blocks, note })
}

/// For each figure, the middle 95% of the resampled differences new - base.
fn differences(base: &[Block], new: &[Block], figures: &[Figure]) -> Vec<(f64, f64)> {
    let mut draw = Draw(0x7661_7374_6172);
    let mut dense = vec![0u64; BUCKETS];
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(RESAMPLES); figures.len()];
    for _ in 0..RESAMPLES {
        let a = resampled(base, &mut |n| draw.below(n), figures, &mut dense);
        let b = resampled(new, &mut |n| draw.below(n), figures, &mut dense);
        for (i, sample) in samples.iter_mut().enumerate() {
            sample.push(b[i] - a[i]);
        }
    }
    let tail = RESAMPLES * 25 / 1000;
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            (s[tail], s[RESAMPLES - 1 - tail])
        })
        .collect()
}

fn verdict(figure: Figure, (low, high): (f64, f64)) -> Verdict {
    let rose = match () {
        _ if low > 0.0 => true,
        _ if high < 0.0 => false,
        _ => return Verdict::Noise,
    };
    match figure.higher_is_better() {
        None => Verdict::Changed,
        Some(higher) if higher == rose => Verdict::Better,
        Some(_) => Verdict::Worse,
    }
}

#[cfg(test)]
mod tests;
