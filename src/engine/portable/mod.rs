//! The portable backend: plain tokio (epoll on Linux, kqueue on macOS).
//!
//! Each worker is an OS thread with its own current-thread runtime that
//! drives its connections as one `FuturesUnordered` (the runtime sees one
//! task per worker, not one per connection). Responses are read into one
//! scratch buffer per worker, borrowed only between awaits, so memory does
//! not grow with the number of connections. All protocol decisions are made
//! by the shared [`Exchange`] machine; this file only moves bytes.
//! Under `--rate` a free connection claims its next start from the worker's
//! [`Schedule`] and waits for it on the worker's precise [`Clock`].

mod clock;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::{MissedTickBehavior, timeout, timeout_at};

use super::exchange::{Action, Exchange, Finished};
use super::{Backend, EngineError, Job, Schedule, Shared, WorkerResult, classify, classify_connect, thread_cpu};
use crate::stats::{ErrorKind, WorkerStats, nanos};
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

    fn run_worker(&self, job: Job<'_>) -> Result<WorkerResult, EngineError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        job.shared.prepared_and_wait();
        let runtime_and_clock = runtime.and_then(|rt| {
            let clock = rt.block_on(async { Clock::new() })?;
            Ok((rt, clock))
        });
        let (runtime, clock) = match runtime_and_clock {
            Ok(both) => both,
            Err(e) => {
                job.shared.ready_and_wait();
                return Err(EngineError::Runtime(e));
            }
        };
        let worker = Worker {
            shared: job.shared,
            index: job.index,
            scratch: RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice()),
            stats: RefCell::new(WorkerStats::new()),
            in_flight: Cell::new(0),
            next_addr: Cell::new(0),
            schedule: RefCell::new(None),
            clock,
            last_start: Cell::new(None),
        };
        let streams = if job.shared.plan.template.keepalive {
            runtime.block_on(worker.preconnect(job.connections))
        } else {
            (0..job.connections).map(|_| None).collect()
        };
        let start = job.shared.ready_and_wait();
        let cpu_before = thread_cpu();
        *worker.schedule.borrow_mut() = job.schedule(start);
        runtime.block_on(worker.work(streams, job.end(start)));
        let finished = Instant::now();
        let mut stats = worker.stats.into_inner();
        stats.aborted += worker.in_flight.get();
        if let (Some(schedule), Some(end)) = (worker.schedule.borrow().as_ref(), job.end(start)) {
            // Due before the deadline but still waiting for a connection.
            stats.aborted += schedule.unclaimed_before(end.min(finished));
        }
        let spun = worker.clock.spun();
        let cpu = thread_cpu().saturating_sub(cpu_before).saturating_sub(spun);
        Ok(WorkerResult { stats, finished, last_start: worker.last_start.get(), cpu, spun })
    }
}

struct Worker<'a> {
    shared: &'a Shared,
    index: usize,
    scratch: RefCell<Box<[u8]>>,
    stats: RefCell<WorkerStats>,
    /// Requests started and not yet recorded: aborted if the run ends now.
    in_flight: Cell<u64>,
    /// Index of the address that last accepted a connection.
    next_addr: Cell<usize>,
    /// This worker's `--rate` schedule, from the start on.
    schedule: RefCell<Option<Schedule>>,
    clock: Clock,
    last_start: Cell<Option<Instant>>,
}

impl Worker<'_> {
    /// Opens this worker's connections before the clock starts, at most
    /// [`super::MAX_PARALLEL_CONNECTS`] at a time across all workers. A slot
    /// that fails stays empty and connects again when it sends its first request.
    async fn preconnect(&self, count: usize) -> Vec<Option<TcpStream>> {
        let deadline = tokio::time::Instant::now() + self.shared.plan.preconnect_timeout;
        let attempts: FuturesUnordered<_> = (0..count)
            .map(|_| async move {
                let _permit = timeout_at(deadline, self.shared.connect_permits.acquire()).await.ok()?.ok()?;
                timeout_at(deadline, self.connect()).await.ok()?.ok()
            })
            .collect();
        let streams: Vec<Option<TcpStream>> = attempts.collect().await;
        self.stats.borrow_mut().preconnect_failures += streams.iter().filter(|s| s.is_none()).count() as u64;
        streams
    }

    /// Runs every connection until the plan ends, the deadline passes or the run is stopped.
    async fn work(&self, streams: Vec<Option<TcpStream>>, end: Option<Instant>) {
        let mut connections: FuturesUnordered<_> = streams.into_iter().map(|s| self.drive(s)).collect();
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
            _ = self.shared.aborted() => {}
            _ = self.clock.drive() => {}
        }
    }

    /// One connection slot: request after request until no ticket is left.
    async fn drive(&self, mut stream: Option<TcpStream>) {
        let plan = &self.shared.plan;
        let mut exchange = Exchange::new(stream.is_some(), Instant::now());
        let mut pacer = plan.qps_per_connection.map(|qps| {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / qps));
            interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
            interval
        });
        loop {
            if let Some(pause) = exchange.backoff() {
                tokio::time::sleep(pause).await;
            }
            if let Some(pacer) = pacer.as_mut() {
                if !self.shared.tickets.left() {
                    break;
                }
                pacer.tick().await;
            }
            let Some(intended) = self.next_start().await else { break };
            self.in_flight.set(self.in_flight.get() + 1);
            self.stats.borrow_mut().started += 1;
            let finished = self.request(&mut exchange, &mut stream, intended).await;
            self.in_flight.set(self.in_flight.get() - 1);
            if !finished.keep_conn {
                stream = None;
            }
            self.stats.borrow_mut().record(&finished.record);
            self.shared.live.add(self.index, &finished.record);
        }
    }

    /// When this connection's next request should start, once it has a
    /// ticket for it; `None` when no request is left. In a closed loop that
    /// is now; under `--rate` it is the next instant of the schedule.
    async fn next_start(&self) -> Option<Instant> {
        let tickets = &self.shared.tickets;
        let at = match self.schedule.borrow_mut().as_mut() {
            None => return tickets.take().then(|| self.started(Instant::now())),
            Some(schedule) => {
                self.shared.claim_start(schedule, &mut self.stats.borrow_mut(), self.index, Instant::now())?
            }
        };
        let ahead = at > Instant::now();
        if ahead {
            self.clock.until(at).await;
        }
        if !tickets.take() {
            return None;
        }
        let now = self.started(Instant::now());
        if ahead {
            self.stats.borrow_mut().send_lag.record(nanos(now - at));
        }
        Some(at)
    }

    fn started(&self, now: Instant) -> Instant {
        self.last_start.set(Some(now));
        now
    }

    /// One request, under the plan's deadline counted from its intended start.
    async fn request(&self, exchange: &mut Exchange, stream: &mut Option<TcpStream>, intended: Instant) -> Finished {
        let Some(limit) = self.shared.plan.timeout else {
            return self.exchange(exchange, stream, intended).await;
        };
        match timeout_at((intended + limit).into(), self.exchange(exchange, stream, intended)).await {
            Ok(finished) => finished,
            Err(_) => {
                *stream = None;
                exchange.on_timeout(Instant::now())
            }
        }
    }

    /// Carries out the machine's actions until the request finishes.
    async fn exchange(&self, ex: &mut Exchange, stream: &mut Option<TcpStream>, intended: Instant) -> Finished {
        let template = &self.shared.plan.template;
        let mut action = ex.begin(intended, Instant::now());
        loop {
            action = match action {
                Action::Connect => {
                    *stream = None;
                    let result = self.connect().await.map(|s| *stream = Some(s));
                    ex.on_connect(result, Instant::now())
                }
                Action::Send => {
                    let result = match stream.as_mut() {
                        Some(s) => s.write_all(ex.request(template)).await.map_err(|e| classify(&e)),
                        None => Err(ErrorKind::Io),
                    };
                    ex.on_sent(result, Instant::now(), template)
                }
                Action::Recv => match stream.as_mut() {
                    Some(s) => self.receive(ex, s).await,
                    None => ex.on_recv_error(ErrorKind::Io, Instant::now(), template),
                },
                Action::Finish(finished) => return finished,
            };
        }
    }

    /// Waits for data and hands one read's worth to the machine.
    async fn receive(&self, ex: &mut Exchange, stream: &mut TcpStream) -> Action {
        let template = &self.shared.plan.template;
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
                    let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
                }
                action
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Action::Recv,
            Err(e) => ex.on_recv_error(classify(&e), Instant::now(), template),
        }
    }

    /// Connects to the first address that accepts, starting from the one
    /// that worked last, each attempt limited by the connect timeout.
    async fn connect(&self) -> Result<TcpStream, ErrorKind> {
        let plan = &self.shared.plan;
        let first = self.next_addr.get();
        let mut last_error = ErrorKind::ConnectRefused;
        for i in 0..plan.addrs.len() {
            let index = (first + i) % plan.addrs.len();
            let begun = Instant::now();
            let attempt = match plan.connect_timeout {
                Some(limit) => timeout(limit, connect_one(plan.addrs[index])).await,
                None => Ok(connect_one(plan.addrs[index]).await),
            };
            match attempt {
                Ok(Ok(stream)) => {
                    self.next_addr.set(index);
                    self.stats.borrow_mut().connected(nanos(begun.elapsed()));
                    return Ok(stream);
                }
                Ok(Err(e)) => last_error = classify_connect(&e),
                Err(_) => last_error = ErrorKind::ConnectTimeout,
            }
        }
        Err(last_error)
    }
}

async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
