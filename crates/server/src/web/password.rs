//! Changing one's own password (パスワードの変更): `accounts::change_password`, which ends every
//! session of the account, this one too — so the person signs in again with the new password.

use super::layout::page;
use super::session::{PageSession, Refused, SESSION_COOKIE, set_cookie};
use crate::Platform;
use crate::accounts::AccountError;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::html;
use renkei_domain::account::{MIN_PASSWORD_CHARS, PasswordError};
use renkei_domain::policy::Action;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/password", get(form_page).post(change))
}

async fn form_page(s: PageSession) -> Result<Response, Refused> {
    s.permit(Action::ChangeOwnPassword)?;
    Ok(form(&s, StatusCode::OK, None))
}

fn form(s: &PageSession, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = s.csrf();
    let body = html! {
        @if let Some(error) = error { div.notice.error role="alert" { p { (error) } } }
        p { "パスワードを変更すると、この端末を含むすべてのサインインが終わります。新しいパスワードでサインインし直してください。" }
        form.stack method="post" action="/password" {
            input type="hidden" name="csrf" value=(csrf);
            // For password managers: whose password this is.
            input type="hidden" name="username" autocomplete="username" value=(s.session.account.name.as_str());
            div {
                label for="current" { "今のパスワード" }
                input #current type="password" name="current" autocomplete="current-password" required;
            }
            div {
                label for="new" { "新しいパスワード" span.hint { (MIN_PASSWORD_CHARS) "文字以上。アカウント名と同じものは使えません" } }
                input #new type="password" name="new" autocomplete="new-password" minlength=(MIN_PASSWORD_CHARS) required;
            }
            div {
                label for="again" { "新しいパスワード（確認）" }
                input #again type="password" name="again" autocomplete="new-password" required;
            }
            div { button type="submit" { "変更する" } }
        }
    };
    (status, page("パスワードの変更", Some((&s.session, &csrf)), body)).into_response()
}

#[derive(Deserialize)]
pub struct ChangeForm {
    csrf: String,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    again: Zeroizing<String>,
}

async fn change(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<ChangeForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    s.permit(Action::ChangeOwnPassword)?;
    if *f.new != *f.again {
        return Ok(form(&s, StatusCode::BAD_REQUEST, Some("新しいパスワードが確認欄と一致しません。")));
    }
    match p.change_password(&s.token, &f.current, &f.new).await {
        Ok(()) => {
            let mut resp = Redirect::to("/sign-in?changed=1").into_response();
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
            Ok(resp)
        }
        Err(AccountError::Refused) => Ok(form(&s, StatusCode::BAD_REQUEST, Some("今のパスワードが正しくありません。"))),
        Err(AccountError::Password(e)) => {
            let why = match e {
                PasswordError::TooShort => "新しいパスワードが短すぎます。",
                PasswordError::TooLong => "新しいパスワードが長すぎます。",
                PasswordError::IsTheName => "アカウント名と同じパスワードは使えません。",
            };
            Ok(form(&s, StatusCode::BAD_REQUEST, Some(why)))
        }
        Err(e) => Err(renkei_net::Problem::from(e).into()),
    }
}
