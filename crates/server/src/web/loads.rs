//! Bulk loading (一括登録) from a page: upload a CSV file of persons or provision copies (UTF-8 or
//! CP932), follow its progress bar while it loads, and read — or download for Excel, in UTF-8
//! with a BOM or in CP932 — the report of its bad lines. The load is `import`'s, as
//! `renkei import` and the JSON API run it; `loads` follows it.
//!
//! The CSRF token must come before the file in the form's body, so a forged upload is refused
//! before a byte of it is kept.

use super::layout::{moment, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use crate::import::{ImportOptions, Upload};
use crate::internal::IMPORT_BODY_LIMIT;
use crate::loads::{LoadJob, LoadState};
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use renkei_domain::OrgId;
use renkei_domain::bulk::{Encoding, FileKind};
use renkei_domain::policy::Action;
use renkei_net::{Problem, ProblemKind};
use std::sync::Arc;

/// Bad lines shown on the page; the downloadable report has them all.
const SHOWN: usize = 100;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/loads", get(form_page).post(upload).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT + 64 * 1024)))
        .route("/loads/{id}", get(load_page))
        .route("/loads/{id}/progress", get(progress))
        .route("/loads/{id}/report", get(report))
}

async fn form_page(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    form(&p, &s, StatusCode::OK, None).await
}

async fn form(p: &Platform, s: &PageSession, status: StatusCode, problem: Option<&Problem>) -> Result<Response, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::BulkLoad)?;
    let orgs = match act.org_or_all() {
        Some(own) => p.platform.orgs(Some(act.tenant)).await.map_err(Problem::from)?.into_iter().filter(|o| &o.id == own).collect(),
        None => p.platform.orgs(Some(act.tenant)).await.map_err(Problem::from)?,
    };
    let mine = p.loads.of(act.tenant, act.actor);
    let csrf = s.csrf();
    let body = html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        p { "照会対象者または副本をCSVファイルで一括登録します。ファイルの形式は「CSVファイルの形式」（docs/csv-layouts.md）のとおりです。不正な行が1行でもあれば、指定がない限り何も登録しません。" }
        form.stack method="post" action="/loads" enctype="multipart/form-data" data-progress="upload-progress" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="load-org" { "機関" }
                select #load-org name="org" required { @for o in &orgs { option value=(o.id.as_str()) { (o.name) "（" (o.id.as_str()) "）" } } }
            }
            fieldset {
                legend { "ファイルの内容" }
                div.check { input #kind-persons type="radio" name="kind" value="persons" checked; label for="kind-persons" { "照会対象者（宛名番号と個人番号）" } }
                div.check { input #kind-copies type="radio" name="kind" value="copies"; label for="kind-copies" { "副本（提供する特定個人情報）" } }
            }
            div {
                label for="load-encoding" { "文字コード" }
                select #load-encoding name="encoding" {
                    option value="auto" selected { "自動判定（UTF-8 または CP932）" }
                    option value="utf-8" { "UTF-8" }
                    option value="cp932" { "CP932（Shift_JIS）" }
                }
            }
            div.check {
                input #skip-bad type="checkbox" name="skip_bad" value="true";
                label for="skip-bad" { "不正な行を除いて登録する" span.hint { "指定しないと、不正な行が1行でもあれば何も登録しません" } }
            }
            div {
                label for="load-file" { "CSVファイル" span.hint { "64MB まで。それより大きいファイルは運用者が renkei import で登録します" } }
                input #load-file type="file" name="file" accept=".csv,text/csv" required;
            }
            div { button type="submit" { "登録を始める" } }
            div #upload-progress hidden { label for="upload-bar" { "送信中" } progress #upload-bar {} }
        }
        @if !mine.is_empty() {
            h2 { "最近の一括登録" }
            div.table-scroll { table {
                thead { tr { th scope="col" { "開始" } th scope="col" { "機関" } th scope="col" { "内容" } th scope="col" { "状況" } } }
                tbody { @for j in &mine { tr {
                    td { a href={ "/loads/" (j.id) } { (moment(j.started_at * 1000)) } }
                    td { (j.org.as_str()) }
                    td { (kind_name(j.kind)) }
                    td { (state_name(&j.state())) }
                } } }
            } }
        }
    };
    Ok((status, page("一括登録", Some((&s.session, &csrf)), body)).into_response())
}

fn kind_name(kind: &str) -> &'static str {
    if kind == FileKind::Persons.name() { "照会対象者" } else { "副本" }
}

fn state_name(state: &LoadState) -> &'static str {
    match state {
        LoadState::Running { .. } => "登録中",
        LoadState::Done { summary, .. } if summary.applied => "登録済み",
        LoadState::Done { .. } => "不正な行があり登録せず",
        LoadState::Failed { .. } => "失敗（登録なし）",
    }
}

/// The form's fields, read in order.
#[derive(Default)]
struct LoadForm {
    org: Option<String>,
    kind: Option<String>,
    encoding: Option<String>,
    skip_bad: bool,
}

async fn upload(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Refused> {
    s.permit(Action::BulkLoad)?;
    let bad = |why: &str| Problem::detailed(ProblemKind::InvalidBody, why.to_owned());
    let mut multipart = multipart.map_err(|_| bad("the form is not multipart/form-data"))?;
    let mut fields = LoadForm::default();
    let mut csrf_checked = false;
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(&p, &s).await,
            Err(_) => return Err(bad("the form could not be read").into()),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if !csrf_checked {
                return Err(super::session::forged().into());
            }
            let mut upload = Upload::new(IMPORT_BODY_LIMIT).map_err(|_| Problem::internal())?;
            let mut field = field;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if upload.write(&chunk).is_err() {
                            return too_large(&p, &s).await;
                        }
                    }
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(&p, &s).await,
                    Err(_) => return Err(bad("the file did not arrive whole").into()),
                }
            }
            file = Some(upload);
            continue;
        }
        let value = field.text().await.map_err(|_| bad("the form could not be read"))?;
        match name.as_str() {
            "csrf" => {
                s.check_csrf(&value)?;
                csrf_checked = true;
            }
            "org" => fields.org = Some(value),
            "kind" => fields.kind = Some(value),
            "encoding" => fields.encoding = Some(value),
            "skip_bad" => fields.skip_bad = value == "true",
            _ => {}
        }
    }
    if !csrf_checked {
        return Err(super::session::forged().into());
    }
    let caller = s.caller();
    let act = caller.act(Action::BulkLoad)?;
    let kind = match fields.kind.as_deref() {
        Some("persons") => FileKind::Persons,
        Some("copies") => FileKind::Copies,
        _ => return form(&p, &s, StatusCode::BAD_REQUEST, Some(&bad("kind is persons or copies"))).await,
    };
    let encoding = match fields.encoding.as_deref() {
        None | Some("auto") => None,
        Some(e) => match Encoding::parse(e) {
            Some(e) => Some(e),
            None => return form(&p, &s, StatusCode::BAD_REQUEST, Some(&bad("encoding is auto, utf-8 or cp932"))).await,
        },
    };
    let named = match fields.org.as_deref().map(OrgId::parse) {
        None => None,
        Some(Ok(org)) => Some(org),
        Some(Err(_)) => return Err(Problem::not_found().into()),
    };
    let org = act.org_in_tenant(&p, named).await?;
    let Some(upload) = file.filter(|f| !f.is_empty()) else {
        return form(&p, &s, StatusCode::BAD_REQUEST, Some(&Problem::detailed(ProblemKind::UnreadableFile, "the file is empty"))).await;
    };
    let total = upload.len();
    let input = upload.finish().map_err(|_| Problem::internal())?;
    let opts = ImportOptions { kind, encoding, skip_bad: fields.skip_bad, actor: act.actor.to_owned() };
    let job = p.start_load(act.tenant.clone(), org, act.actor, input, total, opts);
    Ok(Redirect::to(&format!("/loads/{}", job.id)).into_response())
}

async fn too_large(p: &Platform, s: &PageSession) -> Result<Response, Refused> {
    let problem = Problem::new(ProblemKind::BodyTooLarge).with_detail(format!(
        "at most {} MiB from a page; the operator loads bigger files with `renkei import`",
        IMPORT_BODY_LIMIT / (1024 * 1024)
    ));
    form(p, s, StatusCode::PAYLOAD_TOO_LARGE, Some(&problem)).await
}

/// The load `id`, if this person started it (another's, or one forgotten, is not found).
fn job_of(p: &Platform, s: &PageSession, id: &str) -> Result<Arc<LoadJob>, Refused> {
    let caller = s.caller();
    let act = caller.act(Action::BulkLoad)?;
    p.loads.get(id, act.tenant, act.actor).ok_or_else(|| Problem::not_found().into())
}

async fn load_page(State(p): State<Arc<Platform>>, s: PageSession, Path(id): Path<String>) -> Result<Response, Refused> {
    let job = job_of(&p, &s, &id)?;
    let state = job.state();
    let body: Markup = html! {
        dl.facts {
            dt { "開始" } dd { (moment(job.started_at * 1000)) }
            dt { "機関" } dd { (job.org.as_str()) }
            dt { "内容" } dd { (kind_name(job.kind)) }
            dt { "ファイルの大きさ" } dd { (job.total_bytes) "バイト" }
        }
        @match &state {
            LoadState::Running { bytes, lines } => {
                div #load-status data-poll={ "/loads/" (job.id) "/progress" } {
                    label for="load-bar" { "登録中です" }
                    progress #load-bar max=(job.total_bytes.max(1)) value=(bytes) { (percent(*bytes, job.total_bytes)) "%" }
                    p #load-lines aria-live="polite" { (lines) "行を読みました。" }
                }
                p { a href={ "/loads/" (job.id) } { "最新の状況を表示" } }
            }
            LoadState::Failed { detail, .. } => {
                div.notice.error role="alert" { p { (detail) } }
            }
            LoadState::Done { summary, bad_lines, truncated, .. } => {
                @if summary.applied {
                    div.notice.success role="status" {
                        p { "登録しました。" (summary.lines) "行のうち " (summary.stored) "件を登録、" (summary.unchanged) "件は登録済みでした。" }
                        @if summary.bad > 0 { p { "不正な " (summary.bad) "行は登録していません。" } }
                    }
                } @else {
                    div.notice.error role="alert" {
                        p { "不正な行が " (summary.bad) "行あったため、何も登録していません。修正して登録し直すか、「不正な行を除いて登録する」を指定してください。" }
                    }
                }
                p { "文字コード：" (summary.encoding) }
                @if !bad_lines.is_empty() {
                    h2 { "エラー一覧" }
                    p {
                        "Excel で開けるCSVファイルでダウンロードできます："
                        a href={ "/loads/" (job.id) "/report?encoding=utf-8" } download { "UTF-8（BOM付き）" }
                        "、"
                        a href={ "/loads/" (job.id) "/report?encoding=cp932" } download { "CP932（Shift_JIS）" }
                    }
                    @if *truncated { p.hint { "不正な行が多いため、一覧は最初の " (bad_lines.len()) "行までです。" } }
                    div.table-scroll { table #bad-lines {
                        caption { "不正な行" @if bad_lines.len() > SHOWN { "（最初の" (SHOWN) "行。すべてはダウンロードで）" } }
                        thead { tr { th scope="col" { "行番号" } th scope="col" { "列" } th scope="col" { "理由" } } }
                        tbody { @for b in bad_lines.iter().take(SHOWN) { tr {
                            td { (b.line) }
                            td { @if let Some(c) = b.column { (c) "列目" } @if let Some(n) = &b.column_name { "（" (n) "）" } }
                            td { (b.reason) }
                        } } }
                    } }
                }
            }
        }
        p { a href="/loads" { "一括登録に戻る" } }
    };
    Ok(page("一括登録の状況", Some((&s.session, &s.csrf())), body).into_response())
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

#[derive(serde::Serialize)]
struct Progress {
    bytes: u64,
    total: u64,
    lines: u64,
    done: bool,
}

/// The progress the page's script polls (JSON; nothing of the file).
async fn progress(State(p): State<Arc<Platform>>, s: PageSession, Path(id): Path<String>) -> Result<Response, Refused> {
    let job = job_of(&p, &s, &id)?;
    let (bytes, lines, done) = match job.state() {
        LoadState::Running { bytes, lines } => (bytes, lines, false),
        LoadState::Done { summary, .. } => (job.total_bytes, summary.lines, true),
        LoadState::Failed { .. } => (job.total_bytes, 0, true),
    };
    Ok(axum::Json(Progress { bytes, total: job.total_bytes, lines, done }).into_response())
}

#[derive(serde::Deserialize)]
struct ReportParams {
    encoding: Option<String>,
}

/// The error report as a file to download.
async fn report(
    State(p): State<Arc<Platform>>,
    s: PageSession,
    Path(id): Path<String>,
    Query(q): Query<ReportParams>,
) -> Result<Response, Refused> {
    let job = job_of(&p, &s, &id)?;
    let encoding = match q.encoding.as_deref().map(Encoding::parse) {
        None => Encoding::Utf8,
        Some(Some(e)) => e,
        Some(None) => return Err(Problem::detailed(ProblemKind::InvalidQuery, "encoding is utf-8 or cp932").into()),
    };
    let LoadState::Done { bad_lines, .. } = job.state() else { return Err(Problem::not_found().into()) };
    let (charset, suffix) = match encoding {
        Encoding::Utf8 => ("utf-8", "utf8"),
        Encoding::Cp932 => ("shift_jis", "cp932"),
    };
    let headers = [
        (header::CONTENT_TYPE, format!("text/csv; charset={charset}")),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"errors-{}-{suffix}.csv\"", job.id)),
    ];
    Ok((headers, crate::loads::report_csv(&bad_lines, encoding)).into_response())
}
