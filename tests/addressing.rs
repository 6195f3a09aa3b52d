//! Where connections go: IPv6 literal URLs on every backend, and `-4` /
//! `-6` keeping only the target's addresses of one family.

mod common;

use common::{Scripted, accounted, config, each_backend, refused_with_one_line, run, send, text, vastar};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn an_ipv6_literal_url_is_served_on_every_backend() {
    let server = Scripted::start_on("[::1]:0", |_| send(OK));
    let url = server.url("/");
    assert!(url.starts_with("http://[::1]:"), "{url}");
    each_backend(|backend| {
        for args in [&["-n", "200", "-c", "4"][..], &["-n", "200", "-c", "4", "-6"]] {
            let outcome = run(config(args, &url), backend);
            assert_eq!(accounted(&outcome), (200, 0, 0), "{args:?}");
        }
    });
    let seen = server.seen.lock().unwrap();
    assert!(seen.iter().all(|s| text(&s.bytes).contains(&format!("\r\nHost: [::1]:{}\r\n", server.addr.port()))));
}

#[test]
fn a_family_the_target_lacks_is_refused_with_one_line() {
    let server = Scripted::start(|_| send(OK));
    let out = vastar(&["-n", "10", "-c", "1", "-6", &server.url("/")]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end(), "vastar: 127.0.0.1: it has no IPv6 address (127.0.0.1 found); leave out -6");
    let out = vastar(&["-n", "10", "-c", "1", "-4", &server.url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    refused_with_one_line(&["-4", "-6"], "cannot be used with");
}
