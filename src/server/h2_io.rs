//! The tokio side of an HTTP/2 connection: which protocol the client
//! speaks, then bytes between the socket and the sans-I/O [`Connection`].
//!
//! Under TLS, ALPN says which protocol the client chose; without ALPN (or
//! over plain TCP) the first bytes do: the HTTP/2 preface (h2c with prior
//! knowledge, as h2load and `curl --http2-prior-knowledge` start) or else an
//! HTTP/1.1 request, handed to the HTTP/1.1 loop with the bytes read so far.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpStream;

use super::{Connection, Response};
use crate::http::h2::frame::PREFACE;
use crate::server::Shared;
use crate::server::transport::Transport;

/// How long a finished connection keeps reading (and dropping) what the
/// client still sends after our last bytes: closing with unread input
/// makes the kernel send RST, which can destroy answers not yet read.
const LINGER: Duration = Duration::from_secs(1);

/// Serves one connection as HTTP/2 or, if the client speaks it instead,
/// HTTP/1.1.
pub(in crate::server) async fn serve_connection(mut stream: TcpStream, mut transport: Transport, shared: Arc<Shared>) {
    let Some(h2) = &shared.h2 else { return };
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        match transport.read(&mut stream, &mut buf, &shared.tls_counts).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match speaks_h2(&buf, transport.alpn()) {
            None => continue,
            Some(true) => break,
            Some(false) => return super::super::serve_connection(stream, transport, shared.clone(), buf).await,
        }
    }
    let response = Response { block: &h2.block, body: shared.answers.body() };
    let mut conn = Connection::new(response, h2.stream_limit);
    loop {
        conn.feed(&buf);
        buf.clear();
        // Counted before the answers go out, so a client that has them
        // all sees the count complete.
        shared.requests.fetch_add(conn.take_answered(), Ordering::Relaxed);
        loop {
            let out = conn.output();
            if out.is_empty() {
                break;
            }
            let n = out.len();
            if transport.write(&mut stream, out).await.is_err() {
                return;
            }
            conn.output_sent(n);
        }
        if conn.is_done() {
            break;
        }
        match transport.read(&mut stream, &mut buf, &shared.tls_counts).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    linger(stream, transport, &shared, buf).await;
}

/// Closes a finished connection, then reads (and drops) for [`LINGER`]
/// what the client still sends.
pub(in crate::server) async fn linger(
    mut stream: TcpStream,
    mut transport: Transport,
    shared: &Shared,
    mut buf: Vec<u8>,
) {
    transport.close(&mut stream).await;
    let drain = async {
        loop {
            buf.clear();
            if let Ok(0) | Err(_) = transport.read(&mut stream, &mut buf, &shared.tls_counts).await {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Whether the client speaks HTTP/2: ALPN's answer if it gave one, else
/// whether `received` starts with the preface (`None` until enough of it
/// has arrived to tell).
pub(in crate::server) fn speaks_h2(received: &[u8], alpn: Option<&[u8]>) -> Option<bool> {
    if let Some(protocol) = alpn {
        return Some(protocol == b"h2");
    }
    let n = received.len().min(PREFACE.len());
    if received[..n] != PREFACE[..n] {
        Some(false)
    } else if n == PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_decides_else_the_first_bytes_do() {
        assert_eq!(speaks_h2(b"GET / HTTP/1.1\r\n", Some(b"h2")), Some(true));
        assert_eq!(speaks_h2(PREFACE, Some(b"http/1.1")), Some(false));
        assert_eq!(speaks_h2(&PREFACE[..10], None), None);
        assert_eq!(speaks_h2(PREFACE, None), Some(true));
        assert_eq!(speaks_h2(b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\nxx", None), Some(false));
        assert_eq!(speaks_h2(b"G", None), Some(false));
    }
}
