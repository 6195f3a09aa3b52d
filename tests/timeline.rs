//! The run's timeline end to end, on every backend: intervals add up
//! exactly to the run's totals, a server's stall shows as empty intervals
//! where it happened, and timelines of runs on two processes merge into
//! their interval-by-interval sum.

mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Reply, Scripted, each_backend, send};
use vastar::result::ResultDoc;
use vastar::stats::timeline::{CLASSES, class_of};

fn reply(status: &str) -> Reply {
    send(&format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\nhello"))
}

#[test]
fn intervals_add_up_to_the_run_totals() {
    each_backend(|backend| {
        let count = AtomicUsize::new(0);
        let server = Scripted::start(move |seen| match count.fetch_add(1, Ordering::SeqCst) % 7 {
            _ if seen.on_connection % 13 == 12 => {
                Reply::SendReset(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nabc".to_vec())
            }
            0 => reply("404 Not Found"),
            1 => reply("503 Service Unavailable"),
            2 => reply("302 Found"),
            _ => reply("200 OK"),
        });
        let config = common::config(&["-n", "3000", "-c", "6", "--interval", "100ms"], &server.url("/a"));
        let outcome = common::run(config, backend);
        let (stats, timeline) = (&outcome.stats, &outcome.timeline);
        assert_eq!(timeline.interval(), Duration::from_millis(100));
        let total = timeline.totals().unwrap();
        assert_eq!(total.responses(), stats.responses);
        assert!(stats.total_errors() > 0 && stats.responses > 0, "the server resets some connections");
        for (class, name) in CLASSES.iter().enumerate() {
            let want: u64 = stats.statuses().filter(|&(code, _)| class_of(code) == class).map(|(_, n)| n).sum();
            assert_eq!(total.statuses[class], want, "{name}");
        }
        assert_eq!(total.errors().collect::<Vec<_>>(), stats.errors().collect::<Vec<_>>());
        assert_eq!((total.wire_bytes, total.body_bytes), (stats.wire_bytes, stats.body_bytes));
        assert_eq!(total.connections, stats.connect.count);
        assert_eq!(total.sent, stats.started);
        assert_eq!(total.latency.count(), stats.corrected.count());
        assert_eq!(total.latency.max_ns(), stats.corrected.max_ns());
        // Every response has a time to first byte, and the intervals hold them all.
        let ttfb = stats.metrics.get(vastar::stats::metrics::TTFB);
        assert_eq!(ttfb.count(), stats.responses);
        assert_eq!(total.metrics, stats.metrics.sparse());
        assert_eq!(stats.issued(), 3000);
    });
}

#[test]
fn a_stall_of_the_server_shows_in_the_intervals_it_lasted() {
    each_backend(|backend| {
        // From one second after the first request to two seconds after it,
        // the server holds every reply until the stall is over.
        let first: &'static Mutex<Option<Instant>> = Box::leak(Box::new(Mutex::new(None)));
        let server = Scripted::start(move |_| {
            let first = *first.lock().unwrap().get_or_insert_with(Instant::now);
            let since = first.elapsed();
            if (Duration::from_secs(1)..Duration::from_secs(2)).contains(&since) {
                std::thread::sleep(Duration::from_secs(2) - since);
            }
            reply("200 OK")
        });
        let config = common::config(&["-z", "3s", "-c", "4", "--interval", "200ms"], &server.url("/"));
        let outcome = common::run(config, backend);
        let responses: Vec<u64> = outcome.timeline.intervals().iter().map(|i| i.responses()).collect();
        assert!(responses.len() >= 15, "{responses:?}");
        // Before: every interval has responses; during (with 200 ms of
        // margin for a reply written just before the stall): none; after:
        // responses again.
        assert!(responses[..4].iter().all(|&n| n > 0), "{responses:?}");
        assert_eq!(responses[6..9], [0, 0, 0], "1.2 s to 1.8 s: {responses:?}");
        assert!(responses[11..14].iter().all(|&n| n > 0), "{responses:?}");
        assert_eq!(responses.iter().sum::<u64>(), outcome.stats.responses);
    });
}

#[test]
fn timelines_of_two_processes_merge_into_their_sum() {
    let server = Scripted::start(|_| reply("200 OK"));
    let url = server.url("/");
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(2);
    let at = format!("{:.3}", at.as_secs_f64());
    let dir = std::env::temp_dir().join(format!("vastar-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["-z", "2s", "-c", "3", "--interval", "500ms", "--start-at", &at, "-o", "json", "--quiet", &url];
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_vastar"));
            command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut files = Vec::new();
    let mut parts = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let file = dir.join(format!("part{i}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file.to_str().unwrap().to_string());
        parts.push(ResultDoc::parse(&String::from_utf8_lossy(&out.stdout)).unwrap().timeline().unwrap().unwrap());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vastar")).args(["merge", "-o", "json", &files[0], &files[1]]).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = ResultDoc::parse(&String::from_utf8_lossy(&out.stdout)).unwrap().timeline().unwrap().unwrap();
    let longest = parts.iter().map(|p| p.intervals().len()).max().unwrap();
    assert_eq!(merged.intervals().len(), longest);
    for (i, interval) in merged.intervals().iter().enumerate() {
        let mut sum = vastar::stats::Interval::default();
        for part in parts.iter().filter_map(|p| p.intervals().get(i)) {
            sum.add(part).unwrap();
        }
        assert_eq!(*interval, sum, "interval {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
