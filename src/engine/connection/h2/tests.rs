//! The HTTP/2 machine against scripted servers on virtual time: many
//! streams with exact counts, GOAWAY, RST_STREAM, refusals, concurrency
//! limits that change, flow control at one byte, and every way a server
//! can misbehave ending with a named error, exact accounting and no hang.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::harness::{
    Script, Step, answer, data, goaway, head, polite, polite_settings, request_complete, rst, run, run_with,
};
use crate::engine::plan::{Plan, Until};
use crate::engine::sim::plan;
use crate::http::h2::frame::{self, ErrorCode, flag, kind, setting};
use crate::http::h2::hpack::{encode_integer, encode_size_update, encode_string};
use crate::stats::ErrorKind;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const STREAMS_100: &[(u16, u32)] = &[(setting::MAX_CONCURRENT_STREAMS, 100)];

/// A plan of `connections` without redirects, `-t` of `timeout_ms`.
fn h2_plan(connections: usize, until: Until, timeout_ms: Option<u64>) -> Plan {
    let mut plan = plan(connections, until);
    plan.requests.follow_redirects = false;
    plan.timeout = timeout_ms.map(ms);
    plan
}

#[test]
fn many_streams_on_few_connections_send_exactly_n_and_time_each_exactly() {
    let out = run(h2_plan(2, Until::Count(100), Some(500)), 10, Script::answering(ms(5), STREAMS_100));
    assert_eq!(out.tally(), (100, 0, 0));
    assert_eq!(out.count(kind::HEADERS), 100, "each request sent once");
    assert_eq!(out.accepted, 2, "pre-opened and kept");
    let latency = &out.stats.latency;
    assert_eq!((latency.min_ns(), latency.max_ns()), (5_000_000, 5_000_000));
    assert_eq!(out.elapsed, ms(25), "100 requests, 20 at a time, 5 ms each");
    // The same with sends reported as io_uring reports them.
    let out = run_with(h2_plan(2, Until::Count(100), None), 10, Script::answering(ms(5), STREAMS_100), true);
    assert_eq!((out.tally(), out.elapsed), ((100, 0, 0), ms(25)));
}

/// A server that, like nginx's `keepalive_requests`, processes `limit`
/// requests per connection: GOAWAY with the last one's id, which it
/// answers, and then it closes; later streams it never processes.
fn keepalive_limited(limit: u64, processed: Rc<Cell<u64>>) -> Script {
    Script::serving(move |ctx, f| {
        if f.kind != kind::HEADERS {
            return polite(ctx, f, ms(5));
        }
        if ctx.nth >= limit {
            return;
        }
        processed.set(processed.get() + 1);
        ctx.send(ms(5), answer(f.stream, 200, "ok"));
        if ctx.nth == limit - 1 {
            ctx.send(Duration::ZERO, goaway(f.stream, ErrorCode::NO_ERROR));
            ctx.step(ms(6), Step::Close);
        }
    })
}

#[test]
fn after_goaway_unprocessed_streams_go_again_on_a_new_connection_and_none_twice() {
    let processed = Rc::new(Cell::new(0));
    let out = run(h2_plan(1, Until::Count(50), Some(1000)), 4, keepalive_limited(7, processed.clone()));
    assert_eq!(out.tally(), (50, 0, 0), "GOAWAY costs no request");
    assert_eq!(processed.get(), 50, "the server processed each request exactly once");
    assert!(out.accepted >= 8, "a new connection per 7 requests: {}", out.accepted);
    assert!(out.count(kind::HEADERS) > 50, "refused streams went again");
}

#[test]
fn rst_stream_fails_that_stream_with_its_code_and_refused_streams_go_again() {
    // Every third request is reset with INTERNAL_ERROR; the first request of
    // each connection is refused (not processed) once.
    let refused = Rc::new(Cell::new(false));
    let script = Script::serving(move |ctx, f| {
        if f.kind != kind::HEADERS {
            return polite(ctx, f, ms(1));
        }
        if ctx.path == "/" && !refused.replace(true) {
            return ctx.send(ms(1), rst(f.stream, ErrorCode::REFUSED_STREAM));
        }
        let reset = ctx.nth % 3 == 2;
        ctx.send(ms(2), if reset { rst(f.stream, ErrorCode::INTERNAL_ERROR) } else { answer(f.stream, 200, "ok") });
    });
    let out = run(h2_plan(1, Until::Count(30), Some(1000)), 3, script);
    let resets = out.stats.error_count(ErrorKind::H2ResetInternal);
    assert_eq!(out.tally().0 + resets, 30, "every request accounted for");
    assert_eq!(out.tally(), (30 - resets, resets, 0));
    assert!((9..=11).contains(&resets), "{resets} reset");
    assert_eq!(out.count(kind::HEADERS), 31, "the refused one went twice");
    assert_eq!(out.accepted, 1, "resets leave the connection open");
}

#[test]
fn a_server_that_refuses_everything_ends_each_request_as_refused_without_a_loop() {
    let script = Script::serving(|ctx, f| match f.kind {
        kind::HEADERS => ctx.send(ms(1), rst(f.stream, ErrorCode::REFUSED_STREAM)),
        _ => polite(ctx, f, ms(1)),
    });
    let out = run(h2_plan(1, Until::Count(3), None), 2, script);
    assert_eq!(out.tally(), (0, 3, 0));
    assert_eq!(out.stats.error_count(ErrorKind::H2Refused), 3);
    assert_eq!(out.count(kind::HEADERS), 3 * (1 + super::table::MAX_REFUSALS as usize));
}

/// A server announcing `limits` in turn (the first with its preface, the
/// next after each `every` requests) that records the most streams it saw
/// open beyond the limit the client had acknowledged.
fn limiting(limits: &'static [u32], every: u64, excess: Rc<Cell<i64>>) -> Script {
    let open = Rc::new(RefCell::new(std::collections::HashSet::new()));
    let (acked, sent) = (Rc::new(Cell::new(limits[0])), Rc::new(Cell::new(0)));
    let announced = Rc::new(RefCell::new(std::collections::VecDeque::new()));
    let first = announced.clone();
    Script::new(
        move |ctx| {
            first.borrow_mut().push_back(limits[0]);
            ctx.send(Duration::ZERO, super::harness::settings_frame(&[(setting::MAX_CONCURRENT_STREAMS, limits[0])]));
        },
        move |ctx, f| {
            if f.kind == kind::SETTINGS && f.flags & flag::ACK != 0 {
                acked.set(announced.borrow_mut().pop_front().unwrap_or(acked.get()));
            }
            if f.kind == kind::HEADERS {
                open.borrow_mut().insert((ctx.socket, f.stream));
                let over = open.borrow().len() as i64 - i64::from(acked.get());
                excess.set(excess.get().max(over));
                let next = (ctx.nth + 1) / every;
                if (ctx.nth + 1) % every == 0 && (next as usize) < limits.len() {
                    let limit = limits[next as usize];
                    // Lowering binds once acknowledged; until then the old limit holds.
                    announced.borrow_mut().push_back(limit);
                    acked.set(acked.get().max(limit));
                    sent.set(sent.get() + 1);
                    let settings = super::harness::settings_frame(&[(setting::MAX_CONCURRENT_STREAMS, limit)]);
                    ctx.send(Duration::ZERO, settings);
                }
            }
            if request_complete(f) {
                let done = open.clone();
                done.borrow_mut().remove(&(ctx.socket, f.stream));
                ctx.send(ms(10), answer(f.stream, 200, "ok"));
            }
            polite_settings(ctx, f);
        },
    )
}

#[test]
fn the_servers_stream_limit_binds_below_streams_and_as_it_changes() {
    let excess = Rc::new(Cell::new(i64::MIN));
    let out = run(h2_plan(1, Until::Count(20), Some(1000)), 8, limiting(&[2], 100, excess.clone()));
    assert_eq!(out.tally(), (20, 0, 0));
    assert!(excess.get() <= 0, "never more open than allowed: {}", excess.get());
    assert_eq!(out.elapsed, ms(100), "2 at a time, 10 ms each");
    let latency = &out.stats.latency;
    assert_eq!(latency.max_ns(), 10_000_000, "no start waits in the machine: starts follow the server's limit");
    // 5 after 6 requests, then 1 after 12 more.
    let excess = Rc::new(Cell::new(i64::MIN));
    let out = run(h2_plan(1, Until::Count(30), Some(1000)), 8, limiting(&[2, 5, 1], 6, excess.clone()));
    assert_eq!(out.tally(), (30, 0, 0));
    assert!(excess.get() <= 0, "never more open than allowed: {}", excess.get());
    assert_eq!(out.stats.error_count(ErrorKind::H2Refused), 0);
}

#[test]
fn a_request_body_goes_through_a_window_of_one_byte() {
    let spec = crate::http::RequestSpec {
        method: "POST".into(),
        target: "/upload".into(),
        defaults: vec![("Host".into(), "sim".into())],
        user: vec![],
        body: bytes::Bytes::from(vec![b'x'; 100]),
    };
    let mut plan = h2_plan(1, Until::Count(4), Some(5000));
    let pool = std::sync::Arc::new(crate::http::Pool::single(spec.build()));
    plan.requests = crate::engine::requests::RequestSet::new(pool, true, false, "sim".into(), 80);
    let body_bytes = Rc::new(Cell::new(0));
    let seen = body_bytes.clone();
    let script = Script::new(
        |ctx| ctx.send(Duration::ZERO, super::harness::settings_frame(&[(setting::INITIAL_WINDOW_SIZE, 1)])),
        move |ctx, f| {
            if f.kind == kind::DATA {
                assert!(f.payload.len() <= 1, "never past the window");
                seen.set(seen.get() + f.payload.len());
                let mut update = Vec::new();
                frame::encode_window_update(&mut update, f.stream, 1);
                ctx.send(ms(1), update);
            }
            polite(ctx, f, ms(1));
        },
    );
    let out = run(plan, 2, script);
    assert_eq!(out.tally(), (4, 0, 0));
    assert_eq!(body_bytes.get(), 400, "every body byte arrived once");
}

/// A server that answers each request with what `reply` makes of its
/// stream id and its place on the connection.
fn replying(reply: impl Fn(u32, u64) -> Vec<u8> + 'static) -> Script {
    Script::serving(move |ctx, f| {
        polite_settings(ctx, f);
        if request_complete(f) {
            ctx.send(ms(2), reply(f.stream, ctx.nth));
        }
    })
}

/// Runs 6 requests, 3 streams on one connection, against `script`: the
/// tally and the count of `kind`.
fn misbehaving(script: Script, kind: ErrorKind) -> ((u64, u64, u64), u64) {
    let out = run(h2_plan(1, Until::Count(6), Some(2000)), 3, script);
    (out.tally(), out.stats.error_count(kind))
}

#[test]
fn a_continuation_flood_is_a_named_connection_error() {
    let flood = replying(|stream, _| {
        let mut out = Vec::new();
        let header =
            |kind, flags, len| frame::FrameHeader { payload_len: len, kind, flags, stream_id: stream }.encode();
        out.extend(header(kind::HEADERS, 0, 1));
        out.push(0x88);
        for _ in 0..20 {
            out.extend(header(kind::CONTINUATION, 0, 16_384));
            out.extend(std::iter::repeat_n(0u8, 16_384));
        }
        out
    });
    assert_eq!(misbehaving(flood, ErrorKind::H2HeaderFlood), ((0, 6, 0), 6));
}

#[test]
fn a_frame_over_the_maximum_size_is_a_named_connection_error() {
    let big = replying(|stream, _| {
        let mut out = head(stream, 200, &[], false);
        out.extend(frame::FrameHeader { payload_len: 16_385, kind: kind::DATA, flags: 0, stream_id: stream }.encode());
        out.extend(vec![0; 16_385]);
        out
    });
    assert_eq!(misbehaving(big, ErrorKind::H2FrameSize), ((0, 6, 0), 6));
}

/// A whole response: a head of `updates` (table size updates), `:status
/// 200` and `fields`, with END_STREAM.
fn block_frame(stream: u32, updates: &[u8], fields: &[u8]) -> Vec<u8> {
    let block = [updates, &[0x88], fields].concat();
    let mut out = Vec::new();
    frame::encode_headers(&mut out, stream, &block, true, frame::DEFAULT_MAX_FRAME_BYTES);
    out
}

#[test]
fn the_servers_dynamic_table_and_its_size_updates_are_followed() {
    // The first answer adds a field to the table, the next use it, every
    // third shrinks the table to nothing and adds it again.
    let indexing = replying(|stream, nth| {
        let (mut updates, mut fields) = (Vec::new(), Vec::new());
        if nth % 3 == 0 {
            encode_size_update(0, &mut updates);
            encode_size_update(4096, &mut updates);
            encode_integer(0, 6, 0x40, &mut fields);
            encode_string(b"x-served-by", &mut fields);
            encode_string(b"peer", &mut fields);
        } else {
            encode_integer(62, 7, 0x80, &mut fields);
        }
        block_frame(stream, &updates, &fields)
    });
    let out = run(h2_plan(1, Until::Count(12), Some(1000)), 1, indexing);
    assert_eq!(out.tally(), (12, 0, 0));
    // An index past the table after a size update emptied it: the tables are out of step.
    let stale = replying(|stream, nth| {
        let (mut updates, mut fields) = (Vec::new(), Vec::new());
        if nth == 0 {
            encode_size_update(0, &mut updates);
        }
        encode_integer(62, 7, 0x80, &mut fields);
        block_frame(stream, &updates, &fields)
    });
    assert_eq!(misbehaving(stale, ErrorKind::H2Compression), ((0, 6, 0), 6));
}

#[test]
fn a_ping_flood_is_answered_and_costs_no_request() {
    let script = Script::new(
        |ctx| {
            ctx.send(Duration::ZERO, super::harness::settings_frame(STREAMS_100));
            let mut pings = Vec::new();
            (0..1000u64).for_each(|i| frame::encode_ping(&mut pings, false, i.to_be_bytes()));
            ctx.send(ms(1), pings);
        },
        |ctx, f| polite(ctx, f, ms(3)),
    );
    let out = run(h2_plan(1, Until::Count(20), Some(1000)), 4, script);
    assert_eq!(out.tally(), (20, 0, 0));
    let acks = out.received.iter().filter(|(_, f)| f.kind == kind::PING && f.flags & flag::ACK != 0).count();
    assert_eq!(acks, 1000, "every PING answered");
}

#[test]
fn a_server_that_never_sends_settings_ends_in_a_named_error() {
    let silent = || Script::new(|_| {}, |_, _| {});
    // With -t: each request at its deadline, named for what was missing.
    let mut plan = h2_plan(1, Until::Count(4), Some(300));
    plan.preconnect_timeout = ms(1000);
    let out = run(plan, 2, silent());
    assert_eq!(out.tally(), (0, 4, 0));
    assert_eq!(out.stats.error_count(ErrorKind::H2NoSettings), 4);
    assert_eq!(out.stats.preconnect_failures, 1, "the opening ended at its limit");
    assert_eq!(out.elapsed, ms(602), "two rounds of 300 ms, each followed by the 1 ms pause of a failed connection");
    // Without -t: the SETTINGS' own deadline (--connect-timeout) ends them.
    let mut plan = h2_plan(1, Until::Count(4), None);
    (plan.connect_timeout, plan.requests.keepalive) = (Some(ms(200)), false);
    let out = run(plan, 2, silent());
    assert_eq!((out.tally(), out.stats.error_count(ErrorKind::H2NoSettings)), ((0, 4, 0), 4));
    // Another frame first is the same failure, at once.
    let headers_first = Script::new(
        |_| {},
        |ctx, f| {
            if f.kind == kind::HEADERS {
                ctx.send(ms(1), answer(f.stream, 200, "ok"));
            }
        },
    );
    let mut plan = h2_plan(1, Until::Count(4), None);
    plan.requests.keepalive = false;
    let out = run(plan, 2, headers_first);
    assert_eq!((out.tally(), out.stats.error_count(ErrorKind::H2NoSettings)), ((0, 4, 0), 4));
}

#[test]
fn each_stream_times_out_on_its_own_and_is_cancelled() {
    // Every other request is never answered.
    let script = Script::serving(|ctx, f| {
        polite_settings(ctx, f);
        if request_complete(f) && ctx.nth % 2 == 1 {
            ctx.send(ms(5), answer(f.stream, 200, "ok"));
        }
    });
    let out = run(h2_plan(1, Until::Count(10), Some(100)), 5, script);
    assert_eq!(out.tally(), (5, 5, 0));
    assert_eq!(out.stats.error_count(ErrorKind::Timeout), 5);
    let cancels = out.received.iter().filter(|(_, f)| f.kind == kind::RST_STREAM).count();
    assert_eq!((cancels, out.accepted), (5, 1), "each cancelled with RST_STREAM; the connection stays");
    let corrected = &out.stats.corrected;
    assert_eq!(corrected.max_ns(), 100_000_000, "a timeout sits at -t");
}

#[test]
fn a_connection_lost_fails_its_streams_and_the_next_ones_reconnect() {
    // The 4th request on each connection gets a reset connection instead.
    let script = Script::serving(|ctx, f| {
        polite_settings(ctx, f);
        if request_complete(f) {
            match ctx.nth {
                3 => ctx.step(ms(1), Step::Reset),
                _ => ctx.send(ms(2), answer(f.stream, 200, "ok")),
            }
        }
    });
    let out = run(h2_plan(1, Until::Count(20), Some(1000)), 2, script);
    let (ok, errors, aborted) = out.tally();
    assert_eq!((ok + errors, aborted), (20, 0));
    assert_eq!(out.stats.error_count(ErrorKind::Reset), errors);
    assert!(errors >= 4 && out.accepted >= 5, "{errors} errors on {} connections", out.accepted);
}

#[test]
fn an_event_stream_on_a_stream_is_timed_token_by_token() {
    use crate::stats::metrics::{ITL, TTFT};
    // The head at 1 ms, a token at 80 ms and then every 15 ms, [DONE] after.
    let script = Script::serving(|ctx, f| {
        polite_settings(ctx, f);
        if !request_complete(f) {
            return;
        }
        ctx.send(ms(1), head(f.stream, 200, &[("content-type", "text/event-stream")], false));
        for i in 0..4 {
            let token = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n");
            ctx.send(ms(80 + 15 * i), data(f.stream, token.as_bytes(), false));
        }
        ctx.send(ms(126), data(f.stream, b"data: [DONE]\n\n", true));
    });
    let out = run(h2_plan(1, Until::Count(6), Some(1000)), 3, script);
    assert_eq!(out.tally(), (6, 0, 0));
    let (ttft, itl) = (out.stats.metrics.get(TTFT), out.stats.metrics.get(ITL));
    assert_eq!((ttft.count(), ttft.min_ns(), ttft.max_ns()), (6, 80_000_000, 80_000_000));
    assert_eq!((itl.count(), itl.min_ns(), itl.max_ns()), (18, 15_000_000, 15_000_000), "three gaps per stream");
    assert_eq!(out.elapsed, ms(252), "two rounds of three streams");
}

#[test]
fn a_connection_that_streamed_reads_its_next_heads_with_stamps() {
    // Each answer's head and first event come in one read, at 80 ms; the
    // rest 15 ms apart. Only the first stream of the connection finds its
    // head unstamped: after it, the connection asks for stamps while a
    // stream is in flight, so a head's first event is timed by its arrival.
    let script = Script::serving(|ctx, f| {
        polite_settings(ctx, f);
        if !request_complete(f) {
            return;
        }
        let token = |i: u64| format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n");
        let mut first = head(f.stream, 200, &[("content-type", "text/event-stream")], false);
        first.extend(data(f.stream, token(0).as_bytes(), false));
        ctx.send(ms(80), first);
        for i in 1..3 {
            ctx.send(ms(80 + 15 * i), data(f.stream, token(i).as_bytes(), false));
        }
        ctx.send(ms(111), data(f.stream, b"data: [DONE]\n\n", true));
    });
    let out = run(h2_plan(1, Until::Count(4), Some(1000)), 1, script);
    assert_eq!(out.tally(), (4, 0, 0));
    assert_eq!(out.reads_plain, 3, "the server's SETTINGS, its ACK and the first stream's head");
    assert_eq!(out.reads_stamped, 4 * 4 - 1, "every other read of the four streams");
}

#[test]
fn bytes_with_the_proxys_reply_fail_the_tunnel_as_nothing_was_sent_yet() {
    use std::sync::Arc;
    use std::time::Instant;

    use super::super::{Event, Io};
    use super::{H2Connection, H2Requests};
    let (plan, t0) = (h2_plan(1, Until::Elapsed(Duration::from_secs(1)), None), Instant::now());
    let opening = Arc::new(crate::proxy::Opening::connect("h:8080", None, &[]));
    let blocks = Arc::new(H2Requests::new(&plan.requests));
    let mut c = H2Connection::new(None, plan.limits(), blocks, 1).with_tunnel(Some(opening));
    c.open(t0, t0 + Duration::from_secs(1));
    while c.poll_io().is_some() {}
    c.handle_connected(Ok(()), t0);
    while c.poll_io().is_some() {}
    // The server's SETTINGS before our preface went out: not from the target.
    let settings = super::harness::settings_frame(&[]);
    c.handle_data(&[&b"HTTP/1.1 200 OK\r\n\r\n"[..], &settings].concat(), t0);
    let opened = std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
        Event::Opened(opened) => Some(opened.result),
        _ => None,
    });
    assert_eq!(opened, Some(Err(ErrorKind::ProxyInvalidReply)));
    assert!(std::iter::from_fn(|| c.poll_io()).any(|io| io == Io::Close));
}
