//! The result's named metrics (see [`crate::stats::metrics`]): under
//! `metrics`, each by its name, with its histogram in full (so that results
//! merge exactly) and, derived, its mean and percentiles; in each interval
//! of the timeline, the non-empty ones' histograms. Every metric of the
//! table is written and read back the same way, by name: a new metric needs
//! nothing here. Names this vastar does not know (written by a newer one)
//! are left out when a document is read ([`known`]), as unknown fields are.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::histogram::HistogramDoc;
use crate::stats::Sparse;
use crate::stats::metrics::{self, Metrics, SparseMetrics};
use crate::summary::MetricSummary;

/// Reads a map of metrics by name, leaving out the names this vastar does
/// not know whatever their value (as unknown fields are left out): a newer
/// vastar's metrics do not make the file unreadable.
pub fn known<'de, D, T>(input: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let all = BTreeMap::<String, serde_json::Value>::deserialize(input)?;
    let known = all.into_iter().filter(|(id, _)| metrics::find(id).is_some());
    let read = known.map(|(id, value)| serde_json::from_value(value).map(|doc| (id, doc)));
    read.collect::<Result<_, _>>().map_err(serde::de::Error::custom)
}

/// One named metric of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricDoc {
    /// Derived: the metric's name for people.
    #[serde(default)]
    pub label: String,
    /// Derived: the mean, seconds (0 when empty).
    #[serde(default)]
    pub mean_s: f64,
    /// Derived: the value at each of the run's percentiles (those of
    /// `percentiles` at the top level), seconds.
    #[serde(default)]
    pub percentiles: Vec<MetricPercentile>,
    /// Its values, as `histograms.corrected`.
    pub histogram: HistogramDoc,
}

/// One percentile of a metric (derived).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPercentile {
    pub p: f64,
    pub s: f64,
}

/// The `metrics` of a run: every metric of the table, by name.
pub fn docs_of(summaries: &[MetricSummary], values: &Metrics) -> BTreeMap<String, MetricDoc> {
    let docs = summaries.iter().zip(values.iter()).map(|(summary, (metric, histogram))| {
        let percentiles = summary.percentiles.iter().map(|&(p, ns)| MetricPercentile { p, s: ns as f64 / 1e9 });
        let doc = MetricDoc {
            label: metric.label.to_string(),
            mean_s: summary.mean_ns / 1e9,
            percentiles: percentiles.collect(),
            histogram: HistogramDoc::of(histogram),
        };
        (metric.id.to_string(), doc)
    });
    docs.collect()
}

/// The metrics `docs` hold, for a run of `responses` responses (each has
/// at most one value of each metric measured once per response).
pub fn read(docs: &BTreeMap<String, MetricDoc>, responses: u64) -> Result<Metrics, String> {
    let mut values = Metrics::default();
    for (id, doc) in docs {
        let i = metrics::find(id).ok_or_else(|| format!("unknown metric {id:?}"))?;
        let histogram = doc.histogram.histogram(&format!("of metric {id}"))?;
        if metrics::METRICS[i].per_response && histogram.count() > responses {
            return Err(format!("metric {id} holds {} values, more than the {responses} responses", histogram.count()));
        }
        values.set(i, histogram);
    }
    Ok(values)
}

/// An interval's metrics, the non-empty ones, by name.
pub fn interval_docs(values: &SparseMetrics) -> BTreeMap<String, HistogramDoc> {
    let present = values.iter().filter(|(_, sparse)| sparse.count() > 0);
    present.map(|(metric, sparse)| (metric.id.to_string(), HistogramDoc::of_sparse(sparse))).collect()
}

/// The metrics of an interval of `responses` responses.
pub fn read_interval(docs: &BTreeMap<String, HistogramDoc>, responses: u64) -> Result<SparseMetrics, String> {
    let mut values = SparseMetrics::default();
    for (id, doc) in docs {
        let i = metrics::find(id).ok_or_else(|| format!("unknown metric {id:?}"))?;
        let histogram = doc.histogram(&format!("of metric {id}"))?;
        if metrics::METRICS[i].per_response && histogram.count() > responses {
            return Err(format!("metric {id} holds more values than the interval's responses"));
        }
        values.set(i, Sparse::of(&histogram));
    }
    Ok(values)
}
