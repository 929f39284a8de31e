//! Ed25519 signatures over envelopes. The signed bytes are `renkei/v1/<kind>\0<payload>`, so a
//! signature for one kind of message can never verify as another.

use crate::{CryptoError, b64, unb64};
use ed25519_dalek::{Signer, Verifier};
use renkei_domain::wire::{MessageKind, SignedEnvelope};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use zeroize::Zeroizing;

/// An Ed25519 signing key of an org or of the hub.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 verifying (public) key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey("signing key must be 32 bytes"))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&arr)))
    }
    /// A key as the hub keeps it in a file: 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| CryptoError::BadKey("signing key must be 64 hex digits"))?);
        Self::from_bytes(&bytes)
    }
    /// The secret bytes, for storing encrypted. Never log them.
    pub fn to_secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs `message` as `kind` on behalf of `signer`.
    pub fn sign<T: Serialize>(&self, signer: &str, kind: MessageKind, message: &T) -> Result<SignedEnvelope, CryptoError> {
        // The plain JSON may carry personal data (a code request's numbers): wiped once encoded.
        let payload = Zeroizing::new(serde_json::to_vec(message).map_err(|e| CryptoError::BadPayload(e.to_string()))?);
        let sig = self.0.sign(&signed_bytes(kind, &payload));
        Ok(SignedEnvelope { signer: signer.to_owned(), kind, payload: b64(&payload), signature: b64(&sig.to_bytes()) })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl VerifyingKey {
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = unb64(s, "verifying key")?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::BadKey("verifying key must be 32 bytes"))?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr).map(Self).map_err(|_| CryptoError::BadKey("not an Ed25519 point"))
    }
    pub fn to_base64(&self) -> String {
        b64(self.0.as_bytes())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.to_base64())
    }
}

fn signed_bytes(kind: MessageKind, payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Vec::with_capacity(payload.len() + 32);
    v.extend_from_slice(b"renkei/v1/");
    v.extend_from_slice(kind.code().as_bytes());
    v.push(0);
    v.extend_from_slice(payload);
    Zeroizing::new(v)
}

/// Verifies `env` as a message of `kind` signed by `key`, then parses its payload.
/// Parsing happens only after the signature checks out.
pub fn open_envelope<T: DeserializeOwned>(env: &SignedEnvelope, kind: MessageKind, key: &VerifyingKey) -> Result<T, CryptoError> {
    if env.kind != kind {
        return Err(CryptoError::WrongKind { expected: kind.code(), found: env.kind.code() });
    }
    let payload = Zeroizing::new(unb64(&env.payload, "payload")?);
    let sig = unb64(&env.signature, "signature")?;
    let sig: [u8; 64] = sig.as_slice().try_into().map_err(|_| CryptoError::BadSignature)?;
    key.0.verify(&signed_bytes(kind, &payload), &ed25519_dalek::Signature::from_bytes(&sig)).map_err(|_| CryptoError::BadSignature)?;
    serde_json::from_slice(&payload).map_err(|e| CryptoError::BadPayload(e.to_string()))
}

/// Reads an envelope's payload WITHOUT verifying it, to learn which key to verify it with.
/// Never act on the result before [`open_envelope`] succeeds.
pub fn peek_payload<T: DeserializeOwned>(env: &SignedEnvelope) -> Result<T, CryptoError> {
    let payload = Zeroizing::new(unb64(&env.payload, "payload")?);
    serde_json::from_slice(&payload).map_err(|e| CryptoError::BadPayload(e.to_string()))
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Msg {
        a: u32,
    }

    #[test]
    fn a_signed_envelope_verifies_and_opens() {
        let k = SigningKey::generate();
        let env = k.sign("org-a", MessageKind::Query, &Msg { a: 7 }).unwrap();
        let m: Msg = open_envelope(&env, MessageKind::Query, &k.verifying_key()).unwrap();
        assert_eq!(m, Msg { a: 7 });
    }

    #[test]
    fn tampered_wrong_key_or_wrong_kind_is_rejected() {
        let k = SigningKey::generate();
        let mut env = k.sign("org-a", MessageKind::Query, &Msg { a: 7 }).unwrap();
        let other = SigningKey::generate();
        assert!(matches!(open_envelope::<Msg>(&env, MessageKind::Query, &other.verifying_key()), Err(CryptoError::BadSignature)));
        assert!(matches!(open_envelope::<Msg>(&env, MessageKind::Answer, &k.verifying_key()), Err(CryptoError::WrongKind { .. })));
        env.payload = b64(br#"{"a":8}"#);
        assert!(matches!(open_envelope::<Msg>(&env, MessageKind::Query, &k.verifying_key()), Err(CryptoError::BadSignature)));
    }

    #[test]
    fn keys_round_trip() {
        let k = SigningKey::generate();
        let k2 = SigningKey::from_bytes(&k.to_secret_bytes()).unwrap();
        assert_eq!(k.verifying_key(), k2.verifying_key());
        let vk = VerifyingKey::from_base64(&k.verifying_key().to_base64()).unwrap();
        assert_eq!(vk, k.verifying_key());
        assert!(!format!("{k:?}").contains(&hex::encode(k.to_secret_bytes())));
    }
}
