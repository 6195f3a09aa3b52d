//! Unit tests of the connection machine, driven by hand on made-up
//! instants: inputs in, I/O and events polled out.

use bytes::Bytes;

use super::*;
use crate::http::RequestSpec;

fn requests(method: &str, follow: bool) -> RequestSet {
    let spec = RequestSpec {
        method: method.into(),
        target: "/start".into(),
        defaults: vec![("Host".into(), "h:8080".into())],
        user: vec![],
        body: Bytes::new(),
    };
    RequestSet::new(std::sync::Arc::new(crate::http::Pool::single(spec.build())), true, follow, "h".into(), 8080)
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

/// Every I/O the machine asks for now.
fn io(c: &mut Connection, r: &RequestSet) -> Vec<Io> {
    std::iter::from_fn(|| c.poll_io(r)).collect()
}

/// Every event the machine has now.
fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// The one stream that ended now.
fn ended(c: &mut Connection) -> Finished {
    let mut ends = events(c).into_iter().filter_map(|e| match e {
        Event::Finished { finished, .. } => Some(finished),
        _ => None,
    });
    let finished = ends.next().expect("a stream ended");
    assert!(ends.next().is_none(), "one end per stream");
    finished
}

/// Whether the machine let its socket go.
fn closed(c: &mut Connection, r: &RequestSet) -> bool {
    io(c, r).contains(&Io::Close)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A machine whose plain connection was opened before any request.
fn connected(r: &RequestSet, t0: Instant, limits: Limits) -> Connection {
    let mut c = Connection::new(None, limits).with_progress_events();
    c.open(t0, ms(t0, 1000));
    assert_eq!(io(&mut c, r), [Io::Close, Io::Connect]);
    c.handle_connected(Ok(()), t0);
    assert_eq!(events(&mut c), [Event::Opened(Opened { result: Ok(()), handshake: None, tunnel: None })]);
    c
}

/// A machine on an open connection that has sent its request.
fn awaiting_response(r: &RequestSet, t0: Instant) -> Connection {
    let mut c = connected(r, t0, Limits::default());
    c.start(0, t0, t0, r);
    assert_eq!(io(&mut c, r).len(), 1, "the request goes at once");
    c.handle_sent(Ok(()), t0, r);
    c
}

/// A machine whose connection carried one response and has just
/// transmitted its second request.
fn reused(r: &RequestSet, t0: Instant) -> Connection {
    let mut c = awaiting_response(r, t0);
    c.handle_data(OK, t0, r);
    assert_eq!(ended(&mut c).record.result, Ok(200));
    c.start(0, t0, t0, r);
    assert_eq!(io(&mut c, r).len(), 1, "on the same connection");
    c
}

#[test]
fn a_fresh_slot_connects_sends_announces_and_records_phases() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = Connection::new(None, Limits::default()).with_progress_events();
    assert!(c.is_idle() && c.poll_timeout().is_none());
    let id = c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    c.handle_connected(Ok(()), ms(t0, 1));
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
    assert_eq!(c.request_bytes(&r), &r.pool.entry(0).bytes[..]);
    c.handle_sent(Ok(()), ms(t0, 2), &r);
    assert!(c.wants_receive());
    c.handle_data(&OK[..10], ms(t0, 5), &r);
    assert!(events(&mut c).is_empty(), "no head yet");
    c.handle_data(&OK[10..], ms(t0, 9), &r);
    let got = events(&mut c);
    assert_eq!(
        got[..2],
        [Event::Head { stream: id, status: 200, at: ms(t0, 9) }, Event::Body { stream: id, bytes: 2, at: ms(t0, 9) }]
    );
    let Event::Finished { stream, finished } = got[2] else { panic!("{got:?}") };
    assert_eq!((stream, got.len()), (id, 3));
    assert!(io(&mut c, &r).is_empty(), "the connection is kept");
    let rec = finished.record;
    assert_eq!(rec.result, Ok(200));
    assert_eq!(
        (rec.latency, rec.write, rec.wait, rec.read),
        (Duration::from_millis(9), Some(Duration::from_millis(1)), Duration::from_millis(3), Duration::from_millis(4))
    );
    assert_eq!((rec.wire_bytes, rec.body_bytes, rec.queued), (OK.len() as u64, 2, Duration::ZERO));
    // The next request reuses the connection, as a new stream.
    assert_eq!(c.start(0, ms(t0, 10), ms(t0, 10), &r), StreamId(1));
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
}

#[test]
fn body_progress_is_announced_as_it_arrives() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", ms(t0, 1), &r);
    c.handle_data(b"2\r\nde\r\n", ms(t0, 4), &r);
    c.handle_data(b"0\r\n\r\n", ms(t0, 6), &r);
    let s = StreamId(0);
    let got = events(&mut c);
    assert_eq!(
        got[..3],
        [
            Event::Head { stream: s, status: 200, at: ms(t0, 1) },
            Event::Body { stream: s, bytes: 3, at: ms(t0, 1) },
            Event::Body { stream: s, bytes: 2, at: ms(t0, 4) },
        ]
    );
    assert!(matches!(got[3], Event::Finished { stream: StreamId(0), .. }) && got.len() == 4);
}

#[test]
fn without_progress_events_only_the_end_is_announced() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = Connection::new(None, Limits::default());
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(OK, ms(t0, 3), &r);
    let got = events(&mut c);
    assert!(matches!(got[..], [Event::Finished { .. }]), "{got:?}");
}

#[test]
fn an_answer_before_the_send_is_reported_is_read_and_nothing_arrives_while_connecting() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = Connection::new(None, Limits::default());
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_data(b"stray", t0, &r);
    c.handle_eof(t0, &r);
    assert!(events(&mut c).is_empty() && io(&mut c, &r).is_empty(), "ignored while connecting");
    c.handle_connected(Ok(()), t0);
    io(&mut c, &r);
    c.handle_data(OK, ms(t0, 2), &r);
    let rec = ended(&mut c).record;
    assert_eq!((rec.result, rec.write), (Ok(200), None), "read as the answer; the write was not seen");
    c.handle_sent(Ok(()), ms(t0, 3), &r);
    assert!(events(&mut c).is_empty() && c.is_idle(), "a late report of the send changes nothing");
}

#[test]
fn a_stale_keep_alive_connection_is_retried_once_for_get() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = reused(&r, t0);
    // The server closed the idle connection: EOF before any byte.
    c.handle_sent(Ok(()), t0, &r);
    c.handle_eof(t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect], "retried on a new connection");
    assert!(events(&mut c).is_empty(), "not counted");
    c.handle_connected(Ok(()), t0);
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    // A fresh connection that closes at once is a real error.
    c.handle_eof(t0, &r);
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ClosedBeforeResponse));
    assert!(closed(&mut c, &r));
}

#[test]
fn a_reset_on_reuse_is_retried_but_not_for_post() {
    for (method, retried) in [("GET", true), ("POST", false)] {
        let r = requests(method, true);
        let t0 = Instant::now();
        let mut c = reused(&r, t0);
        c.handle_sent(Err(ErrorKind::Reset), t0, &r);
        assert_eq!(io(&mut c, &r).contains(&Io::Connect), retried, "{method}");
        assert_eq!(events(&mut c).is_empty(), retried, "{method}");
    }
}

#[test]
fn no_retry_after_part_of_the_response_arrived() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = reused(&r, t0);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(b"HTTP/1.1 2", t0, &r);
    c.handle_io_error(ErrorKind::Reset, t0, &r);
    let f = ended(&mut c);
    assert_eq!((f.record.result, f.record.wire_bytes), (Err(ErrorKind::Reset), 10));
    assert_eq!(io(&mut c, &r), [Io::Close]);
}

#[test]
fn redirects_on_the_same_origin_are_followed_and_counted_once() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = awaiting_response(&r, t0);
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n";
    c.handle_data(redirect, t0, &r);
    assert!(matches!(io(&mut c, &r)[..], [Io::Transmit(Outgoing::Bytes(_))]), "the hop goes on the same connection");
    assert!(c.request_bytes(&r).starts_with(b"GET /moved HTTP/1.1\r\n"));
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(OK, t0, &r);
    let f = ended(&mut c);
    assert_eq!(f.record.result, Ok(200));
    assert_eq!(f.record.wire_bytes, (redirect.len() + OK.len()) as u64);
    // The next request starts from the original target again.
    c.start(0, t0, t0, &r);
    assert!(c.request_bytes(&r).starts_with(b"GET /start HTTP/1.1\r\n"));
}

#[test]
fn redirect_loops_stop_after_ten_hops() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = connected(&r, t0, Limits::default());
    c.start(0, t0, t0, &r);
    let redirect = b"HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n";
    for _ in 0..MAX_REDIRECTS {
        assert_eq!(io(&mut c, &r).len(), 1);
        c.handle_sent(Ok(()), t0, &r);
        c.handle_data(redirect, t0, &r);
    }
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(redirect, t0, &r);
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::TooManyRedirects));
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
        let r = requests("GET", follow);
        let mut c = awaiting_response(&r, t0);
        c.handle_data(response, t0, &r);
        assert_eq!(ended(&mut c).record.result, Ok(302));
    }
}

#[test]
fn a_closing_response_reconnects_for_the_next_request() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", t0, &r);
    assert_eq!(ended(&mut c).record.result, Ok(200));
    assert_eq!(io(&mut c, &r), [Io::Close]);
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
}

#[test]
fn parse_errors_and_timeouts_close_the_connection() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let limits = Limits { request: Some(Duration::from_millis(20)), ..Limits::default() };
    let mut c = connected(&r, t0, limits);
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(b"garbage", t0, &r);
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::InvalidResponse));
    assert!(closed(&mut c, &r));
    // Timed out while connecting: a connect timeout.
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    assert_eq!(c.poll_timeout(), Some(ms(t0, 20)));
    c.handle_timeout(ms(t0, 19));
    assert!(events(&mut c).is_empty(), "not due yet");
    c.handle_timeout(ms(t0, 20));
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ConnectTimeout));
    assert!(closed(&mut c, &r));
    assert_eq!(c.poll_timeout(), None, "nothing in flight");
    // Timed out waiting for the response.
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_timeout(ms(t0, 25));
    let f = ended(&mut c);
    assert_eq!((f.record.result, f.record.latency), (Err(ErrorKind::Timeout), Duration::from_millis(25)));
    assert!(closed(&mut c, &r));
}

#[test]
fn connect_failures_back_off_up_to_a_cap() {
    let r = requests("GET", false);
    let t0 = Instant::now();
    let mut c = Connection::new(None, Limits::default());
    assert_eq!(c.backoff(), None);
    let mut waits = vec![];
    for _ in 0..12 {
        c.start(0, t0, t0, &r);
        io(&mut c, &r);
        c.handle_connected(Err(ErrorKind::ConnectRefused), t0);
        assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ConnectRefused));
        waits.push(c.backoff().unwrap().as_millis());
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 500, 500]);
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    assert_eq!(c.backoff(), None);
}

#[test]
fn head_requests_expect_no_body() {
    let r = requests("HEAD", true);
    let t0 = Instant::now();
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", t0, &r);
    let f = ended(&mut c);
    assert_eq!((f.record.result, f.record.body_bytes), (Ok(200), 0));
    assert!(io(&mut c, &r).is_empty(), "kept");
}

#[test]
fn a_late_start_is_queued_time_and_the_deadline_counts_from_the_intended_start() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let limits = Limits { request: Some(Duration::from_millis(300)), ..Limits::default() };
    // Meant to start at t0, started 30 ms late (no connection was free).
    let mut c = connected(&r, t0, limits);
    c.start(0, t0, ms(t0, 30), &r);
    io(&mut c, &r);
    c.handle_sent(Ok(()), ms(t0, 31), &r);
    c.handle_data(OK, ms(t0, 35), &r);
    let rec = ended(&mut c).record;
    assert_eq!((rec.queued, rec.latency), (Duration::from_millis(30), Duration::from_millis(5)));
    // The deadline counts from the intended start: queue + latency = the limit.
    c.start(0, ms(t0, 100), ms(t0, 180), &r);
    assert_eq!(c.poll_timeout(), Some(ms(t0, 400)));
    c.handle_timeout(ms(t0, 400));
    let rec = ended(&mut c).record;
    assert_eq!(rec.result, Err(ErrorKind::Timeout));
    assert_eq!(rec.queued + rec.latency, Duration::from_millis(300));
    // An intended start after the actual one is clamped (never negative).
    c.start(0, ms(t0, 900), ms(t0, 500), &r);
    c.handle_timeout(ms(t0, 800));
    assert_eq!(ended(&mut c).record.queued, Duration::ZERO);
}

#[test]
fn an_opening_ends_at_its_limit_and_data_on_an_idle_connection_drops_it() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = Connection::new(None, Limits::default());
    c.open(t0, ms(t0, 50));
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    assert!(!c.is_idle() && c.poll_timeout() == Some(ms(t0, 50)));
    c.handle_timeout(ms(t0, 50));
    assert_eq!(
        events(&mut c),
        [Event::Opened(Opened { result: Err(ErrorKind::ConnectTimeout), handshake: None, tunnel: None })]
    );
    assert!(closed(&mut c, &r) && c.is_idle());
    let mut c = connected(&r, t0, Limits::default());
    c.handle_data(b"HTTP/1.1 408 Request Timeout\r\n\r\n", t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close], "bytes nobody asked for");
    assert!(events(&mut c).is_empty() && !c.is_connected());
    let mut c = connected(&r, t0, Limits::default());
    c.handle_eof(t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close], "closed while idle");
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect], "the next request reconnects");
}

#[test]
fn the_low_water_mark_follows_the_body_still_due_and_returns_to_one() {
    let r = requests("GET", true);
    let t0 = Instant::now();
    let mut c = awaiting_response(&r, t0);
    assert_eq!(c.low_water_change(), None, "nothing due before the head: 1 byte, as set");
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 600000\r\n\r\n";
    c.handle_data(head, t0, &r);
    assert_eq!(c.low_water_change(), Some(256 * 1024), "capped");
    assert_eq!(c.low_water_change(), None, "asked for once");
    c.handle_data(&vec![b'x'; 500_000], t0, &r);
    assert_eq!(c.low_water_change(), Some(100_000), "exactly what is left of a plain body");
    c.handle_data(&[b'x'; 40_000], t0, &r);
    assert_eq!(c.low_water_change(), Some(1), "below 64 KiB a wake-up per segment is cheaper");
    c.handle_data(&[b'x'; 60_000], t0, &r);
    assert_eq!(ended(&mut c).record.body_bytes, 600_000);
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_sent(Ok(()), t0, &r);
    assert_eq!(c.low_water_change(), None, "the next response starts at 1 byte");
    // Chunked bodies give no length: no watermark.
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n", t0, &r);
    assert_eq!(c.low_water_change(), None);
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
    let r = RequestSet::new(std::sync::Arc::new(Pool::new(entries, 3, 2)), true, true, "h".into(), 8080);
    let t0 = Instant::now();
    let mut c = connected(&r, t0, Limits::default());
    c.start(4, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(OK, t0, &r);
    assert_eq!(ended(&mut c).target, 0);
    c.start(7, t0, t0, &r);
    let copy = io(&mut c, &r);
    let [Io::Transmit(Outgoing::Bytes(sent))] = &copy[..] else {
        panic!("a request with {{{{seq}}}} is this connection's copy")
    };
    assert_eq!(&sent[..], b"POST /b/007 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n007");
    c.handle_sent(Ok(()), t0, &r);
    let redirect = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /c\r\nContent-Length: 0\r\n\r\n";
    c.handle_data(redirect, t0, &r);
    assert_eq!(io(&mut c, &r).len(), 1);
    assert_eq!(c.request_bytes(&r), b"POST /c HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n\r\n007");
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(OK, t0, &r);
    let f = ended(&mut c);
    assert_eq!((f.record.result, f.target), (Ok(200), 1));
    drop(copy);
    c.start(9, t0, t0, &r);
    assert!(c.request_bytes(&r).ends_with(b"\r\n\r\n009"), "the copy is rewritten for the next number");
}

/// Time to first byte: from the intended start to the first byte of the
/// last hop's body, or to the end of the head of a response without one;
/// no value for a failure.
#[test]
fn the_time_to_the_first_body_byte_is_the_ttfb_metric() {
    use crate::stats::{Record, metrics::TTFB};
    let ttfb = |r: &Record| r.metrics.get(TTFB).map(Duration::from_nanos);
    let (r, t0) = (requests("GET", true), Instant::now());
    // Meant to start at t0, sent at 10 ms; the head at 20 ms, the body at 50 ms.
    let mut c = connected(&r, t0, Limits::default());
    c.start(0, t0, ms(t0, 10), &r);
    io(&mut c, &r);
    c.handle_sent(Ok(()), ms(t0, 10), &r);
    c.handle_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", ms(t0, 20), &r);
    c.handle_data(b"o", ms(t0, 50), &r);
    c.handle_data(b"k", ms(t0, 60), &r);
    let rec = ended(&mut c).record;
    assert_eq!((ttfb(&rec), rec.latency), (Some(Duration::from_millis(50)), Duration::from_millis(50)));
    // After a redirect, the last response's body counts.
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 1\r\n\r\nx", ms(t0, 5), &r);
    io(&mut c, &r);
    c.handle_sent(Ok(()), ms(t0, 6), &r);
    c.handle_data(OK, ms(t0, 9), &r);
    assert_eq!(ttfb(&ended(&mut c).record), Some(Duration::from_millis(9)));
    // Without a body (204, HEAD, Content-Length: 0, or an empty body framed
    // by the close): when the head (or the close) came.
    for (method, head, end_by_close) in [
        ("GET", &b"HTTP/1.1 204 No Content\r\n\r\n"[..], false),
        ("HEAD", &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"[..], false),
        ("GET", &b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..], false),
        ("GET", &b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"[..], true),
    ] {
        let r = requests(method, true);
        let mut c = awaiting_response(&r, t0);
        c.handle_data(head, ms(t0, 7), &r);
        if end_by_close {
            c.handle_eof(ms(t0, 8), &r);
        }
        let want = Duration::from_millis(if end_by_close { 8 } else { 7 });
        assert_eq!(ttfb(&ended(&mut c).record), Some(want), "{method} {}", String::from_utf8_lossy(head));
    }
    // A failure has none, even when part of the body came.
    let mut c = awaiting_response(&r, t0);
    c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", ms(t0, 3), &r);
    c.handle_eof(ms(t0, 4), &r);
    assert_eq!(ttfb(&ended(&mut c).record), None);
}

#[path = "tls_tests.rs"]
mod tls;

#[path = "stream_tests.rs"]
mod streams;

#[cfg(test)]
#[path = "tunnel_tests.rs"]
mod tunnel_tests;
