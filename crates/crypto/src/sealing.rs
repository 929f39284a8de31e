//! HPKE sealing of answers to the requesting org (RFC 9180, base mode, X25519 + HKDF-SHA256 +
//! ChaCha20-Poly1305). The hub relays sealed bytes it cannot open.

use crate::{CryptoError, b64, unb64};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use std::fmt;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

const INFO: &[u8] = b"renkei/v1/answer";
/// Length of an X25519 encapsulated key.
const ENC_LEN: usize = 32;

/// An org's HPKE private key (for opening answers sealed to it).
pub struct OpeningKey(<Kem as hpke::Kem>::PrivateKey);

/// An org's HPKE public key (others seal to it).
#[derive(Clone)]
pub struct SealingKey(<Kem as hpke::Kem>::PublicKey);

impl OpeningKey {
    pub fn generate() -> Self {
        let (sk, _) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        Self(sk)
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes).map(Self).map_err(|_| CryptoError::BadKey("HPKE private key"))
    }
    pub fn to_secret_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey(Kem::sk_to_pk(&self.0))
    }

    /// Opens what [`SealingKey::seal`] sealed with the same `aad`.
    pub fn open(&self, sealed_b64: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let bytes = unb64(sealed_b64, "sealed answer")?;
        if bytes.len() < ENC_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (enc, ct) = bytes.split_at(ENC_LEN);
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Decrypt)?;
        hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &self.0, &enc, INFO, ct, aad).map_err(|_| CryptoError::Decrypt)
    }
}

impl fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpeningKey(…)")
    }
}

impl SealingKey {
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = unb64(s, "sealing key")?;
        <Kem as hpke::Kem>::PublicKey::from_bytes(&bytes).map(Self).map_err(|_| CryptoError::BadKey("HPKE public key"))
    }
    pub fn to_base64(&self) -> String {
        b64(&self.0.to_bytes())
    }

    /// Seals `plaintext` so only the holder of the matching [`OpeningKey`] can read it; `aad`
    /// (the request id) binds the ciphertext to one query. Returns base64(enc ‖ ciphertext).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(&OpModeS::Base, &self.0, INFO, plaintext, aad, &mut rand::rngs::OsRng)
            .map_err(|_| CryptoError::Seal)?;
        let mut out = enc.to_bytes().to_vec();
        out.extend_from_slice(&ct);
        Ok(b64(&out))
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_opening_key_opens_and_aad_binds() {
        let k = OpeningKey::generate();
        let sealed = k.sealing_key().seal(b"secret answer", b"req-1").unwrap();
        assert_eq!(k.open(&sealed, b"req-1").unwrap(), b"secret answer");
        assert!(k.open(&sealed, b"req-2").is_err());
        assert!(OpeningKey::generate().open(&sealed, b"req-1").is_err());
        let raw = unb64(&sealed, "x").unwrap();
        assert!(!raw.windows(6).any(|w| w == b"secret"));
        let k2 = OpeningKey::from_bytes(&k.to_secret_bytes()).unwrap();
        assert_eq!(k2.open(&sealed, b"req-1").unwrap(), b"secret answer");
        assert!(SealingKey::from_base64(&k.sealing_key().to_base64()).is_ok());
    }
}
