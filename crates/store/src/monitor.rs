//! The SLA monitor's records in the platform's database: each probe's result and latency, the
//! incidents (障害) opened on runs of failures and recovered, announced maintenance windows, and
//! the schedule's ticks (one `serve` process claims each). The rules are `domain::incident`'s
//! and `domain::sla`'s; no personal data is kept (the probes act for a probe person). Opening,
//! recovering and explaining an incident and announcing maintenance are audited on the
//! platform's chain, and each writes its notices (`notices.rs`) in the same transaction.

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::incident::{ProbeKind, ProbeResult};
use renkei_domain::notice::NoticeKind;
use renkei_domain::sla::{Outage, Span};
use renkei_domain::{DutyCode, ItemCode, OrgId, TenantId};

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRecord {
    pub tenant: String,
    pub kind: ProbeKind,
    pub at_ms: i64,
    pub ok: bool,
    pub latency_ms: i64,
    /// Why it failed (never a personal value), or empty.
    pub detail: String,
}

/// An incident of one tenant's probe (`tenant` empty: the platform's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub tenant: String,
    pub kind: ProbeKind,
    /// The first failure of the run that opened it.
    pub started_at: i64,
    pub opened_at: i64,
    /// When the first notice of it went out.
    pub first_notice_at: Option<i64>,
    pub recovered_at: Option<i64>,
    /// What the operator wrote of its cause.
    pub cause: String,
}

impl Incident {
    pub fn outage(&self) -> Outage {
        Outage { started_at: self.started_at, recovered_at: self.recovered_at }
    }
}

/// An announced maintenance window (`tenant` empty: every tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: String,
    pub tenant: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub note: String,
    pub announced_at: i64,
}

/// A tenant the monitor probes: its probes present `org`'s probe key, and the round trip files
/// `duty` for `item` to `org` itself through the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub tenant: TenantId,
    pub org: OrgId,
    pub duty: DutyCode,
    pub item: ItemCode,
    pub enrolled_at: i64,
}

/// The label of the probe's API key in the tenant's key list.
pub const PROBE_KEY_LABEL: &str = "SLA監視 (renkei monitor)";

const INCIDENT_COLUMNS: &str = "id, tenant_id, kind, started_at, opened_at, first_notice_at, recovered_at, cause";

fn incident(r: &Row) -> Result<Incident> {
    let kind: String = r.get(2)?;
    Ok(Incident {
        id: r.get(0)?,
        tenant: r.get(1)?,
        kind: ProbeKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("an incident of the unknown probe {kind}")))?,
        started_at: r.get(3)?,
        opened_at: r.get(4)?,
        first_notice_at: r.get(5)?,
        recovered_at: r.get(6)?,
        cause: r.get(7)?,
    })
}

fn audit(tx: &mut dyn Tx, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
    append(tx, "", &AuditEvent { actor, role: "", action, target, detail })
}

fn parse<T>(what: &'static str, text: String, f: impl Fn(&str) -> std::result::Result<T, renkei_domain::IdError>) -> Result<T> {
    f(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl PlatformStore {
    /// Enrols `t.tenant` in the monitor (again: its org, duty and item replaced), storing the
    /// hash of the probe's API key scoped to that org and duty (a revoked one made live again);
    /// audited on the tenant's chain, so its administrators see who probes them.
    pub async fn enrol_probe(&self, t: &ProbeTarget, key_hash: &str, actor: &str) -> Result<()> {
        let (t, key_hash, actor) = (t.clone(), key_hash.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                crate::platform::require_org(tx, &t.tenant, &t.org)?;
                tx.execute(
                    "INSERT INTO api_keys (key_hash, tenant_id, org_id, label, duties, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (key_hash) DO UPDATE SET org_id = ?3, duties = ?5, revoked_at = NULL",
                    args![key_hash, t.tenant.as_str(), t.org.as_str(), PROBE_KEY_LABEL, t.duty.as_str(), t.enrolled_at],
                )?;
                tx.execute(
                    "INSERT INTO probe_targets (tenant_id, org_id, duty, item, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant_id) DO UPDATE SET org_id = ?2, duty = ?3, item = ?4, enrolled_at = ?5",
                    args![t.tenant.as_str(), t.org.as_str(), t.duty.as_str(), t.item.as_str(), t.enrolled_at],
                )?;
                let detail = format!("org={} duty={} item={} key={}", t.org, t.duty, t.item, crate::platform::key_id(&key_hash));
                append(
                    tx,
                    t.tenant.as_str(),
                    &AuditEvent { actor: &actor, role: "", action: "monitor.enrol", target: &format!("org:{}", t.org), detail: &detail },
                )
            })
            .await
    }

    /// Stops probing `tenant` and revokes the probe's key; false if it was not enrolled.
    pub async fn withdraw_probe(&self, tenant: &TenantId, key_hash: &str, actor: &str) -> Result<bool> {
        let (tenant, key_hash, actor) = (tenant.clone(), key_hash.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                if tx.execute("DELETE FROM probe_targets WHERE tenant_id = ?1", args![tenant.as_str()])? == 0 {
                    return Ok(false);
                }
                tx.execute(
                    "UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND key_hash = ?2 AND revoked_at IS NULL",
                    args![tenant.as_str(), key_hash, crate::now_unix()],
                )?;
                append(tx, tenant.as_str(), &AuditEvent { actor: &actor, role: "", action: "monitor.withdraw", target: "", detail: "" })?;
                Ok(true)
            })
            .await
    }

    /// The tenants the monitor probes, by tenant id.
    pub async fn probe_targets(&self) -> Result<Vec<ProbeTarget>> {
        let rows = self
            .db
            .read(Scope::Operator, |tx| {
                tx.query("SELECT tenant_id, org_id, duty, item, enrolled_at FROM probe_targets ORDER BY tenant_id", args![])
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ProbeTarget {
                    tenant: parse("probe target's tenant", r.get(0)?, TenantId::parse)?,
                    org: parse("probe target's org", r.get(1)?, OrgId::parse)?,
                    duty: parse("probe target's duty", r.get(2)?, DutyCode::parse)?,
                    item: parse("probe target's item", r.get(3)?, ItemCode::parse)?,
                    enrolled_at: r.get(4)?,
                })
            })
            .collect()
    }

    /// Claims the schedule's tick `tick` for `by`: true for the one process that gets it.
    pub async fn claim_monitor_tick(&self, tick: i64, by: &str, now: i64) -> Result<bool> {
        let by = by.to_owned();
        self.db
            .tx(Scope::Operator, move |tx| {
                let n = tx.execute(
                    "INSERT INTO monitor_ticks (tick, claimed_by, claimed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    args![tick, by, now],
                )?;
                Ok(n == 1)
            })
            .await
    }

    /// Forgets the ticks claimed before `before` (Unix seconds): a claim only has to outlive the
    /// clock jumps it guards against. Returns how many were forgotten.
    pub async fn forget_monitor_ticks(&self, before: i64) -> Result<u64> {
        self.db.tx(Scope::Operator, move |tx| tx.execute("DELETE FROM monitor_ticks WHERE claimed_at < ?1", args![before])).await
    }

    /// Records a probe's result.
    pub async fn record_probe(&self, p: &ProbeRecord) -> Result<()> {
        let p = p.clone();
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO probe_results (tenant_id, kind, at_ms, ok, latency_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT DO NOTHING",
                    args![p.tenant, p.kind.as_str(), p.at_ms, i64::from(p.ok), p.latency_ms, p.detail],
                )?;
                Ok(())
            })
            .await
    }

    /// The latest `n` results of `tenant`'s `kind` probe, newest first (`at` in seconds).
    pub async fn recent_probes(&self, tenant: &str, kind: ProbeKind, n: i64) -> Result<Vec<ProbeResult>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT at_ms, ok FROM probe_results WHERE tenant_id = ?1 AND kind = ?2 ORDER BY at_ms DESC LIMIT ?3",
                    args![tenant, kind.as_str(), n],
                )
            })
            .await?;
        rows.iter().map(|r| Ok(ProbeResult { at: r.get::<i64>(0)?.div_euclid(1000), ok: r.get(1)? })).collect()
    }

    /// `tenant`'s latest `n` probe results of every kind, newest first.
    pub async fn probe_results(&self, tenant: &str, n: i64) -> Result<Vec<ProbeRecord>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT tenant_id, kind, at_ms, ok, latency_ms, detail FROM probe_results WHERE tenant_id = ?1
                     ORDER BY at_ms DESC, kind LIMIT ?2",
                    args![tenant, n],
                )
            })
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get(1)?;
                Ok(ProbeRecord {
                    tenant: r.get(0)?,
                    kind: ProbeKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("a probe result of the unknown probe {kind}")))?,
                    at_ms: r.get(2)?,
                    ok: r.get(3)?,
                    latency_ms: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .collect()
    }

    /// The latencies (ms) of `tenant`'s successful `kind` probes within `span`: raw, and as the
    /// roll-ups of its days read back (`crate::rollup`).
    pub async fn probe_latencies(&self, tenant: &str, kind: ProbeKind, span: Span) -> Result<Vec<u64>> {
        let tenant = tenant.to_owned();
        self.db
            .read(Scope::Operator, move |tx| {
                let rows = tx.query(
                    "SELECT latency_ms FROM probe_results WHERE tenant_id = ?1 AND kind = ?2 AND ok = 1 AND at_ms >= ?3 AND at_ms < ?4",
                    args![tenant, kind.as_str(), span.0 * 1000, span.1.saturating_mul(1000)],
                )?;
                let mut all = rows.iter().map(|r| Ok(u64::try_from(r.get::<i64>(0)?).unwrap_or(0))).collect::<Result<Vec<u64>>>()?;
                all.extend(crate::rollup::latencies_in(tx, &tenant, kind, span)?);
                Ok(all)
            })
            .await
    }

    /// How many probes of `tenant` ran within `span`, and how many failed, raw and rolled up.
    pub async fn probe_counts(&self, tenant: &str, span: Span) -> Result<(i64, i64)> {
        let tenant = tenant.to_owned();
        self.db
            .read(Scope::Operator, move |tx| {
                let r = tx
                    .query_opt(
                        "SELECT COUNT(*), COUNT(CASE WHEN ok = 0 THEN 1 END) FROM probe_results WHERE tenant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3",
                        args![tenant, span.0 * 1000, span.1.saturating_mul(1000)],
                    )?
                    .ok_or(StoreError::NotFound("probe counts"))?;
                let (rolled, rolled_failed) = crate::rollup::counts_in(tx, &tenant, span)?;
                Ok((r.get::<i64>(0)? + rolled, r.get::<i64>(1)? + rolled_failed))
            })
            .await
    }

    /// Opens an incident of `tenant`'s `kind` probe that started at `started_at`, audited; `None`
    /// if one is open already (another process opened it first).
    pub async fn open_incident(&self, tenant: &str, kind: ProbeKind, started_at: i64, now: i64) -> Result<Option<Incident>> {
        let i = Incident {
            id: uuid::Uuid::now_v7().to_string(),
            tenant: tenant.to_owned(),
            kind,
            started_at,
            opened_at: now,
            first_notice_at: None,
            recovered_at: None,
            cause: String::new(),
        };
        self.db
            .tx(Scope::Operator, move |tx| {
                let n = tx.execute(
                    "INSERT INTO incidents (id, tenant_id, kind, started_at, opened_at, cause, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, '', ?5)
                     ON CONFLICT DO NOTHING",
                    args![i.id, i.tenant, kind.as_str(), started_at, now],
                )?;
                if n == 0 {
                    return Ok(None);
                }
                let detail = format!("tenant={} probe={} started_at={started_at}", i.tenant, kind.as_str());
                audit(tx, "monitor", "incident.open", &format!("incident:{}", i.id), &detail)?;
                crate::notices::enqueue(tx, &i.id, &i.tenant, NoticeKind::Opened, now)?;
                Ok(Some(i))
            })
            .await
    }

    /// Records that service came back at `recovered_at`, audited; not found if the incident is
    /// not open.
    pub async fn recover_incident(&self, id: &str, recovered_at: i64, now: i64) -> Result<Incident> {
        let id = id.to_owned();
        self.db
            .tx(Scope::Operator, move |tx| {
                let n = tx.execute(
                    "UPDATE incidents SET recovered_at = ?2, updated_at = ?3 WHERE id = ?1 AND recovered_at IS NULL",
                    args![id, recovered_at, now],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("open incident"));
                }
                audit(tx, "monitor", "incident.recover", &format!("incident:{id}"), &format!("recovered_at={recovered_at}"))?;
                let row = tx.query_opt(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"), args![id])?;
                let i = incident(&row.ok_or(StoreError::NotFound("incident"))?)?;
                crate::notices::enqueue(tx, &i.id, &i.tenant, NoticeKind::Recovered, now)?;
                Ok(i)
            })
            .await
    }

    /// Sets what the operator found the cause to be, audited as `actor`.
    pub async fn set_incident_cause(&self, id: &str, cause: &str, actor: &str, now: i64) -> Result<()> {
        let (id, cause, actor) = (id.to_owned(), cause.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                let n = tx.execute("UPDATE incidents SET cause = ?2, updated_at = ?3 WHERE id = ?1", args![id, cause, now])?;
                if n == 0 {
                    return Err(StoreError::NotFound("incident"));
                }
                let tenant: String = tx.value("SELECT tenant_id FROM incidents WHERE id = ?1", args![id])?;
                crate::notices::enqueue(tx, &id, &tenant, NoticeKind::Updated, now)?;
                audit(tx, &actor, "incident.cause", &format!("incident:{id}"), &format!("{} characters", cause.chars().count()))
            })
            .await
    }

    /// One incident.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let id = id.to_owned();
        let row = self
            .db
            .read(Scope::Operator, move |tx| tx.query_opt(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"), args![id]))
            .await?;
        row.as_ref().map(incident).transpose()
    }

    /// The incidents open now, oldest first.
    pub async fn open_incidents(&self) -> Result<Vec<Incident>> {
        let rows = self
            .db
            .read(Scope::Operator, |tx| {
                tx.query(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE recovered_at IS NULL ORDER BY started_at, id"), args![])
            })
            .await?;
        rows.iter().map(incident).collect()
    }

    /// `tenant`'s incidents (and the platform's, `tenant` empty) that overlap `span`, oldest first.
    pub async fn incidents_of(&self, tenant: &str, span: Span) -> Result<Vec<Incident>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    &format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE tenant_id IN (?1, '') AND started_at < ?3
                         AND (recovered_at IS NULL OR recovered_at > ?2) ORDER BY started_at, id"
                    ),
                    args![tenant, span.0, span.1],
                )
            })
            .await?;
        rows.iter().map(incident).collect()
    }

    /// Every incident (of any tenant and the platform's) that overlaps `span`, oldest first.
    pub async fn all_incidents(&self, span: Span) -> Result<Vec<Incident>> {
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    &format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE started_at < ?2 AND (recovered_at IS NULL OR recovered_at > ?1)
                         ORDER BY started_at, id"
                    ),
                    args![span.0, span.1],
                )
            })
            .await?;
        rows.iter().map(incident).collect()
    }

    /// Records whether the public status page may name `tenant` (its consent), audited on its
    /// chain; not found if there is no such tenant.
    pub async fn set_status_public(&self, tenant: &TenantId, public: bool, actor: &str) -> Result<()> {
        let (tenant, actor) = (tenant.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                if tx.execute("UPDATE tenants SET status_public = ?2 WHERE id = ?1", args![tenant.as_str(), i64::from(public)])? == 0 {
                    return Err(StoreError::NotFound("tenant"));
                }
                let detail = if public { "named on the public status page" } else { "not named on the public status page" };
                append(tx, tenant.as_str(), &AuditEvent { actor: &actor, role: "", action: "status.public", target: "", detail })
            })
            .await
    }

    /// The tenants the public status page may name, with their names.
    pub async fn public_tenants(&self) -> Result<Vec<(TenantId, String)>> {
        let rows = self
            .db
            .read(Scope::Operator, |tx| tx.query("SELECT id, name FROM tenants WHERE status_public = 1 ORDER BY id", args![]))
            .await?;
        rows.iter().map(|r| Ok((parse("tenant id", r.get(0)?, TenantId::parse)?, r.get(1)?))).collect()
    }

    /// Announces a maintenance window, audited as `actor`.
    pub async fn announce_maintenance(&self, m: &Maintenance, actor: &str) -> Result<()> {
        if m.ends_at <= m.starts_at {
            return Err(StoreError::Conflict("a maintenance window ends after it starts".into()));
        }
        let (m, actor) = (m.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO maintenance_windows (id, tenant_id, starts_at, ends_at, note, announced_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![m.id, m.tenant, m.starts_at, m.ends_at, m.note, m.announced_at],
                )?;
                let detail = format!("tenant={} from={} to={}", if m.tenant.is_empty() { "*" } else { &m.tenant }, m.starts_at, m.ends_at);
                audit(tx, &actor, "maintenance.announce", &format!("maintenance:{}", m.id), &detail)
            })
            .await
    }

    /// The maintenance windows announced for `tenant` or for everyone that overlap `span`.
    pub async fn maintenance_of(&self, tenant: &str, span: Span) -> Result<Vec<Maintenance>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT id, tenant_id, starts_at, ends_at, note, announced_at FROM maintenance_windows
                     WHERE tenant_id IN (?1, '') AND starts_at < ?3 AND ends_at > ?2 ORDER BY starts_at, id",
                    args![tenant, span.0, span.1],
                )
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Maintenance {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    starts_at: r.get(2)?,
                    ends_at: r.get(3)?,
                    note: r.get(4)?,
                    announced_at: r.get(5)?,
                })
            })
            .collect()
    }
}
