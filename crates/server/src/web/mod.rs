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
pub mod gaiji;
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
pub mod status;
pub mod tenants;

use crate::Platform;
use crate::routes::RouteAct;
use axum::Router;
use renkei_domain::policy::Action;
use std::sync::Arc;

const fn r(method: &'static str, path: &'static str, action: Action) -> RouteAct {
    RouteAct { method, path, action }
}

/// Every page and form a signed-in person reaches, and the act it is: the pages' twin of
/// `routes::ROUTES`. `crates/renkei/tests/web.rs` calls each with every role and checks the
/// answer against `domain::policy` (refused exactly where the policy says no). Pages every
/// signed-in person has (home, password, enrolment, sign-out) are their own account's acts.
pub const PAGES: &[RouteAct] = &[
    r("GET", "/", Action::ReadOwnAccount),
    r("GET", "/password", Action::ChangeOwnPassword),
    r("POST", "/password", Action::ChangeOwnPassword),
    r("GET", "/queries/new", Action::FileQuery),
    r("POST", "/queries", Action::FileQuery),
    r("GET", "/queries/{id}", Action::ReadQueries),
    r("GET", "/persons/new", Action::RegisterPerson),
    r("POST", "/persons/new", Action::RegisterPerson),
    r("POST", "/persons/lookup", Action::ReadPerson),
    r("GET", "/records", Action::ReadLinkageRecords),
    r("GET", "/approvals", Action::DecideApproval),
    r("POST", "/approvals/{id}", Action::DecideApproval),
    r("GET", "/reviews", Action::ReviewManual),
    r("POST", "/reviews/{request_id}", Action::ReviewManual),
    r("GET", "/admin", Action::ManageStaff),
    r("POST", "/admin/accounts", Action::ManageStaff),
    r("POST", "/admin/accounts/{name}/duties", Action::AssignDuties),
    r("POST", "/admin/accounts/{name}/revoke-sessions", Action::ManageStaff),
    r("POST", "/admin/api-keys", Action::ManageApiKeys),
    r("POST", "/admin/api-keys/{id}/revoke", Action::ManageApiKeys),
    r("POST", "/admin/approval-policies", Action::SetApprovalPolicy),
    r("POST", "/admin/approval-policies/remove", Action::SetApprovalPolicy),
    r("GET", "/marks", Action::MarkItems),
    r("POST", "/marks", Action::MarkItems),
    r("POST", "/marks/csv", Action::MarkItems),
    r("GET", "/gaiji", Action::ManageGaiji),
    r("POST", "/gaiji", Action::ManageGaiji),
    r("GET", "/loads", Action::BulkLoad),
    r("POST", "/loads", Action::BulkLoad),
    r("GET", "/loads/{id}", Action::BulkLoad),
    r("GET", "/loads/{id}/progress", Action::BulkLoad),
    r("GET", "/loads/{id}/report", Action::BulkLoad),
    r("GET", "/audit", Action::ReadAuditLog),
    r("POST", "/audit/verify", Action::ReadAuditLog),
    r("GET", "/tenants", Action::ReadTenantStatus),
    // Composed by the binary (`renkei::sla::page`), which measures the month with `ops`.
    r("GET", "/tenants/{tenant}/report", Action::ReadSla),
    r("POST", "/tenants/{tenant}/session-limit", Action::SetSessionLimit),
    r("POST", "/tenants/{tenant}/session-limit/raise", Action::RaiseSessionLimit),
];

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
        .merge(status::routes())
        .merge(records::routes())
        .merge(audit::routes())
        .merge(loads::routes())
        .merge(marks::routes())
        .merge(gaiji::routes())
        .merge(renkei_net::page::asset_routes())
        .layer(axum::middleware::map_response(renkei_net::page::headers))
}
