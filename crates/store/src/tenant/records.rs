//! Linkage records (情報提供等記録): one per (org, role, request id), numbered without gaps.

use super::*;

/// Which side of a linkage a record was written by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Requester,
    Provider,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Provider => "provider",
        }
    }
}

/// 情報提供等記録 — who asked whom for what, when, why, with what outcome. Never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageRecord {
    pub seq: i64,
    pub org: String,
    pub role: String,
    pub request_id: String,
    pub counterpart_org: String,
    pub duty: String,
    pub items: Vec<String>,
    pub outcome: String,
    pub at: i64,
}

/// The fields of one linkage record, as written by either side.
pub(super) struct NewRecord<'a> {
    pub(super) tenant: &'a str,
    pub(super) org: &'a str,
    pub(super) role: Role,
    pub(super) request_id: &'a str,
    pub(super) counterpart: &'a str,
    pub(super) duty: &'a str,
    pub(super) items_json: &'a str,
    pub(super) outcome: &'a str,
}

pub(super) fn insert_record(tx: &mut dyn Tx, r: NewRecord<'_>) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        // Several processes write records of one tenant: take turns so seq stays gapless.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('renkei-records:' || ?1))", args![r.tenant])?;
    }
    let seq: i64 = tx.value("SELECT COALESCE(MAX(seq), 0) + 1 FROM linkage_records WHERE tenant_id = ?1", args![r.tenant])?;
    // A second attempt to record the same (org, role, request) is a retry: nothing happens.
    tx.execute(
        "INSERT INTO linkage_records (tenant_id, org_id, seq, role, request_id, counterpart_org, duty, items, outcome, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (tenant_id, org_id, role, request_id) DO NOTHING",
        args![r.tenant, r.org, seq, r.role.code(), r.request_id, r.counterpart, r.duty, r.items_json, r.outcome, now_unix()],
    )?;
    Ok(())
}

impl TenantStore {
    /// The linkage records of `org`, oldest first.
    /// `org`'s linkage records in the order they were written, `limit` after the record
    /// numbered `after` (a page; see `renkei_domain::page`).
    pub async fn records(&self, org: &OrgId, after: Option<i64>, limit: usize) -> Result<Vec<LinkageRecord>> {
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        self.read(move |tx| {
            tx.query(
                "SELECT seq, org_id, role, request_id, counterpart_org, duty, items, outcome, at FROM linkage_records
                 WHERE tenant_id = ?1 AND org_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
                args![tenant, org, after.unwrap_or(0), limit as i64],
            )?
            .iter()
            .map(|r| {
                Ok(LinkageRecord {
                    seq: r.get(0)?,
                    org: r.get(1)?,
                    role: r.get(2)?,
                    request_id: r.get(3)?,
                    counterpart_org: r.get(4)?,
                    duty: r.get(5)?,
                    items: serde_json::from_str(&r.get::<String>(6)?)?,
                    outcome: r.get(7)?,
                    at: r.get(8)?,
                })
            })
            .collect()
        })
        .await
    }
}
