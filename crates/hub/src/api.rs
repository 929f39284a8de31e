//! The hub's HTTP handlers. Each verifies before it trusts: the signer must be in the
//! directory, the signature must verify, the message must be fresh, the Matrix must allow it.

use crate::Hub;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_crypto::signing::{VerifyingKey, open_envelope, peek_payload};
use renkei_domain::wire::{
    Accepted, CodeRequest, CodeResponse, ForwardedQuery, HUB_SIGNER, MAX_CODES_PER_REQUEST, MAX_ITEMS_PER_QUERY, MessageKind, QueryRequest,
    SiblingCodeRequest, SiblingCodeResponse, SignedEnvelope,
};
use renkei_domain::{IndividualNumber, OrgId};
use renkei_net::{ApiJson, Problem, ProblemKind};
use renkei_store::hub::{Admission, DirectoryEntry};
use renkei_store::{StoreError, now_unix};
use serde::Serialize;
use std::sync::Arc;

/// The network router (mount behind mutual TLS).
pub fn network_router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/hub/v1/codes", post(codes))
        .route("/hub/v1/codes/siblings", post(sibling_codes))
        .route("/hub/v1/queries", post(queries))
        .route("/hub/v1/orgs/{id}", get(org_info))
        .route("/hub/v1/info", get(info))
        .fallback(Problem::fallback_not_found)
        .method_not_allowed_fallback(Problem::fallback_method)
        .layer(DefaultBodyLimit::max(renkei_domain::copy::MAX_MESSAGE_BYTES))
        .with_state(hub)
}

/// The resident router (TLS, no client certificate): disclosure of linkage records.
pub fn resident_router(hub: Arc<Hub>) -> Router {
    let pages = crate::disclosure_page::routes()
        .merge(renkei_net::page::asset_routes())
        .layer(axum::middleware::map_response(renkei_net::page::headers));
    Router::new()
        .route("/hub/v1/disclosure", get(disclosure))
        .route("/hub/v1/info", get(info))
        .merge(pages)
        .fallback(Problem::fallback_not_found)
        .method_not_allowed_fallback(Problem::fallback_method)
        .layer(DefaultBodyLimit::max(16 << 10))
        .with_state(hub)
}

/// Finds the signer in the directory, verifies the envelope and checks freshness.
async fn verified<T: serde::de::DeserializeOwned>(
    hub: &Hub,
    env: &SignedEnvelope,
    kind: MessageKind,
    issued_at: impl Fn(&T) -> i64,
) -> Result<(T, DirectoryEntry), Problem> {
    let entry = hub
        .org(&env.signer)
        .await?
        .ok_or_else(|| Problem::detailed(ProblemKind::UnknownOrg, "the signer is not in the hub's directory"))?;
    let key = VerifyingKey::from_base64(&entry.verify_key).map_err(|_| Problem::internal())?;
    let msg: T = open_envelope(env, kind, &key).map_err(|e| match e {
        renkei_crypto::CryptoError::BadPayload(d) => {
            Problem::detailed(ProblemKind::InvalidMessage, renkei_net::problem::without_values(&d))
        }
        _ => Problem::detailed(ProblemKind::BadSignature, "the signer's signature does not verify"),
    })?;
    if (now_unix() - issued_at(&msg)).unsigned_abs() > hub.freshness.as_secs() {
        tracing::warn!(signer = %env.signer, kind = kind.code(), "refused a message that is not fresh");
        return Err(Problem::detailed(ProblemKind::ReplayedRequest, "the message is not fresh (issued_at outside the accepted window)"));
    }
    Ok((msg, entry))
}

/// Sibling orgs one code request may name: a municipality's orgs, with room to spare.
pub const MAX_SIBLINGS: usize = 64;

async fn codes(State(hub): State<Arc<Hub>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<Json<CodeResponse>, Problem> {
    let (req, entry) = verified::<CodeRequest>(&hub, &env, MessageKind::CodeRequest, |m| m.issued_at).await?;
    if req.org != entry.id {
        return Err(Problem::detailed(ProblemKind::SignerMismatch, "the message names another org than its signer"));
    }
    if req.numbers.is_empty() || req.numbers.len() > MAX_CODES_PER_REQUEST {
        return Err(Problem::detailed(ProblemKind::InvalidMessage, format!("a code request carries 1–{MAX_CODES_PER_REQUEST} numbers")));
    }
    let mut keys = Vec::with_capacity(req.numbers.len());
    for (i, n) in req.numbers.iter().enumerate() {
        let n = IndividualNumber::parse(n)
            .map_err(|e| Problem::detailed(ProblemKind::InvalidIndividualNumber, format!("number #{}: {e}", i + 1)))?;
        keys.push(hub.secret.person_key(&n));
    }
    check_siblings(&hub, &entry, &req.siblings).await?;
    let codes = hub.store.codes_for(&req.org, keys.clone()).await?;
    let mut siblings = Vec::with_capacity(req.siblings.len());
    for sibling in &req.siblings {
        siblings.push(hub.store.codes_for(sibling, keys.clone()).await?);
    }
    // How many, never whose: the numbers and codes stay out of the log.
    tracing::info!(org = %req.org, count = codes.len(), siblings = siblings.len(), "codes given");
    Ok(Json(CodeResponse { codes, siblings }))
}

/// Siblings must be other orgs of the signer's municipality (its directory group), never
/// another's, and at most [`MAX_SIBLINGS`].
async fn check_siblings(hub: &Hub, signer: &DirectoryEntry, siblings: &[OrgId]) -> Result<(), Problem> {
    if siblings.len() > MAX_SIBLINGS {
        return Err(Problem::detailed(ProblemKind::InvalidMessage, format!("a code request names at most {MAX_SIBLINGS} siblings")));
    }
    for sibling in siblings {
        let same_group =
            hub.org(sibling.as_str()).await?.is_some_and(|s| !signer.group.is_empty() && s.group == signer.group && s.id != signer.id);
        if !same_group {
            tracing::warn!(signer = %signer.id, %sibling, "refused codes for an org outside the signer's municipality");
            return Err(Problem::detailed(ProblemKind::UnknownOrg, format!("{sibling} is not another org of the signer's municipality")));
        }
    }
    Ok(())
}

/// Siblings' codes for persons the signer knows by its codes: how a municipality's orgs that
/// registered persons one at a time come to share one person registry.
async fn sibling_codes(State(hub): State<Arc<Hub>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<Json<SiblingCodeResponse>, Problem> {
    let (req, entry) = verified::<SiblingCodeRequest>(&hub, &env, MessageKind::SiblingCodeRequest, |m| m.issued_at).await?;
    if req.org != entry.id {
        return Err(Problem::detailed(ProblemKind::SignerMismatch, "the message names another org than its signer"));
    }
    if req.codes.is_empty() || req.codes.len() > MAX_CODES_PER_REQUEST {
        return Err(Problem::detailed(
            ProblemKind::InvalidMessage,
            format!("a sibling code request carries 1–{MAX_CODES_PER_REQUEST} codes"),
        ));
    }
    if req.siblings.is_empty() {
        return Err(Problem::detailed(ProblemKind::InvalidMessage, "a sibling code request names at least one sibling"));
    }
    check_siblings(&hub, &entry, &req.siblings).await?;
    let siblings = hub.store.sibling_codes(&req.org, req.codes, req.siblings).await?;
    tracing::info!(org = %req.org, siblings = siblings.len(), "sibling codes given");
    Ok(Json(SiblingCodeResponse { siblings }))
}

/// The hub's idempotency basis for a query: everything but `issued_at`, which changes when the
/// requester re-signs a retry.
fn fingerprint(q: &QueryRequest) -> String {
    let mut q = q.clone();
    q.issued_at = 0;
    renkei_crypto::signing::sha256_hex(&serde_json::to_vec(&q).unwrap_or_default())
}

async fn queries(State(hub): State<Arc<Hub>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<(StatusCode, Json<Accepted>), Problem> {
    // Peek only to learn the requester; nothing is acted on before verification.
    let claimed: QueryRequest = peek_payload(&env).map_err(|e| Problem::detailed(ProblemKind::InvalidMessage, e.to_string()))?;
    if claimed.requester.as_str() != env.signer {
        return Err(Problem::detailed(ProblemKind::SignerMismatch, "the query names another requester than its signer"));
    }
    let (q, requester) = verified::<QueryRequest>(&hub, &env, MessageKind::Query, |m| m.issued_at).await?;
    if q.items.is_empty() || q.items.len() > MAX_ITEMS_PER_QUERY {
        return Err(Problem::detailed(ProblemKind::InvalidMessage, format!("a query asks for 1–{MAX_ITEMS_PER_QUERY} items")));
    }
    let provider = hub
        .org(q.provider.as_str())
        .await?
        .ok_or_else(|| Problem::detailed(ProblemKind::UnknownProvider, "the provider org is not in the directory"))?;
    // The same rule, and words, as the platform's check at filing.
    renkei_domain::query::check_allowed(&hub.matrix, &requester.org_type, &q.duty, &provider.org_type, &q.items)
        .map_err(|e| Problem::detailed(ProblemKind::MatrixDenied, e.to_string()))?;
    let items_json = serde_json::to_string(&q.items).map_err(|_| Problem::internal())?;
    let hub2 = hub.clone();
    let forward_for = q.clone();
    let requester_type = requester.org_type.clone();
    let seal_key = requester.seal_key.clone();
    let admission = hub
        .store
        .admit_query(
            q.request_id.as_str(),
            &q.requester,
            &q.provider,
            &fingerprint(&q),
            &q.requester_code,
            q.duty.as_str(),
            &items_json,
            move |provider_code| {
                let f = ForwardedQuery {
                    request_id: forward_for.request_id,
                    requester: forward_for.requester,
                    requester_type,
                    requester_seal_key: seal_key,
                    provider: forward_for.provider,
                    duty: forward_for.duty,
                    items: forward_for.items,
                    provider_code,
                    reference_date: forward_for.reference_date,
                    issued_at: now_unix(),
                };
                let env = hub2.signing.sign(HUB_SIGNER, MessageKind::ForwardedQuery, &f).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(serde_json::to_string(&env)?)
            },
        )
        .await?;
    match admission {
        Admission::Accepted => {
            hub.wake.notify_one();
            tracing::info!(request_id = %q.request_id, requester = %q.requester, provider = %q.provider, "query admitted");
            Ok((StatusCode::ACCEPTED, Json(Accepted { request_id: q.request_id })))
        }
        Admission::Duplicate => {
            tracing::info!(request_id = %q.request_id, "query delivered again; already admitted");
            Ok((StatusCode::ACCEPTED, Json(Accepted { request_id: q.request_id })))
        }
        Admission::Replayed => Err(Problem::detailed(ProblemKind::ReplayedRequest, "the request id was already used for another query")),
        Admission::UnknownCode => Err(Problem::new(ProblemKind::UnknownCode)),
    }
}

#[derive(Serialize)]
struct OrgInfo {
    id: OrgId,
    org_type: String,
    name: String,
}

/// Public directory facts about one org (no keys needed by callers).
async fn org_info(State(hub): State<Arc<Hub>>, axum::extract::Path(id): axum::extract::Path<String>) -> Result<Json<OrgInfo>, Problem> {
    let e = hub.org(&id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(OrgInfo { id: e.id, org_type: e.org_type.to_string(), name: e.name }))
}

#[derive(Serialize)]
struct Info {
    service: &'static str,
    /// The hub's Ed25519 verifying key, base64: servers verify forwarded queries with it.
    verify_key: String,
}

async fn info(State(hub): State<Arc<Hub>>) -> Json<Info> {
    Json(Info { service: "renkei hub", verify_key: hub.signing.verifying_key().to_base64() })
}

#[derive(Serialize)]
struct Disclosure {
    records: Vec<renkei_store::hub::HubRecord>,
}

/// 情報提供等記録開示: every hub record about the resident holding the bearer token.
async fn disclosure(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Result<Json<Disclosure>, Problem> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(Problem::unauthorized)?;
    let person = hub.store.token_person(&renkei_crypto::apikey::hash(token)).await?.ok_or_else(Problem::unauthorized)?;
    let records = hub.store.records_of_person(&person).await?;
    Ok(Json(Disclosure { records }))
}
