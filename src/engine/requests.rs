//! What the requests of a run look like, shared read-only by every
//! connection of every worker: the pre-built pool, keep-alive and redirect
//! rules, the origin redirects must stay on, how `https://` connections
//! are secured, and how connections go through a proxy. A leaf of the engine: the connection machine reads it, and
//! nothing here knows about connections.

use std::sync::Arc;

use bytes::Bytes;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::http::Pool;
use crate::http::request::{redirect, resolve_location, target_of};
use crate::proxy::Opening;
use crate::stats::ErrorKind;

/// Redirect hops followed before a request counts as failed (as Go's client, so hey).
pub const MAX_REDIRECTS: u8 = 10;

/// The run's requests (shared, read-only).
#[derive(Clone, Debug)]
pub struct RequestSet {
    /// The pre-built requests, picked in turn by each start's number.
    pub pool: Arc<Pool>,
    pub keepalive: bool,
    pub follow_redirects: bool,
    /// Origin of the target, to keep redirects on the same host and port.
    pub host: String,
    pub port: u16,
    /// `https://`: how connections are secured (each worker uses its
    /// [`TlsTarget::for_worker`] copy).
    pub tls: Option<TlsTarget>,
    /// A request goes to an LLM endpoint (a path ending in `/completions`):
    /// JSON answers are read for the output tokens their `usage` reports.
    /// Event streams are read whatever the path.
    pub usage_in_json: bool,
    /// Through a proxy's tunnel: what opening one sends.
    pub tunnel: Option<Arc<Opening>>,
    /// Through a proxy in absolute form: the origin (`http://host:port`)
    /// written before each request target, redirects' too.
    pub absolute: Option<String>,
}

impl RequestSet {
    /// The run's requests are `pool`'s.
    pub fn new(pool: Arc<Pool>, keepalive: bool, follow_redirects: bool, host: String, port: u16) -> Self {
        let usage_in_json = pool.entries().iter().any(|entry| {
            let target = target_of(&entry.bytes);
            target.split('?').next().unwrap_or_default().ends_with("/completions")
        });
        RequestSet {
            pool,
            keepalive,
            follow_redirects,
            host,
            port,
            tls: None,
            usage_in_json,
            tunnel: None,
            absolute: None,
        }
    }

    /// The same requests over TLS.
    pub fn with_tls(self, tls: TlsTarget) -> Self {
        RequestSet { tls: Some(tls), ..self }
    }

    /// The same requests through a proxy: a tunnel opened with `opening`,
    /// or (`absolute`: the origin) requests in absolute form.
    pub fn with_proxy(self, opening: Option<Opening>, absolute: Option<String>) -> Self {
        RequestSet { tunnel: opening.map(Arc::new), absolute, ..self }
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The request that follows `sent` (a request built here, after `hops`
    /// redirects) once its response with `status` and `location` is
    /// complete: `None` when it is not followed (redirects off, not a
    /// redirect, no Location, another origin: the response counts as it
    /// is), an error past [`MAX_REDIRECTS`]. The same rules for HTTP/1.1
    /// and HTTP/2.
    pub fn next_hop(
        &self,
        sent: &[u8],
        status: u16,
        location: Option<&[u8]>,
        hops: u8,
    ) -> Result<Option<Bytes>, ErrorKind> {
        if !self.follow_redirects || !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(None);
        }
        let origin = self.absolute.as_deref().unwrap_or_default();
        let current = target_of(sent).strip_prefix(origin).unwrap_or("/");
        let resolve = |location| resolve_location(location, self.scheme(), &self.host, self.port, current);
        let Some(target) = location.and_then(resolve) else { return Ok(None) };
        if hops >= MAX_REDIRECTS {
            return Err(ErrorKind::TooManyRedirects);
        }
        Ok(Some(redirect(sent, status, &format!("{origin}{target}"))))
    }
}

/// Where a run's TLS connections go and how they are made.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    /// The run's configuration (each worker makes its own copy when it
    /// keeps sessions: [`crate::tls::for_worker`]).
    pub config: Arc<ClientConfig>,
    /// Sent as SNI and checked against the certificate: the URL's host.
    pub server: ServerName<'static>,
    /// `--tls-resume`.
    pub resume: bool,
}

impl TlsTarget {
    /// The target as one worker uses it.
    pub fn for_worker(&self) -> TlsTarget {
        TlsTarget { config: crate::tls::for_worker(&self.config, self.resume), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_in_absolute_form_keep_naming_the_origin() {
        let sent = Bytes::from_static(b"GET http://h:8080/a/b?q HTTP/1.1\r\nHost: h:8080\r\n\r\n");
        let pool = Arc::new(Pool::single(sent.clone()));
        let set = RequestSet::new(pool, true, true, "h".into(), 8080).with_proxy(None, Some("http://h:8080".into()));
        let hop = |location: &[u8]| set.next_hop(&sent, 302, Some(location), 0).unwrap().unwrap();
        assert!(hop(b"c").starts_with(b"GET http://h:8080/a/c HTTP/1.1\r\n"), "relative to the path");
        assert!(hop(b"/d").starts_with(b"GET http://h:8080/d HTTP/1.1\r\n"));
        assert!(hop(b"http://h:8080/e").starts_with(b"GET http://h:8080/e HTTP/1.1\r\n"));
        assert_eq!(set.next_hop(&sent, 302, Some(b"http://other/"), 0), Ok(None), "another origin");
    }
}
