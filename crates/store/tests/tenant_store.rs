//! Storage rules that hold whatever calls the store.

use renkei_crypto::datakey::DataKey;
use renkei_domain::wire::QueryRequest;
use renkei_domain::{AddresseeNo, DutyCode, ItemCode, OrgCode, OrgId, Outcome, QueryState, RequestId, TenantId};
use renkei_store::StoreError;
use renkei_store::tenant::{NewQuery, Registration, TenantStore};
use serde_json::json;

fn store(dir: &std::path::Path) -> TenantStore {
    TenantStore::open(&dir.join("t.sqlite"), TenantId::parse("t").unwrap(), DataKey::generate("t")).unwrap()
}

fn ids() -> (OrgId, AddresseeNo, OrgCode) {
    (OrgId::parse("org").unwrap(), AddresseeNo::parse("A1").unwrap(), OrgCode::parse("code-1").unwrap())
}

#[tokio::test]
async fn copies_keep_history_and_answer_with_the_version_valid_on_the_date() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let (org, a, _) = ids();
    let tax = ItemCode::parse("TAX").unwrap();
    for (d, v) in [("2025-01-01", 1), ("2026-01-01", 2), ("2026-01-01", 3)] {
        s.upsert_copy(&org, &a, &tax, d.parse().unwrap(), json!({"v": v}).as_object().unwrap()).await.unwrap();
    }
    let on = |d: &str| d.parse().unwrap();
    assert!(s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2024-12-31")).await.unwrap().is_empty());
    assert_eq!(s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2025-06-01")).await.unwrap()[0].fields["v"], 1);
    assert_eq!(
        s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2026-06-01")).await.unwrap()[0].fields["v"],
        3,
        "same valid_from replaces"
    );
}

#[tokio::test]
async fn registration_is_idempotent_and_a_different_code_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let (org, a, code) = ids();
    assert_eq!(s.register_person(&org, &a, &code).await.unwrap(), Registration::Created);
    assert_eq!(s.register_person(&org, &a, &code).await.unwrap(), Registration::AlreadyRegistered);
    assert!(matches!(s.register_person(&org, &a, &OrgCode::parse("other").unwrap()).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.person_by_code(&org, &code).await.unwrap(), Some(a));
}

#[tokio::test]
async fn query_states_only_move_forward_and_records_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let (org, a, code) = ids();
    s.register_person(&org, &a, &code).await.unwrap();
    let request = QueryRequest {
        request_id: RequestId::parse("r1").unwrap(),
        requester: org.clone(),
        provider: OrgId::parse("p").unwrap(),
        duty: DutyCode::parse("D1").unwrap(),
        items: vec![ItemCode::parse("TAX").unwrap()],
        requester_code: code,
        reference_date: "2026-01-01".parse().unwrap(),
        issued_at: 0,
    };
    let (q, created) = s
        .file_query(NewQuery { org: org.clone(), idempotency_key: "k".into(), addressee: a, request, deadline_at: i64::MAX })
        .await
        .unwrap();
    assert!(created);
    assert_eq!(q.state, QueryState::Queued);
    assert!(s.mark_in_flight(&q.id).await.unwrap());
    assert!(!s.mark_in_flight(&q.id).await.unwrap(), "a repeated effect is a no-op");
    assert!(s.accept_answer(&q.id, Outcome::Found, &json!({"ok": true})).await.unwrap());
    assert!(!s.accept_answer(&q.id, Outcome::Found, &json!({"ok": true})).await.unwrap());
    assert!(matches!(s.fail(&q.id, "late").await, Err(StoreError::Conflict(_))), "answered is final");
    assert_eq!(s.records(&org).await.unwrap().len(), 1);
}

#[tokio::test]
async fn another_tenants_key_cannot_open_this_tenants_file() {
    let dir = tempfile::tempdir().unwrap();
    let (org, a, code) = ids();
    store(dir.path()).register_person(&org, &a, &code).await.unwrap();
    // Same file, a different key: look-ups find nothing (blind indexes differ) and the rows
    // cannot be decrypted.
    let other = TenantStore::open(&dir.path().join("t.sqlite"), TenantId::parse("t").unwrap(), DataKey::generate("t")).unwrap();
    assert_eq!(other.person_code(&org, &a).await.unwrap(), None);
    assert!(TenantStore::open(&dir.path().join("t.sqlite"), TenantId::parse("t").unwrap(), DataKey::generate("u")).is_err());
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(store(dir.path()));
    let conn = rusqlite::Connection::open(dir.path().join("t.sqlite")).unwrap();
    conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)", []).unwrap();
    drop(conn);
    let err = TenantStore::open(&dir.path().join("t.sqlite"), TenantId::parse("t").unwrap(), DataKey::generate("t")).err().unwrap();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
}
