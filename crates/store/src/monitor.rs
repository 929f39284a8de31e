//! The SLA monitor's records in the platform's database: each probe's result and latency, the
//! incidents (障害) opened on runs of failures and recovered, announced maintenance windows, and
//! the schedule's ticks (one `serve` process claims each). The rules are `domain::incident`'s
//! and `domain::sla`'s; no personal data is kept (the probes act for a probe person). Opening,
//! recovering and explaining an incident and announcing maintenance are audited on the
//! platform's chain.

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::incident::{ProbeKind, ProbeResult};
use renkei_domain::sla::{Outage, Span};

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

impl PlatformStore {
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

    /// The latencies (ms) of `tenant`'s successful `kind` probes within `span`.
    pub async fn probe_latencies(&self, tenant: &str, kind: ProbeKind, span: Span) -> Result<Vec<u64>> {
        let tenant = tenant.to_owned();
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT latency_ms FROM probe_results WHERE tenant_id = ?1 AND kind = ?2 AND ok = 1 AND at_ms >= ?3 AND at_ms < ?4",
                    args![tenant, kind.as_str(), span.0 * 1000, span.1 * 1000],
                )
            })
            .await?;
        rows.iter().map(|r| Ok(u64::try_from(r.get::<i64>(0)?).unwrap_or(0))).collect()
    }

    /// How many probes of `tenant` ran within `span`, and how many failed.
    pub async fn probe_counts(&self, tenant: &str, span: Span) -> Result<(i64, i64)> {
        let tenant = tenant.to_owned();
        self.db
            .read(Scope::Operator, move |tx| {
                let r = tx
                    .query_opt(
                        "SELECT COUNT(*), COUNT(CASE WHEN ok = 0 THEN 1 END) FROM probe_results WHERE tenant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3",
                        args![tenant, span.0 * 1000, span.1 * 1000],
                    )?
                    .ok_or(StoreError::NotFound("probe counts"))?;
                Ok((r.get(0)?, r.get(1)?))
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
                incident(&row.ok_or(StoreError::NotFound("incident"))?)
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
                audit(tx, &actor, "incident.cause", &format!("incident:{id}"), &format!("{} characters", cause.chars().count()))
            })
            .await
    }

    /// Notes when the first notice of an incident went out (kept if one was noted before).
    pub async fn note_incident_notice(&self, id: &str, at: i64) -> Result<()> {
        let id = id.to_owned();
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute("UPDATE incidents SET first_notice_at = ?2 WHERE id = ?1 AND first_notice_at IS NULL", args![id, at])?;
                Ok(())
            })
            .await
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
