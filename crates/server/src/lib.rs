//! 中間サーバ — the multi-tenant platform.
//!
//! One process hosts many tenants (団体). Two listeners, two routers, nothing shared between
//! them but this state:
//! - [`internal`]: the API under `/api/v1` for client systems (API keys scoped to one tenant and
//!   org) and people (sessions, as `domain::policy` lets their role), see [`caller`];
//! - [`network`]: the hub-facing API under `/net/v1` (mutual TLS, hub-signed messages), which
//!   answers forwarded queries from provision copies and marks ([`provision`]), holds those for
//!   a manual item for the staff's review, and receives answers.
//!
//! The [`outbox`] worker delivers filed queries to the hub; [`web`] serves the pages people use in
//! a browser on the internal listener.

pub mod accounts;
pub mod active;
pub mod api_keys;
pub mod api_keys_api;
pub mod approvals;
pub mod approvals_api;
pub mod audit;
pub mod audit_api;
pub mod caller;
pub mod copies;
pub mod export;
pub mod filing;
pub mod gaiji;
pub mod gaiji_api;
pub mod import;
pub mod in_house;
pub mod internal;
pub mod limits;
pub mod limits_api;
pub mod loads;
pub mod network;
pub mod openapi;
pub mod outbox;
pub mod people_api;
pub mod persons;
pub mod probe;
pub mod provision;
pub mod registry;
pub mod registry_api;
pub mod retention;
pub mod reviews;
pub mod reviews_api;
pub mod routes;
pub mod sessions;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod web;

use active::Active;
use renkei_crypto::datakey::MasterKey;
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::{SigningKey, VerifyingKey};
use renkei_domain::wire::{CodeRequest, CodeResponse, MessageKind, SiblingCodeRequest, SiblingCodeResponse};
use renkei_domain::{Matrix, OrgCode, OrgId, OrgType, RequestId, TenantId};
use renkei_net::breaker::Breakers;
use renkei_net::cache::Recent;
use renkei_store::platform::{KeyScope, PlatformStore};
use renkei_store::tenant::TenantStore;
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
    /// Each tenant's table of in-house uses (庁内連携) read recently, parsed, or that it has
    /// none; see `filing::file_in_house`.
    pub(crate) in_house_uses: Recent<Arc<Option<Matrix>>>,
    /// Bulk loads started from pages, followed while they run.
    pub loads: loads::Loads,
}

/// A call to the hub made for a request failed: the request's answer is a 502 that says why
/// (the hub's words or the transport's, never a personal value), and the log says so too.
pub(crate) fn hub_problem(detail: String) -> renkei_net::Problem {
    tracing::warn!(%detail, "hub call failed");
    renkei_net::Problem::detailed(renkei_net::ProblemKind::HubUnavailable, detail)
}

/// The bearer token of a request's `Authorization` header, if it has one.
pub(crate) fn bearer(parts: &axum::http::request::Parts) -> Option<&str> {
    parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
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

/// How long a tenant's table of in-house uses is used before it is read again: every filing
/// asks it, and a table set in another process applies here within this time (at once in the
/// process that set it).
pub const IN_HOUSE_TTL: Duration = Duration::from_secs(5);

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
            in_house_uses: Recent::new(IN_HOUSE_TTL, KEY_CACHE_SIZE),
            loads: loads::Loads::default(),
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

    /// Asks the hub for `org`'s codes (符号取得) of these Individual Numbers, in order, in one
    /// signed request. Used for one person (`POST /api/v1/persons`) and for batches (bulk loads).
    /// The org's codes for `numbers` (in order), from the hub. The numbers and their signed
    /// envelope are wiped here once sent; what the HTTP and TLS layers copied is theirs.
    pub async fn request_codes(&self, org: &OrgContext, numbers: Vec<Zeroizing<String>>) -> Result<Vec<OrgCode>, String> {
        Ok(self.request_codes_with(org, Vec::new(), numbers).await?.codes)
    }

    /// As [`Platform::request_codes`], and the codes of `siblings` (other orgs of the tenant)
    /// for the same numbers, in the same request.
    pub async fn request_codes_with(
        &self,
        org: &OrgContext,
        siblings: Vec<OrgId>,
        numbers: Vec<Zeroizing<String>>,
    ) -> Result<CodeResponse, String> {
        let (asked, wanted) = (siblings.len(), numbers.len());
        let req = CodeRequest {
            org: org.id.clone(),
            request_id: RequestId::parse(&uuid::Uuid::now_v7().to_string()).map_err(|e| e.to_string())?,
            issued_at: renkei_store::now_unix(),
            numbers,
            siblings,
        };
        let codes: CodeResponse = self.post_signed(org, MessageKind::CodeRequest, "codes", req).await?;
        if codes.codes.len() != wanted || codes.siblings.len() != asked || codes.siblings.iter().any(|s| s.len() != wanted) {
            return Err("the hub's answer does not hold a code for each number and org asked".into());
        }
        Ok(codes)
    }

    /// Each of `siblings`' codes (in order) for the persons `org` knows by `codes`, `None` where
    /// the hub does not know the code: how orgs that registered persons one at a time come to
    /// share one person registry (`registry.rs`).
    pub async fn request_sibling_codes(
        &self,
        org: &OrgContext,
        codes: Vec<OrgCode>,
        siblings: Vec<OrgId>,
    ) -> Result<Vec<Vec<Option<OrgCode>>>, String> {
        let (asked, wanted) = (siblings.len(), codes.len());
        let req = SiblingCodeRequest {
            org: org.id.clone(),
            request_id: RequestId::parse(&uuid::Uuid::now_v7().to_string()).map_err(|e| e.to_string())?,
            issued_at: renkei_store::now_unix(),
            codes,
            siblings,
        };
        let got: SiblingCodeResponse = self.post_signed(org, MessageKind::SiblingCodeRequest, "codes/siblings", req).await?;
        if got.siblings.len() != asked || got.siblings.iter().any(|s| s.len() != wanted) {
            return Err("the hub's answer does not hold a code for each code and org asked".into());
        }
        Ok(got.siblings)
    }

    /// Signs `msg` as `org` and posts it to the hub's `/hub/v1/{path}`. The message and its
    /// signed envelope are wiped once sent (they may carry Individual Numbers); what the HTTP and
    /// TLS layers copied is theirs.
    async fn post_signed<M: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        org: &OrgContext,
        kind: MessageKind,
        path: &str,
        msg: M,
    ) -> Result<R, String> {
        let mut env = org.signing.sign(org.id.as_str(), kind, &msg).map_err(|e| e.to_string())?;
        drop(msg);
        let body = Zeroizing::new(serde_json::to_vec(&env).map_err(|e| e.to_string())?);
        env.payload.zeroize();
        let sent = self
            .hub
            .client
            .post(format!("{}/hub/v1/{path}", self.hub.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        drop(body);
        let resp = sent.map_err(|e| format!("cannot reach the hub: {}", renkei_net::with_causes(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            // The hub's problem type and detail (its details quote no values), so the reader
            // knows what was refused.
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("the hub answered {status}{}", renkei_net::problem::summary(&body)));
        }
        resp.json().await.map_err(|e| format!("unreadable hub answer: {e}"))
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
