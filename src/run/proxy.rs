//! A run through a forward proxy: where connections go (the proxy's
//! addresses), what opening a tunnel sends (built once, with the target's
//! name, or for `socks5://` its address resolved here), the origin that
//! absolute-form requests name, and how the report shows the proxy.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::{Error, of_family};
use crate::config::proxy::{Proxy, ProxyKind};
use crate::config::{Config, ConfigError};
use crate::proxy::{Destination, Opening};

/// The proxy's addresses, in the resolver's order, of the family `-4`/`-6` asks for.
pub fn resolve(config: &Config, proxy: &Proxy) -> Result<Vec<SocketAddr>, Error> {
    lookup(&proxy.host, proxy.port, config)
}

/// `host`'s addresses for `port`, of the family `-4`/`-6` asks for.
fn lookup(host: &str, port: u16, config: &Config) -> Result<Vec<SocketAddr>, Error> {
    let fail = |why: String| Error::Resolve { host: host.to_string(), why };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| fail(e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(fail("no addresses".into()));
    }
    of_family(addrs, config.family).map_err(|why| Error::Family { host: host.to_string(), why })
}

/// What opening a tunnel sends, for a run through a tunnelling proxy.
pub fn opening(config: &Config) -> Result<Option<Opening>, Error> {
    let Some(proxy) = config.proxy.as_ref().filter(|p| p.tunnel) else { return Ok(None) };
    let url = &config.url;
    let credentials = proxy.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let opening = match proxy.kind {
        ProxyKind::Http => {
            let basic = credentials.map(|(user, pass)| crate::http::request::basic_auth(user, pass));
            Opening::connect(&url.authority(), basic.as_deref(), &proxy.headers)
        }
        ProxyKind::Socks5 { remote_dns } => {
            let to = match url.host.parse::<IpAddr>() {
                Ok(ip) => Destination::Ip(ip),
                Err(_) if remote_dns => Destination::Name(url.host.clone()),
                Err(_) => Destination::Ip(lookup(&url.host, url.port, config)?[0].ip()),
            };
            Opening::socks5(&to, url.port, credentials).ok_or_else(|| {
                let why = format!("{:?} is longer than the 255 bytes SOCKS5 carries", url.host);
                Error::Config(ConfigError::Invalid { flag: proxy.from, why })
            })?
        }
    };
    Ok(Some(opening))
}

/// The origin absolute-form requests name (`http://host[:port]`), for a
/// run through a proxy that does not tunnel.
pub fn absolute_origin(config: &Config) -> Option<String> {
    config.proxy.as_ref().filter(|p| !p.tunnel).map(|_| format!("http://{}", config.url.host_header()))
}

/// The proxy as the report shows it: its URL (no password), how it was
/// used, and where it was named.
pub fn describe(proxy: &Proxy) -> String {
    let how = match proxy.kind {
        ProxyKind::Http if proxy.tunnel => "CONNECT tunnel",
        ProxyKind::Http => "absolute-form requests",
        ProxyKind::Socks5 { remote_dns: true } => "SOCKS5 tunnel, names resolved by the proxy",
        ProxyKind::Socks5 { remote_dns: false } => "SOCKS5 tunnel",
    };
    format!("{} ({how}; from {})", proxy.display(), proxy.from)
}
