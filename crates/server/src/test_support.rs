//! What the server's unit tests share: a platform on SQLite with one tenant, org and person.

use crate::{HubLink, OrgContext, Platform};
use renkei_crypto::datakey::MasterKey;
use renkei_crypto::signing::SigningKey;
use renkei_domain::{AddresseeNo, Matrix, OrgCode, OrgId, OrgType, TenantId};
use renkei_store::Location;
use renkei_store::platform::{Org, PlatformStore};
use renkei_store::tenant::TenantStore;
use std::sync::Arc;
use std::time::Duration;

/// A platform on SQLite with tenant `t`, its org `t-org` and one registered person.
pub(crate) async fn platform() -> (tempfile::TempDir, Arc<Platform>, TenantStore, Arc<OrgContext>) {
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
        // No hub listens there: a call fails at once (a filing then goes ahead unchecked).
        client: renkei_net::tls::client_trusting(&renkei_crypto::pki::new_ca().unwrap().cert_pem, Duration::from_secs(1)).unwrap(),
        freshness: Duration::from_secs(300),
    };
    let matrix = Arc::new(Matrix::from_csv("matrix.csv", include_str!("../../../data/matrix.csv")).unwrap());
    let p = Platform::load(&location, master, matrix, hub, Duration::from_secs(3600), Duration::from_secs(30)).await.unwrap();
    let tenant_store = p.tenant_store(&tenant).await.unwrap().unwrap();
    tenant_store.register_person(&org.id, &AddresseeNo::parse("A1").unwrap(), &OrgCode::parse("c1").unwrap()).await.unwrap();
    let org = p.org(&org.id).await.unwrap().unwrap();
    (dir, p, tenant_store, org)
}
