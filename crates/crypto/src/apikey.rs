//! Client-system API keys. A key is 256 random bits, shown once at creation; only its SHA-256
//! is stored. A slow password hash (argon2) is unnecessary for a secret of that entropy and
//! would cost milliseconds on every request.

use crate::random_bytes;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "rk_";

/// Returns (the secret to hand to the client system once, the hash to store).
pub fn generate() -> (String, String) {
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let hash = hash(&secret);
    (secret, hash)
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
}
