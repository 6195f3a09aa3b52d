//! Which forward proxy a run goes through, if any, as curl decides it:
//! `-x`/`--proxy` first, else the environment (`https_proxy`/`HTTPS_PROXY`
//! for `https://` targets, `http_proxy` for `http://` ones, lower case
//! only, then `all_proxy`/`ALL_PROXY`), unless the target's host is in
//! `--noproxy` or else `no_proxy`/`NO_PROXY` ([`NoProxy`]).
//!
//! How requests go through it is decided here too: an HTTP proxy carries
//! `http://` requests in absolute form on the proxy connection, and opens a
//! CONNECT tunnel for `https://`, for HTTP/2 (h2c in absolute form does not
//! exist: a proxy would speak HTTP/1.1 to the target) and with
//! `--proxy-tunnel`; a SOCKS5 proxy always tunnels.

use std::net::IpAddr;

use super::url::{Url, percent_decode, split_host_port};
use super::{ConfigError, invalid, parse_header_of};

/// Port of a proxy URL that names none (curl's default).
const DEFAULT_PROXY_PORT: u16 = 1080;

/// The proxy flags as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProxyFlags<'a> {
    /// `-x`/`--proxy` (`Some("")`: no proxy, whatever the environment says).
    pub proxy: Option<&'a str>,
    /// `--proxy-header`.
    pub headers: &'a [String],
    /// `--proxy-tunnel`: `http://` targets through CONNECT too.
    pub tunnel: bool,
    /// `--noproxy` (replaces `NO_PROXY`; `""` proxies every host).
    pub noproxy: Option<&'a str>,
}

/// The proxy variables of the environment that apply (see the module's doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `(name, value)` of each variable set, as read.
    pub vars: Vec<(&'static str, String)>,
}

/// Every variable read, in the order each role looks them up.
const ENV_NAMES: [&str; 7] =
    ["https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

impl ProxyEnv {
    /// This process's variables.
    pub fn from_process() -> ProxyEnv {
        let vars = ENV_NAMES.iter().filter_map(|&name| std::env::var(name).ok().map(|value| (name, value))).collect();
        ProxyEnv { vars }
    }

    /// The first of `names` that is set and not empty.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, &str)> {
        names.iter().find_map(|&name| {
            self.vars.iter().find(|(n, v)| *n == name && !v.trim().is_empty()).map(|(n, v)| (*n, v.as_str()))
        })
    }
}

/// The kind of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    Http,
    /// SOCKS5; `remote_dns`: the proxy resolves the target's name (`socks5h://`).
    Socks5 {
        remote_dns: bool,
    },
}

/// The proxy a run goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// `user:password@` from its URL, sent to the proxy only.
    pub credentials: Option<(String, String)>,
    /// `--proxy-header` fields, on CONNECT or on absolute-form requests.
    pub headers: Vec<(String, String)>,
    /// Requests go through a tunnel (else in absolute form).
    pub tunnel: bool,
    /// Where it was named: `-x` or the environment variable's name.
    pub from: &'static str,
}

impl Proxy {
    /// The fields an absolute-form request carries for the proxy:
    /// `Proxy-Authorization` with the URL's credentials, then the
    /// `--proxy-header` fields (one replacing it by name).
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        if let Some((user, pass)) = &self.credentials
            && !self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("proxy-authorization"))
        {
            fields.push(("Proxy-Authorization".to_string(), crate::http::request::basic_auth(user, pass)));
        }
        fields.extend(self.headers.iter().cloned());
        fields
    }

    /// The proxy as reports show it: its URL with the password hidden.
    pub fn display(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        let user = self.credentials.as_ref().map(|(user, _)| format!("{user}:***@")).unwrap_or_default();
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{user}{host}:{}", self.port)
    }
}

/// The run's proxy for `url`, or `None`; `http2`: the run speaks HTTP/2;
/// `direct`: `--connect-to` or `--unix-socket` names where to connect.
pub fn choose(
    flags: &ProxyFlags<'_>,
    env: &ProxyEnv,
    url: &Url,
    http2: bool,
    direct: bool,
) -> Result<Option<Proxy>, ConfigError> {
    // The flag is refused when garbled; the environment's list is read
    // only when a proxy applies, as curl reads it ([`NoProxy::lenient`]).
    let flag_noproxy = flags.noproxy.map(|list| NoProxy::parse("--noproxy", list)).transpose()?;
    let named = match flags.proxy {
        Some("") => None,
        Some(text) => Some(("-x", text)),
        None if url.tls => env.first(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
        None => env.first(&["http_proxy", "all_proxy", "ALL_PROXY"]),
    };
    let Some((from, text)) = named else {
        return only_with_proxy(flags).map(|()| None);
    };
    let mut proxy = parse(from, text.trim())?;
    let noproxy = flag_noproxy.unwrap_or_else(|| {
        env.first(&["no_proxy", "NO_PROXY"]).map(|(_, list)| NoProxy::lenient(list)).unwrap_or_default()
    });
    if noproxy.matches(&url.host) {
        return Ok(None);
    }
    if direct {
        if from == "-x" {
            return Err(invalid("-x", "cannot be used with --connect-to or --unix-socket, which say where to connect"));
        }
        // The command line's own destination wins over the environment's proxy.
        return Ok(None);
    }
    proxy.headers = flags.headers.iter().map(|h| parse_header_of("--proxy-header", h)).collect::<Result<_, _>>()?;
    if !proxy.headers.is_empty() && proxy.kind != ProxyKind::Http {
        return Err(invalid("--proxy-header", "applies to http:// proxies; a SOCKS5 proxy has no headers"));
    }
    proxy.tunnel = proxy.kind != ProxyKind::Http || url.tls || http2 || flags.tunnel;
    Ok(Some(proxy))
}

/// `--proxy-header` and `--proxy-tunnel` without a proxy: refused, as
/// they would silently do nothing.
fn only_with_proxy(flags: &ProxyFlags<'_>) -> Result<(), ConfigError> {
    match (flags.headers.is_empty(), flags.tunnel) {
        (true, false) => Ok(()),
        (false, _) => Err(invalid("--proxy-header", "needs a proxy (-x, or HTTPS_PROXY/http_proxy/ALL_PROXY)")),
        (true, true) => Err(invalid("--proxy-tunnel", "needs a proxy (-x, or HTTPS_PROXY/http_proxy/ALL_PROXY)")),
    }
}

/// Parses a proxy URL: `[scheme://][user:pass@]host[:port][/]`, the
/// scheme `http` (the default), `socks5` or `socks5h`.
pub fn parse(from: &'static str, text: &str) -> Result<Proxy, ConfigError> {
    let shown = hide_password(text);
    let bad = |why: String| invalid(from, format!("{shown:?}: {why}"));
    let (scheme, rest) = text.split_once("://").unwrap_or(("http", text));
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "http" => ProxyKind::Http,
        "socks5" => ProxyKind::Socks5 { remote_dns: false },
        "socks5h" => ProxyKind::Socks5 { remote_dns: true },
        "https" => return Err(bad("a TLS connection to the proxy (https://) is not supported; use http://".into())),
        other => {
            return Err(bad(format!("{other}:// proxies are not supported; use http://, socks5:// or socks5h://")));
        }
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(bad("a proxy URL has no path; write scheme://[user:pass@]host:port".into()));
    }
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (Some((percent_decode(user), percent_decode(pass))), host_port)
        }
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port, DEFAULT_PROXY_PORT).map_err(bad)?;
    if let Some((user, pass)) = &credentials {
        let socks = matches!(kind, ProxyKind::Socks5 { .. });
        if socks && (user.len() > 255 || pass.len() > 255) {
            return Err(bad("SOCKS5 carries a user name and a password of at most 255 bytes each".into()));
        }
        if user.bytes().chain(pass.bytes()).any(|b| b.is_ascii_control()) {
            return Err(bad("the credentials hold a control character".into()));
        }
    }
    Ok(Proxy { kind, host, port, credentials, headers: Vec::new(), tunnel: true, from })
}

/// A proxy URL as errors and recorded command lines show it: the password
/// of its `user:password@` as `***` (proxy credentials are never printed).
pub fn hide_password(url: &str) -> String {
    let Some((userinfo, host)) = url.rsplit_once('@') else { return url.to_string() };
    let (scheme, userinfo) = userinfo.split_once("://").map_or(("", userinfo), |(s, u)| (s, u));
    let Some((user, _)) = userinfo.split_once(':') else { return url.to_string() };
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{user}:***@{host}")
}

/// The hosts that are reached directly (`NO_PROXY`, `--noproxy`), as
/// curl reads them: a comma-separated list of names, each matching itself
/// and every name under it (`example.com` and `.example.com` both match
/// `a.example.com`), IP addresses with an optional CIDR prefix length,
/// and `*` for every host. Entries have no port: an entry matches its host
/// on every port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    All,
    /// A name, lower case, without a leading dot.
    Domain(String),
    /// An address and how many of its leading bits must match.
    Net(IpAddr, u8),
}

impl NoProxy {
    /// Parses a list; `from` names the flag or variable in errors.
    pub fn parse(from: &'static str, list: &str) -> Result<NoProxy, ConfigError> {
        let entries = split_list(list)
            .map(|entry| parse_entry(entry).map_err(|why| invalid(from, format!("entry {entry:?}: {why}"))))
            .collect::<Result<_, _>>()?;
        Ok(NoProxy { entries })
    }

    /// Parses the environment's list as curl does: the entries it cannot
    /// use (`host:port`, a name with a space in it) are skipped, since a
    /// variable set for other tools must not stop a run.
    pub fn lenient(list: &str) -> NoProxy {
        NoProxy { entries: split_list(list).filter_map(|entry| parse_entry(entry).ok()).collect() }
    }

    /// Whether `host` (a name or an address, without brackets) is reached directly.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| match entry {
            Entry::All => true,
            Entry::Domain(domain) => {
                host == *domain || host.strip_suffix(domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
            }
            Entry::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
        })
    }
}

/// The entries of a list: split on commas, white space trimmed, empty ones dropped.
fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|entry| !entry.is_empty())
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    if entry == "*" {
        return Ok(Entry::All);
    }
    // `[v6]` and `[v6]/bits` are accepted beside curl's bare form.
    let (addr, bits) = match entry.strip_prefix('[').and_then(|e| e.split_once(']')) {
        Some((inside, "")) => (inside, None),
        Some((inside, after)) => (inside, Some(after.strip_prefix('/').unwrap_or(after))),
        None => entry.split_once('/').map_or((entry, None), |(addr, bits)| (addr, Some(bits))),
    };
    if let Ok(ip) = addr.parse::<IpAddr>() {
        let most = if ip.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => most,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= most)
                .ok_or_else(|| format!("{b:?} is not a prefix length for this address (0 to {most})"))?,
        };
        return Ok(Entry::Net(ip, bits));
    }
    if entry.contains(':') {
        return Err("entries have no port (an entry matches its host on every port), and this is no IP address".into());
    }
    // `*.example.com` as many tools write it: the domain's names.
    let name = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')).unwrap_or(entry);
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if name.is_empty() || !name.bytes().all(valid) || bits.is_some() {
        return Err("not a host name, an IP address, an address/prefix-length or *".into());
    }
    Ok(Entry::Domain(name.trim_end_matches('.').to_ascii_lowercase()))
}

/// Whether the first `bits` bits of `ip` and `net` agree (never across families).
fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (b >> shift)
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
