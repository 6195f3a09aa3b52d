//! A minimal HTTP CONNECT proxy on one thread (tokio, `copy_bidirectional`),
//! for measuring what a tunnel costs vastar when the proxy is not the
//! limit (BENCHMARK.md, "Through a proxy"): no authentication, no absolute
//! form, no limits. Not part of vastar.
//!
//! `cargo run --release --example connect_proxy -- 127.0.0.1:3128`

use tokio::io::{AsyncReadExt, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3128".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        loop {
            let (client, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = tunnel(client).await;
            });
        }
    })
}

/// Reads the CONNECT head, connects, answers 200 and relays both ways.
async fn tunnel(mut client: TcpStream) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = client.read(&mut buf[..1]).await?;
        if n == 0 || head.len() > 8192 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let Some(target) = text.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()) else {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n").await;
    };
    let mut origin = TcpStream::connect(target).await?;
    origin.set_nodelay(true)?;
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
    copy_bidirectional(&mut client, &mut origin).await.map(|_| ())
}
