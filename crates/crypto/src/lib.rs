//! Keys and cryptographic operations of renkei, behind small typed APIs.
//!
//! - [`signing`]: Ed25519 signatures on [`SignedEnvelope`](renkei_domain::wire::SignedEnvelope)s.
//! - [`sealing`]: HPKE (X25519, HKDF-SHA256, ChaCha20-Poly1305) to seal answers to the requester.
//! - [`datakey`]: per-tenant AES-256-GCM data keys wrapped by a master key, with associated data
//!   binding every ciphertext to (tenant, table, row), plus keyed blind indexes for look-ups.
//! - [`hubkey`]: the hub's keyed hash of Individual Numbers and random code minting.
//! - [`apikey`]: client-system API keys, stored only as hashes.
//! - [`auditlog`]: the audit log's hash chain and its signed checkpoints.
//! - [`password`]: people's passwords (Argon2id); [`totp`]: their second factor (RFC 6238).
//! - [`pki`]: a development CA and certificates for TLS.
//! - [`spool`]: scratch files encrypted under a key held in memory only (bulk uploads).
//!
//! No function here logs or formats key material; key types implement `Debug` as a mask.

pub mod apikey;
pub mod auditlog;
pub mod datakey;
pub mod hubkey;
pub mod password;
pub mod pki;
pub mod sealing;
pub mod session;
pub mod signing;
pub mod spool;
pub mod totp;
pub mod webhook;

use base64::Engine;

/// Errors of cryptographic operations. The messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("envelope kind is {found}, expected {expected}")]
    WrongKind { expected: &'static str, found: &'static str },
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("malformed encoding: {0}")]
    BadEncoding(&'static str),
    #[error("payload is not the expected message: {0}")]
    BadPayload(String),
    #[error("decryption failed: wrong key, or the ciphertext was altered or moved")]
    Decrypt,
    #[error("sealing failed")]
    Seal,
    #[error("certificate generation failed: {0}")]
    Pki(String),
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(s: &str, what: &'static str) -> Result<Vec<u8>, CryptoError> {
    base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| CryptoError::BadEncoding(what))
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// An opaque id no one can guess (128 random bits, hex): for what a URL names but must not
/// reveal or let be enumerated.
pub fn random_id() -> String {
    random_bytes::<16>().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes` in base64: a Content-Security-Policy's hash source (`'sha256-…'`)
/// that lets one inline style run and no other.
pub fn sha256_base64(bytes: &[u8]) -> String {
    use sha2::Digest;
    b64(&sha2::Sha256::digest(bytes))
}

/// The SHA-256 of `bytes` in lower-case hex (a file's checksum in an export's manifest).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
