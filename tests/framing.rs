//! Response framing on the wire (RFC 9112 §6.3), one scripted server per
//! case, on every backend: what is counted, and whether the connection is
//! reused. Each case is also served one byte per write.

mod common;

use common::{Reply, Scripted, accounted, config, each_backend, run};
use vastar::stats::ErrorKind;

#[derive(Clone, Copy)]
enum Close {
    /// Keep the connection open after the response.
    Keep,
    /// Close it (FIN) after the response.
    Fin,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Every request succeeds with this status and body size; `reuse` says
    /// whether one connection per slot was enough.
    Ok {
        status: u16,
        body: u64,
        reuse: bool,
    },
    Err(ErrorKind),
}

struct Case {
    name: &'static str,
    method: &'static str,
    response: &'static [u8],
    close: Close,
    expect: Expect,
}

const fn ok(status: u16, body: u64, reuse: bool) -> Expect {
    Expect::Ok { status, body, reuse }
}

const CASES: &[Case] = &[
    Case {
        name: "content-length",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        close: Close::Keep,
        expect: ok(200, 5, true),
    },
    Case {
        name: "chunked with extensions and trailers",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        close: Close::Keep,
        expect: ok(200, 11, true),
    },
    Case {
        name: "interim 100 and 103 before the final response",
        method: "GET",
        response: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        close: Close::Keep,
        expect: ok(200, 2, true),
    },
    Case {
        name: "204 ignores Content-Length",
        method: "GET",
        response: b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        close: Close::Keep,
        expect: ok(204, 0, true),
    },
    Case {
        name: "304 ignores Transfer-Encoding",
        method: "GET",
        response: b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        close: Close::Keep,
        expect: ok(304, 0, true),
    },
    Case {
        name: "HEAD response has no body",
        method: "HEAD",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        close: Close::Keep,
        expect: ok(200, 0, true),
    },
    Case {
        name: "TE and CL: framed by TE, connection not reused",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        close: Close::Keep,
        expect: ok(200, 3, false),
    },
    Case {
        name: "no length: body until close",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
        close: Close::Fin,
        expect: ok(200, 13, false),
    },
    Case {
        name: "HTTP/1.0 without keep-alive is not reused",
        method: "GET",
        response: b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        close: Close::Keep,
        expect: ok(200, 2, false),
    },
    Case {
        name: "HTTP/1.0 with keep-alive is reused",
        method: "GET",
        response: b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        close: Close::Keep,
        expect: ok(200, 2, true),
    },
    Case {
        name: "garbage",
        method: "GET",
        response: b"<html>not http</html>",
        close: Close::Keep,
        expect: Expect::Err(ErrorKind::InvalidResponse),
    },
    Case {
        name: "HTTP/0.9 body then close",
        method: "GET",
        response: b"hello",
        close: Close::Fin,
        expect: Expect::Err(ErrorKind::InvalidResponse),
    },
    Case {
        name: "status out of range",
        method: "GET",
        response: b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        close: Close::Keep,
        expect: Expect::Err(ErrorKind::InvalidResponse),
    },
    Case {
        name: "conflicting Content-Length",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        close: Close::Keep,
        expect: Expect::Err(ErrorKind::InvalidResponse),
    },
    Case {
        name: "chunk size overflow",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nf0000000000000003\r\n",
        close: Close::Keep,
        expect: Expect::Err(ErrorKind::InvalidResponse),
    },
    Case {
        name: "body shorter than Content-Length",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        close: Close::Fin,
        expect: Expect::Err(ErrorKind::Incomplete),
    },
    Case {
        name: "chunked without the last chunk",
        method: "GET",
        response: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        close: Close::Fin,
        expect: Expect::Err(ErrorKind::Incomplete),
    },
    Case {
        name: "closed before any byte on a fresh connection",
        method: "GET",
        response: b"",
        close: Close::Fin,
        expect: Expect::Err(ErrorKind::ClosedBeforeResponse),
    },
];

const N: u64 = 6;
const C: u64 = 2;

fn check(case: &Case, drip: bool, backend: &'static dyn vastar::engine::Backend) {
    let (bytes, close) = (case.response.to_vec(), case.close);
    let server = Scripted::start(move |_| match (close, drip) {
        (Close::Keep, false) => Reply::Send(bytes.clone()),
        (Close::Fin, false) => Reply::SendClose(bytes.clone()),
        (close, true) => Reply::Drip(bytes.clone(), matches!(close, Close::Fin)),
    });
    let label = format!("{} ({})", case.name, if drip { "one byte per write" } else { "whole" });
    let outcome =
        run(config(&["-n", &N.to_string(), "-c", &C.to_string(), "-m", case.method], &server.url("/")), backend);
    match case.expect {
        Expect::Ok { status, body, reuse } => {
            assert_eq!(accounted(&outcome), (N, 0, 0), "{label}");
            assert_eq!(outcome.stats.statuses().collect::<Vec<_>>(), vec![(status, N)], "{label}");
            assert_eq!(outcome.stats.body_bytes, body * N, "{label}");
            // Without reuse every request needs a connection of its own; a
            // pre-opened one stays unused when another worker took its tickets.
            let connections = server.connections() as u64;
            if reuse {
                assert_eq!(connections, C, "{label}: connections");
            } else {
                assert!((N..=N + C).contains(&connections), "{label}: {connections} connections");
            }
        }
        Expect::Err(kind) => {
            assert_eq!(accounted(&outcome), (0, N, 0), "{label}");
            assert_eq!(outcome.stats.errors().collect::<Vec<_>>(), vec![(kind, N)], "{label}");
        }
    }
}

#[test]
fn every_framing_case_whole_and_byte_by_byte() {
    each_backend(|backend| {
        for case in CASES {
            check(case, false, backend);
            check(case, true, backend);
        }
    });
}

#[test]
fn a_head_over_64_kib_is_refused() {
    each_backend(|backend| {
        let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..20_000 {
            response.extend_from_slice(format!("X-Filler-{i}: value\r\n").as_bytes());
        }
        response.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let server = Scripted::start(move |_| Reply::Send(response.clone()));
        let outcome = run(config(&["-n", "4", "-c", "2"], &server.url("/")), backend);
        assert_eq!(outcome.stats.errors().collect::<Vec<_>>(), vec![(ErrorKind::HeadTooLarge, 4)]);
    });
}
