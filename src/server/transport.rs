//! How the built-in server moves bytes on one connection: straight over
//! TCP, or through a rustls server session (`--tls`). The request loop in
//! [`super`] sees plaintext either way.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::{HandshakeKind, ServerConfig, ServerConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Plaintext handed to the TLS session per flush, so that a large body is
/// encrypted and written piecewise instead of buffered whole.
const TLS_WRITE_PIECE: usize = 64 * 1024;

/// Counts of the server's TLS handshakes.
#[derive(Debug, Default)]
pub struct TlsCounts {
    pub full: AtomicU64,
    pub resumed: AtomicU64,
}

pub enum Transport {
    Plain,
    Tls { conn: Box<ServerConnection>, scratch: Box<[u8]>, out: Vec<u8>, counted: bool },
}

impl Transport {
    pub fn tls(config: &Arc<ServerConfig>) -> io::Result<Transport> {
        let mut conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        // Every write is flushed at once, in pieces: no limit needed.
        conn.set_buffer_limit(None);
        Ok(Transport::Tls { conn: Box::new(conn), scratch: vec![0; 16 * 1024].into(), out: Vec::new(), counted: false })
    }

    /// The protocol the client chose by ALPN, once the handshake is done.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Transport::Plain => None,
            Transport::Tls { conn, .. } => conn.alpn_protocol(),
        }
    }

    /// Appends received plaintext to `buf`; returns how much, 0 when the
    /// peer closed. The handshake happens on the way, transparently.
    pub async fn read(&mut self, stream: &mut TcpStream, buf: &mut Vec<u8>, counts: &TlsCounts) -> io::Result<usize> {
        let Transport::Tls { conn, scratch, out, counted } = self else { return stream.read_buf(buf).await };
        let before = buf.len();
        loop {
            let n = stream.read(scratch).await?;
            if n == 0 {
                return Ok(0);
            }
            let mut input = &scratch[..n];
            let mut closed = false;
            while !input.is_empty() {
                conn.read_tls(&mut input)?;
                let state = match conn.process_new_packets() {
                    Ok(state) => state,
                    Err(e) => {
                        // Tell the client why (the alert is queued), then give up.
                        let _ = flush(conn, stream, out).await;
                        return Err(io::Error::other(e));
                    }
                };
                let available = state.plaintext_bytes_to_read();
                if available > 0 {
                    let start = buf.len();
                    buf.resize(start + available, 0);
                    conn.reader().read_exact(&mut buf[start..])?;
                }
                closed |= state.peer_has_closed();
            }
            if !*counted && !conn.is_handshaking() {
                *counted = true;
                let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
                let counter = if resumed { &counts.resumed } else { &counts.full };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            flush(conn, stream, out).await?;
            if buf.len() > before {
                return Ok(buf.len() - before);
            }
            if closed {
                return Ok(0);
            }
        }
    }

    /// Writes `reply` (encrypted under TLS).
    pub async fn write(&mut self, stream: &mut TcpStream, reply: &[u8]) -> io::Result<()> {
        let Transport::Tls { conn, out, .. } = self else { return stream.write_all(reply).await };
        for piece in reply.chunks(TLS_WRITE_PIECE) {
            conn.writer().write_all(piece)?;
            flush(conn, stream, out).await?;
        }
        Ok(())
    }

    /// Ends the connection politely (close_notify under TLS), then shuts down.
    pub async fn close(&mut self, stream: &mut TcpStream) {
        if let Transport::Tls { conn, out, .. } = self {
            conn.send_close_notify();
            let _ = flush(conn, stream, out).await;
        }
        let _ = stream.shutdown().await;
    }
}

/// Writes every byte of ciphertext the session has queued.
async fn flush(conn: &mut ServerConnection, stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while conn.wants_write() {
        out.clear();
        conn.write_tls(out)?;
        stream.write_all(out).await?;
    }
    Ok(())
}
