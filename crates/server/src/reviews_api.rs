//! The JSON API of a provider's marks (`/api/v1/marks`: manual 自動応答不可 and withheld 不開示
//! items of a person) and of its staff's manual review (`/api/v1/reviews…`). Handlers extract,
//! call `server::reviews` and map.

use crate::Platform;
use crate::caller::Caller;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_domain::marks::{ItemMark, Review};
use renkei_domain::policy::Action;
use renkei_domain::{AddresseeNo, ItemCode, OrgId};
use renkei_net::{ApiJson, Problem};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/api/v1/marks", get(list_marks).put(set_mark))
        .route("/api/v1/marks/csv", post(load_marks))
        .route("/api/v1/reviews", get(list_reviews))
        .route("/api/v1/reviews/{request_id}", post(review))
}

/// A mark on one item of one person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMark {
    /// The org whose person it is: a tenant admin names it; a client system's is its own.
    #[schema(value_type = Option<String>)]
    pub org: Option<OrgId>,
    #[schema(value_type = String, example = "A000001")]
    pub addressee_no: AddresseeNo,
    #[schema(value_type = String, example = "TAX")]
    pub item: ItemCode,
    /// `manual` (自動応答不可), `withheld` (不開示) or `none` (clears).
    #[schema(value_type = String, example = "withheld")]
    pub mark: ItemMark,
}

impl std::fmt::Debug for MarkView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkView(…)")
    }
}

/// A person's current mark on an item.
#[derive(Serialize, ToSchema)]
pub struct MarkView {
    pub org: String,
    pub addressee_no: String,
    pub item: String,
    /// `manual` or `withheld`.
    pub mark: String,
    /// Each change is a new version.
    pub version: i64,
    pub set_by: String,
    /// Milliseconds since the Unix epoch.
    pub set_at: i64,
}

#[utoipa::path(put, path = "/api/v1/marks", tag = "marks", request_body = SetMark,
    responses((status = 200, body = MarkView, description = "marked; the next forwarded query for the item follows it"),
        (status = 400, description = "an invalid body or unknown item", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not mark items (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such person in the org, or no such org in the tenant", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn set_mark(State(p): State<Arc<Platform>>, caller: Caller, ApiJson(body): ApiJson<SetMark>) -> Result<Json<MarkView>, Problem> {
    let act = caller.act(Action::MarkItems)?;
    let (org, version) = p.set_mark(&act, body.org, &body.addressee_no, &body.item, body.mark).await?;
    Ok(Json(MarkView {
        org: org.to_string(),
        addressee_no: body.addressee_no.to_string(),
        item: body.item.to_string(),
        mark: body.mark.code().into(),
        version,
        set_by: act.actor.to_owned(),
        set_at: renkei_store::now_millis(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MarksParams {
    /// The org: a tenant admin names it; a client system's is its own.
    pub org: Option<String>,
}

/// The org a query string names; one that cannot exist is not found.
fn named_org(params: Result<Query<MarksParams>, axum::extract::rejection::QueryRejection>) -> Result<Option<OrgId>, Problem> {
    crate::internal::params(params)?.org.map(|o| OrgId::parse(&o).map_err(|_| Problem::not_found())).transpose()
}

#[derive(Serialize, ToSchema)]
pub struct MarkList {
    pub marks: Vec<MarkView>,
}

#[utoipa::path(get, path = "/api/v1/marks", tag = "marks", params(MarksParams),
    responses((status = 200, body = MarkList, description = "the org's current marks"),
        (status = 400, description = "no org named by a tenant admin", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not mark items (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such org in the tenant", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn list_marks(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    params: Result<Query<MarksParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MarkList>, Problem> {
    let act = caller.act(Action::MarkItems)?;
    let org = named_org(params)?;
    let (org, marks) = p.marks(&act, org).await?;
    let marks = marks
        .into_iter()
        .map(|m| MarkView {
            org: org.to_string(),
            addressee_no: m.addressee.to_string(),
            item: m.item.to_string(),
            mark: m.mark.code().into(),
            version: m.version,
            set_by: m.set_by,
            set_at: m.set_at,
        })
        .collect();
    Ok(Json(MarkList { marks }))
}

#[derive(Serialize, ToSchema)]
pub struct MarksLoaded {
    pub org: String,
    /// Marks set (each a new version).
    pub marked: usize,
}

#[utoipa::path(post, path = "/api/v1/marks/csv", tag = "marks", params(MarksParams),
    request_body(content = String, content_type = "text/csv", description = "`addressee_no,item,mark` (docs/csv-layouts.md), UTF-8 (BOM optional) or CP932"),
    responses((status = 200, body = MarksLoaded, description = "every line set, in one transaction"),
        (status = 400, description = "an unreadable file: empty, wrong header or encoding, too many lines", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not mark items (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such org in the tenant", content_type = "application/problem+json"),
        (status = 413, description = "larger than 256 KiB (the API's body limit)", content_type = "application/problem+json"),
        (status = 422, description = "bad lines (`bad_lines`): nothing was set", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn load_marks(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    params: Result<Query<MarksParams>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Json<MarksLoaded>, Problem> {
    let act = caller.act(Action::MarkItems)?;
    let org = named_org(params)?;
    let (org, marked) = p.set_marks_csv(&act, org, &body).await?;
    Ok(Json(MarksLoaded { org: org.to_string(), marked }))
}

/// A forwarded query held for the provider's staff.
#[derive(Serialize, ToSchema)]
pub struct HeldQueryView {
    pub request_id: String,
    pub requester_org: String,
    pub duty: String,
    pub items: Vec<String>,
    /// The person asked about, as the org registered them.
    pub addressee_no: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub reference_date: renkei_domain::Date,
    /// Milliseconds since the Unix epoch.
    pub received_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct HeldQueryList {
    pub queries: Vec<HeldQueryView>,
}

#[utoipa::path(get, path = "/api/v1/reviews", tag = "reviews",
    responses((status = 200, body = HeldQueryList, description = "the org's queries waiting for review, oldest first"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only the org's staff review (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn list_reviews(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<HeldQueryList>, Problem> {
    let act = caller.act(Action::ReviewManual)?;
    let queries = p
        .held_queries(&act)
        .await?
        .into_iter()
        .map(|h| HeldQueryView {
            request_id: h.held.request_id.to_string(),
            requester_org: h.query.requester.to_string(),
            duty: h.query.duty.to_string(),
            items: h.query.items.iter().map(ToString::to_string).collect(),
            addressee_no: h.addressee.map(|a| a.to_string()),
            reference_date: h.query.reference_date,
            received_at: h.held.received_at,
        })
        .collect();
    Ok(Json(HeldQueryList { queries }))
}

/// The staff's decision on a held query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `provide` or `decline`.
    #[schema(example = "provide")]
    pub decision: String,
    /// Why the manual items are declined (1–500 characters), sealed to the requester; only
    /// with `decline`.
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/reviews/{request_id}", tag = "reviews", request_body = ReviewBody,
    params(("request_id" = String, Path, description = "the held query's request id")),
    responses((status = 204, description = "decided; the answer goes at the hub's next ask"),
        (status = 400, description = "no decision, a reason missing or too long, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only the org's staff review (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such held query in the org", content_type = "application/problem+json"),
        (status = 409, description = "decided already", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn review(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    Path(request_id): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<axum::http::StatusCode, Problem> {
    let act = caller.act(Action::ReviewManual)?;
    let review = match crate::approvals_api::yes_or_no(&body.decision, body.reason, ("provide", "decline"))? {
        None => Review::Provide,
        Some(reason) => Review::Decline(reason),
    };
    p.review(&act, &request_id, review).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
