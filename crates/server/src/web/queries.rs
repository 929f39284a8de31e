//! Staff's pages of queries (照会): home with their queries by state, a query filed step by step
//! (事務 → 照会先 → 項目, offering only what 別表第二 and their duties allow), and a query's page
//! with its answer. The rules are the service layer's (`filing::file_as`, `Act::query`,
//! `domain::Matrix::duties_for` …); a page renders their outcome.

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::caller::Act;
use crate::filing::QueryFiling;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::policy::Action;
use renkei_domain::{AddresseeNo, Date, DutyCode, ItemCode, ItemStatus, OrgId, QueryState};
use renkei_net::Problem;
use renkei_store::tenant::QueryView;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/queries/new", get(new_query)).route("/queries", axum::routing::post(file)).route("/queries/{id}", get(show))
}

/// Queries a home page lists, newest first.
const HOME_QUERIES: usize = 50;

/// The part of home that shows a staff member's or approver's queries by state.
pub async fn home_queries(p: &Platform, s: &PageSession) -> Result<Markup, Problem> {
    let caller = s.caller();
    let act = caller.act(Action::ReadQueries)?;
    let views = act.store(p).await?.queries(act.org()?, &act.query_filter(), None, HOME_QUERIES).await?;
    let count = |state: QueryState| views.iter().filter(|v| v.state == state).count();
    let states = [QueryState::PendingApproval, QueryState::Queued, QueryState::InFlight, QueryState::Answered, QueryState::Failed];
    Ok(html! {
        ul.actions {
            li { a.button href="/queries/new" { "照会を作成する" } }
            li { a href="/persons/new" { "照会対象者を登録する" } }
            @if crate::sessions::permit(&s.session, Action::DecideApproval).is_ok() { li { a href="/approvals" { "承認待ちの照会" } } }
            li { a href="/reviews" { "確認を待つ照会（自動応答不可）" } }
            li { a href="/records" { "情報提供等記録" } }
        }
        h2 { "わたしの機関の照会（新しい順に" (HOME_QUERIES) "件まで）" }
        p { @for state in states { span.count { (state.label_ja()) "：" (count(state)) "件" } " " } }
        @if views.is_empty() {
            p { "照会はまだありません。" }
        } @else {
            div.table-scroll { (query_table(p, &views)) }
        }
    })
}

fn query_table(p: &Platform, views: &[QueryView]) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "状態" } th scope="col" { "事務" } th scope="col" { "照会先" } th scope="col" { "作成日時" } th scope="col" { "詳細" } } }
            tbody {
                @for v in views {
                    tr {
                        td { (v.state.label_ja()) }
                        td { (p.matrix.duty_name(&v.duty).unwrap_or(v.duty.as_str())) }
                        td { (v.provider.as_str()) }
                        td { (moment(v.created_at)) }
                        td { a href={ "/queries/" (v.id) } { "照会を開く" span.visually-hidden { "（" (moment(v.created_at)) "）" } } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Step {
    duty: Option<String>,
    provider: Option<String>,
}

/// The query form, a step at a time: each step's choice travels in the URL (codes of 別表第二
/// and an org code, never a person); the person goes in the form's body.
async fn new_query(State(p): State<Arc<Platform>>, s: PageSession, Query(step): Query<Step>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::FileQuery)?;
    let body = query_form(&p, &act, &s.csrf(), step, None).await?;
    Ok(page("照会の作成", Some((&s.session, &s.csrf())), body).into_response())
}

async fn query_form(p: &Platform, act: &Act<'_>, csrf: &str, step: Step, problem: Option<&Problem>) -> Result<Markup, Problem> {
    let org = act.org_context(p).await?;
    let duties: Vec<(DutyCode, String)> = p.matrix.duties_for(&org.org_type).into_iter().filter(|(d, _)| act.duties.allows(d)).collect();
    let duty = step.duty.as_deref().and_then(|d| duties.iter().find(|(c, _)| c.as_str() == d)).cloned();
    let provider = step.provider.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(OrgId::parse).transpose().ok().flatten();
    let provider_type = match (&duty, &provider) {
        (Some(_), Some(pr)) => p.org_type_of(pr).await.map_err(crate::hub_problem)?,
        _ => None,
    };
    let items = match (&duty, &provider_type) {
        (Some((d, _)), Some(t)) => p.matrix.items_for(&org.org_type, d, t),
        _ => Vec::new(),
    };
    let today = Date::new(chrono::Utc::now().with_timezone(&layout::jst()).date_naive()).ok();
    Ok(html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if duties.is_empty() {
            p { "あなたが照会できる事務はありません。団体管理者に事務の割り当てを依頼してください。" }
        }
        form.stack method="get" action="/queries/new" {
            div {
                label for="duty" { "1. 事務" span.hint { "あなたに割り当てられ、別表第二で認められた事務" } }
                select #duty name="duty" required {
                    option value="" { "選んでください" }
                    @for (code, name) in &duties {
                        option value=(code.as_str()) selected[duty.as_ref().is_some_and(|(d, _)| d == code)] { (name) "（" (code.as_str()) "）" }
                    }
                }
            }
            @if let Some((d, _)) = &duty {
                div {
                    label for="provider" { "2. 照会先の機関コード"
                        span.hint { "この事務で照会できる機関: "
                            @for (i, (_, name)) in p.matrix.provider_types_for(&org.org_type, d).iter().enumerate() { @if i > 0 { "、" } (name) } }
                    }
                    input #provider type="text" name="provider" value=(provider.as_ref().map(OrgId::as_str).unwrap_or_default()) required;
                }
            }
            div { button.secondary type="submit" { "次へ" } }
        }
        @if let (Some((d, name)), Some(pr)) = (&duty, &provider) {
            @if provider_type.is_none() {
                div.notice.error role="alert" { p { "照会先の機関が見つかりません。機関コードを確かめてください。" } }
            } @else if items.is_empty() {
                div.notice.error role="alert" { p { "この事務では、この機関に照会できる項目がありません。" } }
            } @else {
                h2 { "3. 照会の内容" }
                form.stack method="post" action="/queries" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="duty" value=(d.as_str());
                    input type="hidden" name="provider" value=(pr.as_str());
                    // One filing per form shown: sending it twice files one query.
                    input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
                    p { "事務：" (name) "　照会先：" (pr.as_str()) }
                    fieldset {
                        legend { "特定個人情報の項目" }
                        @for (code, item_name) in &items {
                            div.check {
                                input type="checkbox" id={ "item-" (code.as_str()) } name="item" value=(code.as_str());
                                label for={ "item-" (code.as_str()) } { (item_name) "（" (code.as_str()) "）" }
                            }
                        }
                    }
                    div {
                        label for="addressee" { "宛名番号" }
                        input #addressee type="text" name="addressee_no" autocomplete="off" required;
                    }
                    div {
                        label for="reference_date" { "基準日" span.hint { "この日に有効な情報を照会します" } }
                        input #reference_date type="date" name="reference_date" value=(today.map(|d| d.to_string()).unwrap_or_default()) required;
                    }
                    div { button type="submit" { "照会する" } }
                }
            }
        }
    })
}

/// Files the query of the form; the person stays in the body, the answer is the query's page.
async fn file(State(p): State<Arc<Platform>>, s: PageSession, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, Refused> {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    s.check_csrf(field("csrf"))?;
    let caller = s.caller();
    let act = caller.act(Action::FileQuery)?;
    let step = || Step { duty: Some(field("duty").to_owned()), provider: Some(field("provider").to_owned()) };
    let filing = (|| -> Result<QueryFiling, Problem> {
        let bad = |what: &str| Problem::detailed(renkei_net::ProblemKind::InvalidBody, format!("{what} is not valid"));
        Ok(QueryFiling {
            duty: DutyCode::parse(field("duty")).map_err(|_| bad("the duty"))?,
            provider: OrgId::parse(field("provider")).map_err(|_| bad("the provider"))?,
            items: fields
                .iter()
                .filter(|(k, _)| k == "item")
                .map(|(_, v)| ItemCode::parse(v))
                .collect::<Result<_, _>>()
                .map_err(|_| bad("an item"))?,
            addressee: AddresseeNo::parse(field("addressee_no").trim()).map_err(|_| bad("the addressee number"))?,
            reference_date: Date::parse(field("reference_date")).map_err(|_| bad("the reference date"))?,
            idempotency_key: field("idempotency_key").to_owned(),
            filed_by: act.actor.to_owned(),
        })
    })();
    let outcome = match filing {
        Ok(f) => crate::filing::file_as(&p, &act, f).await,
        Err(problem) => Err(problem),
    };
    match outcome {
        Ok((view, _)) => Ok(Redirect::to(&format!("/queries/{}", view.id)).into_response()),
        Err(problem) => {
            let status = layout::status_of(&problem);
            let body = query_form(&p, &act, &s.csrf(), step(), Some(&problem)).await?;
            Ok((status, page("照会の作成", Some((&s.session, &s.csrf())), body)).into_response())
        }
    }
}

/// A query of the person's org and duties, with its answer once it has one.
async fn show(State(p): State<Arc<Platform>>, s: PageSession, Path(id): Path<String>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::ReadQueries)?;
    let (v, history) = act.query_with_history(&p, &id).await?;
    let final_state = matches!(v.state, QueryState::Answered | QueryState::Failed);
    let body = html! {
        dl.facts {
            dt { "状態" } dd #state { (v.state.label_ja()) }
            dt { "事務" } dd { (p.matrix.duty_name(&v.duty).unwrap_or(v.duty.as_str())) "（" (v.duty.as_str()) "）" }
            dt { "照会先" } dd { (v.provider.as_str()) @if v.in_house { "（庁内連携）" } }
            dt { "項目" } dd { @for (i, item) in v.items.iter().enumerate() { @if i > 0 { "、" } (p.matrix.item_name(item).unwrap_or(item.as_str())) } }
            dt { "宛名番号" } dd { (v.addressee.as_str()) }
            dt { "基準日" } dd { (renkei_domain::wareki::both(v.reference_date)) }
            dt { "作成" } dd { (moment(v.created_at)) " " (v.filed_by) }
            @if let Some(by) = &v.decided_by { dt { "決裁" } dd { (by) } }
            dt { "最終更新" } dd { (moment(v.updated_at)) }
            @if let Some(e) = &v.error { dt { "エラーの理由" } dd { (e) } }
        }
        @if !history.is_empty() {
            h2 { "状態の履歴" }
            ol #history { @for h in &history { li { (moment(h.at)) " " (h.state.label_ja()) } } }
        }
        @if !final_state {
            p { "回答を待っています。" a href={ "/queries/" (v.id) } { "最新の状態を表示する" } }
        }
        @if let Some(outcome) = v.outcome { (answer_table(&p, outcome, v.answer.as_ref())) }
        p { a href="/" { "ホームへ戻る" } }
    };
    Ok(page("照会", Some((&s.session, &s.csrf())), body).into_response())
}

fn answer_table(p: &Platform, outcome: renkei_domain::Outcome, answer: Option<&serde_json::Value>) -> Markup {
    let items: Vec<renkei_domain::ItemAnswer> =
        answer.and_then(|a| a.get("items")).cloned().and_then(|i| serde_json::from_value(i).ok()).unwrap_or_default();
    html! {
        h2 { "回答" }
        p #outcome { (match outcome {
            renkei_domain::Outcome::Found => "照会先が情報を提供しました。",
            renkei_domain::Outcome::NotRegistered => "照会先の機関には、この方が登録されていません。",
            renkei_domain::Outcome::NoCopy => "照会先の機関には、基準日に有効な情報がありません。",
        }) }
        @for a in &items {
            h3 { (p.matrix.item_name(&a.item).unwrap_or(a.item.as_str())) }
            @match &a.status {
                ItemStatus::Found { valid_from, fields } => {
                    p { "有効期間の始まり：" (valid_from) }
                    table.answer {
                        tbody { @for (k, val) in fields { tr { th scope="row" { (k) } td { (val.as_str().map(str::to_owned).unwrap_or_else(|| val.to_string())) } } } }
                    }
                }
                ItemStatus::NoCopy => p { "提供できる情報がありません（副本なし）。" },
                ItemStatus::Withheld => p { "不開示です。" },
                ItemStatus::Declined { reason } => p { "提供されませんでした。理由：" (reason) },
            }
        }
    }
}
