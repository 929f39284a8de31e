//! The tenant's own table of permitted in-house uses (条例に基づく独自利用事務), which makes a query
//! between two of its orgs a same-office linkage (庁内連携) answered inside the platform
//! (`filing::file_in_house`). Its tenant admin gives it as a CSV in the layout of 別表第二
//! (`PUT /api/v1/in-house-uses`) and reads it back; each change is audited.

use crate::Platform;
use crate::caller::Caller;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use renkei_domain::policy::Action;
use renkei_net::{Problem, ProblemKind};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/api/v1/in-house-uses", get(read).put(set))
}

#[derive(Serialize, ToSchema)]
pub struct InHouseUses {
    /// The table as given (CSV, the layout of 別表第二); empty: none.
    pub csv: String,
    /// Its rows (requester type, duty, provider type, item).
    pub rows: usize,
}

#[utoipa::path(get, path = "/api/v1/in-house-uses", tag = "in-house",
    responses((status = 200, body = InHouseUses),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin sets it (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn read(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<InHouseUses>, Problem> {
    let act = caller.act(Action::SetInHouseUses)?;
    let csv = act.store(&p).await?.in_house_uses().await?.unwrap_or_default();
    let rows = if csv.is_empty() { 0 } else { renkei_domain::Matrix::from_csv("in-house uses", &csv).map(|m| m.rows().len()).unwrap_or(0) };
    Ok(Json(InHouseUses { csv, rows }))
}

#[utoipa::path(put, path = "/api/v1/in-house-uses", tag = "in-house",
    request_body(content = String, content_type = "text/csv", description = "The table, in the CSV layout of 別表第二 (UTF-8)"),
    responses((status = 200, body = InHouseUses, description = "replaced; queries it allows between the tenant's orgs are answered in-house from now on"),
        (status = 400, description = "not a table in the layout of 別表第二 (the line and rule named)", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin sets it (`role-denied`)", content_type = "application/problem+json"),
        (status = 413, description = "larger than 256 KiB", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn set(State(p): State<Arc<Platform>>, caller: Caller, body: axum::body::Bytes) -> Result<Json<InHouseUses>, Problem> {
    let act = caller.act(Action::SetInHouseUses)?;
    let csv = std::str::from_utf8(&body).map_err(|_| Problem::detailed(ProblemKind::UnreadableFile, "the table is not UTF-8"))?;
    let table =
        renkei_domain::Matrix::from_csv("in-house uses", csv).map_err(|e| Problem::detailed(ProblemKind::UnreadableFile, e.to_string()))?;
    act.store(&p).await?.set_in_house_uses(csv, act.actor).await?;
    p.in_house_uses.forget(act.tenant.as_str());
    let rows = table.rows().len();
    act.audit_always(&p, "in_house_uses.set", &format!("tenant:{}", act.tenant), &format!("{rows} rows")).await?;
    Ok(Json(InHouseUses { csv: csv.to_owned(), rows }))
}
