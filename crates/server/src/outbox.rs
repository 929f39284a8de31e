//! Delivers filed queries (送信待ち) to the hub. The query is durable before the first attempt;
//! each attempt re-signs the same request (same request id, fresh `issued_at`), so the hub
//! treats retries as one query. Permanent refusals end the query in エラー with the hub's reason;
//! transient failures retry with exponential backoff and jitter until the deadline, and a
//! circuit breaker stops the whole outbox from hammering a hub that is down: while it is open
//! nothing is claimed; after its cool-down a single query goes as the probe.

use crate::Platform;
use renkei_domain::QueryState;
use renkei_domain::wire::{MessageKind, QueryRequest};
use renkei_net::worker::Claimed;
use renkei_store::tenant::{OutboxItem, TenantStore};
use renkei_store::{now_millis, now_unix};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The outbox's only destination, as its circuit breaker (and `/metrics`) knows it.
pub const HUB: &str = "hub";

/// Deliveries in flight at once (per process). New queries are claimed as soon as a slot frees,
/// so one slow delivery never holds back the rest.
pub const MAX_IN_FLIGHT: usize = 128;

/// How often, on PostgreSQL, every tenant is looked at for queries that another process filed
/// or left behind (a process that died holding leases). On SQLite one process serves a data
/// directory and knows what it filed; it looks once, at start.
pub const RESCAN_EVERY: Duration = Duration::from_secs(30);

/// Runs until `shutdown` resolves: delivers the tenants' due queries (the loop is
/// `renkei_net::worker`'s, shared with the hub) and ends overdue ones in エラー every second.
/// A tenant is visited only when [`crate::active::Active`] says it is due (a query filed, a
/// retry's time, its earliest deadline), so idle tenants cost nothing.
pub async fn run(p: Arc<Platform>, shutdown: impl std::future::Future<Output = ()>) {
    let (accepted, marks) = mpsc::unbounded_channel();
    tokio::spawn(mark_in_flight(p.clone(), marks));
    tokio::spawn(scan_tenants(p.clone()));
    let claim = |free: usize| {
        let p = p.clone();
        async move {
            // The due tenants' queries, within the free slots and while the hub's breaker lets
            // them go (a single one as the probe when it is half-open).
            let mut claimed = Claimed { due: Vec::new(), full: false };
            let now = now_millis();
            let mut tenants = p.active.take_claims(now).into_iter();
            while let Some(tenant) = tenants.next() {
                let left = free.saturating_sub(claimed.due.len());
                if left == 0 || p.breakers.permit(HUB, Instant::now()).is_err() {
                    // Looked at first when a slot frees or the breaker lets queries go again.
                    for t in std::iter::once(tenant).chain(tenants) {
                        p.active.claim_at(&t, now);
                    }
                    claimed.full |= left == 0;
                    break;
                }
                let Some(store) = active_store(&p, &tenant).await else {
                    p.active.claim_at(&tenant, now + 1000);
                    continue;
                };
                let limit = if p.breakers.is_open(HUB) { 1 } else { left };
                match store.claim_outbox(limit, p.claim_lease.as_millis() as i64).await {
                    Ok(due) => {
                        if !due.is_empty() {
                            // Looked at again when these leases end, as the store would let
                            // another process retry them: whatever became of a delivery, a
                            // query left queued is claimed again.
                            p.active.claim_at(&tenant, lease_end(&p));
                        }
                        if due.len() >= limit {
                            // More may be due than it could take.
                            p.active.claim_at(&tenant, now);
                            claimed.full = true;
                        }
                        claimed.due.extend(due.into_iter().map(|item| (store.clone(), item)));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, %tenant, "outbox unreadable; tried again in a second");
                        p.active.claim_at(&tenant, now + 1000);
                    }
                }
            }
            claimed
        }
    };
    let deliver = |(store, item): (TenantStore, OutboxItem)| {
        let (p, accepted) = (p.clone(), accepted.clone());
        async move { deliver(&p, &store, item, &accepted).await }
    };
    // Deadlines are kept every second, whether or not slots are free, in the tenants whose
    // earliest deadline has passed; a tenant with nothing left leaves the active set.
    let deadlines = async {
        loop {
            for (tenant, filed) in p.active.deadlines_due(now_millis()) {
                let Some(store) = active_store(&p, &tenant).await else { continue };
                expire(&store).await;
                match store.outbox_schedule().await {
                    Ok(s) => p.active.deadlines_kept(&tenant, filed, s),
                    Err(e) => tracing::warn!(error = %e, %tenant, "cannot read the tenant's next deadline; tried again in a second"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        () = renkei_net::worker::run(MAX_IN_FLIGHT, &p.wake, shutdown, claim, deliver) => {}
        () = deadlines => {}
    }
}

/// The store of an active tenant, or `None` (logged) if it cannot be opened now.
async fn active_store(p: &Platform, tenant: &renkei_domain::TenantId) -> Option<TenantStore> {
    match p.tenant_store(tenant).await {
        Ok(Some(store)) => Some(store),
        Ok(None) => {
            tracing::error!(%tenant, "a tenant with open queries is not in the platform database");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, %tenant, "cannot open the tenant's store; tried again in a second");
            None
        }
    }
}

/// Adds every tenant with queries not yet final to the active set: at start, and on PostgreSQL
/// every [`RESCAN_EVERY`].
async fn scan_tenants(p: Arc<Platform>) {
    let again = matches!(p.platform.location(), renkei_store::Location::Postgres { .. });
    loop {
        match p.platform.tenants().await {
            Ok(tenants) => {
                for t in tenants {
                    let Some(store) = active_store(&p, &t.id).await else { continue };
                    match store.outbox_schedule().await {
                        Ok(s) => p.active.scheduled(&t.id, s),
                        Err(e) => tracing::warn!(error = %e, tenant = %t.id, "cannot read the tenant's open queries"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list the tenants to find their open queries"),
        }
        if !again {
            return;
        }
        tokio::time::sleep(RESCAN_EVERY).await;
    }
}

/// Why an overdue query ended, by the state it was in.
fn overdue_reason(state: QueryState) -> &'static str {
    match state {
        QueryState::PendingApproval => "not decided within the approval window (決裁期限切れ)",
        _ => "no answer within the query deadline (照会期限切れ)",
    }
}

async fn expire(store: &TenantStore) {
    let ids = match store.overdue().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, tenant = %store.tenant(), "cannot read overdue queries; tried again in a second");
            return;
        }
    };
    for (id, _) in ids {
        if let Err(e) = store.end_if_overdue(&id, overdue_reason).await {
            tracing::warn!(error = %e, tenant = %store.tenant(), query = %id, "cannot end an overdue query; tried again in a second");
        }
    }
}

enum Failure {
    Permanent(String),
    Transient(String),
}

/// A query the hub accepted, to be marked 照会中.
type Accepted = (TenantStore, String);

/// Marks accepted queries 照会中, all those waiting of one tenant in one transaction. While one
/// batch is written the next gathers, so under load a transaction covers many queries and when
/// quiet a query waits for nobody. A mark lost to a crash is made again: the query stays 送信待ち,
/// its lease runs out, and the hub takes the retried delivery as the same query.
async fn mark_in_flight(p: Arc<Platform>, mut marks: mpsc::UnboundedReceiver<Accepted>) {
    while let Some(first) = marks.recv().await {
        let mut by_tenant: HashMap<String, (TenantStore, Vec<String>)> = HashMap::new();
        let mut add = |(store, id): Accepted| by_tenant.entry(store.tenant().to_string()).or_insert_with(|| (store, Vec::new())).1.push(id);
        add(first);
        while let Ok(more) = marks.try_recv() {
            add(more);
        }
        for (store, ids) in by_tenant.into_values() {
            if let Err(e) = store.mark_many_in_flight(ids).await {
                tracing::warn!(error = %e, tenant = %store.tenant(), "queries accepted by the hub stay 送信待ち until redelivered");
                p.active.claim_at(store.tenant(), lease_end(&p));
            }
        }
    }
}

/// When a lease taken now runs out, so that the query is claimed again.
fn lease_end(p: &Platform) -> i64 {
    now_millis() + p.claim_lease.as_millis() as i64
}

async fn deliver(p: &Platform, store: &TenantStore, item: OutboxItem, accepted: &mpsc::UnboundedSender<Accepted>) {
    let result = send(p, item.request.clone()).await;
    match &result {
        Err(Failure::Transient(_)) => p.breakers.failure(HUB, Instant::now()),
        _ => p.breakers.success(HUB),
    }
    match result {
        Ok(()) => {
            tracing::debug!(request_id = %item.request.request_id, "query delivered to the hub");
            // The marker outlives every delivery task (they hold its sender).
            let _ = accepted.send((store.clone(), item.id));
        }
        Err(Failure::Permanent(reason)) => {
            tracing::warn!(request_id = %item.request.request_id, %reason, "hub refused the query");
            if let Err(e) = store.fail(&item.id, &reason).await {
                tracing::warn!(request_id = %item.request.request_id, error = %e, "cannot end a refused query; it is sent again when its lease ends");
                p.active.claim_at(store.tenant(), lease_end(p));
            }
        }
        Err(Failure::Transient(reason)) => {
            let next = now_millis() + renkei_net::backoff_millis(item.attempts);
            match store.schedule_retry(&item.id, next, &reason).await {
                Ok(()) => p.active.claim_at(store.tenant(), next),
                Err(e) => {
                    tracing::warn!(request_id = %item.request.request_id, error = %e, "cannot schedule a retry; it is sent again when its lease ends");
                    p.active.claim_at(store.tenant(), lease_end(p));
                }
            }
        }
    }
}

async fn send(p: &Platform, mut request: QueryRequest) -> Result<(), Failure> {
    let org = match p.org(&request.requester).await {
        Ok(Some(org)) => org,
        Ok(None) => return Err(Failure::Permanent("the requesting org is no longer hosted here".into())),
        Err(e) => return Err(Failure::Transient(format!("cannot read the requesting org's keys: {e}"))),
    };
    request.issued_at = now_unix();
    let env = org.signing.sign(org.id.as_str(), MessageKind::Query, &request).map_err(|e| Failure::Permanent(e.to_string()))?;
    let resp = p
        .hub
        .client
        .post(format!("{}/hub/v1/queries", p.hub.url))
        .json(&env)
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("cannot reach the hub: {}", renkei_net::with_causes(&e))))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // The hub's problem type and detail, so staff reading エラー know what was refused.
    let body = resp.text().await.unwrap_or_default();
    let reason = format!("the hub answered {status}{}", renkei_net::problem::summary(&body));
    if renkei_net::problem::is_permanent(status) { Err(Failure::Permanent(reason)) } else { Err(Failure::Transient(reason)) }
}
