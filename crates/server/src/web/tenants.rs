//! The status of tenants (団体の状況): for the operator every tenant, for a tenant's admin their
//! own — its orgs and the people signed in against its limit (同時接続利用者数). Nothing of any
//! resident is on this page (the browser tests check the operator's every page for it).

use super::layout::page;
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use renkei_domain::policy::Action;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/tenants", get(tenants))
}

async fn tenants(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    s.permit(Action::ReadTenantStatus)?;
    let person = SignedInPerson::new(s.session.clone(), s.token.clone());
    let statuses = p.tenant_statuses(&person).await?;
    let now = renkei_store::now_unix();
    let body = html! {
        @if statuses.is_empty() { p { "表示できる団体はありません。" } }
        div.table-scroll { table {
            thead { tr { th scope="col" { "団体" } th scope="col" { "機関" } th scope="col" { "サインイン中の人数" } th scope="col" { "同時接続の上限" } } }
            tbody { @for t in &statuses {
                tr {
                    td { (t.tenant.name) "（" (t.tenant.id.as_str()) "）" }
                    td { @for (i, o) in t.orgs.iter().enumerate() { @if i > 0 { br; } (o.name) "（" (o.id.as_str()) "、" (o.org_type.as_str()) "）" } }
                    td { (t.sessions.signed_in) "人" }
                    td { @match t.sessions.limit { Some(l) => { (l.at(now)) "人" }, None => "なし" } }
                }
            } }
        } }
    };
    Ok(page("団体の状況", Some((&s.session, &s.csrf())), body).into_response())
}
