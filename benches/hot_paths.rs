//! Microbenchmarks of the per-response hot paths, without any network:
//! the response reader over realistic heads and chunked bodies, HPACK
//! decoding of an HTTP/2 response head, and recording into the latency
//! histogram. `cargo bench` prints throughput;
//! use it to tune these paths in isolation (it asserts nothing).

use std::hint::black_box;
use std::time::{Duration, Instant};

use vastar::http::h2::hpack;
use vastar::http::{Feed, ResponseReader};
use vastar::stats::Histogram;

/// Runs `f` repeatedly for about `budget` and returns iterations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let begun = Instant::now();
    let mut iterations = 0u64;
    while begun.elapsed() < budget {
        for _ in 0..1024 {
            f();
        }
        iterations += 1024;
    }
    iterations as f64 / begun.elapsed().as_secs_f64()
}

fn reader_case(name: &str, response: &[u8], segment: usize) {
    let mut reader = ResponseReader::new();
    let per_second = rate(Duration::from_millis(700), || {
        reader.start(false);
        for piece in response.chunks(segment) {
            if let Ok(Feed::Done(r)) = reader.feed(black_box(piece)) {
                black_box(r);
            }
        }
    });
    let bytes = per_second * response.len() as f64;
    println!("reader {name:<44} {:>10.0} responses/s {:>8.1} MiB/s", per_second, bytes / (1024.0 * 1024.0));
}

/// nginx's response head as HPACK blocks: the first on a connection adds
/// every field to the dynamic table (Huffman-coded values), a later one
/// repeats them all by dynamic index.
fn hpack_blocks() -> (Vec<u8>, Vec<u8>) {
    let fields: [(usize, &[u8]); 7] = [
        (54, b"nginx/1.22.1"),
        (33, b"Sat, 28 Nov 2026 04:00:00 GMT"),
        (31, b"text/html"),
        (28, b"612"),
        (44, b"Tue, 13 Jun 2023 15:08:10 GMT"),
        (34, b"\"6488865a-264\""),
        (18, b"bytes"),
    ];
    // :status 200 is static entry 8.
    let mut first = vec![0x88];
    for (name_index, value) in fields {
        hpack::encode_integer(name_index, 6, 0x40, &mut first);
        hpack::encode_string(value, &mut first);
    }
    let mut again = vec![0x88];
    for index in (62..69).rev() {
        hpack::encode_integer(index, 7, 0x80, &mut again);
    }
    (first, again)
}

fn hpack_case(name: &str, decoder: &mut hpack::Decoder, block: &[u8]) {
    let per_second = rate(Duration::from_millis(700), || {
        let mut bytes = 0;
        decoder.decode(black_box(block), |n, v| bytes += n.len() + v.len()).unwrap();
        black_box(bytes);
    });
    println!("hpack {name:<45} {:>10.0} blocks/s {:>8.1} ns/block", per_second, 1e9 / per_second);
}

fn main() {
    let typical = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Sat, 28 Nov 2026 04:00:00 GMT\r\n\
Content-Type: application/json\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\
Cache-Control: no-cache\r\nX-Request-Id: 4b1c2d3e-aaaa-bbbb-cccc-0123456789ab\r\n\r\nhello";
    reader_case("typical head + 5 B body, one read", typical, typical.len());
    reader_case("typical head + 5 B body, 16 B reads", typical, 16);

    let mut chunked =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for i in 0..64 {
        let data = format!("data: {{\"token\":{i},\"text\":\"lorem ipsum dolor\"}}\n\n");
        chunked.extend_from_slice(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    reader_case("chunked SSE stream, 64 chunks, 16 KiB reads", &chunked, 16 * 1024);

    let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    big.resize(big.len() + 1_048_576, b'x');
    reader_case("1 MiB Content-Length body, 64 KiB reads", &big, 64 * 1024);

    let (first, again) = hpack_blocks();
    let mut decoder = hpack::Decoder::new(usize::MAX);
    hpack_case("nginx head, indexing, Huffman (93 B)", &mut decoder, &first);
    hpack_case("nginx head, all dynamic indices (8 B)", &mut decoder, &again);

    let mut histogram = Histogram::new();
    let mut value = 1u64;
    let per_second = rate(Duration::from_millis(700), || {
        value = value.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        histogram.record(black_box(value >> 36));
    });
    println!("histogram record (values up to 268 ms)            {per_second:>10.0} records/s");
    black_box(histogram.percentile_ns(99.0));
}
