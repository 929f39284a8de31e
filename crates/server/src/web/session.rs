//! A person's session as the pages carry it: the same server-side session as the JSON API's
//! bearer token (`accounts`), in a `__Host-` cookie the page's scripts cannot read
//! (`HttpOnly`), sent only over HTTPS to this host (`Secure`, `__Host-`, `Path=/`) and never on a
//! request another site starts (`SameSite=Strict`). Each sign-in gets a new token, so a session
//! id planted before it is worth nothing.
//!
//! Forms carry a CSRF token ([`renkei_crypto::session::csrf_token`]) of the session token, or,
//! before sign-in, of a random value in a cookie of its own ([`FORM_COOKIE`]).

use crate::Platform;
use crate::accounts::AccountError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_domain::account::SessionEnd;
use renkei_store::accounts::Session;
use std::sync::Arc;
use zeroize::Zeroizing;

pub use renkei_net::page::{FORM_COOKIE, cookie, set_cookie};

/// The session token's cookie.
pub const SESSION_COOKIE: &str = "__Host-renkei-session";

/// A signed-in person on a page. A request without a live session is sent to the sign-in page
/// (saying why, when the session ended by itself); one whose account has no second factor yet
/// may only enrol one.
pub struct PageSession {
    pub session: Session,
    pub token: Zeroizing<String>,
}

impl PageSession {
    /// The person as a caller of the service layer, whose `act` asks `domain::policy` as the
    /// JSON API's routes do.
    pub fn caller(&self) -> crate::caller::Caller {
        crate::caller::Caller::person(crate::sessions::SignedInPerson::new(self.session.clone(), self.token.clone()))
    }

    /// The person, as the service layer's checks take them.
    pub fn person(&self) -> crate::sessions::SignedInPerson {
        crate::sessions::SignedInPerson::new(self.session.clone(), self.token.clone())
    }

    /// The CSRF token this session's forms carry.
    pub fn csrf(&self) -> String {
        renkei_crypto::session::csrf_token(&self.token)
    }

    /// Whether this person may take `action` (`sessions::permit`, as the JSON API asks it); a
    /// refusal is a page, and a person without a second factor is sent to enrol one.
    pub fn permit(&self, action: renkei_domain::policy::Action) -> Result<(), Refused> {
        crate::sessions::permit(&self.session, action).map_err(|p| {
            Refused::from(if self.session.enrol_only { Redirect::to("/totp").into_response() } else { crate::web::layout::failure(p) })
        })
    }

    /// Whether a form's CSRF token is this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), Refused> {
        if renkei_crypto::session::csrf_matches(&self.token, presented) { Ok(()) } else { Err(forged().into()) }
    }
}

/// A page's answer when it does not do what was asked (a forged form, a role that may not, a
/// session to enrol first): a response of its own, which a handler returns with `?`.
pub struct Refused(Box<Response>);

impl From<Response> for Refused {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

/// A problem the service layer reported, as its page (`layout::failure`).
impl From<renkei_net::Problem> for Refused {
    fn from(p: renkei_net::Problem) -> Self {
        crate::web::layout::failure(p).into()
    }
}

/// A form that carries nothing but its CSRF token (sign-out, revoke, verify).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A form that did not come from this site's page (no or a wrong CSRF token): refused, nothing done.
pub fn forged() -> Response {
    (StatusCode::FORBIDDEN, crate::web::layout::bare("送信できませんでした", "画面を開き直してから、もう一度操作してください。"))
        .into_response()
}

impl FromRequestParts<Arc<Platform>> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Platform>) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_sign_in(None)) };
        match p.session(&token).await {
            Ok(session) => {
                let enrolling = parts.uri.path().starts_with("/totp") || parts.uri.path() == "/sign-out";
                if session.enrol_only && !enrolling {
                    return Err(Redirect::to("/totp").into_response());
                }
                Ok(Self { session, token })
            }
            Err(AccountError::Ended(end)) => Err(to_sign_in(Some(end))),
            Err(e) => Err(crate::web::layout::failure(e.into())),
        }
    }
}

/// The sign-in page, the session cookie cleared, saying why the session ended if it did by itself.
fn to_sign_in(end: Option<SessionEnd>) -> Response {
    let to = match end {
        Some(SessionEnd::Idle) => "/sign-in?ended=idle",
        Some(SessionEnd::Expired) => "/sign-in?ended=expired",
        Some(SessionEnd::Revoked) | None => "/sign-in",
    };
    let mut resp = Redirect::to(to).into_response();
    if end.is_some() {
        resp.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
    }
    resp
}

/// A small form with one file (`file`), read whole once its CSRF token, which must come first,
/// is this session's: its other fields by name, and the file. A forged form's file is not read.
pub async fn small_upload(
    s: &PageSession,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(std::collections::HashMap<String, String>, Option<axum::body::Bytes>), Refused> {
    let bad = |why: &str| Refused::from(renkei_net::Problem::detailed(renkei_net::ProblemKind::InvalidBody, why.to_owned()));
    let mut multipart = multipart.map_err(|_| bad("the form is not multipart/form-data"))?;
    let (mut csrf_checked, mut fields, mut file) = (false, std::collections::HashMap::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(|_| bad("the form could not be read, or the file is too large"))? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => {
                s.check_csrf(&field.text().await.map_err(|_| bad("the form could not be read"))?)?;
                csrf_checked = true;
            }
            "file" if csrf_checked => file = Some(field.bytes().await.map_err(|_| bad("the file is too large"))?),
            "file" => return Err(forged().into()),
            _ => {
                fields.insert(name, field.text().await.map_err(|_| bad("the form could not be read"))?);
            }
        }
    }
    if !csrf_checked {
        return Err(forged().into());
    }
    Ok((fields, file))
}
