//! 中間サーバ — the multi-tenant platform.
//!
//! One process hosts many tenants (団体). Two listeners, two routers, nothing shared between
//! them but this state:
//! - [`internal`]: the client-system API under `/api/v1` (API keys scoped to one tenant and org);
//! - [`network`]: the hub-facing API under `/net/v1` (mutual TLS, hub-signed messages), which
//!   answers forwarded queries automatically from provision copies and receives answers.
//!
//! The [`outbox`] worker delivers filed queries to the hub.

pub mod active;
pub mod import;
pub mod internal;
pub mod network;
pub mod openapi;
pub mod outbox;

use active::Active;
use renkei_crypto::datakey::MasterKey;
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::{SigningKey, VerifyingKey};
use renkei_domain::wire::{CodeRequest, CodeResponse, MessageKind};
use renkei_domain::{Matrix, OrgCode, OrgId, OrgType, QueryState, RequestId, TenantId};
use renkei_net::breaker::Breakers;
use renkei_net::cache::Recent;
use renkei_store::platform::{KeyScope, PlatformStore};
use renkei_store::tenant::{Filing, NewQuery, TenantStore};
use renkei_store::{Location, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An org hosted here, with its keys unlocked.
pub struct OrgContext {
    pub tenant: TenantId,
    pub id: OrgId,
    pub org_type: OrgType,
    pub name: String,
    pub signing: SigningKey,
    pub opening: OpeningKey,
}

/// How the platform reaches the hub.
pub struct HubLink {
    /// Base URL of the hub's network listener.
    pub url: String,
    /// The hub's verifying key: forwarded queries and relayed answers must carry its signature.
    pub key: VerifyingKey,
    /// mTLS client.
    pub client: reqwest::Client,
    /// How far a hub-signed message's `issued_at` may be from this server's clock.
    pub freshness: Duration,
}

/// State shared by both routers and the outbox worker.
///
/// Tenants, orgs and API keys are read from the platform database when first needed, not at
/// start-up: a tenant, org or key created while the server runs (by `renkei admin`, or by another
/// process sharing the PostgreSQL schema) is served at once, and a platform of every
/// municipality starts in the time it takes to open one database. A tenant's data key is
/// unwrapped, and its org's private keys decrypted, on first use; they then stay in memory.
pub struct Platform {
    pub platform: PlatformStore,
    master: Arc<MasterKey>,
    /// Tenant stores opened so far (each opens its SQLite file on its own first transaction).
    tenants: Mutex<HashMap<TenantId, TenantStore>>,
    /// Orgs whose keys were unlocked so far.
    orgs: Mutex<HashMap<OrgId, Arc<OrgContext>>>,
    /// Tenants with queries not yet final, and when the outbox is next due in each.
    pub active: Active,
    pub matrix: Arc<Matrix>,
    pub hub: HubLink,
    /// How long a query may take before it ends in エラー.
    pub query_deadline: Duration,
    /// Wakes the outbox worker when a query is filed.
    pub wake: Notify,
    /// How long a claimed outbox entry is reserved for this process before another may retry it.
    pub claim_lease: Duration,
    /// The circuit breaker of the hub link.
    pub breakers: Breakers,
    /// Org types read from the hub's directory recently (see [`Platform::org_type_of`]).
    provider_types: Recent<OrgType>,
    /// API keys (by hash) authenticated recently; see [`Platform::key_scope`].
    key_scopes: Recent<KeyScope>,
}

/// When a filed query's deadline is: its filing time and this platform's deadline.
fn filing_deadline(p: &Platform, filing: &Filing) -> i64 {
    let filed_at = match filing {
        Filing::Created(v) | Filing::Existing(v) => v.created_at,
        Filing::PersonNotRegistered => renkei_store::now_millis(),
    };
    filed_at + p.query_deadline.as_millis() as i64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here inserts or reads whole values: a panic elsewhere cannot leave
    // a map half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long an authenticated API key is remembered before its row is read again. Every request
/// carries a key; reading it each time put one platform-database transaction in front of every
/// call. A key removed from the store stops working within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a provider's org type read from the hub's directory is used before it is read again.
pub const PROVIDER_TYPE_TTL: Duration = Duration::from_secs(60);

/// Provider org types remembered at most.
const PROVIDER_TYPE_CACHE_SIZE: usize = 100_000;

/// API keys remembered at most.
const KEY_CACHE_SIZE: usize = 10_000;

impl Platform {
    /// Opens the platform database at `location`. Tenants are opened as they are used.
    pub async fn load(
        location: &Location,
        master: Arc<MasterKey>,
        matrix: Arc<Matrix>,
        hub: HubLink,
        query_deadline: Duration,
        claim_lease: Duration,
    ) -> Result<Arc<Self>, ServerError> {
        let platform = PlatformStore::open(location).await?;
        Ok(Arc::new(Self {
            platform,
            master,
            tenants: Mutex::default(),
            orgs: Mutex::default(),
            active: Active::default(),
            matrix,
            hub,
            query_deadline,
            wake: Notify::new(),
            claim_lease,
            breakers: Breakers::new(),
            provider_types: Recent::new(PROVIDER_TYPE_TTL, PROVIDER_TYPE_CACHE_SIZE),
            key_scopes: Recent::new(KEY_CACHE_TTL, KEY_CACHE_SIZE),
        }))
    }

    /// What the API key with this hash authenticates, from the store at most [`KEY_CACHE_TTL`]
    /// ago. Unknown keys are not remembered, so a new key works at once.
    pub async fn key_scope(&self, key_hash: &str) -> Result<Option<KeyScope>, StoreError> {
        // Only valid keys are kept, so a flood of made-up ones never fills it.
        self.key_scopes.get_or_load(key_hash, || self.platform.key_scope(key_hash)).await
    }

    /// The store of `tenant`, its data key unwrapped on first use; `None` if there is no such
    /// tenant. Unknown tenants are not remembered, so a new one is served at once.
    pub async fn tenant_store(&self, tenant: &TenantId) -> Result<Option<TenantStore>, StoreError> {
        if let Some(store) = lock(&self.tenants).get(tenant) {
            return Ok(Some(store.clone()));
        }
        let dk = match self.platform.data_key(&self.master, tenant).await {
            Ok(dk) => dk,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let store = self.platform.tenant_store(tenant.clone(), dk).await?;
        // Two requests may have opened it at once: both get the one kept.
        Ok(Some(lock(&self.tenants).entry(tenant.clone()).or_insert(store).clone()))
    }

    /// The org `id` hosted here, its private keys decrypted on first use; `None` if no tenant
    /// of this platform has it.
    pub async fn org(&self, id: &OrgId) -> Result<Option<Arc<OrgContext>>, StoreError> {
        if let Some(org) = lock(&self.orgs).get(id) {
            return Ok(Some(org.clone()));
        }
        let Some(o) = self.platform.org(id).await? else { return Ok(None) };
        let Some(store) = self.tenant_store(&o.tenant).await? else { return Ok(None) };
        let (signing, opening) = self.platform.org_keys(store.data_key(), &o.id).await?;
        let org = Arc::new(OrgContext { tenant: o.tenant, id: o.id, org_type: o.org_type, name: o.name, signing, opening });
        Ok(Some(lock(&self.orgs).entry(id.clone()).or_insert(org).clone()))
    }

    /// Notes that `tenant` has a query to deliver with this deadline, and wakes the outbox.
    pub fn filed(&self, tenant: &TenantId, deadline_at: i64) {
        self.active.filed(tenant, renkei_store::now_millis(), deadline_at);
        self.wake.notify_one();
    }

    /// Files a query into `store`'s outbox (送信待ち) and tells the outbox. Runs to its end even
    /// if the caller goes away: a client that gives up waiting drops its request, and a query
    /// committed but never made known to the outbox would wait, on SQLite, until its deadline.
    /// Filing again with the same idempotency key tells the outbox again while the query is
    /// still 送信待ち, so a client's retry also mends an earlier filing that was cut off.
    pub async fn file_query(self: &Arc<Self>, store: TenantStore, q: NewQuery) -> Result<Filing, StoreError> {
        let p = self.clone();
        let filing = tokio::spawn(async move {
            let tenant = store.tenant().clone();
            let filing = store.file_query(q).await?;
            match &filing {
                Filing::Created(_) => p.filed(&tenant, filing_deadline(&p, &filing)),
                Filing::Existing(v) if v.state == QueryState::Queued => p.filed(&tenant, filing_deadline(&p, &filing)),
                Filing::Existing(_) | Filing::PersonNotRegistered => {}
            }
            Ok(filing)
        });
        filing.await.map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Asks the hub for `org`'s codes (符号取得) of these Individual Numbers, in order, in one
    /// signed request. Used for one person (`POST /api/v1/persons`) and for batches (bulk loads).
    /// The org's codes for `numbers` (in order), from the hub. The numbers and their signed
    /// envelope are wiped here once sent; what the HTTP and TLS layers copied is theirs.
    pub async fn request_codes(&self, org: &OrgContext, numbers: Vec<Zeroizing<String>>) -> Result<Vec<OrgCode>, String> {
        let req = CodeRequest {
            org: org.id.clone(),
            request_id: RequestId::parse(&uuid::Uuid::now_v7().to_string()).map_err(|e| e.to_string())?,
            issued_at: renkei_store::now_unix(),
            numbers,
        };
        let mut env = org.signing.sign(org.id.as_str(), MessageKind::CodeRequest, &req).map_err(|e| e.to_string())?;
        drop(req);
        let body = Zeroizing::new(serde_json::to_vec(&env).map_err(|e| e.to_string())?);
        env.payload.zeroize();
        let sent = self
            .hub
            .client
            .post(format!("{}/hub/v1/codes", self.hub.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        drop(body);
        let resp = sent.map_err(|e| format!("cannot reach the hub: {}", renkei_net::with_causes(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("the hub answered {}", resp.status()));
        }
        let codes: CodeResponse = resp.json().await.map_err(|e| e.to_string())?;
        Ok(codes.codes)
    }

    /// The type of `org` per the hub's directory, read at most [`PROVIDER_TYPE_TTL`] ago: an
    /// org that leaves the directory or changes type is seen within that time.
    pub async fn org_type_of(&self, org: &OrgId) -> Result<Option<OrgType>, String> {
        self.provider_types.get_or_load(org.as_str(), || self.org_type_from_hub(org)).await
    }

    async fn org_type_from_hub(&self, org: &OrgId) -> Result<Option<OrgType>, String> {
        #[derive(serde::Deserialize)]
        struct Info {
            org_type: OrgType,
        }
        let resp = self
            .hub
            .client
            .get(format!("{}/hub/v1/orgs/{org}", self.hub.url))
            .send()
            .await
            .map_err(|e| format!("cannot reach the hub: {}", renkei_net::with_causes(&e)))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(format!("the hub answered {}", resp.status()));
        }
        let info: Info = resp.json().await.map_err(|e| format!("unreadable hub answer: {e}"))?;
        Ok(Some(info.org_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_domain::{AddresseeNo, DutyCode, ItemCode};
    use renkei_store::platform::Org;

    /// A platform on SQLite with tenant `t`, its org `t-org` and one registered person.
    async fn platform() -> (tempfile::TempDir, Arc<Platform>, TenantStore) {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::new(None, dir.path(), "renkei").unwrap();
        let master = Arc::new(MasterKey::generate());
        let tenant = TenantId::parse("t").unwrap();
        let store = PlatformStore::open(&location).await.unwrap();
        store.create_tenant(&master, &tenant, "t", "test").await.unwrap();
        let dk = store.data_key(&master, &tenant).await.unwrap();
        let org =
            Org { tenant: tenant.clone(), id: OrgId::parse("t-org").unwrap(), org_type: OrgType::parse("MUNI").unwrap(), name: "t".into() };
        store.create_org(&dk, &org, "test").await.unwrap();
        let hub = HubLink {
            url: "https://127.0.0.1:9".into(),
            key: SigningKey::generate().verifying_key(),
            // Never called here: filing does not reach the hub.
            client: renkei_net::tls::client_trusting(&renkei_crypto::pki::new_ca().unwrap().cert_pem, Duration::from_secs(1)).unwrap(),
            freshness: Duration::from_secs(300),
        };
        let matrix = Arc::new(Matrix::from_csv("matrix.csv", include_str!("../../../data/matrix.csv")).unwrap());
        let p = Platform::load(&location, master, matrix, hub, Duration::from_secs(3600), Duration::from_secs(30)).await.unwrap();
        let tenant_store = p.tenant_store(&tenant).await.unwrap().unwrap();
        tenant_store.register_person(&org.id, &AddresseeNo::parse("A1").unwrap(), &OrgCode::parse("c1").unwrap()).await.unwrap();
        (dir, p, tenant_store)
    }

    fn query(key: &str) -> NewQuery {
        NewQuery {
            org: OrgId::parse("t-org").unwrap(),
            idempotency_key: key.into(),
            addressee: AddresseeNo::parse("A1").unwrap(),
            request_id: RequestId::parse(&uuid::Uuid::now_v7().to_string()).unwrap(),
            provider: OrgId::parse("other").unwrap(),
            duty: DutyCode::parse("D015").unwrap(),
            items: vec![ItemCode::parse("TAX").unwrap()],
            reference_date: "2026-07-01".parse().unwrap(),
            deadline_at: renkei_store::now_millis() + 3_600_000,
        }
    }

    /// Whether the outbox would visit the tenant now (taking the visit, as the outbox does).
    fn due(p: &Platform) -> bool {
        p.active.take_claims(renkei_store::now_millis()).iter().any(|t| t.as_str() == "t")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filing_whose_caller_goes_away_still_reaches_the_outbox() {
        let (_dir, p, store) = platform().await;
        // The caller gives up at once: the filing's future is polled once, then dropped.
        let filing = p.file_query(store.clone(), query("k1"));
        assert!(tokio::time::timeout(Duration::ZERO, filing).await.is_err(), "the filing did not end at its first poll");
        let mut told = false;
        for _ in 0..100 {
            if due(&p) {
                told = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(told, "the outbox was told of the query");
        assert!(store.outbox_schedule().await.unwrap().next_attempt_at.is_some(), "and it is in the store");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filing_again_tells_the_outbox_again_while_the_query_waits_to_be_sent() {
        let (_dir, p, store) = platform().await;
        let Filing::Created(first) = p.file_query(store.clone(), query("k2")).await.unwrap() else { panic!("created") };
        assert!(due(&p));
        assert!(!due(&p), "the visit was taken");
        let Filing::Existing(again) = p.file_query(store.clone(), query("k2")).await.unwrap() else { panic!("existing") };
        assert_eq!(again.id, first.id);
        assert!(due(&p), "a retry of a query still 送信待ち tells the outbox again");
        assert!(store.mark_in_flight(&first.id).await.unwrap());
        p.file_query(store.clone(), query("k2")).await.unwrap();
        assert!(!due(&p), "one the hub took is not the outbox's any more");
    }
}
