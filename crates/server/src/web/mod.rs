//! The web pages (画面) people use in a browser on the internal listener: server-rendered HTML in
//! Japanese (maud templates, checked when compiled, every value escaped), a stylesheet and a
//! little script served as files, never inline. Pages call the same service layer as the JSON
//! API (`accounts`, `filing`, `approvals` …), so no rule lives here: a page extracts, calls and
//! renders.
//!
//! Security of every page (`renkei_net::page::headers`): a Content-Security-Policy without `unsafe-inline` and
//! with `frame-ancestors 'none'`, `Cache-Control: no-store` (pages may show personal data), no
//! referrer, no MIME sniffing. The session travels in a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Strict, [`session`]); every form carries a CSRF token ([`session::Csrf`]).

pub mod admin;
pub mod audit;
pub mod inboxes;
pub mod layout;
pub mod loads;
pub mod marks;
pub mod password;
pub mod persons;
pub mod queries;
pub mod records;
pub mod session;
pub mod sign_in;
pub mod tenants;

use crate::Platform;
use axum::Router;
use std::sync::Arc;

/// The pages' routes, with their security headers.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .merge(sign_in::routes())
        .merge(queries::routes())
        .merge(persons::routes())
        .merge(password::routes())
        .merge(inboxes::routes())
        .merge(admin::routes())
        .merge(tenants::routes())
        .merge(records::routes())
        .merge(audit::routes())
        .merge(loads::routes())
        .merge(marks::routes())
        .merge(renkei_net::page::asset_routes())
        .layer(axum::middleware::map_response(renkei_net::page::headers))
}
