//! Encryption at rest: a master key wraps one AES-256-GCM data key per tenant; every personal
//! data column is sealed with the tenant's data key and associated data naming (tenant, table,
//! row), so a ciphertext copied to another row, table or tenant no longer decrypts. Deleting a
//! tenant's wrapped key makes its data unreadable (crypto-shredding).

use crate::{CryptoError, random_bytes};
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroize;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The platform's master key (from a key file or an environment variable).
pub struct MasterKey([u8; 32]);

/// A tenant's data key, unwrapped in memory.
pub struct DataKey {
    tenant: String,
    key: [u8; 32],
    index_key: [u8; 32],
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(random_bytes())
    }
    /// Parses the text form: 64 hex digits, surrounding whitespace ignored.
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CryptoError::BadKey("master key must be 64 hex digits"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey("master key must be 64 hex digits"))?;
        Ok(Self(arr))
    }
    /// The text form, for writing a new key file.
    pub fn to_text(&self) -> String {
        hex::encode(self.0)
    }

    /// Wraps a tenant's data key; the tenant id is bound as associated data.
    pub fn wrap(&self, dk: &DataKey) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, &wrap_aad(&dk.tenant), &dk.key)
    }

    /// A 32-byte key for one `purpose`, derived from the master key: HKDF-Expand (RFC 5869) with
    /// the master key as the pseudorandom key (it is uniformly random, so Extract adds nothing)
    /// and one output block. Every process holding the master key derives the same key; no
    /// purpose's key tells anything of another's or of the master key.
    pub fn derive(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("renkei/v1/derived\0{purpose}").as_bytes());
        mac.update(&[1]);
        zeroize::Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// Encrypts a platform secret that is no tenant's data (e.g. a person's TOTP secret) under
    /// the key derived for `purpose`, bound to `aad` (e.g. the account's id).
    pub fn seal_secret(&self, purpose: &str, aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.derive(purpose), aad.as_bytes(), plaintext)
    }

    /// Decrypts what [`MasterKey::seal_secret`] sealed with the same purpose and `aad`.
    pub fn open_secret(&self, purpose: &str, aad: &str, sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.derive(purpose), aad.as_bytes(), sealed).map(zeroize::Zeroizing::new)
    }

    pub fn unwrap(&self, tenant: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let mut raw = open(&self.0, &wrap_aad(tenant), wrapped)?;
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        raw.zeroize();
        Ok(DataKey::from_parts(tenant, key))
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

fn wrap_aad(tenant: &str) -> Vec<u8> {
    format!("renkei/v1/datakey\0{tenant}").into_bytes()
}

impl DataKey {
    pub fn generate(tenant: &str) -> Self {
        Self::from_parts(tenant, random_bytes())
    }

    fn from_parts(tenant: &str, key: [u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(b"renkei/v1/blind-index");
        let index_key: [u8; 32] = mac.finalize().into_bytes().into();
        Self { tenant: tenant.to_owned(), key, index_key }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The key's fingerprint (32 hex digits): what a disposal certificate names. A keyed hash of
    /// a constant, so it tells nothing of the key and another key has another one.
    pub fn fingerprint(&self) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"renkei/v1/key-fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// Encrypts one column value of `table`'s row `row`.
    pub fn encrypt(&self, table: &str, row: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.key, &self.aad(table, row), plaintext)
    }

    pub fn decrypt(&self, table: &str, row: &str, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.key, &self.aad(table, row), ciphertext)
    }

    /// A deterministic keyed index of `value` for equality look-ups, hex. Different `purpose`s
    /// give unrelated indexes, and other tenants' indexes of the same value differ.
    pub fn blind_index(&self, purpose: &str, value: &str) -> String {
        self.blind_index_of(purpose, &[value])
    }

    /// [`blind_index`](Self::blind_index) of `parts` joined by NUL, without building the joined
    /// value: a bulk load computes one per line.
    pub fn blind_index_of(&self, purpose: &str, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(part.as_bytes());
        }
        let mut hex = [0u8; 64];
        // Cannot fail: 32 bytes are 64 hex digits.
        let _ = hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex);
        hex.iter().map(|&b| b as char).collect()
    }

    fn aad(&self, table: &str, row: &str) -> Vec<u8> {
        // "renkei/v1/row", then tenant, table and row, each after a NUL.
        let mut aad = Vec::with_capacity(16 + self.tenant.len() + table.len() + row.len());
        aad.extend_from_slice(b"renkei/v1/row");
        for part in [self.tenant.as_str(), table, row] {
            aad.push(0);
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.key.zeroize();
        self.index_key.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({}, …)", self.tenant)
    }
}

fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.into());
    // A nonce from the thread's CSPRNG (ChaCha, seeded and reseeded from the OS): a system call
    // per value was a tenth of a bulk load's reading thread. 96 random bits per nonce, as GCM asks.
    let nonce: [u8; NONCE_LEN] = rand::Rng::r#gen(&mut rand::thread_rng());
    // Version, nonce, then the plaintext encrypted in place and its tag: one allocation.
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[1 + NONCE_LEN..]).map_err(|_| CryptoError::Seal)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn open(key: &[u8; 32], aad: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < 1 + NONCE_LEN || data[0] != VERSION {
        return Err(CryptoError::Decrypt);
    }
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(Nonce::from_slice(&data[1..1 + NONCE_LEN]), Payload { msg: &data[1 + NONCE_LEN..], aad })
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertexts_are_bound_to_tenant_table_and_row() {
        let a = DataKey::generate("tenant-a");
        let ct = a.encrypt("copies", "row-1", b"fields").unwrap();
        assert_eq!(a.decrypt("copies", "row-1", &ct).unwrap(), b"fields");
        assert!(a.decrypt("copies", "row-2", &ct).is_err());
        assert!(a.decrypt("persons", "row-1", &ct).is_err());
        let master = MasterKey::generate();
        let wrapped = master.wrap(&a).unwrap();
        // The same key bytes under another tenant's name must not decrypt: AAD names the tenant.
        let b = master.unwrap("tenant-a", &wrapped).unwrap();
        assert_eq!(b.decrypt("copies", "row-1", &ct).unwrap(), b"fields");
        assert!(master.unwrap("tenant-b", &wrapped).is_err());
        assert!(MasterKey::generate().unwrap("tenant-a", &wrapped).is_err());
    }

    #[test]
    fn a_blind_index_is_the_hmac_of_purpose_and_value_so_stored_indexes_stay_valid() {
        let dk = DataKey::from_parts("t", [7; 32]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&dk.index_key).unwrap();
        mac.update(b"addressee\0org-1\0A-42");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(dk.blind_index("addressee", "org-1\0A-42"), expected);
        assert_eq!(dk.blind_index_of("addressee", &["org-1", "A-42"]), expected);
    }

    #[test]
    fn ciphertexts_have_a_version_a_nonce_and_a_tag_and_never_repeat() {
        let dk = DataKey::generate("t");
        let (a, b) = (dk.encrypt("copies", "r", b"same").unwrap(), dk.encrypt("copies", "r", b"same").unwrap());
        assert_eq!(a.len(), 1 + NONCE_LEN + 4 + TAG_LEN);
        assert_eq!(a[0], VERSION);
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN], "a nonce was used twice");
        assert_eq!(dk.decrypt("copies", "r", &b).unwrap(), b"same");
    }

    #[test]
    fn blind_indexes_are_deterministic_per_tenant_and_purpose() {
        let a = DataKey::generate("a");
        let b = DataKey::generate("b");
        assert_eq!(a.blind_index("addressee", "X1"), a.blind_index("addressee", "X1"));
        assert_ne!(a.blind_index("addressee", "X1"), a.blind_index("code", "X1"));
        assert_ne!(a.blind_index("addressee", "X1"), b.blind_index("addressee", "X1"));
    }

    #[test]
    fn master_key_text_round_trips_and_rejects_garbage() {
        let m = MasterKey::generate();
        assert_eq!(MasterKey::from_text(&format!(" {}\n", m.to_text())).unwrap().to_text(), m.to_text());
        assert!(MasterKey::from_text("abc").is_err());
    }
}
