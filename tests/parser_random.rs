//! Randomized hardening of the response reader (a stable-Rust stand-in for
//! a fuzzer; the seed is fixed so failures reproduce): valid responses are
//! mutated and fed in random pieces. The reader must never panic, must hold
//! at most 64 KiB for a split head, and must give the same answer however
//! the bytes are split. A differential check compares head parsing with
//! httparse.
//!
//! `VASTAR_FUZZ_ITERATIONS=1000000 cargo test --release --test parser_random`
//! runs a longer campaign.

use vastar::http::head::{Status, parse_head};
use vastar::http::{Feed, HttpError, MAX_HEAD_BYTES, ResponseReader};

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CORPUS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 302 Found\r\nLocation: /next\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 500 Internal Server Error\nContent-Length: 1\n\nx",
];

const INSERTS: &[&[u8]] =
    &[b"\r\n", b"\r", b"\n", b":", b" ", b"\t", b"0", b"f", b";", b"\x00", b"\xff", b"-", b"9999999999999999999"];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next() as u8;
            }
            1 if !out.is_empty() => {
                out.remove(at.min(out.len() - 1));
            }
            2 => {
                let piece = INSERTS[rng.below(INSERTS.len())];
                out.splice(at..at, piece.iter().copied());
            }
            3 => {
                let end = (at + rng.below(16)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// What feeding `input` cut at `cuts` yields, plus the reader's peak carry.
fn outcome(input: &[u8], cuts: &[usize]) -> (Result<Feed, HttpError>, Option<String>, usize) {
    let mut reader = ResponseReader::new();
    reader.start(false);
    let mut start = 0;
    let mut peak = 0;
    let mut result = Ok(Feed::NeedMore);
    // Pieces after a complete response are still fed: bytes nobody asked
    // for must forbid reuse whichever read they arrive in.
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        result = reader.feed(&input[start..end]);
        peak = peak.max(reader.carried());
        start = end;
        if result.is_err() {
            break;
        }
    }
    let eof = matches!(result, Ok(Feed::NeedMore)).then(|| format!("{:?}", reader.eof()));
    (result, eof, peak)
}

fn iterations() -> usize {
    std::env::var("VASTAR_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

#[test]
fn mutated_responses_never_panic_and_ignore_segmentation() {
    let mut rng = Rng(0x5eed_cafe_f00d_beef);
    for _ in 0..iterations() {
        let base = CORPUS[rng.below(CORPUS.len())];
        let input = mutate(&mut rng, base);
        let whole = outcome(&input, &[]);
        let mut cuts: Vec<usize> = (0..rng.below(6)).map(|_| rng.below(input.len() + 1)).collect();
        cuts.sort_unstable();
        let split = outcome(&input, &cuts);
        assert_eq!(
            (&whole.0, &whole.1),
            (&split.0, &split.1),
            "input {:?} cut at {cuts:?}",
            String::from_utf8_lossy(&input)
        );
        assert!(split.2 <= MAX_HEAD_BYTES + 1);
    }
}

#[test]
fn huge_and_endless_inputs_stay_bounded() {
    let mut rng = Rng(7);
    let mut reader = ResponseReader::new();
    reader.start(false);
    reader.feed(b"HTTP/1.1 200 OK\r\n").unwrap();
    let mut result = Ok(Feed::NeedMore);
    while result == Ok(Feed::NeedMore) {
        let line: Vec<u8> = (0..rng.below(200) + 1).map(|_| b'a' + (rng.next() % 26) as u8).collect();
        result = reader.feed(&[b"X-", &line[..], b": v\r\n"].concat());
        assert!(reader.carried() <= MAX_HEAD_BYTES + 1);
    }
    assert_eq!(result, Err(HttpError::HeadTooLarge));
    reader.start(false);
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    for _ in 0..10_000 {
        assert_eq!(reader.feed(b"400\r\n").unwrap(), Feed::NeedMore);
        assert_eq!(reader.feed(&[b'x'; 0x400]).unwrap(), Feed::NeedMore);
        assert_eq!(reader.feed(b"\r\n").unwrap(), Feed::NeedMore);
    }
    assert_eq!(reader.carried(), 0, "bodies are never buffered");
}

#[test]
fn head_parsing_agrees_with_httparse() {
    let mut rng = Rng(0xdead_beef_1234_5678);
    let mut compared = 0;
    for _ in 0..iterations() {
        let base = CORPUS[rng.below(CORPUS.len())];
        let input = mutate(&mut rng, base);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut theirs = httparse::Response::new(&mut headers);
        let theirs = theirs.parse(&input).map(|s| match s {
            httparse::Status::Complete(len) => Some((len, theirs.code.unwrap_or(0))),
            httparse::Status::Partial => None,
        });
        let ours = parse_head(&input).map(|s| match s {
            Status::Complete(head) => Some((head.len, head.status)),
            Status::Partial => None,
        });
        match (&ours, &theirs) {
            // Both read a whole head: same length and status.
            (Ok(Some(a)), Ok(Some(b))) => {
                assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&input));
                compared += 1;
            }
            // We accept a head httparse rejects: never.
            (Ok(Some(_)), Err(e)) => {
                panic!("httparse rejects ({e}) what we accept: {:?}", String::from_utf8_lossy(&input))
            }
            // We reject what httparse accepts only for framing rules it does
            // not check (conflicting or malformed Content-Length, status < 100).
            (Err(e), Ok(Some(_))) => assert!(
                matches!(e, HttpError::ContentLength | HttpError::StatusCode | HttpError::HeaderValue),
                "we reject ({e:?}) what httparse accepts: {:?}",
                String::from_utf8_lossy(&input)
            ),
            _ => {}
        }
    }
    assert!(compared > iterations() / 20, "enough heads were compared ({compared})");
}
