//! Signing in and out on the pages, and enrolling the second factor: the forms of
//! `accounts`' sign-in (name, password, the authenticator's code), its enrolment (a QR code to
//! scan, then the first code) and sign-out. The home page says who is signed in.

use super::layout::{self, page};
use super::session::{FORM_COOKIE, PageSession, Refused, SESSION_COOKIE, cookie, forged, set_cookie};
use crate::Platform;
use crate::accounts::AccountError;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use base64::Engine;
use maud::{Markup, PreEscaped, html};
use renkei_domain::policy::Action;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/totp", get(enrolment_page).post(enrol))
}

#[derive(Deserialize)]
pub struct SignInNotice {
    ended: Option<String>,
    signed_out: Option<String>,
    changed: Option<String>,
}

/// The sign-in form. Its CSRF token is made from a random value in a cookie of its own, set here
/// if the browser has none yet.
async fn sign_in_page(headers: HeaderMap, Query(notice): Query<SignInNotice>) -> Response {
    let notice = match (notice.ended.as_deref(), notice.signed_out.is_some()) {
        (Some("idle"), _) => Some("操作のない時間が続いたため、サインアウトしました。もう一度サインインしてください。"),
        (Some("expired"), _) => Some("サインインしてから長い時間がたったため、サインアウトしました。もう一度サインインしてください。"),
        (_, true) => Some("サインアウトしました。"),
        _ if notice.changed.is_some() => Some("パスワードを変更しました。新しいパスワードでサインインしてください。"),
        _ => None,
    };
    sign_in_form(&headers, StatusCode::OK, notice.map(|n| (n, false)))
}

fn sign_in_form(headers: &HeaderMap, status: StatusCode, notice: Option<(&str, bool)>) -> Response {
    let (secret, new) = match cookie(headers, FORM_COOKIE) {
        Some(s) => (s, false),
        None => (renkei_crypto::session::generate().0, true),
    };
    let csrf = renkei_crypto::session::csrf_token(&secret);
    let body = html! {
        @if let Some((text, error)) = notice {
            div.notice.error[error] role=(if error { "alert" } else { "status" }) { p { (text) } }
        }
        form.stack method="post" action="/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="name" { "アカウント名" }
                input #name type="text" name="name" autocomplete="username" required autofocus;
            }
            div {
                label for="password" { "パスワード" }
                input #password type="password" name="password" autocomplete="current-password" required;
            }
            div {
                label for="code" { "確認コード" span.hint { "認証アプリに表示される6桁の数字。まだ登録していない方は空欄のまま" } }
                input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6";
            }
            div { button type="submit" { "サインイン" } }
        }
    };
    let mut resp = (status, page("サインイン", None, body)).into_response();
    if new {
        resp.headers_mut().append(header::SET_COOKIE, set_cookie(FORM_COOKIE, Some(&secret)));
    }
    resp
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    name: String,
    password: Zeroizing<String>,
    #[serde(default)]
    code: String,
}

/// Signs in: a new session (and so a new cookie) each time; a refusal says the same whatever
/// was wrong, as the JSON API does.
async fn sign_in(State(p): State<Arc<Platform>>, headers: HeaderMap, Form(form): Form<SignInForm>) -> Response {
    let genuine = cookie(&headers, FORM_COOKIE).is_some_and(|s| renkei_crypto::session::csrf_matches(&s, &form.csrf));
    if !genuine {
        return forged();
    }
    let code = Some(form.code.trim()).filter(|c| !c.is_empty());
    match p.sign_in(&form.name, &form.password, code).await {
        Ok(signed) => {
            let to = if signed.enrol_only { "/totp" } else { "/" };
            let mut resp = Redirect::to(to).into_response();
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(&signed.token)));
            resp
        }
        Err(AccountError::Refused) => sign_in_form(
            &headers,
            StatusCode::UNAUTHORIZED,
            Some((
                "サインインできませんでした。アカウント名、パスワード、確認コードを確かめてください。何度も続けて誤ると、しばらくサインインできなくなります。",
                true,
            )),
        ),
        Err(AccountError::OverLimit(limit)) => sign_in_form(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some((
                &format!("同時に利用できる人数（{limit}人）に達しています。ほかの方がサインアウトしてから、もう一度お試しください。"),
                true,
            )),
        ),
        Err(e) => layout::failure(e.into()),
    }
}

async fn sign_out(State(p): State<Arc<Platform>>, s: PageSession, Form(form): Form<super::session::CsrfForm>) -> Result<Response, Refused> {
    s.check_csrf(&form.csrf)?;
    // Ended already is as good as ended now.
    let _ = p.sign_out(&s.token).await;
    let mut resp = Redirect::to("/sign-in?signed_out=1").into_response();
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
    Ok(resp)
}

/// The home page: who is signed in and what their role reaches.
async fn home(State(p): State<Arc<Platform>>, s: PageSession) -> Response {
    let csrf = s.csrf();
    let a = &s.session.account;
    // What each role works on first; the rest of a role's pages are linked from there.
    let work = if crate::sessions::permit(&s.session, Action::FileQuery).is_ok() {
        match super::queries::home_queries(&p, &s).await {
            Ok(m) => Some(m),
            Err(problem) => return layout::failure(problem),
        }
    } else {
        None
    };
    // Each of a role's other pages, if the role may take its act.
    let pages = [
        (Action::ManageStaff, "/admin", "団体の管理（職員・事務・APIキー）"),
        (Action::BulkLoad, "/loads", "一括登録（照会対象者・副本）"),
        (Action::MarkItems, "/marks", "提供の確認が必要な項目・提供しない項目"),
        (Action::ManageGaiji, "/gaiji", "外字の対応表"),
        (Action::ReadTenantStatus, "/tenants", "団体の状況"),
        (Action::ReadAuditLog, "/audit", "監査ログ"),
    ];
    let body = html! {
        p { (a.name.as_str()) " さん（" (layout::role_name(a.role)) "）としてサインインしています。" }
        ul.actions {
            @for (action, href, name) in pages {
                @if crate::sessions::permit(&s.session, action).is_ok() { li { a href=(href) { (name) } } }
            }
            li { a href="/password" { "パスワードの変更" } }
        }
        @if let Some(work) = work { (work) }
    };
    page("ホーム", Some((&s.session, &csrf)), body).into_response()
}

/// Enrolling the second factor: a secret to scan, sealed into the form until the first code
/// proves the person holds it.
async fn enrolment_page(State(p): State<Arc<Platform>>, s: PageSession) -> Result<Response, Refused> {
    enrolment(&p, &s, StatusCode::OK, None)
}

fn enrolment(p: &Platform, s: &PageSession, status: StatusCode, error: Option<&str>) -> Result<Response, Refused> {
    s.permit(Action::EnrollTotp)?;
    let e = match p.begin_enrolment(&s.session) {
        Ok(e) => e,
        Err(AccountError::AlreadyEnrolled) => return Ok(Redirect::to("/").into_response()),
        Err(e) => return Ok(layout::failure(e.into())),
    };
    let csrf = s.csrf();
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&e.sealed);
    let body: Markup = html! {
        @if let Some(text) = error {
            div.notice.error role="alert" { p { (text) } }
        }
        p { "サインインには、パスワードに加えて認証アプリの確認コードが必要です。認証アプリでこのQRコードを読み取り、表示された6桁の数字を入力してください。" }
        // The QR code is SVG the platform drew itself (renkei_crypto::totp), not input.
        div.qr role="img" aria-label="認証アプリに登録するためのQRコード" { (PreEscaped(e.qr_svg.as_str())) }
        details {
            summary { "QRコードを読み取れない場合" }
            p { "認証アプリに次の内容を入力してください。" }
            p.secret { (e.uri.as_str()) }
        }
        form.stack method="post" action="/totp" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="sealed" value=(sealed);
            div {
                label for="code" { "確認コード" span.hint { "認証アプリに表示される6桁の数字" } }
                input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus;
            }
            div { button type="submit" { "登録する" } }
        }
    };
    Ok((status, page("認証アプリの登録", Some((&s.session, &csrf)), body)).into_response())
}

#[derive(Deserialize)]
pub struct EnrolForm {
    csrf: String,
    sealed: String,
    code: String,
}

async fn enrol(State(p): State<Arc<Platform>>, s: PageSession, Form(form): Form<EnrolForm>) -> Result<Response, Refused> {
    s.check_csrf(&form.csrf)?;
    let Ok(sealed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(form.sealed.as_bytes()) else { return Ok(forged()) };
    Ok(match p.finish_enrolment(&s.token, &sealed, form.code.trim()).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(AccountError::Refused) => {
            return enrolment(
                &p,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("確認コードが違います。認証アプリに今表示されている数字を入力してください。"),
            );
        }
        Err(AccountError::AlreadyEnrolled) => Redirect::to("/").into_response(),
        Err(e) => layout::failure(e.into()),
    })
}
