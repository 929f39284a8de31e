//! 廃棄証明 (a disposal certificate): what deleting a tenant destroyed, when and by whom, the
//! fingerprint of its destroyed data key, and the backup generations that still hold its data
//! encrypted under that key (which no one can read any more) with when they expire. Signed with
//! the platform's audit key: the signed text is the certificate's JSON with an empty signature.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The certificate's `format`.
pub const FORMAT: &str = "renkei-disposal-certificate";

/// How the data was destroyed, as the certificate states it.
pub const METHOD: &str = "crypto-shredding: the tenant's data key (AES-256-GCM, wrapped by the platform's master key) was overwritten and deleted from the key store, which is kept and backed up apart from the data; then every row of the tenant was deleted";

/// A disposal certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub format: String,
    pub tenant: String,
    pub tenant_name: String,
    /// RFC 3339, UTC.
    pub deleted_at: String,
    pub deleted_by: String,
    pub method: String,
    /// The destroyed key's fingerprint; empty if it had been destroyed before.
    pub key_fingerprint: String,
    /// Rows deleted, by table.
    pub rows_deleted: BTreeMap<String, u64>,
    /// Backup generations still holding the tenant's data, encrypted under the destroyed key.
    pub backups_holding_ciphertext: Vec<BackupGeneration>,
    /// The audit key that signed this certificate (`renkei-audit+…`).
    pub verifier_key: String,
    /// A signed note of [`Certificate::signed_text`].
    pub signature: String,
}

/// A backup generation that still holds a deleted tenant's ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupGeneration {
    pub repository: String,
    pub snapshot: String,
    pub taken_at: String,
    /// When the generations policy removes it.
    pub expires_at: String,
}

impl Certificate {
    /// What the signature covers: the certificate's JSON with an empty signature, and a newline.
    pub fn signed_text(&self) -> String {
        let unsigned = Certificate { signature: String::new(), ..self.clone() };
        let mut text = serde_json::to_string(&unsigned).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_text_leaves_the_signature_out_and_covers_every_other_field() {
        let mut c = Certificate {
            format: FORMAT.into(),
            tenant: "kou-city".into(),
            tenant_name: "甲市".into(),
            deleted_at: "2026-12-03T00:00:00Z".into(),
            deleted_by: "operator".into(),
            method: METHOD.into(),
            key_fingerprint: "00ff".into(),
            rows_deleted: BTreeMap::from([("persons".into(), 3)]),
            backups_holding_ciphertext: vec![],
            verifier_key: "renkei-audit+…".into(),
            signature: String::new(),
        };
        let text = c.signed_text();
        c.signature = "a note".into();
        assert_eq!(c.signed_text(), text);
        c.rows_deleted.insert("persons".into(), 4);
        assert_ne!(c.signed_text(), text);
        assert!(text.ends_with("}\n") && !text.contains("a note"));
    }
}
