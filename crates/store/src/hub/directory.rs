//! The organization directory: who each org is, where it listens, its public keys.

use super::*;

/// An organization in the hub's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    pub id: OrgId,
    pub org_type: OrgType,
    pub name: String,
    /// Base URL of the org's server's network listener, e.g. `https://127.0.0.1:7443`.
    pub endpoint: String,
    /// Ed25519 verifying key, base64.
    pub verify_key: String,
    /// X25519 HPKE public key, base64.
    pub seal_key: String,
    /// The municipality the org belongs to, as its platform names it: its orgs may obtain
    /// each other's codes in one request (the tenant-wide registry). Empty: a group of its own.
    #[serde(default)]
    pub group: String,
}

impl HubStore {
    /// Adds or replaces an org's directory entry (keys rotate, endpoints move).
    pub async fn register_org(&self, e: &DirectoryEntry) -> Result<()> {
        let e = e.clone();
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO orgs (id, org_type, name, endpoint, verify_key, seal_key, registered_at, group_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET org_type = excluded.org_type, name = excluded.name, endpoint = excluded.endpoint,
                    verify_key = excluded.verify_key, seal_key = excluded.seal_key, group_id = excluded.group_id",
                args![e.id.as_str(), e.org_type.as_str(), e.name, e.endpoint, e.verify_key, e.seal_key, now_unix(), e.group],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn org(&self, id: &str) -> Result<Option<DirectoryEntry>> {
        let id = id.to_owned();
        let row = self
            .read(move |tx| {
                tx.query_opt("SELECT id, org_type, name, endpoint, verify_key, seal_key, group_id FROM orgs WHERE id = ?1", args![id])
            })
            .await?;
        row.map(|r| {
            Ok(DirectoryEntry {
                id: OrgId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
                org_type: OrgType::parse(&r.get::<String>(1)?).map_err(corrupt)?,
                name: r.get(2)?,
                endpoint: r.get(3)?,
                verify_key: r.get(4)?,
                seal_key: r.get(5)?,
                group: r.get(6)?,
            })
        })
        .transpose()
    }
}
