//! The connection machine over TLS, against an in-memory rustls server.

use super::*;

/// A client machine and an in-memory rustls server that trust each other.
fn tls_pair(limits: Limits) -> (RequestSet, Connection, rustls::ServerConnection) {
    use crate::tls::{TlsOptions, client_config, self_signed, server_config};
    let made = self_signed(std::time::SystemTime::now()).unwrap();
    let identity = made.identity();
    let server = rustls::ServerConnection::new(server_config(identity, None).unwrap()).unwrap();
    let options = TlsOptions { ca_pem: Some(made.cert_pem().into_bytes()), ..TlsOptions::default() };
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let target = TlsTarget { config: client_config(&options).unwrap(), server: server_name, resume: false };
    let c = Connection::new(Some(target.clone()), limits);
    (requests("GET", true).with_tls(target), c, server)
}

/// Hands the machine's ciphertext to the server.
fn to_server(c: &mut Connection, r: &RequestSet, server: &mut rustls::ServerConnection) {
    for out in io(c, r) {
        let Io::Transmit(Outgoing::Bytes(bytes)) = out else { panic!("TLS sends ciphertext, got {out:?}") };
        server.read_tls(&mut &bytes[..]).unwrap();
        server.process_new_packets().unwrap();
    }
}

/// What the server has to send.
fn from_server(server: &mut rustls::ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    server.write_tls(&mut out).unwrap();
    out
}

/// Carries the machine's sends to the server and the server's answers back
/// (answering a request with [`OK`]) until the machine has an event.
fn pump(c: &mut Connection, r: &RequestSet, server: &mut rustls::ServerConnection) -> Event {
    let now = Instant::now();
    for _ in 0..16 {
        if let Some(event) = c.poll_event().filter(|e| !matches!(e, Event::Head { .. } | Event::Body { .. })) {
            return event;
        }
        if c.wants_receive() && !c.outbox.transmit_pending() {
            let mut plain = [0u8; 1024];
            if let Ok(n) = std::io::Read::read(&mut server.reader(), &mut plain) {
                assert!(plain[..n].starts_with(b"GET /start HTTP/1.1\r\n"), "the server reads the request");
                std::io::Write::write_all(&mut server.writer(), OK).unwrap();
            }
            let reply = from_server(server);
            assert!(!reply.is_empty(), "the machine waits only for what the server has sent");
            c.handle_data(&reply, now, r);
        } else {
            to_server(c, r, server);
            c.handle_sent(Ok(()), now, r);
        }
    }
    panic!("no event after 16 steps")
}

#[test]
fn over_tls_a_connection_is_opened_secured_and_then_carries_requests() {
    let t0 = Instant::now();
    let (r, mut c, mut server) = tls_pair(Limits::default());
    c.open(t0, ms(t0, 1000));
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    c.handle_connected(Ok(()), t0);
    let Event::Opened(opened) = pump(&mut c, &r, &mut server) else { panic!("opened") };
    assert_eq!(opened.result, Ok(()));
    let handshake = opened.handshake.expect("the handshake is reported with the opening");
    assert_eq!((handshake.version, handshake.resumed), ("TLS 1.3", false));
    // The server's session tickets arrive on the idle connection and are absorbed.
    c.handle_data(&from_server(&mut server), t0, &r);
    assert!(io(&mut c, &r).is_empty() && c.is_connected(), "TLS messages keep the connection usable");
    for _ in 0..3 {
        c.start(0, t0, t0, &r);
        assert!(!c.wants_receive(), "no new connection, no new handshake: the request goes");
        let Event::Finished { finished, .. } = pump(&mut c, &r, &mut server) else { panic!("finished") };
        assert_eq!((finished.record.result, finished.handshake), (Ok(200), None));
        assert!(c.is_connected());
    }
    // Plaintext on an idle connection is not a TLS message: it is lost.
    std::io::Write::write_all(&mut server.writer(), b"surprise").unwrap();
    c.handle_data(&from_server(&mut server), t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close]);
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
}

#[test]
fn over_tls_a_request_on_a_new_connection_carries_its_handshake_and_a_stall_is_a_connect_timeout() {
    let t0 = Instant::now();
    let limits = Limits { request: None, handshake: Some(Duration::from_secs(1)), ..Limits::default() };
    let (r, mut c, mut server) = tls_pair(limits);
    c.start(0, t0, t0, &r);
    assert_eq!(io(&mut c, &r), [Io::Close, Io::Connect]);
    c.handle_connected(Ok(()), t0);
    let Event::Finished { finished, .. } = pump(&mut c, &r, &mut server) else { panic!("finished") };
    assert_eq!(finished.record.result, Ok(200));
    assert!(finished.handshake.is_some(), "the request reports the handshake it waited for");
    let (_, mut stalled, _) = tls_pair(limits);
    stalled.start(0, t0, t0, &r);
    io(&mut stalled, &r);
    assert_eq!(stalled.poll_timeout(), None, "no request limit, no handshake yet");
    stalled.handle_connected(Ok(()), ms(t0, 1));
    assert_eq!(stalled.poll_timeout(), Some(ms(t0, 1001)), "the handshake's limit");
    stalled.handle_timeout(ms(t0, 1001));
    assert_eq!(ended(&mut stalled).record.result, Err(ErrorKind::ConnectTimeout));
    assert!(closed(&mut stalled, &r));
    assert_eq!(stalled.poll_timeout(), None, "no handshake in progress");
}

#[test]
fn over_tls_the_wait_ends_at_the_response_not_at_a_session_ticket() {
    let t0 = Instant::now();
    let (r, mut c, mut server) = tls_pair(Limits::default());
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    to_server(&mut c, &r, &mut server);
    c.handle_sent(Ok(()), t0, &r);
    assert!(c.wants_receive());
    c.handle_data(&from_server(&mut server), t0, &r);
    to_server(&mut c, &r, &mut server);
    c.handle_sent(Ok(()), ms(t0, 1), &r);
    let tickets = from_server(&mut server);
    assert!(!tickets.is_empty());
    c.handle_data(&tickets, ms(t0, 2), &r);
    assert!(events(&mut c).is_empty(), "tickets are no response");
    std::io::Write::write_all(&mut server.writer(), OK).unwrap();
    c.handle_data(&from_server(&mut server), ms(t0, 5), &r);
    let f = ended(&mut c);
    assert_eq!((f.record.result, f.record.wait), (Ok(200), Duration::from_millis(4)));
}

#[test]
fn over_tls_the_low_water_mark_leaves_room_for_a_record_held_in_the_session() {
    let t0 = Instant::now();
    let (r, mut c, mut server) = tls_pair(Limits::default());
    c.start(0, t0, t0, &r);
    io(&mut c, &r);
    c.handle_connected(Ok(()), t0);
    for _ in 0..2 {
        to_server(&mut c, &r, &mut server);
        c.handle_sent(Ok(()), t0, &r);
        c.handle_data(&from_server(&mut server), t0, &r);
    }
    to_server(&mut c, &r, &mut server);
    c.handle_sent(Ok(()), t0, &r);
    assert!(c.wants_receive(), "the request is out");
    std::io::Write::write_all(&mut server.writer(), b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n").unwrap();
    c.handle_data(&from_server(&mut server), t0, &r);
    assert_eq!(c.low_water_change(), Some(200_000 - 17 * 1024));
}
