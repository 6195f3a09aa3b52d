//! Backend selection when io_uring is blocked the way a container blocks it:
//! the child installs a seccomp filter that makes io_uring_setup fail with
//! EPERM (Docker's default profile) or ENOSYS (podman's) before it execs
//! vastar. Auto must fall back to the portable backend with a notice;
//! `--backend io-uring` must refuse with exit status 2.
#![allow(unsafe_code, reason = "installing a seccomp filter in the child under test")]
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// BPF: if arch matches and nr == io_uring_setup, return `errno`; else allow.
fn install_filter(errno: u32) -> std::io::Result<()> {
    let stmt = |code: u16, k: u32| libc::sock_filter { code, jt: 0, jf: 0, k };
    let jump = |code: u16, k: u32, jt: u8, jf: u8| libc::sock_filter { code, jt, jf, k };
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let filter = [
        stmt(LD_W_ABS, 4), // seccomp_data.arch
        jump(JEQ_K, AUDIT_ARCH, 0, 3),
        stmt(LD_W_ABS, 0), // seccomp_data.nr
        jump(JEQ_K, libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(RET_K, libc::SECCOMP_RET_ERRNO | errno),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut libc::sock_filter };
    // SAFETY: prctl with a program that lives on this stack frame for the
    // duration of the call; the kernel copies the filter.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const libc::sock_fprog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn vastar(args: &[&str], block_with: Option<i32>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vastar"));
    command.args(args);
    if let Some(errno) = block_with {
        // SAFETY: the closure runs between fork and exec and only calls prctl.
        unsafe { command.pre_exec(move || install_filter(errno as u32)) };
    }
    command.output().expect("vastar runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn auto_falls_back_to_portable_with_a_notice_when_io_uring_is_blocked() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        let out = vastar(&["--demo", "-n", "300", "-c", "10"], Some(errno));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "errno {errno}: {stderr}");
        assert!(stdout.contains("Backend:      portable (tokio)"), "{stdout}");
        assert!(stdout.contains("[200] 300 responses"), "{stdout}");
        let notice: Vec<&str> = stderr.lines().filter(|l| l.contains("io_uring is not usable here")).collect();
        assert_eq!(notice.len(), 1, "one notice line: {stderr}");
        assert!(notice[0].contains("seccomp") && notice[0].contains("io_uring_setup"), "{}", notice[0]);
    }
}

#[test]
fn asking_for_io_uring_when_blocked_is_refused_with_status_2() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        let out = vastar(&["--demo", "-n", "10", "-c", "1", "--backend", "io-uring"], Some(errno));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("vastar: --backend io-uring: io_uring is not usable here"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1);
    }
}

#[test]
fn io_uring_is_chosen_where_it_works() {
    if !common::io_uring_usable() {
        return;
    }
    let out = vastar(&["--demo", "-n", "300", "-c", "10"], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("Backend:      io_uring ("), "{stdout}");
    assert!(out.stderr.iter().all(|_| !text(&out.stderr).contains("not usable")));
    let out = vastar(&["--demo", "-n", "300", "-c", "10", "--backend", "portable"], None);
    assert!(text(&out.stdout).contains("Backend:      portable (tokio)"));
}
