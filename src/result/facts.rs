//! Facts a result carries beside its measurements: where the run ran, the
//! shape of the load (ramps, stages, warm-up), and the `--assert`
//! thresholds checked when it was written.

use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::ResultDoc;
use crate::stats::{Segment, Shape, Warmup};
use crate::summary::Summary;

/// Where a run ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDoc {
    pub hostname: String,
    /// `linux`, `macos` ...
    pub os: String,
    pub arch: String,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
    /// CPUs this process could use.
    pub cpus: usize,
}

/// One `--assert` threshold, checked (derived from the run and the flag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssertionDoc {
    /// The expression as given, spaces removed (`p99<20ms`).
    pub expr: String,
    /// What was measured: seconds for latency, requests/second, a count,
    /// or a percentage of the completed requests.
    pub value: f64,
    /// Derived: the value as the report writes it (`12.410 ms`, `0.012%`).
    #[serde(default)]
    pub shown: String,
    pub pass: bool,
}

impl ResultDoc {
    /// The checked `--assert` thresholds of `summary`, as the document holds them.
    pub fn assertions_of(summary: &Summary) -> Vec<AssertionDoc> {
        let checked = summary.assertions.iter();
        checked
            .map(|a| AssertionDoc { expr: a.text.clone(), value: a.value, shown: a.shown.clone(), pass: a.pass })
            .collect()
    }
}

/// `--rate`: requests per second asked for and sent, and the shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateDoc {
    pub target: f64,
    pub achieved: f64,
    /// `--rate FROM..TO`: the ramp, when the shape is that one segment
    /// (absent for a constant rate and in older documents).
    #[serde(default)]
    pub ramp: Option<RampDoc>,
    /// `--rate FROM..TO`, `--stages`: every segment of the shape, from the
    /// start (the warm-up included).
    #[serde(default)]
    pub stages: Option<Vec<RampDoc>>,
    /// `--arrivals poisson`, `--burstiness`: how the gaps were drawn, for
    /// people (`poisson (seed 7)`); absent for evenly spaced arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    pub seconds: f64,
    pub addresses: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCpuDoc {
    pub own_busy: Option<f64>,
    pub cores: usize,
    pub cores_busy: Option<f64>,
}

/// One segment of a rate shape: `from` to `to` requests per second,
/// linearly, over `over_s` seconds (a ramp, or with `from == to` a
/// constant stage).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RampDoc {
    pub from: f64,
    pub to: f64,
    pub over_s: f64,
}

impl RampDoc {
    pub(crate) fn of(segment: &Segment) -> RampDoc {
        RampDoc { from: segment.from, to: segment.to, over_s: segment.over_s }
    }
}

impl RateDoc {
    /// The shape the rate followed: its stages, or an older document's
    /// ramp; `None` for a constant rate or numbers that make no shape.
    pub(crate) fn shape(&self) -> Option<Shape> {
        let segments = match (&self.stages, self.ramp) {
            (Some(stages), _) => stages.clone(),
            (None, Some(ramp)) => vec![ramp],
            (None, None) => return None,
        };
        Shape::new(segments.iter().map(|r| Segment { over_s: r.over_s, from: r.from, to: r.to }).collect())
    }
}

/// One stage of `--stages` of connections.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageDoc {
    pub over_s: f64,
    pub connections: usize,
}

/// The warm-up (`--warmup`): how long it ran, and what its requests came
/// to (counted here and in the timeline only).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmupDoc {
    pub seconds: f64,
    pub responses: u64,
    pub errors: u64,
    pub aborted: u64,
}

impl WarmupDoc {
    pub(crate) fn of(warmup: Duration, counts: &Warmup) -> WarmupDoc {
        let Warmup { responses, errors, aborted } = *counts;
        WarmupDoc { seconds: warmup.as_secs_f64(), responses, errors, aborted }
    }
}
