//! E-approval (電子決裁): the org's duties whose queries wait for an approver, and the
//! approvers' decisions. The rules (who may decide, what a reason and a window must be) are
//! `domain::approval`'s; a query's filing reads its policy in the filing's own transaction
//! (`queries.rs`).

use super::queries::transition;
use super::*;
use renkei_domain::approval::Decision;

/// One org's duty whose queries wait for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    pub org: OrgId,
    pub duty: DutyCode,
    /// How long a query waits for a decision before it ends by itself.
    pub window_minutes: u32,
}

/// What deciding a query did ([`TenantStore::decide`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Approved: 承認待ち → 送信待ち, with a new deadline (ms since the epoch).
    Approved { deadline_at: i64 },
    /// Rejected: 承認待ち → エラー, the reason kept, the requester's linkage record written.
    Rejected,
    /// The query is not waiting for approval (decided already, or it expired).
    NotPending,
}

/// The approval window of `org`'s `duty`, in minutes, if its queries need approval.
pub(super) fn approval_window_minutes(tx: &mut dyn Tx, tenant: &str, org: &str, duty: &str) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT window_minutes FROM approval_policies WHERE tenant_id = ?1 AND org_id = ?2 AND duty = ?3",
        args![tenant, org, duty],
    )?
    .map(|r| r.get(0))
    .transpose()
}

impl TenantStore {
    /// Every approval policy of the tenant's orgs, by org and duty.
    pub async fn approval_policies(&self) -> Result<Vec<ApprovalPolicy>> {
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            tx.query(
                "SELECT org_id, duty, window_minutes FROM approval_policies WHERE tenant_id = ?1 ORDER BY org_id, duty",
                args![tenant],
            )?
            .iter()
            .map(|r| {
                Ok(ApprovalPolicy {
                    org: OrgId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
                    duty: DutyCode::parse(&r.get::<String>(1)?).map_err(corrupt)?,
                    window_minutes: u32::try_from(r.get::<i64>(2)?).map_err(corrupt)?,
                })
            })
            .collect()
        })
        .await
    }

    /// Makes `p.org`'s queries for `p.duty` wait for approval from now on (queries filed
    /// before are not touched), or changes the window.
    pub async fn set_approval_policy(&self, p: &ApprovalPolicy) -> Result<()> {
        let (tenant, org, duty, minutes) = (self.tenant.to_string(), p.org.to_string(), p.duty.to_string(), i64::from(p.window_minutes));
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO approval_policies (tenant_id, org_id, duty, window_minutes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, org_id, duty) DO UPDATE SET window_minutes = ?4, updated_at = ?5",
                args![tenant, org, duty, minutes, now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// Files `org`'s queries for `duty` without approval from now on (queries waiting stay
    /// waiting); false if they needed none.
    pub async fn remove_approval_policy(&self, org: &OrgId, duty: &DutyCode) -> Result<bool> {
        let (tenant, org, duty) = (self.tenant.to_string(), org.to_string(), duty.to_string());
        self.tx(move |tx| {
            Ok(tx.execute("DELETE FROM approval_policies WHERE tenant_id = ?1 AND org_id = ?2 AND duty = ?3", args![tenant, org, duty])?
                > 0)
        })
        .await
    }

    /// Decides `org`'s query `id`, waiting in 承認待ち, as `decider`. The caller has checked the
    /// decision and that the decider is not the filer (`domain::approval`). An approved query
    /// gets `deadline_ms` from now to be answered; a rejected one ends with the reason.
    pub async fn decide(&self, org: &OrgId, id: &str, decider: &str, decision: &Decision, deadline_ms: i64) -> Result<Decided> {
        let (tenant, org, id, decider, decision) =
            (self.tenant.to_string(), org.to_string(), id.to_owned(), decider.to_owned(), decision.clone());
        self.tx(move |tx| {
            let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
            let state = tx
                .query_opt(
                    &format!("SELECT state FROM queries WHERE tenant_id = ?1 AND org_id = ?2 AND id = ?3{lock}"),
                    args![tenant, org, id],
                )?
                .ok_or(StoreError::NotFound("query"))?
                .get::<String>(0)?;
            if state != QueryState::PendingApproval.code() {
                return Ok(Decided::NotPending);
            }
            let now = now_millis();
            tx.execute("UPDATE queries SET decided_by = ?3 WHERE tenant_id = ?1 AND id = ?2", args![tenant, id, decider])?;
            match decision {
                Decision::Approve => {
                    transition(tx, &tenant, &id, QueryState::Queued, None, None)?;
                    let deadline_at = now + deadline_ms;
                    tx.execute(
                        "UPDATE queries SET next_attempt_at = ?3, deadline_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
                        args![tenant, id, now, deadline_at],
                    )?;
                    Ok(Decided::Approved { deadline_at })
                }
                Decision::Reject { reason } => {
                    transition(
                        tx,
                        &tenant,
                        &id,
                        QueryState::Failed,
                        Some(format!("rejected by the approver (否認): {}", reason.trim())),
                        None,
                    )?;
                    Ok(Decided::Rejected)
                }
            }
        })
        .await
    }
}
