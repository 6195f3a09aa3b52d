//! The portable backend: plain tokio (epoll on Linux, kqueue on macOS).
//!
//! Each worker is an OS thread with its own current-thread runtime that
//! drives its connections as one `FuturesUnordered` (the runtime sees one
//! task per worker, not one per connection). Responses are read into one
//! scratch buffer per worker, borrowed only between awaits, so memory does
//! not grow with the number of connections. All protocol decisions are made
//! by the shared [`Exchange`] machine; this file only moves bytes.
//! When a connection starts its next request is the shared [`Policy`]'s
//! answer; waits for an instant use the worker's precise [`Clock`].

mod clock;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};
use tokio::runtime::Runtime;
use tokio::time::{timeout, timeout_at};

use super::exchange::{Action, Exchange, Finished, Outgoing};
use super::{Address, Backend, Dialer, Job, Next, Policy, Shared, SlotTiming, TlsTarget, classify, classify_connect};
use crate::stats::ErrorKind;
use clock::Clock;

/// Connections per worker thread before another worker is added.
const CONNECTIONS_PER_WORKER: usize = 128;

/// Receive buffer shared by a worker's connections.
const SCRATCH_BYTES: usize = 64 * 1024;

pub struct Portable;

impl Backend for Portable {
    fn name(&self) -> String {
        "portable (tokio)".to_string()
    }

    fn workers(&self, connections: usize, cpus: usize) -> usize {
        (connections / CONNECTIONS_PER_WORKER).clamp(1, cpus.max(1) * 2)
    }

    fn prepare<'a>(&self, job: Job<'a>, policy: Policy<'a>) -> io::Result<Box<dyn super::Worker<'a> + 'a>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let clock = runtime.block_on(async { Clock::new() })?;
        let worker = Worker {
            shared: job.shared,
            scratch: RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice()),
            policy: RefCell::new(policy),
            dialer: Cell::new(Dialer::default()),
            clock,
            tls: job.tls(),
        };
        Ok(Box::new(Driver { runtime, worker, connections: job.connections, streams: Vec::new() }))
    }
}

/// A worker with its runtime and, between pre-connect and work, its streams.
struct Driver<'a> {
    runtime: Runtime,
    worker: Worker<'a>,
    connections: usize,
    streams: Vec<Connection>,
}

/// A slot's socket (if open) and its machine, which holds the TLS session.
type Connection = (Option<Stream>, Exchange);

impl<'a> super::Worker<'a> for Driver<'a> {
    fn policy(&mut self) -> &mut Policy<'a> {
        self.worker.policy.get_mut()
    }

    fn preconnect(&mut self) {
        self.streams = self.runtime.block_on(self.worker.preconnect(self.connections));
    }

    fn work(&mut self) {
        let mut streams = std::mem::take(&mut self.streams);
        let worker = &self.worker;
        streams.resize_with(self.connections, || (None, worker.exchange_for_slot()));
        self.runtime.block_on(self.worker.work(streams));
        let spun = self.worker.clock.spun();
        self.worker.policy.get_mut().spun = spun;
    }

    /// Dropping the futures closed every socket; tokio holds no buffer of ours.
    fn teardown(&mut self) {}
}

struct Worker<'a> {
    shared: &'a Shared,
    scratch: RefCell<Box<[u8]>>,
    policy: RefCell<Policy<'a>>,
    dialer: Cell<Dialer>,
    clock: Clock,
    tls: Option<TlsTarget>,
}

impl Worker<'_> {
    fn exchange_for_slot(&self) -> Exchange {
        Exchange::new(false, Instant::now()).with_tls(self.tls.clone())
    }

    /// Opens this worker's connections (and their TLS sessions), a bounded
    /// number at a time, within the pre-connect limit.
    async fn preconnect(&self, count: usize) -> Vec<Connection> {
        let deadline = (Instant::now() + self.shared.plan.preconnect_timeout).into();
        futures_util::stream::iter(0..count)
            .map(|_| async move {
                let (mut stream, mut ex) = (None, self.exchange_for_slot());
                let action = ex.open(Instant::now());
                let end = match timeout_at(deadline, self.carry_out(&mut ex, &mut stream, action)).await {
                    Ok(end) => end,
                    Err(_) => ex.on_timeout(Instant::now()),
                };
                if let Action::Opened(opened) = end {
                    self.policy.borrow_mut().opened(&opened);
                    if opened.result.is_err() {
                        stream = None;
                    }
                }
                (stream, ex)
            })
            .buffer_unordered(self.shared.preconnect_parallel)
            .collect()
            .await
    }

    /// Runs every connection until the plan ends, the deadline passes or the run is aborted.
    async fn work(&self, streams: Vec<Connection>) {
        let end = self.policy.borrow().end();
        let mut connections: FuturesUnordered<_> = streams.into_iter().map(|c| self.drive(c)).collect();
        let all_done = async { while connections.next().await.is_some() {} };
        let deadline = async {
            match end {
                Some(end) => tokio::time::sleep_until(end.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = all_done => {}
            _ = deadline => {}
            _ = self.shared.abort.wait() => {}
            _ = self.clock.drive() => {}
        }
    }

    /// One connection slot: request after request, as the policy says.
    async fn drive(&self, (mut stream, mut exchange): Connection) {
        let mut timing = SlotTiming::default();
        loop {
            let next = self.policy.borrow_mut().next(&mut timing, Instant::now());
            let (intended, pick) = match next {
                Next::Retire => return,
                Next::Wait(at) => {
                    self.clock.until(at).await;
                    continue;
                }
                Next::Start { intended, pick } => (intended, pick),
            };
            let finished = self.request(&mut exchange, &mut stream, (pick, intended)).await;
            if !finished.keep_conn {
                stream = None;
            }
            self.policy.borrow_mut().finish(&mut timing, &finished, exchange.backoff(), Instant::now());
        }
    }

    /// One request, under the plan's deadline counted from its intended start.
    async fn request(
        &self,
        exchange: &mut Exchange,
        stream: &mut Option<Stream>,
        (pick, intended): (u64, Instant),
    ) -> Finished {
        let action = exchange.begin(pick, intended, Instant::now(), &self.shared.plan.template);
        let end = match self.shared.plan.timeout {
            None => self.carry_out(exchange, stream, action).await,
            Some(limit) => {
                match timeout_at((intended + limit).into(), self.carry_out(exchange, stream, action)).await {
                    Ok(end) => end,
                    Err(_) => exchange.on_timeout(Instant::now()),
                }
            }
        };
        match end {
            Action::Finish(finished) => finished,
            _ => unreachable!("a request ends with Finish"),
        }
    }

    /// Carries out the machine's actions from `action` until it finishes a
    /// request or opens a connection; returns that last action.
    async fn carry_out(&self, ex: &mut Exchange, stream: &mut Option<Stream>, mut action: Action) -> Action {
        loop {
            action = match action {
                Action::Connect => {
                    *stream = None;
                    let result = self.connect().await.map(|s| *stream = Some(s));
                    ex.on_connect(result, Instant::now())
                }
                step @ (Action::Send | Action::Recv) => {
                    // A TLS handshake in progress must end within the connect limit.
                    let limit = ex.handshake_deadline(self.shared.plan.connect_timeout);
                    let moved = self.move_bytes(ex, stream, step == Action::Send);
                    let done = match limit {
                        Some(at) => timeout_at(at.into(), moved).await.ok(),
                        None => Some(moved.await),
                    };
                    done.unwrap_or_else(|| ex.on_timeout(Instant::now()))
                }
                end @ (Action::Finish(_) | Action::Opened(_)) => return end,
            };
        }
    }

    /// Carries out one send (all of [`Exchange::outgoing`]) or one receive.
    async fn move_bytes(&self, ex: &mut Exchange, stream: &mut Option<Stream>, send: bool) -> Action {
        let template = &self.shared.plan.template;
        let Some(s) = stream.as_mut() else {
            return match send {
                true => ex.on_sent(Err(ErrorKind::Io), Instant::now(), template),
                false => ex.on_recv_error(ErrorKind::Io, Instant::now(), template),
            };
        };
        if !send {
            return self.receive(ex, s).await;
        }
        let written = match ex.outgoing(template) {
            Outgoing::Request(entry) => s.write_all(&template.pool.entry(entry).bytes).await,
            Outgoing::Bytes(bytes) => s.write_all(&bytes).await,
        };
        ex.on_sent(written.map_err(|e| classify(&e)), Instant::now(), template)
    }

    /// Waits for data and hands one read's worth to the machine.
    async fn receive(&self, ex: &mut Exchange, stream: &mut Stream) -> Action {
        let template = &self.shared.plan.template;
        if let Some(bytes) = ex.low_water_change() {
            super::sockopt::set_receive_low_water(stream.as_raw_fd(), bytes);
        }
        if let Err(e) = stream.readable().await {
            return ex.on_recv_error(classify(&e), Instant::now(), template);
        }
        let mut scratch = self.scratch.borrow_mut();
        match stream.try_read(&mut scratch) {
            Ok(0) => ex.on_eof(Instant::now(), template),
            Ok(n) => {
                let action = ex.on_data(&scratch[..n], Instant::now(), template);
                if matches!(action, Action::Finish(Finished { keep_conn: true, .. })) {
                    // The response is complete and nothing else is expected
                    // until the next request: forget the read readiness now
                    // instead of paying a read() that returns EAGAIN later.
                    stream.forget_readable();
                }
                action
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Action::Recv,
            Err(e) => ex.on_recv_error(classify(&e), Instant::now(), template),
        }
    }

    /// Connects to the address the dialer names, then to the others in turn,
    /// each attempt limited by the connect timeout.
    async fn connect(&self) -> Result<Stream, ErrorKind> {
        let plan = &self.shared.plan;
        let mut attempt = Some(self.dialer.get().first());
        let mut last_error = ErrorKind::ConnectRefused;
        while let Some(current) = attempt {
            let begun = Instant::now();
            let addr = &plan.addrs[current.addr];
            let result = match plan.connect_timeout {
                Some(limit) => timeout(limit, connect_one(addr)).await.unwrap_or(Err(timed_out())),
                None => connect_one(addr).await,
            };
            match result {
                Ok(stream) => {
                    let mut dialer = self.dialer.get();
                    dialer.connected(current);
                    self.dialer.set(dialer);
                    let now = Instant::now();
                    self.policy.borrow_mut().connected(now - begun, now);
                    return Ok(stream);
                }
                Err(e) => last_error = classify_connect(&e),
            }
            attempt = self.dialer.get().after(current, plan.addrs.len());
        }
        Err(last_error)
    }
}

fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

async fn connect_one(addr: &Address) -> io::Result<Stream> {
    match addr {
        Address::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Stream::Tcp(stream))
        }
        Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
    }
}

/// A connection's socket: TCP, or a Unix domain socket (`--unix-socket`).
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Unix(s) => s.write_all(bytes).await,
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    /// Forgets the read readiness (nothing more is expected for now).
    fn forget_readable(&self) {
        let would_block = || Err::<(), _>(io::ErrorKind::WouldBlock.into());
        let _ = match self {
            Stream::Tcp(s) => s.try_io(Interest::READABLE, would_block),
            Stream::Unix(s) => s.try_io(Interest::READABLE, would_block),
        };
    }

    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}
