//! The status page (稼働状況, issue 17 §2): anyone on the network reads it without signing in,
//! as HTML or as JSON (`/status.json`) — the platform's state now, incidents open and of the
//! last 30 days, maintenance announced — naming only tenants that allowed it (`server::status`).
//! Each tenant's own state is on `/tenants` for those who may read it.

use super::layout::{moment, page};
use crate::Platform;
use crate::status::{IncidentLine, PublicStatus};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{Markup, html};
use renkei_net::Problem;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/status", get(status_page)).route("/status.json", get(status_json))
}

async fn status_json(State(p): State<Arc<Platform>>) -> Result<Json<PublicStatus>, Problem> {
    Ok(Json(p.public_status(renkei_store::now_unix()).await?))
}

async fn status_page(State(p): State<Arc<Platform>>) -> Result<Response, Problem> {
    let s = p.public_status(renkei_store::now_unix()).await?;
    let body = html! {
        div.notice.(if s.state == "operational" { "success" } else { "error" }) role="status" #state data-state=(s.state) {
            p { (s.state_ja) }
        }
        p.hint { (moment(s.at * 1000)) " 現在。SLA監視が利用者と同じ操作（サインイン画面、検索、更新、照会の往復）で確かめています。" }
        h2 { "発生中の障害" }
        (incidents("open", &s.open, "発生中の障害はありません。"))
        h2 { "計画保守" }
        @if s.maintenance.is_empty() { p { "予定されている計画保守はありません。" } }
        @else {
            ul #maintenance { @for m in &s.maintenance { li { (moment(m.starts_at * 1000)) " 〜 " (moment(m.ends_at * 1000)) "：" (m.note) } } }
        }
        h2 { "過去30日の障害" }
        (incidents("history", &s.history, "過去30日に障害はありません。"))
    };
    Ok(page("稼働状況", None, body).into_response())
}

fn incidents(id: &str, lines: &[IncidentLine], none: &str) -> Markup {
    html! {
        @if lines.is_empty() { p #(id) { (none) } }
        @else {
            div.table-scroll { table #(id) {
                thead { tr { th scope="col" { "対象" } th scope="col" { "確認項目" } th scope="col" { "発生" } th scope="col" { "復旧" } th scope="col" { "原因" } } }
                tbody { @for i in lines {
                    tr {
                        td { @if i.platform { "基盤全体" } @else if let Some(name) = &i.tenant { (name) } @else { "団体（非公開）" } }
                        td { (i.probe_ja) }
                        td { (moment(i.started_at * 1000)) }
                        td { @match i.recovered_at { Some(t) => (moment(t * 1000)), None => "対応中" } }
                        td { (i.cause.as_deref().unwrap_or("—")) }
                    }
                } }
            } }
        }
    }
}
