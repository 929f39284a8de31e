//! 中間サーバ — the multi-tenant platform.
//!
//! One process hosts many tenants (団体). Two listeners, two routers, nothing shared between
//! them but this state:
//! - [`internal`]: the client-system API under `/api/v1` (API keys scoped to one tenant and org);
//! - [`network`]: the hub-facing API under `/net/v1` (mutual TLS, hub-signed messages), which
//!   answers forwarded queries automatically from provision copies and receives answers.
//!
//! The [`outbox`] worker delivers filed queries to the hub.

pub mod import;
pub mod internal;
pub mod network;
pub mod openapi;
pub mod outbox;

use renkei_crypto::datakey::MasterKey;
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::{SigningKey, VerifyingKey};
use renkei_domain::wire::{CodeRequest, CodeResponse, MessageKind};
use renkei_domain::{Matrix, OrgCode, OrgId, OrgType, RequestId, TenantId};
use renkei_net::breaker::Breakers;
use renkei_net::cache::Recent;
use renkei_store::platform::{KeyScope, PlatformStore};
use renkei_store::tenant::TenantStore;
use renkei_store::{Location, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
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
pub struct Platform {
    pub platform: PlatformStore,
    pub tenants: HashMap<TenantId, TenantStore>,
    pub orgs: HashMap<OrgId, OrgContext>,
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
    /// Opens the platform database at `location` and every tenant's store in it.
    pub async fn load(
        location: &Location,
        master: &MasterKey,
        matrix: Arc<Matrix>,
        hub: HubLink,
        query_deadline: Duration,
        claim_lease: Duration,
    ) -> Result<Arc<Self>, ServerError> {
        let platform = PlatformStore::open(location).await?;
        let mut tenants = HashMap::new();
        let mut orgs = HashMap::new();
        for t in platform.tenants().await? {
            let dk = platform.data_key(master, &t.id).await?;
            for o in platform.orgs(Some(&t.id)).await? {
                let (signing, opening) = platform.org_keys(&dk, &o.id).await?;
                orgs.insert(
                    o.id.clone(),
                    OrgContext { tenant: t.id.clone(), id: o.id, org_type: o.org_type, name: o.name, signing, opening },
                );
            }
            let store = platform.tenant_store(t.id.clone(), dk).await?;
            tenants.insert(t.id, store);
        }
        Ok(Arc::new(Self {
            platform,
            tenants,
            orgs,
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

    pub fn tenant_store(&self, tenant: &TenantId) -> Option<&TenantStore> {
        self.tenants.get(tenant)
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
