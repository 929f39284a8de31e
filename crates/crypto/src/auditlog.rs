//! The audit log's tamper evidence (改ざん検知). Each tenant's entries form a chain: an entry's
//! hash covers the hash of the one before it, so changing, removing or reordering one breaks
//! every hash after it. A checkpoint states a chain's size and head hash at a moment, as a C2SP
//! `tlog-checkpoint` inside a C2SP signed note (Ed25519), the format transparency logs and their
//! witnesses read; a tenant that keeps its checkpoints can prove later that entries were cut from
//! the end, which a chain alone cannot show.
//!
//! The signing key is derived from the master key ([`MasterKey::derive`]), so every process of
//! the platform signs with the same key and no new secret has to be kept; its public half
//! ([`CheckpointVerifier`]) is what a municipality pins.

use crate::CryptoError;
use crate::datakey::MasterKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};

/// A chain's hash before its first entry.
pub const GENESIS: Hash = [0; 32];

/// The signed note's key name.
pub const KEY_NAME: &str = "renkei-audit";

/// How messages name the platform's own chain, whose key is empty.
pub const PLATFORM_CHAIN_NAME: &str = "the platform";

/// What a checkpoint's origin line starts with; the chain's key follows.
pub const ORIGIN_PREFIX: &str = "renkei/audit/";

pub type Hash = [u8; 32];

/// One entry as it is hashed: every field, in this order, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The chain: a tenant's id.
    pub chain: String,
    /// Its place in the chain, from 1.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The hash of `entry` following `prev`.
pub fn entry_hash(prev: &Hash, entry: &Entry) -> Hash {
    let mut h = Sha256::new();
    h.update(b"renkei/v1/audit-entry\0");
    h.update(prev);
    // Serialising a struct of strings and integers cannot fail.
    h.update(serde_json::to_vec(entry).unwrap_or_default());
    h.finalize().into()
}

/// An entry as read back from the store, with the hash stored beside it (hex).
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub entry: Entry,
    pub hash: String,
}

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub chain: String,
    pub size: u64,
    pub head: Hash,
}

impl Checkpoint {
    /// The checkpoint's text (`tlog-checkpoint`: origin, size, base64 head, each on a line).
    fn text(&self) -> String {
        use base64::Engine;
        format!("{ORIGIN_PREFIX}{}\n{}\n{}\n", self.chain, self.size, base64::engine::general_purpose::STANDARD.encode(self.head))
    }

    fn parse(text: &str) -> Option<Checkpoint> {
        use base64::Engine;
        let mut lines = text.lines();
        let chain = lines.next()?.strip_prefix(ORIGIN_PREFIX)?.to_owned();
        let size = lines.next()?.parse().ok()?;
        let head = base64::engine::general_purpose::STANDARD.decode(lines.next()?).ok()?.try_into().ok()?;
        Some(Checkpoint { chain, size, head })
    }
}

/// Signs checkpoints with the platform's audit key.
pub struct CheckpointSigner {
    signer: StandardSigner,
    verifier: CheckpointVerifier,
}

impl CheckpointSigner {
    pub fn from_master(master: &MasterKey) -> Result<Self, CryptoError> {
        use base64::Engine;
        let seed = master.derive("audit-checkpoint");
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let vkey = signed_note::new_ed25519_verifier_key(KEY_NAME, &key.verifying_key());
        // The signed-note private key text: name, key id, then 0x01 (Ed25519) and the seed.
        let id = vkey.split('+').nth(1).ok_or(CryptoError::BadKey("audit verifier key"))?;
        let mut raw = zeroize::Zeroizing::new(vec![1u8]);
        raw.extend_from_slice(seed.as_slice());
        let skey =
            zeroize::Zeroizing::new(format!("PRIVATE+KEY+{KEY_NAME}+{id}+{}", base64::engine::general_purpose::STANDARD.encode(&*raw)));
        let signer = StandardSigner::new(&skey).map_err(|_| CryptoError::BadKey("audit signing key"))?;
        Ok(Self { signer, verifier: CheckpointVerifier::parse(&vkey)? })
    }

    pub fn verifier(&self) -> &CheckpointVerifier {
        &self.verifier
    }

    /// The signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CryptoError> {
        self.sign_text(&checkpoint.text())
    }

    /// A signed note of `text` (lines, each ending in a newline), for what else the platform
    /// states under its audit key: an export's manifest.
    pub fn sign_text(&self, text: &str) -> Result<String, CryptoError> {
        let mut note = Note::new(text.as_bytes(), &[]).map_err(|_| CryptoError::BadKey("signed text"))?;
        note.add_sigs(&[&self.signer]).map_err(|_| CryptoError::BadSignature)?;
        String::from_utf8(note.to_bytes()).map_err(|_| CryptoError::BadSignature)
    }
}

/// The public half of the audit key, in the signed-note verifier key form
/// (`renkei-audit+<key id>+<base64>`), which is what a municipality pins.
#[derive(Clone)]
pub struct CheckpointVerifier {
    vkey: String,
}

impl CheckpointVerifier {
    pub fn parse(vkey: &str) -> Result<Self, CryptoError> {
        StandardVerifier::new(vkey.trim()).map_err(|_| CryptoError::BadKey("an audit verifier key (renkei-audit+id+base64)"))?;
        Ok(Self { vkey: vkey.trim().to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.vkey
    }

    /// The checkpoint a signed note states, if this key signed it.
    pub fn open(&self, note: &str) -> Option<Checkpoint> {
        Checkpoint::parse(&self.open_text(note)?)
    }

    /// The text a signed note states, if this key signed it.
    pub fn open_text(&self, note: &str) -> Option<String> {
        let verifier = StandardVerifier::new(&self.vkey).ok()?;
        let list = VerifierList::new(vec![Box::new(verifier)]);
        let note = Note::from_bytes(note.as_bytes()).ok()?;
        note.verify(&list).ok()?;
        String::from_utf8(note.text().to_vec()).ok()
    }
}

/// The first sign of tampering a chain shows. Messages name entries by their place in the chain,
/// never their content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("entry {seq} of {chain} was changed: its hash does not follow from the entries before it")]
    Changed { chain: String, seq: u64 },
    #[error("entry {expected} of {chain} is missing or out of place (entry {found} stands there)")]
    Missing { chain: String, expected: u64, found: u64 },
    #[error("{chain} has {entries} entries but a checkpoint counts {size}: entries were removed from its end")]
    Truncated { chain: String, entries: u64, size: u64 },
    #[error("{chain}'s checkpoint at entry {size} does not match entry {size}: entries up to it were changed")]
    CheckpointMismatch { chain: String, size: u64 },
    #[error("a checkpoint of {chain} is not signed by this platform's audit key")]
    BadCheckpoint { chain: String },
    #[error("{chain}'s recorded head (entry {size}) does not match its entries: entries were removed from its end or changed")]
    HeadMismatch { chain: String, size: u64 },
}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: usize,
    pub head: Hash,
}

/// Checks the chain keyed `chain` (empty for the platform's own): its entries (in the order of their place), the recorded head (size and hex
/// hash, if one is kept) and every checkpoint note of it.
pub fn verify(
    chain: &str,
    entries: &[StoredEntry],
    head: Option<(u64, &str)>,
    checkpoints: &[String],
    verifier: &CheckpointVerifier,
) -> Result<Verified, Tamper> {
    let notes: Vec<(&str, &CheckpointVerifier)> = checkpoints.iter().map(|n| (n.as_str(), verifier)).collect();
    verify_with(chain, entries, head, &notes)
}

/// As [`verify`], each checkpoint with the key that must have signed it (a chain imported from
/// another platform brings checkpoints signed by that platform's key).
pub fn verify_with(
    chain: &str,
    entries: &[StoredEntry],
    head: Option<(u64, &str)>,
    checkpoints: &[(&str, &CheckpointVerifier)],
) -> Result<Verified, Tamper> {
    let key = chain;
    let chain = if key.is_empty() { PLATFORM_CHAIN_NAME } else { key };
    let mut hashes = Vec::with_capacity(entries.len());
    let mut prev = GENESIS;
    for (i, stored) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if stored.entry.seq != expected || stored.entry.chain != key {
            return Err(Tamper::Missing { chain: chain.to_owned(), expected, found: stored.entry.seq });
        }
        let h = entry_hash(&prev, &stored.entry);
        if hex::encode(h) != stored.hash {
            return Err(Tamper::Changed { chain: chain.to_owned(), seq: expected });
        }
        hashes.push(h);
        prev = h;
    }
    let size = entries.len() as u64;
    let at = |n: u64| if n == 0 { GENESIS } else { hashes[n as usize - 1] };
    for (note, verifier) in checkpoints {
        let cp = verifier.open(note).filter(|cp| cp.chain == key).ok_or_else(|| Tamper::BadCheckpoint { chain: chain.to_owned() })?;
        if cp.size > size {
            return Err(Tamper::Truncated { chain: chain.to_owned(), entries: size, size: cp.size });
        }
        if at(cp.size) != cp.head {
            return Err(Tamper::CheckpointMismatch { chain: chain.to_owned(), size: cp.size });
        }
    }
    if let Some((head_size, head_hash)) = head
        && (head_size != size || hex::encode(prev) != head_hash)
    {
        return Err(Tamper::HeadMismatch { chain: chain.to_owned(), size: head_size });
    }
    Ok(Verified { entries: size, checkpoints: checkpoints.len(), head: prev })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<StoredEntry> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let entry = Entry {
                    chain: "t1".into(),
                    seq,
                    at: 1_800_000_000 + seq as i64,
                    actor: format!("admin{seq}"),
                    role: "tenant_admin".into(),
                    action: "api_key.create".into(),
                    target: format!("api_key:{seq}"),
                    detail: String::new(),
                };
                prev = entry_hash(&prev, &entry);
                StoredEntry { entry, hash: hex::encode(prev) }
            })
            .collect()
    }

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_master(&MasterKey::from_text(&"11".repeat(32)).unwrap()).unwrap()
    }

    fn checkpoint(s: &CheckpointSigner, entries: &[StoredEntry], size: usize) -> String {
        let head = if size == 0 { GENESIS } else { hex::decode(&entries[size - 1].hash).unwrap().try_into().unwrap() };
        s.sign(&Checkpoint { chain: "t1".into(), size: size as u64, head }).unwrap()
    }

    #[test]
    fn an_untouched_chain_with_its_checkpoints_verifies() {
        let (s, e) = (signer(), chain(5));
        let cps = vec![checkpoint(&s, &e, 0), checkpoint(&s, &e, 3), checkpoint(&s, &e, 5)];
        let head = e[4].hash.clone();
        let v = verify("t1", &e, Some((5, &head)), &cps, s.verifier()).unwrap();
        assert_eq!((v.entries, v.checkpoints), (5, 3));
    }

    #[test]
    fn the_signing_key_follows_from_the_master_key_alone() {
        assert_eq!(signer().verifier().as_str(), signer().verifier().as_str());
        let other = CheckpointSigner::from_master(&MasterKey::from_text(&"22".repeat(32)).unwrap()).unwrap();
        assert_ne!(other.verifier().as_str(), signer().verifier().as_str());
        assert!(signer().verifier().as_str().starts_with("renkei-audit+"));
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_the_first_bad_entry() {
        let (s, e) = (signer(), chain(5));
        let cps = vec![checkpoint(&s, &e, 5)];
        let v = s.verifier();

        let mut edited = e.clone();
        edited[2].entry.action = "api_key.revoke".into();
        assert_eq!(verify("t1", &edited, None, &cps, v), Err(Tamper::Changed { chain: "t1".into(), seq: 3 }));

        let mut deleted = e.clone();
        deleted.remove(1);
        assert_eq!(verify("t1", &deleted, None, &cps, v), Err(Tamper::Missing { chain: "t1".into(), expected: 2, found: 3 }));

        let mut swapped = e.clone();
        swapped.swap(1, 3);
        assert!(matches!(verify("t1", &swapped, None, &cps, v), Err(Tamper::Missing { expected: 2, found: 4, .. })));
        // Contents swapped under their places: the hashes no longer follow.
        let mut reordered = e.clone();
        let (a, b) = (reordered[1].entry.clone(), reordered[3].entry.clone());
        reordered[1].entry = Entry { seq: 2, ..b };
        reordered[3].entry = Entry { seq: 4, ..a };
        assert_eq!(verify("t1", &reordered, None, &cps, v), Err(Tamper::Changed { chain: "t1".into(), seq: 2 }));

        let truncated = &e[..4];
        assert_eq!(verify("t1", truncated, None, &cps, v), Err(Tamper::Truncated { chain: "t1".into(), entries: 4, size: 5 }));

        // A chain rewritten from entry 2 on, every hash recomputed: only the checkpoint knows.
        let mut rewritten = e.clone();
        rewritten[1].entry.actor = "someone else".into();
        let mut prev: Hash = hex::decode(&rewritten[0].hash).unwrap().try_into().unwrap();
        for r in &mut rewritten[1..] {
            prev = entry_hash(&prev, &r.entry);
            r.hash = hex::encode(prev);
        }
        assert_eq!(verify("t1", &rewritten, None, &cps, v), Err(Tamper::CheckpointMismatch { chain: "t1".into(), size: 5 }));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_of_another_chain_or_edited_is_refused() {
        let (s, e) = (signer(), chain(2));
        let other = CheckpointSigner::from_master(&MasterKey::from_text(&"22".repeat(32)).unwrap()).unwrap();
        let bad = Err(Tamper::BadCheckpoint { chain: "t1".into() });
        assert_eq!(verify("t1", &e, None, &[checkpoint(&other, &e, 2)], s.verifier()), bad);
        let elsewhere = s.sign(&Checkpoint { chain: "t2".into(), size: 2, head: GENESIS }).unwrap();
        assert_eq!(verify("t1", &e, None, &[elsewhere], s.verifier()), bad);
        let edited = checkpoint(&s, &e, 2).replacen("\n2\n", "\n1\n", 1);
        assert_eq!(verify("t1", &e, None, &[edited], s.verifier()), bad);
    }

    #[test]
    fn a_recorded_head_that_disagrees_with_the_entries_is_named() {
        let (s, e) = (signer(), chain(3));
        let head = e[2].hash.clone();
        assert_eq!(verify("t1", &e[..2], Some((3, &head)), &[], s.verifier()), Err(Tamper::HeadMismatch { chain: "t1".into(), size: 3 }));
    }

    #[test]
    fn a_checkpoint_is_a_c2sp_signed_note() {
        let (s, e) = (signer(), chain(1));
        let note = checkpoint(&s, &e, 1);
        let mut lines = note.lines();
        assert_eq!(lines.next(), Some("renkei/audit/t1"));
        assert_eq!(lines.next(), Some("1"));
        assert!(lines.next().is_some_and(|l| l.len() == 44));
        assert_eq!(lines.next(), Some(""));
        assert!(lines.next().is_some_and(|l| l.starts_with("— renkei-audit ")));
    }
}
