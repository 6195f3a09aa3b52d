//! Unit tests of the connection state machine, driven by hand with fake time.

use super::*;
use crate::http::RequestSpec;

fn template(method: &str, follow: bool) -> Template {
    let spec = RequestSpec {
        method: method.into(),
        target: "/start".into(),
        defaults: vec![("Host".into(), "h:8080".into())],
        user: vec![],
        body: Bytes::new(),
    };
    Template::new(std::sync::Arc::new(crate::http::Pool::single(spec.build())), true, follow, "h".into(), 8080)
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn finished(action: Action) -> Finished {
    match action {
        Action::Finish(f) => f,
        other => panic!("expected Finish, got {other:?}"),
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A machine on an open connection that has sent its request.
fn awaiting_response(t: &Template, t0: Instant) -> Exchange {
    let mut ex = Exchange::new(true, t0);
    ex.begin(0, t0, t0, t);
    ex.on_sent(Ok(()), t0, t);
    ex
}

#[test]
fn a_fresh_slot_connects_sends_and_records_phases() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = Exchange::new(false, t0);
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    assert_eq!(ex.on_connect(Ok(()), ms(t0, 1)), Action::Send);
    assert_eq!(ex.request(&t), &t.pool.entry(0).bytes[..]);
    assert_eq!(ex.on_sent(Ok(()), ms(t0, 2), &t), Action::Recv);
    assert_eq!(ex.on_data(&OK[..10], ms(t0, 5), &t), Action::Recv);
    let f = finished(ex.on_data(&OK[10..], ms(t0, 9), &t));
    assert!(f.keep_conn);
    let r = f.record;
    assert_eq!(r.result, Ok(200));
    assert_eq!(
        (r.latency, r.write, r.wait, r.read),
        (Duration::from_millis(9), Some(Duration::from_millis(1)), Duration::from_millis(3), Duration::from_millis(4))
    );
    assert_eq!((r.wire_bytes, r.body_bytes, r.queued), (OK.len() as u64, 2, Duration::ZERO));
    // The next request reuses the connection.
    assert_eq!(ex.begin(0, ms(t0, 10), ms(t0, 10), &t), Action::Send);
}

#[test]
fn a_stale_keep_alive_connection_is_retried_once_for_get() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    assert!(finished(ex.on_data(OK, t0, &t)).keep_conn);
    // The server closed the idle connection: EOF before any byte.
    ex.begin(0, t0, t0, &t);
    ex.on_sent(Ok(()), t0, &t);
    assert_eq!(ex.on_eof(t0, &t), Action::Connect);
    ex.on_connect(Ok(()), t0);
    ex.on_sent(Ok(()), t0, &t);
    // A fresh connection that closes at once is a real error.
    assert_eq!(finished(ex.on_eof(t0, &t)).record.result, Err(ErrorKind::ClosedBeforeResponse));
}

#[test]
fn a_reset_on_reuse_is_retried_but_not_for_post() {
    for (method, retried) in [("GET", true), ("POST", false)] {
        let t = template(method, true);
        let t0 = Instant::now();
        let mut ex = awaiting_response(&t, t0);
        ex.on_data(OK, t0, &t);
        ex.begin(0, t0, t0, &t);
        let action = ex.on_sent(Err(ErrorKind::Reset), t0, &t);
        assert_eq!(action == Action::Connect, retried, "{method}");
    }
}

#[test]
fn no_retry_after_part_of_the_response_arrived() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    ex.on_data(OK, t0, &t);
    ex.begin(0, t0, t0, &t);
    ex.on_sent(Ok(()), t0, &t);
    ex.on_data(b"HTTP/1.1 2", t0, &t);
    let f = finished(ex.on_recv_error(ErrorKind::Reset, t0, &t));
    assert_eq!((f.record.result, f.keep_conn, f.record.wire_bytes), (Err(ErrorKind::Reset), false, 10));
}

#[test]
fn redirects_on_the_same_origin_are_followed_and_counted_once() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ex.on_data(redirect, t0, &t), Action::Send);
    assert!(ex.request(&t).starts_with(b"GET /moved HTTP/1.1\r\n"));
    ex.on_sent(Ok(()), t0, &t);
    let f = finished(ex.on_data(OK, t0, &t));
    assert_eq!(f.record.result, Ok(200));
    assert_eq!(f.record.wire_bytes, (redirect.len() + OK.len()) as u64);
    // The next request starts from the original target again.
    ex.begin(0, t0, t0, &t);
    assert!(ex.request(&t).starts_with(b"GET /start HTTP/1.1\r\n"));
}

#[test]
fn redirect_loops_stop_after_ten_hops() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = Exchange::new(true, t0);
    ex.begin(0, t0, t0, &t);
    let redirect = b"HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n";
    for _ in 0..MAX_REDIRECTS {
        ex.on_sent(Ok(()), t0, &t);
        assert_eq!(ex.on_data(redirect, t0, &t), Action::Send);
    }
    ex.on_sent(Ok(()), t0, &t);
    assert_eq!(finished(ex.on_data(redirect, t0, &t)).record.result, Err(ErrorKind::TooManyRedirects));
}

#[test]
fn redirects_are_counted_as_is_when_disabled_or_off_origin() {
    let t0 = Instant::now();
    let cases: &[(bool, &[u8])] = &[
        (false, b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n"),
        (true, b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n"),
        (true, b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"),
    ];
    for &(follow, response) in cases {
        let t = template("GET", follow);
        let mut ex = awaiting_response(&t, t0);
        assert_eq!(finished(ex.on_data(response, t0, &t)).record.result, Ok(302));
    }
}

#[test]
fn a_closing_response_reconnects_for_the_next_request() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    let f = finished(ex.on_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", t0, &t));
    assert_eq!((f.record.result, f.keep_conn), (Ok(200), false));
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
}

#[test]
fn parse_errors_and_timeouts_close_the_connection() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    let f = finished(ex.on_data(b"garbage", t0, &t));
    assert_eq!((f.record.result, f.keep_conn), (Err(ErrorKind::InvalidResponse), false));
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    assert_eq!(finished(ex.on_timeout(ms(t0, 20))).record.result, Err(ErrorKind::ConnectTimeout));
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    ex.on_connect(Ok(()), t0);
    ex.on_sent(Ok(()), t0, &t);
    let f = finished(ex.on_timeout(ms(t0, 20)));
    assert_eq!(
        (f.record.result, f.record.latency, f.keep_conn),
        (Err(ErrorKind::Timeout), Duration::from_millis(20), false)
    );
}

#[test]
fn connect_failures_back_off_up_to_a_cap() {
    let t = template("GET", false);
    let t0 = Instant::now();
    let mut ex = Exchange::new(false, t0);
    assert_eq!(ex.backoff(), None);
    let mut waits = vec![];
    for _ in 0..12 {
        ex.begin(0, t0, t0, &t);
        ex.on_connect(Err(ErrorKind::ConnectRefused), t0);
        waits.push(ex.backoff().unwrap().as_millis());
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 500, 500]);
    ex.begin(0, t0, t0, &t);
    ex.on_connect(Ok(()), t0);
    assert_eq!(ex.backoff(), None);
}

#[test]
fn head_requests_expect_no_body() {
    let t = template("HEAD", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    let f = finished(ex.on_data(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", t0, &t));
    assert_eq!((f.record.result, f.record.body_bytes, f.keep_conn), (Ok(200), 0, true));
}

#[test]
fn a_late_start_is_queued_time_and_a_timeout_ends_at_its_limit() {
    let t = template("GET", true);
    let t0 = Instant::now();
    // Meant to start at t0, started 30 ms late (no connection was free).
    let mut ex = Exchange::new(true, t0);
    ex.begin(0, t0, ms(t0, 30), &t);
    ex.on_sent(Ok(()), ms(t0, 31), &t);
    let r = finished(ex.on_data(OK, ms(t0, 35), &t)).record;
    assert_eq!((r.queued, r.latency), (Duration::from_millis(30), Duration::from_millis(5)));
    // The deadline counts from the intended start: queue + latency = the limit.
    ex.begin(0, ms(t0, 100), ms(t0, 180), &t);
    let r = finished(ex.on_timeout(ms(t0, 400))).record;
    assert_eq!(r.result, Err(ErrorKind::Timeout));
    assert_eq!(r.queued + r.latency, Duration::from_millis(300));
    // An intended start after the actual one is clamped (never negative).
    ex.begin(0, ms(t0, 900), ms(t0, 500), &t);
    let r = finished(ex.on_timeout(ms(t0, 510))).record;
    assert_eq!(r.queued, Duration::ZERO);
}

/// A client machine and an in-memory rustls server that trusts each other.
fn tls_pair(t0: Instant) -> (Template, Exchange, rustls::ServerConnection) {
    use crate::tls::{TlsOptions, client_config, self_signed, server_config};
    let made = self_signed(std::time::SystemTime::now()).unwrap();
    let identity = made.identity();
    let server = rustls::ServerConnection::new(server_config(identity, None).unwrap()).unwrap();
    let options = TlsOptions { ca_pem: Some(made.cert_pem().into_bytes()), ..TlsOptions::default() };
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let target = TlsTarget { config: client_config(&options).unwrap(), server: server_name, resume: false };
    let ex = Exchange::new(false, t0).with_tls(Some(target.clone()));
    (template("GET", true).with_tls(target), ex, server)
}

/// Carries the machine's sends to the server and the server's answers back
/// until the machine finishes or reports the connection open.
fn pump(ex: &mut Exchange, server: &mut rustls::ServerConnection, t: &Template, mut action: Action) -> Action {
    let now = Instant::now();
    for _ in 0..16 {
        action = match action {
            Action::Send => {
                let Outgoing::Bytes(bytes) = ex.outgoing(t) else { panic!("TLS sends ciphertext") };
                server.read_tls(&mut &bytes[..]).unwrap();
                server.process_new_packets().unwrap();
                ex.on_sent(Ok(()), now, t)
            }
            Action::Recv => {
                let mut reply = Vec::new();
                let mut plain = [0u8; 1024];
                if let Ok(n) = std::io::Read::read(&mut server.reader(), &mut plain) {
                    assert!(plain[..n].starts_with(b"GET /start HTTP/1.1\r\n"), "the server reads the request");
                    std::io::Write::write_all(&mut server.writer(), OK).unwrap();
                }
                server.write_tls(&mut reply).unwrap();
                assert!(!reply.is_empty(), "the machine waits only for what the server has sent");
                ex.on_data(&reply, now, t)
            }
            end => return end,
        };
    }
    panic!("no end after 16 steps")
}

#[test]
fn over_tls_a_connection_is_opened_secured_and_then_carries_requests() {
    let t0 = Instant::now();
    let (t, mut ex, mut server) = tls_pair(t0);
    assert_eq!(ex.open(t0), Action::Connect);
    let action = ex.on_connect(Ok(()), t0);
    let Action::Opened(opened) = pump(&mut ex, &mut server, &t, action) else { panic!("opened") };
    assert_eq!(opened.result, Ok(()));
    let handshake = opened.handshake.expect("the handshake is reported with the opening");
    assert_eq!((handshake.version, handshake.resumed), ("TLS 1.3", false));
    // The server's session tickets arrive on the idle connection and are absorbed.
    let mut tickets = Vec::new();
    server.write_tls(&mut tickets).unwrap();
    assert!(ex.on_idle_data(&tickets), "TLS messages keep the connection usable");
    for _ in 0..3 {
        let action = ex.begin(0, t0, t0, &t);
        assert_eq!(action, Action::Send, "no new connection, no new handshake");
        let f = finished(pump(&mut ex, &mut server, &t, action));
        assert_eq!((f.record.result, f.keep_conn, f.handshake), (Ok(200), true, None));
    }
    // Plaintext on an idle connection is not a TLS message: it is lost.
    std::io::Write::write_all(&mut server.writer(), b"surprise").unwrap();
    let mut stray = Vec::new();
    server.write_tls(&mut stray).unwrap();
    assert!(!ex.on_idle_data(&stray));
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
}

#[test]
fn over_tls_a_request_on_a_new_connection_carries_its_handshake_and_a_stall_is_a_connect_timeout() {
    let t0 = Instant::now();
    let (t, mut ex, mut server) = tls_pair(t0);
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    let action = ex.on_connect(Ok(()), t0);
    let f = finished(pump(&mut ex, &mut server, &t, action));
    assert_eq!(f.record.result, Ok(200));
    assert!(f.handshake.is_some(), "the request reports the handshake it waited for");
    let (_, mut stalled, _) = tls_pair(t0);
    stalled.begin(0, t0, t0, &t);
    assert_eq!(stalled.on_connect(Ok(()), ms(t0, 1)), Action::Send);
    assert_eq!(stalled.handshake_deadline(Some(Duration::from_secs(1))), Some(ms(t0, 1001)));
    assert_eq!(stalled.handshake_deadline(None), None);
    let f = finished(stalled.on_timeout(ms(t0, 1001)));
    assert_eq!((f.record.result, f.keep_conn), (Err(ErrorKind::ConnectTimeout), false));
    assert_eq!(stalled.handshake_deadline(Some(Duration::from_secs(1))), None, "no handshake in progress");
}

#[test]
fn over_tls_the_wait_ends_at_the_response_not_at_a_session_ticket() {
    let t0 = Instant::now();
    let (t, mut ex, mut server) = tls_pair(t0);
    let to_server = |ex: &mut Exchange, server: &mut rustls::ServerConnection| {
        let Outgoing::Bytes(bytes) = ex.outgoing(&t) else { panic!("TLS sends ciphertext") };
        server.read_tls(&mut &bytes[..]).unwrap();
        server.process_new_packets().unwrap();
    };
    let from_server = |server: &mut rustls::ServerConnection| {
        let mut out = Vec::new();
        server.write_tls(&mut out).unwrap();
        out
    };
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    assert_eq!(ex.on_connect(Ok(()), t0), Action::Send);
    to_server(&mut ex, &mut server);
    assert_eq!(ex.on_sent(Ok(()), t0, &t), Action::Recv);
    assert_eq!(ex.on_data(&from_server(&mut server), t0, &t), Action::Send, "handshake done: the request goes");
    to_server(&mut ex, &mut server);
    assert_eq!(ex.on_sent(Ok(()), ms(t0, 1), &t), Action::Recv);
    let tickets = from_server(&mut server);
    assert!(!tickets.is_empty());
    assert_eq!(ex.on_data(&tickets, ms(t0, 2), &t), Action::Recv, "tickets are no response");
    std::io::Write::write_all(&mut server.writer(), OK).unwrap();
    let f = finished(ex.on_data(&from_server(&mut server), ms(t0, 5), &t));
    assert_eq!((f.record.result, f.record.wait), (Ok(200), Duration::from_millis(4)));
}

#[test]
fn the_low_water_mark_follows_the_body_still_due_and_returns_to_one() {
    let t = template("GET", true);
    let t0 = Instant::now();
    let mut ex = awaiting_response(&t, t0);
    assert_eq!(ex.low_water_change(), None, "nothing due before the head: 1 byte, as set");
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 600000\r\n\r\n";
    assert_eq!(ex.on_data(head, t0, &t), Action::Recv);
    assert_eq!(ex.low_water_change(), Some(256 * 1024), "capped");
    assert_eq!(ex.low_water_change(), None, "asked for once");
    assert_eq!(ex.on_data(&vec![b'x'; 500_000], t0, &t), Action::Recv);
    assert_eq!(ex.low_water_change(), Some(100_000), "exactly what is left of a plain body");
    assert_eq!(ex.on_data(&[b'x'; 40_000], t0, &t), Action::Recv);
    assert_eq!(ex.low_water_change(), Some(1), "below 64 KiB a wake-up per segment is cheaper");
    assert!(finished(ex.on_data(&[b'x'; 60_000], t0, &t)).keep_conn);
    ex.begin(0, t0, t0, &t);
    ex.on_sent(Ok(()), t0, &t);
    assert_eq!(ex.low_water_change(), None, "the next response starts at 1 byte");
    // Chunked bodies give no length: no watermark.
    let mut ex = awaiting_response(&t, t0);
    ex.on_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n", t0, &t);
    assert_eq!(ex.low_water_change(), None);
}

#[test]
fn over_tls_the_low_water_mark_leaves_room_for_a_record_held_in_the_session() {
    let t0 = Instant::now();
    let (t, mut ex, mut server) = tls_pair(t0);
    assert_eq!(ex.begin(0, t0, t0, &t), Action::Connect);
    let mut action = ex.on_connect(Ok(()), t0);
    for _ in 0..4 {
        action = match action {
            Action::Send => {
                let Outgoing::Bytes(bytes) = ex.outgoing(&t) else { panic!("ciphertext") };
                server.read_tls(&mut &bytes[..]).unwrap();
                server.process_new_packets().unwrap();
                ex.on_sent(Ok(()), t0, &t)
            }
            Action::Recv => {
                let mut flight = Vec::new();
                server.write_tls(&mut flight).unwrap();
                ex.on_data(&flight, t0, &t)
            }
            other => panic!("{other:?}"),
        };
    }
    assert_eq!(action, Action::Recv, "the request is out");
    std::io::Write::write_all(&mut server.writer(), b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n").unwrap();
    let mut head = Vec::new();
    server.write_tls(&mut head).unwrap();
    assert_eq!(ex.on_data(&head, t0, &t), Action::Recv);
    assert_eq!(ex.low_water_change(), Some(200_000 - 17 * 1024));
}

#[test]
fn pooled_requests_are_picked_by_number_and_seq_survives_a_redirect() {
    use crate::http::{Entry, Pool};
    let entries = vec![
        Entry::new(Bytes::from_static(b"GET /a HTTP/1.1\r\nHost: h:8080\r\n\r\n"), 0),
        Entry::with_seq(
            Bytes::from_static(b"POST /b/000 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n000"),
            b"POST /b/999 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n999",
            3,
            1,
        ),
    ];
    let t = Template::new(std::sync::Arc::new(Pool::new(entries, 3, 2)), true, true, "h".into(), 8080);
    let t0 = Instant::now();
    let mut ex = Exchange::new(true, t0);
    ex.begin(4, t0, t0, &t);
    assert_eq!(ex.outgoing(&t), Outgoing::Request(0));
    ex.on_sent(Ok(()), t0, &t);
    assert_eq!(finished(ex.on_data(OK, t0, &t)).target, 0);
    ex.begin(7, t0, t0, &t);
    let Outgoing::Bytes(sent) = ex.outgoing(&t) else { panic!("a request with {{{{seq}}}} is this connection's copy") };
    assert_eq!(&sent[..], b"POST /b/007 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n007");
    ex.on_sent(Ok(()), t0, &t);
    let redirect = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /c\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ex.on_data(redirect, t0, &t), Action::Send);
    assert_eq!(ex.request(&t), b"POST /c HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n007");
    ex.on_sent(Ok(()), t0, &t);
    let f = finished(ex.on_data(OK, t0, &t));
    assert_eq!((f.record.result, f.target), (Ok(200), 1));
    drop(sent);
    ex.begin(9, t0, t0, &t);
    assert!(ex.request(&t).ends_with(b"\r\n\r\n009"), "the copy is rewritten for the next number");
}

/// Time to first byte: from the intended start to the first byte of the
/// last hop's body, or to the end of the head of a response without one;
/// no value for a failure.
#[test]
fn the_time_to_the_first_body_byte_is_the_ttfb_metric() {
    let ttfb = |r: &Record| r.metrics.get(crate::stats::metrics::TTFB).map(Duration::from_nanos);
    let (t, t0) = (template("GET", true), Instant::now());
    // Meant to start at t0, sent at 10 ms; the head at 20 ms, the body at 50 ms.
    let mut ex = Exchange::new(true, t0);
    ex.begin(0, t0, ms(t0, 10), &t);
    ex.on_sent(Ok(()), ms(t0, 10), &t);
    let head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(ex.on_data(head, ms(t0, 20), &t), Action::Recv);
    assert_eq!(ex.on_data(b"o", ms(t0, 50), &t), Action::Recv);
    let r = finished(ex.on_data(b"k", ms(t0, 60), &t)).record;
    assert_eq!((ttfb(&r), r.latency), (Some(Duration::from_millis(50)), Duration::from_millis(50)));
    // After a redirect, the last response's body counts.
    let mut ex = awaiting_response(&t, t0);
    ex.on_data(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 1\r\n\r\nx", ms(t0, 5), &t);
    ex.on_sent(Ok(()), ms(t0, 6), &t);
    assert_eq!(ttfb(&finished(ex.on_data(OK, ms(t0, 9), &t)).record), Some(Duration::from_millis(9)));
    // Without a body (204, HEAD, Content-Length: 0, or an empty body framed
    // by the close): when the head (or the close) came.
    for (method, head, end_by_close) in [
        ("GET", &b"HTTP/1.1 204 No Content\r\n\r\n"[..], false),
        ("HEAD", &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"[..], false),
        ("GET", &b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..], false),
        ("GET", &b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"[..], true),
    ] {
        let t = template(method, true);
        let mut ex = awaiting_response(&t, t0);
        let action = ex.on_data(head, ms(t0, 7), &t);
        let r = if end_by_close { finished(ex.on_eof(ms(t0, 8), &t)).record } else { finished(action).record };
        let want = Duration::from_millis(if end_by_close { 8 } else { 7 });
        assert_eq!(ttfb(&r), Some(want), "{method} {}", String::from_utf8_lossy(head));
    }
    // A failure has none, even when part of the body came.
    let mut ex = awaiting_response(&t, t0);
    ex.on_data(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", ms(t0, 3), &t);
    assert_eq!(ttfb(&finished(ex.on_eof(ms(t0, 4), &t)).record), None);
}
