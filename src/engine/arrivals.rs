//! Random arrivals for the open model (`--arrivals poisson`, `--burstiness
//! K`): the gaps between due times drawn from a gamma distribution whose
//! mean is the schedule's period, as vLLM's benchmark draws them (shape 1
//! is the exponential, so the arrivals are a Poisson process; above 1 they
//! are more even, below 1 burstier; the coefficient of variation of the
//! gaps is 1/sqrt(K)). Seeded, so the same seed gives the same schedule.

pub use crate::stats::Arrivals;

/// The gaps of one worker's schedule, in units of the mean gap.
#[derive(Clone, Debug)]
pub struct Gaps {
    shape: f64,
    state: u64,
    /// A second normal deviate from the last pair (Box-Muller makes two).
    spare: Option<f64>,
}

impl Gaps {
    /// The gaps of worker `worker` (each worker draws its own stream).
    pub fn new(burstiness: f64, seed: u64, worker: usize) -> Gaps {
        let state = seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Gaps { shape: burstiness, state, spare: None }
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
            let (mean, got) = moments(&mut Gaps::new(k, 42, 0), 200_000);
            assert!((mean - 1.0).abs() < 0.02, "k {k}: mean {mean}");
            assert!((got - cv).abs() < cv * 0.03, "k {k}: cv {got}, want {cv}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_gaps_and_workers_differ() {
        let draw = |seed, worker| {
            (0..100).map(|_| 0).scan(Gaps::new(1.0, seed, worker), |g, _: i32| Some(g.next_gap())).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0), draw(7, 1));
        assert_ne!(draw(7, 0), draw(8, 0));
        assert!(draw(7, 0).iter().all(|&g| g > 0.0 && g.is_finite()));
    }
}
