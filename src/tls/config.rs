//! The one rustls client configuration of a run: trusted roots (the
//! system's, or `--cacert`'s), `-k`, a client certificate, the TLS version,
//! session resumption and the key log, all decided once before the start.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::store::SessionStore;

/// `--tls-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// The TLS choices of a run, with any files already read (PEM text).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// `-k`: accept any certificate chain and name (the handshake's
    /// signature is still checked, so the client does the same work).
    pub insecure: bool,
    /// `--cacert`: trust these roots instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// `--cert` and `--key`: present this client certificate.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// `--tls-version`: only this version (both otherwise).
    pub version: Option<TlsVersion>,
    /// `--tls-resume`: resume sessions on reconnect.
    pub resume: bool,
}

/// A TLS option that cannot be used; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--cacert` holds no usable certificate.
    CaFile(String),
    /// The system has no trusted roots to verify servers with.
    NoSystemRoots,
    /// `--cert`/`--key` cannot be used.
    ClientCert(String),
    /// The built-in server's `--client-ca` cannot be used.
    ClientCa(String),
    /// rustls refused the combination (for example the version).
    Rustls(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::CaFile(why) => write!(f, "--cacert: {why}"),
            ConfigError::NoSystemRoots => f.write_str(
                "no trusted root certificates found on this system (set SSL_CERT_FILE to a CA bundle, \
                 give the server's CA with --cacert, or skip verification with -k)",
            ),
            ConfigError::ClientCert(why) => write!(f, "--cert/--key: {why}"),
            ConfigError::ClientCa(why) => write!(f, "--client-ca: {why}"),
            ConfigError::Rustls(why) => write!(f, "TLS settings: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The crypto provider of every connection: graviola, pure Rust.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls_graviola::default_provider())
}

/// Builds the run's client configuration (ALPN `http/1.1`, resumption off
/// unless asked for, `SSLKEYLOGFILE` honoured).
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, ConfigError> {
    let provider = provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match options.version {
        None => rustls::DEFAULT_VERSIONS,
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| ConfigError::Rustls(e.to_string()))?;
    let builder = if options.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
    } else {
        let roots = Arc::new(roots(options.ca_pem.as_deref())?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| ConfigError::Rustls(e.to_string()))?;
        builder.with_webpki_verifier(verifier)
    };
    let mut config = match &options.client_pem {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let (chain, key) = identity(cert_pem, key_pem)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| ConfigError::ClientCert(e.to_string()))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption =
        if options.resume { Resumption::store(Arc::new(SessionStore::default())) } else { Resumption::disabled() };
    config.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok(Arc::new(config))
}

/// The same configuration offering `h2` first in ALPN (`--http2` over
/// `https://`), then `http/1.1`: a server without HTTP/2 then answers with
/// `http/1.1` (one offered only `h2` may end the handshake with an alert
/// instead, which says less), and the connection reports that it did not
/// agree rather than fall back to HTTP/1.1.
pub fn with_h2_alpn(base: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(base);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The configuration one worker uses: with `resume`, a copy of `base` with
/// a session cache of its own (one cache shared by every worker would put
/// a lock between the cores on every handshake); otherwise `base` itself.
pub fn for_worker(base: &Arc<ClientConfig>, resume: bool) -> Arc<ClientConfig> {
    if !resume {
        return Arc::clone(base);
    }
    let mut config = ClientConfig::clone(base);
    config.resumption = Resumption::store(Arc::new(SessionStore::default()));
    Arc::new(config)
}

/// The trusted roots: `--cacert`'s certificates, or the system's.
fn roots(ca_pem: Option<&[u8]>) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => roots = pem_roots(pem).map_err(ConfigError::CaFile)?,
        None => {
            // Unreadable entries are skipped, as browsers and curl do.
            let found = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(ConfigError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

/// Every certificate of a PEM file, as trusted roots; why not, if unusable.
pub(super) fn pem_roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate file ({e})"))?;
        roots.add(cert).map_err(|e| format!("a certificate is unusable ({e})"))?;
    }
    if roots.is_empty() {
        return Err("the file holds no certificate (expected PEM)".into());
    }
    Ok(roots)
}

/// A certificate chain and its private key, checked to match.
pub(super) fn identity(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::ClientCert(format!("--cert is not a PEM certificate file ({e})")))?;
    if chain.is_empty() {
        return Err(ConfigError::ClientCert("--cert holds no certificate (expected PEM)".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ConfigError::ClientCert(format!("--key holds no PEM private key ({e})")))?;
    let signing = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| ConfigError::ClientCert(format!("--key is not a supported key ({e})")))?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
    certified.keys_match().map_err(|_| ConfigError::ClientCert("the key does not belong to the certificate".into()))?;
    Ok((chain, key))
}

/// `-k`: any chain and name are accepted; handshake signatures are still
/// verified with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
