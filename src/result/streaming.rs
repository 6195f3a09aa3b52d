//! The result's `streaming` object (derived, for scripts: the same figures
//! as the report's Streaming section, in seconds) and the `--goodput`
//! limits a run judged by (`run.goodput`, read back so merges keep them).
//! The histograms behind the figures are in `metrics` and the counts in
//! `counters`, which is what `merge` adds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::Goodput;
use crate::summary::streaming::{StreamFigure, StreamingSummary};

/// What the event streams came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingDoc {
    pub responses: u64,
    pub events: u64,
    pub output_tokens: u64,
    /// `usage`, `events`, or `mixed` (some responses each way).
    pub token_source: String,
    pub output_tokens_per_sec: f64,
    pub ttft: FigureDoc,
    pub itl: FigureDoc,
    pub tpot: FigureDoc,
    /// `--goodput`'s outcome (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputDoc>,
}

/// One distribution, seconds (0 without values).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureDoc {
    pub mean_s: f64,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p95_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoodputDoc {
    pub expr: String,
    pub requests: u64,
    pub per_sec: f64,
}

impl StreamingDoc {
    pub fn of(s: &StreamingSummary) -> StreamingDoc {
        StreamingDoc {
            responses: s.responses,
            events: s.events,
            output_tokens: s.output_tokens,
            token_source: s.token_source.id().into(),
            output_tokens_per_sec: s.output_tokens_per_sec,
            ttft: FigureDoc::of(&s.ttft),
            itl: FigureDoc::of(&s.itl),
            tpot: FigureDoc::of(&s.tpot),
            goodput: s.goodput.as_ref().map(|g| GoodputDoc {
                expr: g.expr.clone(),
                requests: g.requests,
                per_sec: g.per_sec,
            }),
        }
    }
}

impl FigureDoc {
    fn of(f: &StreamFigure) -> FigureDoc {
        let s = |ns: u64| ns as f64 / 1e9;
        FigureDoc {
            mean_s: f.mean_ns / 1e9,
            p50_s: s(f.p50_ns),
            p90_s: s(f.p90_ns),
            p95_s: s(f.p95_ns),
            p99_s: s(f.p99_ns),
            max_s: s(f.max_ns),
        }
    }
}

/// `run.goodput`: the limits, seconds (absent: none).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoodputLimitsDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_s: Option<f64>,
}

impl GoodputLimitsDoc {
    pub fn of(g: &Goodput) -> GoodputLimitsDoc {
        let s = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        GoodputLimitsDoc { ttft_s: s(g.ttft), tpot_s: s(g.tpot), e2e_s: s(g.e2e) }
    }

    /// The limits, refusing values no run could have written.
    pub fn limits(&self) -> Result<Goodput, String> {
        let d = |s: Option<f64>| {
            s.map(|s| Duration::try_from_secs_f64(s).map_err(|_| format!("goodput limit {s} is not a duration")))
                .transpose()
        };
        Ok(Goodput { ttft: d(self.ttft_s)?, tpot: d(self.tpot_s)?, e2e: d(self.e2e_s)? })
    }
}
