//! People's accounts and sessions in the platform database, on both backends: what must be
//! atomic (a TOTP step used once, failures counted), what is audited, and on PostgreSQL what
//! each scope sees.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::account::wait_after;
use renkei_domain::{AccountName, Role, TenantId};
use renkei_store::accounts::{Accepted, NewAccount};
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
                consortium: None,
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
    a_tenants_limit_counts_people_signed_in_and_a_raise_ends_by_itself,
    a_consortium_holds_hosted_tenants_and_its_admin_names_it,
);

async fn a_consortium_holds_hosted_tenants_and_its_admin_names_it(f: Fixture) {
    let kumiai = renkei_domain::ConsortiumId::parse("kumiai").unwrap();
    let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
    let nowhere = TenantId::parse("nowhere").unwrap();
    assert!(f.platform.set_consortium(&kumiai, "甲広域連合", &[a.clone(), nowhere], "root").await.is_err(), "a tenant not hosted");
    assert!(f.platform.consortia().await.unwrap().is_empty(), "nothing made");
    f.platform.set_consortium(&kumiai, "甲広域連合", &[b.clone(), a.clone()], "root").await.unwrap();
    f.platform.set_consortium(&kumiai, "甲広域連合", std::slice::from_ref(&a), "root").await.unwrap();
    let c = f.platform.consortium(&kumiai).await.unwrap().expect("the consortium");
    assert_eq!((c.name.as_str(), c.tenants), ("甲広域連合", vec![a]), "setting again replaces its tenants");
    let new = NewAccount {
        name: name("kumi"),
        tenant: None,
        org: None,
        role: Role::ConsortiumAdmin,
        password_hash: "h".into(),
        consortium: Some(kumiai.clone()),
    };
    f.platform.create_account(&new, "root", "operator").await.unwrap();
    let kumi = f.platform.account_by_name(&name("kumi")).await.unwrap().unwrap();
    assert_eq!((kumi.role, kumi.tenant, kumi.consortium), (Role::ConsortiumAdmin, None, Some(kumiai)));
    let actions: Vec<String> = f.platform.audit_log(None).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "consortium.set").count(), 2, "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_the_operator_sees_consortia() {
    let f = Fixture::new(true).await;
    let kumiai = renkei_domain::ConsortiumId::parse("kumiai").unwrap();
    f.platform.set_consortium(&kumiai, "甲広域連合", &[TenantId::parse("a").unwrap()], "root").await.unwrap();
    let count = |scope: Scope, sql: &'static str| {
        let p = f.platform.clone();
        async move { p.raw(scope, move |tx| tx.value::<i64>(sql, &[])).await.unwrap() }
    };
    assert_eq!(count(Scope::Operator, "SELECT COUNT(*) FROM consortium_tenants").await, 1);
    assert_eq!(count(Scope::Tenant("a".into()), "SELECT COUNT(*) FROM consortia").await, 0, "not even its own tenant");
    assert_eq!(count(Scope::Tenant("a".into()), "SELECT COUNT(*) FROM consortium_tenants").await, 0);
    assert_eq!(count(Scope::Global, "SELECT COUNT(*) FROM consortia").await, 0);
}

async fn an_account_is_created_once_and_audited_in_its_tenants_chain(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert_eq!((a.role, a.tenant.as_ref().map(|t| t.as_str()), a.failures, a.disabled), (Role::TenantAdmin, Some("a"), 0, false));
    assert!(f.platform.account_by_name(&name("nobody")).await.unwrap().is_none());
    let again =
        NewAccount { name: name("admin-a"), tenant: None, org: None, role: Role::Operator, password_hash: "h".into(), consortium: None };
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
    assert_eq!(f.platform.accept_sign_in(&a, Some(10), "token-1", now).await.unwrap(), Accepted::Opened);
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    assert_eq!((a.failures, a.wait_until), (0, 0));
}

async fn a_totp_step_signs_in_once_and_opens_one_session(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    assert_eq!(f.platform.accept_sign_in(&a, Some(100), "token-1", now).await.unwrap(), Accepted::Opened);
    assert_ne!(f.platform.accept_sign_in(&a, Some(100), "token-2", now).await.unwrap(), Accepted::Opened, "the same step again");
    assert_ne!(f.platform.accept_sign_in(&a, Some(99), "token-3", now).await.unwrap(), Accepted::Opened, "an earlier step");
    assert!(f.platform.session("token-2").await.unwrap().is_none(), "a refused sign-in opens no session");
    let s = f.platform.session("token-1").await.unwrap().unwrap();
    assert_eq!((s.account.name.as_str(), s.created_at, s.last_seen_at, s.revoked), ("admin-a", now, now, false));
    f.platform.touch_session("token-1", now + 60).await.unwrap();
    assert_eq!(f.platform.session("token-1").await.unwrap().unwrap().last_seen_at, now + 60);
    assert_eq!(f.platform.accept_sign_in(&a, Some(101), "token-4", now + 30).await.unwrap(), Accepted::Opened, "the next step signs in");
}

async fn an_account_without_a_second_factor_gets_a_session_that_may_only_enrol_one(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-b")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    assert_eq!(f.platform.accept_sign_in(&a, None, "enrol-1", now).await.unwrap(), Accepted::Opened);
    assert!(f.platform.session("enrol-1").await.unwrap().unwrap().enrol_only);
    assert!(f.platform.enroll_totp(&a, vec![1, 2, 3], 50, Some("enrol-1"), ("admin-b", "tenant_admin")).await.unwrap());
    assert!(!f.platform.session("enrol-1").await.unwrap().unwrap().enrol_only, "the enrolling session goes on in full");
    assert!(
        !f.platform.enroll_totp(&a, vec![4, 5, 6], 51, Some("enrol-1"), ("admin-b", "tenant_admin")).await.unwrap(),
        "a second factor is enrolled once"
    );
    let a = f.platform.account_by_name(&name("admin-b")).await.unwrap().unwrap();
    assert_eq!((a.totp_sealed.as_deref(), a.totp_last_step), (Some(&[1u8, 2, 3][..]), 50));
    assert_ne!(
        f.platform.accept_sign_in(&a, None, "enrol-2", now).await.unwrap(),
        Accepted::Opened,
        "no password-only session once enrolled"
    );
    assert_ne!(f.platform.accept_sign_in(&a, Some(50), "full-1", now).await.unwrap(), Accepted::Opened, "the enrolment's code is used");
}

async fn sign_out_and_revocation_end_sessions_and_are_audited(f: Fixture) {
    let a = f.platform.account_by_name(&name("admin-a")).await.unwrap().unwrap();
    let now = 1_800_000_000;
    for (step, token) in [(1, "t1"), (2, "t2"), (3, "t3")] {
        assert_eq!(f.platform.accept_sign_in(&a, Some(step), token, now).await.unwrap(), Accepted::Opened);
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
    assert_eq!(f.platform.accept_sign_in(&a, Some(1), "token-a", 1_800_000_000).await.unwrap(), Accepted::Opened);
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

async fn a_tenants_limit_counts_people_signed_in_and_a_raise_ends_by_itself(f: Fixture) {
    let t = TenantId::parse("a").unwrap();
    for n in ["staff-1", "staff-2"] {
        let new = NewAccount {
            name: name(n),
            tenant: Some(t.clone()),
            org: None,
            role: Role::Auditor,
            password_hash: "h".into(),
            consortium: None,
        };
        f.platform.create_account(&new, "admin-a", "tenant_admin").await.unwrap();
    }
    let (admin, one, two) = (account(&f, "admin-a").await, account(&f, "staff-1").await, account(&f, "staff-2").await);
    let now = 1_800_000_000;
    f.platform.set_session_limit(&t, 1, ("root", "operator"), now).await.unwrap();
    assert_eq!(f.platform.accept_sign_in(&one, Some(1), "one-1", now).await.unwrap(), Accepted::Opened);
    assert_eq!(
        f.platform.accept_sign_in(&one, Some(2), "one-2", now).await.unwrap(),
        Accepted::Opened,
        "the same person again counts once"
    );
    assert_eq!(f.platform.accept_sign_in(&two, Some(1), "two-1", now).await.unwrap(), Accepted::OverLimit(1));
    let root = account(&f, "root").await;
    assert_eq!(f.platform.accept_sign_in(&root, Some(1), "root-1", now).await.unwrap(), Accepted::Opened, "the operator has no tenant");
    assert_eq!(
        f.platform.accept_sign_in(&account(&f, "admin-b").await, Some(1), "b-1", now).await.unwrap(),
        Accepted::Opened,
        "another tenant"
    );
    assert_eq!(f.platform.session_limit(&t, now).await.unwrap().signed_in, 1);

    f.platform.raise_session_limit(&t, 3, now + 60, ("root", "operator"), now).await.unwrap();
    assert_eq!(f.platform.accept_sign_in(&two, Some(2), "two-2", now).await.unwrap(), Accepted::Opened, "raised");
    // After the raise's end, with two signed in, a third is over the normal limit again.
    let later = now + 61;
    assert_eq!(f.platform.accept_sign_in(&admin, Some(1), "admin-1", later).await.unwrap(), Accepted::OverLimit(1));
    // Idle sessions do not count.
    let idle = later + renkei_domain::account::IDLE_SECS + 1;
    assert_eq!(f.platform.accept_sign_in(&admin, Some(2), "admin-2", idle).await.unwrap(), Accepted::Opened);

    let log = f.platform.audit_log(Some(&t)).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for a in ["session_limit.set", "session_limit.raise", "sign_in.over_limit"] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
    let none = TenantId::parse("b").unwrap();
    assert!(f.platform.raise_session_limit(&none, 5, now + 60, ("root", "operator"), now).await.is_err(), "no limit to raise");
}

async fn account(f: &Fixture, n: &str) -> renkei_store::accounts::Account {
    f.platform.account_by_name(&name(n)).await.unwrap().unwrap()
}
