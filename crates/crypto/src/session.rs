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

/// The anti-forgery token of the forms a holder of `secret` (a session token, or the random
/// value of a sign-in form's cookie) sends: HMAC-SHA-256 of a fixed label under the secret. Only
/// whoever holds the secret, which lives in an `HttpOnly` cookie, can make it; another site can
/// neither read the cookie nor the page that carries the token.
pub fn csrf_token(secret: &str) -> String {
    use hmac::Mac;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csrf_mac(secret).finalize().into_bytes())
}

/// Whether `presented` is [`csrf_token`] of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    use hmac::Mac;
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented) {
        Ok(tag) => csrf_mac(secret).verify_slice(&tag).is_ok(),
        Err(_) => false,
    }
}

fn csrf_mac(secret: &str) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"renkei csrf v1");
    mac
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

    #[test]
    fn a_csrf_token_matches_its_own_secret_only() {
        let (token, _) = super::generate();
        let csrf = super::csrf_token(&token);
        assert!(super::csrf_matches(&token, &csrf));
        assert!(!super::csrf_matches(&super::generate().0, &csrf), "another session's token");
        assert!(!super::csrf_matches(&token, ""));
        assert!(!super::csrf_matches(&token, "not base64 !"));
        assert!(!super::csrf_matches(&token, &csrf[..csrf.len() - 2]), "cut short");
    }
}
