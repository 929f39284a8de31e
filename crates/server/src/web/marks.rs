//! Marks on a provider's items (自動応答不可 and 不開示), for a tenant admin: an org's current
//! marks, one mark set by hand, or a CSV file of them (docs/csv-layouts.md) set all or none. The
//! acts are `reviews`' (`set_mark`, `set_marks_csv`, `marks`), as the JSON API takes them.

use super::layout::{self, moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::marks::ItemMark;
use renkei_domain::policy::Action;
use renkei_domain::{AddresseeNo, ItemCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use std::sync::Arc;

/// A marks file from a page: as the API's body limit.
const MARKS_FILE_LIMIT: usize = 256 * 1024;
/// Marks listed on the page.
const SHOWN: usize = 500;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/marks", get(marks_page).post(set_one))
        .route("/marks/csv", post(load_csv).layer(DefaultBodyLimit::max(MARKS_FILE_LIMIT + 16 * 1024)))
}

#[derive(serde::Deserialize)]
struct Shown {
    org: Option<String>,
    done: Option<usize>,
}

async fn marks_page(State(p): State<Arc<Platform>>, s: PageSession, Query(q): Query<Shown>) -> Result<Response, Refused> {
    let org = q.org.as_deref().and_then(|o| OrgId::parse(o).ok());
    let notice = q.done.map(|n| format!("{n}件の印を設定しました。"));
    render(&p, &s, org, StatusCode::OK, None, notice.as_deref()).await
}

fn mark_name(m: ItemMark) -> &'static str {
    match m {
        ItemMark::None => "印なし（自動で応答）",
        ItemMark::Manual => "自動応答不可（職員が確認して応答）",
        ItemMark::Withheld => "不開示（提供しない）",
    }
}

async fn render(
    p: &Platform,
    s: &PageSession,
    org: Option<OrgId>,
    status: StatusCode,
    problem: Option<&Problem>,
    done: Option<&str>,
) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::MarkItems)?;
    let orgs = p.platform.orgs(Some(act.tenant)).await.map_err(Problem::from)?;
    let org = org.or_else(|| act.org_or_all().cloned()).or_else(|| orgs.first().map(|o| o.id.clone()));
    let (org, marks) = match org {
        Some(org) => p.marks(&act, Some(org)).await?,
        None => return Err(Problem::not_found().into()),
    };
    let marked: Vec<_> = marks.iter().filter(|m| m.mark != ItemMark::None).collect();
    let csrf = s.csrf();
    let org_select = |id: &str| {
        html! {
            label for=(id) { "機関" }
            select id=(id) name="org" required {
                @for o in &orgs { option value=(o.id.as_str()) selected[o.id == org] { (o.name) "（" (o.id.as_str()) "）" } }
            }
        }
    };
    let body: Markup = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        @if let Some(done) = done { div.notice.success role="status" { p { (done) } } }
        p { "照会を受けた項目のうち、職員の確認が必要なもの（自動応答不可）と提供しないもの（不開示）に印を付けます。" }
        form.inline method="get" action="/marks" {
            div { (org_select("shown-org")) }
            div { button.secondary type="submit" { "表示する" } }
        }
        h2 { (org.as_str()) " の印" }
        @if marked.is_empty() { p { "印の付いた項目はありません。" } } @else {
            div.table-scroll { table #marks {
                @if marked.len() > SHOWN { caption { "最初の" (SHOWN) "件" } }
                thead { tr { th scope="col" { "宛名番号" } th scope="col" { "項目" } th scope="col" { "印" } th scope="col" { "設定" } } }
                tbody { @for m in marked.iter().take(SHOWN) { tr {
                    td { (m.addressee.as_str()) }
                    td { (p.matrix.item_name(&m.item).unwrap_or(m.item.as_str())) "（" (m.item.as_str()) "）" }
                    td { (mark_name(m.mark)) }
                    td { (m.set_by) "、" (moment(m.set_at)) }
                } } }
            } }
        }
        h2 { "印を設定する" }
        form.stack method="post" action="/marks" {
            input type="hidden" name="csrf" value=(csrf);
            div { (org_select("mark-org")) }
            div { label for="mark-addressee" { "宛名番号" } input #mark-addressee type="text" name="addressee_no" autocomplete="off" required; }
            div { label for="mark-item" { "項目コード" span.hint { "例：TAX" } } input #mark-item type="text" name="item" required; }
            div {
                label for="mark-mark" { "印" }
                select #mark-mark name="mark" { @for m in ItemMark::ALL { option value=(m.code()) { (mark_name(m)) } } }
            }
            div { button type="submit" { "設定する" } }
        }
        h2 { "CSVファイルで設定する" }
        p { "1行に1件、" code { "addressee_no,item,mark" } "（mark は none、manual、withheld）。不正な行が1行でもあれば、何も設定しません。" }
        form.stack method="post" action="/marks/csv" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            div { (org_select("csv-org")) }
            div { label for="marks-file" { "CSVファイル" span.hint { "UTF-8 または CP932、256KB まで" } } input #marks-file type="file" name="file" accept=".csv,text/csv" required; }
            div { button type="submit" { "読み込む" } }
        }
    };
    Ok((status, page("提供の確認が必要な項目・提供しない項目", Some((&s.session, &csrf)), body)).into_response())
}

#[derive(serde::Deserialize)]
struct OneMark {
    csrf: String,
    org: String,
    addressee_no: String,
    item: String,
    mark: String,
}

async fn set_one(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<OneMark>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::MarkItems)?;
    let bad = |what: &str| Problem::detailed(ProblemKind::InvalidBody, format!("{what} is not valid"));
    let org = OrgId::parse(f.org.trim()).map_err(|_| Problem::not_found())?;
    let parsed = (|| {
        let addressee = AddresseeNo::parse(f.addressee_no.trim()).map_err(|_| bad("the addressee number"))?;
        let item = ItemCode::parse(f.item.trim()).map_err(|_| bad("the item code"))?;
        let mark = ItemMark::ALL.into_iter().find(|m| m.code() == f.mark).ok_or_else(|| bad("the mark"))?;
        Ok::<_, Problem>((addressee, item, mark))
    })();
    let outcome = match parsed {
        Ok((addressee, item, mark)) => p.set_mark(&act, Some(org.clone()), &addressee, &item, mark).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok((org, _)) => Ok(Redirect::to(&format!("/marks?org={org}&done=1")).into_response()),
        Err(problem) => render(&p, &s, Some(org), layout::status_of(&problem), Some(&problem), None).await,
    }
}

async fn load_csv(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Refused> {
    // The role first: another role learns nothing of what it sent.
    s.permit(Action::MarkItems)?;
    let (fields, file) = super::session::small_upload(&s, multipart).await?;
    let org = fields.get("org").cloned();
    let caller = s.caller();
    let act = caller.act(Action::MarkItems)?;
    let org = OrgId::parse(org.as_deref().unwrap_or_default().trim()).map_err(|_| Problem::not_found())?;
    let outcome = p.set_marks_csv(&act, Some(org.clone()), file.as_deref().unwrap_or_default()).await;
    match outcome {
        Ok((org, n)) => Ok(Redirect::to(&format!("/marks?org={org}&done={n}")).into_response()),
        Err(problem) => render(&p, &s, Some(org), layout::status_of(&problem), Some(&problem), None).await,
    }
}
