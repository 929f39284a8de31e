//! The JSON API of a tenant's people, for its tenant admins (団体管理者): create accounts
//! (staff, approvers, admins, auditors of their own tenant), list them, end a person's
//! sessions. Everything is the admin's own tenant's: another tenant's account answers 404.

use crate::Platform;
use crate::accounts::Person;
use crate::sessions::SignedInPerson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_domain::policy::Action;
use renkei_domain::{AccountName, OrgId, Role};
use renkei_net::{ApiJson, Problem};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use zeroize::Zeroizing;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/api/v1/accounts", get(list).post(create))
        .route("/api/v1/accounts/{name}/revoke-sessions", post(revoke_sessions))
        .route("/api/v1/accounts/{name}/duties", axum::routing::put(assign_duties))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    #[schema(value_type = String, example = "tanaka-0001")]
    pub name: AccountName,
    /// tenant_admin, approver, staff or auditor.
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    /// The org of a staff member or an approver.
    #[schema(value_type = Option<String>)]
    pub org: Option<OrgId>,
    /// The first password, to hand to the person; they enrol a second factor at the first
    /// sign-in and may change it then.
    pub password: String,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount").field("name", &self.name).field("role", &self.role).field("org", &self.org).finish_non_exhaustive()
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    #[schema(value_type = String)]
    pub name: AccountName,
    #[schema(value_type = String)]
    pub role: Role,
    pub org: Option<String>,
    /// The duties (事務) the person may file queries for (`*`: every duty of the org).
    pub duties: Vec<String>,
    /// Whether a second factor is enrolled.
    pub enrolled: bool,
    pub disabled: bool,
}

impl From<&renkei_store::accounts::Account> for AccountView {
    fn from(a: &renkei_store::accounts::Account) -> Self {
        AccountView {
            name: a.name.clone(),
            role: a.role,
            org: a.org.as_ref().map(|o| o.to_string()),
            duties: match &a.duties {
                renkei_domain::policy::DutyScope::All => vec!["*".into()],
                renkei_domain::policy::DutyScope::Only(set) => set.iter().map(|d| d.to_string()).collect(),
            },
            enrolled: a.totp_sealed.is_some(),
            disabled: a.disabled,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/accounts", request_body = NewAccount, tag = "people",
    responses((status = 201, body = AccountView, description = "created"),
        (status = 400, description = "invalid body, a role above tenants, an org not the tenant's, or a weak password", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not manage people", content_type = "application/problem+json"),
        (status = 409, description = "the name is taken", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn create(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), Problem> {
    let tenant = person.tenant_for(Action::ManageStaff)?;
    let password = Zeroizing::new(body.password);
    let who = Person { name: &body.name, tenant: Some(&tenant), org: body.org.as_ref(), role: body.role, consortium: None };
    let admin = &person.session.account;
    p.create_account(who, &password, admin.name.as_str(), admin.role.code()).await?;
    let created = p.platform.account_of(&tenant, &body.name).await?.ok_or_else(Problem::internal)?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&created))))
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "people",
    responses((status = 200, body = AccountList, description = "the tenant's accounts, by name"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not manage people", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn list(State(p): State<Arc<Platform>>, person: SignedInPerson) -> Result<Json<AccountList>, Problem> {
    let tenant = person.tenant_for(Action::ManageStaff)?;
    let accounts = p.platform.accounts_of(&tenant).await?.iter().map(AccountView::from).collect();
    Ok(Json(AccountList { accounts }))
}

#[derive(Serialize, ToSchema)]
pub struct SessionsRevoked {
    /// Sessions that were open and have now ended.
    pub ended: u64,
}

#[utoipa::path(post, path = "/api/v1/accounts/{name}/revoke-sessions", tag = "people",
    params(("name" = String, Path, description = "the account's name")),
    responses((status = 200, body = SessionsRevoked, description = "every session of the account has ended"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not manage people", content_type = "application/problem+json"),
        (status = 404, description = "no such account in the tenant", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn revoke_sessions(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    Path(name): Path<String>,
) -> Result<Json<SessionsRevoked>, Problem> {
    let tenant = person.tenant_for(Action::ManageStaff)?;
    let name = AccountName::parse(&name).map_err(|_| Problem::not_found())?;
    let admin = &person.session.account;
    let ended =
        p.revoke_account_sessions(&tenant, &name, (admin.name.as_str(), admin.role.code())).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(SessionsRevoked { ended }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Duties {
    /// Duty codes (事務) of 別表第二 the person may file queries for; an empty list takes all away.
    #[schema(value_type = Vec<String>)]
    pub duties: Vec<renkei_domain::DutyCode>,
}

#[utoipa::path(put, path = "/api/v1/accounts/{name}/duties", request_body = Duties, tag = "people",
    params(("name" = String, Path, description = "the account's name")),
    responses((status = 200, body = AccountView, description = "the account with its duties"),
        (status = 400, description = "a role that files no queries, a duty 別表第二 does not give the org, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not assign duties", content_type = "application/problem+json"),
        (status = 404, description = "no such account in the tenant", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn assign_duties(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Duties>,
) -> Result<Json<AccountView>, Problem> {
    let tenant = person.tenant_for(Action::AssignDuties)?;
    let name = AccountName::parse(&name).map_err(|_| Problem::not_found())?;
    let admin = &person.session.account;
    p.assign_duties(&tenant, &name, &body.duties, (admin.name.as_str(), admin.role.code())).await?.ok_or_else(Problem::not_found)?;
    let a = p.platform.account_of(&tenant, &name).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(AccountView::from(&a)))
}
