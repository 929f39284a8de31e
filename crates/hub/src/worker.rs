//! The hub's delivery worker: forwards admitted queries to providers and relays their answers
//! to requesters. Each step ends in a durable state change in the hub store (accepted →
//! relayed when the answer is relayed at once, else accepted → answered → relayed; a forward
//! given up: accepted → undeliverable → failed once the requester was told; or failed), so a
//! crash between steps only causes a retry, and receivers are idempotent by request id.
//!
//! Only 5xx, 408, 429 and transport errors are retried; any other refusal is permanent and ends
//! the step at once with the peer's problem type and detail as the reason.

use crate::Hub;
use renkei_crypto::signing::{VerifyingKey, open_envelope, peek_payload};
use renkei_domain::wire::{DeliveryFailure, ForwardedQuery, HUB_SIGNER, MessageKind, RelayedAnswer, SealedAnswer, SignedEnvelope};
use renkei_net::backoff_millis;
use renkei_net::worker::Claimed;
use renkei_store::hub::{HubQuery, RouteOutcome, RouteState};
use renkei_store::{now_millis, now_unix};
use std::sync::Arc;
use std::time::Instant;

/// After this many failed attempts a step is given up and the query recorded as failed.
pub const MAX_ATTEMPTS: i64 = 40;

/// How often the hub asks again for the answer to a forward the provider holds for its staff
/// (自動応答不可): a person decides, so seconds matter little and each ask is one small request.
pub const HELD_POLL_MS: i64 = 5_000;

/// How long after admission the hub keeps asking for a held answer before it gives up: the
/// longest query deadline a requester would set.
pub const MAX_HELD_SECS: i64 = 7 * 24 * 60 * 60;

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

/// What a route's next step does, by its state.
enum Next {
    /// Accepted: send the query to the provider.
    Forward,
    /// Answered: relay the answer to the requester.
    Relay,
    /// Undeliverable: tell the requester why the query ends.
    TellRequester,
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
        let (dest, step) = match q.state {
            RouteState::Accepted => (q.provider.clone(), Next::Forward),
            RouteState::Answered => (q.requester.clone(), Next::Relay),
            RouteState::Undeliverable => (q.requester.clone(), Next::TellRequester),
            RouteState::Relayed | RouteState::Failed => return,
        };
        if let Err(wait) = hub.breakers.permit(dest.as_str(), Instant::now()) {
            if unstored && !store_answer(hub, &q).await {
                return;
            }
            let later = now_millis() + wait.as_millis() as i64 + rand::random::<u16>() as i64 % 250;
            if let Err(e) = hub.store.postpone(q.request_id.as_str(), later).await {
                tracing::warn!(request_id = %q.request_id, error = %e, "cannot postpone a step; it is retried when its lease ends");
            }
            return;
        }
        let result = match step {
            Next::Forward => forward(hub, &q).await.map(Some),
            Next::Relay => relay(hub, &q).await.map(|()| None),
            Next::TellRequester => tell_requester(hub, &q).await.map(|()| None),
        };
        match &result {
            Err(Step::Unreachable(_)) => hub.breakers.failure(dest.as_str(), Instant::now()),
            Err(Step::Local(_)) => {}
            _ => hub.breakers.success(dest.as_str()),
        }
        if let Err(Step::Held) = result {
            held(hub, &q).await;
            return;
        }
        match result {
            Ok(Some(relayed)) => {
                q = HubQuery { state: RouteState::Answered, answer: Some(relayed), attempts: 0, ..q };
                unstored = true;
            }
            Ok(None) if q.state == RouteState::Undeliverable => {
                tracing::info!(request_id = %q.request_id, requester = %q.requester, "the requester was told the query could not be delivered");
                end(hub, &q, None).await;
                return;
            }
            Ok(None) => {
                // Relayed: the answer (if not stored yet) and the end of the route in one step.
                let (from, answer, outcome) = if unstored {
                    (RouteState::Accepted, q.answer.clone(), Some(RouteOutcome::Answered))
                } else {
                    (RouteState::Answered, None, None)
                };
                if let Err(e) = hub.store.advance(q.request_id.as_str(), from, RouteState::Relayed, answer, outcome, 0).await {
                    // The requester has the answer; the route is retried and its receivers are
                    // idempotent.
                    tracing::warn!(request_id = %q.request_id, error = %e, "relayed, but the hub could not note it");
                }
                return;
            }
            Err(failure) => {
                if unstored && !store_answer(hub, &q).await {
                    return;
                }
                let permanent = matches!(failure, Step::Refused(_));
                let reason = failure.reason();
                if permanent || q.attempts + 1 >= MAX_ATTEMPTS {
                    give_up(hub, &q, &reason, permanent).await;
                } else {
                    tracing::info!(request_id = %q.request_id, %reason, attempts = q.attempts + 1, "will retry");
                    if let Err(e) =
                        hub.store.schedule_retry(q.request_id.as_str(), now_millis() + backoff_millis(q.attempts), &reason).await
                    {
                        tracing::warn!(request_id = %q.request_id, error = %e, "cannot schedule a retry; it is retried when its lease ends");
                    }
                }
                return;
            }
        }
    }
}

/// The provider holds the forward for its staff: ask again in [`HELD_POLL_MS`], without
/// counting a failed attempt, until [`MAX_HELD_SECS`] after admission.
async fn held(hub: &Hub, q: &HubQuery) {
    let admitted = stored_forward(q).map(|f| f.issued_at).unwrap_or_else(|_| now_unix());
    if now_unix() - admitted > MAX_HELD_SECS {
        give_up(hub, q, "the provider's staff did not answer in time", false).await;
        return;
    }
    tracing::info!(request_id = %q.request_id, provider = %q.provider, "held by the provider for review; asked again later");
    if let Err(e) = hub.store.postpone(q.request_id.as_str(), now_millis() + HELD_POLL_MS).await {
        tracing::warn!(request_id = %q.request_id, error = %e, "cannot postpone a held forward; it is asked again when its lease ends");
    }
}

/// Ends a step that will not succeed: a forward's requester is told why (the query becomes
/// `undeliverable`, then `failed` once told); a relay or a notice that cannot be delivered ends
/// the route (the requester's query ends at its deadline).
async fn give_up(hub: &Hub, q: &HubQuery, reason: &str, refused: bool) {
    let how = if refused { "refused" } else { "unreachable after the hub's attempts" };
    match q.state {
        RouteState::Accepted => {
            tracing::warn!(request_id = %q.request_id, provider = %q.provider, %reason, "giving up the forward ({how}); the requester will be told");
            let told = format!("the hub could not deliver the query to {}: {reason}", q.provider);
            match hub.store.give_up(q.request_id.as_str(), &told).await {
                Ok(_) => hub.wake.notify_one(),
                Err(e) => tracing::warn!(request_id = %q.request_id, error = %e, "cannot note the forward as given up; it is retried"),
            }
        }
        _ => {
            tracing::warn!(request_id = %q.request_id, requester = %q.requester, state = %q.state, %reason, "giving up the delivery to the requester ({how})");
            end(hub, q, Some(RouteOutcome::Failed)).await;
        }
    }
}

/// `q`'s state → `failed`, setting its record's outcome if given.
async fn end(hub: &Hub, q: &HubQuery, outcome: Option<RouteOutcome>) {
    if let Err(e) = hub.store.advance(q.request_id.as_str(), q.state, RouteState::Failed, None, outcome, 0).await {
        tracing::warn!(request_id = %q.request_id, error = %e, "cannot end the route; it is retried");
    }
}

/// Stores the provider's answer of a query whose relay must wait: accepted → answered. False if
/// it could not be stored, or the query had moved on (another worker's retry got there first).
async fn store_answer(hub: &Hub, q: &HubQuery) -> bool {
    match hub
        .store
        .advance(q.request_id.as_str(), RouteState::Accepted, RouteState::Answered, q.answer.clone(), Some(RouteOutcome::Answered), 0)
        .await
    {
        Ok(moved) => moved,
        Err(e) => {
            tracing::warn!(request_id = %q.request_id, error = %e, "cannot store the answer; the forward will be retried");
            false
        }
    }
}

/// Why a step failed.
enum Step {
    /// The server could not be reached, failed itself (5xx) or asked to be retried later (429,
    /// 408): retried, and counted against its circuit breaker.
    Unreachable(String),
    /// The server refused the message (another 4xx), or what it answered is unacceptable: retrying
    /// would get the same, so the step is given up at once.
    Refused(String),
    /// The hub itself failed (its store): retried, not held against the destination.
    Local(String),
    /// The provider holds the forward for its staff (202): asked again later, not a failure.
    Held,
}

impl Step {
    fn reason(self) -> String {
        match self {
            Step::Unreachable(r) | Step::Refused(r) | Step::Local(r) => r,
            Step::Held => "held by the provider for review".into(),
        }
    }
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

impl From<renkei_store::StoreError> for Step {
    fn from(e: renkei_store::StoreError) -> Self {
        Step::Local(format!("the hub's store: {e}"))
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
    if status == reqwest::StatusCode::ACCEPTED {
        return Err(Step::Held);
    }
    let text = resp.text().await.map_err(|e| Step::Unreachable(format!("reading the response failed: {e}")))?;
    if status.is_success() {
        return Ok(text);
    }
    let said = format!("the server answered {status}{}", renkei_net::problem::summary(&text));
    if renkei_net::problem::is_permanent(status) { Err(Step::Refused(said)) } else { Err(Step::Unreachable(said)) }
}

/// Sends the forward to the provider, signed anew for this attempt (a provider that was down
/// longer than the freshness window still gets a fresh one), and checks its signed, sealed
/// answer; returns the hub-signed relay envelope for the requester (not stored yet: see [`step`]).
async fn forward(hub: &Hub, q: &HubQuery) -> Result<String, Step> {
    let provider = hub.org(q.provider.as_str()).await?.ok_or("provider left the directory")?;
    let mut fresh = stored_forward(q)?;
    fresh.issued_at = now_unix();
    let env = hub.signing.sign(HUB_SIGNER, MessageKind::ForwardedQuery, &fresh).map_err(|e| Step::Local(e.to_string()))?;
    let body = serde_json::to_string(&env).map_err(|e| Step::Local(e.to_string()))?;
    let text = post(hub, format!("{}/net/v1/queries", provider.endpoint.trim_end_matches('/')), &body).await?;
    let env: SignedEnvelope = serde_json::from_str(&text).map_err(|_| "the provider's answer is not an envelope".to_string())?;
    let key = VerifyingKey::from_base64(&provider.verify_key).map_err(|e| e.to_string())?;
    let sealed: SealedAnswer = open_envelope(&env, MessageKind::Answer, &key).map_err(|e| format!("provider answer rejected: {e}"))?;
    if env.signer != q.provider.as_str()
        || sealed.request_id != q.request_id
        || sealed.provider != q.provider
        || sealed.requester != q.requester
    {
        return Err("the provider's answer does not match the query".into());
    }
    let relayed = RelayedAnswer { answer: env, provider_verify_key: provider.verify_key, issued_at: now_unix() };
    let relayed = hub.signing.sign(HUB_SIGNER, MessageKind::RelayedAnswer, &relayed).map_err(|e| Step::Local(e.to_string()))?;
    serde_json::to_string(&relayed).map_err(|e| Step::Local(e.to_string()))
}

/// The forward the hub signed at admission, as it stored it (its own signature, so not verified
/// again).
fn stored_forward(q: &HubQuery) -> Result<ForwardedQuery, Step> {
    let unreadable = |e: &dyn std::fmt::Display| Step::Local(format!("a stored forward is unreadable: {e}"));
    let stored: SignedEnvelope = serde_json::from_str(&q.forwarded).map_err(|e| unreadable(&e))?;
    peek_payload(&stored).map_err(|e| unreadable(&e))
}

/// Delivers the relayed answer to the requester's server.
async fn relay(hub: &Hub, q: &HubQuery) -> Result<(), Step> {
    let requester = hub.org(q.requester.as_str()).await?.ok_or("requester left the directory")?;
    let body = q.answer.as_deref().ok_or("no answer stored")?;
    post(hub, format!("{}/net/v1/answers", requester.endpoint.trim_end_matches('/')), body).await?;
    Ok(())
}

/// Tells the requester's server, hub-signed, that its query could not be delivered and why.
async fn tell_requester(hub: &Hub, q: &HubQuery) -> Result<(), Step> {
    let requester = hub.org(q.requester.as_str()).await?.ok_or("requester left the directory")?;
    let fwd = stored_forward(q)?;
    let notice = DeliveryFailure {
        request_id: fwd.request_id,
        requester: fwd.requester,
        provider: fwd.provider,
        reason: q.error.clone().unwrap_or_else(|| "the hub could not deliver the query".into()),
        issued_at: now_unix(),
    };
    let env = hub.signing.sign(HUB_SIGNER, MessageKind::DeliveryFailure, &notice).map_err(|e| Step::Local(e.to_string()))?;
    let body = serde_json::to_string(&env).map_err(|e| Step::Local(e.to_string()))?;
    post(hub, format!("{}/net/v1/failures", requester.endpoint.trim_end_matches('/')), &body).await?;
    Ok(())
}
