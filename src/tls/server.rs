//! The server side, for the built-in server (`vastar serve --tls`,
//! `vastar --demo --tls`): a rustls server configuration over the same
//! graviola provider, with a certificate from files or made at startup, and
//! optionally a CA that client certificates must chain to.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

use super::ConfigError;
use super::config::{identity, pem_roots, provider};

/// The certificate the server presents.
pub enum ServerIdentity {
    /// `--cert` and `--key`, PEM.
    Pem { cert: Vec<u8>, key: Vec<u8> },
    /// A certificate made at startup ([`super::self_signed`]), DER.
    Der { cert: Vec<u8>, key: Vec<u8> },
}

/// A server configuration presenting `presented` (ALPN `http/1.1`; TLS 1.2
/// and 1.3; sessions resumable by tickets). With `client_ca_pem`, every client must
/// present a certificate that chains to one of its CAs.
pub fn server_config(
    presented: ServerIdentity,
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = provider();
    let (chain, key) = match presented {
        ServerIdentity::Pem { cert, key } => identity(&cert, &key)?,
        ServerIdentity::Der { cert, key } => {
            (vec![CertificateDer::from(cert)], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| ConfigError::Rustls(e.to_string()))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let roots = Arc::new(pem_roots(pem).map_err(ConfigError::ClientCa)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| ConfigError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| ConfigError::ClientCert(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless tickets: the default session store holds 256 sessions, so
    // with hundreds of clients reconnecting most of them were forgotten
    // (56% resumed at -c 200 --tls-resume).
    config.ticketer = rustls_graviola::Ticketer::new().map_err(|e| ConfigError::Rustls(e.to_string()))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_or_a_fresh_certificate_make_a_server() {
        let made = super::super::self_signed(std::time::SystemTime::now()).unwrap();
        assert!(server_config(made.identity(), None).is_ok());
        let pem = ServerIdentity::Pem { cert: made.cert_pem().into_bytes(), key: made.key_pem().into_bytes() };
        assert!(server_config(pem, Some(made.cert_pem().as_bytes())).is_ok());
        let swapped = ServerIdentity::Pem { cert: made.key_pem().into_bytes(), key: made.cert_pem().into_bytes() };
        assert!(server_config(swapped, None).is_err());
        let bad_ca = server_config(made.identity(), Some(b"nope"));
        assert!(bad_ca.unwrap_err().to_string().starts_with("--client-ca: "));
    }
}
