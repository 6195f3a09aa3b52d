//! `--goodput`: the limits a request stays under to count as good, written
//! `ttft<200ms,tpot<50ms,e2e<5s` (any of the three, in any order; a bare
//! number is milliseconds, as vLLM's `--goodput` takes them).

use std::time::Duration;

use super::{ConfigError, invalid, parse_duration};
use crate::stats::Goodput;

const FLAG: &str = "--goodput";

/// Parses `--goodput`'s value.
pub fn parse(text: &str) -> Result<Goodput, ConfigError> {
    let mut goodput = Goodput::default();
    for limit in text.split(',').map(str::trim) {
        let Some((name, value)) = limit.split_once('<') else {
            return Err(invalid(
                FLAG,
                format!("{limit:?} is not NAME<DURATION; for example ttft<200ms,tpot<50ms,e2e<5s"),
            ));
        };
        let slot = match name.trim() {
            "ttft" => &mut goodput.ttft,
            "tpot" => &mut goodput.tpot,
            "e2e" | "e2el" => &mut goodput.e2e,
            other => return Err(invalid(FLAG, format!("{other:?} has no limit; use ttft, tpot or e2e"))),
        };
        if slot.is_some() {
            return Err(invalid(FLAG, format!("{} is limited twice", name.trim())));
        }
        let value = value.strip_prefix('=').unwrap_or(value);
        let limit = parse_duration(FLAG, value, Some(Duration::from_millis(1)))?;
        if limit.is_zero() {
            return Err(invalid(FLAG, format!("{limit:?}: no request stays under 0; give a limit above zero")));
        }
        *slot = Some(limit);
    }
    Ok(goodput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_written_and_errors_in_one_line() {
        let ms = Duration::from_millis;
        let all = parse("ttft<200ms, tpot<50,e2e<5s").unwrap();
        assert_eq!(all, Goodput { ttft: Some(ms(200)), tpot: Some(ms(50)), e2e: Some(ms(5000)) });
        assert_eq!(parse("e2el<=1.5s").unwrap(), Goodput { e2e: Some(ms(1500)), ..Goodput::default() });
        for (bad, says) in [
            ("ttft>200ms", "is not NAME<DURATION"),
            ("itl<5ms", "\"itl\" has no limit"),
            ("ttft<1s,ttft<2s", "limited twice"),
            ("ttft<", "empty duration"),
            ("ttft<0ms", "above zero"),
            ("", "is not NAME<DURATION"),
            ("ttft<5 parsecs", "--goodput"),
        ] {
            let message = parse(bad).unwrap_err().to_string();
            assert!(
                message.contains(says) && message.starts_with("--goodput") && !message.contains('\n'),
                "{bad}: {message}"
            );
        }
    }
}
