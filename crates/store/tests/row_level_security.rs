//! PostgreSQL only: tenant isolation holds in the database itself, not only in the store's code.
//! Statements here run through the platform's own pool, as its application role.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::{AddresseeNo, ItemCode, OrgCode, OrgId, OrgType, TenantId};
use renkei_store::platform::{Org, PlatformStore};
use renkei_store::tenant::TenantStore;
use renkei_store::testing::TestDatabase;
use renkei_store::{Location, Scope, StoreError, args};
use serde_json::json;

const TENANT_TABLES: &[&str] = &["persons", "provision_copies", "queries", "provided_answers", "linkage_records"];

/// Tenants `a` and `b`, each with one org holding one person and one provision copy.
async fn two_tenants(db: &TestDatabase) -> (PlatformStore, TenantStore, TenantStore) {
    let dir = tempfile::tempdir().unwrap();
    let platform = PlatformStore::open(&Location::new(Some(&db.url), dir.path(), "renkei").unwrap()).await.unwrap();
    let master = MasterKey::generate();
    let mut stores = Vec::new();
    for t in ["a", "b"] {
        let tid = TenantId::parse(t).unwrap();
        platform.create_tenant(&master, &tid, t, "test").await.unwrap();
        let dk = platform.data_key(&master, &tid).await.unwrap();
        let org = OrgId::parse(&format!("{t}-org")).unwrap();
        platform
            .create_org(
                &dk,
                &Org { tenant: tid.clone(), id: org.clone(), org_type: OrgType::parse("MUNI").unwrap(), name: t.into() },
                "test",
            )
            .await
            .unwrap();
        let store = platform.tenant_store(tid, dk).await.unwrap();
        let a = AddresseeNo::parse("A1").unwrap();
        store.register_person(&org, &a, &OrgCode::parse(&format!("code-{t}")).unwrap()).await.unwrap();
        store
            .upsert_copy(&org, &a, &ItemCode::parse("TAX").unwrap(), "2026-01-01".parse().unwrap(), json!({"x": 1}).as_object().unwrap())
            .await
            .unwrap();
        stores.push(store);
    }
    let b = stores.pop().unwrap();
    let a = stores.pop().unwrap();
    (platform, a, b)
}

async fn count(p: &PlatformStore, scope: Scope, sql: &'static str) -> i64 {
    p.raw(scope, move |tx| tx.value::<i64>(sql, &[])).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_of_the_platform_schema_has_row_level_security_enabled_and_forced() {
    let db = TestDatabase::create().unwrap();
    let _ = two_tenants(&db).await;
    let tables = db
        .text(
            "SELECT string_agg(relname || ':' || relrowsecurity || '/' || relforcerowsecurity, ',' ORDER BY relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'renkei' AND c.relkind IN ('r', 'p')",
        )
        .unwrap();
    let tables: Vec<&str> = tables.split(',').collect();
    for t in TENANT_TABLES.iter().chain(&["tenants", "orgs", "api_keys", "audit_log", "schema_migrations"]) {
        assert!(tables.iter().any(|x| x.starts_with(&format!("{t}:"))), "{t} missing from {tables:?}");
    }
    let unprotected: Vec<_> = tables.iter().filter(|t| !t.ends_with(":true/true")).collect();
    assert!(unprotected.is_empty(), "tables without enabled and forced RLS: {unprotected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_without_the_tenant_setting_sees_zero_rows() {
    let db = TestDatabase::create().unwrap();
    let (p, _, _) = two_tenants(&db).await;
    assert_eq!(count(&p, Scope::Tenant("a".into()), "SELECT COUNT(*) FROM persons").await, 1, "the tenant sees its own rows");
    for sql in [
        "SELECT COUNT(*) FROM persons",
        "SELECT COUNT(*) FROM provision_copies",
        "SELECT COUNT(*) FROM queries",
        "SELECT COUNT(*) FROM linkage_records",
        "SELECT COUNT(*) FROM tenants",
        "SELECT COUNT(*) FROM orgs",
        "SELECT COUNT(*) FROM api_keys",
        "SELECT COUNT(*) FROM audit_log",
    ] {
        assert_eq!(count(&p, Scope::Global, sql).await, 0, "{sql} without a tenant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tenant_a_set_tenant_b_rows_cannot_be_read_or_written() {
    let db = TestDatabase::create().unwrap();
    let (p, _, _) = two_tenants(&db).await;
    let a = || Scope::Tenant("a".into());
    assert_eq!(count(&p, a(), "SELECT COUNT(*) FROM persons WHERE tenant_id = 'b'").await, 0);
    assert_eq!(count(&p, a(), "SELECT COUNT(*) FROM provision_copies WHERE tenant_id = 'b'").await, 0);
    let changed = p
        .raw(a(), |tx| {
            Ok(tx.execute("UPDATE persons SET created_at = 0 WHERE tenant_id = 'b'", &[])?
                + tx.execute("DELETE FROM provision_copies WHERE tenant_id = 'b'", &[])?)
        })
        .await
        .unwrap();
    assert_eq!(changed, 0, "no row of b was updated or deleted");
    // Writing a row that claims to be b's, or moving a's row to b, is refused by the policy.
    let insert = p
        .raw(a(), |tx| {
            tx.execute(
                "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                args!["b", "b-org", "x", "i", b"e".to_vec(), "c", b"e".to_vec(), 0i64],
            )
        })
        .await;
    assert!(matches!(insert, Err(StoreError::Database(ref m)) if m.contains("row-level security")), "{insert:?}");
    let moved = p.raw(a(), |tx| tx.execute("UPDATE persons SET tenant_id = 'b' WHERE tenant_id = 'a'", &[])).await;
    assert!(matches!(moved, Err(StoreError::Database(ref m)) if m.contains("row-level security")), "{moved:?}");
    assert_eq!(count(&p, Scope::Tenant("b".into()), "SELECT COUNT(*) FROM persons").await, 1, "b's data is intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_role_neither_owns_the_tables_nor_bypasses_row_level_security() {
    let db = TestDatabase::create().unwrap();
    let (p, _, _) = two_tenants(&db).await;
    let (role, bypass, super_, owned) = p
        .raw(Scope::Global, |tx| {
            let r = tx.query_opt(
                "SELECT current_user::text, rolbypassrls, rolsuper,
                        (SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'renkei' AND tableowner = current_user)
                 FROM pg_roles WHERE rolname = current_user",
                &[],
            )?;
            let r = r.unwrap();
            Ok((r.get::<String>(0)?, r.get::<bool>(1)?, r.get::<bool>(2)?, r.get::<i64>(3)?))
        })
        .await
        .unwrap();
    assert_eq!((role.as_str(), bypass, super_, owned), ("renkei_app", false, false, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_replaced_and_an_unreachable_database_is_a_retryable_error() {
    let db = TestDatabase::create().unwrap();
    let (p, a, _) = two_tenants(&db).await;
    let org = OrgId::parse("a-org").unwrap();
    let addressee = AddresseeNo::parse("A1").unwrap();
    assert!(a.person_code(&org, &addressee).await.unwrap().is_some());
    db.terminate_connections().unwrap();
    assert!(a.person_code(&org, &addressee).await.unwrap().is_some(), "a pooled connection the server closed is replaced");
    db.set_reachable(false).unwrap();
    let err = a.person_code(&org, &addressee).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("A1"), "no personal data in errors: {err}");
    db.set_reachable(true).unwrap();
    assert!(a.person_code(&org, &addressee).await.unwrap().is_some(), "the pool reconnects by itself");
    drop(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_may_log_in_as_the_application_role_itself_once_the_owner_has_migrated() {
    let db = TestDatabase::create().unwrap();
    let (owner_view, _, _) = two_tenants(&db).await;
    // The DBA's choice: let the application role log in, and give servers only that role.
    db.execute("ALTER ROLE renkei_app LOGIN").unwrap();
    let app_url = db.url_as("renkei_app");
    let dir = tempfile::tempdir().unwrap();
    let p = PlatformStore::open(&Location::new(Some(&app_url), dir.path(), "renkei").unwrap()).await.unwrap();
    assert_eq!(p.tenants().await.unwrap().len(), 2);
    assert_eq!(count(&p, Scope::Global, "SELECT COUNT(*) FROM persons").await, 0, "still under row-level security");
    // It cannot change the schema: a migration needs the owner.
    let ddl = p.raw(Scope::Operator, |tx| tx.execute("DROP TABLE persons", &[])).await;
    assert!(matches!(ddl, Err(StoreError::Database(ref m)) if m.contains("owner")), "{ddl:?}");
    drop(owner_view);
}
