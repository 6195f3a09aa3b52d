//! The portable backend: plain tokio (epoll on Linux, kqueue on macOS).
//!
//! Each worker is an OS thread with its own current-thread runtime that
//! drives its connections as one `FuturesUnordered` (the runtime sees one
//! task per worker, not one per connection). Responses are read into one
//! scratch buffer per worker, borrowed only between awaits, so memory does
//! not grow with the number of connections. All protocol decisions and
//! deadlines are the shared [`Connection`] machine's; this file only moves
//! bytes and wakes the machine at the instant it asks for.
//! When a connection starts its next request is the shared [`Policy`]'s
//! answer; waits for an instant use the worker's precise [`Clock`].

mod clock;
mod h2;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};
use tokio::runtime::Runtime;
use tokio::time::{timeout, timeout_at};

use super::connection::{Connection, Event, Io, Outgoing};
use super::errno::{classify, classify_connect};
use super::lifecycle::{Backend, Job, Worker};
use super::plan::Address;
use super::policy::{Dialer, Next, Policy, SlotTiming};
use super::requests::TlsTarget;
use super::shared::Shared;
use crate::sock::stamp::{self, ArrivalStamp};
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

    fn prepare<'a>(&self, job: Job<'a>, policy: Policy<'a>) -> io::Result<Box<dyn Worker<'a> + 'a>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let clock = runtime.block_on(async { Clock::new() })?;
        let worker = ConnectionDriver {
            shared: job.shared,
            scratch: RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice()),
            policy: RefCell::new(policy),
            dialer: Cell::new(Dialer::default()),
            clock,
            tls: job.tls(),
        };
        let connections = job.connections;
        Ok(Box::new(PortableWorker { runtime, worker, connections, slots: Vec::new(), h2_slots: Vec::new() }))
    }
}

/// A worker with its runtime and, between pre-connect and work, its sockets and machines.
struct PortableWorker<'a> {
    runtime: Runtime,
    worker: ConnectionDriver<'a>,
    connections: usize,
    slots: Vec<Slot>,
    /// The same for a run over HTTP/2 (`--http2`).
    h2_slots: Vec<h2::H2Slot>,
}

/// A slot's socket (if open) and its machine, which holds the TLS session.
type Slot = (Option<Socket>, Connection);

impl<'a> Worker<'a> for PortableWorker<'a> {
    fn policy(&mut self) -> &mut Policy<'a> {
        self.worker.policy.get_mut()
    }

    fn preconnect(&mut self) {
        if self.worker.shared.h2.is_some() {
            self.h2_slots = self.runtime.block_on(self.worker.preconnect_h2_all(self.connections));
            return;
        }
        self.slots = self.runtime.block_on(self.worker.preconnect(self.connections));
    }

    fn work(&mut self) {
        let worker = &self.worker;
        if worker.shared.h2.is_some() {
            let mut slots = std::mem::take(&mut self.h2_slots);
            slots.resize_with(self.connections, || worker.new_h2_slot());
            let all = slots.into_iter().map(|mut slot| async move { worker.run_h2(&mut slot, false).await });
            self.runtime.block_on(worker.work_all(all.collect()));
        } else {
            let mut slots = std::mem::take(&mut self.slots);
            slots.resize_with(self.connections, || worker.new_connection());
            self.runtime.block_on(worker.work_all(slots.into_iter().map(|c| worker.drive(c)).collect()));
        }
        let spun = self.worker.clock.spun();
        self.worker.policy.get_mut().spun = spun;
    }

    /// Dropping the futures closed every socket; tokio holds no buffer of ours.
    fn teardown(&mut self) {}
}

struct ConnectionDriver<'a> {
    shared: &'a Shared,
    scratch: RefCell<Box<[u8]>>,
    policy: RefCell<Policy<'a>>,
    dialer: Cell<Dialer>,
    clock: Clock,
    tls: Option<TlsTarget>,
}

impl ConnectionDriver<'_> {
    fn new_connection(&self) -> Slot {
        (
            None,
            Connection::new(self.tls.clone(), self.shared.plan.limits())
                .with_tunnel(self.shared.plan.requests.tunnel.clone()),
        )
    }

    /// Opens this worker's connections (and their TLS sessions), a bounded
    /// number at a time, within the pre-connect limit.
    async fn preconnect(&self, count: usize) -> Vec<Slot> {
        let deadline = Instant::now() + self.shared.plan.preconnect_timeout;
        futures_util::stream::iter(0..count)
            .map(|_| async move {
                let (mut socket, mut conn) = self.new_connection();
                conn.open(Instant::now(), deadline);
                if let Event::Opened(opened) = self.carry(&mut conn, &mut socket, &SlotTiming::default()).await {
                    self.policy.borrow_mut().opened(&opened);
                }
                (socket, conn)
            })
            .buffer_unordered(self.shared.preconnect_parallel)
            .collect()
            .await
    }

    /// Runs every connection's future until the plan ends, the deadline
    /// passes or the run is aborted.
    async fn work_all<F: Future<Output = ()>>(&self, mut connections: FuturesUnordered<F>) {
        let end = self.policy.borrow().end();
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

    /// Opens this worker's HTTP/2 connections, as [`Self::preconnect`] does.
    async fn preconnect_h2_all(&self, count: usize) -> Vec<h2::H2Slot> {
        let deadline = Instant::now() + self.shared.plan.preconnect_timeout;
        futures_util::stream::iter(0..count)
            .map(|_| self.preconnect_h2(deadline))
            .buffer_unordered(self.shared.preconnect_parallel)
            .collect()
            .await
    }

    /// One connection slot: request after request, as the policy says.
    async fn drive(&self, (mut socket, mut conn): Slot) {
        let mut timing = SlotTiming::default();
        let requests = &self.shared.plan.requests;
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
            conn.start(pick, intended, Instant::now(), requests);
            if let Event::Finished { finished, .. } = self.carry(&mut conn, &mut socket, &timing).await {
                self.policy.borrow_mut().finish(&mut timing, &finished, conn.backoff(), Instant::now());
            }
        }
    }

    /// Carries out the machine's I/O, each step under the machine's next
    /// deadline, until it reports a stream finished or a connection opened;
    /// values measured on the way go to the policy as the slot's (`timing`).
    async fn carry(&self, conn: &mut Connection, socket: &mut Option<Socket>, timing: &SlotTiming) -> Event {
        loop {
            let deadline = conn.poll_timeout();
            let timed_out = {
                let mut step = pin!(self.step(conn, socket));
                // Most steps (writing a request, reading data already there)
                // finish at once: a timer is armed only for one that waits.
                let finished = poll_fn(|cx| Poll::Ready(step.as_mut().poll(cx).is_ready())).await;
                match (finished, deadline) {
                    (true, _) => false,
                    (false, Some(at)) => timeout_at(at.into(), step).await.is_err(),
                    (false, None) => {
                        step.await;
                        false
                    }
                }
            };
            if timed_out {
                conn.handle_timeout(Instant::now());
            }
            while let Some(event) = conn.poll_event() {
                if let Event::Sample { metric, values, at, .. } = event {
                    self.policy.borrow_mut().sampled(timing, metric, &values, at);
                }
                if matches!(event, Event::Finished { .. } | Event::Opened(_)) {
                    // What came with the end: the socket's close.
                    while let Some(io) = conn.poll_io(&self.shared.plan.requests) {
                        debug_assert_eq!(io, Io::Close, "only a close follows the end of a stream");
                        *socket = None;
                    }
                    return event;
                }
            }
        }
    }

    /// Carries out one I/O the machine asks for, or one receive.
    async fn step(&self, conn: &mut Connection, socket: &mut Option<Socket>) {
        let requests = &self.shared.plan.requests;
        match conn.poll_io(requests) {
            Some(Io::Close) => *socket = None,
            Some(Io::Connect) => {
                let result = self.connect().await.map(|s| *socket = Some(s));
                conn.handle_connected(result, Instant::now());
            }
            Some(Io::Transmit(outgoing)) => {
                let written = match (socket.as_mut(), outgoing) {
                    (None, _) => Err(ErrorKind::Io),
                    (Some(s), Outgoing::Request(entry)) => {
                        s.write_all(&requests.pool.entry(entry).bytes).await.map_err(|e| classify(&e))
                    }
                    (Some(s), Outgoing::Bytes(bytes)) => s.write_all(&bytes).await.map_err(|e| classify(&e)),
                };
                conn.handle_sent(written, Instant::now(), requests);
            }
            None if conn.wants_receive() => self.receive(conn, socket).await,
            // Nothing to move and nothing awaited: the stream cannot end.
            None => conn.handle_io_error(ErrorKind::Io, Instant::now(), requests),
        }
    }

    /// Waits for data and hands one read's worth to the machine.
    async fn receive(&self, conn: &mut Connection, socket: &mut Option<Socket>) {
        let requests = &self.shared.plan.requests;
        let Some(s) = socket.as_mut() else {
            return conn.handle_io_error(ErrorKind::Io, Instant::now(), requests);
        };
        if let Some(bytes) = conn.low_water_change() {
            crate::sock::options::set_receive_low_water(s.as_raw_fd(), bytes);
        }
        if let Err(e) = s.readable().await {
            return conn.handle_io_error(classify(&e), Instant::now(), requests);
        }
        let mut scratch = self.scratch.borrow_mut();
        match s.try_read(&mut scratch, conn.wants_arrival_stamps()) {
            Ok((0, _)) => conn.handle_eof(Instant::now(), requests),
            Ok((n, stamp)) => {
                let now = Instant::now();
                match stamp {
                    Some(stamp) => conn.handle_stamped_data(&scratch[..n], now, stamp.instant(), requests),
                    None => conn.handle_data(&scratch[..n], now, requests),
                }
                if conn.is_idle() && conn.is_connected() {
                    // The response is complete and nothing else is expected
                    // until the next request: forget the read readiness now
                    // instead of paying a read() that returns EAGAIN later.
                    s.forget_readable();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => conn.handle_io_error(classify(&e), Instant::now(), requests),
        }
    }

    /// Connects to the address the dialer names, then to the others in turn,
    /// each attempt limited by the connect timeout.
    async fn connect(&self) -> Result<Socket, ErrorKind> {
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

async fn connect_one(addr: &Address) -> io::Result<Socket> {
    match addr {
        Address::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Socket::new(SocketKind::Tcp(stream)))
        }
        Address::Unix(path) => Ok(Socket::new(SocketKind::Unix(UnixStream::connect(path).await?))),
    }
}

/// A connection's socket: TCP, or a Unix domain socket (`--unix-socket`).
struct Socket {
    kind: SocketKind,
    /// Whether the kernel was asked to stamp arrivals (`None`: not yet),
    /// and agreed.
    stamps: Option<bool>,
}

enum SocketKind {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn new(kind: SocketKind) -> Socket {
        Socket { kind, stamps: None }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            SocketKind::Tcp(s) => s.write_all(bytes).await,
            SocketKind::Unix(s) => s.write_all(bytes).await,
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match &self.kind {
            SocketKind::Tcp(s) => s.readable().await,
            SocketKind::Unix(s) => s.readable().await,
        }
    }

    /// Reads what the socket holds, with the kernel's arrival stamp when
    /// `stamped` asks for it (and the kernel agrees to stamp).
    fn try_read(&mut self, buf: &mut [u8], stamped: bool) -> io::Result<(usize, Option<ArrivalStamp>)> {
        let fd = self.as_raw_fd();
        if stamped && *self.stamps.get_or_insert_with(|| stamp::enable(fd)) {
            let read = || stamp::recv_stamped(fd, buf);
            return match &self.kind {
                SocketKind::Tcp(s) => s.try_io(Interest::READABLE, read),
                SocketKind::Unix(s) => s.try_io(Interest::READABLE, read),
            };
        }
        match &self.kind {
            SocketKind::Tcp(s) => s.try_read(buf),
            SocketKind::Unix(s) => s.try_read(buf),
        }
        .map(|n| (n, None))
    }

    /// Forgets the read readiness (nothing more is expected for now).
    fn forget_readable(&self) {
        let would_block = || Err::<(), _>(io::ErrorKind::WouldBlock.into());
        let _ = match &self.kind {
            SocketKind::Tcp(s) => s.try_io(Interest::READABLE, would_block),
            SocketKind::Unix(s) => s.try_io(Interest::READABLE, would_block),
        };
    }

    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match &self.kind {
            SocketKind::Tcp(s) => s.as_raw_fd(),
            SocketKind::Unix(s) => s.as_raw_fd(),
        }
    }
}
