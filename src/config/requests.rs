//! The run's requests: the one URL of the command line, or the targets of
//! a target file, with their templates filled in and built into the pool
//! before the clock starts.
//!
//! Rules that span targets live here: header precedence (defaults, then
//! `-H`, then a target's own), the one place every connection goes (each
//! target's host, or where `--connect-to` sends it), and how many
//! requests the pool holds so that round-robin order and `{{line:...}}`
//! cycles come out exact.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::targets::{self, TargetLine};
use super::tls::ConnectTo;
use super::url::encode_bytes;
use super::{ConfigError, MAX_BODY_BYTES, RequestInput, Url, header_value, invalid, read_at_most, request_spec};
use crate::http::RequestSpec;
use crate::http::pool::{Entry, Pool};
use crate::http::template::{self, Filler, Part, Piece};

/// Requests pre-built when templates or a random order need more than one
/// per target (`--template-pool`).
pub const DEFAULT_POOL: usize = 4096;
/// Most pre-built requests, and most targets (a target's number is 16 bits).
pub const MAX_POOL: usize = 65_536;
/// Most bytes the pre-built requests may take together.
pub const MAX_POOL_BYTES: usize = 256 << 20;
/// Largest target file, and largest `{{line:FILE}}` file.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Width of `{{seq}}` when the run's request count is not known beforehand.
pub const SEQ_WIDTH_OPEN: usize = 12;

/// In which order requests go out over the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    RoundRobin,
    /// Each pre-built request of a randomly chosen target (seeded).
    Random,
}

impl Order {
    pub fn parse(text: &str) -> Result<Order, ConfigError> {
        match text {
            "round-robin" | "roundrobin" | "rr" => Ok(Order::RoundRobin),
            "random" => Ok(Order::Random),
            other => Err(invalid("--targets-order", format!("{other:?} is not an order; use round-robin or random"))),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Order::RoundRobin => "round-robin",
            Order::Random => "random",
        }
    }
}

/// The flags that choose the requests, besides the request flags themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFlags<'a> {
    /// `--targets FILE` (`-`: standard input).
    pub targets: Option<&'a Path>,
    pub order: Option<&'a str>,
    pub seed: Option<u64>,
    pub pool: Option<u64>,
    pub connect_to: &'a [String],
    /// `--unix-socket`: every connection goes there, whatever the hosts.
    pub unix_socket: bool,
    /// How to choose a proxy for the first target (none: no proxy).
    pub proxy: Option<ProxyChoice<'a>>,
}

/// What chooses the run's proxy ([`super::proxy::choose`]).
#[derive(Clone, Copy, Debug)]
pub struct ProxyChoice<'a> {
    pub flags: super::proxy::ProxyFlags<'a>,
    pub env: &'a super::proxy::ProxyEnv,
    /// The run speaks HTTP/2.
    pub http2: bool,
}

/// The run's requests, ready for the engine.
#[derive(Clone, Debug)]
pub struct Requests {
    /// The first target's URL: the scheme, and for TLS the server name.
    pub url: Url,
    /// The first pre-built request's spec (`{{seq}}` as zeros).
    pub request: RequestSpec,
    /// Where connections go instead of `url`'s host and port.
    pub connect_to: Option<(String, u16)>,
    pub pool: Arc<Pool>,
    pub facts: Facts,
    /// The proxy the requests go through, if any.
    pub proxy: Option<super::proxy::Proxy>,
}

/// What the report and the result say about the requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Each target as the report names it (`GET http://host/path`).
    pub labels: Vec<String>,
    pub order: Order,
    /// The seed of random values and the random order (`--seed`).
    pub seed: u64,
    /// Some request holds a template.
    pub templated: bool,
    /// Read from a target file.
    pub from_file: bool,
}

/// One target before its templates are filled in.
struct Source {
    /// Its line in the target file (none for the command line's URL).
    line: Option<usize>,
    method: String,
    url: Url,
    target: Vec<Piece>,
    /// The target's own header fields (after `-H`'s, replacing them by name).
    headers: Vec<(String, Vec<Piece>)>,
    /// Its `@file` body, or `None` for `-d`/`-D`'s.
    body: Option<(Vec<Piece>, Bytes)>,
}

/// What every target shares: `-H` fields and the `-d`/`-D` body.
struct Common<'a> {
    input: &'a RequestInput,
    headers: Vec<(String, Vec<Piece>)>,
    body: Vec<Piece>,
    seq_width: usize,
}

/// Reads the targets (the URL, or the target file), checks them against
/// each other and `--connect-to`, and builds the pool.
pub fn build(
    url: &str,
    input: &RequestInput,
    flags: &RequestFlags<'_>,
    seq_width: usize,
) -> Result<Requests, ConfigError> {
    let pool_size = pool_size(flags.pool)?;
    let (file, sources) = match flags.targets {
        Some(path) => {
            let shown = path.display().to_string();
            (Some(shown.clone()), file_sources(path, &shown, input, pool_size.min(MAX_POOL))?)
        }
        None => (None, vec![url_source(url, input)?]),
    };
    let mappings: Vec<ConnectTo> = flags.connect_to.iter().map(|t| ConnectTo::parse(t)).collect::<Result<_, _>>()?;
    let connect_to = destination(&sources, &mappings, flags.unix_socket)?;
    let proxy = match flags.proxy {
        Some(c) => {
            let direct = connect_to.is_some() || flags.unix_socket;
            super::proxy::choose(&c.flags, c.env, &sources[0].url, c.http2, direct)?
        }
        None => None,
    };
    let absolute;
    let input = match &proxy {
        // Absolute form: every request carries the proxy's fields.
        Some(p) if !p.tunnel => {
            absolute = RequestInput { absolute: Some(p.fields()), ..input.clone() };
            &absolute
        }
        _ => input,
    };
    let common = Common {
        input,
        headers: templated_headers("-H", &input.headers)?,
        body: only_templated(template::parse(&input.body).map_err(|e| invalid("-d/-D", e.to_string()))?),
        seq_width,
    };
    let uses = line_uses(&sources, &common);
    let mut files = Vec::new();
    for (path, _, line) in &uses {
        let lines = read_lines(path).map_err(|why| at(file.as_deref(), *line, invalid("template", why)))?;
        files.push((path.clone(), lines));
    }
    let order = flags.order.map(Order::parse).transpose()?.unwrap_or(Order::RoundRobin);
    let seed = flags.seed.unwrap_or_else(fresh_seed);
    let random = order == Order::Random || sources.iter().any(|s| holds(s, &common, is_random));
    let counts: Vec<(usize, usize)> =
        uses.iter().zip(&files).map(|((_, per_round, _), (_, lines))| (lines.len(), *per_round)).collect();
    let length = pool_length(sources.len(), &counts, random, pool_size);
    let mut filler = Filler::new(seed, files);
    let (entries, first) = build_pool(&sources, &common, (&mut filler, order, length), file.as_deref())?;
    let templated = sources.iter().any(|s| holds(s, &common, |p| !matches!(p, Piece::Literal(_))));
    Ok(Requests {
        url: sources[0].url.clone(),
        request: first,
        connect_to,
        pool: Arc::new(Pool::new(entries, seq_width, sources.len())),
        proxy,
        facts: Facts {
            labels: sources.iter().map(|s| format!("{} {}", s.method, s.url.display_without_credentials())).collect(),
            order,
            seed,
            templated,
            from_file: file.is_some(),
        },
    })
}

/// `e` at `line` of the target `file`, when both are known.
fn at(file: Option<&str>, line: Option<usize>, e: ConfigError) -> ConfigError {
    match (file, line) {
        (Some(file), Some(line)) => ConfigError::Targets { file: file.to_string(), line, why: e.to_string() },
        _ => e,
    }
}

/// The pool's `length` entries, and the first one's spec. A target whose
/// texts hold no random value or line is built once and its bytes shared
/// by all its entries (a random order of large bodies costs one body each).
fn build_pool(
    sources: &[Source],
    common: &Common,
    (filler, order, length): (&mut Filler, Order, usize),
    file: Option<&str>,
) -> Result<(Vec<Entry>, RequestSpec), ConfigError> {
    let fixed = |s: &Source| !holds(s, common, |p| is_random(p) || matches!(p, Piece::Line(_) | Piece::JsonLine(_)));
    let mut built: Vec<Option<Entry>> = vec![None; sources.len()];
    let (mut entries, mut first, mut bytes) = (Vec::with_capacity(length), None, 0usize);
    for i in 0..length {
        let target = match order {
            Order::RoundRobin => i % sources.len(),
            Order::Random => filler.random().below(sources.len() as u64) as usize,
        };
        let source = &sources[target];
        if let Some(entry) = &built[target] {
            entries.push(entry.clone());
            continue;
        }
        let (entry, spec) = build_entry(source, common, filler, target as u16).map_err(|e| at(file, source.line, e))?;
        first.get_or_insert(spec);
        bytes += entry.bytes.len();
        if bytes > MAX_POOL_BYTES {
            let why = format!(
                "the {length} pre-built requests would take more than {} MiB; lower --template-pool",
                MAX_POOL_BYTES >> 20
            );
            return Err(invalid("--template-pool", why));
        }
        if fixed(source) {
            built[target] = Some(entry.clone());
        }
        entries.push(entry);
    }
    let first = first.ok_or_else(|| invalid("--template-pool", "the pool holds no request"))?;
    Ok((entries, first))
}

/// Whether a text of `source`'s requests (its own, `-H` values, and the
/// `-d`/`-D` body unless it has its own) holds a piece that `is` says of.
fn holds(source: &Source, common: &Common, is: impl Fn(&Piece) -> bool) -> bool {
    let any = |pieces: &Vec<Piece>| pieces.iter().any(&is);
    pieces_of(source).any(any)
        || common.headers.iter().any(|(_, v)| any(v))
        || (source.body.is_none() && any(&common.body))
}

/// `{{rand:N}}` and `{{uuid}}`: values that differ from request to request.
fn is_random(piece: &Piece) -> bool {
    matches!(piece, Piece::Rand(_) | Piece::Uuid)
}

/// `pieces` when they hold a placeholder; nothing otherwise (the text is
/// then used as it is, without a copy).
fn only_templated(pieces: Vec<Piece>) -> Vec<Piece> {
    if template::is_templated(&pieces) { pieces } else { Vec::new() }
}

fn pool_size(given: Option<u64>) -> Result<usize, ConfigError> {
    match given {
        None => Ok(DEFAULT_POOL),
        Some(n) if (1..=MAX_POOL as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid("--template-pool", format!("{n} is out of range; give 1 to {MAX_POOL}"))),
    }
}

/// A seed for a run that was given none (it is reported, so the run can
/// be repeated with `--seed`).
fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// The command line's URL as the run's one target.
fn url_source(text: &str, input: &RequestInput) -> Result<Source, ConfigError> {
    let url = Url::parse(text)?;
    let target = template::parse(url.target.as_bytes()).map_err(|e| ConfigError::Url(format!("{text:?}: {e}")))?;
    Ok(Source { line: None, method: input.method.clone(), url, target, headers: Vec::new(), body: None })
}

/// The targets of a target file.
fn file_sources(path: &Path, shown: &str, input: &RequestInput, most: usize) -> Result<Vec<Source>, ConfigError> {
    let text = read_text(path).map_err(|why| invalid("--targets", format!("{shown:?}: {why}")))?;
    let mut read_body = |body: &str| match read_at_most(Path::new(body), MAX_BODY_BYTES) {
        Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
        Ok(None) => Err("is larger than 256 MiB; request bodies are limited to 256 MiB".into()),
        Err(e) => Err(e.to_string()),
    };
    let fail = |line: usize, why: String| ConfigError::Targets { file: shown.to_string(), line, why };
    let lines = targets::parse(&text, most, &mut read_body).map_err(|e| fail(e.line, e.why))?;
    lines.into_iter().map(|t| file_source(t, input).map_err(|(line, why)| fail(line, why))).collect()
}

fn file_source(t: TargetLine, input: &RequestInput) -> Result<Source, (usize, String)> {
    let line = t.line;
    let fail = |why: String| (line, why);
    let url = Url::parse(&t.url).map_err(|e| fail(e.to_string()))?;
    let target = template::parse(url.target.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut headers = Vec::with_capacity(t.headers.len());
    for (name, value) in t.headers {
        let value = header_value("header", &value).map_err(|e| fail(e.to_string()))?;
        headers.push((name, template::parse(value.as_bytes()).map_err(|e| fail(format!("header {value:?}: {e}")))?));
    }
    let body = match t.body {
        Some(bytes) => Some((only_templated(template::parse(&bytes).map_err(|e| fail(format!("body: {e}")))?), bytes)),
        None => None,
    };
    let method = t.method.unwrap_or_else(|| input.method.clone());
    Ok(Source { line: Some(line), method, url, target, headers, body })
}

/// Reads a whole text file of at most [`MAX_FILE_BYTES`] (`-`: standard input).
fn read_text(path: &Path) -> Result<String, String> {
    let bytes = if path == Path::new("-") {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::io::stdin().take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        (bytes.len() as u64 <= MAX_FILE_BYTES).then_some(bytes)
    } else {
        read_at_most(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?
    };
    let bytes = bytes.ok_or_else(|| format!("is larger than {} MiB", MAX_FILE_BYTES >> 20))?;
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())
}

/// `-H` values as templates.
fn templated_headers(
    flag: &'static str,
    headers: &[(String, String)],
) -> Result<Vec<(String, Vec<Piece>)>, ConfigError> {
    let parse = |(name, value): &(String, String)| {
        template::parse(value.as_bytes())
            .map(|v| (name.clone(), v))
            .map_err(|e| invalid(flag, format!("{value:?}: {e}")))
    };
    headers.iter().map(parse).collect()
}

/// The one place every connection goes: each target's host and port, or
/// where the first `--connect-to` that applies to it sends it (or the
/// `--unix-socket`, for every host). Targets that would need connections
/// to several places, or TLS connections for several names, are refused:
/// a run keeps one set of connections.
fn destination(
    sources: &[Source],
    mappings: &[ConnectTo],
    unix_socket: bool,
) -> Result<Option<(String, u16)>, ConfigError> {
    let place = |s: &Source| {
        ConnectTo::find(mappings, &s.url).map_or_else(|| (s.url.host.clone(), s.url.port), |m| m.to.clone())
    };
    let first = &sources[0];
    for mapping in mappings {
        if !sources.iter().any(|s| mapping.applies(&s.url)) {
            return Err(invalid(
                "--connect-to",
                format!("{:?} applies to no target (none is on that host and port)", mapping.text()),
            ));
        }
    }
    for s in &sources[1..] {
        if s.url.tls != first.url.tls {
            return Err(invalid("--targets", "mixes http:// and https:// targets; run each scheme on its own"));
        }
        if first.url.tls && !s.url.host.eq_ignore_ascii_case(&first.url.host) {
            return Err(invalid(
                "--targets",
                format!(
                    "https:// targets on {} and {}: a TLS connection is made for one name; run each host on its own",
                    first.url.host, s.url.host
                ),
            ));
        }
        let (a, b) = (place(first), place(s));
        if a != b && !unix_socket {
            return Err(invalid(
                "--targets",
                format!(
                    "targets connect to {}:{} and {}:{}; a run keeps one set of connections: send both hosts to one \
                     place with --connect-to HOST:PORT:TO_HOST:TO_PORT (Host headers stay), or run them apart",
                    a.0, a.1, b.0, b.1
                ),
            ));
        }
    }
    Ok(ConnectTo::find(mappings, &first.url).map(|m| m.to.clone()))
}

/// Each `{{line:FILE}}` file, in first-use order, with how many lines a
/// round (one request of every target, in turn) takes from it, and the
/// target file's line that names it first (none for a flag).
fn line_uses(sources: &[Source], common: &Common) -> Vec<(String, usize, Option<usize>)> {
    let mut uses: Vec<(String, usize, Option<usize>)> = Vec::new();
    let mut count = |path: &str, n: usize, line: Option<usize>| match uses.iter_mut().find(|(p, _, _)| p == path) {
        Some((_, total, _)) => *total += n,
        None => uses.push((path.to_string(), n, line)),
    };
    for (_, value) in &common.headers {
        template::line_files(value).for_each(|p| count(p, sources.len(), None));
    }
    for source in sources {
        for pieces in pieces_of(source) {
            template::line_files(pieces).for_each(|p| count(p, 1, source.line));
        }
        if source.body.is_none() {
            template::line_files(&common.body).for_each(|p| count(p, 1, None));
        }
    }
    uses
}

/// Every templated text of a target of its own.
fn pieces_of(source: &Source) -> impl Iterator<Item = &Vec<Piece>> {
    std::iter::once(&source.target)
        .chain(source.headers.iter().map(|(_, v)| v))
        .chain(source.body.iter().map(|(b, _)| b))
}

/// Reads a `{{line:FILE}}` file: its non-empty lines (without CR), each
/// one line of text without control characters.
fn read_lines(path: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = match read_at_most(Path::new(path), MAX_FILE_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(format!("{{{{line:{path}}}}}: the file is larger than {} MiB", MAX_FILE_BYTES >> 20)),
        Err(e) => return Err(format!("{{{{line:{path}}}}}: cannot read the file: {e}")),
    };
    let mut lines = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(format!("{{{{line:{path}}}}}: line {} holds a control character", i + 1));
        }
        if !line.is_empty() {
            lines.push(line.to_vec());
        }
    }
    if lines.is_empty() {
        return Err(format!("{{{{line:{path}}}}}: the file has no lines"));
    }
    Ok(lines)
}

/// How many requests the pool holds. One per target when nothing varies;
/// with `{{line:...}}` files, enough whole rounds of the targets that every
/// file's lines come round exactly (so cycles stay exact over the run);
/// with random values or a random order, `cap` (whole cycles of the
/// above, when they fit). `lines`: each file's line count and the lines a
/// round takes from it.
pub fn pool_length(targets: usize, lines: &[(usize, usize)], random: bool, cap: usize) -> usize {
    let whole_rounds = (cap / targets).max(1) * targets;
    let mut rounds: u128 = 1;
    for &(count, per_round) in lines {
        let need = count / gcd(count, per_round.max(1));
        rounds = rounds / gcd_u128(rounds, need as u128) * need as u128;
    }
    let period = (rounds * targets as u128).min(usize::MAX as u128) as usize;
    match (random, period <= cap) {
        (false, true) => period,
        (true, true) => period * (cap / period).max(1),
        (_, false) => whole_rounds,
    }
}

fn gcd(a: usize, b: usize) -> usize {
    gcd_u128(a as u128, b as u128) as usize
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// One pre-built request of `source` (`{{seq}}` as zeros, and where its
/// digits are), and its spec.
fn build_entry(
    source: &Source,
    common: &Common,
    filler: &mut Filler,
    target: u16,
) -> Result<(Entry, RequestSpec), ConfigError> {
    let filled = fill(source, common, filler);
    let spec = spec_of(source, common, &render_with(&filled, b'0', common.seq_width))?;
    let zeros = spec.build();
    if !filled.has_seq() {
        return Ok((Entry::new(zeros, target), spec));
    }
    let nines = spec_of(source, common, &render_with(&filled, b'9', common.seq_width))?.build();
    Ok((Entry::with_seq(zeros, &nines, common.seq_width, target), spec))
}

/// A target's texts with their values chosen, `{{seq}}` still open.
struct Filled {
    target: Vec<Part>,
    headers: Vec<(String, Vec<Part>)>,
    /// `None`: the body is the shared one, untouched.
    body: Option<Vec<Part>>,
}

impl Filled {
    fn has_seq(&self) -> bool {
        let seq = |parts: &Vec<Part>| parts.contains(&Part::Seq);
        seq(&self.target) || self.headers.iter().any(|(_, v)| seq(v)) || self.body.as_ref().is_some_and(seq)
    }
}

/// The texts of a request: target, header fields (in sending order) and body.
struct Rendered {
    target: String,
    headers: Vec<(String, String)>,
    /// `None`: the body as given (it holds no template).
    body: Option<Bytes>,
}

fn fill(source: &Source, common: &Common, filler: &mut Filler) -> Filled {
    let own: Vec<&str> = source.headers.iter().map(|(n, _)| n.as_str()).collect();
    let mut headers: Vec<(String, Vec<Part>)> = Vec::new();
    for (name, value) in &common.headers {
        if !own.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), filler.fill(value)));
        }
    }
    headers.extend(source.headers.iter().map(|(name, value)| (name.clone(), filler.fill(value))));
    let target = filler.fill(&source.target);
    let pieces = source.body.as_ref().map_or(&common.body, |(pieces, _)| pieces);
    let body = template::is_templated(pieces).then(|| filler.fill(pieces));
    Filled { target, headers, body }
}

fn render_with(filled: &Filled, digit: u8, width: usize) -> Rendered {
    let text = |parts: &[Part]| String::from_utf8_lossy(&template::render(parts, digit, width)).into_owned();
    Rendered {
        target: encode_bytes(&template::render(&filled.target, digit, width)),
        headers: filled.headers.iter().map(|(n, v)| (n.clone(), text(v))).collect(),
        body: filled.body.as_ref().map(|parts| Bytes::from(template::render(parts, digit, width))),
    }
}

/// The spec of one request of `source` with `rendered` texts.
fn spec_of(source: &Source, common: &Common, rendered: &Rendered) -> Result<RequestSpec, ConfigError> {
    let given = || source.body.as_ref().map_or_else(|| common.input.body.clone(), |(_, bytes)| bytes.clone());
    let body = rendered.body.clone().unwrap_or_else(given);
    let input =
        RequestInput { method: source.method.clone(), body, headers: rendered.headers.clone(), ..common.input.clone() };
    let url = Url { target: rendered.target.clone(), ..source.url.clone() };
    request_spec(&url, input)
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
