//! Client-system API keys. A key is 256 random bits, shown once at creation; only its SHA-256
//! is stored. A slow password hash (argon2) is unnecessary for a secret of that entropy and
//! would cost milliseconds on every request.

use crate::datakey::MasterKey;
use crate::random_bytes;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "rk_";

/// Returns (the secret to hand to the client system once, the hash to store).
pub fn generate() -> (String, String) {
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let hash = hash(&secret);
    (secret, hash)
}

/// The API key the SLA monitor's probes present for `tenant`: derived from the master key, so
/// every `serve` process computes it and no copy of it is stored anywhere; the platform stores
/// its hash like any other key's.
pub fn probe_key(master: &MasterKey, tenant: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master.derive("sla-probe-api-key").as_slice()).expect("HMAC takes any key length");
    mac.update(tenant.as_bytes());
    format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The stored form of a presented key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_keys_hash_to_their_stored_form() {
        let (secret, stored) = super::generate();
        assert!(secret.starts_with(super::PREFIX));
        assert_eq!(super::hash(&secret), stored);
        assert_ne!(super::generate().0, secret);
    }

    #[test]
    fn a_probe_key_is_the_same_for_one_tenant_and_master_key_and_differs_otherwise() {
        let master = crate::datakey::MasterKey::generate();
        let key = super::probe_key(&master, "kou-city");
        assert!(key.starts_with(super::PREFIX));
        assert_eq!(super::probe_key(&master, "kou-city"), key);
        assert_ne!(super::probe_key(&master, "otsu-town"), key);
        assert_ne!(super::probe_key(&crate::datakey::MasterKey::generate(), "kou-city"), key);
    }
}
