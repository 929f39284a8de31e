//! The tenant admin's page (団体管理者): the tenant's people with the duties each staff member
//! and approver may file for (checkboxes of what 別表第二 gives their org), which duties wait for
//! approval (電子決裁), and the client systems' API keys (create, shown once; revoke). The acts are the service layer's
//! (`accounts::assign_duties`, `api_keys`), as the JSON API takes them.

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::policy::{Action, DutyScope, Role};
use renkei_domain::{AccountName, DutyCode, OrgId};
use renkei_net::Problem;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/accounts", post(create_account))
        .route("/admin/accounts/{name}/duties", post(set_duties))
        .route("/admin/accounts/{name}/revoke-sessions", post(revoke_sessions))
        .route("/admin/api-keys", post(create_key))
        .route("/admin/api-keys/{id}/revoke", post(revoke_key))
        .route("/admin/approval-policies", post(set_policy))
        .route("/admin/approval-policies/remove", post(remove_policy))
}

async fn admin(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    admin_page(&p, &s, StatusCode::OK, None, None).await
}

/// The page, with a problem to show, or a key just created to show once.
async fn admin_page(
    p: &Platform,
    s: &PageSession,
    status: StatusCode,
    problem: Option<&Problem>,
    created: Option<&str>,
) -> Result<Response, Refused> {
    admin_page_with(p, s, status, problem, created, None).await
}

/// The page, with also a notice of what was just done.
async fn admin_page_with(
    p: &Platform,
    s: &PageSession,
    status: StatusCode,
    problem: Option<&Problem>,
    created: Option<&str>,
    done: Option<&str>,
) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::ManageStaff)?;
    let accounts = p.platform.accounts_of(act.tenant).await.map_err(Problem::from)?;
    let keys_act = caller.act(Action::ManageApiKeys)?;
    let keys = p.list_api_keys(&keys_act).await?;
    let orgs = p.platform.orgs(Some(act.tenant)).await.map_err(Problem::from)?;
    let policies = act.store(p).await?.approval_policies().await.map_err(Problem::from)?;
    let csrf = s.csrf();
    let org_select = |id: &str, optional: bool| {
        html! {
            select id=(id) name="org" required[!optional] {
                @if optional { option value="" { "なし（団体管理者・監査者）" } }
                @for o in &orgs { option value=(o.id.as_str()) { (o.name) "（" (o.id.as_str()) "）" } }
            }
        }
    };
    let body: Markup = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if let Some(done) = done { div.notice.success role="status" { p { (done) } } }
        @if let Some(key) = created {
            div.notice.success role="status" {
                p { "APIキーを発行しました。この画面を離れると二度と表示されません。既存システムに設定してください。" }
                p.secret #new-key { (key) }
            }
        }
        h2 { "職員と事務の割り当て" }
        div.table-scroll { table {
            thead { tr { th scope="col" { "アカウント" } th scope="col" { "役割" } th scope="col" { "機関" } th scope="col" { "照会できる事務" } } }
            tbody { @for a in &accounts {
                tr {
                    td {
                        (a.name.as_str())
                        @if a.totp_sealed.is_none() { span.hint { "認証アプリ未登録" } }
                        @if a.disabled { span.hint { "無効" } }
                        form method="post" action={ "/admin/accounts/" (a.name.as_str()) "/revoke-sessions" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button.secondary type="submit" aria-label={ (a.name.as_str()) " のサインインをすべて終わらせる" } { "サインインを終わらせる" }
                        }
                    }
                    td { (layout::role_name(a.role)) }
                    td { (a.org.as_ref().map(OrgId::as_str).unwrap_or("—")) }
                    td {
                        @if let Some(org) = a.org.as_ref().and_then(|o| orgs.iter().find(|x| &x.id == o)) {
                            form method="post" action={ "/admin/accounts/" (a.name.as_str()) "/duties" } {
                                input type="hidden" name="csrf" value=(csrf);
                                fieldset {
                                    legend { (a.name.as_str()) " の事務" }
                                    @for (duty, name) in p.matrix.duties_for(&org.org_type) {
                                        @let id = format!("duty-{}-{}", a.name.as_str(), duty.as_str());
                                        div.check {
                                            input type="checkbox" id=(id) name="duty" value=(duty.as_str()) checked[matches!(&a.duties, DutyScope::All) || matches!(&a.duties, DutyScope::Only(set) if set.contains(&duty))];
                                            label for=(id) { (name) "（" (duty.as_str()) "）" }
                                        }
                                    }
                                }
                                button.secondary type="submit" { "割り当てを保存" }
                            }
                        } @else { "—" }
                    }
                }
            } }
        } }
        h3 { "職員を追加する" }
        form.stack method="post" action="/admin/accounts" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="new-name" { "アカウント名" span.hint { "半角英数字と - _ .（例：tanaka-0001）" } }
                input #new-name type="text" name="name" autocomplete="off" required;
            }
            div {
                label for="new-role" { "役割" }
                select #new-role name="role" required {
                    @for r in [Role::Staff, Role::Approver, Role::TenantAdmin, Role::Auditor] { option value=(r.code()) { (layout::role_name(r)) } }
                }
            }
            div { label for="new-org" { "機関" span.hint { "職員と決裁者は所属の機関を選びます" } } (org_select("new-org", true)) }
            div {
                label for="new-password" { "最初のパスワード" span.hint { "12文字以上。本人に伝え、最初のサインインで認証アプリを登録してもらいます" } }
                input #new-password type="password" name="password" autocomplete="new-password" minlength="12" required;
            }
            div { button type="submit" { "追加する" } }
        }
        h2 { "電子決裁（承認が必要な事務）" }
        @if policies.is_empty() { p { "承認が必要な事務はありません。" } } @else {
            div.table-scroll { table {
                thead { tr { th scope="col" { "機関" } th scope="col" { "事務" } th scope="col" { "承認の期限" } th scope="col" { "操作" } } }
                tbody { @for pol in &policies { tr {
                    td { (pol.org.as_str()) }
                    td { (p.matrix.duty_name(&pol.duty).unwrap_or(pol.duty.as_str())) "（" (pol.duty.as_str()) "）" }
                    td { (pol.window_minutes) "分" }
                    td { form method="post" action="/admin/approval-policies/remove" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="org" value=(pol.org.as_str());
                        input type="hidden" name="duty" value=(pol.duty.as_str());
                        button.secondary type="submit" aria-label={ (pol.org.as_str()) " の " (pol.duty.as_str()) " の承認をやめる" } { "承認をやめる" }
                    } }
                } } }
            } }
        }
        h3 { "承認が必要な事務を追加する" }
        form.stack method="post" action="/admin/approval-policies" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="policy-org" { "機関" }
                (org_select("policy-org", false))
            }
            div {
                label for="policy-duty" { "事務コード" span.hint { "例：D015（その機関が別表第二で照会できる事務）" } }
                input #policy-duty type="text" name="duty" required;
            }
            div {
                label for="policy-window" { "承認の期限（分）" span.hint { "10分から43200分（30日）まで。期限までに決裁されない照会はエラーで終わります" } }
                input #policy-window type="number" name="window_minutes" min="10" max="43200" value="1440" required;
            }
            div { button type="submit" { "追加する" } }
        }
        h2 { "既存システムのAPIキー" }
        div.table-scroll { table {
            thead { tr { th scope="col" { "ID" } th scope="col" { "機関" } th scope="col" { "用途" } th scope="col" { "発行" } th scope="col" { "状態" } } }
            tbody { @for k in &keys {
                tr {
                    td { code { (k.id) } }
                    td { (k.org.as_str()) }
                    td { (k.label) }
                    td { (moment(k.created_at * 1000)) }
                    td {
                        @match k.revoked_at {
                            Some(at) => { "失効（" (moment(at * 1000)) "）" }
                            None => form method="post" action={ "/admin/api-keys/" (k.id) "/revoke" } {
                                input type="hidden" name="csrf" value=(csrf);
                                button.secondary type="submit" aria-label={ "APIキー " (k.id) " を失効させる" } { "失効させる" }
                            },
                        }
                    }
                }
            } }
        } }
        h3 { "APIキーを発行する" }
        form.stack method="post" action="/admin/api-keys" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="key-org" { "機関" }
                (org_select("key-org", false))
            }
            div {
                label for="key-label" { "用途" span.hint { "例：住民記録システム（100文字まで）" } }
                input #key-label type="text" name="label" maxlength="100" required;
            }
            div { button type="submit" { "発行する" } }
        }
    };
    Ok((status, page("団体の管理", Some((&s.session, &csrf)), body)).into_response())
}

async fn set_duties(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Refused> {
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()).unwrap_or_default();
    s.check_csrf(field("csrf"))?;
    let caller = s.caller();
    let act = caller.act(Action::AssignDuties)?;
    let name = AccountName::parse(&name).map_err(|_| Problem::not_found())?;
    let duties: Result<Vec<DutyCode>, _> = fields.iter().filter(|(k, _)| k == "duty").map(|(_, v)| DutyCode::parse(v)).collect();
    let a = &s.session.account;
    let outcome = match duties {
        Ok(duties) => p.assign_duties(act.tenant, &name, &duties, (a.name.as_str(), a.role.code())).await.map_err(Problem::from),
        Err(_) => Err(Problem::detailed(renkei_net::ProblemKind::InvalidBody, "a duty is not a duty code")),
    };
    match outcome {
        Ok(Some(())) => Ok(Redirect::to("/admin").into_response()),
        Ok(None) => Err(Problem::not_found().into()),
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}

#[derive(serde::Deserialize)]
pub struct NewAccount {
    csrf: String,
    name: String,
    role: String,
    #[serde(default)]
    org: String,
    password: zeroize::Zeroizing<String>,
}

async fn create_account(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<NewAccount>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ManageStaff)?;
    let bad = |what: &str| Problem::detailed(renkei_net::ProblemKind::InvalidBody, format!("{what} is not valid"));
    let parsed = (|| {
        let name = AccountName::parse(f.name.trim()).map_err(|_| bad("the account name"))?;
        let role = Role::ALL.into_iter().find(|r| r.code() == f.role && r.is_tenant_role()).ok_or_else(|| bad("the role"))?;
        let org = match f.org.trim() {
            "" => None,
            o => Some(OrgId::parse(o).map_err(|_| bad("the org"))?),
        };
        Ok::<_, Problem>((name, role, org))
    })();
    let outcome = match parsed {
        Ok((name, role, org)) => {
            let who = crate::accounts::Person { name: &name, tenant: Some(act.tenant), org: org.as_ref(), role, consortium: None };
            let a = &s.session.account;
            p.create_account(who, &f.password, a.name.as_str(), a.role.code()).await.map(|_| name).map_err(Problem::from)
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(name) => {
            let done = format!("{} を追加しました。最初のパスワードを本人に伝えてください。", name.as_str());
            admin_page_with(&p, &s, StatusCode::CREATED, None, None, Some(&done)).await
        }
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}

async fn revoke_sessions(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(name): Path<String>,
    Form(f): Form<super::session::CsrfForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ManageStaff)?;
    let name = AccountName::parse(&name).map_err(|_| Problem::not_found())?;
    let a = &s.session.account;
    let ended = p.revoke_account_sessions(act.tenant, &name, (a.name.as_str(), a.role.code())).await.map_err(Problem::from)?;
    let Some(ended) = ended else { return Err(Problem::not_found().into()) };
    // Revoking one's own sessions ends this one too.
    if name == a.name {
        return Ok(Redirect::to("/sign-in").into_response());
    }
    let done = format!("{} のサインイン {}件を終わらせました。", name.as_str(), ended);
    admin_page_with(&p, &s, StatusCode::OK, None, None, Some(&done)).await
}

#[derive(serde::Deserialize)]
pub struct NewKey {
    csrf: String,
    org: String,
    label: String,
}

async fn create_key(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<NewKey>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ManageApiKeys)?;
    let outcome = match OrgId::parse(&f.org) {
        Ok(org) => p.create_api_key(&act, &org, &f.label, &[]).await,
        Err(_) => Err(Problem::not_found()),
    };
    match outcome {
        // Shown in the answer to this POST only: a reload does not show it again.
        Ok((key, _)) => admin_page(&p, &s, StatusCode::CREATED, None, Some(&key)).await,
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}

async fn revoke_key(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(id): Path<String>,
    Form(f): Form<super::session::CsrfForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ManageApiKeys)?;
    match p.revoke_tenant_api_key(&act, &id).await {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}

#[derive(serde::Deserialize)]
pub struct PolicyForm {
    csrf: String,
    org: String,
    duty: String,
    #[serde(default)]
    window_minutes: String,
}

fn org_duty(f: &PolicyForm) -> Result<(OrgId, DutyCode), Problem> {
    let bad = |what: &str| Problem::detailed(renkei_net::ProblemKind::InvalidBody, format!("{what} is not valid"));
    Ok((OrgId::parse(f.org.trim()).map_err(|_| bad("the org"))?, DutyCode::parse(f.duty.trim()).map_err(|_| bad("the duty code"))?))
}

async fn set_policy(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<PolicyForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::SetApprovalPolicy)?;
    let outcome = match (org_duty(&f), f.window_minutes.trim().parse::<u32>()) {
        (Ok((org, duty)), Ok(window)) => p.set_approval_policy(&act, org, duty, window).await,
        (Err(e), _) => Err(e),
        (_, Err(_)) => Err(Problem::detailed(renkei_net::ProblemKind::InvalidBody, "the window is a number of minutes")),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin").into_response()),
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}

async fn remove_policy(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<PolicyForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::SetApprovalPolicy)?;
    let outcome = match org_duty(&f) {
        Ok((org, duty)) => p.remove_approval_policy(&act, &org, &duty).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin").into_response()),
        Err(problem) => admin_page(&p, &s, layout::status_of(&problem), Some(&problem), None).await,
    }
}
