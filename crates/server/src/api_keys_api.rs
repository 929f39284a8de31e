//! `/api/v1/api-keys…`: a tenant admin creates, lists and revokes the client systems' API keys
//! of the tenant's orgs. Handlers extract, call `server::api_keys` and map.

use crate::Platform;
use crate::caller::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use renkei_domain::policy::Action;
use renkei_domain::{DutyCode, OrgId};
use renkei_net::{ApiJson, Problem};
use renkei_store::platform::ApiKeyInfo;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/api/v1/api-keys", get(list).post(create)).route("/api/v1/api-keys/{id}", delete(revoke))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    /// The key's id: the start of its hash (never the key).
    pub id: String,
    pub org: String,
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; absent while the key is live.
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyInfo> for ApiKeyView {
    fn from(k: ApiKeyInfo) -> Self {
        Self { id: k.id, org: k.org.to_string(), label: k.label, created_at: k.created_at, revoked_at: k.revoked_at }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = ApiKeyList, description = "every key of the tenant, oldest first"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin manages API keys (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn list(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<ApiKeyList>, Problem> {
    let act = caller.act(Action::ManageApiKeys)?;
    Ok(Json(ApiKeyList { keys: p.list_api_keys(&act).await?.into_iter().map(Into::into).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// An org of the tenant.
    #[schema(value_type = String, example = "kou-mayor")]
    pub org: OrgId,
    /// What the key is for (1–100 characters).
    #[schema(example = "住民記録システム")]
    pub label: String,
    /// The duties (事務) it may file queries for; absent or empty: every duty 別表第二 gives the org.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub duties: Vec<DutyCode>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    /// The key: send it as `Authorization: Bearer …`. Shown once; only its hash is kept.
    pub key: String,
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = ApiKeyCreated, description = "created; the key is shown this once"),
        (status = 400, description = "a bad label, a duty 別表第二 does not give the org, or an invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin manages API keys (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no such org in the tenant", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn create(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), Problem> {
    let act = caller.act(Action::ManageApiKeys)?;
    let (key, id) = p.create_api_key(&act, &body.org, &body.label, &body.duties).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { id, key: key.to_string() })))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKeyView, description = "revoked; every server refuses it within seconds"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin manages API keys (`role-denied`)", content_type = "application/problem+json"),
        (status = 404, description = "no live key with this id in the tenant", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn revoke(State(p): State<Arc<Platform>>, caller: Caller, Path(id): Path<String>) -> Result<Json<ApiKeyView>, Problem> {
    let act = caller.act(Action::ManageApiKeys)?;
    Ok(Json(p.revoke_tenant_api_key(&act, &id).await?.into()))
}
