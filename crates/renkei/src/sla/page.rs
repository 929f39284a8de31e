//! The monthly report (運用サービス実績報告書) as a page on the internal listener, for whoever may
//! read a tenant's SLA — its admin, its consortium's admin, the operator (`Action::ReadSla`):
//! `GET /tenants/{tenant}/report?month=YYYY-MM` (default: last month). Composed here, in the
//! binary, because it needs `server` (the person's session and the tenants they may reach) and
//! `ops` (the month measured and written), which do not know each other. The page is
//! `ops::report::html`, a document of its own with one inline style: its Content-Security-Policy
//! is the pages' with that style's hash in place of `'self'`, so nothing else inline runs.

use super::Contracts;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use renkei_crypto::datakey::MasterKey;
use renkei_domain::policy::Action;
use renkei_domain::sla::Month;
use renkei_net::{Problem, ProblemKind};
use renkei_server::Platform;
use renkei_server::web::layout::failure;
use renkei_server::web::session::PageSession;
use std::sync::Arc;

#[derive(Clone)]
struct Reports {
    platform: Arc<Platform>,
    master: Arc<MasterKey>,
    contracts: Arc<Contracts>,
}

#[derive(serde::Deserialize)]
struct MonthParam {
    month: Option<String>,
}

/// The report page's route, with the pages' security headers.
pub fn routes(platform: Arc<Platform>, master: Arc<MasterKey>, contracts: Arc<Contracts>) -> Router {
    Router::new()
        .route("/tenants/{tenant}/report", get(report))
        .with_state(Reports { platform, master, contracts })
        .layer(axum::middleware::map_response(renkei_net::page::headers))
        .layer(axum::middleware::map_response(style_csp))
}

/// The pages' policy, the report's inline style allowed by its hash (computed once).
fn csp() -> Option<&'static HeaderValue> {
    static CSP: std::sync::LazyLock<Option<HeaderValue>> = std::sync::LazyLock::new(|| {
        let hash = renkei_crypto::sha256_base64(renkei_ops::report::STYLE.as_bytes());
        HeaderValue::from_str(&renkei_net::page::CSP.replace("style-src 'self'", &format!("style-src 'sha256-{hash}'"))).ok()
    });
    CSP.as_ref()
}

async fn style_csp(mut resp: Response) -> Response {
    if let Some(v) = csp() {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v.clone());
    }
    resp
}

async fn report(State(r): State<Reports>, Path(tenant): Path<String>, Query(q): Query<MonthParam>, mut parts: Parts) -> Response {
    let s = match PageSession::from_request_parts(&mut parts, &r.platform).await {
        Ok(s) => s,
        Err(to_sign_in) => return to_sign_in,
    };
    match render(&r, &s, &tenant, q.month.as_deref()).await {
        Ok(page) => Html(page).into_response(),
        Err(p) => failure(p),
    }
}

async fn render(r: &Reports, s: &PageSession, tenant: &str, month: Option<&str>) -> Result<String, Problem> {
    let tenant = r.platform.tenant_for_act(&s.person(), Action::ReadSla, tenant).await?;
    let now = renkei_store::now_unix();
    let month = match month {
        Some(m) => Month::parse(m).ok_or_else(|| Problem::detailed(ProblemKind::InvalidQuery, "month is YYYY-MM"))?,
        None => super::last_month(now),
    };
    // Every section was checked when the file was read; a failure here is a bug.
    let contract = r.contracts.of(tenant.as_str()).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "the SLA contracts");
        Problem::internal()
    })?;
    let name = r.platform.platform.tenants().await?.into_iter().find(|t| t.id == tenant).map(|t| t.name).unwrap_or_default();
    let report = renkei_ops::sla::month_report(&r.platform.platform, &r.master, &tenant, month, &contract, now).await?;
    Ok(renkei_ops::report::html(&report, &name))
}
