//! The status of tenants (団体の状況): for the operator every tenant and consortium, for a
//! consortium admin the consortium's tenants, for a tenant's admin their own — its orgs, the people
//! signed in against its limit (同時接続利用者数) and its state as the SLA monitor sees it
//! (稼働状況: incidents open, the last probe, the last 30 days' incidents). The operator
//! sets the contracted limit and raises it for a while (`limits`, as the JSON API does). Nothing
//! of any resident is on this page (the browser tests check the operator's every page for it).

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use renkei_domain::policy::Action;
use renkei_net::{Problem, ProblemKind};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/tenants", get(tenants))
        .route("/tenants/{tenant}/session-limit", post(set_limit))
        .route("/tenants/{tenant}/session-limit/raise", post(raise_limit))
}

async fn tenants(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    render(&p, &s, StatusCode::OK, None).await
}

async fn render(p: &Platform, s: &PageSession, status: StatusCode, problem: Option<&Problem>) -> Result<Response, Refused> {
    let person = SignedInPerson::new(s.session.clone(), s.token.clone());
    let statuses = p.tenant_statuses(&person).await?;
    let consortia = p.consortia_for(&person).await?;
    let sets = crate::sessions::permit(&s.session, Action::SetSessionLimit).is_ok();
    let raises = crate::sessions::permit(&s.session, Action::RaiseSessionLimit).is_ok();
    // The report page is the binary's (`renkei::sla::page`): it needs the monitor's measures.
    let reports = crate::sessions::permit(&s.session, Action::ReadSla).is_ok();
    let now = renkei_store::now_unix();
    let csrf = s.csrf();
    let body = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if !consortia.is_empty() {
            h2 { "複数団体" }
            ul #consortia { @for c in &consortia {
                li { (c.name) "（" (c.id.as_str()) "）：" @for (i, t) in c.tenants.iter().enumerate() { @if i > 0 { "、" } (t.as_str()) } @if c.tenants.is_empty() { "団体なし" } }
            } }
            h2 { "団体" }
        }
        @if statuses.is_empty() { p { "表示できる団体はありません。" } }
        div.table-scroll { table {
            thead { tr { th scope="col" { "団体" } th scope="col" { "機関" } th scope="col" { "サインイン中の人数" } th scope="col" { "同時接続の上限" } th scope="col" { "稼働状況（SLA監視）" } } }
            tbody { @for t in &statuses {
                tr {
                    td { (t.tenant.name) "（" (t.tenant.id.as_str()) "）" }
                    td { @for (i, o) in t.orgs.iter().enumerate() { @if i > 0 { br; } (o.name) "（" (o.id.as_str()) "、" (o.org_type.as_str()) "）" } }
                    td { (t.sessions.signed_in) "人" }
                    td {
                        @match t.sessions.limit {
                            Some(l) => {
                                (l.at(now)) "人"
                                @if let Some((raised, until)) = l.raise.filter(|&(_, until)| now < until) {
                                    span.hint { "通常 " (l.normal) "人。" (moment(until * 1000)) " まで " (raised) "人に引き上げ中" }
                                }
                            },
                            None => "なし",
                        }
                    }
                    td.service data-tenant=(t.tenant.id.as_str()) {
                        @let svc = &t.service;
                        @if svc.open.is_empty() {
                            @match svc.last_probe { Some((_, true)) => "正常", Some((_, false)) => "確認中（直近の監視で失敗）", None => "監視対象外" }
                        } @else {
                            strong { "障害発生中：" }
                            @for (n, i) in svc.open.iter().enumerate() { @if n > 0 { "、" } (i.kind.label_ja()) "（" (moment(i.started_at * 1000)) "〜）" }
                        }
                        @if let Some((at, _)) = svc.last_probe { span.hint { "最終確認 " (moment(at)) } }
                        @if !svc.recent.is_empty() {
                            span.hint { "過去30日の障害 " (svc.recent.len()) "件："
                                @for (n, i) in svc.recent.iter().enumerate() {
                                    @if n > 0 { "、" }
                                    (i.kind.label_ja()) " " (moment(i.started_at * 1000)) "〜" @if let Some(r) = i.recovered_at { (moment(r * 1000)) }
                                    @if !i.cause.is_empty() { "（" (i.cause) "）" }
                                }
                            }
                        }
                        @if reports {
                            span.hint { a href={ "/tenants/" (t.tenant.id.as_str()) "/report" } { "運用サービス実績報告書（前月）" } }
                        }
                    }
                }
            } }
        } }
        @if sets || raises {
            @for t in &statuses {
                @let id = t.tenant.id.as_str();
                h2 { (t.tenant.name) " の同時接続の上限" }
                @if sets {
                    form.inline method="post" action={ "/tenants/" (id) "/session-limit" } {
                        input type="hidden" name="csrf" value=(csrf);
                        div {
                            label for={ "normal-" (id) } { "契約の上限（人）" }
                            input id={ "normal-" (id) } type="number" name="normal" min="1" required
                                value=[t.sessions.limit.map(|l| l.normal)];
                        }
                        div { button.secondary type="submit" { "上限を設定する" } }
                    }
                }
                @if raises && t.sessions.limit.is_some() {
                    form.inline method="post" action={ "/tenants/" (id) "/session-limit/raise" } {
                        input type="hidden" name="csrf" value=(csrf);
                        div { label for={ "raise-" (id) } { "一時的な上限（人）" } input id={ "raise-" (id) } type="number" name="limit" min="1" required; }
                        div { label for={ "hours-" (id) } { "期間（時間）" } input id={ "hours-" (id) } type="number" name="hours" min="1" value="24" required; }
                        div { button.secondary type="submit" { "一時的に引き上げる" } }
                    }
                }
            }
        }
    };
    Ok((status, page("団体の状況", Some((&s.session, &csrf)), body)).into_response())
}

#[derive(serde::Deserialize)]
struct LimitForm {
    csrf: String,
    normal: String,
}

async fn set_limit(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(tenant): Path<String>,
    Form(f): Form<LimitForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    // The role first: another role learns nothing of what it sent.
    s.permit(Action::SetSessionLimit)?;
    let person = SignedInPerson::new(s.session.clone(), s.token.clone());
    let outcome = match f.normal.trim().parse::<u32>() {
        Ok(normal) => p.set_session_limit(&person, &tenant, normal).await,
        Err(_) => Err(Problem::detailed(ProblemKind::InvalidBody, "the limit is a number of people")),
    };
    done(&p, &s, outcome).await
}

#[derive(serde::Deserialize)]
struct RaiseForm {
    csrf: String,
    limit: String,
    hours: String,
}

async fn raise_limit(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(tenant): Path<String>,
    Form(f): Form<RaiseForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    s.permit(Action::RaiseSessionLimit)?;
    let person = SignedInPerson::new(s.session.clone(), s.token.clone());
    let outcome = match (f.limit.trim().parse::<u32>(), f.hours.trim().parse::<i64>()) {
        (Ok(limit), Ok(hours)) if (1..=24 * 366).contains(&hours) => {
            p.raise_session_limit(&person, &tenant, limit, renkei_store::now_unix() + hours * 3600).await
        }
        _ => Err(Problem::detailed(ProblemKind::InvalidBody, "the limit is a number of people and the period 1 to 8784 hours")),
    };
    done(&p, &s, outcome).await
}

async fn done(p: &Platform, s: &PageSession, outcome: Result<(), Problem>) -> Result<Response, Refused> {
    match outcome {
        Ok(()) => Ok(Redirect::to("/tenants").into_response()),
        Err(problem) => render(p, s, layout::status_of(&problem), Some(&problem)).await,
    }
}
