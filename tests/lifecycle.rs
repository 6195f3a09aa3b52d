//! The engine's worker lifecycle, driven by a fake backend that moves no
//! bytes: scripted outcomes, workers that fail or panic before and after the
//! start lines. The contract under test: every worker passes both start
//! lines exactly once (so no failure leaves the others waiting), nothing
//! connects before every event loop exists, nothing works before every
//! worker is connected, and every request is accounted exactly once.

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vastar::engine::{Backend, Engine, EngineError, Job, Next, Outcome, Plan, Policy, SlotTiming, Until, Worker};
use vastar::stats::{ErrorKind, Record};

/// What a fake worker does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Script {
    /// Answers every request at once, alternately 200 and a timeout.
    Answer,
    /// Starts one request per slot and never finishes it.
    Hang,
    FailPrepare,
    PanicInPreconnect,
    PanicInWork,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Prepared,
    Preconnected,
    Working,
    TornDown,
}

/// Which worker reached which step, when.
type Log = Arc<Mutex<Vec<(usize, Step, Instant)>>>;

struct Fake {
    workers: usize,
    script: fn(usize) -> Script,
    log: Log,
}

impl Fake {
    fn new(workers: usize, script: fn(usize) -> Script) -> &'static Fake {
        Box::leak(Box::new(Fake { workers, script, log: Log::default() }))
    }

    fn steps(&self, step: Step) -> Vec<(usize, Instant)> {
        self.log.lock().unwrap().iter().filter(|e| e.1 == step).map(|e| (e.0, e.2)).collect()
    }
}

fn note(log: &Log, worker: usize, step: Step) {
    log.lock().unwrap().push((worker, step, Instant::now()));
}

struct FakeWorker<'a> {
    log: Log,
    index: usize,
    script: Script,
    slots: Vec<SlotTiming>,
    policy: Policy<'a>,
    job: Job<'a>,
}

impl Backend for Fake {
    fn name(&self) -> String {
        "fake".into()
    }

    fn workers(&self, _connections: usize, _cpus: usize) -> usize {
        self.workers
    }

    fn prepare<'a>(&self, job: Job<'a>, policy: Policy<'a>) -> io::Result<Box<dyn Worker<'a> + 'a>> {
        let script = (self.script)(job.index);
        note(&self.log, job.index, Step::Prepared);
        if script == Script::FailPrepare {
            return Err(io::Error::other("scripted failure"));
        }
        let slots = vec![SlotTiming::default(); job.connections];
        Ok(Box::new(FakeWorker { log: self.log.clone(), index: job.index, script, slots, policy, job }))
    }
}

impl<'a> Worker<'a> for FakeWorker<'a> {
    fn policy(&mut self) -> &mut Policy<'a> {
        &mut self.policy
    }

    fn preconnect(&mut self) {
        note(&self.log, self.index, Step::Preconnected);
        if self.script == Script::PanicInPreconnect {
            panic!("scripted panic before the start");
        }
    }

    fn work(&mut self) {
        note(&self.log, self.index, Step::Working);
        match self.script {
            Script::PanicInWork => panic!("scripted panic after the start"),
            Script::Hang => {
                for slot in &mut self.slots {
                    let _ = self.policy.next(slot, Instant::now());
                }
                while !self.job.shared.abort.is_set() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            _ => self.answer_all(),
        }
    }

    fn teardown(&mut self) {
        note(&self.log, self.index, Step::TornDown);
    }
}

impl FakeWorker<'_> {
    fn answer_all(&mut self) {
        let mut live = self.slots.len();
        let mut n = 0u64;
        while live > 0 {
            live = 0;
            for slot in &mut self.slots {
                match self.policy.next(slot, Instant::now()) {
                    Next::Retire => continue,
                    Next::Wait(at) => std::thread::sleep(at.saturating_duration_since(Instant::now())),
                    Next::Start { .. } => {
                        n += 1;
                        let result = if n.is_multiple_of(2) { Err(ErrorKind::Timeout) } else { Ok(200) };
                        let finished = vastar::engine::connection::Finished {
                            record: record(result),
                            handshake: None,
                            tunnel: None,
                            target: 0,
                        };
                        self.policy.finish(slot, &finished, None, Instant::now());
                    }
                }
                live += 1;
            }
        }
    }
}

fn record(result: Result<u16, ErrorKind>) -> Record {
    let d = Duration::from_micros(10);
    Record {
        result,
        latency: d,
        queued: Duration::ZERO,
        write: Some(d),
        wait: d,
        read: d,
        wire_bytes: 10,
        body_bytes: 2,
        metrics: vastar::stats::Samples::default(),
        tally: vastar::stats::Tally::default(),
    }
}

fn plan(connections: usize, until: Until) -> Plan {
    Plan { preconnect_timeout: Duration::from_secs(1), ..vastar::engine::sim::plan(connections, until) }
}

/// Runs the engine on another thread; fails the test if it does not end in 10 s.
fn run(
    fake: &'static Fake,
    plan: Plan,
    abort_after: Option<Duration>,
) -> std::thread::Result<Result<Outcome, EngineError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let engine = Engine::new(plan, fake);
        let outcome = std::thread::scope(|scope| {
            if let Some(after) = abort_after {
                let engine = &engine;
                scope.spawn(move || {
                    std::thread::sleep(after);
                    engine.abort();
                });
            }
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run()))
        });
        let _ = tx.send(outcome);
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the engine ended: no worker was left waiting")
}

#[test]
fn every_request_is_accounted_once_and_the_steps_keep_their_order() {
    let fake = Fake::new(3, |_| Script::Answer);
    let outcome = run(fake, plan(7, Until::Count(1000)), None).unwrap().unwrap();
    let s = &outcome.stats;
    assert_eq!((s.responses + s.total_errors(), s.aborted), (1000, 0));
    assert_eq!(s.total_errors(), s.error_count(ErrorKind::Timeout));
    assert!(s.responses >= 498 && s.responses <= 502, "each worker alternates: {}", s.responses);
    assert_eq!((s.started, s.issued()), (1000, 1000));
    let last = |step| fake.steps(step).iter().map(|e| e.1).max().unwrap();
    let first = |step| fake.steps(step).iter().map(|e| e.1).min().unwrap();
    for step in [Step::Prepared, Step::Preconnected, Step::Working, Step::TornDown] {
        assert_eq!(fake.steps(step).len(), 3, "{step:?} once per worker");
    }
    assert!(last(Step::Prepared) <= first(Step::Preconnected), "nobody connects before every loop exists");
    assert!(last(Step::Preconnected) <= first(Step::Working), "nobody works before everyone is connected");
}

#[test]
fn a_worker_that_cannot_start_fails_the_run_without_leaving_others_waiting() {
    let fake = Fake::new(3, |i| if i == 1 { Script::FailPrepare } else { Script::Answer });
    match run(fake, plan(6, Until::Count(60)), None).unwrap() {
        Err(EngineError::Runtime(e)) => assert!(e.to_string().contains("scripted failure")),
        other => panic!("expected the worker's failure, got {other:?}"),
    }
    assert_eq!(fake.steps(Step::TornDown).len(), 2, "the other workers ran to their end");
}

#[test]
fn a_worker_that_panics_before_or_after_the_start_never_hangs_the_run() {
    for script in [Script::PanicInPreconnect, Script::PanicInWork] {
        let fake = Fake::new(
            2,
            match script {
                Script::PanicInPreconnect => |i| if i == 0 { Script::PanicInPreconnect } else { Script::Answer },
                _ => |i| if i == 0 { Script::PanicInWork } else { Script::Answer },
            },
        );
        assert!(run(fake, plan(4, Until::Count(40)), None).is_err(), "{script:?}: the panic reaches the caller");
        assert_eq!(fake.steps(Step::TornDown).len(), 1, "{script:?}: the other worker finished");
    }
}

#[test]
fn an_abort_counts_what_was_in_flight_as_aborted() {
    let fake = Fake::new(2, |_| Script::Hang);
    let outcome = run(fake, plan(5, Until::Count(100)), Some(Duration::from_millis(50))).unwrap().unwrap();
    let s = &outcome.stats;
    assert_eq!((s.responses, s.total_errors(), s.aborted, s.started), (0, 0, 5, 5));
}
