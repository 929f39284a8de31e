//! TLS to PostgreSQL with `sslmode=verify-full`: the store connects to the test server (which
//! `.ci/run` gives a certificate from `renkei pki`), its sessions are encrypted, and a server whose
//! certificate another CA signed is refused; `sslmode=require` connects without checking.

use renkei_store::platform::PlatformStore;
use renkei_store::testing::TestDatabase;
use renkei_store::{Location, Scope, args};

fn with_params(url: &str, params: &str) -> String {
    format!("{url}{}{params}", if url.contains('?') { '&' } else { '?' })
}

#[tokio::test]
async fn the_store_connects_with_verify_full_and_refuses_a_certificate_of_another_ca() {
    let ca = std::env::var("RENKEI_TEST_DATABASE_CA").expect(
        "RENKEI_TEST_DATABASE_CA names the CA of the test PostgreSQL's certificate; .ci/run turns TLS on with one from `renkei pki`",
    );
    let db = TestDatabase::create().unwrap();
    let url = with_params(&db.url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let store = PlatformStore::open(&Location::Postgres { url, schema: "renkei".into(), keys: None }).await.unwrap();
    let one: i64 = store.raw(Scope::Operator, |tx| tx.value("SELECT 1::bigint", args![])).await.unwrap();
    assert_eq!(one, 1);
    // The store's sessions, as the server sees them (the owner sees every session's TLS state).
    let sessions = |ssl: bool| {
        db.text(&format!(
            "SELECT count(*)::text FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = current_database() AND a.application_name = 'renkei' AND s.ssl = {ssl}"
        ))
        .unwrap()
    };
    assert_ne!(sessions(true), "0", "the store's sessions run over TLS");
    assert_eq!(sessions(false), "0", "none without");

    // `require` encrypts without checking whose certificate it is, as libpq does.
    let url = with_params(&db.url, "sslmode=require");
    assert!(PlatformStore::open(&Location::Postgres { url, schema: "renkei".into(), keys: None }).await.is_ok());

    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    std::fs::write(&other_ca, renkei_crypto::pki::new_ca().unwrap().cert_pem).unwrap();
    let url = with_params(&db.url, &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()));
    let refused = PlatformStore::open(&Location::Postgres { url, schema: "renkei".into(), keys: None }).await;
    let e = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("certificate") || e.contains("Certificate"), "refused, saying why: {e}");
}
