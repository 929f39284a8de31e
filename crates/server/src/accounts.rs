//! Signing people in and out (issue 14 §1): the service the JSON API and the pages call. The
//! rules are `domain::account`'s; what must be atomic is the store's; this file puts them in
//! order and keeps the answers alike where a difference would tell an attacker something.
//!
//! Invariants (tests below):
//! - An unknown name, a wrong password, a wrong or used code, a disabled account and an account
//!   waiting out its back-off all get [`AccountError::Refused`], after the same Argon2id work.
//! - A second factor is required: an account without one can only open an enrolment session.
//! - A session ends when idle, when old, when signed out, and when its owner's password changes.

use crate::Platform;
use renkei_crypto::password;
use renkei_crypto::totp::Totp;
use renkei_domain::account::{self, PasswordError, SessionEnd};
use renkei_domain::{AccountName, ConsortiumId, OrgId, Role, TenantId};
use renkei_store::StoreError;
use renkei_store::accounts::{Accepted, Account, NewAccount, Session};
use renkei_store::platform::PlatformStore;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Whatever was wrong: the answer is the same for every reason.
    #[error("the name, password or code is not right, or the account must wait after repeated failures")]
    Refused,
    #[error("the session has ended: {0:?}")]
    Ended(SessionEnd),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("the account has a second factor already")]
    AlreadyEnrolled,
    /// 同時接続利用者数: the tenant's limit of people signed in at once is reached.
    #[error(
        "{0} people of this municipality are signed in already, as many as its contract allows; try again when one signs out, or ask the administrator"
    )]
    OverLimit(u32),
    /// The account's tenant and org do not fit its role (named in the message).
    #[error("{0}")]
    Placement(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Crypto(String),
}

impl From<renkei_crypto::CryptoError> for AccountError {
    fn from(e: renkei_crypto::CryptoError) -> Self {
        AccountError::Crypto(e.to_string())
    }
}

/// Who a new account is for.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub name: &'a AccountName,
    /// `None` for the operator and a consortium admin.
    pub tenant: Option<&'a TenantId>,
    /// The org of staff and approvers.
    pub org: Option<&'a OrgId>,
    pub role: Role,
    /// The consortium a consortium admin oversees (no other role has one).
    pub consortium: Option<&'a ConsortiumId>,
}

/// A sign-in that succeeded: the token to hand out once, and whether it may only enrol.
pub struct SignedIn {
    pub token: Zeroizing<String>,
    pub enrol_only: bool,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("token", &"…").field("enrol_only", &self.enrol_only).finish()
    }
}

/// An enrolment begun: the secret to scan (URI and QR code) and the sealed form to send back
/// with the first code, so that nothing is kept until the owner proves they hold it.
pub struct Enrolment {
    pub uri: Zeroizing<String>,
    pub qr_svg: Zeroizing<String>,
    pub sealed: Vec<u8>,
}

fn now_unix() -> i64 {
    renkei_store::now_unix()
}

/// The Argon2id hash of a new password, made off the async threads.
async fn hash_password(password: Zeroizing<String>) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AccountError::Crypto(e.to_string()))?
        .map_err(Into::into)
}

/// Runs Argon2id off the async threads: it takes tens of milliseconds of CPU by design.
async fn verify_password(password: Zeroizing<String>, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => password::verify(&password, &h),
        None => {
            password::verify_nothing(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Creates an account with `password` (checked against `domain::account`, kept as its Argon2id
/// hash), audited as `actor` with `actor_role` did it. Returns its id. A function of the store
/// alone, so that `renkei admin operator-create` makes the first account the same way.
pub async fn create_account(
    store: &PlatformStore,
    who: Person<'_>,
    password: &str,
    actor: &str,
    actor_role: &str,
) -> Result<String, AccountError> {
    let Person { name, tenant, org, role, consortium } = who;
    match (role == Role::ConsortiumAdmin, consortium) {
        (true, None) => return Err(AccountError::Placement("a consortium admin oversees a consortium: name it".into())),
        (false, Some(_)) => return Err(AccountError::Placement(format!("role {} oversees no consortium", role.code()))),
        (true, Some(c)) if store.consortium(c).await?.is_none() => {
            return Err(AccountError::Placement(format!("there is no consortium {c}")));
        }
        _ => {}
    }
    match (role.is_tenant_role(), tenant) {
        (true, None) => return Err(AccountError::Placement(format!("role {} belongs to a tenant: name it", role.code()))),
        (false, Some(_)) => return Err(AccountError::Placement(format!("role {} belongs to no tenant", role.code()))),
        _ => {}
    }
    match (role.needs_org(), org, tenant) {
        (true, None, _) => return Err(AccountError::Placement(format!("role {} belongs to an org of its tenant: name it", role.code()))),
        (true, Some(o), Some(t)) if !store.orgs(Some(t)).await?.iter().any(|x| &x.id == o) => {
            return Err(AccountError::Placement(format!("tenant {t} has no org {o}")));
        }
        (false, Some(_), _) => return Err(AccountError::Placement(format!("role {} belongs to no org", role.code()))),
        _ => {}
    }
    if let Some(t) = tenant
        && !store.has_tenant(t).await?
    {
        return Err(AccountError::Placement(format!("there is no tenant {t}")));
    }
    account::check_new_password(name, password)?;
    let pw = Zeroizing::new(password.to_owned());
    let hash = hash_password(pw).await?;
    let new = NewAccount {
        name: name.clone(),
        tenant: tenant.cloned(),
        org: org.cloned(),
        role,
        password_hash: hash,
        consortium: consortium.cloned(),
    };
    Ok(store.create_account(&new, actor, actor_role).await?)
}

impl Platform {
    /// Creates an account (see [`create_account`]).
    pub async fn create_account(&self, who: Person<'_>, password: &str, actor: &str, actor_role: &str) -> Result<String, AccountError> {
        create_account(&self.platform, who, password, actor, actor_role).await
    }

    /// Ends every session of the account `name` of `tenant` (its admin's act, audited as
    /// `actor`): how many were open, or `None` if the tenant has no such account.
    pub async fn revoke_account_sessions(
        &self,
        tenant: &TenantId,
        name: &AccountName,
        actor: (&str, &str),
    ) -> Result<Option<u64>, AccountError> {
        let Some(target) = self.platform.account_of(tenant, name).await? else { return Ok(None) };
        Ok(Some(self.platform.revoke_sessions(&target, None, actor.0, actor.1, now_unix()).await?))
    }

    /// Sets the duties the account `name` of `tenant` may file queries for: only staff and
    /// approvers file, and only for duties 別表第二 gives their org's type. `None` if the
    /// tenant has no such account.
    pub async fn assign_duties(
        &self,
        tenant: &TenantId,
        name: &AccountName,
        duties: &[renkei_domain::DutyCode],
        actor: (&str, &str),
    ) -> Result<Option<()>, AccountError> {
        let Some(a) = self.platform.account_of(tenant, name).await? else { return Ok(None) };
        let org = match (&a.org, a.role.needs_org()) {
            (Some(org), true) => org,
            _ => return Err(AccountError::Placement(format!("role {} files no queries", a.role.code()))),
        };
        let org = self.org(org).await?.ok_or_else(|| AccountError::Placement(format!("org {org} is gone")))?;
        if let Some(d) = duties.iter().find(|d| !self.matrix.files_for(&org.org_type, d)) {
            return Err(AccountError::Placement(format!("別表第二 gives an org of type {} no duty {d}", org.org_type)));
        }
        let scope = renkei_domain::policy::DutyScope::Only(duties.iter().cloned().collect());
        self.platform.assign_duties(&a, &scope, actor).await?;
        Ok(Some(()))
    }

    /// Signs `name` in with `password` and, once enrolled, the TOTP `code`.
    pub async fn sign_in(&self, name: &str, password: &str, code: Option<&str>) -> Result<SignedIn, AccountError> {
        let now = now_unix();
        let pw = Zeroizing::new(password.to_owned());
        let found = match AccountName::parse(name) {
            Ok(n) => self.platform.account_by_name(&n).await?,
            Err(_) => None,
        };
        let usable = found.filter(|a| !a.disabled && now >= a.wait_until);
        let Some(a) = usable else {
            verify_password(pw, None).await;
            return Err(AccountError::Refused);
        };
        if !verify_password(pw, Some(a.password_hash.clone())).await {
            self.platform.record_failed_sign_in(&a, now, account::wait_after).await?;
            return Err(AccountError::Refused);
        }
        let step = match &a.totp_sealed {
            None => None,
            Some(sealed) => {
                let step = self.totp_of(&a, sealed)?.check(code.unwrap_or_default(), now.max(0) as u64);
                match step {
                    Some(s) => Some(s as i64),
                    None => {
                        self.platform.record_failed_sign_in(&a, now, account::wait_after).await?;
                        return Err(AccountError::Refused);
                    }
                }
            }
        };
        let (token, hash) = renkei_crypto::session::generate();
        match self.platform.accept_sign_in(&a, step, &hash, now).await? {
            Accepted::Opened => {}
            Accepted::CodeUsed => {
                // A code used before: as a wrong code.
                self.platform.record_failed_sign_in(&a, now, account::wait_after).await?;
                return Err(AccountError::Refused);
            }
            // Said only to whoever knows the password and the code.
            Accepted::OverLimit(limit) => return Err(AccountError::OverLimit(limit)),
        }
        Ok(SignedIn { token, enrol_only: step.is_none() })
    }

    /// The session `token` stands for, if it still stands; its idle time starts again.
    pub async fn session(&self, token: &str) -> Result<Session, AccountError> {
        let hash = renkei_crypto::session::hash(token);
        let Some(s) = self.platform.session(&hash).await? else { return Err(AccountError::Ended(SessionEnd::Revoked)) };
        let now = now_unix();
        account::session_state(s.created_at, s.last_seen_at, s.revoked || s.account.disabled, now).map_err(AccountError::Ended)?;
        self.platform.touch_session(&hash, now).await?;
        Ok(s)
    }

    /// Ends the session `token`.
    pub async fn sign_out(&self, token: &str) -> Result<(), AccountError> {
        let s = self.session(token).await?;
        self.platform.end_session(&s, &renkei_crypto::session::hash(token), now_unix()).await?;
        Ok(())
    }

    /// Begins enrolling a second factor for the account of an enrolment session.
    pub fn begin_enrolment(&self, s: &Session) -> Result<Enrolment, AccountError> {
        if s.account.totp_sealed.is_some() {
            return Err(AccountError::AlreadyEnrolled);
        }
        let totp = Totp::generate(s.account.name.as_str())?;
        let sealed = totp.seal(&self.master, &s.account.id)?;
        Ok(Enrolment { uri: totp.uri()?, qr_svg: totp.qr_svg()?, sealed })
    }

    /// Finishes an enrolment with the first `code` of the secret `sealed` (as
    /// [`Platform::begin_enrolment`] gave it); the session `token` then goes on in full.
    pub async fn finish_enrolment(&self, token: &str, sealed: &[u8], code: &str) -> Result<(), AccountError> {
        let s = self.session(token).await?;
        let totp = self.totp_of(&s.account, sealed).map_err(|_| AccountError::Refused)?;
        let Some(step) = totp.check(code, now_unix().max(0) as u64) else { return Err(AccountError::Refused) };
        let session = renkei_crypto::session::hash(token);
        if !self
            .platform
            .enroll_totp(&s.account, sealed.to_vec(), step as i64, Some(&session), (s.account.name.as_str(), s.account.role.code()))
            .await?
        {
            return Err(AccountError::AlreadyEnrolled);
        }
        Ok(())
    }

    /// Changes the password of the session's account, which ends every session of it.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Result<(), AccountError> {
        let s = self.session(token).await?;
        if !verify_password(Zeroizing::new(current.to_owned()), Some(s.account.password_hash.clone())).await {
            return Err(AccountError::Refused);
        }
        account::check_new_password(&s.account.name, new)?;
        let pw = Zeroizing::new(new.to_owned());
        let hash = hash_password(pw).await?;
        let a = &s.account;
        self.platform.revoke_sessions(a, Some(hash), a.name.as_str(), a.role.code(), now_unix()).await?;
        Ok(())
    }

    fn totp_of(&self, a: &Account, sealed: &[u8]) -> Result<Totp, AccountError> {
        Ok(Totp::unseal(&self.master, &a.id, sealed, a.name.as_str())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const PW: &str = "correct horse battery staple";

    /// A platform with tenant `t` and the enrolled tenant admin `admin-t`: (platform, the TOTP).
    async fn enrolled() -> (tempfile::TempDir, Arc<Platform>, Totp) {
        let (dir, p, _store, org) = crate::test_support::platform().await;
        let name = AccountName::parse("admin-t").unwrap();
        let who = Person { name: &name, tenant: Some(&org.tenant), org: None, role: Role::TenantAdmin, consortium: None };
        p.create_account(who, PW, "operator", "operator").await.unwrap();
        let first = p.sign_in("admin-t", PW, None).await.unwrap();
        assert!(first.enrol_only, "no second factor yet: an enrolment session");
        let s = p.session(&first.token).await.unwrap();
        let e = p.begin_enrolment(&s).unwrap();
        assert!(e.uri.starts_with("otpauth://totp/") && e.qr_svg.contains("<svg"));
        let a = p.platform.account_by_name(&name).await.unwrap().unwrap();
        let totp = p.totp_of(&a, &e.sealed).unwrap();
        // The code of the step before, so that the tests' own sign-in may use this step's.
        let code = totp.code((now_unix() - 30) as u64);
        p.finish_enrolment(&first.token, &e.sealed, &code).await.unwrap();
        assert!(!p.session(&first.token).await.unwrap().enrol_only);
        (dir, p, totp)
    }

    fn code_now(t: &Totp) -> String {
        t.code(now_unix() as u64)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_password_and_a_code_sign_in_once_and_the_code_not_again() {
        let (_dir, p, totp) = enrolled().await;
        let code = code_now(&totp);
        let s = p.sign_in("admin-t", PW, Some(&code)).await.unwrap();
        assert!(!s.enrol_only);
        assert_eq!(p.session(&s.token).await.unwrap().account.role, Role::TenantAdmin);
        assert!(matches!(p.sign_in("admin-t", PW, Some(&code)).await, Err(AccountError::Refused)), "a used code");
        assert!(matches!(p.sign_in("admin-t", PW, None).await, Err(AccountError::Refused)), "enrolled: a code is required");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_is_placed_as_its_role_requires() {
        let (_dir, p, _store, org) = crate::test_support::platform().await;
        let other = OrgId::parse("elsewhere").unwrap();
        let nowhere = TenantId::parse("nowhere").unwrap();
        let n = AccountName::parse("someone").unwrap();
        let cases = [
            (None, None, Role::Staff, "role staff belongs to a tenant: name it"),
            (Some(&org.tenant), None, Role::Operator, "role operator belongs to no tenant"),
            (Some(&org.tenant), None, Role::Approver, "role approver belongs to an org of its tenant: name it"),
            (Some(&org.tenant), Some(&other), Role::Staff, "tenant t has no org elsewhere"),
            (Some(&org.tenant), Some(&org.id), Role::Auditor, "role auditor belongs to no org"),
            (Some(&nowhere), None, Role::TenantAdmin, "there is no tenant nowhere"),
        ];
        for (tenant, o, role, why) in cases {
            let who = Person { name: &n, tenant, org: o, role, consortium: None };
            let e = p.create_account(who, PW, "operator", "operator").await.unwrap_err();
            assert_eq!(e.to_string(), why);
        }
        let who = Person { name: &n, tenant: Some(&org.tenant), org: Some(&org.id), role: Role::Staff, consortium: None };
        p.create_account(who, PW, "operator", "operator").await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_name_and_a_wrong_password_answer_alike() {
        let (_dir, p, totp) = enrolled().await;
        let unknown = p.sign_in("nobody", PW, Some(&code_now(&totp))).await.unwrap_err().to_string();
        let wrong = p.sign_in("admin-t", "wrong password here", Some(&code_now(&totp))).await.unwrap_err().to_string();
        let bad_name = p.sign_in("Not A Name!", PW, None).await.unwrap_err().to_string();
        assert_eq!(unknown, wrong);
        assert_eq!(unknown, bad_name);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeated_failures_make_the_account_wait_and_the_wait_answers_alike() {
        let (_dir, p, totp) = enrolled().await;
        for _ in 0..account::FREE_FAILURES {
            assert!(matches!(p.sign_in("admin-t", "wrong password here", None).await, Err(AccountError::Refused)));
        }
        let a = p.platform.account_by_name(&AccountName::parse("admin-t").unwrap()).await.unwrap().unwrap();
        assert!(a.wait_until > now_unix(), "waiting");
        let during = p.sign_in("admin-t", PW, Some(&code_now(&totp))).await.unwrap_err().to_string();
        assert_eq!(during, AccountError::Refused.to_string(), "the right password waits too, and says nothing more");
        let log = p.platform.audit_log(Some(&TenantId::parse("t").unwrap())).await.unwrap();
        assert!(log.iter().any(|e| e.action == "sign_in.locked"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signing_out_and_changing_the_password_end_sessions() {
        let (_dir, p, totp) = enrolled().await;
        let s = p.sign_in("admin-t", PW, Some(&code_now(&totp))).await.unwrap();
        p.sign_out(&s.token).await.unwrap();
        assert!(matches!(p.session(&s.token).await, Err(AccountError::Ended(SessionEnd::Revoked))));
        assert!(matches!(p.session("rs_made-up").await, Err(AccountError::Ended(_))));
        // The enrolment session is still open; a password change ends it (and all others).
        let other = p.platform.account_by_name(&AccountName::parse("admin-t").unwrap()).await.unwrap().unwrap();
        let (token, hash) = renkei_crypto::session::generate();
        assert_eq!(p.platform.accept_sign_in(&other, Some(i64::MAX - 1), &hash, now_unix()).await.unwrap(), Accepted::Opened);
        assert!(matches!(p.change_password(&token, "not the password", "a new long passphrase").await, Err(AccountError::Refused)));
        assert!(matches!(p.change_password(&token, PW, "short").await, Err(AccountError::Password(PasswordError::TooShort))));
        p.change_password(&token, PW, "a new long passphrase").await.unwrap();
        assert!(matches!(p.session(&token).await, Err(AccountError::Ended(SessionEnd::Revoked))));
    }
}
