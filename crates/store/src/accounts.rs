//! People's accounts and their sessions in the platform database. What is decided here is
//! only what must be atomic (a TOTP step used once, a failure counted); the rules of signing
//! in live in `domain::account` and the service (`server::accounts`).

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::policy::DutyScope;
use renkei_domain::{AccountName, ConsortiumId, OrgId, Role, TenantId};

/// An account as stored. The password hash and the sealed TOTP secret never leave the service.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: AccountName,
    /// `None` for the operator and a consortium admin.
    pub tenant: Option<TenantId>,
    pub org: Option<OrgId>,
    pub role: Role,
    /// The duties this person may file queries for (staff and approvers).
    pub duties: DutyScope,
    pub password_hash: String,
    /// The TOTP secret sealed under the master key (`MasterKey::seal_secret`), once enrolled.
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: i64,
    pub failures: u32,
    /// Unix seconds before which no sign-in is tried (the back-off).
    pub wait_until: i64,
    pub disabled: bool,
    /// The consortium a consortium admin oversees.
    pub consortium: Option<ConsortiumId>,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: AccountName,
    pub tenant: Option<TenantId>,
    pub org: Option<OrgId>,
    pub role: Role,
    pub password_hash: String,
    /// A consortium admin's consortium.
    pub consortium: Option<ConsortiumId>,
}

/// A session as stored, with its account.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked: bool,
    /// Signed in by password alone: it may enrol a second factor and sign out, nothing else.
    pub enrol_only: bool,
}

/// What became of a sign-in whose password and code were right ([`PlatformStore::accept_sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// The session is open.
    Opened,
    /// The code's step was used before: as a wrong code.
    CodeUsed,
    /// As many of the tenant's people as its limit allows (given) are signed in already.
    OverLimit(u32),
}

const ACCOUNT_COLUMNS: &str = "a.id, a.name, a.tenant_id, a.org_id, a.role, a.password_hash, a.totp_enc, a.totp_last_step, a.failures, a.wait_until, a.disabled_at, a.duties, a.consortium_id";

/// How many columns [`ACCOUNT_COLUMNS`] names: a query's own columns come after them.
const ACCOUNT_WIDTH: usize = 13;

fn corrupt(what: &str) -> impl Fn(renkei_domain::IdError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// An account from a row that starts with [`ACCOUNT_COLUMNS`].
fn account_row(r: &Row) -> Result<Account> {
    let role: String = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        name: AccountName::parse(&r.get::<String>(1)?).map_err(corrupt("an account's name"))?,
        tenant: r.get::<Option<String>>(2)?.map(|t| TenantId::parse(&t)).transpose().map_err(corrupt("an account's tenant"))?,
        org: r.get::<Option<String>>(3)?.map(|o| OrgId::parse(&o)).transpose().map_err(corrupt("an account's org"))?,
        role: Role::from_code(&role).ok_or_else(|| StoreError::Corrupt(format!("an account's role {role}")))?,
        password_hash: r.get(5)?,
        totp_sealed: r.get(6)?,
        totp_last_step: r.get(7)?,
        failures: r.get::<i64>(8)?.clamp(0, u32::MAX as i64) as u32,
        wait_until: r.get(9)?,
        disabled: r.get::<Option<i64>>(10)?.is_some(),
        duties: DutyScope::parse(&r.get::<String>(11)?).map_err(corrupt("an account's duties"))?,
        consortium: r
            .get::<Option<String>>(12)?
            .map(|c| ConsortiumId::parse(&c))
            .transpose()
            .map_err(corrupt("an account's consortium"))?,
    })
}

/// The scope an account's own acts run in, once it is known: its tenant's, or the operator's
/// for an account above tenants (whose acts go to the platform's audit chain).
fn scope_of(a: &Account) -> Scope {
    a.tenant.as_ref().map_or(Scope::Operator, |t| Scope::Tenant(t.to_string()))
}

/// The audit chain an account's acts go to: its tenant's, or the platform's.
fn chain_of(tenant: Option<&TenantId>) -> String {
    tenant.map_or_else(String::new, |t| t.to_string())
}

impl PlatformStore {
    /// The accounts of `tenant` not disabled (staff, approvers, its admins), for metering.
    pub async fn account_count(&self, tenant: &renkei_domain::TenantId) -> Result<i64> {
        let tenant = tenant.to_string();
        self.db
            .read(Scope::Operator, move |tx| {
                tx.value("SELECT COUNT(*) FROM accounts WHERE tenant_id = ?1 AND disabled_at IS NULL", args![tenant])
            })
            .await
    }

    /// Creates an account; `event` (naming who created it) is audited in the same transaction,
    /// in the new account's tenant's chain (or the platform's).
    pub async fn create_account(&self, new: &NewAccount, actor: &str, actor_role: &str) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let (n, id2, actor, actor_role) = (new.clone(), id.clone(), actor.to_owned(), actor_role.to_owned());
        let scope = new.tenant.as_ref().map_or(Scope::Operator, |t| Scope::Tenant(t.to_string()));
        self.db
            .tx(scope, move |tx| {
                // Names are unique on the whole platform (a sign-in names no tenant); under
                // row-level security a tenant's transaction cannot look for another's, so the
                // unique index says it.
                tx.execute(
                    "INSERT INTO accounts (id, name, tenant_id, org_id, role, password_hash, created_at, consortium_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    args![
                        id2,
                        n.name.as_str(),
                        n.tenant.as_ref().map(|t| t.to_string()),
                        n.org.as_ref().map(|o| o.to_string()),
                        n.role.code(),
                        n.password_hash,
                        crate::now_unix(),
                        n.consortium.as_ref().map(|c| c.to_string())
                    ],
                )
                .map_err(|e| match e {
                    StoreError::Duplicate(_) => StoreError::Conflict(format!("an account named {} already exists", n.name)),
                    e => e,
                })?;
                let target = format!("account:{}", n.name);
                let detail = format!("role={}", n.role.code());
                let event = AuditEvent { actor: &actor, role: &actor_role, action: "account.create", target: &target, detail: &detail };
                append(tx, &chain_of(n.tenant.as_ref()), &event)
            })
            .await?;
        Ok(id)
    }

    /// Every account of `tenant`, by name.
    pub async fn accounts_of(&self, tenant: &TenantId) -> Result<Vec<Account>> {
        let tenant = tenant.to_string();
        self.db
            .read(Scope::Tenant(tenant.clone()), move |tx| {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.tenant_id = ?1 ORDER BY a.name");
                tx.query(&sql, args![tenant])?.iter().map(account_row).collect()
            })
            .await
    }

    /// The account `name` if it is `tenant`'s (another tenant's is not seen: `None`).
    pub async fn account_of(&self, tenant: &TenantId, name: &AccountName) -> Result<Option<Account>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.db
            .read(Scope::Tenant(tenant.clone()), move |tx| {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.tenant_id = ?1 AND a.name = ?2");
                tx.query_opt(&sql, args![tenant, name])?.map(|r| account_row(&r)).transpose()
            })
            .await
    }

    /// The account named `name`, seen as a sign-in sees it (only that account).
    pub async fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>> {
        let name = name.to_string();
        self.db
            .read(Scope::Presented(name.clone()), move |tx| {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = ?1");
                tx.query_opt(&sql, args![name])?.map(|r| account_row(&r)).transpose()
            })
            .await
    }

    /// Counts a failed sign-in of `account` and sets its back-off from the new count by
    /// `wait_after`; audits it (a lockout when a wait starts). Returns the new count.
    pub async fn record_failed_sign_in(&self, account: &Account, now: i64, wait_after: fn(u32) -> i64) -> Result<u32> {
        let a = account.clone();
        self.db
            .tx(scope_of(&a), move |tx| {
                let failures: i64 =
                    tx.value("UPDATE accounts SET failures = failures + 1 WHERE id = ?1 RETURNING failures", args![a.id])?;
                let failures = failures.clamp(0, u32::MAX as i64) as u32;
                let wait = wait_after(failures);
                tx.execute("UPDATE accounts SET wait_until = ?2 WHERE id = ?1", args![a.id, if wait > 0 { now + wait } else { 0 }])?;
                let (target, detail) = (format!("account:{}", a.name), format!("failures={failures} wait_secs={wait}"));
                let action = if wait > 0 { "sign_in.locked" } else { "sign_in.failed" };
                let event = AuditEvent { actor: a.name.as_str(), role: a.role.code(), action, target: &target, detail: &detail };
                append(tx, &chain_of(a.tenant.as_ref()), &event)?;
                Ok(failures)
            })
            .await
    }

    /// Accepts a sign-in of `account` and opens the session `token_hash`. With the `step` of
    /// the TOTP code given, it is refused if a code of that step or a later one was used
    /// already, so one code signs in once; without one (an account yet to enrol a second
    /// factor) the session may only enrol one. Then, if the tenant has a limit of people signed
    /// in at once, a person beyond it is refused (and the refusal audited). Clears the
    /// failures; audited.
    pub async fn accept_sign_in(&self, account: &Account, step: Option<i64>, token_hash: &str, now: i64) -> Result<Accepted> {
        let (a, token_hash) = (account.clone(), token_hash.to_owned());
        self.db
            .tx(scope_of(&a), move |tx| {
                let taken = match step {
                    Some(step) => tx.execute(
                        "UPDATE accounts SET totp_last_step = ?2, failures = 0, wait_until = 0 WHERE id = ?1 AND totp_last_step < ?2",
                        args![a.id, step],
                    )?,
                    None => tx.execute("UPDATE accounts SET failures = 0, wait_until = 0 WHERE id = ?1 AND totp_enc IS NULL", args![a.id])?,
                };
                if taken == 0 {
                    return Ok(Accepted::CodeUsed);
                }
                if let Some(tenant) = &a.tenant {
                    let tenant = tenant.to_string();
                    if let Some(limit) = crate::session_limits::limit_of(tx, &tenant)? {
                        let (limit, others) = (limit.at(now), crate::session_limits::signed_in(tx, &tenant, &a.id, now)?);
                        if others >= limit {
                            let (target, detail) = (format!("account:{}", a.name), format!("limit {limit}"));
                            let event =
                                AuditEvent { actor: a.name.as_str(), role: a.role.code(), action: "sign_in.over_limit", target: &target, detail: &detail };
                            append(tx, &tenant, &event)?;
                            return Ok(Accepted::OverLimit(limit));
                        }
                    }
                }
                let purpose = if step.is_some() { "full" } else { "enrol" };
                tx.execute(
                    "INSERT INTO sessions (token_hash, account_id, tenant_id, purpose, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    args![token_hash, a.id, a.tenant.as_ref().map(|t| t.to_string()), purpose, now],
                )?;
                let target = format!("account:{}", a.name);
                let detail = format!("session={purpose}");
                let event = AuditEvent { actor: a.name.as_str(), role: a.role.code(), action: "sign_in", target: &target, detail: &detail };
                append(tx, &chain_of(a.tenant.as_ref()), &event)?;
                Ok(Accepted::Opened)
            })
            .await
    }

    /// Keeps `account`'s TOTP secret (sealed), its codes good from after `step`, and lets the
    /// enrolling `session` (its token hash) do everything its role may; audited as done by
    /// `actor` (name, role: the owner, or the operator bootstrapping an account). Refused (`false`) if the
    /// account has a second factor already.
    pub async fn enroll_totp(
        &self,
        account: &Account,
        sealed: Vec<u8>,
        step: i64,
        session: Option<&str>,
        actor: (&str, &str),
    ) -> Result<bool> {
        let (a, session, (actor, actor_role)) = (account.clone(), session.map(str::to_owned), (actor.0.to_owned(), actor.1.to_owned()));
        self.db
            .tx(scope_of(&a), move |tx| {
                let set = tx.execute(
                    "UPDATE accounts SET totp_enc = ?2, totp_last_step = ?3 WHERE id = ?1 AND totp_enc IS NULL",
                    args![a.id, sealed, step],
                )?;
                if set == 0 {
                    return Ok(false);
                }
                if let Some(token_hash) = session {
                    tx.execute("UPDATE sessions SET purpose = 'full' WHERE token_hash = ?1 AND account_id = ?2", args![token_hash, a.id])?;
                }
                let target = format!("account:{}", a.name);
                let event = AuditEvent { actor: &actor, role: &actor_role, action: "totp.enroll", target: &target, detail: "" };
                append(tx, &chain_of(a.tenant.as_ref()), &event)?;
                Ok(true)
            })
            .await
    }

    /// The session whose token hashes to `token_hash`, with its account.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let token_hash = token_hash.to_owned();
        self.db
            .read(Scope::Presented(token_hash.clone()), move |tx| {
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS}, s.created_at, s.last_seen_at, s.revoked_at, s.purpose FROM sessions s JOIN accounts a ON a.id = s.account_id
                     WHERE s.token_hash = ?1"
                );
                tx.query_opt(&sql, args![token_hash])?
                    .map(|r| {
                        Ok(Session {
                            account: account_row(&r)?,
                            created_at: r.get(ACCOUNT_WIDTH)?,
                            last_seen_at: r.get(ACCOUNT_WIDTH + 1)?,
                            revoked: r.get::<Option<i64>>(ACCOUNT_WIDTH + 2)?.is_some(),
                            enrol_only: r.get::<String>(ACCOUNT_WIDTH + 3)? != "full",
                        })
                    })
                    .transpose()
            })
            .await
    }

    /// Notes that the session `token_hash` was used at `now` (its idle timeout starts again).
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.db
            .tx(Scope::Presented(token_hash.clone()), move |tx| {
                tx.execute("UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1 AND last_seen_at < ?2", args![token_hash, now])?;
                Ok(())
            })
            .await
    }

    /// Sets the duties `account` may file queries for, as `actor` (name, role) decided; audited.
    pub async fn assign_duties(&self, account: &Account, duties: &DutyScope, actor: (&str, &str)) -> Result<()> {
        let (a, duties, (actor, actor_role)) = (account.clone(), duties.to_text(), (actor.0.to_owned(), actor.1.to_owned()));
        self.db
            .tx(scope_of(&a), move |tx| {
                tx.execute("UPDATE accounts SET duties = ?2 WHERE id = ?1", args![a.id, duties])?;
                let (target, detail) = (format!("account:{}", a.name), format!("duties={duties}"));
                let event = AuditEvent { actor: &actor, role: &actor_role, action: "duties.assign", target: &target, detail: &detail };
                append(tx, &chain_of(a.tenant.as_ref()), &event)
            })
            .await
    }

    /// Ends the session `token_hash` (sign-out); audited.
    pub async fn end_session(&self, session: &Session, token_hash: &str, now: i64) -> Result<()> {
        let (a, token_hash) = (session.account.clone(), token_hash.to_owned());
        self.db
            .tx(scope_of(&a), move |tx| {
                tx.execute("UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL", args![token_hash, now])?;
                let target = format!("account:{}", a.name);
                let event = AuditEvent { actor: a.name.as_str(), role: a.role.code(), action: "sign_out", target: &target, detail: "" };
                append(tx, &chain_of(a.tenant.as_ref()), &event)
            })
            .await
    }

    /// Ends every session of `account` (its password changed, or an admin said so), and sets
    /// `new_password_hash` if one is given; audited as `actor` did it. Returns how many ended.
    pub async fn revoke_sessions(
        &self,
        account: &Account,
        new_password_hash: Option<String>,
        actor: &str,
        actor_role: &str,
        now: i64,
    ) -> Result<u64> {
        let (a, actor, actor_role) = (account.clone(), actor.to_owned(), actor_role.to_owned());
        self.db
            .tx(scope_of(&a), move |tx| {
                let ended =
                    tx.execute("UPDATE sessions SET revoked_at = ?2 WHERE account_id = ?1 AND revoked_at IS NULL", args![a.id, now])?;
                let action = match &new_password_hash {
                    Some(h) => {
                        tx.execute("UPDATE accounts SET password_hash = ?2 WHERE id = ?1", args![a.id, h])?;
                        "password.change"
                    }
                    None => "sessions.revoke",
                };
                let (target, detail) = (format!("account:{}", a.name), format!("sessions_ended={ended}"));
                let event = AuditEvent { actor: &actor, role: &actor_role, action, target: &target, detail: &detail };
                append(tx, &chain_of(a.tenant.as_ref()), &event)?;
                Ok(ended)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_account_width_is_the_number_of_account_columns() {
        assert_eq!(super::ACCOUNT_COLUMNS.split(',').count(), super::ACCOUNT_WIDTH);
    }
}
