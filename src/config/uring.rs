//! `--io-uring-without`: io_uring features to leave unused although the
//! kernel has them, so that what an older kernel gives (Linux 6.1-6.11 have
//! neither minimum-wait nor incremental buffer rings) can be measured and
//! reproduced on a new one.

use super::{BackendChoice, ConfigError, invalid};

/// The io_uring features a run leaves off (all false: the kernel's best).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringWithout {
    /// Waits for several completions bounded by a minimum time ("batched waits").
    pub min_wait: bool,
    /// Incremental consumption of the receive buffers.
    pub incremental: bool,
    /// Multishot receives over a buffer ring (single-shot receives instead).
    pub multishot: bool,
    /// The SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN setup flags.
    pub defer_taskrun: bool,
}

/// The names `--io-uring-without` takes, as the error lists them.
pub const NAMES: &[&str] = &["min-wait", "incremental", "multishot", "defer-taskrun"];

impl UringWithout {
    /// Parses the comma-separated `list` (`None`: the flag was not given;
    /// `""`: nothing off). Names may repeat; with `--backend portable` a
    /// name is refused, since that backend has no io_uring to hold back.
    pub fn parse(list: Option<&str>, backend: BackendChoice) -> Result<UringWithout, ConfigError> {
        const FLAG: &str = "--io-uring-without";
        let mut off = UringWithout::default();
        for name in list.unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "min-wait" => off.min_wait = true,
                "incremental" => off.incremental = true,
                "multishot" => off.multishot = true,
                "defer-taskrun" => off.defer_taskrun = true,
                other => {
                    let known = NAMES.join(", ");
                    return Err(invalid(FLAG, format!("{other:?} is not an io_uring feature; use {known}")));
                }
            }
        }
        if backend == BackendChoice::Portable && off != UringWithout::default() {
            return Err(invalid(FLAG, "applies to io_uring only; leave it out with --backend portable"));
        }
        Ok(off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without(min_wait: bool, incremental: bool, multishot: bool, defer_taskrun: bool) -> UringWithout {
        UringWithout { min_wait, incremental, multishot, defer_taskrun }
    }

    #[test]
    fn lists_name_the_features_left_off() {
        let cases: &[(Option<&str>, UringWithout)] = &[
            (None, UringWithout::default()),
            (Some(""), UringWithout::default()),
            (Some(","), UringWithout::default()),
            (Some("min-wait"), without(true, false, false, false)),
            (Some("min-wait,incremental"), without(true, true, false, false)),
            (Some(" incremental , min-wait "), without(true, true, false, false)),
            (Some("multishot"), without(false, false, true, false)),
            (Some("defer-taskrun"), without(false, false, false, true)),
            (Some("min-wait,min-wait"), without(true, false, false, false)),
            (Some("defer-taskrun,multishot,incremental,min-wait"), without(true, true, true, true)),
        ];
        for &(list, want) in cases {
            for backend in [BackendChoice::Auto, BackendChoice::IoUring] {
                assert_eq!(UringWithout::parse(list, backend), Ok(want), "{list:?} {backend:?}");
            }
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        for (list, bad) in
            [("batched-waits", "\"batched-waits\""), ("min-wait,all", "\"all\""), ("MIN-WAIT", "\"MIN-WAIT\"")]
        {
            let err = UringWithout::parse(Some(list), BackendChoice::Auto).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "--io-uring-without: {bad} is not an io_uring feature; use min-wait, incremental, multishot, defer-taskrun"
                ),
                "{list}"
            );
        }
    }

    #[test]
    fn the_portable_backend_takes_no_names() {
        let err = UringWithout::parse(Some("min-wait"), BackendChoice::Portable).unwrap_err().to_string();
        assert_eq!(err, "--io-uring-without: applies to io_uring only; leave it out with --backend portable");
        assert_eq!(UringWithout::parse(Some(""), BackendChoice::Portable), Ok(UringWithout::default()));
        assert_eq!(UringWithout::parse(None, BackendChoice::Portable), Ok(UringWithout::default()));
    }
}
