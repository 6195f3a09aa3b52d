//! How the built-in server moves bytes on one connection: straight over
//! TCP, or through a rustls server session (`--tls`). The request loop in
//! [`super`] sees plaintext either way.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustls::{HandshakeKind, ServerConfig, ServerConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::sock::stamp;

/// Plaintext handed to the TLS session per flush, so that a large body is
/// encrypted and written piecewise instead of buffered whole.
const TLS_WRITE_PIECE: usize = 64 * 1024;

/// Most bytes of one stamped read of a plain connection (requests to the
/// mock LLM are small), read straight into the request buffer.
const PLAIN_READ_BYTES: usize = 16 * 1024;

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
        if let Transport::Plain = self {
            return stream.read_buf(buf).await;
        }
        Ok(self.read_stamped(stream, buf, counts).await?.0)
    }

    /// [`Transport::read`], with when the kernel received the bytes last
    /// read from the socket, if it stamps them ([`stamp::enable`]).
    pub async fn read_stamped(
        &mut self,
        stream: &mut TcpStream,
        buf: &mut Vec<u8>,
        counts: &TlsCounts,
    ) -> io::Result<(usize, Option<Instant>)> {
        let Transport::Tls { conn, scratch, out, counted } = self else {
            return read_socket(stream, |fd| stamp::recv_stamped_onto(fd, buf, PLAIN_READ_BYTES)).await;
        };
        let before = buf.len();
        loop {
            let (n, arrived) = read_socket(stream, |fd| stamp::recv_stamped(fd, scratch)).await?;
            if n == 0 {
                return Ok((0, None));
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
                return Ok((buf.len() - before, arrived));
            }
            if closed {
                return Ok((0, None));
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

/// Reads what `stream` holds with `recv` once it is readable, with the
/// kernel's arrival stamp of those bytes if the socket asked for stamps.
async fn read_socket(
    stream: &TcpStream,
    mut recv: impl FnMut(RawFd) -> io::Result<(usize, Option<stamp::ArrivalStamp>)>,
) -> io::Result<(usize, Option<Instant>)> {
    let fd = stream.as_raw_fd();
    loop {
        stream.readable().await?;
        match stream.try_io(Interest::READABLE, || recv(fd)) {
            Ok((n, arrived)) => return Ok((n, arrived.map(|a| a.instant().min(Instant::now())))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A request read late is known by when it arrived: plain or not, the
    /// stamp is the kernel's, not the read's.
    #[tokio::test(flavor = "current_thread")]
    async fn a_late_read_knows_when_its_bytes_arrived() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert!(stamp::enable(server.as_raw_fd()));
        let (mut transport, counts, mut buf) = (Transport::Plain, TlsCounts::default(), Vec::new());
        // Stamping starts a moment after the machine's first socket asks for it.
        let mut stamped = false;
        for _ in 0..200 {
            client.write_all(b"?").await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            stamped = transport.read_stamped(&mut server, &mut buf, &counts).await.unwrap().1.is_some();
            if stamped {
                break;
            }
        }
        assert!(stamped, "no receive stamp within a second");
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        std::thread::sleep(Duration::from_millis(30));
        buf.clear();
        let (n, arrived) = transport.read_stamped(&mut server, &mut buf, &counts).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        let age = Instant::now() - arrived.expect("a stamp");
        assert!(age >= Duration::from_millis(29), "arrived {age:?} ago, sent 30 ms ago");
    }
}
