//! Delivers filed queries (送信待ち) to the hub. The query is durable before the first attempt;
//! each attempt re-signs the same request (same request id, fresh `issued_at`), so the hub
//! treats retries as one query. Permanent refusals end the query in エラー with the hub's reason;
//! transient failures retry with exponential backoff and jitter until the deadline, and a
//! circuit breaker stops the whole outbox from hammering a hub that is down: while it is open
//! nothing is claimed; after its cool-down a single query goes as the probe.

use crate::Platform;
use renkei_domain::wire::{MessageKind, QueryRequest};
use renkei_store::tenant::{OutboxItem, TenantStore};
use renkei_store::{now_millis, now_unix};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outbox's only destination, as its circuit breaker knows it.
const HUB: &str = "hub";

pub async fn run(p: Arc<Platform>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let mut worked = false;
        for store in p.tenants.values() {
            expire(store).await;
            if p.breakers.permit(HUB, Instant::now()).is_err() {
                continue;
            }
            let limit = if p.breakers.is_open(HUB) { 1 } else { 128 };
            match store.claim_outbox(limit, p.claim_lease.as_millis() as i64).await {
                Ok(due) if !due.is_empty() => {
                    worked = true;
                    let mut set = tokio::task::JoinSet::new();
                    for item in due {
                        let (p, store) = (p.clone(), store.clone());
                        set.spawn(async move { deliver(&p, &store, item).await });
                    }
                    while set.join_next().await.is_some() {}
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, tenant = %store.tenant(), "outbox unreadable"),
            }
        }
        if worked {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = p.wake.notified() => {},
            _ = tokio::time::sleep(Duration::from_millis(250)) => {},
        }
    }
}

async fn expire(store: &TenantStore) {
    if let Ok(ids) = store.overdue().await {
        for id in ids {
            let _ = store.fail(&id, "no answer within the query deadline (照会期限切れ)").await;
        }
    }
}

enum Failure {
    Permanent(String),
    Transient(String),
}

async fn deliver(p: &Platform, store: &TenantStore, item: OutboxItem) {
    let result = send(p, item.request.clone()).await;
    match &result {
        Err(Failure::Transient(_)) => p.breakers.failure(HUB, Instant::now()),
        _ => p.breakers.success(HUB),
    }
    match result {
        Ok(()) => {
            tracing::debug!(request_id = %item.request.request_id, "query delivered to the hub");
            if let Err(e) = store.mark_in_flight(&item.id).await {
                // The answer may already have arrived and moved the query on; that is fine.
                tracing::debug!(error = %e, "query moved on before marking in flight");
            }
        }
        Err(Failure::Permanent(reason)) => {
            tracing::warn!(request_id = %item.request.request_id, %reason, "hub refused the query");
            let _ = store.fail(&item.id, &reason).await;
        }
        Err(Failure::Transient(reason)) => {
            let next = now_millis() + renkei_net::backoff_millis(item.attempts);
            let _ = store.schedule_retry(&item.id, next, &reason).await;
        }
    }
}

async fn send(p: &Platform, mut request: QueryRequest) -> Result<(), Failure> {
    let org = p.orgs.get(&request.requester).ok_or_else(|| Failure::Permanent("the requesting org is no longer hosted here".into()))?;
    request.issued_at = now_unix();
    let env = org.signing.sign(org.id.as_str(), MessageKind::Query, &request).map_err(|e| Failure::Permanent(e.to_string()))?;
    let resp = p
        .hub
        .client
        .post(format!("{}/hub/v1/queries", p.hub.url))
        .json(&env)
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("cannot reach the hub: {e}")))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct ProblemBody {
        title: Option<String>,
        detail: Option<String>,
    }
    let problem: Option<ProblemBody> = resp.json().await.ok();
    let reason = problem
        .map(|pb| format!("hub: {} {}", pb.title.unwrap_or_default(), pb.detail.unwrap_or_default()).trim().to_owned())
        .unwrap_or_else(|| format!("hub answered {status}"));
    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS && status != reqwest::StatusCode::REQUEST_TIMEOUT {
        Err(Failure::Permanent(reason))
    } else {
        Err(Failure::Transient(reason))
    }
}
