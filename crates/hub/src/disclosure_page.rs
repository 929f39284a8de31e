//! The resident's disclosure page (情報提供等記録の開示) on the hub's resident listener: with
//! the token they were given (in production, after マイナポータル's sign-in; here by `renkei hub
//! resident-token`), a resident reads every linkage record about them — who asked whom, for
//! which duty and items, when, and what came of it — in plain Japanese. The token goes in a
//! form's body, never in a URL; the form carries a CSRF token made from a cookie of its own.

use crate::Hub;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_net::page::{FORM_COOKIE, cookie, frame, set_cookie};
use renkei_store::hub::{HubRecord, RouteOutcome};
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

const SERVICE: &str = "情報提供ネットワークシステム";
const TITLE: &str = "あなたの情報のやりとりの記録";

pub fn routes() -> Router<Arc<Hub>> {
    Router::new().route("/disclosure", get(form_page).post(show))
}

async fn form_page(headers: HeaderMap) -> Response {
    form(&headers, StatusCode::OK, None)
}

fn form(headers: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let (secret, new) = match cookie(headers, FORM_COOKIE) {
        Some(s) => (s, false),
        None => (renkei_crypto::session::generate().0, true),
    };
    let body = html! {
        @if let Some(text) = error { div.notice.error role="alert" { p { (text) } } }
        p { "行政機関どうしが、あなたの情報をいつ、どの事務のために、やりとりしたかを確かめられます。" }
        form.stack method="post" action="/disclosure" {
            input type="hidden" name="csrf" value=(renkei_crypto::session::csrf_token(&secret));
            div {
                label for="token" { "開示用の確認コード" span.hint { "本人確認のあとに受け取ったコード" } }
                input #token type="password" name="token" autocomplete="off" required autofocus;
            }
            div { button type="submit" { "記録を見る" } }
        }
    };
    let mut resp = (status, frame(SERVICE, TITLE, None, body)).into_response();
    if new {
        resp.headers_mut().append(header::SET_COOKIE, set_cookie(FORM_COOKIE, Some(&secret)));
    }
    resp
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    token: Zeroizing<String>,
}

async fn show(State(hub): State<Arc<Hub>>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    let genuine = cookie(&headers, FORM_COOKIE).is_some_and(|s| renkei_crypto::session::csrf_matches(&s, &f.csrf));
    if !genuine {
        return form(&headers, StatusCode::FORBIDDEN, Some("画面を開き直してから、もう一度お試しください。"));
    }
    let person = match hub.store.token_person(&renkei_crypto::apikey::hash(f.token.trim())).await {
        Ok(Some(p)) => p,
        Ok(None) => return form(&headers, StatusCode::UNAUTHORIZED, Some("確認コードが違うか、有効期限が切れています。")),
        Err(e) => return renkei_net::Problem::from(e).into_response(),
    };
    match hub.store.records_of_person(&person).await {
        Ok(records) => (StatusCode::OK, frame(SERVICE, TITLE, None, records_table(&hub, &records))).into_response(),
        Err(e) => renkei_net::Problem::from(e).into_response(),
    }
}

fn records_table(hub: &Hub, records: &[HubRecord]) -> Markup {
    html! {
        @if records.is_empty() {
            p { "あなたの情報がやりとりされた記録はありません。" }
        } @else {
            p { "記録は" (records.len()) "件です。古い順に表示しています。" }
            div.table-scroll { table {
                thead { tr {
                    th scope="col" { "日時" } th scope="col" { "照会した機関" } th scope="col" { "情報を提供した機関" }
                    th scope="col" { "事務" } th scope="col" { "情報の種類" } th scope="col" { "結果" }
                } }
                tbody { @for r in records { tr {
                    td { (renkei_domain::wareki::moment(r.at * 1000)) }
                    td { (r.requester.as_str()) }
                    td { (r.provider.as_str()) }
                    td { (hub.matrix.duty_name(&r.duty).unwrap_or(r.duty.as_str())) }
                    td { @for (i, item) in r.items.iter().enumerate() { @if i > 0 { "、" } (hub.matrix.item_name(item).unwrap_or(item.as_str())) } }
                    td { (match r.outcome {
                        RouteOutcome::InFlight => "照会中",
                        RouteOutcome::Answered => "提供されました",
                        RouteOutcome::Failed => "提供されませんでした",
                    }) }
                } } }
            } }
        }
    }
}
