//! Random arrivals for the open model (`--arrivals poisson`, `--burstiness
//! K`): the gaps between due times drawn from a gamma distribution whose
//! mean is the schedule's period, as vLLM's benchmark draws them (shape 1
//! is the exponential, so the arrivals are a Poisson process; above 1 they
//! are more even, below 1 burstier; the coefficient of variation of the
//! gaps is 1/sqrt(K)). Seeded, so the same seed gives the same schedule.
//!
//! The run has one sequence of arrivals, which every worker draws in full
//! and takes its own part of ([`Owner`]): independent sequences per worker
//! would merge into something closer to Poisson than the burstiness asked.
//! The price is that each worker draws the whole run's gaps (tens of
//! nanoseconds each), so W workers spend W times the draws: at the rates a
//! worker can send, a small part of its time.

pub use crate::stats::Arrivals;

/// Which of the run's arrivals a worker takes: arrival `j` is meant for
/// connection `j mod C`, and connection `c` belongs to worker `c mod W`.
/// So worker `w` takes as many as it holds connections (the first `C mod
/// W` workers one more, as [`super::plan::share_of`] spreads them), the
/// workers' parts interleave, and together they are the run's sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub worker: usize,
    pub workers: usize,
    pub connections: usize,
}

impl Owner {
    /// Whether the run's arrival number `arrival` is this worker's.
    pub fn takes(&self, arrival: u64) -> bool {
        let connection = arrival % self.connections.max(1) as u64;
        connection % self.workers.max(1) as u64 == self.worker as u64
    }

    /// Whether this worker takes any arrival (it holds a connection).
    pub fn takes_any(&self) -> bool {
        self.worker < self.connections.min(self.workers)
    }
}

/// The gaps of the run's schedule, in units of the mean gap.
#[derive(Clone, Debug)]
pub struct Gaps {
    shape: f64,
    state: u64,
    /// A second normal deviate from the last pair (Box-Muller makes two).
    spare: Option<f64>,
}

impl Gaps {
    /// The run's gaps for `seed` (every worker draws the same ones).
    pub fn new(burstiness: f64, seed: u64) -> Gaps {
        Gaps { shape: burstiness, state: seed ^ 0x9E37_79B9_7F4A_7C15, spare: None }
    }

    /// The next gap, a gamma deviate of mean 1.
    pub fn next_gap(&mut self) -> f64 {
        self.gamma(self.shape) / self.shape
    }

    /// A uniform deviate in (0, 1).
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON / 2.0
    }

    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let angle = std::f64::consts::TAU * v;
        self.spare = Some(r * angle.sin());
        r * angle.cos()
    }

    /// A gamma deviate of shape `k` and scale 1 (Marsaglia and Tsang; for
    /// k < 1, one of shape k + 1 times U^(1/k)).
    fn gamma(&mut self, k: f64) -> f64 {
        if k == 1.0 {
            return -self.uniform().ln();
        }
        if k < 1.0 {
            let boost = self.uniform().powf(1.0 / k);
            return self.gamma(k + 1.0) * boost;
        }
        let d = k - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean and coefficient of variation of `n` gaps.
    fn moments(gaps: &mut Gaps, n: usize) -> (f64, f64) {
        let values: Vec<f64> = (0..n).map(|_| gaps.next_gap()).collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn gaps_have_mean_one_and_the_spread_their_shape_asks() {
        for (k, cv) in [(1.0, 1.0), (0.5, 2f64.sqrt()), (4.0, 0.5), (100.0, 0.1)] {
            let (mean, got) = moments(&mut Gaps::new(k, 42), 200_000);
            assert!((mean - 1.0).abs() < 0.02, "k {k}: mean {mean}");
            assert!((got - cv).abs() < cv * 0.03, "k {k}: cv {got}, want {cv}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_gaps() {
        let draw = |seed| (0..100).scan(Gaps::new(1.0, seed), |g, _| Some(g.next_gap())).collect::<Vec<_>>();
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(7).iter().all(|&g| g > 0.0 && g.is_finite()));
    }

    #[test]
    fn owners_split_the_arrivals_as_the_connections_are_split() {
        for (workers, connections) in [(1, 1), (2, 2), (2, 3), (3, 7), (4, 2), (2, 1000)] {
            let owners: Vec<Owner> = (0..workers).map(|worker| Owner { worker, workers, connections }).collect();
            let arrivals = 1000 * connections as u64;
            for (w, owner) in owners.iter().enumerate() {
                let taken = (0..arrivals).filter(|&j| owner.takes(j)).count();
                let share = crate::engine::plan::share_of(connections, workers, w);
                assert_eq!(taken, 1000 * share, "worker {w} of {workers}, {connections} connections");
                assert_eq!(owner.takes_any(), share > 0);
            }
            for j in 0..arrivals {
                assert_eq!(owners.iter().filter(|o| o.takes(j)).count(), 1, "arrival {j}: exactly one owner");
            }
        }
    }
}
