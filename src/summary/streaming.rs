//! What a run's event streams came to, computed once for the report, the
//! result file and the HTML report: responses streamed, events, output
//! tokens and where their count came from, tokens per second, the time to
//! first token, the inter-token latency and the time per output token, and
//! goodput. Defined as vLLM's `bench serve` defines them, so the numbers
//! compare (see README's section on LLM endpoints).

use super::RunInfo;
use super::metrics::MetricSummary;
use crate::stats::WorkerStats;
use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_EVENTS, TOKENS_FROM_USAGE};
use crate::stats::metrics::{ITL, TPOT, TTFT};

/// Where the output token counts came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// The server's `usage.completion_tokens`, for every response.
    Usage,
    /// One per event with content (no usage was sent).
    Events,
    /// Usage for some responses, events for the others.
    Mixed,
}

impl TokenSource {
    pub fn id(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Events => "events",
            TokenSource::Mixed => "mixed",
        }
    }
}

/// One distribution of the streams, in seconds-ready nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamFigure {
    /// Values behind it (responses, or gaps for the ITL).
    pub count: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

/// `--goodput`'s outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct GoodputSummary {
    /// The limits, as written: `ttft<200ms,tpot<50ms`.
    pub expr: String,
    /// Requests that met every limit.
    pub requests: u64,
    pub per_sec: f64,
    /// Their share of the completed requests, percent.
    pub share_percent: f64,
}

/// What the streams came to.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamingSummary {
    /// Responses whose body was an event stream.
    pub responses: u64,
    pub events: u64,
    pub output_tokens: u64,
    pub token_source: TokenSource,
    pub output_tokens_per_sec: f64,
    pub events_per_response: f64,
    pub ttft: StreamFigure,
    pub itl: StreamFigure,
    pub tpot: StreamFigure,
    pub goodput: Option<GoodputSummary>,
}

impl StreamingSummary {
    /// The streams' figures, when any response streamed or reported tokens.
    pub fn of(stats: &WorkerStats, info: &RunInfo, metrics: &[MetricSummary]) -> Option<StreamingSummary> {
        let counts = &stats.counts;
        let (streamed, tokens) = (counts.get(STREAMED), counts.get(TOKENS));
        if streamed == 0 && tokens == 0 && counts.get(TOKENS_FROM_USAGE) == 0 {
            return None;
        }
        let elapsed_s = info.elapsed.as_secs_f64();
        let per_sec = |n: u64| if elapsed_s > 0.0 { n as f64 / elapsed_s } else { 0.0 };
        let by_usage = counts.get(TOKENS_FROM_USAGE);
        // Results written before tokens_from_events was counted: the streams
        // beyond those counted by usage were counted by their events.
        let by_events = counts.get(TOKENS_FROM_EVENTS).max(streamed.saturating_sub(by_usage));
        let token_source = match (by_usage, by_events) {
            (0, _) => TokenSource::Events,
            (_, 0) => TokenSource::Usage,
            _ => TokenSource::Mixed,
        };
        let completed = stats.responses.saturating_add(stats.total_errors());
        let goodput = info.goodput.map(|limits| GoodputSummary {
            expr: limits.expr(),
            requests: counts.get(GOOD),
            per_sec: per_sec(counts.get(GOOD)),
            share_percent: if completed > 0 { 100.0 * counts.get(GOOD) as f64 / completed as f64 } else { 0.0 },
        });
        Some(StreamingSummary {
            responses: streamed,
            events: counts.get(EVENTS),
            output_tokens: tokens,
            token_source,
            output_tokens_per_sec: per_sec(tokens),
            events_per_response: if streamed > 0 { counts.get(EVENTS) as f64 / streamed as f64 } else { 0.0 },
            ttft: figure(stats, metrics, TTFT),
            itl: figure(stats, metrics, ITL),
            tpot: figure(stats, metrics, TPOT),
            goodput,
        })
    }
}

fn figure(stats: &WorkerStats, metrics: &[MetricSummary], metric: usize) -> StreamFigure {
    let values = stats.metrics.get(metric);
    let at = |p: f64| values.percentile_ns(p);
    let mean_ns = metrics.get(metric).map_or(values.mean_ns(), |m| m.mean_ns);
    StreamFigure {
        count: values.count(),
        mean_ns,
        p50_ns: at(50.0),
        p90_ns: at(90.0),
        p95_ns: at(95.0),
        p99_ns: at(99.0),
        max_ns: values.max_ns(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::{Goodput, Record};

    #[test]
    fn streams_are_summed_up_as_vllm_defines_them() {
        let mut stats = WorkerStats::new();
        let mut info = RunInfo::sample(Duration::from_secs(2));
        assert_eq!(StreamingSummary::of(&stats, &info, &[]), None, "no streams, no section");
        for i in 0..10u32 {
            let ms = |n: u64| Duration::from_millis(n);
            let record = Record::sample(Ok(200), ms(500))
                .measured(TTFT, ms(80 + u64::from(i)))
                .measured(TPOT, ms(15))
                .counted(STREAMED, 1)
                .counted(EVENTS, 25)
                .counted(TOKENS, 24)
                .counted(TOKENS_FROM_USAGE, u32::from(i < 5))
                .counted(TOKENS_FROM_EVENTS, u32::from(i >= 5))
                .counted(GOOD, u32::from(i % 2 == 0));
            stats.record(&record);
            stats.metrics.record_one(ITL, 15_000_000);
        }
        stats.record(&Record::sample(Err(crate::stats::ErrorKind::StreamError), Duration::from_millis(1)));
        info.goodput = Some(Goodput { ttft: Some(Duration::from_millis(85)), ..Goodput::default() });
        let s = StreamingSummary::of(&stats, &info, &[]).expect("a section");
        assert_eq!((s.responses, s.events, s.output_tokens, s.token_source), (10, 250, 240, TokenSource::Mixed));
        assert_eq!((s.output_tokens_per_sec, s.events_per_response), (120.0, 25.0));
        assert_eq!((s.ttft.count, s.ttft.max_ns, s.itl.count, s.tpot.p50_ns), (10, 89_000_000, 10, 15_000_000));
        let goodput = s.goodput.expect("asked for");
        assert_eq!((goodput.expr.as_str(), goodput.requests, goodput.per_sec), ("ttft<85ms", 5, 2.5));
        assert!((goodput.share_percent - 100.0 * 5.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn the_token_source_says_how_every_response_was_counted() {
        let info = RunInfo::sample(Duration::from_secs(1));
        let source = |parts: &[(u32, u32, u32)]| {
            let mut stats = WorkerStats::new();
            for &(streamed, usage, events) in parts {
                let record = Record::sample(Ok(200), Duration::from_millis(1))
                    .counted(STREAMED, streamed)
                    .counted(TOKENS, 3)
                    .counted(TOKENS_FROM_USAGE, usage)
                    .counted(TOKENS_FROM_EVENTS, events);
                stats.record(&record);
            }
            StreamingSummary::of(&stats, &info, &[]).expect("tokens were seen").token_source
        };
        assert_eq!(source(&[(1, 1, 0), (0, 1, 0)]), TokenSource::Usage, "streams and JSON answers with usage");
        assert_eq!(source(&[(1, 0, 1), (1, 0, 1)]), TokenSource::Events);
        // As many streams without usage as JSON answers with it: both ways.
        assert_eq!(source(&[(1, 0, 1), (0, 1, 0)]), TokenSource::Mixed);
        // A result written before tokens_from_events: streams beyond usage's count.
        assert_eq!(source(&[(1, 0, 0), (1, 1, 0)]), TokenSource::Mixed);
    }
}
