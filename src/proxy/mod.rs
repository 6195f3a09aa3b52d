//! Tunnels through a forward proxy, without I/O: what the client sends to
//! open one (an HTTP CONNECT, or SOCKS5's greeting, authentication and
//! CONNECT), built once per run ([`Opening`]), and the state of one
//! connection's setup ([`Setup`]), fed the proxy's bytes as they come.
//!
//! Nothing here touches a socket, a clock or the rest of the crate: the
//! connection machine runs a [`Setup`] right after TCP connects and hands
//! the connection to TLS or HTTP once it says the tunnel is open.

pub mod http;
pub mod socks;

use bytes::Bytes;

pub use http::ReplyError;
pub use socks::{Destination, SocksError};

/// Most bytes of a reply kept while it is incomplete.
const MAX_BUFFERED: usize = http::MAX_REPLY_HEAD;

/// What opening a tunnel sends, built once per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opening {
    /// HTTP CONNECT: the whole request.
    Connect(Bytes),
    /// SOCKS5: the greeting, the username/password request (when the
    /// proxy URL has credentials), and the CONNECT request.
    Socks5 { greeting: Bytes, auth: Option<Bytes>, connect: Bytes },
}

impl Opening {
    /// An HTTP CONNECT to `authority` (`host:port`); `basic` is the
    /// Proxy-Authorization value, `headers` the `--proxy-header` fields.
    pub fn connect(authority: &str, basic: Option<&str>, headers: &[(String, String)]) -> Opening {
        Opening::Connect(Bytes::from(http::connect_request(authority, basic, headers)))
    }

    /// SOCKS5 to `to`:`port`, authenticated with `credentials` when given;
    /// `None` when a name or a credential is over 255 bytes (SOCKS5 cannot
    /// carry it).
    pub fn socks5(to: &Destination, port: u16, credentials: Option<(&str, &str)>) -> Option<Opening> {
        let auth = match credentials {
            Some((user, pass)) => Some(Bytes::from(socks::auth_request(user, pass)?)),
            None => None,
        };
        Some(Opening::Socks5 {
            greeting: Bytes::from(socks::greeting(auth.is_some())),
            auth,
            connect: Bytes::from(socks::connect_request(to, port)?),
        })
    }

    /// The first bytes a new connection sends.
    pub fn first(&self) -> Bytes {
        match self {
            Opening::Connect(request) => request.clone(),
            Opening::Socks5 { greeting, .. } => greeting.clone(),
        }
    }
}

/// Why a tunnel did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The proxy answered the CONNECT with this status (not 2xx).
    Status(u16),
    /// The HTTP proxy's reply could not be read.
    Reply(ReplyError),
    /// The SOCKS5 proxy refused, or its reply could not be read.
    Socks(SocksError),
}

/// What a [`Setup`] wants after a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More of the reply is awaited.
    NeedMore,
    /// Send these bytes, then await the reply to them.
    Send(Bytes),
    /// The tunnel is open; the read's bytes from `used` on are the
    /// tunnel's (the target's first bytes).
    Open { used: usize },
}

/// Which reply a setup awaits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Connect,
    SocksMethod,
    SocksAuth,
    SocksConnect,
}

/// One connection's tunnel setup: the reply awaited and its bytes so far.
#[derive(Debug)]
pub struct Setup {
    awaiting: Awaiting,
    /// The reply's bytes from earlier reads (empty when a read held a
    /// whole reply, the usual case: nothing is copied then).
    held: Vec<u8>,
}

impl Setup {
    /// A setup that has sent [`Opening::first`].
    pub fn new(opening: &Opening) -> Setup {
        let awaiting = match opening {
            Opening::Connect(_) => Awaiting::Connect,
            Opening::Socks5 { .. } => Awaiting::SocksMethod,
        };
        Setup { awaiting, held: Vec::new() }
    }

    /// Bytes the proxy sent.
    pub fn feed(&mut self, opening: &Opening, data: &[u8]) -> Result<Progress, Refusal> {
        let earlier = self.held.len();
        if earlier > 0 {
            let room = MAX_BUFFERED.saturating_sub(earlier);
            self.held.extend_from_slice(&data[..data.len().min(room)]);
        }
        let reply: &[u8] = if earlier == 0 { data } else { &self.held };
        let Some((len, method)) = whole(self.awaiting, opening, reply)? else {
            if earlier == 0 {
                self.held.extend_from_slice(&data[..data.len().min(MAX_BUFFERED)]);
            }
            return Ok(Progress::NeedMore);
        };
        self.held.clear();
        self.next(opening, method, len - earlier, data.len())
    }

    /// After a whole reply that took `used` bytes of a read of `len`
    /// (`method`: the one a SOCKS server chose, in its method reply).
    fn next(
        &mut self,
        opening: &Opening,
        method: Option<socks::Method>,
        used: usize,
        len: usize,
    ) -> Result<Progress, Refusal> {
        let Opening::Socks5 { auth, connect, .. } = opening else { return Ok(Progress::Open { used }) };
        // A SOCKS server speaks only when spoken to: bytes after a reply
        // before the tunnel opens are not SOCKS.
        if self.awaiting != Awaiting::SocksConnect && used != len {
            return Err(Refusal::Socks(SocksError::Invalid));
        }
        let (awaiting, send) = match (self.awaiting, auth, method) {
            (Awaiting::SocksMethod, Some(auth), Some(socks::Method::UserPass)) => (Awaiting::SocksAuth, auth.clone()),
            (Awaiting::SocksMethod | Awaiting::SocksAuth, _, _) => (Awaiting::SocksConnect, connect.clone()),
            _ => return Ok(Progress::Open { used }),
        };
        self.awaiting = awaiting;
        Ok(Progress::Send(send))
    }
}

/// The length of the reply `awaiting` at the start of `reply`, once whole,
/// and for a SOCKS method reply the method chosen.
fn whole(
    awaiting: Awaiting,
    opening: &Opening,
    reply: &[u8],
) -> Result<Option<(usize, Option<socks::Method>)>, Refusal> {
    let two = &reply[..reply.len().min(2)];
    match awaiting {
        Awaiting::Connect => match http::parse_reply(reply).map_err(Refusal::Reply)? {
            Some(r) if (200..300).contains(&r.status) => Ok(Some((r.head_len, None))),
            Some(r) => Err(Refusal::Status(r.status)),
            None => Ok(None),
        },
        Awaiting::SocksMethod => {
            let offered_auth = matches!(opening, Opening::Socks5 { auth: Some(_), .. });
            Ok(socks::method_reply(two, offered_auth).map_err(Refusal::Socks)?.map(|m| (2, Some(m))))
        }
        Awaiting::SocksAuth => Ok(socks::auth_reply(two).map_err(Refusal::Socks)?.map(|()| (2, None))),
        Awaiting::SocksConnect => Ok(socks::connect_reply(reply).map_err(Refusal::Socks)?.map(|len| (len, None))),
    }
}

#[cfg(test)]
mod tests;
