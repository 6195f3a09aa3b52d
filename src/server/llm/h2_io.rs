//! The tokio side of the mock's HTTP/2 connections: reads (with the
//! kernel's receive stamps), one write of everything due, and a sleep
//! until the next deadline on the connection's own [`Alarm`] (a timerfd
//! on Linux: nanosecond wake-ups where tokio's timer rounds up to the next
//! millisecond). The pacer of HTTP/1.1 streams is not used: its gain is
//! one timer for a thread's streams, and here a connection's streams
//! already share one timer and one write per wake-up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::TcpStream;

use super::H2Mock;
use crate::server::Shared;
use crate::server::h2::linger;
use crate::server::llm::Mock;
use crate::server::llm::alarm::Alarm;
use crate::server::transport::Transport;

/// Serves one HTTP/2 connection of the mock; `buf` holds what was read of
/// it already (the preface, at least), which arrived at `arrived`.
pub(in crate::server) async fn serve(
    mut stream: TcpStream,
    mut transport: Transport,
    shared: Arc<Shared>,
    mut buf: Vec<u8>,
    mut arrived: Option<Instant>,
) {
    let (Some(mock), Some(h2)) = (&shared.llm, &shared.h2) else { return };
    let Ok(alarm) = Alarm::new() else { return };
    let mut conn = H2Mock::new(h2.stream_limit);
    loop {
        if !buf.is_empty() {
            conn.feed(mock, &buf, arrived.take().unwrap_or_else(Instant::now));
            buf.clear();
        }
        conn.wake(mock, Instant::now());
        // Counted before the answers go out, so a client that has them
        // all sees the count complete.
        shared.requests.fetch_add(conn.take_answered(), Ordering::Relaxed);
        if !write_output(&mut conn, mock, &mut stream, &mut transport).await {
            return;
        }
        if conn.is_done() {
            break;
        }
        let next = conn.next_deadline();
        // A read given up for the alarm loses nothing: a plain read takes
        // bytes only once they are there, without waiting again; a TLS read
        // leaves in `buf` what it decrypted (its stamp is lost, the feed
        // then uses the time it is read), and it only waits to write once
        // the handshake is over for a key update.
        tokio::select! {
            biased;
            read = transport.read_stamped(&mut stream, &mut buf, &shared.tls_counts) => match read {
                Ok((0, _)) | Err(_) => return,
                Ok((_, stamp)) => arrived = stamp,
            },
            () = sleep_until(&alarm, next) => {}
        }
    }
    linger(stream, transport, &shared, buf).await;
}

/// Writes all the connection's output, telling it when each write ended;
/// false if the peer is gone.
async fn write_output(conn: &mut H2Mock, mock: &Mock, stream: &mut TcpStream, transport: &mut Transport) -> bool {
    while !conn.output().is_empty() {
        let n = conn.output().len();
        if transport.write(stream, conn.output()).await.is_err() {
            return false;
        }
        conn.output_sent(mock, n, Instant::now());
    }
    true
}

/// Resolves at `next`, never without one.
async fn sleep_until(alarm: &Alarm, next: Option<Instant>) {
    match next {
        Some(at) => alarm.until(at).await,
        None => std::future::pending().await,
    }
}
