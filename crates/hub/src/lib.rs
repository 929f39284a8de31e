//! 情報提供ネットワークシステム — the reference hub.
//!
//! Two listeners: the **network API** (mutual TLS; servers of orgs) mints codes and routes
//! queries; the **resident API** (TLS) discloses linkage records to a resident holding a token.
//! A background [`worker`] forwards admitted queries to providers and relays their sealed
//! answers back, retrying with backoff; every step is durable in the hub store first.

pub mod api;
pub mod worker;

use renkei_crypto::hubkey::HubSecret;
use renkei_crypto::signing::SigningKey;
use renkei_domain::Matrix;
use renkei_net::breaker::Breakers;
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
    /// One circuit breaker per org server.
    pub breakers: Breakers,
}

impl Hub {
    pub fn new(
        store: HubStore,
        matrix: Arc<Matrix>,
        secret: HubSecret,
        signing: SigningKey,
        client: reqwest::Client,
        claim_lease: Duration,
    ) -> Arc<Self> {
        Arc::new(Self { store, matrix, secret, signing, client, wake: Notify::new(), claim_lease, breakers: Breakers::new() })
    }
}
