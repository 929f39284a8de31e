//! The web pages (画面) people use in a browser on the internal listener: server-rendered HTML in
//! Japanese (maud templates, checked when compiled, every value escaped), a stylesheet and a
//! little script served as files, never inline. Pages call the same service layer as the JSON
//! API (`accounts`, `filing`, `approvals` …), so no rule lives here: a page extracts, calls and
//! renders.
//!
//! Security of every page ([`headers`]): a Content-Security-Policy without `unsafe-inline` and
//! with `frame-ancestors 'none'`, `Cache-Control: no-store` (pages may show personal data), no
//! referrer, no MIME sniffing. The session travels in a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Strict, [`session`]); every form carries a CSRF token ([`session::Csrf`]).

pub mod admin;
pub mod assets;
pub mod inboxes;
pub mod layout;
pub mod persons;
pub mod queries;
pub mod session;
pub mod sign_in;
pub mod tenants;

use crate::Platform;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use std::sync::Arc;

/// The pages' routes, with their security headers.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .merge(sign_in::routes())
        .merge(queries::routes())
        .merge(persons::routes())
        .merge(inboxes::routes())
        .merge(admin::routes())
        .merge(tenants::routes())
        .merge(assets::routes())
        .layer(axum::middleware::map_response(headers))
}

/// What every page and asset is sent with.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

async fn headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    // Assets say how long they may be kept; everything else is a page, which may show personal data.
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}
