//! Session tokens of signed-in people: 256 random bits, handed to the browser or client once;
//! the platform keeps only their SHA-256, so a copy of its database opens no session.

use crate::random_bytes;
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const PREFIX: &str = "rs_";

/// (the token to hand out once, the hash to store).
pub fn generate() -> (Zeroizing<String>, String) {
    let token = Zeroizing::new(format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())));
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of a presented token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hash_to_their_stored_form() {
        let (token, stored) = super::generate();
        assert!(token.starts_with(super::PREFIX) && token.len() == 46, "{}", token.len());
        assert_eq!(super::hash(&token), stored);
        assert_ne!(*super::generate().0, *token);
    }
}
