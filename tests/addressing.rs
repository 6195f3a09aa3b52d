//! Where connections go: IPv6 literal URLs and Unix domain sockets on
//! every backend, and `-4` / `-6` keeping only the target's addresses of
//! one family.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// An HTTP server on a Unix socket at `path`: answers every request with
/// `OK` and records each request's head, by connection.
fn unix_server(path: &Path) -> Arc<Mutex<Vec<Vec<String>>>> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let index = {
                let mut seen = record.lock().unwrap();
                seen.push(Vec::new());
                seen.len() - 1
            };
            let record = record.clone();
            std::thread::spawn(move || serve_unix(stream, index, &record));
        }
    });
    seen
}

fn serve_unix(mut stream: UnixStream, index: usize, seen: &Mutex<Vec<Vec<String>>>) {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            seen.lock().unwrap()[index].push(text(&head));
            if stream.write_all(OK.as_bytes()).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vastar-{}-{name}.sock", std::process::id()))
}

#[test]
fn a_unix_socket_is_served_on_every_backend() {
    let path = socket_path("serve");
    let seen = unix_server(&path);
    each_backend(|backend| {
        seen.lock().unwrap().clear();
        let args = ["--unix-socket", path.to_str().unwrap(), "-n", "300", "-c", "4"];
        let outcome = run(config(&args, "http://localhost/x?y=1"), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4, "one connection per -c, opened once");
        let heads: Vec<&String> = seen.iter().flatten().collect();
        assert_eq!(heads.len(), 300);
        assert!(heads.iter().all(|h| h.starts_with("GET /x?y=1 HTTP/1.1\r\nHost: localhost\r\n")), "{}", heads[0]);
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unusable_unix_sockets_are_refused_with_one_line() {
    let missing = socket_path("missing");
    let file = socket_path("file");
    std::fs::write(&file, b"not a socket").unwrap();
    let long = format!("/tmp/{}.sock", "x".repeat(120));
    for (args, why) in [
        (vec!["--unix-socket", missing.to_str().unwrap()], "is the server listening on it?"),
        (vec!["--unix-socket", file.to_str().unwrap()], "is not a socket"),
        (vec!["--unix-socket", &long], "a socket path must be 1 to 103"),
        (vec!["--unix-socket", file.to_str().unwrap(), "--connect-to", "h:1"], "cannot be used with"),
    ] {
        refused_with_one_line(&args, why);
    }
    let _ = std::fs::remove_file(&file);
}
