//! Facts a result carries beside its measurements: where the run ran, the
//! shape of a ramped rate, and the `--assert` thresholds checked when it
//! was written.

use serde::{Deserialize, Serialize};

use super::ResultDoc;
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

/// A linear ramp of the rate: `from` to `to` requests per second over
/// `over_s` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RampDoc {
    pub from: f64,
    pub to: f64,
    pub over_s: f64,
}

impl RampDoc {
    /// The ramp, when its numbers make one.
    pub(crate) fn ramp(self) -> Option<crate::stats::Ramp> {
        let usable = |v: f64| v.is_finite() && v > 0.0;
        (usable(self.from) && usable(self.to) && usable(self.over_s)).then_some(crate::stats::Ramp {
            from: self.from,
            to: self.to,
            over_s: self.over_s,
        })
    }
}
