//! The JSON API of people's own sessions: sign in, see who is signed in, enrol the second
//! factor, change the password, sign out. A person's requests carry their session token as a
//! bearer token (`rs_…`); what a role may do is `domain::policy`'s, asked through
//! [`SignedInPerson::permit`]. Handlers extract, call `server::accounts` and map.

use crate::Platform;
use crate::accounts::AccountError;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use renkei_domain::account::SessionEnd;
use renkei_domain::policy::{self, Action, Principal};
use renkei_domain::{AccountName, Role};
use renkei_net::{ApiJson, Problem, ProblemKind};
use renkei_store::accounts::Session;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use zeroize::Zeroizing;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/api/v1/session", post(sign_in).get(who_am_i).delete(sign_out))
        .route("/api/v1/session/totp", post(begin_enrolment))
        .route("/api/v1/session/totp/confirm", post(finish_enrolment))
        .route("/api/v1/session/password", post(change_password))
}

impl From<AccountError> for Problem {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Refused => Problem::detailed(ProblemKind::SignInRefused, e.to_string()),
            AccountError::Ended(end) => Problem::detailed(
                ProblemKind::SessionEnded,
                match end {
                    SessionEnd::Idle => "signed out after a time without use",
                    SessionEnd::Expired => "the session reached its longest lifetime",
                    SessionEnd::Revoked => "signed out, or the session was revoked",
                },
            ),
            AccountError::Password(p) => Problem::detailed(ProblemKind::WeakPassword, p.to_string()),
            AccountError::Placement(why) => Problem::detailed(ProblemKind::InvalidBody, why),
            AccountError::AlreadyEnrolled => Problem::detailed(ProblemKind::Conflict, e.to_string()),
            AccountError::OverLimit(_) => Problem::detailed(ProblemKind::SessionLimit, e.to_string()),
            AccountError::Store(s) => s.into(),
            AccountError::Crypto(c) => {
                tracing::error!(error = %c, "account cryptography failed");
                Problem::internal()
            }
        }
    }
}

/// A signed-in person, from the bearer session token.
pub struct SignedInPerson {
    pub session: Session,
    token: Zeroizing<String>,
}

impl FromRequestParts<Arc<Platform>> for SignedInPerson {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Platform>) -> Result<Self, Problem> {
        let token = crate::bearer(parts).ok_or_else(Problem::unauthorized)?;
        if !token.starts_with(renkei_crypto::session::PREFIX) {
            // A client system's key on a person's route: known, but not allowed (as
            // `domain::policy` says of every act here); anything else is no credential.
            return Err(match p.key_scope(&renkei_crypto::apikey::hash(token)).await? {
                Some(_) => Problem::detailed(ProblemKind::RoleDenied, "a client system may not do this; sign in as a person"),
                None => Problem::unauthorized(),
            });
        }
        let session = p.session(token).await?;
        Ok(Self { session, token: Zeroizing::new(token.to_owned()) })
    }
}

impl SignedInPerson {
    /// The person of a session found by its token another way (the pages' cookie).
    pub(crate) fn new(session: Session, token: Zeroizing<String>) -> Self {
        Self { session, token }
    }

    pub fn role(&self) -> Role {
        self.session.account.role
    }

    /// The person's tenant, once [`SignedInPerson::permit`] lets them take `action` (an act of
    /// tenant roles only, whose accounts all have a tenant).
    pub fn tenant_for(&self, action: Action) -> Result<renkei_domain::TenantId, Problem> {
        self.permit(action)?;
        self.session.account.tenant.clone().ok_or_else(|| Problem::detailed(ProblemKind::RoleDenied, "no tenant"))
    }

    /// Whether this person may take `action`: their role's (`domain::policy`), and, while they
    /// have no second factor, only enrolling one or signing out.
    pub fn permit(&self, action: Action) -> Result<(), Problem> {
        permit(&self.session, action)
    }
}

/// Whether the person of `session` may take `action`: their role's (`domain::policy`), and,
/// while they have no second factor, only enrolling one, reading their account or signing out.
/// The one check of a person's act, for the JSON API and the pages alike.
pub fn permit(session: &Session, action: Action) -> Result<(), Problem> {
    if session.enrol_only && !matches!(action, Action::EnrollTotp | Action::SignOut | Action::ReadOwnAccount) {
        return Err(Problem::detailed(ProblemKind::RoleDenied, "enrol a second factor first"));
    }
    let role = session.account.role;
    if policy::allows(Principal::Person(role), action) {
        Ok(())
    } else {
        Err(Problem::detailed(ProblemKind::RoleDenied, format!("a {} may not do this", role.code())))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub name: String,
    pub password: String,
    /// The authenticator app's 6-digit code; left out only by an account that has not enrolled
    /// one yet (its session may then only enrol one).
    pub code: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn(…)")
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionOpened {
    /// The session token: send it as `Authorization: Bearer …`. Shown once.
    pub token: String,
    /// Signed in by password alone: enrol a second factor (`POST /api/v1/session/totp`).
    pub enrol_only: bool,
}

#[utoipa::path(post, path = "/api/v1/session", request_body = SignIn, tag = "session",
    responses((status = 201, body = SessionOpened, description = "signed in"),
        (status = 400, description = "invalid body", content_type = "application/problem+json"),
        (status = 401, description = "refused (the same answer whatever was wrong)", content_type = "application/problem+json"),
        (status = 429, description = "as many of the tenant's people as its limit allows are signed in (`session-limit`)", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")))]
pub async fn sign_in(State(p): State<Arc<Platform>>, ApiJson(body): ApiJson<SignIn>) -> Result<(StatusCode, Json<SessionOpened>), Problem> {
    let SignIn { name, password, code } = body;
    let password = Zeroizing::new(password);
    let signed = p.sign_in(&name, &password, code.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(SessionOpened { token: signed.token.to_string(), enrol_only: signed.enrol_only })))
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    #[schema(value_type = String)]
    pub name: AccountName,
    #[schema(value_type = String)]
    pub role: Role,
    pub tenant: Option<String>,
    pub org: Option<String>,
    pub enrol_only: bool,
}

#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = WhoAmI, description = "the signed-in person"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "a client system's API key, not a session (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn who_am_i(person: SignedInPerson) -> Result<Json<WhoAmI>, Problem> {
    person.permit(Action::ReadOwnAccount)?;
    let a = &person.session.account;
    Ok(Json(WhoAmI {
        name: a.name.clone(),
        role: a.role,
        tenant: a.tenant.as_ref().map(|t| t.to_string()),
        org: a.org.as_ref().map(|o| o.to_string()),
        enrol_only: person.session.enrol_only,
    }))
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "signed out"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "a client system's API key, not a session (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn sign_out(State(p): State<Arc<Platform>>, person: SignedInPerson) -> Result<StatusCode, Problem> {
    person.permit(Action::SignOut)?;
    p.sign_out(&person.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentBegun {
    /// `otpauth://totp/…`: the secret, for an authenticator app. Shown to its owner only.
    pub otpauth_uri: String,
    /// The same as a QR code (SVG).
    pub qr_svg: String,
    /// The secret sealed by the platform: send it back with the first code.
    pub sealed: String,
}

#[utoipa::path(post, path = "/api/v1/session/totp", tag = "session",
    responses((status = 200, body = EnrolmentBegun, description = "a secret to enrol"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 409, description = "a second factor is enrolled already", content_type = "application/problem+json"),
        (status = 403, description = "a client system's API key, not a session (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn begin_enrolment(State(p): State<Arc<Platform>>, person: SignedInPerson) -> Result<Json<EnrolmentBegun>, Problem> {
    person.permit(Action::EnrollTotp)?;
    let e = p.begin_enrolment(&person.session)?;
    Ok(Json(EnrolmentBegun {
        otpauth_uri: e.uri.to_string(),
        qr_svg: e.qr_svg.to_string(),
        sealed: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&e.sealed),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEnrolment {
    pub sealed: String,
    pub code: String,
}

#[utoipa::path(post, path = "/api/v1/session/totp/confirm", request_body = ConfirmEnrolment, tag = "session",
    responses((status = 204, description = "enrolled; the session goes on in full"),
        (status = 400, description = "invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, it has ended, or the code is not right", content_type = "application/problem+json"),
        (status = 409, description = "a second factor is enrolled already", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json"),
        (status = 403, description = "a client system's API key, not a session (`role-denied`)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn finish_enrolment(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    ApiJson(body): ApiJson<ConfirmEnrolment>,
) -> Result<StatusCode, Problem> {
    person.permit(Action::EnrollTotp)?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body.sealed.as_bytes())
        .map_err(|_| Problem::detailed(ProblemKind::InvalidBody, "sealed is not what POST /api/v1/session/totp gave"))?;
    p.finish_enrolment(&person.token, &sealed, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current: String,
    pub new: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePassword(…)")
    }
}

#[utoipa::path(post, path = "/api/v1/session/password", request_body = ChangePassword, tag = "session",
    responses((status = 204, description = "changed; every session of the account has ended, this one too"),
        (status = 400, description = "the new password breaks a rule, or invalid body", content_type = "application/problem+json"),
        (status = 401, description = "no session, it has ended, or the current password is not right", content_type = "application/problem+json"),
        (status = 403, description = "a second factor must be enrolled first", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn change_password(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, Problem> {
    person.permit(Action::ChangeOwnPassword)?;
    let (current, new) = (Zeroizing::new(body.current), Zeroizing::new(body.new));
    p.change_password(&person.token, &current, &new).await?;
    Ok(StatusCode::NO_CONTENT)
}
