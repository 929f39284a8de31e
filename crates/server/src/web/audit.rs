//! The tenant's audit log on a page (tenant admins and auditors): its entries in order, a page
//! at a time, and a "verify" button that checks the hash chain against the signed checkpoints
//! (`Platform::verify_tenant_audit`, as `renkei audit verify` does) and shows the result.

use super::layout::{self, moment, page};
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::policy::Action;
use renkei_net::Problem;
use renkei_store::audit::{AuditChain, ChainCheck};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/audit", get(log)).route("/audit/verify", post(verify))
}

/// Entries on one page.
const PER_PAGE: u32 = 100;

#[derive(Deserialize)]
pub struct Place {
    #[serde(default)]
    after: u64,
}

async fn log(State(p): State<Arc<Platform>>, s: PageSession, Query(place): Query<Place>) -> Result<Response, Refused> {
    render(&p, &s, place.after, None).await
}

async fn verify(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<super::session::CsrfForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    s.permit(Action::ReadAuditLog)?;
    let person = SignedInPerson::new(s.session.clone(), s.token.clone());
    let check = p.verify_tenant_audit(&person).await?;
    render(&p, &s, 0, Some(check)).await
}

async fn render(p: &Platform, s: &PageSession, after: u64, check: Option<ChainCheck>) -> Result<Response, Refused> {
    s.permit(Action::ReadAuditLog)?;
    let tenant = s.session.account.tenant.clone().ok_or_else(|| Refused::from(layout::failure(renkei_net::Problem::not_found())))?;
    let after = after.min(i64::MAX as u64);
    let entries = p.platform.audit_entries(&AuditChain::Tenant(tenant), after, PER_PAGE).await.map_err(Problem::from)?;
    let next = (entries.len() == PER_PAGE as usize).then(|| entries.last().map(|e| e.entry.seq)).flatten();
    let csrf = s.csrf();
    let result: Option<Markup> = check.map(|c| match c {
        ChainCheck::Sound { .. } => html! {
            div.notice.success role="status" #verdict { p { "改ざんは見つかりませんでした。" } p.hint { (c.to_string()) } }
        },
        bad => html! {
            div.notice.error role="alert" #verdict { p { "改ざんが見つかりました。運用者に連絡してください。" } p.hint { (bad.to_string()) } }
        },
    });
    let body = html! {
        @if let Some(r) = result { (r) }
        form method="post" action="/audit/verify" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "監査ログを検証する" }
        }
        p { "検証では、各記録が直前の記録のハッシュを含んでいること（ハッシュチェーン）と、署名付きチェックポイントとの一致を確かめます。" }
        div.table-scroll { table {
            thead { tr { th scope="col" { "番号" } th scope="col" { "日時" } th scope="col" { "操作した人" } th scope="col" { "操作" } th scope="col" { "対象" } th scope="col" { "内容" } } }
            tbody { @for e in &entries { tr {
                td { (e.entry.seq) }
                td { (moment(e.entry.at * 1000)) }
                td { (e.entry.actor) @if !e.entry.role.is_empty() { "（" (e.entry.role) "）" } }
                td { (e.entry.action) }
                td { (e.entry.target) }
                td { (e.entry.detail) }
            } } }
        } }
        @if let Some(n) = next { p { a href={ "/audit?after=" (n) } { "次の" (PER_PAGE) "件" } } }
    };
    Ok(page("監査ログ", Some((&s.session, &csrf)), body).into_response())
}
