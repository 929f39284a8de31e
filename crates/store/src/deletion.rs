//! Deleting a tenant (団体の削除) for good: its data key destroyed in the key store first
//! (crypto-shredding: whatever copy of its data is left, in a backup say, can no longer be
//! read), then its rows. What was deleted and the key's fingerprint go on the disposal
//! certificate (廃棄証明). Its audit chain stays: it holds no personal data and is the record of
//! what was done to the tenant, this deletion included.

use crate::db::{Location, Scope};
use crate::platform::PlatformStore;
use crate::tenant::TenantStore;
use crate::{Result, StoreError, args};
use renkei_crypto::datakey::MasterKey;

/// What a deletion did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The destroyed data key's fingerprint (`None`: it had been destroyed before).
    pub fingerprint: Option<String>,
    /// Rows deleted, table by table.
    pub rows: Vec<(&'static str, u64)>,
}

/// The platform's tables holding a tenant's rows, in the order they can be deleted, after its
/// sessions.
/// The monitor's probe target and the notice channels (staff's addresses) go with it; its probe
/// results and incidents stay, as the SLA's record, naming nobody.
const PLATFORM_TABLES: [(&str, &str); 9] = [
    ("accounts", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("session_limits", "tenant_id"),
    ("consortium_tenants", "tenant_id"),
    ("probe_targets", "tenant_id"),
    ("notices", "tenant_id"),
    ("notice_channels", "tenant_id"),
    ("orgs", "tenant_id"),
    ("tenants", "id"),
];

impl PlatformStore {
    /// Deletes the tenant of `store`: destroys its key, deletes its rows (on SQLite its file
    /// too), and records it on the platform's audit chain as `actor`.
    pub async fn delete_tenant(&self, master: &MasterKey, store: &TenantStore, actor: &str) -> Result<Deleted> {
        let tenant = store.tenant().clone();
        if !self.has_tenant(&tenant).await? {
            return Err(StoreError::NotFound("tenant"));
        }
        let fingerprint = self.destroy_key(master, &tenant, actor).await?;
        let mut rows = store.delete_all().await?;
        if let Location::Dir(dir) = self.location() {
            let file = crate::layout::tenant_db(dir, &tenant);
            for suffix in ["", "-wal", "-shm"] {
                let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Open { path: path.display().to_string(), reason: e.to_string() });
                    }
                    _ => {}
                }
            }
        }
        let (t, actor, fp) = (tenant.to_string(), actor.to_owned(), fingerprint.clone().unwrap_or_default());
        let platform_rows = self
            .db
            .tx(Scope::Operator, move |tx| {
                // A session names its account; the tenant's are those of its accounts too.
                let sessions = tx.execute(
                    "DELETE FROM sessions WHERE tenant_id = ?1 OR account_id IN (SELECT id FROM accounts WHERE tenant_id = ?1)",
                    args![t],
                )?;
                let mut counts = vec![("sessions", sessions)];
                for (table, column) in PLATFORM_TABLES {
                    counts.push((table, tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), args![t])?));
                }
                let detail = format!("tenant={t} key_fingerprint={fp}");
                crate::audit::append(
                    tx,
                    "",
                    &crate::audit::AuditEvent { actor: &actor, role: "", action: "tenant.delete", target: "", detail: &detail },
                )?;
                Ok(counts)
            })
            .await?;
        rows.extend(platform_rows);
        Ok(Deleted { fingerprint, rows })
    }
}
