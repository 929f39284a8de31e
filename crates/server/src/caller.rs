//! Who calls a route of a tenant's personal data: a client system (既存システム) by its API
//! key, or a signed-in person (staff, approver, auditor …) by their session. Both become one
//! [`Caller`]; a handler asks [`Caller::act`] for its route's act (`server::routes::ROUTES`)
//! before anything else, and reaches the tenant, org and duties only through the [`Act`] it gets
//! back, so nothing is read for a caller the policy refuses.

use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use renkei_domain::policy::{self, Action, DutyScope, Principal};
use renkei_domain::{OrgId, TenantId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::tenant::{QueryFilter, QueryView, TenantStore};
use std::sync::Arc;

/// A client system or a person, authenticated; what they may do is not yet asked.
pub struct Caller {
    who: Principal,
    tenant: Option<TenantId>,
    org: Option<OrgId>,
    duties: DutyScope,
    actor: String,
    person: Option<SignedInPerson>,
}

/// A caller allowed one act: where it acts and as whom.
pub struct Act<'a> {
    pub tenant: &'a TenantId,
    /// The org a client system's key or a staff member's account belongs to; `None` for an
    /// auditor, who reads across the tenant's orgs.
    org: Option<&'a OrgId>,
    /// The duties (事務) the caller files and reads queries for.
    pub duties: &'a DutyScope,
    /// Names the caller in the audit log and on what it files: an account's name, or
    /// `api-key:<key id>`.
    pub actor: &'a str,
    /// The caller's role code (`domain::Role::code`), or `client_system`.
    pub role: &'static str,
    /// Whether the caller is a person (whose privileged acts each get an audit entry; a client
    /// system's acts are in the linkage records and the queries themselves).
    pub is_person: bool,
}

impl FromRequestParts<Arc<Platform>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Platform>) -> Result<Self, Problem> {
        let token = crate::bearer(parts).ok_or_else(Problem::unauthorized)?;
        if token.starts_with(renkei_crypto::session::PREFIX) {
            return Ok(Caller::person(SignedInPerson::from_request_parts(parts, p).await?));
        }
        let hash = renkei_crypto::apikey::hash(token);
        let scope = p.key_scope(&hash).await?.ok_or_else(Problem::unauthorized)?;
        Ok(Caller {
            who: Principal::ClientSystem,
            tenant: Some(scope.tenant),
            org: Some(scope.org),
            duties: scope.duties,
            actor: format!("api-key:{}", renkei_store::platform::key_id(&hash)),
            person: None,
        })
    }
}

impl Caller {
    /// A signed-in person as a caller (the pages' session, found by its cookie).
    pub fn person(person: SignedInPerson) -> Self {
        let a = &person.session.account;
        Caller {
            who: Principal::Person(a.role),
            tenant: a.tenant.clone(),
            org: a.org.clone(),
            duties: a.duties.clone(),
            actor: a.name.to_string(),
            person: Some(person),
        }
    }

    /// The caller, allowed `action` by `domain::policy` (and, for a person, by their session),
    /// or the refusal.
    pub fn act(&self, action: Action) -> Result<Act<'_>, Problem> {
        match &self.person {
            Some(person) => person.permit(action)?,
            None if policy::allows(self.who, action) => {}
            None => return Err(Problem::detailed(ProblemKind::RoleDenied, "a client system may not do this")),
        }
        let tenant = self.tenant.as_ref().ok_or_else(|| Problem::detailed(ProblemKind::RoleDenied, "no tenant"))?;
        let role = match self.who {
            Principal::Person(role) => role.code(),
            Principal::ClientSystem => "client_system",
        };
        Ok(Act { tenant, org: self.org.as_ref(), duties: &self.duties, actor: &self.actor, role, is_person: self.person.is_some() })
    }
}

impl Act<'_> {
    /// The org this act is taken for: a client system's or a staff member's own. A person
    /// without an org (an auditor) takes no act of one org.
    pub fn org(&self) -> Result<&OrgId, Problem> {
        self.org.ok_or_else(|| Problem::detailed(ProblemKind::RoleDenied, "this is an act of an org's people; this account has no org"))
    }

    /// The org to read, or `None` for every org of the tenant (an auditor's reading).
    pub fn org_or_all(&self) -> Option<&OrgId> {
        self.org
    }

    /// The org an act names (`named`) or, if it names none, the caller's own: a person of an
    /// org acts in theirs only (another is not found); one without an org (a tenant admin) must
    /// name one of the tenant's.
    pub async fn org_in_tenant(&self, p: &Platform, named: Option<OrgId>) -> Result<OrgId, Problem> {
        match (self.org, named) {
            (Some(own), None) => Ok(own.clone()),
            (Some(own), Some(named)) if &named == own => Ok(named),
            (Some(_), Some(_)) => Err(Problem::not_found()),
            (None, Some(named)) => {
                p.org(&named).await?.filter(|o| &o.tenant == self.tenant).ok_or_else(Problem::not_found)?;
                Ok(named)
            }
            (None, None) => Err(Problem::detailed(ProblemKind::InvalidBody, "org: name one of the tenant's orgs")),
        }
    }

    pub async fn store(&self, p: &Platform) -> Result<TenantStore, Problem> {
        p.tenant_store(self.tenant).await?.ok_or_else(|| gone("tenant"))
    }

    pub async fn org_context(&self, p: &Platform) -> Result<Arc<crate::OrgContext>, Problem> {
        p.org(self.org()?).await?.ok_or_else(|| gone("org"))
    }

    /// The queries this caller may read: their org's, of the duties they are assigned.
    pub fn query_filter(&self) -> QueryFilter {
        QueryFilter {
            only_duties: match self.duties {
                DutyScope::All => None,
                DutyScope::Only(duties) => Some(duties.iter().cloned().collect()),
            },
            ..QueryFilter::default()
        }
    }

    /// Query `id` of the caller's org, if it is one of their duties; another org's or duty's
    /// answers as none (404), so its existence does not leak.
    pub async fn query(&self, p: &Platform, id: &str) -> Result<QueryView, Problem> {
        let view = self.store(p).await?.query(self.org()?, id).await?.ok_or_else(Problem::not_found)?;
        if self.duties.allows(&view.duty) { Ok(view) } else { Err(Problem::not_found()) }
    }

    /// Query `id` as [`Act::query`] reads it, with the states it has been in, oldest first.
    pub async fn query_with_history(&self, p: &Platform, id: &str) -> Result<(QueryView, Vec<renkei_store::tenant::StateChange>), Problem> {
        let view = self.query(p, id).await?;
        let history = self.store(p).await?.query_history(self.org()?, id).await?;
        Ok((view, history))
    }
}

/// A live key or account whose tenant or org is not in the platform database: the database
/// lost a row it promised to keep (its foreign keys forbid it), a bug, not the caller's fault.
pub(crate) fn gone(what: &str) -> Problem {
    tracing::error!(what, "a caller names a tenant or org the platform database does not have");
    Problem::internal()
}

impl Act<'_> {
    /// Writes a person's act to the tenant's audit log (`action` e.g. `query.file`, `target`
    /// e.g. `query:<id>`; neither names a personal value). A client system's acts are recorded
    /// by the queries and linkage records themselves. The act is committed already: if its entry
    /// cannot be written, the answer says so (`not-audited`) rather than that nothing happened.
    pub async fn audit(&self, p: &Platform, action: &str, target: &str, detail: &str) -> Result<(), Problem> {
        if !self.is_person {
            return Ok(());
        }
        self.audit_always(p, action, target, detail).await
    }

    /// Writes the act to the tenant's audit log whoever takes it (a client system too): for
    /// acts rare and weighty enough, such as marking an item withheld.
    pub async fn audit_always(&self, p: &Platform, action: &str, target: &str, detail: &str) -> Result<(), Problem> {
        let event = renkei_store::audit::AuditEvent { actor: self.actor, role: self.role, action, target, detail };
        p.platform.audit_event(self.tenant, event).await.map_err(|e| {
            tracing::error!(error = %e, action, "a person's act was taken but not audited");
            Problem::new(ProblemKind::NotAudited).with_detail(format!("{action} was done, but its audit entry could not be written"))
        })
    }
}
