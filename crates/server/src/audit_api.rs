//! The JSON API of a tenant's audit log, for its tenant admins and auditors: the entries with
//! their hashes, page by page, and the signed checkpoints with the key that verifies them, so
//! that a municipality can export its log and check it without trusting the operator.

use crate::Platform;
use crate::sessions::SignedInPerson;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use renkei_crypto::auditlog::CheckpointSigner;
use renkei_domain::policy::Action;
use renkei_net::Problem;
use renkei_store::audit::AuditChain;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Entries a page holds at most.
pub const MAX_PAGE: u32 = 1000;

pub fn routes() -> Router<Arc<Platform>> {
    Router::new().route("/api/v1/audit", get(entries)).route("/api/v1/audit/checkpoints", get(checkpoints))
}

/// The chain of the signed-in person's tenant.
fn chain_of(person: &SignedInPerson) -> Result<AuditChain, Problem> {
    Ok(AuditChain::Tenant(person.tenant_for(Action::ReadAuditLog)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Entries after this place in the chain (0: from the first).
    #[serde(default)]
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub after: u64,
    /// At most this many (1–1000, default 1000).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// Its place in the tenant's chain, from 1.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// SHA-256 (hex) of the entry and the hash before it (`renkei_crypto::auditlog`).
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// `after` for the next page, if there may be one.
    pub next_after: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(Page),
    responses((status = 200, body = AuditPage, description = "entries of the tenant's audit log, in order"),
        (status = 400, description = "invalid parameters", content_type = "application/problem+json"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not read the audit log", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn entries(
    State(p): State<Arc<Platform>>,
    person: SignedInPerson,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, Problem> {
    let chain = chain_of(&person)?;
    let page = crate::internal::params(page)?;
    let limit = page.limit.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(crate::internal::query_problem(format!("limit is 1–{MAX_PAGE}")));
    }
    // A chain's places are stored as 64-bit signed numbers.
    if i64::try_from(page.after).is_err() {
        return Err(crate::internal::query_problem("after is 0–9223372036854775807"));
    }
    let found = p.platform.audit_entries(&chain, page.after, limit).await?;
    let next_after = (found.len() == limit as usize).then(|| found.last().map(|e| e.entry.seq)).flatten();
    let entries = found
        .into_iter()
        .map(|e| AuditEntry {
            seq: e.entry.seq,
            at: e.entry.at,
            actor: e.entry.actor,
            role: e.entry.role,
            action: e.entry.action,
            target: e.entry.target,
            detail: e.entry.detail,
            hash: e.hash,
        })
        .collect();
    Ok(Json(AuditPage { entries, next_after }))
}

#[derive(Serialize, ToSchema)]
pub struct AuditCheckpoints {
    /// The key that verifies them (signed-note verifier key): pin it, and give it to
    /// `renkei audit verify --key`.
    pub verifier_key: String,
    /// Signed checkpoints (C2SP signed notes), oldest first; keep copies.
    pub checkpoints: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit",
    responses((status = 200, body = AuditCheckpoints, description = "the tenant's signed checkpoints"),
        (status = 401, description = "no session, or it has ended", content_type = "application/problem+json"),
        (status = 403, description = "the role may not read the audit log", content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn checkpoints(State(p): State<Arc<Platform>>, person: SignedInPerson) -> Result<Json<AuditCheckpoints>, Problem> {
    let chain = chain_of(&person)?;
    let signer = CheckpointSigner::from_master(&p.master).map_err(|e| {
        tracing::error!(error = %e, "cannot derive the audit checkpoint key");
        Problem::internal()
    })?;
    let checkpoints = p.platform.audit_checkpoints(&chain).await?;
    Ok(Json(AuditCheckpoints { verifier_key: signer.verifier().as_str().to_owned(), checkpoints }))
}
