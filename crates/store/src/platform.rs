//! The platform database: tenants (団体) with their wrapped data keys, their orgs (情報保有機関)
//! with encrypted private keys, client-system API keys (hashed), and the audit log of
//! privileged actions. No personal data lives here.

use crate::db::{Location, Scope, Tx};
use crate::keys::KeyEntry;
use crate::migrate::{Migration, Migrations, RowSecurity, Rows};
use crate::tenant::TenantStore;
use crate::{Db, Result, StoreError, args, layout, now_unix};
use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::SigningKey;
use renkei_domain::{OrgId, OrgType, TenantId};

/// The role platform requests run as on PostgreSQL: no BYPASSRLS, owns nothing.
pub const APP_ROLE: &str = "renkei_app";

const SQLITE: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../migrations/sqlite/platform/001_tables.sql") },
    Migration { version: 2, sql: include_str!("../migrations/sqlite/platform/002_audit_chain.sql") },
    Migration { version: 3, sql: include_str!("../migrations/sqlite/platform/003_accounts.sql") },
    Migration { version: 4, sql: include_str!("../migrations/sqlite/platform/004_key_duties.sql") },
    Migration { version: 5, sql: include_str!("../migrations/sqlite/platform/005_session_limits.sql") },
    Migration { version: 6, sql: include_str!("../migrations/sqlite/platform/006_consortia.sql") },
    Migration { version: 7, sql: include_str!("../migrations/sqlite/platform/007_imported_checkpoints.sql") },
    Migration { version: 8, sql: include_str!("../migrations/sqlite/platform/008_backups.sql") },
    Migration { version: 9, sql: include_str!("../migrations/sqlite/platform/009_monitor.sql") },
    Migration { version: 10, sql: include_str!("../migrations/sqlite/platform/010_probes.sql") },
    Migration { version: 11, sql: include_str!("../migrations/sqlite/platform/011_notices.sql") },
    Migration { version: 12, sql: include_str!("../migrations/sqlite/platform/012_status_public.sql") },
    Migration { version: 13, sql: include_str!("../migrations/sqlite/platform/013_consortium_weights.sql") },
    Migration { version: 14, sql: include_str!("../migrations/sqlite/platform/014_probe_days.sql") },
];

/// On PostgreSQL one schema holds the platform tables and every tenant's tables; each has
/// row-level security enabled and forced ([`ROW_SECURITY`]).
const POSTGRES: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../migrations/postgres/platform/001_tables.sql") },
    Migration { version: 2, sql: include_str!("../migrations/postgres/platform/002_import_id.sql") },
    Migration { version: 3, sql: include_str!("../migrations/postgres/platform/003_dates_as_dates.sql") },
    Migration { version: 4, sql: include_str!("../migrations/postgres/platform/004_audit_chain.sql") },
    Migration { version: 5, sql: include_str!("../migrations/postgres/platform/005_accounts.sql") },
    Migration { version: 6, sql: include_str!("../migrations/postgres/platform/006_key_duties.sql") },
    Migration { version: 7, sql: include_str!("../migrations/postgres/platform/007_approval.sql") },
    Migration { version: 8, sql: include_str!("../migrations/postgres/platform/008_session_limits.sql") },
    Migration { version: 9, sql: include_str!("../migrations/postgres/platform/009_marks.sql") },
    Migration { version: 10, sql: include_str!("../migrations/postgres/platform/010_in_house.sql") },
    Migration { version: 11, sql: include_str!("../migrations/postgres/platform/011_query_states.sql") },
    Migration { version: 12, sql: include_str!("../migrations/postgres/platform/012_consortia.sql") },
    Migration { version: 13, sql: include_str!("../migrations/postgres/platform/013_record_purges.sql") },
    Migration { version: 14, sql: include_str!("../migrations/postgres/platform/014_gaiji.sql") },
    Migration { version: 15, sql: include_str!("../migrations/postgres/platform/015_imported_checkpoints.sql") },
    Migration { version: 16, sql: include_str!("../migrations/postgres/platform/016_backups.sql") },
    Migration { version: 17, sql: include_str!("../migrations/postgres/platform/017_monitor.sql") },
    Migration { version: 18, sql: include_str!("../migrations/postgres/platform/018_probes.sql") },
    Migration { version: 19, sql: include_str!("../migrations/postgres/platform/019_notices.sql") },
    Migration { version: 20, sql: include_str!("../migrations/postgres/platform/020_status_public.sql") },
    Migration { version: 21, sql: include_str!("../migrations/postgres/platform/021_consortium_weights.sql") },
    Migration { version: 22, sql: include_str!("../migrations/postgres/platform/022_probe_days.sql") },
];

/// Every table of the platform schema on PostgreSQL, and which rows a transaction sees.
/// Platform tables admit the operator; tenant tables only the tenant a transaction declared.
const ROW_SECURITY: &[RowSecurity] = &[
    RowSecurity { version: 1, table: "schema_migrations", rows: Rows::All },
    RowSecurity { version: 1, table: "tenants", rows: Rows::TenantOrOperator("id") },
    RowSecurity { version: 1, table: "orgs", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 1, table: "api_keys", rows: Rows::Written },
    RowSecurity { version: 1, table: "audit_log", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 1, table: "persons", rows: Rows::Tenant },
    RowSecurity { version: 1, table: "provision_copies", rows: Rows::Tenant },
    RowSecurity { version: 1, table: "queries", rows: Rows::Tenant },
    RowSecurity { version: 1, table: "provided_answers", rows: Rows::Tenant },
    RowSecurity { version: 1, table: "linkage_records", rows: Rows::Tenant },
    RowSecurity { version: 4, table: "audit_heads", rows: Rows::TenantOrOperator("chain") },
    RowSecurity { version: 4, table: "audit_checkpoints", rows: Rows::TenantOrOperator("chain") },
    RowSecurity { version: 5, table: "accounts", rows: Rows::Written },
    RowSecurity { version: 5, table: "sessions", rows: Rows::Written },
    RowSecurity { version: 7, table: "approval_policies", rows: Rows::Tenant },
    RowSecurity { version: 8, table: "session_limits", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 9, table: "item_marks", rows: Rows::Tenant },
    RowSecurity { version: 9, table: "manual_reviews", rows: Rows::Tenant },
    RowSecurity { version: 10, table: "in_house_uses", rows: Rows::Tenant },
    RowSecurity { version: 11, table: "query_states", rows: Rows::Tenant },
    RowSecurity { version: 12, table: "consortia", rows: Rows::Written },
    RowSecurity { version: 12, table: "consortium_tenants", rows: Rows::Written },
    RowSecurity { version: 13, table: "record_purges", rows: Rows::Tenant },
    RowSecurity { version: 14, table: "gaiji", rows: Rows::Tenant },
    RowSecurity { version: 16, table: "backup_runs", rows: Rows::Written },
    RowSecurity { version: 16, table: "restore_drills", rows: Rows::Written },
    RowSecurity { version: 17, table: "probe_results", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 17, table: "incidents", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 17, table: "maintenance_windows", rows: Rows::Written },
    RowSecurity { version: 17, table: "monitor_ticks", rows: Rows::Written },
    RowSecurity { version: 18, table: "probe_targets", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 19, table: "notice_channels", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 19, table: "notices", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 22, table: "probe_days", rows: Rows::TenantOrOperator("tenant_id") },
];

pub(crate) const MIGRATIONS: Migrations = Migrations {
    sqlite: SQLITE,
    postgres: POSTGRES,
    postgres_row_security: ROW_SECURITY,
    // The audit log and its checkpoints are append-only for the application.
    postgres_grants: "REVOKE UPDATE, DELETE ON audit_log, audit_checkpoints FROM renkei_app;",
    sqlite_page_size: crate::migrate::SMALL_PAGE_SIZE,
};

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
    /// The duties the key may file queries for.
    pub duties: renkei_domain::policy::DutyScope,
}

/// Not found unless `org` is an org of `tenant`.
pub(crate) fn require_org(tx: &mut dyn Tx, tenant: &TenantId, org: &OrgId) -> Result<()> {
    let known =
        tx.value::<bool>("SELECT EXISTS(SELECT 1 FROM orgs WHERE tenant_id = ?1 AND id = ?2)", args![tenant.as_str(), org.as_str()])?;
    if known { Ok(()) } else { Err(StoreError::NotFound("org of that tenant")) }
}

/// Hex digits of a key's hash that name it to the operator: enough to tell a tenant's keys
/// apart (48 bits), and nothing that helps to forge one.
pub const KEY_ID_LEN: usize = 12;

/// The id under which the operator lists and revokes the key with this hash.
pub fn key_id(key_hash: &str) -> String {
    key_hash.chars().take(KEY_ID_LEN).collect()
}

/// An API key as the operator sees it: never the key, nor its whole hash.
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: String,
    pub tenant: TenantId,
    pub org: OrgId,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
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
    pub(crate) db: Db,
    pub(crate) keys: crate::keys::KeyStore,
    pub(crate) location: Location,
}

fn parse<T>(r: std::result::Result<T, renkei_domain::IdError>) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An org from a row of `tenant_id, id, org_type, name`.
fn org_row(r: &crate::db::Row) -> Result<Org> {
    Ok(Org {
        tenant: parse(TenantId::parse(&r.get::<String>(0)?))?,
        id: parse(OrgId::parse(&r.get::<String>(1)?))?,
        org_type: parse(OrgType::parse(&r.get::<String>(2)?))?,
        name: r.get(3)?,
    })
}

fn audit(tx: &mut dyn Tx, tenant: &str, actor: &str, action: &str, detail: &str) -> Result<()> {
    crate::audit::append(tx, tenant, &crate::audit::AuditEvent { actor, role: "", action, target: "", detail })
}

fn duplicate_as(what: String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Duplicate(_) => StoreError::Conflict(what),
        e => e,
    }
}

impl PlatformStore {
    /// Opens the platform database at `location` (`platform.sqlite` in a data directory, or the
    /// PostgreSQL schema), bringing its schema up to date.
    pub async fn open(location: &Location) -> Result<Self> {
        let file = match location {
            Location::Dir(d) => layout::platform_db(d),
            Location::Postgres { .. } => Default::default(),
        };
        let store = Self {
            db: Db::open(location, &file, APP_ROLE, &MIGRATIONS).await?,
            keys: crate::keys::KeyStore::open(location).await?,
            location: location.clone(),
        };
        store.move_keys_to_the_key_store().await?;
        Ok(store)
    }

    /// Tenants made before the key store kept their wrapped key in `tenants`: each is copied
    /// into the key store, then cleared here (in that order, so a key is never only nowhere).
    async fn move_keys_to_the_key_store(&self) -> Result<()> {
        let kept: Vec<(String, Vec<u8>)> = self
            .db
            .read(Scope::Operator, |tx| {
                tx.query("SELECT id, wrapped_key FROM tenants WHERE length(wrapped_key) > 0", &[])?
                    .iter()
                    .map(|r| Ok((r.get(0)?, r.get(1)?)))
                    .collect()
            })
            .await?;
        for (id, wrapped) in kept {
            let tenant = parse(TenantId::parse(&id))?;
            // The fingerprint needs the key itself: a destruction computes it (`destroy_key`).
            self.keys.put(&tenant, &wrapped, "").await?;
            self.db
                .tx(Scope::Operator, move |tx| tx.execute("UPDATE tenants SET wrapped_key = ?2 WHERE id = ?1", args![id, Vec::<u8>::new()]))
                .await?;
        }
        Ok(())
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The store of one tenant: its own SQLite file, or its rows in the shared PostgreSQL schema.
    pub async fn tenant_store(&self, tenant: TenantId, dk: DataKey) -> Result<TenantStore> {
        let db = match &self.location {
            Location::Dir(d) => Db::lazy_sqlite(&layout::tenant_db(d, &tenant), &crate::tenant::SQLITE_MIGRATIONS),
            Location::Postgres { .. } => self.db.clone(),
        };
        TenantStore::new(db, tenant, dk)
    }

    /// Creates a tenant with a fresh data key wrapped by `master`.
    pub async fn create_tenant(&self, master: &MasterKey, id: &TenantId, name: &str, actor: &str) -> Result<()> {
        if self.has_tenant(id).await? {
            return Err(StoreError::Conflict(format!("tenant {id} already exists")));
        }
        let dk = DataKey::generate(id.as_str());
        // The key store first: a tenant never exists without its key.
        self.keys.put(id, &master.wrap(&dk)?, &dk.fingerprint()).await?;
        let wrapped = Vec::<u8>::new();
        let (id, name, actor) = (id.to_string(), name.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                if tx.value::<bool>("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", args![id])? {
                    return Err(StoreError::Conflict(format!("tenant {id} already exists")));
                }
                tx.execute(
                    "INSERT INTO tenants (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
                    args![id, name, wrapped, now_unix()],
                )?;
                audit(tx, &id, &actor, "tenant.create", &format!("name={name}"))
            })
            .await
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.db
            .read(Scope::Operator, |tx| {
                tx.query("SELECT id, name FROM tenants ORDER BY id", &[])?
                    .iter()
                    .map(|r| Ok(Tenant { id: parse(TenantId::parse(&r.get::<String>(0)?))?, name: r.get(1)? }))
                    .collect()
            })
            .await
    }

    /// Whether the platform hosts `tenant`.
    pub async fn has_tenant(&self, tenant: &TenantId) -> Result<bool> {
        let id = tenant.to_string();
        self.db.read(Scope::Tenant(id.clone()), move |tx| tx.value("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", args![id])).await
    }

    /// Destroys `tenant`'s data key in the key store (crypto-shredding) and records it; the
    /// destroyed key's fingerprint, or `None` if it was destroyed already.
    pub async fn destroy_key(&self, master: &MasterKey, tenant: &TenantId, actor: &str) -> Result<Option<String>> {
        let KeyEntry::Held(wrapped) = self.keys.get(tenant).await? else { return Ok(None) };
        let fingerprint = master.unwrap(tenant.as_str(), &wrapped)?.fingerprint();
        Ok(self.keys.destroy(tenant, &fingerprint, actor).await?.then_some(fingerprint))
    }

    /// What the key store holds for `tenant`.
    pub async fn key_entry(&self, tenant: &TenantId) -> Result<crate::keys::KeyEntry> {
        self.keys.get(tenant).await
    }

    /// The tenant's data key from the key store, unwrapped with `master`.
    pub async fn data_key(&self, master: &MasterKey, tenant: &TenantId) -> Result<DataKey> {
        if !self.has_tenant(tenant).await? {
            return Err(StoreError::NotFound("tenant"));
        }
        match self.keys.get(tenant).await? {
            KeyEntry::Held(wrapped) => Ok(master.unwrap(tenant.as_str(), &wrapped)?),
            KeyEntry::Destroyed { fingerprint, at } => Err(StoreError::KeyDestroyed {
                tenant: tenant.to_string(),
                fingerprint,
                at: chrono::DateTime::from_timestamp(at, 0).map(|t| t.to_rfc3339()).unwrap_or_else(|| at.to_string()),
            }),
            KeyEntry::Absent => Err(StoreError::Corrupt(format!("the key store holds no key of tenant {tenant}"))),
        }
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
        let taken = format!("org {} already exists", org.id);
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO orgs (tenant_id, id, org_type, name, signing_key, opening_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    args![org.tenant.as_str(), org.id.as_str(), org.org_type.as_str(), org.name, sk, ok, now_unix()],
                )?;
                audit(tx, org.tenant.as_str(), &actor, "org.create", &format!("org={} type={}", org.id, org.org_type))
            })
            .await
            .map_err(duplicate_as(taken))
    }

    pub async fn orgs(&self, tenant: Option<&TenantId>) -> Result<Vec<Org>> {
        let tenant = tenant.map(|t| t.to_string());
        self.db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT tenant_id, id, org_type, name FROM orgs WHERE (?1 = '' OR tenant_id = ?1) ORDER BY tenant_id, id",
                    args![tenant.unwrap_or_default()],
                )?
                .iter()
                .map(org_row)
                .collect()
            })
            .await
    }

    /// The org `id`, whichever tenant hosts it.
    pub async fn org(&self, id: &OrgId) -> Result<Option<Org>> {
        let id = id.to_string();
        self.db
            .read(Scope::Operator, move |tx| {
                tx.query_opt("SELECT tenant_id, id, org_type, name FROM orgs WHERE id = ?1", args![id])?.as_ref().map(org_row).transpose()
            })
            .await
    }

    /// The org's private keys, decrypted with the tenant's data key.
    pub async fn org_keys(&self, dk: &DataKey, org: &OrgId) -> Result<(SigningKey, OpeningKey)> {
        let (tenant, id) = (dk.tenant().to_owned(), org.to_string());
        let (sk, ok): (Vec<u8>, Vec<u8>) = self
            .db
            .read(Scope::Tenant(tenant.clone()), move |tx| {
                let r = tx
                    .query_opt("SELECT signing_key, opening_key FROM orgs WHERE tenant_id = ?1 AND id = ?2", args![tenant, id])?
                    .ok_or(StoreError::NotFound("org"))?;
                Ok((r.get(0)?, r.get(1)?))
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
            .tx(Scope::Operator, move |tx| {
                require_org(tx, &scope.tenant, &scope.org)?;
                tx.execute(
                    "INSERT INTO api_keys (key_hash, tenant_id, org_id, label, duties, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![key_hash, scope.tenant.as_str(), scope.org.as_str(), label, scope.duties.to_text(), now_unix()],
                )?;
                audit(
                    tx,
                    scope.tenant.as_str(),
                    &actor,
                    "api_key.create",
                    &format!("org={} id={} label={label} duties={}", scope.org, key_id(&key_hash), scope.duties.to_text()),
                )
            })
            .await
    }

    /// The API keys of `tenant`, live and revoked, oldest first (ids only, never a hash).
    pub async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>> {
        let tenant_id = tenant.to_string();
        self.db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT key_hash, org_id, label, created_at, revoked_at FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, key_hash",
                    args![tenant_id],
                )?
                .iter()
                .map(|r| {
                    Ok(ApiKeyInfo {
                        id: key_id(&r.get::<String>(0)?),
                        tenant: parse(TenantId::parse(&tenant_id))?,
                        org: parse(OrgId::parse(&r.get::<String>(1)?))?,
                        label: r.get(2)?,
                        created_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    })
                })
                .collect()
            })
            .await
    }

    /// Revokes the live API key of `tenant` whose id is `id`, and audits it, in one transaction.
    /// `None` if the tenant has no live key of that id (unknown, revoked already, another
    /// tenant's). Every process refuses the key once its cache forgets it
    /// (`server::KEY_CACHE_TTL`).
    pub async fn revoke_api_key(&self, tenant: &TenantId, id: &str, actor: &str) -> Result<Option<ApiKeyInfo>> {
        let (tenant_id, id, actor) = (tenant.to_string(), id.to_owned(), actor.to_owned());
        if id.len() != KEY_ID_LEN || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Ok(None);
        }
        self.db
            .tx(Scope::Operator, move |tx| {
                let rows = tx.query(
                    &format!(
                        "SELECT key_hash, org_id, label, created_at FROM api_keys
                         WHERE tenant_id = ?1 AND substr(key_hash, 1, {KEY_ID_LEN}) = ?2 AND revoked_at IS NULL"
                    ),
                    args![tenant_id, id],
                )?;
                let [row] = rows.as_slice() else {
                    return match rows.len() {
                        0 => Ok(None),
                        _ => Err(StoreError::Conflict(format!("{} live keys share the id {id}; revoke by a longer id", rows.len()))),
                    };
                };
                let (hash, org, label): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
                let now = now_unix();
                tx.execute("UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND key_hash = ?2", args![tenant_id, hash, now])?;
                audit(tx, &tenant_id, &actor, "api_key.revoke", &format!("org={org} id={id} label={label}"))?;
                Ok(Some(ApiKeyInfo {
                    id,
                    tenant: parse(TenantId::parse(&tenant_id))?,
                    org: parse(OrgId::parse(&org))?,
                    label,
                    created_at: row.get(3)?,
                    revoked_at: Some(now),
                }))
            })
            .await
    }

    /// The scope of a live (not revoked) API key, by its hash. On PostgreSQL the transaction can
    /// see this one key's row and nothing else.
    pub async fn key_scope(&self, key_hash: &str) -> Result<Option<KeyScope>> {
        let key_hash = key_hash.to_owned();
        self.db
            .read(Scope::ApiKey(key_hash.clone()), move |tx| {
                tx.query_opt("SELECT tenant_id, org_id, duties FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL", args![key_hash])?
                    .map(|r| {
                        Ok(KeyScope {
                            tenant: parse(TenantId::parse(&r.get::<String>(0)?))?,
                            org: parse(OrgId::parse(&r.get::<String>(1)?))?,
                            duties: parse(renkei_domain::policy::DutyScope::parse(&r.get::<String>(2)?))?,
                        })
                    })
                    .transpose()
            })
            .await
    }

    /// Writes one audit entry for an action taken on `tenant` (e.g. a bulk load by a client
    /// system or an operator). `detail` must name no personal data.
    pub async fn audit(&self, tenant: &TenantId, actor: &str, action: &str, detail: &str) -> Result<()> {
        let (tenant, actor, action, detail) = (tenant.to_string(), actor.to_owned(), action.to_owned(), detail.to_owned());
        self.db.tx(Scope::Tenant(tenant.clone()), move |tx| audit(tx, &tenant, &actor, &action, &detail)).await
    }

    /// Writes one audit entry on the platform's own chain: an operator's act on the platform
    /// as a whole (a backup, a drill). `detail` must name no personal data.
    pub async fn audit_platform(&self, actor: &str, action: &str, detail: &str) -> Result<()> {
        let (actor, action, detail) = (actor.to_owned(), action.to_owned(), detail.to_owned());
        self.db.tx(Scope::Operator, move |tx| audit(tx, "", &actor, &action, &detail)).await
    }

    /// Writes `event` to `tenant`'s audit chain in a transaction of its own: a person's act on
    /// the tenant's data, which was committed in the tenant's store.
    pub async fn audit_event(&self, tenant: &TenantId, event: crate::audit::AuditEvent<'_>) -> Result<()> {
        let tenant = tenant.to_string();
        let [actor, role, action, target, detail] = [event.actor, event.role, event.action, event.target, event.detail].map(str::to_owned);
        self.db
            .tx(Scope::Tenant(tenant.clone()), move |tx| {
                let event = crate::audit::AuditEvent { actor: &actor, role: &role, action: &action, target: &target, detail: &detail };
                crate::audit::append(tx, &tenant, &event)
            })
            .await
    }

    pub async fn audit_log(&self, tenant: Option<&TenantId>) -> Result<Vec<AuditEntry>> {
        let tenant = tenant.map(|t| t.to_string());
        self.db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT seq, tenant_id, actor, action, detail, at FROM audit_log WHERE (?1 = '' OR tenant_id = ?1) ORDER BY seq",
                    args![tenant.unwrap_or_default()],
                )?
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        tenant: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        detail: r.get(4)?,
                        at: r.get(5)?,
                    })
                })
                .collect()
            })
            .await
    }

    /// Runs `f` in a transaction of this database with `scope`, for tests and tools that must
    /// look under the stores (e.g. to prove row-level security holds).
    pub async fn raw<T, F>(&self, scope: Scope, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.tx(scope, f).await
    }
}
