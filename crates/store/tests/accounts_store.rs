//! People's accounts and sessions in the platform database, on both backends: what must be
//! atomic (a TOTP step used once, failures counted), what is audited, and on PostgreSQL what
//! each scope sees.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::account::wait_after;
use renkei_domain::{AccountName, Role, TenantId};
use renkei_store::accounts::NewAccount;
use renkei_store::platform::PlatformStore;
use renkei_store::testing::TestDatabase;
use renkei_store::{Scope, args};

struct Fixture {
    platform: PlatformStore,
    _dir: tempfile::TempDir,
    pg: Option<TestDatabase>,
}

fn name(n: &str) -> AccountName {
    AccountName::parse(n).unwrap()
}

impl Fixture {
    async fn new(postgres: bool) -> Fixture {
        let (dir, pg, _, platform) = renkei_store::testing::platform_store(postgres).await;
        let master = MasterKey::generate();
        for t in ["a", "b"] {
            platform.create_tenant(&master, &TenantId::parse(t).unwrap(), t, "operator").await.unwrap();
        }
        for (n, tenant, role) in
            [("root", None, Role::Operator), ("admin-a", Some("a"), Role::TenantAdmin), ("admin-b", Some("b"), Role::TenantAdmin)]
        {
            let new = NewAccount {
                name: name(n),
                tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
                org: None,
                role,
                password_hash: format!("hash of {n}"),
            };
            platform.create_account(&new, "operator", "operator").await.unwrap();
        }
        Fixture { platform, _dir: dir, pg }
    }
}

renkei_store::on_both_backends!(
    an_account_is_created_once_and_audited_in_its_tenants_chain,
    failed_sign_ins_are_counted_and_start_a_back_off,
    a_totp_step_signs_in_once_and_opens_one_session,
    sign_out_and_revocation_end_sessions_and_are_audited,
    an_account_without_a_second_factor_gets_a_session_that_may_only_enrol_one,
);

async fn an_account_is_created_once_and_audited_in_its_tenants_chain(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert_eq!((a.role, a.tenant.as_ref().map(|t| t.as_str()), a.failures, a.disabled), (Role::TenantAdmin, Some("a"), 0, false));
    assert!(f.platform.account_by_name(&name("nobody")).await.unwrap().is_none());
    let again = NewAccount { name: name("admin-a"), tenant: None, org: None, role: Role::Operator, password_hash: "h".into() };
    assert!(f.platform.create_account(&again, "operator", "operator").await.is_err(), "names are unique across tenants");
    let log = f.platform.audit_log(Some(&TenantId::parse("a").unwrap())).await.unwrap();
    assert!(log.iter().any(|e| e.action == "account.create"), "{log:?}");
    let chains = f.platform.audit_chains().await.unwrap();
    assert_eq!(chains.len(), 3, "the platform's chain (the operator's account) and both tenants': {chains:?}");
}

async fn failed_sign_ins_are_counted_and_start_a_back_off(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    for n in 1..=6 {
        assert_eq!(f.platform.record_failed_sign_in(&a, now, wait_after).await.unwrap(), n);
    }
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert_eq!((a.failures, a.wait_until), (6, now + wait_after(6)));
    let actions: Vec<String> =
        f.platform.audit_log(Some(&TenantId::parse("a").unwrap())).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "sign_in.failed").count(), 4);
    assert_eq!(actions.iter().filter(|a| *a == "sign_in.locked").count(), 2);
    // A success clears them.
    assert!(f.platform.accept_sign_in(&a, Some(10), "token-1", now).await.unwrap());
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert_eq!((a.failures, a.wait_until), (0, 0));
}

async fn a_totp_step_signs_in_once_and_opens_one_session(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    assert!(f.platform.accept_sign_in(&a, Some(100), "token-1", now).await.unwrap());
    assert!(!f.platform.accept_sign_in(&a, Some(100), "token-2", now).await.unwrap(), "the same step again");
    assert!(!f.platform.accept_sign_in(&a, Some(99), "token-3", now).await.unwrap(), "an earlier step");
    assert!(f.platform.session("token-2").await.unwrap().is_none(), "a refused sign-in opens no session");
    let s = f.platform.session("token-1").await.unwrap().unwrap();
    assert_eq!((s.account.name.as_str(), s.created_at, s.last_seen_at, s.revoked), ("admin-a", now, now, false));
    f.platform.touch_session("token-1", now + 60).await.unwrap();
    assert_eq!(f.platform.session("token-1").await.unwrap().unwrap().last_seen_at, now + 60);
    assert!(f.platform.accept_sign_in(&a, Some(101), "token-4", now + 30).await.unwrap(), "the next step signs in");
}

async fn an_account_without_a_second_factor_gets_a_session_that_may_only_enrol_one(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-b")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    assert!(f.platform.accept_sign_in(&a, None, "enrol-1", now).await.unwrap());
    assert!(f.platform.session("enrol-1").await.unwrap().unwrap().enrol_only);
    assert!(f.platform.enroll_totp(&a, vec![1, 2, 3], 50, Some("enrol-1"), ("admin-b", "tenant_admin")).await.unwrap());
    assert!(!f.platform.session("enrol-1").await.unwrap().unwrap().enrol_only, "the enrolling session goes on in full");
    assert!(
        !f.platform.enroll_totp(&a, vec![4, 5, 6], 51, Some("enrol-1"), ("admin-b", "tenant_admin")).await.unwrap(),
        "a second factor is enrolled once"
    );
    let a = f.platform.account_by_name(&name("admin-b")).await.unwrap().unwrap();
    assert_eq!((a.totp_sealed.as_deref(), a.totp_last_step), (Some(&[1u8, 2, 3][..]), 50));
    assert!(!f.platform.accept_sign_in(&a, None, "enrol-2", now).await.unwrap(), "no password-only session once enrolled");
    assert!(!f.platform.accept_sign_in(&a, Some(50), "full-1", now).await.unwrap(), "the enrolment's code is used");
}

async fn sign_out_and_revocation_end_sessions_and_are_audited(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    for (step, token) in [(1, "t1"), (2, "t2"), (3, "t3")] {
        assert!(f.platform.accept_sign_in(&a, Some(step), token, now).await.unwrap());
    }
    let s = f.platform.session("t1").await.unwrap().unwrap();
    f.platform.end_session(&s, "t1", now + 1).await.unwrap();
    assert!(f.platform.session("t1").await.unwrap().unwrap().revoked);
    assert!(!f.platform.session("t2").await.unwrap().unwrap().revoked, "only that session");
    let ended = f.platform.revoke_sessions(&a, Some("new hash".into()), "admin-a", "tenant_admin", now + 2).await.unwrap();
    assert_eq!(ended, 2);
    assert!(f.platform.session("t3").await.unwrap().unwrap().revoked);
    assert_eq!(f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap().password_hash, "new hash");
    let actions: Vec<String> =
        f.platform.audit_log(Some(&TenantId::parse("a").unwrap())).await.unwrap().into_iter().map(|e| e.action).collect();
    for a in ["sign_in", "sign_out", "password.change"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_scope_sees_only_the_accounts_and_sessions_it_may() {
    let f = Fixture::new(true).await;
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert!(f.platform.accept_sign_in(&a, Some(1), "token-a", 1_800_000_000).await.unwrap());
    let count = |scope: Scope, sql: &'static str| {
        let p = f.platform.clone();
        async move { p.raw(scope, move |tx| tx.value::<i64>(sql, &[])).await.unwrap() }
    };
    assert_eq!(count(Scope::Tenant("a".into()), "SELECT COUNT(*) FROM accounts").await, 1, "its own tenant's");
    assert_eq!(count(Scope::Tenant("b".into()), "SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(count(Scope::Presented("admin-b".into()), "SELECT COUNT(*) FROM accounts").await, 1, "the account a sign-in names");
    assert_eq!(count(Scope::Presented("admin-b".into()), "SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(count(Scope::Presented("token-a".into()), "SELECT COUNT(*) FROM sessions").await, 1, "the session presented");
    assert_eq!(count(Scope::Presented("token-a".into()), "SELECT COUNT(*) FROM accounts").await, 1, "and its account");
    assert_eq!(count(Scope::Global, "SELECT COUNT(*) FROM accounts").await, 0);
    assert_eq!(count(Scope::Tenant("a".into()), "SELECT COUNT(*) FROM accounts WHERE tenant_id IS NULL").await, 0, "no operator account");
    let moved = f
        .platform
        .raw(Scope::Tenant("a".into()), |tx| tx.execute("UPDATE accounts SET role = 'operator' WHERE name = 'admin-b'", args![]))
        .await
        .unwrap();
    assert_eq!(moved, 0, "another tenant's account cannot be changed");
    assert!(f.pg.is_some());
}
