//! RFC 9457 problem details. Every error any renkei API answers is one of these, with a stable
//! `type` URI that clients can match on.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem response. `kind` becomes `type` = `urn:renkei:problem:<kind>`.
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
    pub fn new(status: StatusCode, kind: &str, title: &str) -> Self {
        Self {
            type_uri: format!("urn:renkei:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            extensions: serde_json::Map::new(),
        }
    }
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, "The request is not valid").with_detail(detail)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such resource")
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid credentials")
    }
    pub fn forbidden(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, "The request is not permitted").with_detail(detail)
    }
    pub fn conflict(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, "The request conflicts with the current state").with_detail(detail)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error; see the server log")
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Temporarily unavailable; retry later").with_detail(detail)
    }

    /// The fallback for unknown paths, so even a 404 is a problem document.
    pub async fn fallback_not_found() -> Problem {
        Problem::not_found()
    }
    pub async fn fallback_method() -> Problem {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed")
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
        JsonRejection::JsonDataError(e) => Problem::bad_request("invalid-body", without_values(&e.body_text())),
        JsonRejection::JsonSyntaxError(_) => Problem::bad_request("malformed-json", "the body is not valid JSON"),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be JSON (Content-Type: application/json)",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "The body exceeds the size limit")
        }
        other => Problem::bad_request("invalid-body", without_values(&other.body_text())),
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
    use super::without_values;

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
