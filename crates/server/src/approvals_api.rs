//! The JSON API of e-approval (電子決裁): a tenant admin's policies (which duties of which org
//! wait for an approver, and how long), and an approver's queue and decisions. Handlers
//! extract, call `server::approvals` and map.

use crate::Platform;
use crate::caller::Caller;
use crate::internal::{PageParams, QueryList, QueryResource, params};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use renkei_domain::approval::Decision;
use renkei_domain::policy::Action;
use renkei_domain::{DutyCode, OrgId, QueryState};
use renkei_net::{ApiJson, Problem, ProblemKind};
use renkei_store::tenant::QueryFilter;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/api/v1/approval-policies", get(list_policies))
        .route("/api/v1/approval-policies/{org}/{duty}", put(set_policy).delete(remove_policy))
        .route("/api/v1/approvals", get(pending))
        .route("/api/v1/approvals/{id}", post(decide))
}

/// One org's duty whose queries wait for an approver.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub org: String,
    pub duty: String,
    /// How long a query waits for a decision before it ends in エラー by itself.
    pub window_minutes: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub policies: Vec<PolicyView>,
}

/// An org and duty from the path; one that cannot exist is not found.
fn org_duty(org: &str, duty: &str) -> Result<(OrgId, DutyCode), Problem> {
    Ok((OrgId::parse(org).map_err(|_| Problem::not_found())?, DutyCode::parse(duty).map_err(|_| Problem::not_found())?))
}

#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "approvals",
    responses((status = 200, body = PolicyList), (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin sets approval policies (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn list_policies(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<PolicyList>, Problem> {
    let act = caller.act(Action::SetApprovalPolicy)?;
    let policies = act.store(&p).await?.approval_policies().await?;
    let policies = policies
        .into_iter()
        .map(|p| PolicyView { org: p.org.to_string(), duty: p.duty.to_string(), window_minutes: p.window_minutes })
        .collect();
    Ok(Json(PolicyList { policies }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    /// 10 minutes to 30 days (43200).
    #[schema(minimum = 10, maximum = 43200, example = 1440)]
    pub window_minutes: u32,
}

#[utoipa::path(put, path = "/api/v1/approval-policies/{org}/{duty}", tag = "approvals", request_body = SetPolicy,
    params(("org" = String, Path, description = "an org of the tenant"), ("duty" = String, Path, description = "a duty (事務) the org files for")),
    responses((status = 200, body = PolicyView, description = "the org's queries for the duty now wait for approval"),
        (status = 400, description = "a window out of bounds, a duty 別表第二 does not give the org, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin sets approval policies (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such org in the tenant", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn set_policy(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    Path((org, duty)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetPolicy>,
) -> Result<Json<PolicyView>, Problem> {
    let act = caller.act(Action::SetApprovalPolicy)?;
    let (org, duty) = org_duty(&org, &duty)?;
    let view = PolicyView { org: org.to_string(), duty: duty.to_string(), window_minutes: body.window_minutes };
    p.set_approval_policy(&act, org, duty, body.window_minutes).await?;
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/api/v1/approval-policies/{org}/{duty}", tag = "approvals",
    params(("org" = String, Path, description = "an org of the tenant"), ("duty" = String, Path, description = "a duty (事務)")),
    responses((status = 204, description = "the org's queries for the duty no longer wait (those waiting still do)"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin sets approval policies (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such org in the tenant, or no policy for the duty", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn remove_policy(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    Path((org, duty)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let act = caller.act(Action::SetApprovalPolicy)?;
    let (org, duty) = org_duty(&org, &duty)?;
    p.remove_approval_policy(&act, &org, &duty).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(PageParams),
    responses((status = 200, body = QueryList, description = "the org's queries waiting in 承認待ち, newest first"),
        (status = 400, description = "a bad limit or cursor", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only an approver decides (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn pending(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    page: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<QueryList>, Problem> {
    let act = caller.act(Action::DecideApproval)?;
    let page = params(page)?;
    let filter = QueryFilter { state: Some(QueryState::PendingApproval), ..QueryFilter::default() };
    Ok(Json(crate::internal::query_page(&p, &act, &filter, page).await?))
}

/// An approver's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(example = "approve")]
    pub decision: String,
    /// Why it is rejected (1–500 characters), shown to the filer; only with `reject`.
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}", tag = "approvals", request_body = DecisionBody,
    params(("id" = String, Path, description = "query id")),
    responses((status = 200, body = QueryResource, description = "decided: 送信待ち (approved) or エラー with the reason (rejected)"),
        (status = 400, description = "no decision, a reason missing or too long, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only an approver decides (`role-denied`), and never their own query (`own-query`)", content_type = "application/problem+json"),
        (status = 404, description = "no such query in the approver's org", content_type = "application/problem+json"),
        (status = 409, description = "the query is not waiting for approval", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn decide(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<QueryResource>, Problem> {
    let act = caller.act(Action::DecideApproval)?;
    let decision = match yes_or_no(&body.decision, body.reason, ("approve", "reject"))? {
        None => Decision::Approve,
        Some(reason) => Decision::Reject { reason },
    };
    Ok(Json(p.decide_query(&act, &id, decision).await?.into()))
}

/// A person's decision between `yes` and `no` (e.g. approve or reject), the second with its
/// reason: `None` for yes, the reason for no.
pub(crate) fn yes_or_no(decision: &str, reason: Option<String>, (yes, no): (&str, &str)) -> Result<Option<String>, Problem> {
    match (decision == yes, decision == no, reason) {
        (true, _, None) => Ok(None),
        (_, true, Some(reason)) => Ok(Some(reason)),
        (true, _, Some(_)) => Err(Problem::detailed(ProblemKind::InvalidBody, format!("reason: only {no} gives one"))),
        (_, true, None) => Err(Problem::detailed(ProblemKind::InvalidBody, format!("reason: {no} gives one"))),
        _ => Err(Problem::detailed(ProblemKind::InvalidBody, format!("decision: {yes} or {no}"))),
    }
}
