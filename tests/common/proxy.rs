//! A forward proxy for the tests, on 127.0.0.1:0: HTTP (CONNECT tunnels
//! and absolute-form requests) and SOCKS5 (with or without RFC 1929
//! authentication), counting what it relays and keeping what it was asked,
//! and misbehaving on demand (refusing, garbage, a reply that never ends,
//! closing a tunnel mid-response).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How the proxy answers a tunnel request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Open every tunnel.
    Open,
    /// Answer CONNECT with this status (SOCKS5: this reply code).
    Refuse(u16),
    /// Answer with bytes that are no proxy reply.
    Garbage,
    /// Answer with a head that never ends.
    Endless,
    /// Open tunnels, and close each after relaying this many bytes from the target.
    CutAfter(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Http,
    Socks5,
}

/// What the proxy saw and did.
#[derive(Default)]
pub struct Counts {
    /// Connections accepted from the client.
    pub connections: AtomicUsize,
    /// Tunnels opened to a target.
    pub tunnels: AtomicUsize,
    /// Absolute-form requests relayed.
    pub absolute: AtomicUsize,
    /// Each CONNECT's or absolute-form request's head, as received.
    pub heads: Mutex<Vec<String>>,
    /// Each SOCKS5 CONNECT's destination (`name:port` or `ip:port`).
    pub destinations: Mutex<Vec<String>>,
    /// The first bytes the client sent into each tunnel (a ClientHello over TLS).
    pub first_bytes: Mutex<Vec<Vec<u8>>>,
}

pub struct TestProxy {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
}

impl TestProxy {
    /// A proxy of `kind` answering as `mode`; `credentials` are required when given.
    pub fn start(kind: Kind, mode: Mode, credentials: Option<(&str, &str)>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let creds = credentials.map(|(u, p)| (u.to_string(), p.to_string()));
        let shared = counts.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (counts, creds) = (shared.clone(), creds.clone());
                std::thread::spawn(move || {
                    let _ = client.set_nodelay(true);
                    match kind {
                        Kind::Http => http(client, mode, creds.as_ref(), &counts),
                        Kind::Socks5 => socks5(client, mode, creds.as_ref(), &counts),
                    }
                });
            }
        });
        TestProxy { addr, counts }
    }

    pub fn url(&self, scheme: &str, userinfo: &str) -> String {
        format!("{scheme}://{userinfo}{}", self.addr)
    }

    pub fn tunnels(&self) -> usize {
        self.counts.tunnels.load(Ordering::SeqCst)
    }

    pub fn absolute(&self) -> usize {
        self.counts.absolute.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }

    pub fn heads(&self) -> Vec<String> {
        self.counts.heads.lock().unwrap().clone()
    }
}

/// Reads one request head (through its blank line) and any Content-Length body.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let length = field(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            while buf.len() < end + 4 + length {
                fill(stream, buf)?;
            }
            let body = buf[end + 4..end + 4 + length].to_vec();
            buf.drain(..end + 4 + length);
            return Some((head, body));
        }
        fill(stream, buf)?;
    }
}

fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk) {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// The value of header `name` (lower case) in `head`.
pub fn field(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn basic(user: &str, pass: &str) -> String {
    vastar::http::request::basic_auth(user, pass)
}

fn http(mut client: TcpStream, mode: Mode, creds: Option<&(String, String)>, counts: &Counts) {
    let mut buf = Vec::new();
    let mut upstream: Option<TcpStream> = None;
    while let Some((head, body)) = read_request(&mut client, &mut buf) {
        counts.heads.lock().unwrap().push(head.clone());
        let authorized = creds.is_none_or(|(u, p)| field(&head, "proxy-authorization") == Some(basic(u, p)));
        let mut words = head.split(' ');
        let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default().to_string());
        if !authorized {
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
            );
            continue;
        }
        if method == "CONNECT" {
            return connect(client, &target, mode, &buf, counts);
        }
        // Absolute form: relay to the origin (one upstream connection per client connection).
        let Some(rest) = target.strip_prefix("http://") else { return };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if upstream.is_none() {
            upstream = TcpStream::connect(authority).ok();
        }
        let Some(origin) = upstream.as_mut() else { return };
        let mut forwarded = head.replacen(&target, if path.is_empty() { "/" } else { path }, 1);
        // The proxy's own field is not passed on.
        forwarded = forwarded
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("proxy-authorization:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        forwarded.push_str("\r\n");
        if origin.write_all(forwarded.as_bytes()).and_then(|()| origin.write_all(&body)).is_err() {
            return;
        }
        let mut reply = Vec::new();
        let Some((reply_head, reply_body)) = read_request(origin, &mut reply) else { return };
        counts.absolute.fetch_add(1, Ordering::SeqCst);
        if client.write_all(reply_head.as_bytes()).and_then(|()| client.write_all(&reply_body)).is_err() {
            return;
        }
    }
}

/// Answers a CONNECT to `target` as `mode` says, then relays.
fn connect(mut client: TcpStream, target: &str, mode: Mode, early: &[u8], counts: &Counts) {
    match mode {
        Mode::Refuse(status) => {
            let _ = write!(client, "HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n");
            // A refused CONNECT: the client is expected to close.
            let _ = client.read(&mut [0u8; 64]);
            return;
        }
        Mode::Garbage => {
            let _ = client.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
            return;
        }
        Mode::Endless => {
            let _ = client.write_all(b"HTTP/1.1 200 OK\r\n");
            while client.write_all(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").is_ok() {}
            return;
        }
        Mode::Open | Mode::CutAfter(_) => {}
    }
    let Ok(origin) = TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    counts.tunnels.fetch_add(1, Ordering::SeqCst);
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    relay(client, origin, mode, early, counts);
}

/// Copies bytes both ways until either side closes (or the cut).
fn relay(client: TcpStream, mut origin: TcpStream, mode: Mode, early: &[u8], counts: &Counts) {
    let _ = origin.set_nodelay(true);
    if !early.is_empty() && origin.write_all(early).is_err() {
        return;
    }
    let (mut from_client, mut to_origin) = (client.try_clone().unwrap(), origin.try_clone().unwrap());
    let first = Arc::new(Mutex::new(None::<Vec<u8>>));
    let seen = first.clone();
    let up = std::thread::spawn(move || {
        let mut chunk = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from_client.read(&mut chunk) {
            seen.lock().unwrap().get_or_insert_with(|| chunk[..n].to_vec());
            if to_origin.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
        let _ = to_origin.shutdown(Shutdown::Write);
    });
    let limit = if let Mode::CutAfter(n) = mode { n } else { usize::MAX };
    let (mut relayed, mut to_client, mut chunk) = (0usize, client, [0u8; 16 * 1024]);
    while let Ok(n @ 1..) = origin.read(&mut chunk) {
        let n = n.min(limit - relayed);
        if to_client.write_all(&chunk[..n]).is_err() {
            break;
        }
        relayed += n;
        if relayed >= limit {
            break;
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = origin.shutdown(Shutdown::Both);
    let _ = up.join();
    if let Some(bytes) = first.lock().unwrap().take() {
        counts.first_bytes.lock().unwrap().push(bytes);
    }
}

fn read_exact(stream: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; n];
    stream.read_exact(&mut out).ok().map(|()| out)
}

fn socks5(mut client: TcpStream, mode: Mode, creds: Option<&(String, String)>, counts: &Counts) {
    let Some(head) = read_exact(&mut client, 2) else { return };
    let Some(methods) = read_exact(&mut client, usize::from(head[1])) else { return };
    if mode == Mode::Garbage {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        return;
    }
    let wanted = if creds.is_some() { 2 } else { 0 };
    if head[0] != 5 || !methods.contains(&wanted) {
        let _ = client.write_all(&[5, 0xff]);
        return;
    }
    let _ = client.write_all(&[5, wanted]);
    if let Some((user, pass)) = creds {
        let Some(v) = read_exact(&mut client, 2) else { return };
        let Some(u) = read_exact(&mut client, usize::from(v[1])) else { return };
        let Some(pl) = read_exact(&mut client, 1) else { return };
        let Some(p) = read_exact(&mut client, usize::from(pl[0])) else { return };
        let ok = u == user.as_bytes() && p == pass.as_bytes();
        let _ = client.write_all(&[1, if ok { 0 } else { 1 }]);
        if !ok {
            return;
        }
    }
    let Some(req) = read_exact(&mut client, 4) else { return };
    let host = match req[3] {
        1 => read_exact(&mut client, 4).map(|a| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
        3 => read_exact(&mut client, 1)
            .and_then(|n| read_exact(&mut client, usize::from(n[0])))
            .map(|name| String::from_utf8_lossy(&name).into_owned()),
        4 => read_exact(&mut client, 16).map(|a| {
            let v6: [u8; 16] = a.try_into().unwrap();
            format!("[{}]", std::net::Ipv6Addr::from(v6))
        }),
        _ => None,
    };
    let (Some(host), Some(port)) = (host, read_exact(&mut client, 2)) else { return };
    let target = format!("{host}:{}", u16::from_be_bytes([port[0], port[1]]));
    counts.destinations.lock().unwrap().push(target.clone());
    if let Mode::Refuse(code) = mode {
        let _ = client.write_all(&[5, code as u8, 0, 1, 0, 0, 0, 0, 0, 0]);
        return;
    }
    let Ok(origin) = TcpStream::connect(&target) else {
        let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
        return;
    };
    counts.tunnels.fetch_add(1, Ordering::SeqCst);
    let _ = client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
    relay(client, origin, mode, &[], counts);
}
