//! Registering a person (照会対象者) by their addressee number (宛名番号) and Individual Number:
//! `persons::register_as`, as the JSON API does it. The number goes in the form's body only and
//! is never shown again, not even when the form is refused.

use super::layout::{self, page, problem_notice};
use super::session::{PageSession, Refused};
use crate::Platform;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use renkei_domain::AddresseeNo;
use renkei_domain::policy::Action;
use renkei_net::{Problem, ProblemKind};
use renkei_store::tenant::Registration;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/persons/new", get(form_page).post(register)).route("/persons/lookup", axum::routing::post(look_up))
}

fn form(csrf: &str, problem: Option<&Problem>) -> Markup {
    html! {
        @if let Some(problem) = problem { (problem_notice(problem)) }
        h2 { "宛名番号で探す" }
        form.inline method="post" action="/persons/lookup" {
            input type="hidden" name="csrf" value=(csrf);
            div { label for="lookup" { "宛名番号" } input #lookup type="text" name="addressee_no" autocomplete="off" required; }
            div { button.secondary type="submit" { "探す" } }
        }
        h2 { "登録する" }
        p { "照会の対象となる方を、宛名番号と個人番号で登録します。個人番号は符号の取得にだけ使い、保存しません。" }
        form.stack method="post" action="/persons/new" {
            input type="hidden" name="csrf" value=(csrf);
            div {
                label for="addressee" { "宛名番号" }
                input #addressee type="text" name="addressee_no" autocomplete="off" required;
            }
            div {
                label for="number" { "個人番号" span.hint { "12桁の数字" } }
                input #number type="text" name="individual_number" inputmode="numeric" autocomplete="off" required;
            }
            div { button type="submit" { "登録する" } }
        }
    }
}

async fn form_page(s: PageSession) -> Result<Response, Refused> {
    s.permit(Action::RegisterPerson)?;
    Ok(page("照会対象者の登録", Some((&s.session, &s.csrf())), form(&s.csrf(), None)).into_response())
}

#[derive(Deserialize)]
pub struct LookUpForm {
    csrf: String,
    addressee_no: String,
}

/// Whether a person is registered in the staff member's org, by 宛名番号 in the form's body.
async fn look_up(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<LookUpForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::ReadPerson)?;
    let csrf = s.csrf();
    let Ok(addressee) = AddresseeNo::parse(f.addressee_no.trim()) else {
        let problem = Problem::detailed(ProblemKind::InvalidBody, "the addressee number is not valid");
        return Ok(
            (StatusCode::BAD_REQUEST, page("照会対象者の登録", Some((&s.session, &csrf)), form(&csrf, Some(&problem)))).into_response()
        );
    };
    let found = crate::persons::is_registered(&p, &act, &addressee).await?;
    let body = html! {
        @if found {
            div.notice.success role="status" { p #lookup-result { "宛名番号 " (addressee.as_str()) " の方は登録済みです。" } }
            p { a.button href="/queries/new" { "照会を作成する" } }
        } @else {
            div.notice role="status" { p #lookup-result { "宛名番号 " (addressee.as_str()) " の方はまだ登録されていません。下の欄で登録してください。" } }
        }
        (form(&csrf, None))
    };
    Ok(page("照会対象者の登録", Some((&s.session, &csrf)), body).into_response())
}

#[derive(Deserialize)]
pub struct RegisterForm {
    csrf: String,
    addressee_no: String,
    individual_number: Zeroizing<String>,
}

async fn register(State(p): State<Arc<Platform>>, s: PageSession, Form(f): Form<RegisterForm>) -> Result<Response, Refused> {
    s.check_csrf(&f.csrf)?;
    let caller = s.caller();
    let act = caller.act(Action::RegisterPerson)?;
    let outcome = match AddresseeNo::parse(f.addressee_no.trim()) {
        Ok(addressee) => crate::persons::register_as(&p, &act, &addressee, &f.individual_number).await.map(|r| (addressee, r)),
        Err(_) => Err(Problem::detailed(ProblemKind::InvalidBody, "the addressee number is not valid")),
    };
    let csrf = s.csrf();
    Ok(match outcome {
        Ok((addressee, status)) => {
            let said = match status {
                Registration::Created => "登録しました。",
                Registration::AlreadyRegistered => "すでに登録されています。",
            };
            let body = html! {
                div.notice.success role="status" { p { "宛名番号 " (addressee.as_str()) " の方を" (said) } }
                p { a.button href="/queries/new" { "照会を作成する" } " " a href="/persons/new" { "続けて登録する" } }
            };
            page("照会対象者の登録", Some((&s.session, &csrf)), body).into_response()
        }
        Err(problem) => {
            let status = layout::status_of(&problem);
            (status, page("照会対象者の登録", Some((&s.session, &csrf)), form(&csrf, Some(&problem)))).into_response()
        }
    })
}
