//! The JSON API of a tenant's limit of people signed in at once (同時接続利用者数):
//! `/api/v1/tenants/{tenant}/session-limit…`. Handlers extract, call `server::limits` and map.

use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_net::{ApiJson, Problem};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/api/v1/tenants/{tenant}/session-limit", get(read).put(set))
        .route("/api/v1/tenants/{tenant}/session-limit/raise", post(raise))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionLimitView {
    pub tenant: String,
    /// The contracted limit; null: none.
    pub normal: Option<u32>,
    /// A temporary raise, while it lasts.
    pub raised: Option<u32>,
    /// When the raise ends (Unix seconds).
    pub raised_until: Option<i64>,
    /// The limit in force now; null: none.
    pub in_force: Option<u32>,
    /// People signed in now.
    pub signed_in: u32,
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/session-limit", tag = "tenants", params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = SessionLimitView),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not read a tenant's status (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such tenant, or not the person's", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn read(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    Path(tenant): Path<String>,
) -> Result<Json<SessionLimitView>, Problem> {
    let (tenant, status) = p.session_limit(&person, &tenant).await?;
    let now = renkei_store::now_unix();
    let raise = status.limit.and_then(|l| l.raise).filter(|(_, until)| now < *until);
    Ok(Json(SessionLimitView {
        tenant: tenant.to_string(),
        normal: status.limit.map(|l| l.normal),
        raised: raise.map(|r| r.0),
        raised_until: raise.map(|r| r.1),
        in_force: status.limit.map(|l| l.at(now)),
        signed_in: status.signed_in,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimit {
    /// People who may be signed in at once: 1–100000.
    #[schema(minimum = 1, maximum = 100000, example = 50)]
    pub normal: u32,
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/session-limit", tag = "tenants", request_body = SetLimit,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 204, description = "set; a raise in force stays"),
        (status = 400, description = "out of range, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only the operator sets it (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such tenant", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn set(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<SetLimit>,
) -> Result<StatusCode, Problem> {
    p.set_session_limit(&person, &tenant, body.normal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseLimit {
    /// The raised limit, above the normal one.
    #[schema(minimum = 1, maximum = 100000, example = 80)]
    pub limit: u32,
    /// When the raise ends by itself (Unix seconds, within 90 days).
    pub until: i64,
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/session-limit/raise", tag = "tenants", request_body = RaiseLimit,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 204, description = "raised until `until`; then the normal limit holds again"),
        (status = 400, description = "not above the normal limit, an end not within 90 days, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only the operator raises it (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such tenant, or it has no limit to raise", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn raise(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RaiseLimit>,
) -> Result<StatusCode, Problem> {
    p.raise_session_limit(&person, &tenant, body.limit, body.until).await?;
    Ok(StatusCode::NO_CONTENT)
}
