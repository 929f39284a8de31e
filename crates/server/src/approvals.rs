//! E-approval (電子決裁) as the platform runs it: a tenant admin sets which duties of which of
//! the tenant's orgs need approval, and an approver of the org approves (the query goes to the
//! outbox with a fresh deadline) or rejects with a reason. The rules are `domain::approval`'s,
//! the storage `store::tenant::approvals`; each act is an entry of the tenant's audit log.

use crate::Platform;
use crate::caller::Act;
use renkei_domain::approval::{self, ApprovalRule, Decision};
use renkei_domain::{DutyCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::tenant::{ApprovalPolicy, Decided, QueryView};

fn rule_problem(e: ApprovalRule) -> Problem {
    let kind = match e {
        ApprovalRule::OwnQuery => ProblemKind::OwnQuery,
        ApprovalRule::Reason | ApprovalRule::Window => ProblemKind::InvalidBody,
    };
    Problem::detailed(kind, e.to_string())
}

impl Platform {
    /// `org`, if it is one of `act`'s tenant's orgs whose type files for `duty` under 別表第二;
    /// another tenant's org is not found.
    async fn org_filing_for(&self, act: &Act<'_>, org: &OrgId, duty: &DutyCode) -> Result<(), Problem> {
        let o = self.org(org).await?.filter(|o| &o.tenant == act.tenant).ok_or_else(Problem::not_found)?;
        if !self.matrix.files_for(&o.org_type, duty) {
            return Err(Problem::detailed(
                ProblemKind::InvalidBody,
                format!("別表第二 gives an org of type {} no duty {duty}", o.org_type),
            ));
        }
        Ok(())
    }

    /// Makes `org`'s queries for `duty` wait for approval, at most `window_minutes`.
    pub async fn set_approval_policy(&self, act: &Act<'_>, org: OrgId, duty: DutyCode, window_minutes: u32) -> Result<(), Problem> {
        approval::check_window(window_minutes).map_err(rule_problem)?;
        self.org_filing_for(act, &org, &duty).await?;
        let target = format!("approval_policy:{org}/{duty}");
        act.store(self).await?.set_approval_policy(&ApprovalPolicy { org, duty, window_minutes }).await?;
        act.audit(self, "approval_policy.set", &target, &format!("window {window_minutes} min")).await
    }

    /// Files `org`'s queries for `duty` without approval from now on; not found if they
    /// needed none.
    pub async fn remove_approval_policy(&self, act: &Act<'_>, org: &OrgId, duty: &DutyCode) -> Result<(), Problem> {
        self.org(org).await?.filter(|o| &o.tenant == act.tenant).ok_or_else(Problem::not_found)?;
        if !act.store(self).await?.remove_approval_policy(org, duty).await? {
            return Err(Problem::not_found());
        }
        act.audit(self, "approval_policy.remove", &format!("approval_policy:{org}/{duty}"), "").await
    }

    /// Decides query `id` of the approver's org. Another org's query is not found; the
    /// approver's own, or one not waiting, is refused and left as it was.
    pub async fn decide_query(&self, act: &Act<'_>, id: &str, decision: Decision) -> Result<QueryView, Problem> {
        approval::check_decision(&decision).map_err(rule_problem)?;
        let org = act.org()?;
        let store = act.store(self).await?;
        let query = store.query(org, id).await?.ok_or_else(Problem::not_found)?;
        approval::check_decider(&query.filed_by, act.actor).map_err(rule_problem)?;
        let deadline_ms = self.query_deadline.as_millis() as i64;
        let action = match store.decide(org, id, act.actor, &decision, deadline_ms).await? {
            Decided::NotPending => {
                return Err(Problem::detailed(
                    ProblemKind::Conflict,
                    "the query is not waiting for approval (decided already, or expired)",
                ));
            }
            Decided::Approved { deadline_at } => {
                self.filed(act.tenant, deadline_at);
                "query.approve"
            }
            // The reason may name the person: it stays with the query, not in the log.
            Decided::Rejected => "query.reject",
        };
        act.audit(self, action, &format!("query:{id}"), "").await?;
        store.query(org, id).await?.ok_or_else(Problem::not_found)
    }
}
