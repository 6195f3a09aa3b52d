//! A client [`Session`] against a rustls server in memory (the same
//! graviola provider, the certificates in `tests/fixtures/tls`).

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::ServerConnection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::Session;
use crate::tls::{ConfigError, TlsFailure, TlsOptions, TlsVersion, client_config};

const CA: &[u8] = include_bytes!("../../tests/fixtures/tls/ca.pem");
const OTHER_CA: &[u8] = include_bytes!("../../tests/fixtures/tls/other-ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../../tests/fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../../tests/fixtures/tls/server.key");
const CA_KEY: &[u8] = include_bytes!("../../tests/fixtures/tls/ca.key");

fn server_config() -> Arc<rustls::ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(SERVER_CERT).collect::<Result<Vec<_>, _>>().unwrap();
    server_config_with(chain, PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap())
}

fn server_config_with(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls_graviola::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

fn trusting_ca() -> TlsOptions {
    TlsOptions { ca_pem: Some(CA.to_vec()), ..TlsOptions::default() }
}

fn session(options: &TlsOptions, name: &str) -> Session {
    let config = client_config(options).unwrap();
    Session::new(config, ServerName::try_from(name.to_string()).unwrap()).unwrap()
}

/// Moves bytes both ways until neither side has anything to say; the
/// server's ciphertext is handed over in pieces of `piece` bytes. Returns
/// the plaintext the client received.
fn pump(client: &mut Session, server: &mut ServerConnection, piece: usize) -> Result<Vec<u8>, TlsFailure> {
    let mut plain = Vec::new();
    for _ in 0..32 {
        let mut to_server = Vec::new();
        client.outgoing(&mut to_server);
        if !to_server.is_empty() {
            server.read_tls(&mut to_server.as_slice()).unwrap();
            server.process_new_packets().unwrap();
        }
        let mut to_client = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut to_client).unwrap();
        }
        for chunk in to_client.chunks(piece) {
            client.receive(chunk, &mut |bytes| plain.extend_from_slice(bytes))?;
        }
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
    }
    Ok(plain)
}

fn server_reads(server: &mut ServerConnection) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = server.reader().read_to_end(&mut got);
    got
}

#[test]
fn a_request_and_its_response_cross_on_both_versions() {
    for (version, expected) in
        [(TlsVersion::Tls13, rustls::ProtocolVersion::TLSv1_3), (TlsVersion::Tls12, rustls::ProtocolVersion::TLSv1_2)]
    {
        let options = TlsOptions { version: Some(version), ..trusting_ca() };
        let mut client = session(&options, "localhost");
        let mut server = ServerConnection::new(server_config()).unwrap();
        client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(client.negotiated().is_none(), "nothing is settled before the handshake");
        pump(&mut client, &mut server, usize::MAX).unwrap();
        assert_eq!(server_reads(&mut server), b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        server.writer().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        let plain = pump(&mut client, &mut server, usize::MAX).unwrap();
        assert_eq!(plain, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let negotiated = client.negotiated().expect("handshake over");
        assert_eq!(negotiated.version, expected);
        assert!(!negotiated.resumed);
        assert!(negotiated.group.is_some());
        assert!(!client.is_handshaking());
    }
}

#[test]
fn ciphertext_split_at_any_size_gives_the_same_plaintext() {
    let body = vec![b'x'; 40_000];
    let mut want = b"HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n".to_vec();
    want.extend_from_slice(&body);
    for piece in [1, 2, 3, 5, 7, 64, 1000, 16_389, 100_000] {
        let mut client = session(&trusting_ca(), "localhost");
        let mut server = ServerConnection::new(server_config()).unwrap();
        client.send(b"GET / HTTP/1.1\r\n\r\n");
        pump(&mut client, &mut server, piece).unwrap();
        server.writer().write_all(&want).unwrap();
        assert_eq!(pump(&mut client, &mut server, piece).unwrap(), want, "pieces of {piece} bytes");
    }
}

#[test]
fn close_notify_is_reported() {
    let mut client = session(&trusting_ca(), "localhost");
    let mut server = ServerConnection::new(server_config()).unwrap();
    pump(&mut client, &mut server, usize::MAX).unwrap();
    server.send_close_notify();
    let mut to_client = Vec::new();
    server.write_tls(&mut to_client).unwrap();
    let received = client.receive(&to_client, &mut |_| {}).unwrap();
    assert!(received.closed);
}

#[test]
fn untrusted_and_misnamed_certificates_are_refused_and_k_accepts_them() {
    let cases = [
        (
            TlsOptions { ca_pem: Some(OTHER_CA.to_vec()), ..TlsOptions::default() },
            "localhost",
            TlsFailure::UnknownIssuer,
        ),
        (trusting_ca(), "example.com", TlsFailure::WrongName),
    ];
    for (options, name, failure) in cases {
        let mut client = session(&options, name);
        let mut server = ServerConnection::new(server_config()).unwrap();
        assert_eq!(pump(&mut client, &mut server, usize::MAX).unwrap_err(), failure, "{name}");
        let insecure = TlsOptions { insecure: true, ..options };
        let mut client = session(&insecure, name);
        let mut server = ServerConnection::new(server_config()).unwrap();
        pump(&mut client, &mut server, usize::MAX).unwrap();
        assert!(client.negotiated().is_some(), "-k completes the handshake with {name}");
    }
}

#[test]
fn garbage_instead_of_a_server_hello_is_a_protocol_error() {
    let mut client = session(&trusting_ca(), "localhost");
    client.outgoing(&mut Vec::new());
    let reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(client.receive(reply, &mut |_| {}).unwrap_err(), TlsFailure::Protocol);
}

#[test]
fn resumption_is_off_by_default_and_on_when_asked() {
    for resume in [false, true] {
        let options = TlsOptions { resume, ..trusting_ca() };
        let config = client_config(&options).unwrap();
        let server_config = server_config();
        let mut resumed = Vec::new();
        for _ in 0..2 {
            let name = ServerName::try_from("localhost").unwrap();
            let mut client = Session::new(config.clone(), name).unwrap();
            let mut server = ServerConnection::new(server_config.clone()).unwrap();
            client.send(b"GET / HTTP/1.1\r\n\r\n");
            pump(&mut client, &mut server, usize::MAX).unwrap();
            resumed.push(client.negotiated().unwrap().resumed);
        }
        assert_eq!(resumed, vec![false, resume], "--tls-resume {resume}");
    }
}

#[test]
fn bad_tls_files_are_refused_with_the_flag_named() {
    let bad = |options: TlsOptions| client_config(&options).unwrap_err();
    let not_pem = TlsOptions { ca_pem: Some(b"hello".to_vec()), ..TlsOptions::default() };
    assert!(matches!(bad(not_pem), ConfigError::CaFile(_)));
    let no_key = TlsOptions { client_pem: Some((SERVER_CERT.to_vec(), b"".to_vec())), ..trusting_ca() };
    assert!(bad(no_key).to_string().starts_with("--cert/--key: --key holds no PEM private key"));
    let not_a_cert = TlsOptions { client_pem: Some((b"x".to_vec(), SERVER_KEY.to_vec())), ..trusting_ca() };
    assert!(bad(not_a_cert).to_string().contains("--cert holds no certificate"));
    let mismatched = TlsOptions { client_pem: Some((SERVER_CERT.to_vec(), CA_KEY.to_vec())), ..trusting_ca() };
    assert!(bad(mismatched).to_string().contains("does not belong"));
    let matched = TlsOptions { client_pem: Some((SERVER_CERT.to_vec(), SERVER_KEY.to_vec())), ..trusting_ca() };
    assert!(client_config(&matched).is_ok());
}

#[test]
fn a_self_signed_certificate_serves_its_names_when_trusted() {
    let made = crate::tls::self_signed(std::time::SystemTime::now()).unwrap();
    let key = PrivateKeyDer::try_from(made.key_der.clone()).unwrap();
    let server_config = server_config_with(vec![CertificateDer::from(made.cert_der.clone())], key);
    let trusting = TlsOptions { ca_pem: Some(made.cert_pem().into_bytes()), ..TlsOptions::default() };
    for (name, outcome) in
        [("localhost", Ok(())), ("127.0.0.1", Ok(())), ("::1", Ok(())), ("example.com", Err(TlsFailure::WrongName))]
    {
        let mut client = session(&trusting, name);
        let mut server = ServerConnection::new(server_config.clone()).unwrap();
        assert_eq!(pump(&mut client, &mut server, usize::MAX).map(|_| ()), outcome, "{name}");
    }
    let stranger = TlsOptions { ca_pem: Some(CA.to_vec()), ..TlsOptions::default() };
    let mut client = session(&stranger, "localhost");
    let mut server = ServerConnection::new(server_config).unwrap();
    assert_eq!(pump(&mut client, &mut server, usize::MAX).unwrap_err(), TlsFailure::UnknownIssuer);
    assert!(made.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
}
