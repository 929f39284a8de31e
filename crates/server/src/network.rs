//! The hub-facing API (mount behind mutual TLS). Only the hub talks here, and every message
//! must carry the hub's signature. Nothing of the internal API is reachable from this router.

use crate::Platform;
use crate::provision::Basis;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use renkei_crypto::signing::{VerifyingKey, open_envelope};
use renkei_domain::wire::{
    AnswerBody, DeliveryFailure, ForwardedQuery, HUB_SIGNER, MessageKind, RelayedAnswer, SealedAnswer, SignedEnvelope,
};
use renkei_net::{ApiJson, Problem, ProblemKind};
use renkei_store::now_unix;
use renkei_store::tenant::{Acceptance, AnswerBasis};
use std::sync::Arc;

pub fn router(p: Arc<Platform>) -> Router {
    Router::new()
        .route("/net/v1/queries", post(answer_query))
        .route("/net/v1/answers", post(receive_answer))
        .route("/net/v1/failures", post(receive_failure))
        .fallback(Problem::fallback_not_found)
        .method_not_allowed_fallback(Problem::fallback_method)
        .layer(DefaultBodyLimit::max(renkei_domain::copy::MAX_MESSAGE_BYTES))
        .with_state(p)
}

/// Opens a hub-signed message. Every refusal is logged with its reason: the hub sees only the
/// problem, and an operator of this server must be able to tell why it refused.
fn from_hub<T: serde::de::DeserializeOwned>(p: &Platform, env: &SignedEnvelope, kind: MessageKind) -> Result<T, Problem> {
    if env.signer != HUB_SIGNER {
        tracing::warn!(kind = kind.code(), "refused a message not signed by the hub");
        return Err(Problem::detailed(ProblemKind::NotHub, "only the hub may call this API"));
    }
    open_envelope(env, kind, &p.hub.key).map_err(|e| {
        tracing::warn!(kind = kind.code(), error = %e, "refused a message whose hub signature does not verify");
        Problem::detailed(ProblemKind::BadSignature, "the hub's signature does not verify")
    })
}

/// Refuses a hub message issued outside the freshness window, saying so in the log.
fn fresh(p: &Platform, kind: MessageKind, request_id: &renkei_domain::RequestId, issued_at: i64) -> Result<(), Problem> {
    let age = now_unix() - issued_at;
    if age.unsigned_abs() > p.hub.freshness.as_secs() {
        tracing::warn!(%request_id, kind = kind.code(), age_secs = age, window_secs = p.hub.freshness.as_secs(), "refused a hub message that is not fresh");
        return Err(Problem::detailed(ProblemKind::ReplayedRequest, "the message is not fresh (issued_at outside the accepted window)"));
    }
    Ok(())
}

/// 情報提供: answer a forwarded query automatically from provision copies valid on the
/// reference date (`server::provision`). At most one answer per request id: a retried forward
/// gets the stored answer. A query for an item marked manual is held for the provider's staff
/// and answered 202 (held) until they decide; the hub asks again.
async fn answer_query(State(p): State<Arc<Platform>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<Response, Problem> {
    let q: ForwardedQuery = from_hub(&p, &env, MessageKind::ForwardedQuery)?;
    let org = p.org(&q.provider).await?.ok_or_else(Problem::not_found)?;
    let store = p.tenant_store(&org.tenant).await?.ok_or_else(Problem::not_found)?;
    let basis = match store.answer_basis(&org.id, &q.request_id, &q.provider_code, &q.items, q.reference_date, false).await? {
        AnswerBasis::Answered(prior) => return envelope(&prior),
        AnswerBasis::Held => return Ok(held()),
        AnswerBasis::NotRegistered => Basis::NotRegistered,
        AnswerBasis::Copies { copies, marks } => Basis::Copies { copies, marks },
    };
    // A first forward must be fresh (the hub signs each attempt anew); a retry of an answered
    // or held one was served above.
    fresh(&p, MessageKind::ForwardedQuery, &q.request_id, q.issued_at)?;
    if let Basis::Copies { marks, .. } = &basis
        && renkei_domain::marks::needs_review(&q.items, marks)
    {
        let forwarded = serde_json::to_string(&q).map_err(|_| Problem::internal())?;
        store.hold_for_review(&org.id, &q.request_id, &forwarded).await?;
        tracing::info!(request_id = %q.request_id, provider = %org.id, "held for review (自動応答不可)");
        return Ok(held());
    }
    envelope(&p.provide(&org, &store, &q, basis, None).await?)
}

/// The answer to a forward held for review: 202, ask again later.
fn held() -> Response {
    (StatusCode::ACCEPTED, Json(serde_json::json!({"status": "held"}))).into_response()
}

fn envelope(kept: &str) -> Result<Response, Problem> {
    serde_json::from_str::<SignedEnvelope>(kept).map(|e| Json(e).into_response()).map_err(|_| Problem::internal())
}

/// Receives an answer relayed by the hub: verify the hub, verify the provider, open, store.
async fn receive_answer(State(p): State<Arc<Platform>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<StatusCode, Problem> {
    let relayed: RelayedAnswer = from_hub(&p, &env, MessageKind::RelayedAnswer)?;
    let provider_key = VerifyingKey::from_base64(&relayed.provider_verify_key)
        .map_err(|_| Problem::detailed(ProblemKind::InvalidMessage, "bad provider key"))?;
    let sealed: SealedAnswer = open_envelope(&relayed.answer, MessageKind::Answer, &provider_key)
        .map_err(|_| Problem::detailed(ProblemKind::BadSignature, "the provider's signature does not verify"))?;
    if relayed.answer.signer != sealed.provider.as_str() {
        return Err(Problem::detailed(ProblemKind::SignerMismatch, "the answer names another provider than its signer"));
    }
    let org = p.org(&sealed.requester).await?.ok_or_else(Problem::not_found)?;
    let store = p.tenant_store(&org.tenant).await?.ok_or_else(Problem::not_found)?;
    let plaintext = org
        .opening
        .open(&sealed.sealed, sealed.request_id.as_str().as_bytes())
        .map_err(|_| Problem::detailed(ProblemKind::Undecryptable, "the answer cannot be opened with the requester's key"))?;
    let body: AnswerBody =
        serde_json::from_slice(&plaintext).map_err(|_| Problem::detailed(ProblemKind::InvalidMessage, "the answer body is malformed"))?;
    if body.request_id != sealed.request_id {
        return Err(Problem::detailed(ProblemKind::AnswerMismatch, "the sealed answer is for another request"));
    }
    let value = serde_json::to_value(&body).map_err(|_| Problem::internal())?;
    // Found, matched to its query and stored in one transaction.
    match store.accept_answer(&sealed.request_id, &org.id, &sealed.provider, body.outcome, &value).await? {
        Acceptance::Stored | Acceptance::AlreadyAnswered => {}
        Acceptance::UnknownRequest => return Err(Problem::not_found()),
        Acceptance::Mismatch => return Err(Problem::detailed(ProblemKind::AnswerMismatch, "the answer does not belong to this query")),
        Acceptance::Ended => {
            // The query already ended (its deadline passed): the answer is acknowledged so the
            // hub stops relaying it, and dropped; the query and its record stay エラー.
            tracing::warn!(request_id = %sealed.request_id, "answer arrived after the query ended; dropped");
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    tracing::info!(request_id = %sealed.request_id, requester = %org.id, "answer received");
    Ok(StatusCode::NO_CONTENT)
}

/// The hub gave up delivering one of this server's queries: it ends in エラー with the hub's
/// reason, so staff see why instead of waiting for the deadline. Idempotent: a query already
/// ended is left as it is.
async fn receive_failure(State(p): State<Arc<Platform>>, ApiJson(env): ApiJson<SignedEnvelope>) -> Result<StatusCode, Problem> {
    let notice: DeliveryFailure = from_hub(&p, &env, MessageKind::DeliveryFailure)?;
    fresh(&p, MessageKind::DeliveryFailure, &notice.request_id, notice.issued_at)?;
    let org = p.org(&notice.requester).await?.ok_or_else(Problem::not_found)?;
    let store = p.tenant_store(&org.tenant).await?.ok_or_else(Problem::not_found)?;
    let reason: String = notice.reason.chars().take(1000).collect();
    match store.delivery_failed(&notice.request_id, &org.id, &notice.provider, &reason).await? {
        Acceptance::Stored => {
            tracing::warn!(request_id = %notice.request_id, requester = %org.id, %reason, "the hub could not deliver a query; it ended in エラー")
        }
        Acceptance::AlreadyAnswered | Acceptance::Ended => {}
        Acceptance::UnknownRequest => return Err(Problem::not_found()),
        Acceptance::Mismatch => return Err(Problem::detailed(ProblemKind::AnswerMismatch, "the notice does not belong to this query")),
    }
    Ok(StatusCode::NO_CONTENT)
}
