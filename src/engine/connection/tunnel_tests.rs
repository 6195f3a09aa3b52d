//! The tunnel stage of the HTTP/1.1 machine, on made-up instants: the
//! opening goes out first, the request only once the proxy said yes, the
//! setup is timed as its own phase and bounded by the connect limit, and a
//! proxy's refusal or close is named.

use std::sync::Arc;

use super::*;
use crate::proxy::{Destination, Opening};

fn tunnelled(opening: Opening, limits: Limits) -> Connection {
    Connection::new(None, limits).with_tunnel(Some(Arc::new(opening)))
}

fn connect() -> Opening {
    Opening::connect("h:8080", None, &[])
}

/// The bytes of the one transmit asked for now.
fn sent(c: &mut Connection, r: &RequestSet) -> Vec<u8> {
    match io(c, r).as_slice() {
        [Io::Transmit(Outgoing::Bytes(bytes))] => bytes.to_vec(),
        other => panic!("one transmit of bytes expected: {other:?}"),
    }
}

#[test]
fn the_request_waits_for_the_tunnel_whose_setup_is_its_own_phase() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let mut c = tunnelled(connect(), Limits::default());
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    c.handle_connected(Ok(()), ms(t0, 1));
    assert_eq!(sent(&mut c, &r), b"CONNECT h:8080 HTTP/1.1\r\nHost: h:8080\r\n\r\n");
    c.handle_sent(Ok(()), ms(t0, 2), &r);
    assert!(c.wants_receive() && io(&mut c, &r).is_empty());
    c.handle_data(b"HTTP/1.1 200 Connection est", ms(t0, 3), &r);
    assert!(io(&mut c, &r).is_empty(), "half a reply");
    c.handle_data(b"ablished\r\n\r\n", ms(t0, 5), &r);
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
    c.handle_sent(Ok(()), ms(t0, 6), &r);
    c.handle_data(OK, ms(t0, 8), &r);
    let finished = ended(&mut c);
    assert_eq!((finished.record.result, finished.tunnel), (Ok(200), Some(4_000_000)));
    // Kept alive: the next request goes through the same tunnel.
    c.start(0, ms(t0, 9), ms(t0, 9), &r);
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
    c.handle_sent(Ok(()), ms(t0, 9), &r);
    c.handle_data(OK, ms(t0, 10), &r);
    assert_eq!(ended(&mut c).tunnel, None);
}

/// A machine opening a connection before any request, whose proxy
/// answered the CONNECT with `reply` 2 ms after it connected.
fn opened_with(reply: &[u8], r: &RequestSet, t0: Instant) -> Connection {
    let mut c = tunnelled(connect(), Limits::default());
    c.open(t0, ms(t0, 100));
    let _ = io(&mut c, r);
    c.handle_connected(Ok(()), t0);
    let _ = sent(&mut c, r);
    c.handle_data(reply, ms(t0, 2), r);
    c
}

#[test]
fn bytes_after_the_reply_are_the_targets() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let mut c = opened_with(b"HTTP/1.1 200 OK\r\n\r\n", &r, t0);
    let opened = events(&mut c);
    assert_eq!(opened, [Event::Opened(Opened { result: Ok(()), handshake: None, tunnel: Some(2_000_000) })]);
    // Nothing was sent through the tunnel yet: bytes after the reply are not the target's.
    let mut c = opened_with(b"HTTP/1.1 200 OK\r\n\r\nstray", &r, t0);
    assert!(matches!(events(&mut c)[..], [Event::Opened(Opened { result: Err(ErrorKind::ProxyInvalidReply), .. })]));
    assert!(closed(&mut c, &r));
}

#[test]
fn a_response_with_the_proxys_reply_is_refused_as_the_request_was_not_sent() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let mut c = tunnelled(connect(), Limits::default());
    c.start(0, t0, t0, &r);
    let _ = io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    let _ = sent(&mut c, &r);
    c.handle_data(&[&b"HTTP/1.1 200 OK\r\n\r\n"[..], OK].concat(), ms(t0, 1), &r);
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ProxyInvalidReply));
    assert!(closed(&mut c, &r));
    assert_eq!(c.backoff(), Some(Duration::from_millis(1)), "a failed tunnel");
}

#[test]
fn a_silent_proxy_fails_the_setup_at_the_connect_limit() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let limits = Limits { handshake: Some(Duration::from_secs(1)), ..Limits::default() };
    let mut c = tunnelled(connect(), limits);
    c.start(0, t0, t0, &r);
    let _ = io(&mut c, &r);
    c.handle_connected(Ok(()), ms(t0, 10));
    let _ = sent(&mut c, &r);
    assert_eq!(c.poll_timeout(), Some(ms(t0, 1010)));
    c.handle_timeout(ms(t0, 1009));
    assert!(events(&mut c).is_empty());
    c.handle_timeout(ms(t0, 1010));
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ConnectTimeout));
    assert!(closed(&mut c, &r));
}

#[test]
fn refusals_and_closes_during_setup_are_named_and_the_socket_goes() {
    let r = requests("GET", true);
    let cases: [(&[u8], ErrorKind); 3] = [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", ErrorKind::ProxyAuthRequired),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", ErrorKind::ProxyForbidden),
        (b"\x05\x00", ErrorKind::ProxyInvalidReply),
    ];
    for (reply, kind) in cases {
        let t0 = Instant::now();
        let mut c = tunnelled(connect(), Limits::default());
        c.start(0, t0, t0, &r);
        let _ = io(&mut c, &r);
        c.handle_connected(Ok(()), t0);
        let _ = sent(&mut c, &r);
        c.handle_data(reply, ms(t0, 1), &r);
        assert_eq!(ended(&mut c).record.result, Err(kind));
        assert!(closed(&mut c, &r));
    }
    let t0 = Instant::now();
    let mut c = tunnelled(connect(), Limits::default());
    c.start(0, t0, t0, &r);
    let _ = io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    c.handle_eof(ms(t0, 1), &r);
    assert_eq!(ended(&mut c).record.result, Err(ErrorKind::ProxyClosed));
}

#[test]
fn socks5_sends_each_step_after_the_reply_to_the_last() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let opening = Opening::socks5(&Destination::Name("h".into()), 8080, Some(("u", "p"))).unwrap();
    let mut c = tunnelled(opening, Limits::default());
    c.start(0, t0, t0, &r);
    let _ = io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    assert_eq!(sent(&mut c, &r), [5, 2, 0, 2]);
    c.handle_sent(Ok(()), t0, &r);
    c.handle_data(&[5, 2], ms(t0, 1), &r);
    assert_eq!(sent(&mut c, &r), [1, 1, b'u', 1, b'p']);
    c.handle_data(&[1, 0], ms(t0, 2), &r);
    assert_eq!(sent(&mut c, &r), [5, 1, 0, 3, 1, b'h', 0x1f, 0x90]);
    c.handle_data(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0], ms(t0, 3), &r);
    assert_eq!(io(&mut c, &r), [Io::Transmit(Outgoing::Request(0))]);
    c.handle_sent_unobserved(ms(t0, 3), &r);
    c.handle_data(OK, ms(t0, 4), &r);
    let finished = ended(&mut c);
    assert_eq!((finished.record.result, finished.tunnel), (Ok(200), Some(3_000_000)));
}

#[test]
fn refused_tunnels_back_off_like_refused_connects_until_one_opens() {
    let (r, t0) = (requests("GET", true), Instant::now());
    let mut c = tunnelled(connect(), Limits::default());
    let mut waits = vec![];
    for reply in [&b"HTTP/1.1 407 No\r\n\r\n"[..], b"HTTP/1.1 502 No\r\n\r\n", b"\x05\x00", b""] {
        c.start(0, t0, t0, &r);
        let _ = io(&mut c, &r);
        c.handle_connected(Ok(()), t0);
        let _ = sent(&mut c, &r);
        if reply.is_empty() {
            c.handle_eof(ms(t0, 1), &r);
        } else {
            c.handle_data(reply, ms(t0, 1), &r);
        }
        assert!(ended(&mut c).record.result.is_err());
        waits.push(c.backoff().map(|d| d.as_millis()));
    }
    assert_eq!(waits, [Some(1), Some(2), Some(4), Some(8)]);
    c.start(0, t0, t0, &r);
    let _ = io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    assert_eq!(c.backoff(), Some(Duration::from_millis(8)), "reaching the proxy is not yet a success");
    let _ = sent(&mut c, &r);
    c.handle_data(b"HTTP/1.1 200 OK\r\n\r\n", ms(t0, 1), &r);
    assert_eq!(c.backoff(), None, "the tunnel opened");
}
