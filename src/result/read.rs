//! The way back from a result document to what it was made of: the
//! stats, the run's facts and the timeline, exactly, for `merge`, `diff`,
//! `plot` and the report of a merge. Everything read is checked first
//! (format, version, histograms, counts that must add up), so a corrupt or
//! hostile file is refused with one line instead of wrapping or panicking.

use std::time::Duration;

use super::histogram::HistogramFormat;
use super::{ResultDoc, SCHEMA, SCHEMA_VERSION, merged, targets};
use crate::stats::{ErrorKind, Timeline, WorkerStats};
use crate::summary::{GeneratorCpu, Protocol, Rate, RunInfo};

impl ResultDoc {
    /// The timeline this document holds, checked against its counts.
    pub fn timeline(&self) -> Result<Option<Timeline>, String> {
        let Some(doc) = &self.timeline else { return Ok(None) };
        let timeline = doc.timeline()?;
        let total = timeline.totals().map_err(|_| "the timeline's counts overflow".to_string())?;
        let c = &self.counts;
        // The timeline holds the warm-up's requests too.
        let (warm_responses, warm_errors) = self.run.warmup.map_or((0, 0), |w| (w.responses, w.errors));
        let responses = c.responses.checked_add(warm_responses).ok_or("the warm-up's counts overflow")?;
        let errors = c.errors.checked_add(warm_errors).ok_or("the warm-up's counts overflow")?;
        if (total.responses(), total.total_errors()) != (responses, errors) {
            return Err(format!(
                "the timeline holds {} responses and {} errors, the counts (warm-up included) say {} and {}",
                total.responses(),
                total.total_errors(),
                responses,
                errors
            ));
        }
        Ok(Some(timeline))
    }

    /// Reads a document, refusing other formats and versions.
    pub fn parse(text: &str) -> Result<ResultDoc, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        ResultDoc::from_value(value)
    }

    /// As [`ResultDoc::parse`], from parsed JSON.
    pub fn from_value(value: serde_json::Value) -> Result<ResultDoc, String> {
        if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA) {
            return Err(format!("not a vastar result (no \"schema\": \"{SCHEMA}\"); write one with vastar -o json"));
        }
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "schema version {v}, but this vastar reads version {SCHEMA_VERSION}; use the vastar that wrote it"
                ));
            }
            None => return Err("no schema_version".into()),
        }
        let doc: ResultDoc = serde_json::from_value(value).map_err(|e| format!("malformed result: {e}"))?;
        if doc.histograms.format != HistogramFormat::current() {
            return Err("histogram format differs from this vastar's".into());
        }
        doc.timeline()?;
        if let Some(goodput) = &doc.run.goodput {
            goodput.limits()?;
        }
        Ok(doc)
    }

    /// The stats this document was made from, exactly.
    pub fn stats(&self) -> Result<WorkerStats, String> {
        let mut s = WorkerStats::new();
        s.corrected = self.histograms.corrected.histogram("corrected")?;
        s.latency = self.histograms.uncorrected.histogram("uncorrected")?;
        s.connect_latency = self.histograms.connect.histogram("connect")?;
        s.metrics = super::metrics::read(&self.metrics, self.counts.responses)?;
        s.counts = super::counters::read(&self.counters)?;
        (s.write, s.wait, s.read) = (self.phases.write.phase(), self.phases.wait.phase(), self.phases.read.phase());
        (s.connect, s.send_lag) = (self.phases.connect.phase(), self.phases.send_lag.phase());
        s.tunnel = self.phases.tunnel.map(|doc| doc.phase()).unwrap_or_default();
        let c = &self.counts;
        s.responses = c.responses;
        (s.aborted, s.started, s.unsent, s.preconnect_failures) =
            (c.aborted, c.started, c.unsent, c.preconnect_failures);
        (s.wire_bytes, s.body_bytes) = (c.wire_bytes, c.body_bytes);
        if let Some(w) = self.run.warmup {
            s.warmup = crate::stats::Warmup { responses: w.responses, errors: w.errors, aborted: w.aborted };
        }
        if let Some(tls) = &self.tls {
            s.tls = tls.stats()?;
        }
        if let Some(rows) = &self.targets {
            let targets = self.run.requests.as_ref().map_or(rows.len(), |r| r.targets.len());
            s.targets = targets::stats_of(rows, targets)?;
        }
        for (&code, &n) in &self.status_codes {
            if !(100..=999).contains(&code) {
                return Err(format!("status code {code} is out of range"));
            }
            s.add_status(code, n);
        }
        for (id, &n) in &self.errors {
            s.add_errors(ErrorKind::from_id(id).ok_or_else(|| format!("unknown error category {id:?}"))?, n);
        }
        if s.checked_issued().is_none() {
            return Err("the counts do not fit in 64 bits".into());
        }
        // The errors fit (checked just above); the statuses may still overflow.
        let statuses = s.statuses().try_fold(0u64, |sum, (_, n)| sum.checked_add(n));
        if statuses != Some(s.responses) || s.total_errors() != c.errors {
            return Err("status or error counts do not add up to the totals".into());
        }
        Ok(s)
    }

    /// The report's facts, as the run had them.
    pub fn run_info(&self) -> RunInfo {
        let r = &self.run;
        RunInfo {
            elapsed: Duration::from_nanos(r.elapsed_ns),
            backend: r.backend.clone(),
            workers: r.workers,
            connections: r.connections,
            interrupted: r.interrupted,
            rate: r.rate.as_ref().map(|r| Rate {
                target: r.target,
                achieved: r.achieved,
                shape: r.shape(),
                arrivals: r.arrivals.clone(),
            }),
            dns: r.dns.map(|d| (Duration::try_from_secs_f64(d.seconds).unwrap_or_default(), d.addresses)),
            load: GeneratorCpu { own: r.load.own_busy, cores: r.load.cores, cores_busy: r.load.cores_busy },
            merged: merged(&self.parts),
            stages: r.connection_stages.as_ref().map(|stages| crate::stats::Concurrency {
                stages: stages.iter().map(|s| (s.over_s, s.connections)).collect(),
            }),
            warmup: r.warmup.and_then(|w| Duration::try_from_secs_f64(w.seconds).ok()),
            requests: r.requests.as_ref().map(targets::RequestsDoc::requests),
            goodput: r.goodput.and_then(|g| g.limits().ok()),
            protocol: Protocol::from_name(&r.protocol, r.streams_per_connection).unwrap_or_default(),
            proxy: r.proxy.clone(),
        }
    }
}
