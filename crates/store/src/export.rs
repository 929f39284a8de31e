//! The platform database's part of a tenant's export (`domain::export`): the tenant and its
//! orgs (without their keys), its staff (without password hashes or second-factor secrets), its
//! session limit, and its audit chain with the chain's checkpoints. Read in one transaction that
//! sees the tenant's rows only.

use crate::db::{Row, Scope, Value};
use crate::platform::PlatformStore;
use crate::tenant::ExportedRows;
use crate::{Result, StoreError, args};
use renkei_domain::TenantId;
use renkei_domain::export;

/// A value as a cell: decimal, text as it is, nothing for NULL.
fn cell(v: &Value) -> Result<String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Text(s) => Ok(s.clone()),
        Value::Blob(_) => Err(StoreError::Corrupt("bytes where text was expected".into())),
    }
}

/// Every column of each row as cells.
fn rows(rows: &[Row]) -> Result<Vec<Vec<String>>> {
    rows.iter().map(|r| r.0.iter().map(cell).collect()).collect()
}

impl PlatformStore {
    /// The platform's tables of `tenant`, as the rows of their export files.
    pub async fn export_tenant(&self, tenant: &TenantId) -> Result<Vec<ExportedRows>> {
        let t = tenant.to_string();
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
                    "SELECT size, note, at FROM audit_checkpoints WHERE chain = ?1 ORDER BY size",
                ];
                statements.iter().map(|sql| tx.query(sql, args![t])).collect::<Result<Vec<_>>>()
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
