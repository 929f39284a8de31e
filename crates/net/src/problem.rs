//! RFC 9457 problem details. Every error any renkei API answers is one of these, with a stable
//! `type` URI that clients can match on.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Declares [`ProblemKind`]: every kind of problem, with its `type` slug, status and title.
macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $slug:literal, $status:ident, $title:literal;)*) => {
        /// Every kind of problem any renkei API answers: one list, with the `type` each is
        /// known by (`urn:renkei:problem:<slug>`), its HTTP status and title. The OpenAPI
        /// document lists them (`renkei_server::openapi`), so clients can match on `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ProblemKind {
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$variant),*];

            pub fn slug(self) -> &'static str {
                match self { $(ProblemKind::$variant => $slug,)* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ProblemKind::$variant => StatusCode::$status,)* }
            }

            pub fn title(self) -> &'static str {
                match self { $(ProblemKind::$variant => $title,)* }
            }

            /// When it is answered, as its doc comment says (empty if the title says it all).
            pub fn about(self) -> &'static str {
                match self { $(ProblemKind::$variant => concat!($($doc),*).trim_ascii(),)* }
            }

            /// Its `type` URI.
            pub fn uri(self) -> String {
                format!("urn:renkei:problem:{}", self.slug())
            }
        }
    };
}

kinds! {
    /// The JSON body has a missing, unknown or invalid field (named, never its value).
    InvalidBody = "invalid-body", BAD_REQUEST, "The request is not valid";
    MalformedJson = "malformed-json", BAD_REQUEST, "The request is not valid";
    /// Provision copy fields beyond the limits every hop can carry (`domain::copy`).
    InvalidFields = "invalid-fields", BAD_REQUEST, "The request is not valid";
    InvalidIndividualNumber = "invalid-individual-number", BAD_REQUEST, "The request is not valid";
    /// A query or its list parameters break a rule (named in the detail).
    InvalidQuery = "invalid-query", BAD_REQUEST, "The request is not valid";
    UnknownItem = "unknown-item", BAD_REQUEST, "The request is not valid";
    /// An uploaded file cannot be read as the layout it claims.
    UnreadableFile = "unreadable-file", BAD_REQUEST, "The request is not valid";
    /// A signed network message whose payload is not what its kind says.
    InvalidMessage = "invalid-message", BAD_REQUEST, "The request is not valid";
    /// A sealed answer that does not open with the requester's key.
    Undecryptable = "undecryptable", BAD_REQUEST, "The request is not valid";
    Unauthorized = "unauthorized", UNAUTHORIZED, "Missing or invalid credentials";
    /// A sign-in refused, whatever the reason (no enumeration of names).
    SignInRefused = "sign-in-refused", UNAUTHORIZED, "Sign-in refused";
    /// A session token that no longer stands (idle, expired, signed out, revoked).
    SessionEnded = "session-ended", UNAUTHORIZED, "The session has ended";
    /// The caller may not file for this duty (事務): not among its assigned ones.
    DutyNotAssigned = "duty-not-assigned", FORBIDDEN, "The request is not permitted";
    /// The caller's role may not take this act (`domain::policy`).
    RoleDenied = "role-denied", FORBIDDEN, "The request is not permitted";
    /// A sign-in beyond the tenant's limit of people signed in at once (同時接続利用者数).
    SessionLimit = "session-limit", TOO_MANY_REQUESTS, "Too many people are signed in";
    /// An approver deciding a query they filed themselves (電子決裁 needs a second person).
    OwnQuery = "own-query", FORBIDDEN, "The request is not permitted";
    /// A new password that breaks a rule (named in the detail).
    WeakPassword = "weak-password", BAD_REQUEST, "The request is not valid";
    /// A network message whose signature does not verify.
    BadSignature = "bad-signature", UNAUTHORIZED, "The signature does not verify";
    /// 別表第二 does not allow this requester, duty, provider and item.
    MatrixDenied = "matrix-denied", FORBIDDEN, "The request is not permitted";
    /// A message names another org than the one that signed it.
    SignerMismatch = "signer-mismatch", FORBIDDEN, "The request is not permitted";
    AnswerMismatch = "answer-mismatch", FORBIDDEN, "The request is not permitted";
    /// The signer is not in the hub's directory.
    UnknownOrg = "unknown-org", FORBIDDEN, "The request is not permitted";
    /// A network message not signed by the hub.
    NotHub = "not-hub", FORBIDDEN, "The request is not permitted";
    NotFound = "not-found", NOT_FOUND, "No such resource";
    MethodNotAllowed = "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    /// The request conflicts with what is stored (e.g. an idempotency key reused for another query).
    Conflict = "conflict", CONFLICT, "The request conflicts with the current state";
    /// A signed message outside the freshness window: a replay, or a clock too far off.
    ReplayedRequest = "replayed-request", CONFLICT, "The request conflicts with the current state";
    BodyTooLarge = "body-too-large", PAYLOAD_TOO_LARGE, "The body exceeds the size limit";
    UnsupportedMediaType = "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "The body must be JSON (Content-Type: application/json)";
    UnknownProvider = "unknown-provider", UNPROCESSABLE_ENTITY, "The provider org is not known";
    /// The addressee has no code for this org yet (register the person first).
    PersonNotRegistered = "person-not-registered", UNPROCESSABLE_ENTITY, "The person is not registered for this org";
    UnknownCode = "unknown-code", UNPROCESSABLE_ENTITY, "The requester's code is not one the hub issued to it";
    /// A bulk load with bad lines applied nothing (the lines are in `summary` and `bad_lines`).
    ImportRejected = "import-rejected", UNPROCESSABLE_ENTITY, "Bad lines: nothing was applied";
    /// A bug or a broken invariant; the server log says more. Never worth retrying as such.
    Internal = "internal", INTERNAL_SERVER_ERROR, "Internal error; see the server log";
    /// A load ended but its audit entry could not be written (the detail says whether it was applied).
    NotAudited = "not-audited", INTERNAL_SERVER_ERROR, "The load ended but could not be audited; see the server log";
    /// The hub could not be reached or refused a call made for this request.
    HubUnavailable = "hub-unavailable", BAD_GATEWAY, "The hub could not be reached or refused the request";
    /// The database cannot be reached now; nothing was applied, and the request can be retried.
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, "Temporarily unavailable; retry later";
    StorageFull = "storage-full", INSUFFICIENT_STORAGE, "The platform's storage is full; the request was not applied";
}

/// A problem response. Its `type` is `urn:renkei:problem:<slug>` of its [`ProblemKind`].
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// RFC 9457 extension members (e.g. the bad lines of a refused bulk load).
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(kind: ProblemKind) -> Self {
        Self {
            type_uri: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: None,
            extensions: serde_json::Map::new(),
        }
    }
    /// A problem of `kind` that says what was wrong (never repeating a personal field).
    pub fn detailed(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self::new(kind).with_detail(detail)
    }
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn not_found() -> Self {
        Self::new(ProblemKind::NotFound)
    }
    pub fn unauthorized() -> Self {
        Self::new(ProblemKind::Unauthorized)
    }
    pub fn internal() -> Self {
        Self::new(ProblemKind::Internal)
    }

    /// The fallback for unknown paths, so even a 404 is a problem document.
    pub async fn fallback_not_found() -> Problem {
        Problem::not_found()
    }
    pub async fn fallback_method() -> Problem {
        Problem::new(ProblemKind::MethodNotAllowed)
    }
}

/// A storage failure as the caller hears it. Only a database that cannot be reached now is
/// "retry later" (503); a full disk is 507; a bug, a panicked or lost worker, or data that does
/// not decode is 500, logged here with its cause, never shown.
impl From<renkei_store::StoreError> for Problem {
    fn from(e: renkei_store::StoreError) -> Self {
        use renkei_store::StoreError;
        match e {
            StoreError::Conflict(d) => Problem::detailed(ProblemKind::Conflict, d),
            StoreError::NotFound(_) => Problem::not_found(),
            e @ StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "storage unavailable");
                Problem::detailed(ProblemKind::Unavailable, "the database is unavailable; the request was not applied and can be retried")
            }
            e @ StoreError::Full(_) => {
                tracing::error!(error = %e, "storage full");
                Problem::new(ProblemKind::StorageFull)
            }
            e => {
                tracing::error!(error = %e, "store error");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the oversized body is never read, so the server drops the connection
            // after this answer; saying so keeps the client from reusing it for its next request.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// `axum::Json`, but a body that is too large, not JSON, or has unknown or invalid fields is
/// answered with a problem document instead of plain text.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(rejection_problem(rej)),
        }
    }
}

fn rejection_problem(rej: JsonRejection) -> Problem {
    match rej {
        JsonRejection::JsonDataError(e) => Problem::detailed(ProblemKind::InvalidBody, without_values(&e.body_text())),
        JsonRejection::JsonSyntaxError(_) => Problem::detailed(ProblemKind::MalformedJson, "the body is not valid JSON"),
        JsonRejection::MissingJsonContentType(_) => Problem::new(ProblemKind::UnsupportedMediaType),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(ProblemKind::BodyTooLarge),
        other => Problem::detailed(ProblemKind::InvalidBody, without_values(&other.body_text())),
    }
}

/// Whether a peer's error answer is final: a 4xx other than 408 (timeout) and 429 (too many
/// requests) says the message itself was refused, and sending it again gets the same answer.
/// 5xx, 408, 429 and transport errors are worth retrying.
pub fn is_permanent(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT && status != StatusCode::TOO_MANY_REQUESTS
}

/// `": <type>: <detail>"` of a peer's problem document, for a reason staff or operators read;
/// empty if the body is not one. The detail is cut to a few hundred characters.
pub fn summary(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Peer {
        #[serde(rename = "type")]
        type_uri: Option<String>,
        title: Option<String>,
        detail: Option<String>,
    }
    let Ok(p) = serde_json::from_str::<Peer>(body) else { return String::new() };
    let cut = |s: String| if s.chars().count() > 300 { format!("{}…", s.chars().take(300).collect::<String>()) } else { s };
    let mut out = String::new();
    for part in [p.type_uri, p.detail.or(p.title)].into_iter().flatten() {
        out.push_str(": ");
        out.push_str(&cut(part));
    }
    out
}

/// A deserializer's message without the values it quotes, so that an error never repeats a
/// personal field (a number sent as a JSON integer came back in the detail). serde quotes what
/// it found: strings in double quotes, everything else in backticks. Double-quoted spans are
/// dropped; backticked spans are kept only when they are names (field and variant names of the
/// schema, a letter then letters, digits, `_` or `-`), which is what "missing field `x`" and
/// "expected one of `a`, `b`" need. The path to the field, which the message starts with, names
/// keys and indexes only.
pub fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(['`', '"']) {
        let quote = rest[i..].chars().next().unwrap_or('`');
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(end) = after.find(quote) else {
            // An unclosed quote: whatever follows may be the value.
            rest = "";
            break;
        };
        let inner = &after[..end];
        let is_name = inner.len() <= 64
            && inner.starts_with(|c: char| c.is_ascii_alphabetic())
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if quote == '`' && is_name {
            out.push('`');
            out.push_str(inner);
            out.push('`');
        } else if out.ends_with(' ') {
            out.pop();
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{Problem, ProblemKind, without_values};
    use renkei_store::StoreError;

    #[test]
    fn a_full_disk_is_507_and_says_nothing_was_applied() {
        let p = Problem::from(StoreError::Full("no room".into()));
        assert_eq!(p.status, 507);
        assert!(p.title.contains("not applied"), "{}", p.title);
        // Where the disk is full is for the operator's log, not for a client system.
        assert_eq!(p.detail, None);
    }

    #[test]
    fn only_an_unreachable_database_is_worth_a_retry_a_bug_is_500() {
        let status = |e: StoreError| Problem::from(e).status;
        assert_eq!(status(StoreError::Unavailable("connection refused".into())), 503);
        for bug in [
            StoreError::Task("a database read panicked".into()),
            StoreError::Corrupt("bad tag".into()),
            StoreError::Database("syntax error".into()),
            StoreError::Duplicate("unique".into()),
            StoreError::SchemaTooNew { found: 9, known: 3 },
        ] {
            let p = Problem::from(bug.clone());
            assert_eq!((p.status, p.type_uri.as_str()), (500, "urn:renkei:problem:internal"), "{bug}");
            assert_eq!(p.detail, None, "the cause stays in the log: {bug}");
        }
    }

    #[test]
    fn every_kind_has_its_own_type_and_a_status_that_fits_it() {
        let mut slugs: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemKind::ALL.len(), "each slug names one kind");
        for k in ProblemKind::ALL {
            assert!(k.status().is_client_error() || k.status().is_server_error(), "{k:?}");
            assert!(k.slug().chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{k:?}");
        }
    }

    #[test]
    fn only_refusals_of_the_message_itself_are_permanent() {
        use axum::http::StatusCode;
        for (status, permanent) in
            [(400, true), (404, true), (409, true), (413, true), (422, true), (408, false), (429, false), (500, false), (503, false)]
        {
            assert_eq!(super::is_permanent(StatusCode::from_u16(status).unwrap()), permanent, "{status}");
        }
        let body = r#"{"type":"urn:renkei:problem:replayed-request","title":"t","status":409,"detail":"not fresh"}"#;
        assert_eq!(super::summary(body), ": urn:renkei:problem:replayed-request: not fresh");
        assert_eq!(super::summary("<html>"), "");
    }

    #[test]
    fn deserializer_messages_lose_the_values_they_quote() {
        let cases = [
            (
                "individual_number: invalid type: integer `123456789018`, expected a string at line 1 column 30",
                "individual_number: invalid type: integer, expected a string at line 1 column 30",
            ),
            ("name: invalid type: string \"山田 太郎\", expected u32", "name: invalid type: string, expected u32"),
            ("x: invalid value: floating point `1.5`, expected an integer", "x: invalid value: floating point, expected an integer"),
            ("unknown field `extra`, expected one of `duty`, `items`", "unknown field `extra`, expected one of `duty`, `items`"),
            ("missing field `duty`", "missing field `duty`"),
            ("state: unknown variant `123456789018`, expected `sent`", "state: unknown variant, expected `sent`"),
            ("a: unclosed `123456789018", "a: unclosed "),
        ];
        for (said, shown) in cases {
            assert_eq!(without_values(said), shown);
        }
    }
}
