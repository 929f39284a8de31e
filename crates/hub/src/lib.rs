//! 情報提供ネットワークシステム — the reference hub.
//!
//! Two listeners: the **network API** (mutual TLS; servers of orgs) mints codes and routes
//! queries; the **resident API** (TLS) discloses linkage records to a resident holding a token.
//! A background [`worker`] forwards admitted queries to providers and relays their sealed
//! answers back, retrying with backoff; every step is durable in the hub store first.

pub mod api;
pub mod disclosure_page;
pub mod worker;

use renkei_crypto::hubkey::HubSecret;
use renkei_crypto::signing::SigningKey;
use renkei_domain::Matrix;
use renkei_net::breaker::Breakers;
use renkei_net::cache::Recent;
use renkei_store::StoreError;
use renkei_store::hub::DirectoryEntry;
use renkei_store::hub::HubStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Everything the hub's handlers and worker share.
pub struct Hub {
    pub store: HubStore,
    pub matrix: Arc<Matrix>,
    pub secret: HubSecret,
    pub signing: SigningKey,
    /// mTLS client to providers' and requesters' network listeners.
    pub client: reqwest::Client,
    /// Wakes the worker when a query is admitted.
    pub wake: Notify,
    /// How long a claimed step is reserved for this process before another may retry it.
    pub claim_lease: Duration,
    /// How far a signed message's `issued_at` may be from the hub's clock.
    pub freshness: Duration,
    /// One circuit breaker per org server.
    pub breakers: Breakers,
    /// Directory entries read recently (see [`Hub::org`]).
    directory: Recent<DirectoryEntry>,
}

/// How long a directory entry read from the store is used before it is read again: an org
/// re-registered with new keys or a new endpoint is seen within this time.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(5);

/// Directory entries kept at most (more orgs than any deployment has).
const DIRECTORY_CACHE_SIZE: usize = 100_000;

impl Hub {
    /// The directory entry of `id`, from the store at most [`DIRECTORY_TTL`] ago. Every message
    /// and every delivery needs one; reading it once per message cost a transaction each.
    pub async fn org(&self, id: &str) -> Result<Option<DirectoryEntry>, StoreError> {
        self.directory.get_or_load(id, || self.store.org(id)).await
    }

    pub fn new(
        store: HubStore,
        matrix: Arc<Matrix>,
        secret: HubSecret,
        signing: SigningKey,
        client: reqwest::Client,
        claim_lease: Duration,
        freshness: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            matrix,
            secret,
            signing,
            client,
            wake: Notify::new(),
            claim_lease,
            freshness,
            breakers: Breakers::new(),
            directory: Recent::new(DIRECTORY_TTL, DIRECTORY_CACHE_SIZE),
        })
    }
}
