//! The session store of one worker with `--tls-resume`: every TLS 1.3
//! ticket the server hands out is kept (up to a bound), newest used first.
//!
//! rustls's own memory cache keeps at most 8 tickets per server, so when
//! hundreds of connections reconnect at once most find none and make a full
//! handshake (against nginx at -c 500: 628 full handshakes in 3 s where the
//! 500 first ones are unavoidable). Every handshake yields tickets, so
//! keeping them all lets every reconnect resume, as wrk's and oha's do. A
//! run talks to one server, so the store is a short list of server names,
//! not a map.

use std::collections::VecDeque;
use std::sync::Mutex;

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

/// Tickets kept per server; beyond it the oldest go (they are also the
/// closest to expiring).
const TICKETS_PER_SERVER: usize = 4096;

#[derive(Debug, Default)]
struct Server {
    name: Option<ServerName<'static>>,
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tickets: VecDeque<Tls13ClientSessionValue>,
}

/// A worker's sessions (the lock is the worker's own: uncontended).
#[derive(Debug, Default)]
pub struct SessionStore {
    servers: Mutex<Vec<Server>>,
}

impl SessionStore {
    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Server) -> T) -> T {
        let mut servers = self.servers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = match servers.iter().position(|s| s.name.as_ref().is_some_and(|n| n == name)) {
            Some(at) => at,
            None => {
                servers.push(Server { name: Some(name.to_owned()), ..Server::default() });
                servers.len() - 1
            }
        };
        f(&mut servers[at])
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(&name, |s| {
            if s.tickets.len() == TICKETS_PER_SERVER {
                s.tickets.pop_front();
            }
            s.tickets.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |s| s.tickets.pop_back())
    }
}
