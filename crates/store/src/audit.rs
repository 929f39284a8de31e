//! The audit log (監査ログ) of the platform database: one hash chain per tenant
//! ([`renkei_crypto::auditlog`]), appended in the transaction of the act it records, and the
//! chains' signed checkpoints.
//!
//! Invariants:
//! - An entry takes the next place of its tenant's chain under the lock of the chain's row in
//!   `audit_heads` (`UPDATE … RETURNING` locks it on PostgreSQL; SQLite has one writer), so two
//!   acts never take one place and the head always names the last entry.
//! - The application may not change or delete entries or checkpoints on PostgreSQL (grants,
//!   `platform::MIGRATIONS`); what someone with the database's own keys does is what
//!   [`PlatformStore::verify_audit`] finds.

use crate::db::{Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args, now_unix};
use renkei_crypto::auditlog::{self, Checkpoint, CheckpointSigner, CheckpointVerifier, Entry, GENESIS, StoredEntry, Tamper, Verified};
use renkei_domain::TenantId;

/// One chain of the audit log: a tenant's, or the platform's own (acts on no tenant, such as an
/// operator signing in). The platform's chain is stored under the empty key, which no tenant
/// id can be, and is read by the operator only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuditChain {
    Platform,
    Tenant(TenantId),
}

impl AuditChain {
    /// The chain's key in the database and in its entries' hashes.
    pub fn key(&self) -> &str {
        match self {
            AuditChain::Platform => "",
            AuditChain::Tenant(t) => t.as_str(),
        }
    }

    fn from_key(key: &str) -> Result<Self> {
        if key.is_empty() {
            return Ok(AuditChain::Platform);
        }
        TenantId::parse(key).map(AuditChain::Tenant).map_err(|e| StoreError::Corrupt(format!("an audit chain's name: {e}")))
    }

    fn scope(&self) -> Scope {
        match self {
            AuditChain::Platform => Scope::Operator,
            AuditChain::Tenant(t) => Scope::Tenant(t.to_string()),
        }
    }
}

impl std::fmt::Display for AuditChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuditChain::Platform => auditlog::PLATFORM_CHAIN_NAME,
            AuditChain::Tenant(t) => t.as_str(),
        })
    }
}

/// One act to record. No field may hold a personal value.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// Who acted: an account's name, an API key's label, `operator` on the command line.
    pub actor: &'a str,
    /// The actor's role (`domain::Role::code`), or `client_system`; empty before roles existed.
    pub role: &'a str,
    /// What was done, e.g. `api_key.revoke`.
    pub action: &'a str,
    /// What it was done to, e.g. `api_key:<id>`; may be empty.
    pub target: &'a str,
    pub detail: &'a str,
}

/// Appends `event` to the chain keyed `tenant` ([`AuditChain::key`]), in the caller's
/// transaction.
pub(crate) fn append(tx: &mut dyn Tx, tenant: &str, event: &AuditEvent) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_heads (chain, size, head) VALUES (?1, 0, ?2) ON CONFLICT (chain) DO NOTHING",
        args![tenant, hex::encode(GENESIS)],
    )?;
    let row = tx
        .query_opt("UPDATE audit_heads SET size = size + 1 WHERE chain = ?1 RETURNING size, head", args![tenant])?
        .ok_or_else(|| StoreError::Corrupt(format!("the audit chain of {tenant} has no head")))?;
    let (seq, prev): (i64, String) = (row.get(0)?, row.get(1)?);
    let prev = head_hash(tenant, &prev)?;
    let entry = Entry {
        chain: tenant.to_owned(),
        seq: seq as u64,
        at: now_unix(),
        actor: event.actor.to_owned(),
        role: event.role.to_owned(),
        action: event.action.to_owned(),
        target: event.target.to_owned(),
        detail: event.detail.to_owned(),
    };
    let hash = hex::encode(auditlog::entry_hash(&prev, &entry));
    tx.execute(
        "INSERT INTO audit_log (tenant_id, chain_seq, actor, role, action, target, detail, at, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![tenant, seq, entry.actor, entry.role, entry.action, entry.target, entry.detail, entry.at, hash],
    )?;
    tx.execute("UPDATE audit_heads SET head = ?2 WHERE chain = ?1", args![tenant, hash])?;
    Ok(())
}

/// What `renkei audit verify` found in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// The chain holds; `unchained` entries were written before the log was chained.
    Sound {
        verified: Verified,
        unchained: u64,
    },
    Tampered(Tamper),
    /// An entry without a place in the chain was written after the chain began.
    OutsideTheChain {
        chain: String,
    },
}

impl std::fmt::Display for ChainCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainCheck::Sound { verified, unchained } => {
                write!(f, "{} entries, {} checkpoints, sound", verified.entries, verified.checkpoints)?;
                if *unchained > 0 {
                    write!(f, " ({unchained} older entries predate the chain)")?;
                }
                Ok(())
            }
            ChainCheck::Tampered(t) => write!(f, "{t}"),
            ChainCheck::OutsideTheChain { chain } => {
                write!(f, "an entry of {chain} without a place in its chain was written after the chain began")
            }
        }
    }
}

/// A chain's head as `audit_heads` keeps it (hex).
fn head_hash(chain: &str, hex_text: &str) -> Result<auditlog::Hash> {
    hex::decode(hex_text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| StoreError::Corrupt(format!("the audit head of {chain}")))
}

/// An entry from a row of `chain_seq, at, actor, role, action, target, detail, hash`.
fn stored_entry(chain: &str, r: &crate::db::Row) -> Result<StoredEntry> {
    Ok(StoredEntry {
        entry: Entry {
            chain: chain.to_owned(),
            seq: r.get::<i64>(0)?.max(0) as u64,
            at: r.get(1)?,
            actor: r.get(2)?,
            role: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            detail: r.get(6)?,
        },
        hash: r.get::<Option<String>>(7)?.unwrap_or_default(),
    })
}

impl PlatformStore {
    /// Every audit chain there is (the platform's first, if it has one).
    pub async fn audit_chains(&self) -> Result<Vec<AuditChain>> {
        self.db
            .read(Scope::Operator, |tx| {
                tx.query("SELECT chain FROM audit_heads ORDER BY chain", &[])?
                    .iter()
                    .map(|r| AuditChain::from_key(&r.get::<String>(0)?))
                    .collect()
            })
            .await
    }

    /// Signs and keeps a checkpoint of a chain as it is now, unless its newest
    /// checkpoint already states this size. Returns the size checkpointed, if one was written.
    pub async fn write_audit_checkpoint(&self, signer: &CheckpointSigner, of: &AuditChain) -> Result<Option<u64>> {
        let chain = of.key().to_owned();
        let Some((size, head)) = self
            .db
            .read(of.scope(), {
                let chain = chain.clone();
                move |tx| {
                    let head = tx.query_opt("SELECT size, head FROM audit_heads WHERE chain = ?1", args![chain])?;
                    let last: Option<i64> = tx.value("SELECT MAX(size) FROM audit_checkpoints WHERE chain = ?1", args![chain])?;
                    Ok(match head {
                        Some(r) if Some(r.get::<i64>(0)?) != last => Some((r.get::<i64>(0)?, r.get::<String>(1)?)),
                        _ => None,
                    })
                }
            })
            .await?
        else {
            return Ok(None);
        };
        let head = head_hash(&chain, &head)?;
        let note = signer.sign(&Checkpoint { chain: chain.clone(), size: size as u64, head })?;
        self.db
            .tx(of.scope(), move |tx| {
                tx.execute(
                    "INSERT INTO audit_checkpoints (chain, size, note, at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (chain, size) DO NOTHING",
                    args![chain, size, note, now_unix()],
                )?;
                Ok(())
            })
            .await?;
        Ok(Some(size as u64))
    }

    /// A chain's signed checkpoints, oldest first.
    pub async fn audit_checkpoints(&self, of: &AuditChain) -> Result<Vec<String>> {
        let chain = of.key().to_owned();
        self.db
            .read(of.scope(), move |tx| {
                tx.query("SELECT note FROM audit_checkpoints WHERE chain = ?1 ORDER BY size", args![chain])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect()
            })
            .await
    }

    /// How many entries of `action` a chain holds, and when the latest was written (Unix
    /// seconds): how often something audited was done, for the compliance sheet.
    pub async fn audit_activity(&self, of: &AuditChain, action: &str) -> Result<(i64, Option<i64>)> {
        let (chain, action) = (of.key().to_owned(), action.to_owned());
        self.db
            .read(of.scope(), move |tx| {
                let rows =
                    tx.query("SELECT COUNT(*), MAX(at) FROM audit_log WHERE tenant_id = ?1 AND action = ?2", args![chain, action])?;
                match rows.first() {
                    Some(r) => Ok((r.get(0)?, r.get(1)?)),
                    None => Ok((0, None)),
                }
            })
            .await
    }

    /// Up to `limit` entries of a chain after its place `after`, in order, with their hashes
    /// (hex): what a tenant's admins and auditors read and export, and check for themselves.
    pub async fn audit_entries(&self, of: &AuditChain, after: u64, limit: u32) -> Result<Vec<StoredEntry>> {
        let chain = of.key().to_owned();
        self.db
            .read(of.scope(), move |tx| {
                tx.query(
                    "SELECT chain_seq, at, actor, role, action, target, detail, hash FROM audit_log
                     WHERE tenant_id = ?1 AND chain_seq > ?2 ORDER BY chain_seq LIMIT ?3",
                    args![chain, after.min(i64::MAX as u64) as i64, limit as i64],
                )?
                .iter()
                .map(|r| stored_entry(&chain, r))
                .collect()
            })
            .await
    }

    /// Checks a chain from its first entry against its head and every checkpoint it
    /// has, plus `extra` checkpoints kept elsewhere (a municipality's own copies).
    pub async fn verify_audit(&self, verifier: &CheckpointVerifier, of: &AuditChain, extra: &[String]) -> Result<ChainCheck> {
        let chain = of.key().to_owned();
        let (entries, head, mut checkpoints, unchained, outside) = self
            .db
            .read(of.scope(), {
                let chain = chain.clone();
                move |tx| {
                    let entries = tx
                        .query(
                            "SELECT chain_seq, at, actor, role, action, target, detail, hash FROM audit_log
                             WHERE tenant_id = ?1 AND chain_seq IS NOT NULL ORDER BY chain_seq",
                            args![chain],
                        )?
                        .iter()
                        .map(|r| stored_entry(&chain, r))
                        .collect::<Result<Vec<_>>>()?;
                    let head = tx
                        .query_opt("SELECT size, head FROM audit_heads WHERE chain = ?1", args![chain])?
                        .map(|r| Ok::<_, StoreError>((r.get::<i64>(0)?.max(0) as u64, r.get::<String>(1)?)))
                        .transpose()?;
                    let checkpoints: Vec<(String, Option<String>)> = tx
                        .query("SELECT note, verifier_key FROM audit_checkpoints WHERE chain = ?1 ORDER BY size", args![chain])?
                        .iter()
                        .map(|r| Ok((r.get(0)?, r.get(1)?)))
                        .collect::<Result<_>>()?;
                    let unchained: i64 =
                        tx.value("SELECT COUNT(*) FROM audit_log WHERE tenant_id = ?1 AND chain_seq IS NULL", args![chain])?;
                    // Entries without a place are older than the chain: none may follow its first.
                    let outside: bool = tx.value(
                        "SELECT EXISTS(SELECT 1 FROM audit_log WHERE tenant_id = ?1 AND chain_seq IS NULL
                           AND seq > (SELECT MIN(seq) FROM audit_log WHERE tenant_id = ?1 AND chain_seq IS NOT NULL))",
                        args![chain],
                    )?;
                    Ok((entries, head, checkpoints, unchained, outside))
                }
            })
            .await?;
        if outside {
            return Ok(ChainCheck::OutsideTheChain { chain: of.to_string() });
        }
        checkpoints.extend(extra.iter().map(|note| (note.clone(), None)));
        // An imported chain's checkpoints are verified with the key of the platform that signed
        // them, noted at import once its manifest's signature was checked.
        let foreign = checkpoints
            .iter()
            .filter_map(|(_, key)| key.as_deref())
            .map(|key| {
                Ok((key, CheckpointVerifier::parse(key).map_err(|e| StoreError::Corrupt(format!("an imported checkpoint's key: {e}")))?))
            })
            .collect::<Result<std::collections::HashMap<_, _>>>()?;
        let notes: Vec<(&str, &CheckpointVerifier)> = checkpoints
            .iter()
            .map(|(note, key)| (note.as_str(), key.as_deref().and_then(|k| foreign.get(k)).unwrap_or(verifier)))
            .collect();
        let head = head.as_ref().map(|(size, hash)| (*size, hash.as_str()));
        Ok(match auditlog::verify_with(&chain, &entries, head, &notes) {
            Ok(verified) => ChainCheck::Sound { verified, unchained: unchained.max(0) as u64 },
            Err(t) => ChainCheck::Tampered(t),
        })
    }
}
