//! Any text as a duration (-z, -t, --connect-timeout) or a wall-clock time
//! (--start-at): parsed or refused with a message, never a panic, and an
//! accepted time formats back to text that parses to the same instant
//! (to the microsecond the format keeps).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vastar::config::{parse_duration, parse_start_at};
use vastar::wallclock;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for bare in [None, Some(Duration::from_secs(1))] {
        if let Ok(d) = parse_duration("-t", text, bare) {
            assert!(d <= vastar::config::MAX_DURATION);
        }
    }
    let _ = parse_start_at(text);
    if let Ok(at) = wallclock::parse(text) {
        let shown = wallclock::format_rfc3339(at);
        let again = wallclock::parse(&shown).expect("a formatted time parses");
        let micros = |t: std::time::SystemTime| wallclock::unix_ns(t) / 1000;
        assert_eq!(micros(again), micros(at), "{text:?} -> {shown}");
    }
});
