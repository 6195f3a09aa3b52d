//! Redirects over HTTP/2 on virtual time, as HTTP/1.1 follows them: each
//! hop a new stream on the same connection, the request counted once with
//! its whole latency and bytes, the method rules (303, and 301/302 after
//! POST, continue as GET without body), loops, other origins, deadlines
//! from the original start, and a hop that a GOAWAY leaves unprocessed
//! going again (the hop, not the original) on a new connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::harness::{Ctx, Script, Step, answer, data, goaway, head, polite_settings, request_complete, rst, run};
use crate::engine::plan::{Plan, Until};
use crate::engine::requests::{MAX_REDIRECTS, RequestSet};
use crate::engine::sim::plan;
use crate::http::h2::frame::{ErrorCode, kind};
use crate::http::h2::hpack::Decoder;
use crate::http::{Pool, RequestSpec};
use crate::stats::ErrorKind;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request as the server received it.
#[derive(Clone, Debug, Default)]
struct Received {
    socket: u64,
    stream: u32,
    method: String,
    path: String,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

type Log = Rc<RefCell<Vec<Received>>>;

/// A server that logs every request and, once one is complete, answers
/// it with what `reply` sends.
fn logging(log: Log, mut reply: impl FnMut(&mut Ctx, &Received) + 'static) -> Script {
    Script::serving(move |ctx, f| {
        polite_settings(ctx, f);
        if f.kind == kind::HEADERS {
            let mut request = Received { socket: ctx.socket, stream: f.stream, ..Received::default() };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut fields = Vec::new();
            Decoder::new(1 << 16).decode(&f.payload, |n, v| fields.push((text(n), text(v)))).unwrap();
            for (name, value) in fields {
                match name.as_str() {
                    ":method" => request.method = value,
                    ":path" => request.path = value,
                    _ => request.fields.push((name, value)),
                }
            }
            log.borrow_mut().push(request);
        }
        let mine = |r: &&mut Received| (r.socket, r.stream) == (ctx.socket, f.stream);
        if f.kind == kind::DATA
            && let Some(request) = log.borrow_mut().iter_mut().rev().find(mine)
        {
            request.body.extend_from_slice(&f.payload);
        }
        if request_complete(f) {
            let request = log.borrow().iter().rev().find(|r| (r.socket, r.stream) == (ctx.socket, f.stream)).cloned();
            reply(ctx, &request.expect("a logged request"));
        }
    })
}

/// A redirect with `status` to `location`, with a body of 5 bytes.
fn moved(stream: u32, status: u16, location: &str) -> Vec<u8> {
    let mut out = head(stream, status, &[("location", location), ("content-length", "5")], false);
    out.extend(data(stream, b"moved", true));
    out
}

/// `/` redirects with 302 to `/new` after 3 ms; everything else is
/// answered `200` after 4 ms.
fn old_to_new(ctx: &mut Ctx, r: &Received) {
    match r.path.as_str() {
        "/" => ctx.send(ms(3), moved(r.stream, 302, "/new")),
        _ => ctx.send(ms(4), answer(r.stream, 200, "ok")),
    }
}

fn paths(log: &Log) -> Vec<(u64, u32, String)> {
    log.borrow().iter().map(|r| (r.socket, r.stream, r.path.clone())).collect()
}

fn statuses(plan: Plan, streams: usize, script: Script) -> Vec<(u16, u64)> {
    run(plan, streams, script).stats.statuses().collect()
}

#[test]
fn a_302_is_followed_on_a_new_stream_of_the_same_connection_and_counted_once() {
    let log = Log::default();
    let out = run(plan(1, Until::Count(3)), 1, logging(log.clone(), old_to_new));
    assert_eq!(out.tally(), (3, 0, 0), "three requests, not six");
    assert_eq!(out.stats.statuses().collect::<Vec<_>>(), [(200, 3)]);
    assert_eq!(out.accepted, 1, "every hop on the same connection");
    let want: Vec<_> = [(1, "/"), (3, "/new"), (5, "/"), (7, "/new"), (9, "/"), (11, "/new")]
        .into_iter()
        .map(|(stream, path)| (0, stream, path.to_string()))
        .collect();
    assert_eq!(paths(&log), want, "each hop a new stream");
    let latency = &out.stats.latency;
    assert_eq!((latency.min_ns(), latency.max_ns()), (7_000_000, 7_000_000), "from the first send to the last answer");
    // Each: the 302's head and 5 bytes, then the 200's head and 2 bytes, a frame header each.
    assert_eq!((out.stats.wire_bytes, out.stats.body_bytes), (3 * (9 + 14 + 9 + 11), 3 * 7));
    assert_eq!(out.elapsed, ms(21));
}

/// A plan of one POST to `/form` with a 5-byte body.
fn post_plan(n: u64) -> Plan {
    let spec = RequestSpec {
        method: "POST".into(),
        target: "/form".into(),
        defaults: vec![
            ("Host".into(), "sim".into()),
            ("Content-Type".into(), "text/plain".into()),
            ("Content-Length".into(), "5".into()),
        ],
        user: vec![("X-Token".into(), "t".into())],
        body: Bytes::from_static(b"hello"),
    };
    let mut plan = plan(1, Until::Count(n));
    plan.requests = RequestSet::new(Arc::new(Pool::single(spec.build())), true, true, "sim".into(), 80);
    plan
}

#[test]
fn a_post_continues_as_get_without_body_after_303_301_302_and_as_itself_after_307_308() {
    for (status, method, body) in
        [(303, "GET", ""), (301, "GET", ""), (302, "GET", ""), (307, "POST", "hello"), (308, "POST", "hello")]
    {
        let log = Log::default();
        let script = logging(log.clone(), move |ctx, r| match r.path.as_str() {
            "/form" => ctx.send(ms(1), moved(r.stream, status, "/next")),
            _ => ctx.send(ms(1), answer(r.stream, 200, "ok")),
        });
        let out = run(post_plan(2), 1, script);
        assert_eq!(out.tally(), (2, 0, 0), "{status}");
        let log = log.borrow();
        assert_eq!(log.len(), 4, "{status}");
        let (first, hop) = (&log[0], &log[1]);
        assert_eq!((first.method.as_str(), first.body.as_slice()), ("POST", &b"hello"[..]));
        assert_eq!((hop.path.as_str(), hop.method.as_str()), ("/next", method), "{status}");
        assert_eq!(hop.body, body.as_bytes(), "{status}");
        let length = (!body.is_empty()).then_some("5");
        let kind = (!body.is_empty()).then_some("text/plain");
        assert_eq!((hop.field("content-length"), hop.field("content-type")), (length, kind), "{status}");
        assert_eq!((hop.field(":authority"), hop.field("x-token")), (Some("sim"), Some("t")), "the other fields stay");
    }
}

#[test]
fn a_redirect_loop_ends_as_too_many_redirects_after_ten_hops() {
    let log = Log::default();
    let script = logging(log.clone(), |ctx, r| ctx.send(ms(1), moved(r.stream, 301, "/loop")));
    let out = run(plan(1, Until::Count(3)), 2, script);
    assert_eq!(out.tally(), (0, 3, 0));
    assert_eq!(out.stats.error_count(ErrorKind::TooManyRedirects), 3);
    assert_eq!(log.borrow().len(), 3 * (1 + usize::from(MAX_REDIRECTS)), "the original and ten hops each");
}

#[test]
fn other_origins_and_disabled_redirects_count_the_3xx_as_it_is() {
    let cases = [
        (true, "http://sim/new", 200),
        (true, "//sim:80/new", 200),
        (true, "http://elsewhere/new", 302),
        (true, "https://sim/new", 302),
        (true, "http://sim:8080/new", 302),
        (false, "/new", 302),
    ];
    for (follow, location, want) in cases {
        let mut plan = plan(1, Until::Count(4));
        plan.requests.follow_redirects = follow;
        let script = logging(Log::default(), move |ctx, r| match r.path.as_str() {
            "/" => ctx.send(ms(1), moved(r.stream, 302, location)),
            _ => ctx.send(ms(1), answer(r.stream, 200, "ok")),
        });
        assert_eq!(statuses(plan, 2, script), [(want, 4)], "{location}, redirects followed: {follow}");
    }
}

#[test]
fn a_reset_hop_fails_its_request_with_the_resets_category() {
    let script = logging(Log::default(), |ctx, r| match r.path.as_str() {
        "/" => ctx.send(ms(1), moved(r.stream, 302, "/new")),
        _ => ctx.send(ms(1), rst(r.stream, ErrorCode::INTERNAL_ERROR)),
    });
    let out = run(plan(1, Until::Count(3)), 2, script);
    assert_eq!((out.tally(), out.stats.error_count(ErrorKind::H2ResetInternal)), ((0, 3, 0), 3));
}

#[test]
fn the_deadline_counts_from_the_original_start_across_hops() {
    let hops = |each: u64| {
        logging(Log::default(), move |ctx, r| match r.path.as_str() {
            "/" => ctx.send(ms(each), moved(r.stream, 302, "/new")),
            _ => ctx.send(ms(each), answer(r.stream, 200, "ok")),
        })
    };
    let mut timed = plan(1, Until::Count(2));
    timed.timeout = Some(ms(100));
    let out = run(timed.clone(), 1, hops(40));
    assert_eq!((out.tally(), out.stats.latency.max_ns()), ((2, 0, 0), 80_000_000));
    let out = run(timed, 1, hops(60));
    assert_eq!((out.tally(), out.stats.error_count(ErrorKind::Timeout)), ((0, 2, 0), 2));
    assert_eq!(out.stats.corrected.max_ns(), 100_000_000, "at -t from the first send");
}

#[test]
fn an_event_stream_after_a_redirect_is_metered_from_the_original_start() {
    use crate::stats::metrics::{ITL, TTFT};
    let script = logging(Log::default(), |ctx, r| {
        if r.path == "/" {
            return ctx.send(ms(10), moved(r.stream, 307, "/events"));
        }
        ctx.send(ms(1), head(r.stream, 200, &[("content-type", "text/event-stream")], false));
        for i in 0..3 {
            let token = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n");
            ctx.send(ms(20 + 15 * i), data(r.stream, token.as_bytes(), false));
        }
        ctx.send(ms(60), data(r.stream, b"data: [DONE]\n\n", true));
    });
    let out = run(plan(1, Until::Count(4)), 2, script);
    assert_eq!(out.tally(), (4, 0, 0));
    let (ttft, itl) = (out.stats.metrics.get(TTFT), out.stats.metrics.get(ITL));
    assert_eq!((ttft.count(), ttft.min_ns(), ttft.max_ns()), (4, 30_000_000, 30_000_000), "10 ms to the hop, then 20");
    assert_eq!((itl.count(), itl.min_ns(), itl.max_ns()), (8, 15_000_000, 15_000_000));
}

#[test]
fn a_goaway_before_the_3xx_sends_the_hop_on_a_new_connection() {
    let log = Log::default();
    let script = logging(log.clone(), |ctx, r| match (ctx.socket, r.path.as_str()) {
        (0, "/") => {
            // The GOAWAY (which keeps the 302's stream) comes first: no new stream may start.
            ctx.send(ms(3), [goaway(r.stream, ErrorCode::NO_ERROR), moved(r.stream, 302, "/new")].concat());
            ctx.step(ms(5), Step::Close);
        }
        _ => old_to_new(ctx, r),
    });
    let out = run(plan(1, Until::Count(1)), 1, script);
    assert_eq!(out.tally(), (1, 0, 0));
    assert_eq!(paths(&log), [(0, 1, "/".to_string()), (1, 1, "/new".to_string())]);
    assert_eq!(out.stats.latency.max_ns(), 7_000_000, "the first send to the hop's answer");
}

#[test]
fn a_hop_a_goaway_left_unprocessed_goes_again_on_a_new_connection_and_the_original_never() {
    let log = Log::default();
    let script = logging(log.clone(), |ctx, r| match (ctx.socket, r.path.as_str()) {
        // The hop's HEADERS arrive, then a GOAWAY saying only the 302's stream was processed.
        (0, "/new") => {
            ctx.send(ms(1), goaway(r.stream - 2, ErrorCode::NO_ERROR));
            ctx.step(ms(2), Step::Close);
        }
        _ => old_to_new(ctx, r),
    });
    let out = run(plan(1, Until::Count(1)), 1, script);
    assert_eq!(out.tally(), (1, 0, 0), "counted once");
    let want =
        [(0, 1, "/"), (0, 3, "/new"), (1, 1, "/new")].map(|(socket, stream, path)| (socket, stream, path.to_string()));
    assert_eq!(paths(&log), want, "the hop again, not the original");
    assert_eq!(out.stats.latency.max_ns(), 8_000_000, "3 ms, 1 ms to the GOAWAY, 4 ms on the new connection");
}

/// What a busy server did: requests processed per path, redirects sent,
/// and the most streams it saw open at once on one connection.
#[derive(Default)]
struct Busy {
    processed: HashMap<String, u64>,
    redirects: u64,
    /// Per connection: when the answers of its open streams go out.
    open: HashMap<u64, Vec<Instant>>,
    most_open: usize,
    /// Per connection: requests processed, and whether it sent its GOAWAY.
    served: HashMap<u64, (u64, bool)>,
}

/// A server that processes 37 requests per connection (then GOAWAY with
/// the last one's id, and it closes), answers in 1 to 7 ms, and redirects
/// every third `/` to `/a`, every other `/a` to `/b`.
fn busy(busy: Rc<RefCell<Busy>>) -> Script {
    logging(Log::default(), move |ctx, r| {
        let mut b = busy.borrow_mut();
        let served = b.served.entry(ctx.socket).or_default();
        if served.1 {
            return;
        }
        served.0 += 1;
        if served.0 == 37 {
            served.1 = true;
            ctx.send(ms(1), goaway(r.stream, ErrorCode::NO_ERROR));
            ctx.step(ms(20), Step::Close);
        }
        let after = ms(1 + u64::from(r.stream) % 7);
        let open = b.open.entry(ctx.socket).or_default();
        open.retain(|&at| at > ctx.now);
        open.push(ctx.now + after);
        let most = open.len();
        b.most_open = b.most_open.max(most);
        let n = b.processed.entry(r.path.clone()).or_default();
        *n += 1;
        let (reply, redirect) = match (r.path.as_str(), *n) {
            ("/", n) if n % 3 == 0 => (moved(r.stream, 302, "/a"), true),
            ("/a", n) if n % 2 == 0 => (moved(r.stream, 307, "b"), true),
            _ => (answer(r.stream, 200, "ok"), false),
        };
        b.redirects += u64::from(redirect);
        ctx.send(after, reply);
    })
}

#[test]
fn many_redirected_requests_among_plain_ones_are_each_counted_once_within_streams() {
    let state = Rc::new(RefCell::new(Busy::default()));
    let out = run(plan(2, Until::Count(1000)), 10, busy(state.clone()));
    assert_eq!(out.tally(), (1000, 0, 0));
    assert_eq!(out.stats.statuses().collect::<Vec<_>>(), [(200, 1000)]);
    let b = state.borrow();
    let processed = |path: &str| b.processed.get(path).copied().unwrap_or_default();
    assert_eq!(processed("/"), 1000, "each request processed once");
    assert_eq!((processed("/a"), processed("/b")), (333, 166), "each hop processed once");
    assert_eq!(b.redirects, 333 + 166);
    assert_eq!(b.most_open, 10, "a request and its hops are one stream of --streams");
    assert!(out.accepted > 1500 / 37, "GOAWAYs on the way: {} connections", out.accepted);
}
