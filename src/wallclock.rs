//! Wall-clock instants as text: RFC 3339 timestamps (`2026-11-28T06:46:05Z`,
//! with fractions and offsets) and unix seconds, both ways, for `--start-at`
//! and the start and end times of a result file. Written out here because
//! the conversion is two short, well-known calendar formulas (days from a
//! civil date and back, H. Hinnant's algorithms), not worth a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write (four-digit years).
const LAST_SECOND: Duration = Duration::from_secs(253_402_300_799);

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `t` as an RFC 3339 UTC timestamp with microseconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let micros = since.subsec_micros();
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", s / 3600, s / 60 % 60, s % 60)
}

/// Nanoseconds since the unix epoch (0 before it).
pub fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The instant `ns` nanoseconds after the unix epoch.
pub fn from_unix_ns(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Parses unix seconds (`1764312365`, `1764312365.25`) or an RFC 3339
/// timestamp (`2026-11-28T06:46:05Z`, `2026-11-28T07:46:05.5+01:00`).
pub fn parse(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
        let too_far = || format!("{text:?} is too far in the future to be a time (past the year 9999)");
        let since = Duration::try_from_secs_f64(secs).map_err(|_| too_far())?;
        if since > LAST_SECOND {
            return Err(too_far());
        }
        return UNIX_EPOCH.checked_add(since).ok_or_else(too_far);
    }
    parse_rfc3339(text)
}

fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "{text:?} is neither unix seconds nor an RFC 3339 time such as 2026-11-28T06:46:05Z or 2026-11-28T07:46:05+01:00"
        )
    };
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<u32, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let padded = format!("{:0<9}", &fraction[..digits.min(9)]);
        nanos = padded.parse().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let (oh, om) = (num(text.len() - 5..text.len() - 3)?, num(text.len() - 2..text.len())?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * i64::from(oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s.min(59)) - offset_secs;
    let secs = u64::try_from(secs).map_err(|_| format!("{text:?} is before 1970"))?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn timestamps_and_unix_seconds_parse() {
        let cases = [
            ("1970-01-01T00:00:00Z", at(0, 0)),
            ("2026-11-28T06:46:05Z", at(1_795_848_365, 0)),
            ("2026-11-28T06:46:05.25Z", at(1_795_848_365, 250_000_000)),
            ("2026-11-28t07:46:05.000000001+01:00", at(1_795_848_365, 1)),
            ("2026-11-27T22:46:05-08:00", at(1_795_848_365, 0)),
            ("2000-02-29T12:00:00Z", at(951_825_600, 0)),
            ("1795848365", at(1_795_848_365, 0)),
            ("1795848365.5", at(1_795_848_365, 500_000_000)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_times_are_refused() {
        for text in [
            "",
            "soon",
            "2026-11-28",
            "2026-11-28T06:46:05",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T06:46:05.Z",
            "2026-11-28T06:46:05+1:00",
            "1.2.3",
            "-5",
            "99999999999999999999",
            "253402300800",
            "1e400",
            "2026-11-30T00:00:00é00:0",
            "2026-11-30T00:00:00+é:00",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn formatting_round_trips_at_microsecond_precision() {
        for secs in [0u64, 951_825_600, 1_795_848_365, 4_102_444_800] {
            let t = at(secs, 123_456_000);
            let text = format_rfc3339(t);
            assert_eq!(parse(&text), Ok(t), "{text}");
        }
        assert_eq!(format_rfc3339(at(1_795_848_365, 0)), "2026-11-28T06:46:05.000000Z");
        assert_eq!(unix_ns(from_unix_ns(42)), 42);
    }
}
