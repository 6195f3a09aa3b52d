//! The run's requests as HTTP/2 sends them: each pre-built HTTP/1.1
//! request of the pool turned once, before the clock starts, into an HPACK
//! header block (static table and literals without indexing, so the same
//! bytes are valid on every connection at any time) and its body. Only
//! the frame headers differ per request: the HTTP/2 twin of the pool's
//! pre-built bytes.
//!
//! An entry with `{{seq}}` differs per request, so its block is built when
//! the stream starts, from the numbered copy of its HTTP/1.1 bytes, into
//! the connection's scratch buffers (reused: steady state allocates
//! nothing). So is a redirect hop's, from the HTTP/1.1 request the rules
//! shared with HTTP/1.1 make of the request it follows
//! ([`RequestSet::next_hop`]).

use bytes::{Bytes, BytesMut};

use crate::engine::requests::RequestSet;
use crate::http::find;
use crate::http::h2::hpack::encode_request;
use crate::stats::ErrorKind;

/// Header fields HTTP/2 forbids or says otherwise (RFC 9113 section 8.2.2
/// and 8.3.1): the Host field becomes `:authority`.
const LEFT_OUT: [&[u8]; 6] =
    [b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"];

/// One request of the pool, as HTTP/2 sends it.
#[derive(Clone, Debug)]
struct H2Entry {
    block: Vec<u8>,
    body: Bytes,
}

/// The pool's requests as HTTP/2 header blocks, shared read-only by every
/// HTTP/2 connection of the run.
#[derive(Clone, Debug)]
pub struct H2Requests {
    /// The run's requests, and their redirect rules.
    set: RequestSet,
    entries: Vec<H2Entry>,
    scheme: &'static str,
    /// `:authority` for a request without a Host field.
    authority: String,
}

/// A connection's buffers for the requests built at start (`{{seq}}`).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    numbered: BytesMut,
    block: Vec<u8>,
}

impl H2Requests {
    /// Encodes every entry of `requests`' pool (before the clock starts).
    pub fn new(requests: &RequestSet) -> H2Requests {
        let scheme = requests.scheme();
        let default_port = if scheme == "https" { 443 } else { 80 };
        let authority = match requests.port {
            port if port == default_port => requests.host.clone(),
            port => format!("{}:{port}", requests.host),
        };
        let entries = requests
            .pool
            .entries()
            .iter()
            .map(|entry| {
                let mut block = Vec::with_capacity(entry.bytes.len());
                let body = encode(&entry.bytes, scheme, &authority, &mut block);
                H2Entry { block, body: entry.bytes.slice(body..) }
            })
            .collect();
        H2Requests { set: requests.clone(), entries, scheme, authority }
    }

    /// Whether JSON answers are read for `usage`.
    pub(super) fn usage_in_json(&self) -> bool {
        self.set.usage_in_json
    }

    /// The target (of the run's targets) request number `pick` is for.
    pub(super) fn target(&self, pick: u64) -> u16 {
        let pool = &self.set.pool;
        pool.entry(pool.index_of(pick)).target
    }

    /// The header block and body of request number `pick`, or of its
    /// redirect `hop` (HTTP/1.1 bytes) when it has one: pre-built, or for
    /// an entry with `{{seq}}` and for a hop built now into `scratch`.
    pub(super) fn request<'a>(
        &'a self,
        pick: u64,
        hop: Option<&'a Bytes>,
        scratch: &'a mut Scratch,
    ) -> (&'a [u8], &'a [u8]) {
        scratch.block.clear();
        if let Some(hop) = hop {
            let body = encode(hop, self.scheme, &self.authority, &mut scratch.block);
            return (&scratch.block, &hop[body..]);
        }
        let pool = &self.set.pool;
        let index = pool.index_of(pick);
        let entry = pool.entry(index);
        if !entry.has_seq() {
            let built = &self.entries[index];
            return (&built.block, &built.body);
        }
        entry.write(pick, pool.seq_width(), &mut scratch.numbered);
        let body = encode(&scratch.numbered, self.scheme, &self.authority, &mut scratch.block);
        (&scratch.block, &scratch.numbered[body..])
    }

    /// The request that follows request number `pick` (or its redirect
    /// `hop`, after `hops` of them) when its response with `status` and
    /// `location` is complete: see [`RequestSet::next_hop`].
    pub(super) fn next_hop(
        &self,
        pick: u64,
        hop: Option<&Bytes>,
        hops: u8,
        status: u16,
        location: &[u8],
    ) -> Result<Option<Bytes>, ErrorKind> {
        if !self.set.follow_redirects {
            return Ok(None);
        }
        let pool = &self.set.pool;
        let entry = pool.entry(pool.index_of(pick));
        let sent = match hop {
            Some(hop) => hop.clone(),
            None if !entry.has_seq() => entry.bytes.clone(),
            None => {
                let mut numbered = BytesMut::new();
                entry.write(pick, pool.seq_width(), &mut numbered);
                numbered.freeze()
            }
        };
        self.set.next_hop(&sent, status, Some(location), hops)
    }
}

/// Appends the header block of `request` (an HTTP/1.1 request built by
/// [`crate::http::RequestSpec::build`]) to `out`: where its body starts.
fn encode(request: &[u8], scheme: &'static str, authority: &str, out: &mut Vec<u8>) -> usize {
    let head_end = find(request, b"\r\n\r\n").map_or(request.len(), |at| at + 4);
    let mut lines = request[..head_end].split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let mut words = lines.next().unwrap_or_default().split(|&b| b == b' ');
    let (method, path) = (words.next().unwrap_or(b"GET"), words.next().unwrap_or(b"/"));
    let fields: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii()))
        })
        .collect();
    let host = fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(b"host")).map(|&(_, value)| value);
    let kept: Vec<(&[u8], &[u8])> = fields
        .iter()
        .copied()
        .filter(|(name, _)| !LEFT_OUT.iter().any(|left| name.eq_ignore_ascii_case(left)))
        // TE may only say "trailers" in HTTP/2 (RFC 9113 section 8.2.2).
        .filter(|(name, value)| !name.eq_ignore_ascii_case(b"te") || value.eq_ignore_ascii_case(b"trailers"))
        .collect();
    let authority = host.unwrap_or(authority.as_bytes());
    encode_request(method, scheme.as_bytes(), authority, path, &kept, out);
    head_end
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::http::h2::hpack::Decoder;
    use crate::http::{Entry, Pool, RequestSpec};

    fn decoded(block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Decoder::new(1 << 16).decode(block, |n, v| fields.push((text(n), text(v)))).unwrap();
        fields
    }

    fn spec(target: &str, body: &'static [u8]) -> RequestSpec {
        RequestSpec {
            method: "POST".into(),
            target: target.into(),
            defaults: vec![
                ("Host".into(), "example.com:8443".into()),
                ("Connection".into(), "keep-alive".into()),
                ("Content-Length".into(), body.len().to_string()),
            ],
            user: vec![("X-Token".into(), "a b".into())],
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn a_request_becomes_pseudo_fields_and_its_own_fields_without_connection_ones() {
        let pool = Arc::new(Pool::single(spec("/p?q=1", b"hello").build()));
        let requests = RequestSet::new(pool, true, false, "example.com".into(), 8443);
        let h2 = H2Requests::new(&requests);
        let mut scratch = Scratch::default();
        let (block, body) = h2.request(0, None, &mut scratch);
        let fields = decoded(block);
        let want = [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "example.com:8443"),
            (":path", "/p?q=1"),
            ("content-length", "5"),
            ("x-token", "a b"),
        ];
        let names: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for field in want {
            assert!(names.contains(&field), "{field:?} in {names:?}");
        }
        assert!(!names.iter().any(|(n, _)| *n == "host" || *n == "connection"), "{names:?}");
        assert_eq!(body, b"hello");
    }

    #[test]
    fn seq_entries_are_built_at_start_with_their_number() {
        let zeros = spec("/item/000", b"id=000").build();
        let nines = spec("/item/999", b"id=999").build();
        let pool = Pool::new(vec![Entry::with_seq(zeros, &nines, 3, 0)], 3, 1);
        let requests = RequestSet::new(Arc::new(pool), true, false, "example.com".into(), 80);
        let h2 = H2Requests::new(&requests);
        let mut scratch = Scratch::default();
        let (block, body) = h2.request(42, None, &mut scratch);
        assert!(decoded(block).contains(&(":path".into(), "/item/042".into())));
        assert_eq!(body, b"id=042");
    }
}
