//! The shape of the load a run was asked for (`--rate FROM..TO`), kept
//! with what it measured so that every output can set each interval's
//! achieved rate against its target. The engine's schedule follows it.

/// A rate that changes linearly from `from` to `to` requests per second
/// over `over_s` seconds, then stays at `to`. Requests are numbered in the
/// whole run's order: request `c` is due when the ramp's integral (the
/// requests due so far) reaches `c`, so every due time is exact, whatever
/// the rate at that moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    pub from: f64,
    pub to: f64,
    pub over_s: f64,
}

impl Ramp {
    /// Requests due in the first `t` seconds.
    pub fn due_by(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        let within = t.min(self.over_s);
        let slope = (self.to - self.from) / self.over_s;
        self.from * within + slope * within * within / 2.0 + self.to * (t - within)
    }

    /// The time (seconds) at which `c` requests have become due.
    pub fn time_of(&self, c: f64) -> f64 {
        let whole = self.due_by(self.over_s);
        if c > whole {
            return self.over_s + (c - whole) / self.to;
        }
        // The root of from*t + slope*t^2/2 = c, written without the
        // cancellation of (-b + sqrt(b^2 + ..)) when the slope is small.
        let slope = (self.to - self.from) / self.over_s;
        2.0 * c / (self.from + (self.from * self.from + 2.0 * slope * c).max(0.0).sqrt())
    }

    /// The rate `t` seconds after the start.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.from + (self.to - self.from) * (t / self.over_s).clamp(0.0, 1.0)
    }

    /// Mean rate over the ramp.
    pub fn mean(&self) -> f64 {
        (self.from + self.to) / 2.0
    }
}
