//! People's passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane — the
//! `argon2` crate's defaults), kept as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) so that
//! stronger parameters later still verify the hashes made before.

use crate::CryptoError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

/// The PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, CryptoError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| CryptoError::BadKey("password hash"))
}

/// Whether `password` is the one `phc` was made of. A malformed `phc` matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the time of one [`verify`] without an account: a sign-in with an unknown name takes
/// as long as one with a wrong password, so the time of the answer tells no one which names
/// exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("renkei: no such account").unwrap_or_default());
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else_does() {
        let h = super::hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(super::verify("correct horse battery staple", &h));
        assert!(!super::verify("correct horse battery stapler", &h));
        assert!(!super::verify("correct horse battery staple", "not a hash"));
        assert_ne!(super::hash("correct horse battery staple").unwrap(), h, "salted");
        super::verify_nothing("anything");
    }
}
