//! 同時接続利用者数: each tenant's limit of people signed in at once, with its temporary raise,
//! and the count of people signed in. The rules are `domain::account`'s; the check at sign-in
//! runs in the sign-in's own transaction (`accounts::PlatformStore::accept_sign_in`).

use crate::audit::{AuditEvent, append};
use crate::db::{Backend, Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::TenantId;
use renkei_domain::account::{IDLE_SECS, LIFETIME_SECS, SessionLimit};

/// `tenant`'s limit, locked for the rest of the transaction on PostgreSQL (sign-ins of one
/// tenant take turns in counting), or `None` if it has none.
pub(crate) fn limit_of(tx: &mut dyn Tx, tenant: &str) -> Result<Option<SessionLimit>> {
    let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    tx.query_opt(&format!("SELECT normal_limit, raised_limit, raised_until FROM session_limits WHERE tenant_id = ?1{lock}"), args![tenant])?
        .map(|r| {
            let count = |v: i64| u32::try_from(v).map_err(|_| StoreError::Corrupt("a session limit out of range".into()));
            let raise = match (r.get::<Option<i64>>(1)?, r.get::<Option<i64>>(2)?) {
                (Some(limit), Some(until)) => Some((count(limit)?, until)),
                _ => None,
            };
            Ok(SessionLimit { normal: count(r.get(0)?)?, raise })
        })
        .transpose()
}

/// People of `tenant` other than `except` with a session that stands at `now`.
pub(crate) fn signed_in(tx: &mut dyn Tx, tenant: &str, except: &str, now: i64) -> Result<u32> {
    let n: i64 = tx.value(
        "SELECT COUNT(DISTINCT account_id) FROM sessions WHERE tenant_id = ?1 AND account_id <> ?2 AND revoked_at IS NULL
         AND created_at > ?3 AND last_seen_at > ?4",
        args![tenant, except, now - LIFETIME_SECS, now - IDLE_SECS],
    )?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt("a count out of range".into()))
}

/// A tenant's limit as its admins and the operator see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitStatus {
    pub limit: Option<SessionLimit>,
    /// People signed in now.
    pub signed_in: u32,
}

impl PlatformStore {
    /// `tenant`'s limit and how many of its people are signed in at `now`.
    pub async fn session_limit(&self, tenant: &TenantId, now: i64) -> Result<LimitStatus> {
        let tenant = tenant.to_string();
        self.db
            .read(Scope::Tenant(tenant.clone()), move |tx| {
                Ok(LimitStatus { limit: limit_of(tx, &tenant)?, signed_in: signed_in(tx, &tenant, "", now)? })
            })
            .await
    }

    /// Sets `tenant`'s normal limit (a raise in force stays), audited in its chain as done by
    /// `actor` (name, role).
    pub async fn set_session_limit(&self, tenant: &TenantId, normal: u32, actor: (&str, &str), now: i64) -> Result<()> {
        let (tenant, actor, role) = (tenant.to_string(), actor.0.to_owned(), actor.1.to_owned());
        self.db
            .tx(Scope::Tenant(tenant.clone()), move |tx| {
                tx.execute(
                    "INSERT INTO session_limits (tenant_id, normal_limit, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant_id) DO UPDATE SET normal_limit = ?2, updated_at = ?3",
                    args![tenant, i64::from(normal), now],
                )?;
                let detail = format!("normal {normal}");
                let event = AuditEvent {
                    actor: &actor,
                    role: &role,
                    action: "session_limit.set",
                    target: &format!("tenant:{tenant}"),
                    detail: &detail,
                };
                append(tx, &tenant, &event)
            })
            .await
    }

    /// Raises `tenant`'s limit to `limit` until `until` (Unix seconds), replacing a raise in
    /// force; audited. Not found if the tenant has no normal limit to raise.
    pub async fn raise_session_limit(&self, tenant: &TenantId, limit: u32, until: i64, actor: (&str, &str), now: i64) -> Result<()> {
        let (tenant, actor, role) = (tenant.to_string(), actor.0.to_owned(), actor.1.to_owned());
        self.db
            .tx(Scope::Tenant(tenant.clone()), move |tx| {
                let set = tx.execute(
                    "UPDATE session_limits SET raised_limit = ?2, raised_until = ?3, updated_at = ?4 WHERE tenant_id = ?1",
                    args![tenant, i64::from(limit), until, now],
                )?;
                if set == 0 {
                    return Err(StoreError::NotFound("session limit"));
                }
                let detail = format!("limit {limit} until {until}");
                let event = AuditEvent {
                    actor: &actor,
                    role: &role,
                    action: "session_limit.raise",
                    target: &format!("tenant:{tenant}"),
                    detail: &detail,
                };
                append(tx, &tenant, &event)
            })
            .await
    }
}
