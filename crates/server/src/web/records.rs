//! 情報提供等記録 of the person's org (an auditor's: every org's of the tenant), a page at a
//! time, searchable by duty and by the other org: `internal::record_page`, as the JSON API reads
//! them. The search travels in the URL: codes of 別表第二 and org codes, never a person.

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::internal::{PageParams, record_page};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use renkei_domain::policy::Action;
use renkei_domain::{DutyCode, OrgId, RecordOutcome, Side};
use renkei_net::{Problem, ProblemKind};
use renkei_store::tenant::RecordFilter;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/records", get(records))
}

/// Records on one page.
const PER_PAGE: usize = 50;

#[derive(Deserialize)]
pub struct Search {
    duty: Option<String>,
    counterpart: Option<String>,
    after: Option<String>,
}

async fn records(State(p): State<Arc<Platform>>, s: PageSession, Query(q): Query<Search>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::ReadLinkageRecords)?;
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (duty, counterpart) = (given(&q.duty), given(&q.counterpart));
    let filter = (|| -> Result<RecordFilter, Problem> {
        let bad = |what: &str| Problem::detailed(ProblemKind::InvalidQuery, format!("{what} is not valid"));
        Ok(RecordFilter {
            duty: duty.as_deref().map(DutyCode::parse).transpose().map_err(|_| bad("the duty code"))?,
            counterpart: counterpart.as_deref().map(OrgId::parse).transpose().map_err(|_| bad("the org code"))?,
        })
    })();
    let found = match &filter {
        Ok(f) => record_page(&p, &act, f, PageParams { limit: Some(PER_PAGE), after: q.after.clone() }).await,
        Err(e) => Err(e.clone()),
    };
    let (status, rows, next, problem) = match found {
        Ok((rows, next)) => (StatusCode::OK, rows, next, None),
        Err(e) => (layout::status_of(&e), Vec::new(), None, Some(e)),
    };
    // Parsed codes only: their characters need no escaping in a URL.
    let next_url = match (&filter, next) {
        (Ok(f), Some(n)) => Some(format!(
            "/records?duty={}&counterpart={}&after={n}",
            f.duty.as_ref().map(DutyCode::as_str).unwrap_or_default(),
            f.counterpart.as_ref().map(OrgId::as_str).unwrap_or_default()
        )),
        _ => None,
    };
    let body = html! {
        @if let Some(problem) = &problem { (problem_notice(problem)) }
        form.search method="get" action="/records" {
            div {
                label for="duty" { "事務コード" span.hint { "例：D015" } }
                input #duty type="search" name="duty" value=(duty.as_deref().unwrap_or_default());
            }
            div {
                label for="counterpart" { "相手の機関コード" }
                input #counterpart type="search" name="counterpart" value=(counterpart.as_deref().unwrap_or_default());
            }
            div { button.secondary type="submit" { "検索" } }
        }
        @if rows.is_empty() { p { "該当する記録はありません。" } } @else {
            div.table-scroll { table {
                thead { tr {
                    th scope="col" { "番号" } th scope="col" { "日時" } th scope="col" { "立場" } th scope="col" { "相手の機関" }
                    th scope="col" { "事務" } th scope="col" { "項目" } th scope="col" { "結果" }
                } }
                tbody { @for r in &rows { tr {
                    td { (r.seq) }
                    td { (moment(r.at * 1000)) }
                    td { (match r.side { Side::Requester => "照会", Side::Provider => "提供" }) @if r.in_house { "（庁内連携）" } }
                    td { (r.counterpart_org.as_str()) }
                    td { (p.matrix.duty_name(&r.duty).unwrap_or(r.duty.as_str())) }
                    td { @for (i, item) in r.items.iter().enumerate() { @if i > 0 { "、" } (p.matrix.item_name(item).unwrap_or(item.as_str())) } }
                    td { (outcome_ja(r.outcome)) }
                } } }
            } }
        }
        @if let Some(url) = next_url { p { a href=(url) { "次の" (PER_PAGE) "件" } } }
    };
    Ok((status, page("情報提供等記録", Some((&s.session, &s.csrf())), body)).into_response())
}

fn outcome_ja(o: RecordOutcome) -> &'static str {
    match o {
        RecordOutcome::Found => "提供あり",
        RecordOutcome::NotRegistered => "該当者なし",
        RecordOutcome::NoCopy => "情報なし",
        RecordOutcome::Error => "エラー",
    }
}
