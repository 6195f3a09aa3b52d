//! The live progress line drawn on stderr while a run goes on.
//!
//! Rendering is a pure function of a [`Frame`] (numbers read from the live
//! atomics) and a width, producing one ASCII line: a bar, done/total or
//! elapsed/duration, the current rate and the errors so far. The caller
//! redraws it in place (`\r` + line + erase-to-end-of-line) ten times a
//! second and erases it before the report prints; nothing of it is drawn
//! when stderr is not a terminal.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the run is heading for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    Requests(u64),
    Duration(Duration),
}

/// One redraw's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub goal: Goal,
    /// Requests finished (responses + errors).
    pub done: u64,
    pub errors: u64,
    /// Since the start; `None` while connections are still being opened.
    pub elapsed: Option<Duration>,
    /// Requests per second over the last second.
    pub rate: f64,
    /// `--warmup` still running: how much of it is left.
    pub warmup_left: Option<Duration>,
}

/// Moves the cursor to the line start and erases the line (no screen clear).
pub const ERASE: &str = "\r\x1b[K";

/// The progress line for `frame`, at most `width - 1` columns (the last
/// column is left free so that no terminal wraps the line).
pub fn render(frame: &Frame, width: usize) -> String {
    let Some(elapsed) = frame.elapsed else {
        return fit("connecting...".to_string(), width);
    };
    let (fraction, position) = match (frame.goal, frame.warmup_left) {
        (Goal::Requests(_), Some(left)) => (0.0, format!("warm-up, {:.1}s left", left.as_secs_f64())),
        (Goal::Duration(d), Some(left)) => {
            (elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9), format!("warm-up, {:.1}s left", left.as_secs_f64()))
        }
        (Goal::Requests(total), None) => (frame.done as f64 / total.max(1) as f64, format!("{}/{}", frame.done, total)),
        (Goal::Duration(d), None) => (
            elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9),
            format!("{:.1}s/{:.1}s {} done", elapsed.as_secs_f64().min(d.as_secs_f64()), d.as_secs_f64(), frame.done),
        ),
    };
    let fraction = fraction.clamp(0.0, 1.0);
    let text = format!(
        " {:>3.0}% {position} {:.0} req/s {} error{}",
        fraction * 100.0,
        frame.rate,
        frame.errors,
        if frame.errors == 1 { "" } else { "s" }
    );
    let room = width.saturating_sub(1 + text.len() + 2);
    if room < 10 {
        return fit(text.trim_start().to_string(), width);
    }
    let bar_len = room.min(50);
    let filled = (fraction * bar_len as f64).round() as usize;
    let bar: String = (0..bar_len).map(|i| if i < filled { '#' } else { '-' }).collect();
    format!("[{bar}]{text}")
}

fn fit(mut line: String, width: usize) -> String {
    line.truncate(width.saturating_sub(1));
    line
}

/// Requests per second over a sliding window of recent samples.
#[derive(Debug)]
pub struct RateMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    pub fn new(window: Duration) -> Self {
        RateMeter { window, samples: VecDeque::new() }
    }

    /// Adds a reading of the done counter and returns the current rate.
    pub fn sample(&mut self, now: Instant, done: u64) -> f64 {
        self.samples.push_back((now, done));
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= self.window {
            self.samples.pop_front();
        }
        let (t0, d0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt <= 0.0 { 0.0 } else { done.saturating_sub(d0) as f64 / dt }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(goal: Goal, done: u64, errors: u64, elapsed_ms: Option<u64>) -> Frame {
        Frame { goal, done, errors, elapsed: elapsed_ms.map(Duration::from_millis), rate: 12345.4, warmup_left: None }
    }

    #[test]
    fn a_warmup_says_how_long_it_has_left() {
        let warming = |goal| Frame { warmup_left: Some(Duration::from_millis(1500)), ..frame(goal, 0, 0, Some(500)) };
        let line = render(&warming(Goal::Requests(200)), 100);
        assert!(line.ends_with("]   0% warm-up, 1.5s left 12345 req/s 0 errors"), "{line}");
        let line = render(&warming(Goal::Duration(Duration::from_secs(4))), 100);
        assert!(line.ends_with("]  12% warm-up, 1.5s left 12345 req/s 0 errors"), "{line}");
    }

    #[test]
    fn count_runs_show_done_of_total() {
        let line = render(&frame(Goal::Requests(200), 50, 1, Some(500)), 80);
        assert_eq!(line, "[###########----------------------------------]  25% 50/200 12345 req/s 1 error");
        assert!(line.len() < 80 && line.is_ascii());
    }

    #[test]
    fn duration_runs_show_elapsed_of_duration() {
        let line = render(&frame(Goal::Duration(Duration::from_secs(10)), 1000, 0, Some(2500)), 120);
        assert!(line.ends_with("]  25% 2.5s/10.0s 1000 done 12345 req/s 0 errors"), "{line}");
        let line = render(&frame(Goal::Duration(Duration::from_secs(1)), 10, 0, Some(1500)), 120);
        assert!(line.contains(" 100% 1.0s/1.0s "), "never past the end: {line}");
    }

    #[test]
    fn lines_fit_any_width() {
        for width in [0, 1, 5, 20, 40, 60, 80, 200] {
            for f in [
                frame(Goal::Requests(1_000_000), 999_999, 12, Some(1000)),
                frame(Goal::Duration(Duration::from_secs(3600)), 123_456_789, 0, Some(1000)),
                frame(Goal::Requests(10), 0, 0, None),
            ] {
                let line = render(&f, width);
                assert!(line.len() < width.max(1), "width {width}: {line:?}");
            }
        }
    }

    #[test]
    fn before_the_start_it_says_connecting() {
        assert_eq!(render(&frame(Goal::Requests(10), 0, 0, None), 80), "connecting...");
    }

    #[test]
    fn the_rate_is_measured_over_the_window() {
        let t0 = Instant::now();
        let mut meter = RateMeter::new(Duration::from_secs(1));
        assert_eq!(meter.sample(t0, 0), 0.0);
        for i in 1..=20u64 {
            let rate = meter.sample(t0 + Duration::from_millis(100 * i), 1000 * i);
            assert!((rate - 10_000.0).abs() < 1e-6, "steady 10k/s, got {rate}");
        }
        // The rate drops to zero once nothing finished for a whole window.
        let mut rate = 1.0;
        for i in 21..=40u64 {
            rate = meter.sample(t0 + Duration::from_millis(100 * i), 20_000);
        }
        assert_eq!(rate, 0.0);
    }
}
