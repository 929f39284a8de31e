//! A development PKI: one CA, and certificates usable both as TLS server and client
//! certificates (every process here is both). Production deployments bring their own.

use crate::CryptoError;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issued(cert, key: …)")
    }
}

const CA_NAME: &str = "renkei development CA";

fn pki_err(e: rcgen::Error) -> CryptoError {
    CryptoError::Pki(e.to_string())
}

fn ca_params() -> Result<CertificateParams, CryptoError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.distinguished_name.push(DnType::OrganizationName, "renkei");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

/// Makes a new CA.
pub fn new_ca() -> Result<Issued, CryptoError> {
    let key = KeyPair::generate().map_err(pki_err)?;
    let cert = ca_params()?.self_signed(&key).map_err(pki_err)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Issues a certificate for `common_name`, valid for the given host names and IP addresses,
/// with both server and client authentication usages.
pub fn issue(ca: &Issued, common_name: &str, hosts: &[String]) -> Result<Issued, CryptoError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(pki_err)?;
    // Re-creating the CA certificate from the same parameters and key yields the same subject
    // and key identifier, which is all an issued certificate refers to.
    let ca_cert = ca_params()?.self_signed(&ca_key).map_err(pki_err)?;
    let mut p = CertificateParams::new(hosts.to_vec()).map_err(pki_err)?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.distinguished_name.push(DnType::OrganizationName, "renkei");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().map_err(pki_err)?;
    let cert = p.signed_by(&key, &ca_cert, &ca_key).map_err(pki_err)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}
