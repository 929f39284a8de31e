//! TLS configuration: server configs (with or without client certificates) and mutual-TLS
//! clients. The accept loop is `listener`'s.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

/// A certificate chain and key to present, and the CA that peers' certificates must chain to.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial(…)")
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: &'static str) -> impl Fn(rustls::Error) -> TlsError {
    move |e| TlsError::Invalid { what, reason: e.to_string() }
}

impl TlsMaterial {
    pub fn from_files(cert: &Path, key: &Path, ca: &Path) -> Result<Self, TlsError> {
        Ok(Self { cert_pem: read(cert)?, key_pem: read(key)?, ca_pem: read(ca)? })
    }

    fn chain(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Invalid { what: "certificate", reason: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::Invalid { what: "certificate", reason: "no certificate in PEM".into() });
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| TlsError::Invalid { what: "private key", reason: e.to_string() })?;
        Ok((certs, key))
    }

    fn roots(&self) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            let c = c.map_err(|e| TlsError::Invalid { what: "CA certificate", reason: e.to_string() })?;
            roots.add(c).map_err(invalid("CA certificate"))?;
        }
        if roots.is_empty() {
            return Err(TlsError::Invalid { what: "CA certificate", reason: "no certificate in PEM".into() });
        }
        Ok(roots)
    }

    /// A server configuration; with `require_client_cert`, clients must present a certificate
    /// chaining to the CA (mutual TLS).
    pub fn server_config(&self, require_client_cert: bool) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (certs, key) = self.chain()?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid("TLS versions"))?;
        let builder = if require_client_cert {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider())
                .build()
                .map_err(|e| TlsError::Invalid { what: "client verifier", reason: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut cfg = builder.with_single_cert(certs, key).map_err(invalid("certificate/key"))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// An HTTPS client trusting only the CA and presenting our certificate (mutual TLS). Its pool
    /// keeps as many idle connections per peer as the delivery workers keep requests in flight.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, TlsError> {
        let (certs, key) = self.chain()?;
        let cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid("TLS versions"))?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(certs, key)
            .map_err(invalid("client certificate"))?;
        reqwest::Client::builder()
            .use_preconfigured_tls(cfg)
            .timeout(timeout)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .build()
            .map_err(|e| TlsError::Invalid { what: "HTTP client", reason: e.to_string() })
    }
}

/// Idle connections kept per peer. Below the workers' requests in flight, every burst closed the
/// connections beyond it and the next opened new ones: mutual-TLS handshakes were 15 % of the
/// e2e bench's CPU (docs/benchmarks.md).
pub const MAX_IDLE_PER_HOST: usize = 256;

/// An HTTPS client trusting the system's CAs and those in `extra_ca_pems`, presenting no
/// certificate, following no redirect: what sends webhooks to receivers anywhere.
pub fn client_to_anyone(extra_ca_pems: &[&str], timeout: Duration) -> Result<reqwest::Client, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    // A system store that cannot be read leaves only the extra CAs; a receiver it would have
    // vouched for then fails with its reason, retried.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for pem in extra_ca_pems {
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots
                .add(c.map_err(|e| TlsError::Invalid { what: "CA certificate", reason: e.to_string() })?)
                .map_err(invalid("CA certificate"))?;
        }
    }
    anonymous_client(roots, reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()))
}

/// An HTTPS client trusting only the CA in `ca_pem`, presenting no certificate: what a client
/// system or a resident's browser uses against the internal and resident listeners.
pub fn client_trusting(ca_pem: &str, timeout: Duration) -> Result<reqwest::Client, TlsError> {
    let roots = TlsMaterial { cert_pem: String::new(), key_pem: String::new(), ca_pem: ca_pem.to_owned() }.roots()?;
    anonymous_client(roots, reqwest::Client::builder().timeout(timeout))
}

/// `builder` made a client that trusts `roots` and presents no certificate.
fn anonymous_client(roots: rustls::RootCertStore, builder: reqwest::ClientBuilder) -> Result<reqwest::Client, TlsError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid("TLS versions"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    builder.use_preconfigured_tls(cfg).build().map_err(|e| TlsError::Invalid { what: "HTTP client", reason: e.to_string() })
}
