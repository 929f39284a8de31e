//! 障害通知 in the platform's database: each tenant's notice channels (an administrator's mail
//! address, or a webhook with its signing secret sealed under the master key) and the notices
//! to send. A notice row is written in the transaction that opens, explains or recovers the
//! incident (`monitor.rs` calls [`enqueue`]), one per channel, so a crash loses none and each
//! channel is retried apart from the others.

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::notice::{MAX_ATTEMPTS, NoticeKind};

/// How a channel reaches its people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
}

impl ChannelKind {
    pub fn code(&self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
    }

    fn parse(code: &str) -> Result<Self> {
        match code {
            "email" => Ok(ChannelKind::Email),
            "webhook" => Ok(ChannelKind::Webhook),
            other => Err(StoreError::Corrupt(format!("a notice channel of the unknown kind {other}"))),
        }
    }
}

/// Where one tenant's (or, `tenant` empty, the operator's) notices go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub tenant: String,
    pub kind: ChannelKind,
    /// The mail address or the webhook's URL.
    pub target: String,
    /// A webhook's signing secret, sealed (`MasterKey::seal_secret`, purpose "webhook-secret",
    /// the channel id bound).
    pub secret_enc: Option<Vec<u8>>,
    pub created_at: i64,
}

/// A notice due or sent, with its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: String,
    pub incident: String,
    pub kind: NoticeKind,
    pub channel: Channel,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub last_error: String,
}

const CHANNEL_COLUMNS: &str = "c.id, c.tenant_id, c.kind, c.target, c.secret_enc, c.created_at";

/// Notices with their channels, as [`notice`] reads them.
const NOTICES: &str = "SELECT n.id, n.incident_id, n.kind, n.attempts, n.sent_at, n.last_error,
    c.id, c.tenant_id, c.kind, c.target, c.secret_enc, c.created_at FROM notices n JOIN notice_channels c ON c.id = n.channel_id";

fn channel(r: &Row, at: usize) -> Result<Channel> {
    Ok(Channel {
        id: r.get(at)?,
        tenant: r.get(at + 1)?,
        kind: ChannelKind::parse(&r.get::<String>(at + 2)?)?,
        target: r.get(at + 3)?,
        secret_enc: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
    })
}

/// Writes a notice of `incident`'s moment `kind` for every channel of `tenant` and the
/// operator's, in the caller's transaction.
pub(crate) fn enqueue(tx: &mut dyn Tx, incident: &str, tenant: &str, kind: NoticeKind, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO notices (id, incident_id, channel_id, tenant_id, kind, created_at, next_attempt_at)
         SELECT CAST(?1 AS TEXT) || ':' || CAST(?3 AS TEXT) || ':' || CAST(CAST(?4 AS BIGINT) AS TEXT) || ':' || id, ?1, id, ?2, ?3,
                CAST(?4 AS BIGINT), CAST(?4 AS BIGINT)
         FROM notice_channels WHERE tenant_id IN (?2, '')
         ON CONFLICT DO NOTHING",
        args![incident, tenant, kind.code(), now],
    )?;
    Ok(())
}

impl PlatformStore {
    /// Adds a channel, audited on the tenant's chain (the platform's for the operator's).
    pub async fn add_notice_channel(&self, c: &Channel, actor: &str) -> Result<()> {
        let (c, actor) = (c.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO notice_channels (id, tenant_id, kind, target, secret_enc, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![c.id, c.tenant, c.kind.code(), c.target, c.secret_enc, c.created_at],
                )?;
                let detail = format!("kind={} target={}", c.kind.code(), c.target);
                append(
                    tx,
                    &c.tenant,
                    &AuditEvent {
                        actor: &actor,
                        role: "",
                        action: "notice.channel.add",
                        target: &format!("channel:{}", c.id),
                        detail: &detail,
                    },
                )
            })
            .await
    }

    /// Removes a channel and its unsent notices, audited; false if there was none.
    pub async fn remove_notice_channel(&self, id: &str, actor: &str) -> Result<bool> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                let Some(r) = tx.query_opt("SELECT tenant_id FROM notice_channels WHERE id = ?1", args![id])? else { return Ok(false) };
                let tenant: String = r.get(0)?;
                tx.execute("DELETE FROM notices WHERE channel_id = ?1 AND sent_at IS NULL", args![id])?;
                tx.execute("DELETE FROM notice_channels WHERE id = ?1", args![id])?;
                append(
                    tx,
                    &tenant,
                    &AuditEvent { actor: &actor, role: "", action: "notice.channel.remove", target: &format!("channel:{id}"), detail: "" },
                )?;
                Ok(true)
            })
            .await
    }

    /// The channels of `tenant` (the operator's: empty), oldest first.
    pub async fn notice_channels(&self, tenant: &str) -> Result<Vec<Channel>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    &format!("SELECT {CHANNEL_COLUMNS} FROM notice_channels c WHERE c.tenant_id = ?1 ORDER BY c.created_at, c.id"),
                    args![tenant],
                )
            })
            .await?;
        rows.iter().map(|r| channel(r, 0)).collect()
    }

    /// Claims up to `limit` notices due at `now` (not sent, not given up) for `lease` seconds:
    /// another process skips them until then, so each attempt is made once.
    pub async fn claim_notices(&self, now: i64, lease: i64, limit: i64) -> Result<Vec<Notice>> {
        self.db
            .tx(Scope::Operator, move |tx| {
                let rows = tx.query(
                    &format!(
                        "{NOTICES} WHERE n.sent_at IS NULL AND n.attempts < ?2 AND n.next_attempt_at <= ?1 ORDER BY n.next_attempt_at, n.id LIMIT ?3"
                    ),
                    args![now, MAX_ATTEMPTS, limit],
                )?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: String = r.get(0)?;
                    let claimed = tx.execute(
                        "UPDATE notices SET next_attempt_at = ?2 WHERE id = ?1 AND sent_at IS NULL AND next_attempt_at <= ?3",
                        args![id, now + lease, now],
                    )?;
                    if claimed == 1 {
                        out.push(notice(r)?);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Records a notice sent at `now`, and the incident's first notice if it is the first.
    pub async fn notice_sent(&self, id: &str, incident: &str, now: i64) -> Result<()> {
        let (id, incident) = (id.to_owned(), incident.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute("UPDATE notices SET sent_at = ?2, attempts = attempts + 1, last_error = '' WHERE id = ?1", args![id, now])?;
                tx.execute("UPDATE incidents SET first_notice_at = ?2 WHERE id = ?1 AND first_notice_at IS NULL", args![incident, now])?;
                Ok(())
            })
            .await
    }

    /// Records a failed attempt and when to try again.
    pub async fn notice_failed(&self, id: &str, error: &str, retry_at: i64) -> Result<()> {
        let (id, error) = (id.to_owned(), error.chars().take(500).collect::<String>());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "UPDATE notices SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                    args![id, error, retry_at],
                )?;
                Ok(())
            })
            .await
    }

    /// The notices of `incident`, oldest first.
    pub async fn notices_of(&self, incident: &str) -> Result<Vec<Notice>> {
        let incident = incident.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(&format!("{NOTICES} WHERE n.incident_id = ?1 ORDER BY n.created_at, n.id"), args![incident])
            })
            .await?;
        rows.iter().map(notice).collect()
    }
}

fn notice(r: &Row) -> Result<Notice> {
    let kind: String = r.get(2)?;
    Ok(Notice {
        id: r.get(0)?,
        incident: r.get(1)?,
        kind: NoticeKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("a notice of the unknown kind {kind}")))?,
        attempts: r.get(3)?,
        sent_at: r.get(4)?,
        last_error: r.get(5)?,
        channel: channel(r, 6)?,
    })
}
