//! The hub's handling of Individual Numbers: it keeps only a keyed hash (HMAC-SHA256 with a hub
//! secret), so its database alone cannot be brute-forced over the 10^11 possible numbers.

use crate::{CryptoError, random_bytes};
use base64::Engine;
use hmac::{Hmac, Mac};
use renkei_domain::{IndividualNumber, OrgCode};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroize;

pub struct HubSecret([u8; 32]);

impl HubSecret {
    pub fn generate() -> Self {
        Self(random_bytes())
    }
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CryptoError::BadKey("hub secret must be 64 hex digits"))?;
        Ok(Self(bytes.try_into().map_err(|_| CryptoError::BadKey("hub secret must be 64 hex digits"))?))
    }
    pub fn to_text(&self) -> String {
        hex::encode(self.0)
    }

    /// The keyed hash that stands for a person in the hub's tables.
    pub fn person_key(&self, number: &IndividualNumber) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"renkei/v1/person\0");
        mac.update(number.expose().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A fingerprint (hex SHA-256) of the hub's two secrets, for a backup's manifest: a restore drill
/// that finds it again has the run's keys back. One-way: the secrets are 32 random bytes each.
pub fn keys_fingerprint(secret: &HubSecret, signing: &crate::signing::SigningKey) -> String {
    use sha2::Digest;
    let mut h = Sha256::new();
    h.update(b"renkei/v1/hub-keys\0");
    h.update(secret.0);
    h.update(signing.to_secret_bytes());
    hex::encode(h.finalize())
}

impl Drop for HubSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for HubSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubSecret(…)")
    }
}

/// A fresh random 機関別符号: 256 random bits, base64url. Unrelated across orgs by construction.
pub fn mint_code() -> OrgCode {
    let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    OrgCode::parse(&s).expect("base64url of 32 bytes is a valid OrgCode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_key_is_keyed_and_hides_the_number() {
        let n = IndividualNumber::parse("123456789018").unwrap();
        let s = HubSecret::generate();
        assert_eq!(s.person_key(&n), s.person_key(&n));
        assert_ne!(s.person_key(&n), HubSecret::generate().person_key(&n));
        assert!(!s.person_key(&n).contains("123456789018"));
        assert_ne!(mint_code(), mint_code());
    }
}
