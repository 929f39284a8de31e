//! The two inboxes people decide from: an approver's queries waiting in 承認待ち (電子決裁:
//! approve, or reject with a reason the filer reads) and a provider's staff's queries held for
//! manual review (自動応答不可: provide, or decline with a reason). The decisions are the service
//! layer's (`approvals::decide_query`, `reviews::review`), as the JSON API takes them.

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::QueryState;
use renkei_domain::approval::Decision;
use renkei_domain::marks::Review;
use renkei_domain::policy::Action;
use renkei_net::Problem;
use renkei_store::tenant::QueryFilter;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/approvals", get(approvals))
        .route("/approvals/{id}", post(decide))
        .route("/reviews", get(reviews))
        .route("/reviews/{request_id}", post(review))
}

/// Items an inbox shows at once, oldest waiting first among the newest this many.
const INBOX: usize = 100;

async fn approvals(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    approvals_page(&p, &s, StatusCode::OK, None).await
}

async fn approvals_page(p: &Platform, s: &PageSession, status: StatusCode, problem: Option<&Problem>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::DecideApproval)?;
    let filter = QueryFilter { state: Some(QueryState::PendingApproval), ..QueryFilter::default() };
    let views = act.store(p).await?.queries(act.org()?, &filter, None, INBOX).await.map_err(Problem::from)?;
    let csrf = s.csrf();
    let body = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if views.is_empty() { p { "承認を待っている照会はありません。" } }
        @for v in &views {
            section.card aria-labelledby={ "q-" (v.id) } {
                h2 id={ "q-" (v.id) } { (p.matrix.duty_name(&v.duty).unwrap_or(v.duty.as_str())) }
                dl.facts {
                    dt { "照会先" } dd { (v.provider.as_str()) }
                    dt { "項目" } dd { @for (i, item) in v.items.iter().enumerate() { @if i > 0 { "、" } (p.matrix.item_name(item).unwrap_or(item.as_str())) } }
                    dt { "宛名番号" } dd { (v.addressee.as_str()) }
                    dt { "基準日" } dd { (renkei_domain::wareki::both(v.reference_date)) }
                    dt { "作成" } dd { (moment(v.created_at)) " " (v.filed_by) }
                }
                form method="post" action={ "/approvals/" (v.id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="decision" value="approve";
                    button type="submit" { "承認する" }
                }
                form.stack method="post" action={ "/approvals/" (v.id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="decision" value="reject";
                    div {
                        label for={ "reason-" (v.id) } { "差し戻す理由" span.hint { "照会した職員に表示されます（500文字まで）" } }
                        textarea id={ "reason-" (v.id) } name="reason" rows="2" maxlength="500" required {}
                    }
                    div { button.secondary type="submit" { "差し戻す" } }
                }
            }
        }
    };
    Ok((status, page("承認待ちの照会", Some((&s.session, &csrf)), body)).into_response())
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn decide(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::DecideApproval)?;
    let reason = Some(f.reason).filter(|_| f.decision == "reject");
    let decided = match crate::approvals_api::yes_or_no(&f.decision, reason, ("approve", "reject")) {
        Ok(None) => p.decide_query(&act, &id, Decision::Approve).await,
        Ok(Some(reason)) => p.decide_query(&act, &id, Decision::Reject { reason }).await,
        Err(problem) => Err(problem),
    };
    match decided {
        Ok(_) => Ok(Redirect::to("/approvals").into_response()),
        Err(problem) => {
            let status = layout::status_of(&problem);
            approvals_page(&p, &s, status, Some(&problem)).await
        }
    }
}

async fn reviews(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    reviews_page(&p, &s, StatusCode::OK, None).await
}

async fn reviews_page(p: &Platform, s: &PageSession, status: StatusCode, problem: Option<&Problem>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::ReviewManual)?;
    let held = p.held_queries(&act).await?;
    let csrf = s.csrf();
    let body: Markup = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if held.is_empty() { p { "確認を待っている照会はありません。" } }
        @for h in held.iter().filter(|h| h.held.decided_by.is_none()) {
            @let rid = h.query.request_id.as_str();
            section.card aria-labelledby={ "r-" (rid) } {
                h2 id={ "r-" (rid) } { (p.matrix.duty_name(&h.query.duty).unwrap_or(h.query.duty.as_str())) }
                dl.facts {
                    dt { "照会元" } dd { (h.query.requester.as_str()) }
                    dt { "項目" } dd { @for (i, item) in h.query.items.iter().enumerate() { @if i > 0 { "、" } (p.matrix.item_name(item).unwrap_or(item.as_str())) } }
                    dt { "宛名番号" } dd { (h.addressee.as_ref().map(|a| a.as_str()).unwrap_or("（登録されていません）")) }
                    dt { "基準日" } dd { (renkei_domain::wareki::both(h.query.reference_date)) }
                    dt { "受付" } dd { (moment(h.held.received_at)) }
                }
                form method="post" action={ "/reviews/" (rid) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="decision" value="provide";
                    button type="submit" { "提供する" }
                }
                form.stack method="post" action={ "/reviews/" (rid) } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="decision" value="decline";
                    div {
                        label for={ "reason-" (rid) } { "提供しない理由" span.hint { "照会元に伝わります（500文字まで）" } }
                        textarea id={ "reason-" (rid) } name="reason" rows="2" maxlength="500" required {}
                    }
                    div { button.secondary type="submit" { "提供しない" } }
                }
            }
        }
    };
    Ok((status, page("確認を待つ照会（自動応答不可）", Some((&s.session, &csrf)), body)).into_response())
}

async fn review(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(request_id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ReviewManual)?;
    let reason = Some(f.reason).filter(|_| f.decision == "decline");
    let reviewed = match crate::approvals_api::yes_or_no(&f.decision, reason, ("provide", "decline")) {
        Ok(None) => p.review(&act, &request_id, Review::Provide).await,
        Ok(Some(reason)) => p.review(&act, &request_id, Review::Decline(reason)).await,
        Err(problem) => Err(problem),
    };
    match reviewed {
        Ok(()) => Ok(Redirect::to("/reviews").into_response()),
        Err(problem) => {
            let status = layout::status_of(&problem);
            reviews_page(&p, &s, status, Some(&problem)).await
        }
    }
}
