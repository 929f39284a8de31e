//! `POST /api/v1/registry/unify`: a tenant admin makes one person registry of the tenant from
//! registrations kept per org and reads what contradicts it (`registry.rs`).

use crate::Platform;
use crate::caller::Caller;
use crate::registry::UnifyReport;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use renkei_domain::policy::Action;
use renkei_net::Problem;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/api/v1/registry/unify", post(unify))
}

#[utoipa::path(post, path = "/api/v1/registry/unify", tag = "persons",
    responses((status = 200, body = UnifyReport, description = "registrations added, and contradictions listed (left as they are)"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin unifies the registry (`role-denied`)", content_type = "application/problem+json"),
        (status = 502, description = "the hub did not give codes; what was added before stays, and a run again carries on", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn unify(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<UnifyReport>, Problem> {
    let act = caller.act(Action::UnifyRegistry)?;
    let report = p.unify_registry(act.tenant).await?;
    let detail = format!("checked={} added={} conflicts={}", report.checked, report.added, report.conflicts);
    act.audit_always(&p, "registry.unify", &format!("tenant:{}", act.tenant), &detail).await?;
    Ok(Json(report))
}
