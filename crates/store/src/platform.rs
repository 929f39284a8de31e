//! The platform database: tenants (団体) with their wrapped data keys, their orgs (情報保有機関)
//! with encrypted private keys, client-system API keys (hashed), and the audit log of
//! privileged actions. No personal data lives here.

use crate::migrate::Migration;
use crate::{Db, Result, StoreError, now_unix};
use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::SigningKey;
use renkei_domain::{OrgId, OrgType, TenantId};
use rusqlite::{OptionalExtension, params};
use std::path::Path;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        wrapped_key BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE orgs (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL UNIQUE,
        org_type TEXT NOT NULL,
        name TEXT NOT NULL,
        signing_key BLOB NOT NULL,
        opening_key BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    CREATE TABLE api_keys (
        key_hash TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    ",
}];

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub tenant: TenantId,
    pub id: OrgId,
    pub org_type: OrgType,
    pub name: String,
}

/// What an API key authenticates: one org of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    pub tenant: TenantId,
    pub org: OrgId,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub seq: i64,
    pub tenant: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub at: i64,
}

#[derive(Clone)]
pub struct PlatformStore {
    db: Db,
}

fn parse<T>(r: std::result::Result<T, renkei_domain::IdError>) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn audit(tx: &rusqlite::Transaction<'_>, tenant: Option<&str>, actor: &str, action: &str, detail: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, actor, action, detail, now_unix()],
    )?;
    Ok(())
}

impl PlatformStore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { db: Db::open(path, MIGRATIONS)? })
    }

    /// Creates a tenant with a fresh data key wrapped by `master`.
    pub async fn create_tenant(&self, master: &MasterKey, id: &TenantId, name: &str, actor: &str) -> Result<()> {
        let dk = DataKey::generate(id.as_str());
        let wrapped = master.wrap(&dk)?;
        let (id, name, actor) = (id.to_string(), name.to_owned(), actor.to_owned());
        self.db
            .tx(move |tx| {
                let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", [&id], |r| r.get(0))?;
                if exists {
                    return Err(StoreError::Conflict(format!("tenant {id} already exists")));
                }
                tx.execute(
                    "INSERT INTO tenants (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, name, wrapped, now_unix()],
                )?;
                audit(tx, Some(&id), &actor, "tenant.create", &format!("name={name}"))
            })
            .await
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.db
            .tx(|tx| {
                let mut st = tx.prepare("SELECT id, name FROM tenants ORDER BY id")?;
                let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                rows.map(|r| {
                    let (id, name) = r?;
                    Ok(Tenant { id: parse(TenantId::parse(&id))?, name })
                })
                .collect()
            })
            .await
    }

    /// The tenant's data key, unwrapped with `master`.
    pub async fn data_key(&self, master: &MasterKey, tenant: &TenantId) -> Result<DataKey> {
        let id = tenant.to_string();
        let wrapped: Vec<u8> = self
            .db
            .tx(move |tx| {
                tx.query_row("SELECT wrapped_key FROM tenants WHERE id = ?1", [&id], |r| r.get(0))
                    .optional()?
                    .ok_or(StoreError::NotFound("tenant"))
            })
            .await?;
        Ok(master.unwrap(tenant.as_str(), &wrapped)?)
    }

    /// Creates an org with fresh signing and sealing keys, stored encrypted with the tenant's key.
    pub async fn create_org(&self, dk: &DataKey, org: &Org, actor: &str) -> Result<()> {
        let signing = SigningKey::generate();
        let opening = OpeningKey::generate();
        let row = org.id.as_str();
        let sk = dk.encrypt("orgs.signing_key", row, &signing.to_secret_bytes())?;
        let ok = dk.encrypt("orgs.opening_key", row, &opening.to_secret_bytes())?;
        let org = org.clone();
        let actor = actor.to_owned();
        self.db
            .tx(move |tx| {
                let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM orgs WHERE id = ?1)", [org.id.as_str()], |r| r.get(0))?;
                if taken {
                    return Err(StoreError::Conflict(format!("org {} already exists", org.id)));
                }
                tx.execute(
                    "INSERT INTO orgs (tenant_id, id, org_type, name, signing_key, opening_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![org.tenant.as_str(), org.id.as_str(), org.org_type.as_str(), org.name, sk, ok, now_unix()],
                )?;
                audit(tx, Some(org.tenant.as_str()), &actor, "org.create", &format!("org={} type={}", org.id, org.org_type))
            })
            .await
    }

    pub async fn orgs(&self, tenant: Option<&TenantId>) -> Result<Vec<Org>> {
        let tenant = tenant.map(|t| t.to_string());
        self.db
            .tx(move |tx| {
                let mut st = tx.prepare(
                    "SELECT tenant_id, id, org_type, name FROM orgs WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY tenant_id, id",
                )?;
                let rows =
                    st.query_map([&tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?)))?;
                rows.map(|r| {
                    let (t, id, ty, name) = r?;
                    Ok(Org {
                        tenant: parse(TenantId::parse(&t))?,
                        id: parse(OrgId::parse(&id))?,
                        org_type: parse(OrgType::parse(&ty))?,
                        name,
                    })
                })
                .collect()
            })
            .await
    }

    /// The org's private keys, decrypted with the tenant's data key.
    pub async fn org_keys(&self, dk: &DataKey, org: &OrgId) -> Result<(SigningKey, OpeningKey)> {
        let (tenant, id) = (dk.tenant().to_owned(), org.to_string());
        let (sk, ok): (Vec<u8>, Vec<u8>) = self
            .db
            .tx(move |tx| {
                tx.query_row("SELECT signing_key, opening_key FROM orgs WHERE tenant_id = ?1 AND id = ?2", [&tenant, &id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .ok_or(StoreError::NotFound("org"))
            })
            .await?;
        let row = org.as_str();
        let signing = SigningKey::from_bytes(&dk.decrypt("orgs.signing_key", row, &sk)?)?;
        let opening = OpeningKey::from_bytes(&dk.decrypt("orgs.opening_key", row, &ok)?)?;
        Ok((signing, opening))
    }

    /// Stores the hash of a new API key scoped to one org of one tenant.
    pub async fn add_api_key(&self, scope: &KeyScope, key_hash: &str, label: &str, actor: &str) -> Result<()> {
        let (scope, key_hash, label, actor) = (scope.clone(), key_hash.to_owned(), label.to_owned(), actor.to_owned());
        self.db
            .tx(move |tx| {
                let known: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM orgs WHERE tenant_id = ?1 AND id = ?2)",
                    [scope.tenant.as_str(), scope.org.as_str()],
                    |r| r.get(0),
                )?;
                if !known {
                    return Err(StoreError::NotFound("org of that tenant"));
                }
                tx.execute(
                    "INSERT INTO api_keys (key_hash, tenant_id, org_id, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key_hash, scope.tenant.as_str(), scope.org.as_str(), label, now_unix()],
                )?;
                audit(tx, Some(scope.tenant.as_str()), &actor, "api_key.create", &format!("org={} label={label}", scope.org))
            })
            .await
    }

    /// The scope of a live (not revoked) API key, by its hash.
    pub async fn key_scope(&self, key_hash: &str) -> Result<Option<KeyScope>> {
        let key_hash = key_hash.to_owned();
        self.db
            .tx(move |tx| {
                let row: Option<(String, String)> = tx
                    .query_row("SELECT tenant_id, org_id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL", [&key_hash], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                row.map(|(t, o)| Ok(KeyScope { tenant: parse(TenantId::parse(&t))?, org: parse(OrgId::parse(&o))? })).transpose()
            })
            .await
    }

    pub async fn audit_log(&self, tenant: Option<&TenantId>) -> Result<Vec<AuditEntry>> {
        let tenant = tenant.map(|t| t.to_string());
        self.db
            .tx(move |tx| {
                let mut st = tx.prepare(
                    "SELECT seq, tenant_id, actor, action, detail, at FROM audit_log WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY seq",
                )?;
                let rows = st.query_map([&tenant], |r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        tenant: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        detail: r.get(4)?,
                        at: r.get(5)?,
                    })
                })?;
                Ok(rows.collect::<std::result::Result<_, _>>()?)
            })
            .await
    }
}
