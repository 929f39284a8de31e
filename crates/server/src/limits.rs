//! 同時接続利用者数 (表2-13) as the platform runs it: the operator sets a tenant's contracted
//! limit of people signed in at once and raises it for a while; the tenant's admin reads it.
//! The rules are `domain::account`'s; the check at sign-in is the store's
//! (`PlatformStore::accept_sign_in`). Every change lands in the tenant's audit log.

use crate::Platform;
use crate::sessions::SignedInPerson;
use renkei_domain::account::{self, LimitRule};
use renkei_domain::policy::Action;
use renkei_domain::{Role, TenantId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::now_unix;
use renkei_store::session_limits::LimitStatus;

/// A tenant as its status pages show it.
pub struct TenantStatus {
    pub tenant: renkei_store::platform::Tenant,
    pub orgs: Vec<renkei_store::platform::Org>,
    pub sessions: LimitStatus,
    /// What the SLA monitor sees of it (稼働状況).
    pub service: crate::status::ServiceState,
}

fn rule_problem(e: LimitRule) -> Problem {
    Problem::detailed(ProblemKind::InvalidBody, e.to_string())
}

impl Platform {
    /// `tenant`, once `person` may take `action` on it: the operator on any tenant there is, a
    /// consortium admin on its consortium's, a tenant's own people on theirs; anything else is
    /// not found. (Also the binary's report page's check.)
    pub async fn tenant_for_act(&self, person: &SignedInPerson, action: Action, tenant: &str) -> Result<TenantId, Problem> {
        person.permit(action)?;
        let tenant = TenantId::parse(tenant).map_err(|_| Problem::not_found())?;
        let reachable = match person.role() {
            Role::Operator => self.tenant_store(&tenant).await?.is_some(),
            Role::ConsortiumAdmin => self.consortium_tenants(person).await?.contains(&tenant),
            _ => person.session.account.tenant.as_ref() == Some(&tenant),
        };
        if reachable { Ok(tenant) } else { Err(Problem::not_found()) }
    }

    /// The consortia `person` may see: every one for the operator, their own for a consortium
    /// admin, none for anyone else.
    pub async fn consortia_for(&self, person: &SignedInPerson) -> Result<Vec<renkei_store::consortia::Consortium>, Problem> {
        person.permit(Action::ReadTenantStatus)?;
        let all = self.platform.consortia().await?;
        Ok(match person.role() {
            Role::Operator => all,
            Role::ConsortiumAdmin => all.into_iter().filter(|c| Some(&c.id) == person.session.account.consortium.as_ref()).collect(),
            _ => Vec::new(),
        })
    }

    /// The tenants a consortium admin oversees (none for anyone else).
    async fn consortium_tenants(&self, person: &SignedInPerson) -> Result<Vec<TenantId>, Problem> {
        let Some(id) = &person.session.account.consortium else { return Ok(Vec::new()) };
        Ok(self.platform.consortium(id).await?.map(|c| c.tenants).unwrap_or_default())
    }

    pub async fn session_limit(&self, person: &SignedInPerson, tenant: &str) -> Result<(TenantId, LimitStatus), Problem> {
        let tenant = self.tenant_for_act(person, Action::ReadTenantStatus, tenant).await?;
        let status = self.platform.session_limit(&tenant, now_unix()).await?;
        Ok((tenant, status))
    }

    /// Every tenant `person` may read the status of (the operator: all; a consortium admin: the
    /// consortium's; a tenant's people: their own), with its orgs and its sessions against its limit. Nothing of any resident.
    pub async fn tenant_statuses(&self, person: &SignedInPerson) -> Result<Vec<TenantStatus>, Problem> {
        person.permit(Action::ReadTenantStatus)?;
        let tenants = self.platform.tenants().await?;
        let overseen = self.consortium_tenants(person).await?;
        let mut out = Vec::new();
        for t in tenants {
            let reachable = match person.role() {
                Role::Operator => true,
                Role::ConsortiumAdmin => overseen.contains(&t.id),
                _ => person.session.account.tenant.as_ref() == Some(&t.id),
            };
            if !reachable {
                continue;
            }
            let orgs = self.platform.orgs(Some(&t.id)).await?;
            let sessions = self.platform.session_limit(&t.id, now_unix()).await?;
            let service = self.service_state(t.id.as_str(), now_unix()).await?;
            out.push(TenantStatus { tenant: t, orgs, sessions, service });
        }
        Ok(out)
    }

    pub async fn set_session_limit(&self, person: &SignedInPerson, tenant: &str, normal: u32) -> Result<(), Problem> {
        let tenant = self.tenant_for_act(person, Action::SetSessionLimit, tenant).await?;
        account::check_session_limit(normal).map_err(rule_problem)?;
        let a = &person.session.account;
        Ok(self.platform.set_session_limit(&tenant, normal, (a.name.as_str(), a.role.code()), now_unix()).await?)
    }

    /// Raises the limit to `limit` until `until` (Unix seconds); a tenant without a normal
    /// limit has nothing to raise (not found).
    pub async fn raise_session_limit(&self, person: &SignedInPerson, tenant: &str, limit: u32, until: i64) -> Result<(), Problem> {
        let tenant = self.tenant_for_act(person, Action::RaiseSessionLimit, tenant).await?;
        let now = now_unix();
        let current = self.platform.session_limit(&tenant, now).await?.limit.ok_or_else(Problem::not_found)?;
        account::check_raise(current.normal, limit, until, now).map_err(rule_problem)?;
        let a = &person.session.account;
        Ok(self.platform.raise_session_limit(&tenant, limit, until, (a.name.as_str(), a.role.code()), now).await?)
    }
}
