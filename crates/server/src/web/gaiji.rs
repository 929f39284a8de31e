//! The tenant admin's 外字 page: the mapping table uploaded as CSV (all or none, docs/gaiji.md)
//! and every 外字 the tenant's copies hold, unmapped first, by code point and count only.

use super::layout::{self, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use renkei_domain::policy::Action;
use renkei_net::Problem;
use std::sync::Arc;

const TABLE_LIMIT: usize = 256 * 1024;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/gaiji", get(gaiji_page).post(upload).layer(DefaultBodyLimit::max(TABLE_LIMIT + 16 * 1024)))
}

async fn gaiji_page(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    render(&p, &s, StatusCode::OK, None, None).await
}

async fn render(
    p: &Platform,
    s: &PageSession,
    status: StatusCode,
    problem: Option<&Problem>,
    done: Option<&str>,
) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::ManageGaiji)?;
    let report = crate::gaiji_api::report_of(p, act.tenant).await?;
    let csrf = s.csrf();
    let body = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if let Some(done) = done { div.notice.success role="status" { p { (done) } } }
        p { "団体が独自に定義した文字（外字）を、文字情報基盤の MJ文字図形名と代替文字に対応づけます。副本の文字はそのまま保存します。" }
        h2 { "副本の外字" }
        p { "副本 " (report.copies) "件を調べました。対応表の外字は " (report.mapped) "字です。" }
        @if report.found.is_empty() { p { "副本に外字はありません。" } } @else {
            div.table-scroll { table #gaiji {
                thead { tr { th scope="col" { "符号位置" } th scope="col" { "件数" } th scope="col" { "MJ文字図形名" } th scope="col" { "代替文字" } } }
                tbody { @for g in &report.found { tr {
                    td { (g.code_point) }
                    td { (g.count) }
                    td { @match &g.mj_name { Some(n) => (n), None => strong { "未対応" } } }
                    td { (g.fallback.as_deref().unwrap_or("—")) }
                } } }
            } }
        }
        h2 { "対応表を読み込む" }
        p { "1行に1字、" code { "code_point,mj_name,fallback" } "（例：U+E001,MJ012345,高）。読み込むと対応表全体を置き換えます。不正な行が1行でもあれば、何も変えません。" }
        form.stack method="post" action="/gaiji" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            div { label for="gaiji-file" { "CSVファイル" span.hint { "UTF-8、256KB まで" } } input #gaiji-file type="file" name="file" accept=".csv,text/csv" required; }
            div { button type="submit" { "読み込む" } }
        }
    };
    Ok((status, page("外字の対応表", Some((&s.session, &csrf)), body)).into_response())
}

async fn upload(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Refused> {
    // The role first: another role learns nothing of what it sent.
    s.permit(Action::ManageGaiji)?;
    let (_, file) = super::session::small_upload(&s, multipart).await?;
    let caller = s.caller();
    let act = caller.act(Action::ManageGaiji)?;
    match p.load_gaiji(act.tenant, file.as_deref().unwrap_or_default(), act.actor).await {
        Ok(n) => render(&p, &s, StatusCode::OK, None, Some(&format!("対応表を読み込みました（{n}字）。"))).await,
        Err(e) => {
            let problem = Problem::from(e);
            render(&p, &s, layout::status_of(&problem), Some(&problem), None).await
        }
    }
}
