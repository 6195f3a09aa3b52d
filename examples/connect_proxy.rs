//! A minimal HTTP CONNECT proxy on one thread, for measuring what a tunnel
//! costs vastar when the proxy is not the limit (BENCHMARK.md, "Through a
//! proxy"): no authentication, no absolute form, no limits. Not part of
//! vastar.
//!
//! Level-triggered epoll, one `read` and one `write` per segment relayed:
//! a tokio relay (`copy_bidirectional`) reads until `EAGAIN`, three system
//! calls a segment, and at `-c 50` keep-alive it kept its core 94% busy,
//! so the proxy, not vastar, set the pace. Linux only.
//!
//! `cargo run --release --example connect_proxy -- 127.0.0.1:3128`

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3128".into());
    relay::serve(&listen)
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("connect_proxy: Linux only (epoll)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod relay {
    use std::collections::HashMap;
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, RawFd};

    const HEAD_LIMIT_BYTES: usize = 8192;
    const READ_BYTES: usize = 64 * 1024;

    /// One socket of a tunnel, keyed by its descriptor in [`Relay::sides`].
    struct Side {
        stream: TcpStream,
        /// The other end; `None` while the CONNECT head is being read.
        peer: Option<RawFd>,
        head: Vec<u8>,
        /// Bytes read from the peer that this socket did not take yet.
        unsent: Vec<u8>,
        /// This socket's reader is done (end of stream read).
        read_done: bool,
        /// The epoll interest registered for it.
        watching: i32,
    }

    impl Side {
        fn new(stream: TcpStream, peer: Option<RawFd>) -> Side {
            Side { stream, peer, head: Vec::new(), unsent: Vec::new(), read_done: false, watching: libc::EPOLLIN }
        }
    }

    struct Relay {
        epoll: RawFd,
        sides: HashMap<RawFd, Side>,
        /// Sides closed during this batch of events, dropped after it, so
        /// that no descriptor number is reused while events may still name it.
        closed: Vec<Side>,
        buf: Vec<u8>,
    }

    pub fn serve(listen: &str) -> io::Result<()> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        // SAFETY: epoll_create1 has no memory arguments.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut relay = Relay { epoll, sides: HashMap::new(), closed: Vec::new(), buf: vec![0; READ_BYTES] };
        relay.watch(libc::EPOLL_CTL_ADD, listener.as_raw_fd(), libc::EPOLLIN)?;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            // SAFETY: `events` is valid for its length, which is passed.
            let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for event in &events[..n as usize] {
                let (fd, flags) = (event.u64 as RawFd, event.events);
                if fd == listener.as_raw_fd() {
                    relay.accept(&listener)?;
                } else if relay.sides.contains_key(&fd) {
                    relay.ready(fd, flags);
                }
            }
            relay.closed.clear();
        }
    }

    impl Relay {
        fn watch(&self, op: i32, fd: RawFd, flags: i32) -> io::Result<()> {
            let mut event = libc::epoll_event { events: flags as u32, u64: fd as u64 };
            // SAFETY: `event` lives across the call; DEL ignores it.
            if unsafe { libc::epoll_ctl(self.epoll, op, fd, &mut event) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        fn accept(&mut self, listener: &TcpListener) -> io::Result<()> {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true)?;
                        stream.set_nodelay(true)?;
                        let fd = stream.as_raw_fd();
                        self.watch(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN)?;
                        self.sides.insert(fd, Side::new(stream, None));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Ok(()),
                }
            }
        }

        /// Handles readiness of `fd`; any failure closes its tunnel.
        fn ready(&mut self, fd: RawFd, flags: u32) {
            let outcome = if flags & libc::EPOLLOUT as u32 != 0 {
                self.flush(fd)
            } else if self.sides[&fd].peer.is_none() {
                self.read_head(fd)
            } else {
                self.forward(fd)
            };
            if outcome.is_err() {
                self.close(fd);
            }
        }

        /// Reads the CONNECT head byte by byte (nothing past it is consumed),
        /// then connects, answers 200 and starts relaying.
        fn read_head(&mut self, fd: RawFd) -> io::Result<()> {
            let side = self.sides.get_mut(&fd).expect("a known side");
            let mut byte = [0u8; 1];
            while !side.head.ends_with(b"\r\n\r\n") {
                match side.stream.read(&mut byte) {
                    Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(_) if side.head.len() >= HEAD_LIMIT_BYTES => return Err(ErrorKind::InvalidData.into()),
                    Ok(_) => side.head.push(byte[0]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            let head = String::from_utf8_lossy(&side.head);
            let Some(target) = head.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()) else {
                let _ = side.stream.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
                return Err(ErrorKind::InvalidData.into());
            };
            let origin = TcpStream::connect(target)?;
            origin.set_nodelay(true)?;
            side.stream.set_nonblocking(false)?;
            side.stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            side.stream.set_nonblocking(true)?;
            origin.set_nonblocking(true)?;
            let origin_fd = origin.as_raw_fd();
            side.peer = Some(origin_fd);
            side.head = Vec::new();
            self.sides.insert(origin_fd, Side::new(origin, Some(fd)));
            self.watch(libc::EPOLL_CTL_ADD, origin_fd, libc::EPOLLIN)
        }

        /// One read from `fd`, written on to its peer; what the peer does
        /// not take waits there, and `fd` is not read until it is taken.
        /// The end of `fd`'s stream is passed on as a shutdown of the
        /// peer's writing, once the peer took everything before it.
        fn forward(&mut self, fd: RawFd) -> io::Result<()> {
            let side = self.sides.get_mut(&fd).expect("a known side");
            let peer = side.peer.expect("a relaying side");
            let n = match side.stream.read(&mut self.buf) {
                // Shut both ways (its peer's end was passed on): epoll
                // reports a hang-up at every wait, and there is nothing
                // left to do with it; the pair closes when the peer has
                // written what waits for it.
                Ok(0) if side.read_done => {
                    side.watching = 0;
                    return self.watch(libc::EPOLL_CTL_DEL, fd, 0);
                }
                Ok(0) => {
                    side.read_done = true;
                    return self.pass_on_end(peer);
                }
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return Ok(()),
                Err(e) => return Err(e),
            };
            let to = self.sides.get_mut(&peer).expect("both sides live together");
            let written = if to.unsent.is_empty() {
                match to.stream.write(&self.buf[..n]) {
                    Ok(w) => w,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                    Err(e) => return Err(e),
                }
            } else {
                0 // only on a hang-up or error while paused: keep the order
            };
            to.unsent.extend_from_slice(&self.buf[written..n]);
            self.rewatch(fd)?;
            self.rewatch(peer)
        }

        /// Writes what waits for `fd`; once it is all taken, its peer is
        /// read again (or, at the peer's end, `fd`'s writing is shut).
        fn flush(&mut self, fd: RawFd) -> io::Result<()> {
            let side = self.sides.get_mut(&fd).expect("a known side");
            let Some(peer) = side.peer else { return Ok(()) };
            let written = match side.stream.write(&side.unsent) {
                Ok(w) => w,
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(e) => return Err(e),
            };
            side.unsent.drain(..written);
            if side.unsent.is_empty() && self.sides[&peer].read_done {
                return self.pass_on_end(fd);
            }
            self.rewatch(fd)?;
            self.rewatch(peer)
        }

        /// The peer of `to` ended its stream: shut `to`'s writing once it
        /// took every byte; the tunnel ends when both directions did.
        fn pass_on_end(&mut self, to: RawFd) -> io::Result<()> {
            let side = &self.sides[&to];
            let from = side.peer.expect("a relaying side");
            if side.unsent.is_empty() {
                side.stream.shutdown(std::net::Shutdown::Write)?;
                if side.read_done && self.sides[&from].unsent.is_empty() {
                    return Err(ErrorKind::UnexpectedEof.into());
                }
            }
            self.rewatch(to)?;
            self.rewatch(from)
        }

        /// Registers what `fd` waits for, if that changed: reading while
        /// its stream goes on and its peer has nothing waiting, writing
        /// while it has something waiting.
        fn rewatch(&mut self, fd: RawFd) -> io::Result<()> {
            let side = &self.sides[&fd];
            let peer_waits = side.peer.is_some_and(|p| !self.sides[&p].unsent.is_empty());
            let mut want = 0;
            if !side.read_done && !peer_waits {
                want |= libc::EPOLLIN;
            }
            if !side.unsent.is_empty() {
                want |= libc::EPOLLOUT;
            }
            if want != side.watching {
                self.watch(libc::EPOLL_CTL_MOD, fd, want)?;
                self.sides.get_mut(&fd).expect("a known side").watching = want;
            }
            Ok(())
        }

        /// Closes `fd` and its peer at the end of this batch of events
        /// (dropping a stream closes it, which also takes it out of the
        /// epoll set).
        fn close(&mut self, fd: RawFd) {
            if let Some(side) = self.sides.remove(&fd) {
                if let Some(peer) = side.peer
                    && let Some(peer_side) = self.sides.remove(&peer)
                {
                    self.closed.push(peer_side);
                }
                self.closed.push(side);
            }
        }
    }
}
