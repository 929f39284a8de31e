//! The platform database's part of a tenant's export (`domain::export`): the tenant and its
//! orgs (without their keys), its staff (without password hashes or second-factor secrets), its
//! session limit, and its audit chain with the chain's checkpoints. Read in one transaction that
//! sees the tenant's rows only; written back, on another platform, in one transaction that
//! makes the tenant exist.

use crate::db::{Location, Row, Scope, Value};
use crate::platform::PlatformStore;
use crate::tenant::export::{cell, rows_of};
use crate::tenant::import::{Statement, bad, int, opt_text, taken};
use crate::tenant::{ExportedRows, TenantStore};
use crate::{Result, StoreError, args};
use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::SigningKey;
use renkei_domain::TenantId;
use renkei_domain::export::{self, Table};

/// A password hash no password matches: an export holds no password hash, so imported staff
/// cannot sign in until they are given a password, and then enrol their second factor again.
const NO_PASSWORD: &str = "!imported";

/// Every column of each row as cells.
fn rows(rows: &[Row]) -> Result<Vec<Vec<String>>> {
    rows.iter().map(|r| r.0.iter().map(cell).collect()).collect()
}

impl PlatformStore {
    /// The platform's tables of `tenant`, as the rows of their export files. `own_key` is this
    /// platform's audit key, which signed the checkpoints that name no other.
    pub async fn export_tenant(&self, tenant: &TenantId, own_key: &str) -> Result<Vec<ExportedRows>> {
        let (t, own_key) = (tenant.to_string(), own_key.to_owned());
        let read = self
            .db
            .read(Scope::Tenant(t.clone()), move |tx| {
                let statements = [
                    "SELECT id, name, created_at FROM tenants WHERE id = ?1",
                    "SELECT id, org_type, name, created_at FROM orgs WHERE tenant_id = ?1 ORDER BY id",
                    "SELECT name, org_id, role, duties, created_at, disabled_at FROM accounts WHERE tenant_id = ?1 ORDER BY name",
                    "SELECT normal_limit, raised_limit, raised_until, updated_at FROM session_limits WHERE tenant_id = ?1",
                    "SELECT chain_seq, actor, role, action, target, detail, at, hash FROM audit_log WHERE tenant_id = ?1
                        ORDER BY chain_seq",
                ];
                let mut read = statements.iter().map(|sql| tx.query(sql, args![t])).collect::<Result<Vec<_>>>()?;
                read.push(tx.query(
                    "SELECT size, note, at, COALESCE(verifier_key, ?2) FROM audit_checkpoints WHERE chain = ?1 ORDER BY size",
                    args![t, own_key],
                )?);
                Ok(read)
            })
            .await?;
        let [tenant_row, orgs, staff, limits, audit, checkpoints] =
            <[Vec<Row>; 6]>::try_from(read).map_err(|_| StoreError::Corrupt("a platform table was not read".into()))?;
        if tenant_row.is_empty() {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(vec![
            ExportedRows { table: &export::TENANT, rows: rows(&tenant_row)? },
            ExportedRows { table: &export::ORGS, rows: rows(&orgs)? },
            ExportedRows { table: &export::STAFF, rows: rows(&staff)? },
            ExportedRows { table: &export::SESSION_LIMITS, rows: rows(&limits)? },
            ExportedRows { table: &export::AUDIT_LOG, rows: rows(&audit)? },
            ExportedRows { table: &export::AUDIT_CHECKPOINTS, rows: rows(&checkpoints)? },
        ])
    }
}

impl PlatformStore {
    /// Makes a tenant exist on this platform from its export (`tables`): its store's rows under
    /// `store`'s new data key, which goes (wrapped by `master`) into the key store first, and
    /// the platform's rows: the tenant, its orgs with new keys, its staff with no usable password, its session limit,
    /// its audit chain as it was and the chain's checkpoints with the key each is verified
    /// with. On PostgreSQL all in one transaction; on SQLite the tenant's file first, then the
    /// platform's, whose transaction makes the tenant exist. Audited on the platform's own
    /// chain, so the tenant's chain stays as exported. Refused if the tenant, an org or an
    /// account name is here already.
    pub async fn import_tenant(&self, store: &TenantStore, master: &MasterKey, tables: &[ExportedRows], actor: &str) -> Result<()> {
        let platform_rows = self.import_statements(store.data_key(), tables)?;
        let tenant_rows = store.import_statements(tables)?;
        let tenant = store.tenant().to_string();
        if self.has_tenant(store.tenant()).await? {
            return Err(StoreError::Conflict(format!("tenant {tenant} is hosted on this platform already")));
        }
        // The key store first: the tenant never exists without its key.
        let dk = store.data_key();
        self.keys.put(store.tenant(), &master.wrap(dk)?, &dk.fingerprint()).await?;
        match self.location() {
            Location::Postgres { .. } => store.write_import(platform_rows, tenant_rows).await?,
            Location::Dir(_) => {
                store.write_import(Vec::new(), tenant_rows).await?;
                let t = tenant.clone();
                self.db
                    .tx(Scope::Operator, move |tx| {
                        if tx.value::<bool>("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", args![t])? {
                            return Err(StoreError::Conflict(format!("tenant {t} is hosted on this platform already")));
                        }
                        for (sql, args) in &platform_rows {
                            tx.execute(sql, args).map_err(taken(&t))?;
                        }
                        Ok(())
                    })
                    .await?;
            }
        }
        let count = |t: &'static Table| rows_of(tables, t).len();
        let detail = format!(
            "tenant={tenant} orgs={} staff={} audit_entries={}",
            count(&export::ORGS),
            count(&export::STAFF),
            count(&export::AUDIT_LOG)
        );
        let actor = actor.to_owned();
        self.db
            .tx(Scope::Operator, move |tx| {
                crate::audit::append(
                    tx,
                    "",
                    &crate::audit::AuditEvent { actor: &actor, role: "", action: "tenant.import", target: "", detail: &detail },
                )
            })
            .await
    }

    /// The statements that write the platform's part of an export.
    fn import_statements(&self, dk: &DataKey, tables: &[ExportedRows]) -> Result<Vec<Statement>> {
        let rows_of = |t: &'static Table| rows_of(tables, t);
        let text = |c: &str| Value::Text(c.to_owned());
        let tenant = dk.tenant().to_owned();
        let mut statements: Vec<Statement> = Vec::new();

        let t = &export::TENANT;
        let [row] = rows_of(t) else { return Err(bad(t, 0, "one row, the tenant's, was expected")) };
        if row[0] != tenant {
            return Err(bad(t, 0, "the tenant is not the manifest's"));
        }
        statements.push((
            "INSERT INTO tenants (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)",
            vec![text(&tenant), text(&row[1]), Value::Blob(Vec::new()), int(t, 0, &row[2], false)?],
        ));
        let t = &export::ORGS;
        for (i, r) in rows_of(t).iter().enumerate() {
            let (signing, opening) = (SigningKey::generate(), OpeningKey::generate());
            statements.push((
                "INSERT INTO orgs (tenant_id, id, org_type, name, signing_key, opening_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    text(&tenant),
                    text(&r[0]),
                    text(&r[1]),
                    text(&r[2]),
                    Value::Blob(dk.encrypt("orgs.signing_key", &r[0], &signing.to_secret_bytes())?),
                    Value::Blob(dk.encrypt("orgs.opening_key", &r[0], &opening.to_secret_bytes())?),
                    int(t, i, &r[3], false)?,
                ],
            ));
        }
        let t = &export::STAFF;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO accounts (id, name, tenant_id, org_id, role, duties, password_hash, created_at, disabled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                vec![
                    text(&uuid::Uuid::now_v7().to_string()),
                    text(&r[0]),
                    text(&tenant),
                    opt_text(&r[1]),
                    text(&r[2]),
                    text(&r[3]),
                    text(NO_PASSWORD),
                    int(t, i, &r[4], false)?,
                    int(t, i, &r[5], true)?,
                ],
            ));
        }
        let t = &export::SESSION_LIMITS;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO session_limits (tenant_id, normal_limit, raised_limit, raised_until, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![text(&tenant), int(t, i, &r[0], false)?, int(t, i, &r[1], true)?, int(t, i, &r[2], true)?, int(t, i, &r[3], false)?],
            ));
        }
        let t = &export::AUDIT_LOG;
        let mut head = None;
        for (i, r) in rows_of(t).iter().enumerate() {
            let seq = int(t, i, &r[0], true)?;
            if let Value::Int(n) = seq {
                head = Some((n, r[7].clone()));
            }
            statements.push((
                "INSERT INTO audit_log (tenant_id, chain_seq, actor, role, action, target, detail, at, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                vec![
                    text(&tenant),
                    seq,
                    text(&r[1]),
                    text(&r[2]),
                    text(&r[3]),
                    text(&r[4]),
                    text(&r[5]),
                    int(t, i, &r[6], false)?,
                    opt_text(&r[7]),
                ],
            ));
        }
        if let Some((size, hash)) = head {
            statements.push((
                "INSERT INTO audit_heads (chain, size, head) VALUES (?1, ?2, ?3)",
                vec![text(&tenant), Value::Int(size), text(&hash)],
            ));
        }
        let t = &export::AUDIT_CHECKPOINTS;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO audit_checkpoints (chain, size, note, at, verifier_key) VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![text(&tenant), int(t, i, &r[0], false)?, text(&r[1]), int(t, i, &r[2], false)?, text(&r[3])],
            ));
        }
        Ok(statements)
    }
}
