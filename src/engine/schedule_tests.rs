//! Random arrivals through the schedule: counts within the statistical
//! bound, gaps as spread as asked, the same seed the same schedule.

use std::time::{Duration, Instant};

use super::*;
use crate::engine::arrivals::{Arrivals, Owner};
use crate::stats::Shape;

/// The gaps (seconds) of `n` claims of a schedule at `rate` per second.
fn gaps(arrivals: Arrivals, rate: f64, n: usize) -> Vec<f64> {
    let t0 = Instant::now();
    let mut s = Schedule::new(t0, rate, 0, 1, 1).with_arrivals(arrivals, ALONE);
    let times: Vec<f64> = (0..n)
        .map(|_| match s.claim(t0, None) {
            Claim::At(at) | Claim::Expired(at) => (at - t0).as_secs_f64(),
        })
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The only worker, with the only connection.
const ALONE: Owner = Owner { worker: 0, workers: 1, connections: 1 };

fn cv(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    var.sqrt() / mean
}

#[test]
fn poisson_arrivals_keep_the_rate_and_spread_like_an_exponential() {
    let poisson = Arrivals::Random { burstiness: 1.0, seed: 3 };
    let g = gaps(poisson, 1000.0, 100_001);
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    // 100,000 exponential gaps of mean 1 ms: the mean is within 1% (3 sigma).
    assert!((mean - 0.001).abs() < 0.001 * 0.01, "mean gap {mean}");
    assert!((cv(&g) - 1.0).abs() < 0.02, "cv {}", cv(&g));
    let even = gaps(Arrivals::Even, 1000.0, 1000);
    assert!(cv(&even) < 1e-6, "a constant rate is even");
    let smooth = gaps(Arrivals::Random { burstiness: 25.0, seed: 3 }, 1000.0, 50_001);
    assert!((cv(&smooth) - 0.2).abs() < 0.01, "burstiness 25: cv {}", cv(&smooth));
    assert_eq!(gaps(poisson, 1000.0, 500), gaps(poisson, 1000.0, 500), "the same seed, the same schedule");
    assert_ne!(gaps(poisson, 1000.0, 500), gaps(Arrivals::Random { burstiness: 1.0, seed: 4 }, 1000.0, 500));
}

#[test]
fn the_count_due_by_a_time_is_poisson_and_matches_the_claims() {
    let t0 = Instant::now();
    let arrivals = Arrivals::Random { burstiness: 1.0, seed: 11 };
    // Due within 10 s at 500/s: 5000 expected, sd about 71.
    let s = Schedule::new(t0, 500.0, 0, 1, 1).with_arrivals(arrivals, ALONE);
    let due = s.unclaimed_between(t0, t0 + Duration::from_secs(10));
    assert!(due.abs_diff(5000) < 4 * 71, "{due} due");
    // Claiming them all leaves none unclaimed, and the next lies beyond.
    let mut s = s;
    for _ in 0..due {
        s.claim(t0, None);
    }
    assert_eq!(s.unclaimed_between(t0, t0 + Duration::from_secs(10)), 0);
    let Claim::At(next) = s.claim(t0, None) else { panic!("no timeout") };
    assert!(next >= t0 + Duration::from_secs(10));
}

#[test]
fn a_shape_keeps_random_gaps_on_its_rate() {
    let t0 = Instant::now();
    // 100/s for 10 s then 1000/s for 10 s: about 1,000 and 10,000 arrivals.
    let stage = |from, to| crate::stats::Segment { over_s: 10.0, from, to };
    let shape = Shape::new(vec![stage(100.0, 100.0), stage(1000.0, 1000.0)]).unwrap();
    let arrivals = Arrivals::Random { burstiness: 1.0, seed: 5 };
    let mut s = Schedule::shaped(t0, shape, 0, 1, 1).with_arrivals(arrivals, ALONE);
    let (mut first, mut second) = (0u64, 0u64);
    loop {
        let Claim::At(at) = s.claim(t0, None) else { panic!("no timeout") };
        match (at - t0).as_secs_f64() {
            t if t < 10.0 => first += 1,
            t if t < 20.0 => second += 1,
            _ => break,
        }
    }
    assert!(first.abs_diff(1000) < 4 * 32 && second.abs_diff(10_000) < 4 * 100, "{first} then {second}");
}

#[test]
fn workers_take_their_parts_of_the_one_random_sequence() {
    let t0 = Instant::now();
    let arrivals = Arrivals::Random { burstiness: 4.0, seed: 9 };
    let due = |s: &mut Schedule| match s.claim(t0, None) {
        Claim::At(at) | Claim::Expired(at) => at,
    };
    let mut alone = Schedule::new(t0, 1000.0, 0, 1, 1).with_arrivals(arrivals, ALONE);
    let run: Vec<Instant> = (0..30_000).map(|_| due(&mut alone)).collect();
    // 2 workers holding 3 connections: 2 of every 3 arrivals for the first.
    let (workers, connections) = (2, 3);
    let mut parts: Vec<Instant> = (0..workers)
        .flat_map(|worker| {
            let share = crate::engine::plan::share_of(connections, workers, worker);
            let owner = Owner { worker, workers, connections };
            let mut s = Schedule::new(t0, 1000.0, worker, share, connections).with_arrivals(arrivals, owner);
            (0..10_000 * share).map(move |_| due(&mut s))
        })
        .collect();
    parts.sort();
    assert_eq!(parts, run, "together the workers' arrivals are the run's sequence");
    let gaps: Vec<f64> = run.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    assert!((cv(&gaps) - 0.5).abs() < 0.02, "burstiness 4: cv {}", cv(&gaps));
    // The backlog counted at a deadline is the worker's part of the run's.
    let end = t0 + Duration::from_secs(5);
    let owner = Owner { worker: 1, workers, connections };
    let one = Schedule::new(t0, 1000.0, 1, 1, connections).with_arrivals(arrivals, owner);
    let want = (0..run.len()).filter(|&j| j % 3 == 1 && run[j] < end).count() as u64;
    assert_eq!(one.unclaimed_between(t0, end), want);
}
