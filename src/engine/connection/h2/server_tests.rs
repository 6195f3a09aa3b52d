//! The HTTP/2 machine against the built-in server's HTTP/2 code, in
//! memory: over plain TCP (h2c) and over TLS with ALPN `h2` against a
//! rustls server, with the server's stream limit (its GOAWAY, as nginx's
//! `keepalive_requests`) crossed many times and every count exact.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use super::super::outgoing::Outgoing;
use super::super::output::{Event, Io, Limits};
use super::{H2Connection, H2Requests};
use crate::engine::requests::{RequestSet, TlsTarget};
use crate::server::h2::{Connection as H2Server, Response, response_block};
use crate::stats::ErrorKind;

/// The server end of the in-memory connection: the built-in HTTP/2
/// server, behind rustls when the test wants TLS.
struct ServerEnd {
    h2: H2Server<'static>,
    tls: Option<rustls::ServerConnection>,
}

impl ServerEnd {
    fn receive(&mut self, bytes: &[u8]) {
        let Some(tls) = self.tls.as_mut() else { return self.h2.feed(bytes) };
        tls.read_tls(&mut &bytes[..]).unwrap();
        tls.process_new_packets().unwrap();
        let mut plain = Vec::new();
        let _ = tls.reader().read_to_end(&mut plain);
        self.h2.feed(&plain);
    }

    /// What the server sends now (ciphertext over TLS).
    fn send(&mut self) -> Vec<u8> {
        let handshaking = self.tls.as_ref().is_some_and(|tls| tls.is_handshaking());
        let out = if handshaking { Vec::new() } else { self.h2.output().to_vec() };
        self.h2.output_sent(out.len());
        let Some(tls) = self.tls.as_mut() else { return out };
        if !out.is_empty() {
            tls.writer().write_all(&out).unwrap();
        }
        let mut wire = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut wire).unwrap();
        }
        wire
    }
}

const BODY: &[u8] = b"hello";

fn server_end(stream_limit: Option<u32>, tls: Option<&Arc<rustls::ServerConfig>>) -> ServerEnd {
    let block: &'static [u8] = Box::leak(response_block(BODY.len()).into_boxed_slice());
    let h2 = H2Server::new(Response { block, body: BODY }, stream_limit);
    ServerEnd { h2, tls: tls.map(|config| rustls::ServerConnection::new(Arc::clone(config)).unwrap()) }
}

fn requests() -> RequestSet {
    let spec = crate::http::RequestSpec {
        method: "GET".into(),
        target: "/".into(),
        defaults: vec![("Host".into(), "localhost".into())],
        user: vec![],
        body: bytes::Bytes::new(),
    };
    RequestSet::new(Arc::new(crate::http::Pool::single(spec.build())), true, false, "localhost".into(), 443)
}

/// Runs `n` requests through one machine against servers made by
/// `make_server` (a new one per connection): the results, the requests
/// the servers answered, and the connections made.
fn exchange(
    mut client: H2Connection,
    n: u64,
    mut make_server: impl FnMut() -> ServerEnd,
) -> (Vec<Result<u16, ErrorKind>>, u64, u64) {
    let now = Instant::now();
    let (mut server, mut started, mut results, mut answered, mut connects) = (None, 0, Vec::new(), 0, 0);
    for _ in 0..1_000_000 {
        while started < n && client.can_start() {
            client.start(started, now, now);
            started += 1;
        }
        while let Some(io) = client.poll_io() {
            match io {
                Io::Close => server = None,
                Io::Connect => {
                    (server, connects) = (Some(make_server()), connects + 1);
                    client.handle_connected(Ok(()), now);
                }
                Io::Transmit(Outgoing::Bytes(bytes)) => {
                    client.handle_sent(Ok(()), now);
                    server.as_mut().expect("a connected server").receive(&bytes);
                }
                Io::Transmit(Outgoing::Request(_)) => panic!("HTTP/2 sends its own bytes"),
            }
        }
        while let Some(event) = client.poll_event() {
            if let Event::Finished { finished, .. } = event {
                results.push(finished.record.result);
            }
        }
        if results.len() as u64 == n {
            return (results, answered, connects);
        }
        let Some(end) = server.as_mut() else { continue };
        let out = end.send();
        answered += end.h2.take_answered();
        if !out.is_empty() {
            client.handle_data(&out, now);
        } else if end.h2.is_done() {
            server = None;
            client.handle_eof(now);
        }
    }
    panic!("no end after a million steps: {} of {n} finished", results.len());
}

#[test]
fn against_the_built_in_server_every_request_is_answered_once_across_its_goaways() {
    let r = requests();
    let client = H2Connection::new(None, Limits::default(), Arc::new(H2Requests::new(&r)), 10);
    let (results, answered, connects) = exchange(client, 1000, || server_end(Some(25), None));
    assert!(results.iter().all(|r| *r == Ok(200)), "all answered");
    assert_eq!((results.len(), answered), (1000, 1000), "nothing sent twice that the server processed");
    assert!(connects >= 40, "a GOAWAY each 25 streams: {connects} connections");
}

/// A client configuration offering h2 that trusts a fresh self-signed
/// server, and that server's configuration with `alpn`.
fn tls_pair(alpn: &[&[u8]]) -> (TlsTarget, Arc<rustls::ServerConfig>) {
    use crate::tls::{TlsOptions, client_config, self_signed, server_config, with_h2_alpn};
    let made = self_signed(std::time::SystemTime::now()).unwrap();
    let mut server = rustls::ServerConfig::clone(&server_config(made.identity(), None).unwrap());
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let options = TlsOptions { ca_pem: Some(made.cert_pem().into_bytes()), ..TlsOptions::default() };
    let config = with_h2_alpn(&client_config(&options).unwrap());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    (TlsTarget { config, server: name, resume: false }, Arc::new(server))
}

#[test]
fn over_tls_h2_is_negotiated_by_alpn_and_carries_many_streams() {
    let (target, server) = tls_pair(&[b"h2", b"http/1.1"]);
    let r = requests().with_tls(target.clone());
    let client = H2Connection::new(Some(target), Limits::default(), Arc::new(H2Requests::new(&r)), 10);
    let (results, answered, connects) = exchange(client, 200, || server_end(Some(100), Some(&server)));
    assert!(results.iter().all(|r| *r == Ok(200)), "{results:?}");
    assert_eq!((answered, connects), (200, 2));
}

#[test]
fn over_tls_a_server_that_does_not_agree_to_h2_is_named_not_used() {
    // No ALPN at all, and HTTP/1.1 only (chosen from the client's offer).
    for alpn in [&[][..], &[&b"http/1.1"[..]][..]] {
        let (target, server) = tls_pair(alpn);
        let r = requests().with_tls(target.clone());
        let client = H2Connection::new(Some(target), Limits::default(), Arc::new(H2Requests::new(&r)), 2);
        let (results, answered, _) = exchange(client, 4, || server_end(None, Some(&server)));
        assert_eq!(results, vec![Err(ErrorKind::H2NotNegotiated); 4], "{alpn:?}");
        assert_eq!(answered, 0);
    }
}
