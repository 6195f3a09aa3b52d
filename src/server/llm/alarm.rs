//! The pacer's wake-up at an exact instant. tokio's timer works in whole
//! milliseconds and rounds every deadline up to the next one: the mock's
//! first events came 1 to 2 ms after `--ttft` with nothing else running.
//! On Linux a `timerfd` (nanosecond resolution, registered with tokio's
//! reactor) wakes the pacer instead; elsewhere (macOS) tokio's timer does,
//! and the mock's truth shows its error.

#[cfg(target_os = "linux")]
pub use precise::Alarm;

#[cfg(not(target_os = "linux"))]
pub use coarse::Alarm;

#[cfg(target_os = "linux")]
mod precise {
    use std::io;
    use std::time::Instant;

    use crate::timerfd::TimerFd;

    /// One timerfd, armed for one instant at a time.
    pub struct Alarm {
        timer: TimerFd,
    }

    impl Alarm {
        /// Needs a tokio runtime with I/O enabled (it registers the timerfd).
        pub fn new() -> io::Result<Alarm> {
            Ok(Alarm { timer: TimerFd::new()? })
        }

        /// Resolves at `at` or just after (at once if it has passed). Safe
        /// to drop before then: the next call sets the timer anew, and an
        /// expiry left from an earlier call only makes it look again.
        pub async fn until(&self, at: Instant) {
            loop {
                let now = Instant::now();
                if now >= at {
                    return;
                }
                self.timer.set_in(at - now);
                if !self.timer.fired().await {
                    return;
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    use std::io;
    use std::time::Instant;

    /// tokio's millisecond timer.
    pub struct Alarm;

    impl Alarm {
        pub fn new() -> io::Result<Alarm> {
            Ok(Alarm)
        }

        pub async fn until(&self, at: Instant) {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Never early, whatever the machine does; a lost wake-up would hang
    /// (the bound only catches that).
    #[test]
    fn the_alarm_never_resolves_early_and_can_be_dropped_and_reset() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let alarm = Alarm::new().unwrap();
            let start = Instant::now();
            // Dropped before it fires: the later call still waits its own time.
            let early = start + Duration::from_micros(300);
            let dropped = tokio::time::timeout(Duration::from_micros(50), alarm.until(early)).await;
            assert!(dropped.is_err() || Instant::now() >= early);
            for us in [2_000u64, 700, 700, 3_100] {
                let at = Instant::now() + Duration::from_micros(us);
                alarm.until(at).await;
                let now = Instant::now();
                assert!(now >= at, "resolved {:?} early", at - now);
                assert!(now - at < Duration::from_secs(5), "{:?} late", now - at);
            }
            alarm.until(start).await;
        });
    }
}
