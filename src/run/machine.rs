//! The machine a run ran on, for the result and the HTML report.
#![allow(unsafe_code, reason = "uname")]

use crate::result::MachineDoc;

/// Text of a NUL-terminated `utsname` field.
fn field(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// This machine: host name and kernel from uname(2), the rest from std.
pub fn this() -> MachineDoc {
    // SAFETY: utsname is plain old data (arrays of chars), so all zeroes is
    // a valid value; uname only writes into the struct it is given.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `names` is a valid, writable utsname for the call.
    let ok = unsafe { libc::uname(&mut names) } == 0;
    MachineDoc {
        hostname: if ok { field(&names.nodename) } else { String::new() },
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        kernel: if ok { field(&names.release) } else { String::new() },
        cpus: crate::engine::available_cpus(),
    }
}
