//! Facts about the terminal the output goes to: is it one, how wide is it,
//! may we use colors and non-ASCII characters.
//!
//! Kept apart so the renderers stay pure functions of a [`Style`] that tests
//! can set by hand.
#![allow(unsafe_code, reason = "terminal size (ioctl)")]

use std::io::IsTerminal;

/// How output may look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// ANSI colors (256-color palette) may be used.
    pub color: bool,
    /// Block characters may be used (the locale is UTF-8).
    pub unicode: bool,
    /// Columns available.
    pub width: usize,
}

/// Width assumed when the output is not a terminal.
pub const DEFAULT_WIDTH: usize = 80;

impl Style {
    /// Plain ASCII without colors, 80 columns: what a pipe or a file gets.
    pub fn plain() -> Style {
        Style { color: false, unicode: false, width: DEFAULT_WIDTH }
    }

    /// The style for stdout: colors only on a terminal and without NO_COLOR
    /// (any value) or `--no-color`.
    pub fn for_stdout(no_color_flag: bool) -> Style {
        Style::for_fd(std::io::stdout().is_terminal(), libc::STDOUT_FILENO, no_color_flag)
    }

    /// As [`Style::for_stdout`], for a report written to stderr.
    pub fn for_stderr(no_color_flag: bool) -> Style {
        Style::for_fd(std::io::stderr().is_terminal(), libc::STDERR_FILENO, no_color_flag)
    }

    fn for_fd(tty: bool, fd: libc::c_int, no_color_flag: bool) -> Style {
        Style {
            color: tty && !no_color_flag && std::env::var_os("NO_COLOR").is_none(),
            unicode: locale_is_utf8(),
            width: if tty { width(fd).unwrap_or(DEFAULT_WIDTH) } else { DEFAULT_WIDTH },
        }
    }

    /// Wraps `text` in a 256-color foreground escape when colors are on.
    pub fn paint(&self, color: u8, text: &str) -> String {
        if self.color { format!("\x1b[38;5;{color}m{text}\x1b[0m") } else { text.to_string() }
    }

    /// Bold, when colors are on.
    pub fn bold(&self, text: &str) -> String {
        if self.color { format!("\x1b[1m{text}\x1b[0m") } else { text.to_string() }
    }
}

/// Does the locale (LC_ALL, then LC_CTYPE, then LANG, first one set) say UTF-8?
pub fn locale_is_utf8() -> bool {
    let value = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    value.contains("utf-8") || value.contains("utf8")
}

/// Columns of the terminal on `fd`, if it is one.
pub fn width(fd: libc::c_int) -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointed-to value, which
    // lives on this stack frame for the whole call; a bad fd only returns -1.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Is stderr a terminal (where the live progress bar may be drawn)?
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painting_is_a_no_op_without_colors() {
        let plain = Style::plain();
        assert_eq!(plain.paint(196, "x"), "x");
        assert_eq!(plain.bold("x"), "x");
        let color = Style { color: true, ..plain };
        assert_eq!(color.paint(196, "x"), "\x1b[38;5;196mx\x1b[0m");
        assert_eq!(color.bold("x"), "\x1b[1mx\x1b[0m");
    }

    #[test]
    fn a_pipe_has_no_width() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert_eq!(width(fds[1]), None);
        // SAFETY: both descriptors were just opened by pipe() and are closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
