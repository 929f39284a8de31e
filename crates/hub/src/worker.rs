//! The hub's delivery worker: forwards admitted queries to providers and relays their answers
//! to requesters. Each step ends in a durable state change in the hub store (accepted →
//! relayed when the answer is relayed at once, else accepted → answered → relayed; or failed),
//! so a crash between steps only causes a retry, and receivers are idempotent by request id.

use crate::Hub;
use renkei_crypto::signing::{VerifyingKey, open_envelope};
use renkei_domain::wire::{HUB_SIGNER, MessageKind, RelayedAnswer, SealedAnswer, SignedEnvelope};
use renkei_net::backoff_millis;
use renkei_net::worker::Claimed;
use renkei_store::hub::HubQuery;
use renkei_store::{now_millis, now_unix};
use std::sync::Arc;
use std::time::Instant;

/// After this many failed attempts a step is given up and the query recorded as failed.
pub const MAX_ATTEMPTS: i64 = 40;

/// Steps in flight at once (per process). New steps are claimed as soon as a slot frees.
pub const MAX_IN_FLIGHT: usize = 256;

/// Runs until `shutdown` resolves.
pub async fn run(hub: Arc<Hub>, shutdown: impl std::future::Future<Output = ()>) {
    let lease_ms = hub.claim_lease.as_millis() as i64;
    let claim = |free: usize| {
        let hub = hub.clone();
        async move {
            match hub.store.claim_due(free, lease_ms).await {
                Ok(due) => Claimed { full: due.len() >= free, due },
                Err(e) => {
                    tracing::error!(error = %e, "hub worker cannot read its queue");
                    Claimed { due: Vec::new(), full: false }
                }
            }
        }
    };
    let deliver = |q: HubQuery| {
        let hub = hub.clone();
        async move { step(&hub, q).await }
    };
    renkei_net::worker::run(MAX_IN_FLIGHT, &hub.wake, shutdown, claim, deliver).await;
}

async fn step(hub: &Hub, mut q: HubQuery) {
    // A forwarded query's answer is relayed by the same task straight away (its row is held
    // for the lease meanwhile) and stored with the relay's outcome, in one transaction. Until
    // then it is `unstored`: if the hub stops before storing it, the forward is retried and the
    // provider, which answers a request id once, gives the same answer again. A relay that
    // cannot happen now stores the answer first and is retried from the queue like any step.
    let mut unstored = false;
    loop {
        // Which org's server this step goes to: its circuit breaker decides whether to try now.
        let dest = match q.state.as_str() {
            "accepted" => q.provider.clone(),
            "answered" => q.requester.clone(),
            _ => return,
        };
        if let Err(wait) = hub.breakers.permit(&dest, Instant::now()) {
            if unstored && !store_answer(hub, &q).await {
                return;
            }
            let later = now_millis() + wait.as_millis() as i64 + rand::random::<u16>() as i64 % 250;
            let _ = hub.store.postpone(&q.request_id, later).await;
            return;
        }
        let result = match q.state.as_str() {
            "accepted" => forward(hub, &q).await.map(Some),
            _ => relay(hub, &q).await.map(|()| None),
        };
        match &result {
            Err(Step::Unreachable(_)) => hub.breakers.failure(&dest, Instant::now()),
            _ => hub.breakers.success(&dest),
        }
        match result {
            Ok(Some(relayed)) => {
                q = HubQuery { state: "answered".into(), answer: Some(relayed), attempts: 0, ..q };
                unstored = true;
            }
            Ok(None) => {
                // Relayed: the answer (if not stored yet) and the end of the route in one step.
                let (from, answer, outcome) =
                    if unstored { ("accepted", q.answer.clone(), Some("answered")) } else { ("answered", None, None) };
                if let Err(e) = hub.store.advance(&q.request_id, from, "relayed", answer, outcome, 0).await {
                    // The requester has the answer; the route is retried and its receivers are
                    // idempotent.
                    tracing::warn!(request_id = %q.request_id, error = %e, "relayed, but the hub could not note it");
                }
                return;
            }
            Err(Step::Unreachable(reason) | Step::Refused(reason)) => {
                if unstored && !store_answer(hub, &q).await {
                    return;
                }
                if q.attempts + 1 >= MAX_ATTEMPTS {
                    tracing::warn!(request_id = %q.request_id, %reason, "giving up");
                    let _ = hub.store.advance(&q.request_id, &q.state, "failed", None, Some("failed"), 0).await;
                } else {
                    tracing::info!(request_id = %q.request_id, %reason, attempts = q.attempts + 1, "will retry");
                    let _ = hub.store.schedule_retry(&q.request_id, now_millis() + backoff_millis(q.attempts), &reason).await;
                }
                return;
            }
        }
    }
}

/// Stores the provider's answer of a query whose relay must wait: accepted → answered. False if
/// it could not be stored, or the query had moved on (another worker's retry got there first).
async fn store_answer(hub: &Hub, q: &HubQuery) -> bool {
    match hub.store.advance(&q.request_id, "accepted", "answered", q.answer.clone(), Some("answered"), 0).await {
        Ok(moved) => moved,
        Err(e) => {
            tracing::warn!(request_id = %q.request_id, error = %e, "cannot store the answer; the forward will be retried");
            false
        }
    }
}

/// Why a step failed: the server could not be reached or failed itself (counts against its
/// circuit breaker), or it answered and the answer was refused.
enum Step {
    Unreachable(String),
    Refused(String),
}

impl From<String> for Step {
    fn from(s: String) -> Self {
        Step::Refused(s)
    }
}

impl From<&str> for Step {
    fn from(s: &str) -> Self {
        Step::Refused(s.to_owned())
    }
}

async fn post(hub: &Hub, url: String, body: &str) -> Result<String, Step> {
    let resp = hub
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| Step::Unreachable(format!("cannot reach the server: {}", renkei_net::with_causes(&e))))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| Step::Unreachable(format!("reading the response failed: {e}")))?;
    if status.is_success() {
        Ok(text)
    } else if status.is_server_error() {
        Err(Step::Unreachable(format!("the server answered {status}")))
    } else {
        Err(Step::Refused(format!("the server answered {status}")))
    }
}

/// Sends the forward envelope to the provider and checks its signed, sealed answer; returns
/// the hub-signed relay envelope for the requester (not stored yet: see [`step`]).
async fn forward(hub: &Hub, q: &HubQuery) -> Result<String, Step> {
    let provider = hub.org(&q.provider).await.map_err(|e| e.to_string())?.ok_or("provider left the directory")?;
    let text = post(hub, format!("{}/net/v1/queries", provider.endpoint.trim_end_matches('/')), &q.forwarded).await?;
    let env: SignedEnvelope = serde_json::from_str(&text).map_err(|_| "the provider's answer is not an envelope".to_string())?;
    let key = VerifyingKey::from_base64(&provider.verify_key).map_err(|e| e.to_string())?;
    let sealed: SealedAnswer = open_envelope(&env, MessageKind::Answer, &key).map_err(|e| format!("provider answer rejected: {e}"))?;
    if env.signer != q.provider
        || sealed.request_id.as_str() != q.request_id
        || sealed.provider.as_str() != q.provider
        || sealed.requester.as_str() != q.requester
    {
        return Err("the provider's answer does not match the query".into());
    }
    let relayed = RelayedAnswer { answer: env, provider_verify_key: provider.verify_key, issued_at: now_unix() };
    let relayed = hub.signing.sign(HUB_SIGNER, MessageKind::RelayedAnswer, &relayed).map_err(|e| e.to_string())?;
    serde_json::to_string(&relayed).map_err(|e| Step::Refused(e.to_string()))
}

/// Delivers the relayed answer to the requester's server.
async fn relay(hub: &Hub, q: &HubQuery) -> Result<(), Step> {
    let requester = hub.org(&q.requester).await.map_err(|e| e.to_string())?.ok_or("requester left the directory")?;
    let body = q.answer.as_deref().ok_or("no answer stored")?;
    post(hub, format!("{}/net/v1/answers", requester.endpoint.trim_end_matches('/')), body).await?;
    Ok(())
}
