//! TLS to PostgreSQL, as libpq's `sslmode` says it (`disable`, `prefer`, `require`,
//! `verify-full`; `sslrootcert` names the CA file). The `postgres` client knows `disable`,
//! `prefer` and `require` only, and none verifies anything by itself: this module takes the two
//! parameters out of the URL and makes the client's TLS with rustls.
//!
//! - `require`: encrypted; the server's certificate is not checked, as libpq does without a root
//!   certificate (this protects against eavesdropping, not against an impostor);
//! - `verify-full`: encrypted, the certificate chain verified against `sslrootcert` (required)
//!   and the host name checked against the certificate;
//! - `verify-ca` is refused: it checks the chain but not the name, which this platform never
//!   wants.

use crate::{Result, StoreError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// How a pool connects.
#[derive(Clone)]
pub(crate) enum Tls {
    /// No TLS (`sslmode` absent or `disable`; `prefer` without a certificate to check is the same
    /// on a trusted network and is not offered).
    Off,
    On(tokio_postgres_rustls::MakeRustlsConnect),
}

/// `url` without `sslmode` and `sslrootcert`, and the TLS they ask for.
pub(crate) fn from_url(url: &str, target: &str) -> Result<(String, Tls)> {
    let bad = |reason: String| StoreError::Open { path: target.to_owned(), reason };
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (mut mode, mut root) = (None, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    let tls = match mode.as_deref() {
        None | Some("disable") => Tls::Off,
        Some("require") => Tls::On(make(encrypting_only().map_err(bad)?)),
        Some("verify-full") => {
            let root = root.ok_or_else(|| bad("sslmode=verify-full needs sslrootcert=<the CA's PEM file>".into()))?;
            Tls::On(make(verifying(&root).map_err(bad)?))
        }
        Some(other) => {
            return Err(bad(format!(
                "sslmode={} is not supported: use disable, require or verify-full (with sslrootcert)",
                other.chars().take(20).collect::<String>()
            )));
        }
    };
    Ok((url, tls))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(Ok(b)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn make(config: rustls::ClientConfig) -> tokio_postgres_rustls::MakeRustlsConnect {
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// Chain and host name verified against the CA in `root` (a PEM file).
fn verifying(root: &str) -> std::result::Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(root).map_err(|e| format!("cannot read sslrootcert {root}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("sslrootcert {root} is not PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("sslrootcert {root}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {root} holds no certificate"));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Encrypted, any certificate taken (`sslmode=require`).
fn encrypting_only() -> std::result::Result<rustls::ClientConfig, String> {
    let provider = provider();
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Takes any certificate, but still checks that the handshake is signed by the key it names, so
/// the session is encrypted to whoever holds that key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_choose_the_tls() {
        let (url, tls) = from_url("postgres://u@h/db?sslmode=require&application_name=x", "t").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert!(matches!(tls, Tls::On(_)));
        let (url, tls) = from_url("postgres://u@h/db", "t").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert!(matches!(tls, Tls::Off));
        assert!(matches!(from_url("postgres://u@h/db?sslmode=disable", "t").unwrap().1, Tls::Off));
        for refused in ["postgres://h/db?sslmode=verify-full", "postgres://h/db?sslmode=verify-ca", "postgres://h/db?sslmode=allow"] {
            let e = from_url(refused, "t").err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("sslmode") || e.contains("sslrootcert"), "{refused}: {e}");
        }
        let e = from_url("postgres://h/db?sslmode=verify-full&sslrootcert=%2Fno%2Fsuch.pem", "t").err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("/no/such.pem"), "the path is decoded and named");
    }
}
