//! The one declaration of which act (`domain::policy::Action`) each route of the internal API
//! is; `domain::policy::allows` says which roles (and whether client systems) may take it. Each
//! handler asks `Caller::act` or `SignedInPerson::permit` for its route's act, and `crates/renkei/tests/roles.rs` calls every
//! route here with every role (and with another tenant's admin) and checks each answer against
//! this table, so a handler that asks for another act than declared fails that test.

use renkei_domain::policy::Action;

/// A route of the internal API and the act it is.
#[derive(Debug, Clone, Copy)]
pub struct RouteAct {
    pub method: &'static str,
    /// The path, with `{name}` where a parameter goes.
    pub path: &'static str,
    pub action: Action,
}

const fn r(method: &'static str, path: &'static str, action: Action) -> RouteAct {
    RouteAct { method, path, action }
}

/// Every route a person's session or a client system's API key may call.
pub const ROUTES: &[RouteAct] = &[
    r("POST", "/api/v1/persons", Action::RegisterPerson),
    r("POST", "/api/v1/persons/lookup", Action::ReadPerson),
    r("POST", "/api/v1/copies", Action::WriteCopies),
    r("POST", "/api/v1/queries", Action::FileQuery),
    r("GET", "/api/v1/queries", Action::ReadQueries),
    r("GET", "/api/v1/queries/{id}", Action::ReadQueries),
    r("GET", "/api/v1/records", Action::ReadLinkageRecords),
    r("POST", "/api/v1/imports/{kind}", Action::BulkLoad),
    r("GET", "/api/v1/session", Action::ReadOwnAccount),
    r("POST", "/api/v1/session/totp", Action::EnrollTotp),
    r("POST", "/api/v1/session/totp/confirm", Action::EnrollTotp),
    r("POST", "/api/v1/session/password", Action::ChangeOwnPassword),
    r("GET", "/api/v1/audit", Action::ReadAuditLog),
    r("GET", "/api/v1/audit/checkpoints", Action::ReadAuditLog),
    r("GET", "/api/v1/accounts", Action::ManageStaff),
    r("POST", "/api/v1/accounts", Action::ManageStaff),
    r("POST", "/api/v1/accounts/{name}/revoke-sessions", Action::ManageStaff),
    r("PUT", "/api/v1/accounts/{name}/duties", Action::AssignDuties),
    r("GET", "/api/v1/approval-policies", Action::SetApprovalPolicy),
    r("PUT", "/api/v1/approval-policies/{org}/{duty}", Action::SetApprovalPolicy),
    r("DELETE", "/api/v1/approval-policies/{org}/{duty}", Action::SetApprovalPolicy),
    r("GET", "/api/v1/approvals", Action::DecideApproval),
    r("POST", "/api/v1/approvals/{id}", Action::DecideApproval),
    r("GET", "/api/v1/tenants/{tenant}/session-limit", Action::ReadTenantStatus),
    r("PUT", "/api/v1/tenants/{tenant}/session-limit", Action::SetSessionLimit),
    r("POST", "/api/v1/tenants/{tenant}/session-limit/raise", Action::RaiseSessionLimit),
    r("GET", "/api/v1/marks", Action::MarkItems),
    r("PUT", "/api/v1/marks", Action::MarkItems),
    r("POST", "/api/v1/marks/csv", Action::MarkItems),
    r("GET", "/api/v1/reviews", Action::ReviewManual),
    r("POST", "/api/v1/reviews/{request_id}", Action::ReviewManual),
    r("GET", "/api/v1/in-house-uses", Action::SetInHouseUses),
    r("PUT", "/api/v1/in-house-uses", Action::SetInHouseUses),
    r("GET", "/api/v1/gaiji", Action::ManageGaiji),
    r("PUT", "/api/v1/gaiji", Action::ManageGaiji),
    r("POST", "/api/v1/registry/unify", Action::UnifyRegistry),
    r("GET", "/api/v1/api-keys", Action::ManageApiKeys),
    r("POST", "/api/v1/api-keys", Action::ManageApiKeys),
    r("DELETE", "/api/v1/api-keys/{id}", Action::ManageApiKeys),
    r("DELETE", "/api/v1/session", Action::SignOut),
];
