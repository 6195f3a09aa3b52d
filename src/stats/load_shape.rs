//! The shape of the load a run was asked for, kept with what it measured
//! so that every output can set each interval's achieved rate against its
//! target. The engine's schedule follows it.
//!
//! An open-model shape ([`Shape`]) is a sequence of segments, each constant
//! or a linear ramp of the rate (`--rate FROM..TO` is one segment,
//! `--stages` several). Requests are numbered in the whole run's order:
//! request `c` is due when the shape's integral (the requests due so far)
//! reaches `c`, so every due time is exact, whatever the rate at that
//! moment. A closed-model shape ([`Concurrency`]) is a sequence of
//! connection counts.

/// One segment of a rate shape: from `from` to `to` requests per second,
/// linearly, over `over_s` seconds (`from == to`: constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub over_s: f64,
    pub from: f64,
    pub to: f64,
}

impl Segment {
    fn slope(&self) -> f64 {
        (self.to - self.from) / self.over_s
    }

    /// Requests due in the segment's first `t` seconds (`t` within it).
    fn due_by(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.over_s);
        self.from * t + self.slope() * t * t / 2.0
    }

    /// The time within the segment at which `c` of its requests are due.
    fn time_of(&self, c: f64) -> f64 {
        if c <= 0.0 {
            return 0.0;
        }
        // The root of from*t + slope*t^2/2 = c, written without the
        // cancellation of (-b + sqrt(b^2 + ..)) when the slope is small.
        let root = (self.from * self.from + 2.0 * self.slope() * c).max(0.0).sqrt();
        (2.0 * c / (self.from + root)).min(self.over_s)
    }
}

/// How the gaps between the open model's due times are drawn (drawn by
/// `engine::arrivals`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Arrivals {
    /// Every gap is the same: a constant rate.
    #[default]
    Even,
    /// Gamma-distributed gaps of shape `burstiness` (1: Poisson arrivals)
    /// around the same mean, from a generator seeded with `seed`.
    Random { burstiness: f64, seed: u64 },
}

impl Arrivals {
    /// For people: `poisson (seed 7)`, `gamma, burstiness 4 (seed 7)`.
    pub fn describe(&self) -> Option<String> {
        match *self {
            Arrivals::Even => None,
            Arrivals::Random { burstiness: 1.0, seed } => Some(format!("poisson (seed {seed})")),
            Arrivals::Random { burstiness, seed } => Some(format!("gamma, burstiness {burstiness} (seed {seed})")),
        }
    }
}

/// A rate that follows one or more segments, then stays at the last
/// segment's end rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    segments: Vec<Segment>,
    /// For each segment: seconds from the start and requests due before it.
    begins: Vec<(f64, f64)>,
}

impl Shape {
    /// A shape of `segments`: `None` unless there is at least one, each
    /// lasting a positive, finite time at finite rates that are not negative
    /// and not both zero at the end of the last.
    pub fn new(segments: Vec<Segment>) -> Option<Shape> {
        let usable = |s: &Segment| {
            s.over_s.is_finite() && s.over_s > 0.0 && [s.from, s.to].iter().all(|r| r.is_finite() && *r >= 0.0)
        };
        if segments.is_empty() || !segments.iter().all(usable) || segments.iter().all(|s| s.from == 0.0 && s.to == 0.0)
        {
            return None;
        }
        let mut begins = Vec::with_capacity(segments.len());
        let (mut t, mut due) = (0.0, 0.0);
        for segment in &segments {
            begins.push((t, due));
            t += segment.over_s;
            due += segment.due_by(segment.over_s);
        }
        Some(Shape { segments, begins })
    }

    /// A linear ramp from `from` to `to` over `over_s` seconds.
    pub fn ramp(from: f64, to: f64, over_s: f64) -> Option<Shape> {
        Shape::new(vec![Segment { over_s, from, to }])
    }

    /// The same shape after `seconds` at its first rate (a warm-up).
    pub fn after_constant(&self, seconds: f64) -> Shape {
        if seconds <= 0.0 {
            return self.clone();
        }
        let first = self.segments[0].from;
        let mut segments = vec![Segment { over_s: seconds, from: first, to: first }];
        segments.extend_from_slice(&self.segments);
        // The added segment has the first one's rate; a zero rate before a
        // shape with requests keeps it usable.
        Shape::new(segments).unwrap_or_else(|| self.clone())
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Seconds the segments last together.
    pub fn duration_s(&self) -> f64 {
        let (t, _) = self.begins[self.begins.len() - 1];
        t + self.last().over_s
    }

    fn last(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    /// Requests due over all the segments.
    pub fn total(&self) -> f64 {
        let (_, due) = self.begins[self.begins.len() - 1];
        due + self.last().due_by(self.last().over_s)
    }

    /// Requests due in the first `t` seconds.
    pub fn due_by(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        let end = self.duration_s();
        if t >= end {
            return self.total() + self.last().to * (t - end);
        }
        let i = self.begins.partition_point(|&(start, _)| start <= t).saturating_sub(1);
        let (start, due) = self.begins[i];
        due + self.segments[i].due_by(t - start)
    }

    /// The time (seconds) at which `c` requests have become due; infinite
    /// past the end of a shape that ends at rate zero.
    pub fn time_of(&self, c: f64) -> f64 {
        let total = self.total();
        if c > total {
            return self.duration_s() + (c - total) / self.last().to;
        }
        // The first segment by whose end `c` requests are due (a segment
        // at rate zero adds none, so it is never the one).
        let i = self.begins.partition_point(|&(_, due)| due < c).saturating_sub(1);
        let (start, due) = self.begins[i];
        start + self.segments[i].time_of(c - due)
    }

    /// The rate `t` seconds after the start.
    pub fn rate_at(&self, t: f64) -> f64 {
        if t >= self.duration_s() {
            return self.last().to;
        }
        let i = self.begins.partition_point(|&(start, _)| start <= t.max(0.0)).saturating_sub(1);
        let (start, _) = self.begins[i];
        let s = &self.segments[i];
        s.from + (s.to - s.from) * ((t - start) / s.over_s).clamp(0.0, 1.0)
    }

    /// Mean rate over the segments from `t` seconds on (after a warm-up).
    pub fn mean_from(&self, t: f64) -> f64 {
        (self.total() - self.due_by(t)) / (self.duration_s() - t).max(f64::MIN_POSITIVE)
    }

    /// Highest rate anywhere in the shape.
    pub fn peak(&self) -> f64 {
        self.segments.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max)
    }
}

/// Closed-model stages: `connections` active for `over_s` seconds each.
/// Every connection the largest stage needs is opened before the clock
/// starts; the others wait, open, while a smaller stage runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Concurrency {
    pub stages: Vec<(f64, usize)>,
}

impl Concurrency {
    /// Connections active `t` seconds after the start (the last stage's
    /// count after the end).
    pub fn active_at(&self, t: f64) -> usize {
        let mut end = 0.0;
        for &(over_s, connections) in &self.stages {
            end += over_s;
            if t < end {
                return connections;
            }
        }
        self.stages.last().map_or(0, |&(_, c)| c)
    }

    /// The most connections any stage uses.
    pub fn most(&self) -> usize {
        self.stages.iter().map(|&(_, c)| c).max().unwrap_or(0)
    }

    /// The same stages after `seconds` at the first stage's count.
    pub fn after_constant(&self, seconds: f64) -> Concurrency {
        let mut stages = Vec::with_capacity(self.stages.len() + 1);
        if let Some(&(_, first)) = self.stages.first().filter(|_| seconds > 0.0) {
            stages.push((seconds, first));
        }
        stages.extend_from_slice(&self.stages);
        Concurrency { stages }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn a_ramp_puts_each_request_where_the_integral_reaches_it() {
        let ramp = Shape::ramp(100.0, 2000.0, 4.0).unwrap();
        assert_eq!(ramp.due_by(4.0), 4200.0);
        assert_eq!(ramp.due_by(6.0), 8200.0, "then the end rate");
        for c in [0.0, 1.0, 99.5, 1234.0, 4200.0, 5000.0] {
            assert!(close(ramp.due_by(ramp.time_of(c)), c), "{c}");
        }
        let down = Shape::ramp(2000.0, 100.0, 4.0).unwrap();
        assert!(close(down.due_by(down.time_of(4000.0)), 4000.0));
        assert_eq!((ramp.mean_from(0.0), ramp.peak(), ramp.rate_at(2.0)), (1050.0, 2000.0, 1050.0));
    }

    #[test]
    fn stages_chain_constant_and_ramped_segments() {
        let seg = |over_s, from, to| Segment { over_s, from, to };
        let shape = Shape::new(vec![seg(2.0, 1000.0, 1000.0), seg(2.0, 1000.0, 3000.0), seg(1.0, 3000.0, 3000.0)]);
        let shape = shape.unwrap();
        assert_eq!((shape.duration_s(), shape.total()), (5.0, 2000.0 + 4000.0 + 3000.0));
        assert_eq!((shape.due_by(1.0), shape.due_by(3.0), shape.due_by(4.5)), (1000.0, 2000.0 + 1500.0, 7500.0));
        assert_eq!((shape.rate_at(0.5), shape.rate_at(3.0), shape.rate_at(9.0)), (1000.0, 2000.0, 3000.0));
        for c in [0.0, 1.0, 1999.0, 2000.0, 2001.0, 5999.5, 6000.0, 8999.0, 9000.0, 12000.0] {
            assert!(close(shape.due_by(shape.time_of(c)), c), "{c}");
        }
        assert!(close(shape.time_of(2000.0), 2.0) && close(shape.time_of(12000.0), 6.0));
    }

    #[test]
    fn pauses_and_ramps_from_zero_are_exact() {
        let seg = |over_s, from, to| Segment { over_s, from, to };
        // From zero: the first request is due at once, the next as the integral reaches 1.
        let up = Shape::ramp(0.0, 100.0, 1.0).unwrap();
        assert_eq!(up.time_of(0.0), 0.0);
        assert!(close(up.time_of(1.0), (2.0f64 / 100.0).sqrt()));
        // A pause: nothing is due during it; the next request comes after it.
        let paused = Shape::new(vec![seg(1.0, 10.0, 10.0), seg(2.0, 0.0, 0.0), seg(1.0, 10.0, 10.0)]).unwrap();
        assert!(close(paused.time_of(10.0), 1.0));
        assert!(close(paused.time_of(11.0), 3.1));
        assert!(paused.time_of(21.0).is_finite());
        let ends_idle = Shape::new(vec![seg(1.0, 10.0, 10.0), seg(1.0, 0.0, 0.0)]).unwrap();
        assert!(ends_idle.time_of(11.0).is_infinite());
        // Warm-up: the first rate for that long first.
        let warm = up.after_constant(2.0);
        assert_eq!((warm.duration_s(), warm.segments().len(), warm.total()), (3.0, 2, 50.0));
    }

    #[test]
    fn unusable_shapes_are_refused() {
        let seg = |over_s, from, to| Segment { over_s, from, to };
        for bad in [
            vec![],
            vec![seg(0.0, 1.0, 1.0)],
            vec![seg(-1.0, 1.0, 1.0)],
            vec![seg(1.0, -1.0, 1.0)],
            vec![seg(1.0, f64::NAN, 1.0)],
            vec![seg(f64::INFINITY, 1.0, 1.0)],
            vec![seg(1.0, 0.0, 0.0)],
        ] {
            assert!(Shape::new(bad.clone()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn concurrency_stages_say_who_is_active() {
        let stages = Concurrency { stages: vec![(2.0, 5), (3.0, 20), (1.0, 1)] };
        let at: Vec<usize> = [0.0, 1.9, 2.0, 4.9, 5.0, 7.0].iter().map(|&t| stages.active_at(t)).collect();
        assert_eq!(at, [5, 5, 20, 20, 1, 1]);
        assert_eq!(stages.most(), 20);
        assert_eq!(stages.after_constant(1.0).stages[0], (1.0, 5));
    }
}
