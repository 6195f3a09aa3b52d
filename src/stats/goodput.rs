//! What a request must meet to count as good (`--goodput`, as vLLM's
//! benchmark defines goodput): limits on its time to first token, its time
//! per output token and its whole latency. Judged per request, when it ends.

use std::time::Duration;

/// The limits a good request stays under; `None` sets none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Goodput {
    pub ttft: Option<Duration>,
    pub tpot: Option<Duration>,
    pub e2e: Option<Duration>,
}

impl Goodput {
    /// Does a successful request with these values stay under every limit?
    /// A request with no time to first token (not streamed) fails a TTFT
    /// limit; one with a single token has no time per token and passes a
    /// TPOT limit (vLLM counts its TPOT as 0).
    pub fn met(&self, ttft: Option<Duration>, tpot: Option<Duration>, e2e: Duration) -> bool {
        let under = |limit: Option<Duration>, value: Option<Duration>| match (limit, value) {
            (None, _) => true,
            (Some(limit), Some(value)) => value < limit,
            (Some(_), None) => false,
        };
        under(self.ttft, ttft) && under(self.tpot, Some(tpot.unwrap_or_default())) && under(self.e2e, Some(e2e))
    }

    /// The limits as `--goodput` writes them: `ttft<200ms,tpot<50ms`.
    pub fn expr(&self) -> String {
        let limits = [("ttft", self.ttft), ("tpot", self.tpot), ("e2e", self.e2e)];
        let set = limits.iter().filter_map(|&(name, limit)| Some(format!("{name}<{}", short(limit?))));
        set.collect::<Vec<_>>().join(",")
    }
}

/// A duration as `200ms`, `1.5s` or `250us`.
fn short(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_good_under_every_limit() {
        let ms = Duration::from_millis;
        let g = Goodput { ttft: Some(ms(200)), tpot: Some(ms(50)), e2e: Some(ms(5000)) };
        assert!(g.met(Some(ms(199)), Some(ms(49)), ms(4999)));
        assert!(!g.met(Some(ms(200)), Some(ms(49)), ms(10)), "the limit itself is not under it");
        assert!(!g.met(Some(ms(10)), Some(ms(51)), ms(10)));
        assert!(!g.met(Some(ms(10)), Some(ms(10)), ms(6000)));
        assert!(!g.met(None, None, ms(10)), "no first token: no TTFT to meet the limit");
        assert!(g.met(Some(ms(10)), None, ms(10)), "one token: TPOT 0");
        assert!(Goodput::default().met(None, None, ms(99_999)));
        assert_eq!(g.expr(), "ttft<200ms,tpot<50ms,e2e<5s");
        let odd = Goodput { ttft: Some(Duration::from_micros(1500)), tpot: None, e2e: Some(Duration::from_nanos(7)) };
        assert_eq!(odd.expr(), "ttft<1500us,e2e<7ns");
    }
}
