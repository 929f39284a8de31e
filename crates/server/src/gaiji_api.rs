//! The tenant admin's 外字 over the JSON API: the mapping table replaced from CSV
//! (`PUT /api/v1/gaiji`) and the report of the 外字 the tenant's copies hold
//! (`GET /api/v1/gaiji`). The acts are `gaiji`'s, as `renkei gaiji` takes them.

use crate::Platform;
use crate::caller::Caller;
use crate::gaiji::GaijiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use renkei_domain::policy::Action;
use renkei_net::{Problem, ProblemKind};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/api/v1/gaiji", get(report).put(load))
}

impl From<GaijiError> for Problem {
    fn from(e: GaijiError) -> Self {
        match e {
            GaijiError::Table(t) => Problem::detailed(ProblemKind::UnreadableFile, t.to_string()),
            GaijiError::UnknownTenant(_) => crate::caller::gone("tenant"),
            GaijiError::Store(s) => s.into(),
        }
    }
}

/// A 外字 and how often the copies hold it.
#[derive(Serialize, ToSchema)]
pub struct GaijiCount {
    /// `U+E001`.
    pub code_point: String,
    pub count: u64,
    /// The MJ文字図形名, if the table maps it.
    pub mj_name: Option<String>,
    pub fallback: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GaijiReportView {
    /// 外字 the table maps.
    pub mapped: usize,
    /// Provision copies read.
    pub copies: u64,
    /// Every 外字 in the copies: unmapped ones first, then mapped, each by code point.
    pub found: Vec<GaijiCount>,
}

/// The report as the API and the page show it.
pub async fn report_of(p: &Platform, tenant: &renkei_domain::TenantId) -> Result<GaijiReportView, Problem> {
    let r = p.gaiji_report(tenant).await?;
    let table = &r.table;
    let code = |c: &char| format!("U+{:04X}", *c as u32);
    let mut found: Vec<GaijiCount> =
        r.unmapped.iter().map(|(c, n)| GaijiCount { code_point: code(c), count: *n, mj_name: None, fallback: None }).collect();
    found.extend(r.mapped.iter().map(|(c, n)| GaijiCount {
        code_point: code(c),
        count: *n,
        mj_name: table.get(c).map(|m| m.mj_name.clone()),
        fallback: table.get(c).map(|m| m.fallback.to_string()),
    }));
    Ok(GaijiReportView { mapped: table.len(), copies: r.copies, found })
}

#[utoipa::path(get, path = "/api/v1/gaiji", tag = "gaiji",
    responses((status = 200, body = GaijiReportView, description = "every 外字 in the tenant's copies, with counts; code points only"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn report(State(p): State<Arc<Platform>>, caller: Caller) -> Result<Json<GaijiReportView>, Problem> {
    let act = caller.act(Action::ManageGaiji)?;
    Ok(Json(report_of(&p, act.tenant).await?))
}

#[utoipa::path(put, path = "/api/v1/gaiji", tag = "gaiji",
    request_body(content = String, content_type = "text/csv", description = "`code_point,mj_name,fallback` (docs/gaiji.md), UTF-8"),
    responses((status = 200, body = GaijiReportView, description = "replaced; the report against the new table"),
        (status = 400, description = "a bad table: every bad line named, nothing changed", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "only a tenant admin (`role-denied`)", content_type = "application/problem+json"),
        (status = 413, description = "larger than 256 KiB", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn load(State(p): State<Arc<Platform>>, caller: Caller, body: axum::body::Bytes) -> Result<Json<GaijiReportView>, Problem> {
    let act = caller.act(Action::ManageGaiji)?;
    p.load_gaiji(act.tenant, &body, act.actor).await?;
    Ok(Json(report_of(&p, act.tenant).await?))
}
