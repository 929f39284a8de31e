//! 稼働状況 (issue 17 §2) from the monitor's records, as the status page shows it: the public
//! summary anyone on the network may read — the platform's state now, incidents open and of the
//! last 30 days, maintenance announced for everyone — naming only the tenants that allowed it
//! (`renkei sla publish`) and nobody else; and each tenant's own state, for those who may read
//! that tenant's status (its admin, its consortium's admin, the operator; `limits.rs`). No
//! personal data is in either: the monitor acts for a probe person and records none.

use crate::Platform;
use renkei_domain::incident::ProbeKind;
use renkei_net::Problem;
use renkei_store::monitor::Incident;
use serde::Serialize;
use std::collections::HashMap;

/// How far back the history goes.
pub const HISTORY_SECS: i64 = 30 * 86_400;

/// One incident as the status page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentLine {
    pub id: String,
    /// The tenant's name where the public may see it; `None` for an unnamed tenant, and the
    /// platform's own incidents say so in `platform`.
    pub tenant: Option<String>,
    pub platform: bool,
    pub probe: ProbeKind,
    pub probe_ja: &'static str,
    pub started_at: i64,
    pub recovered_at: Option<i64>,
    /// The operator's words, where the tenant is named (or the platform's own).
    pub cause: Option<String>,
}

/// An announced maintenance window for every tenant.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceLine {
    pub starts_at: i64,
    pub ends_at: i64,
    pub note: String,
}

/// The public summary.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStatus {
    /// `operational`, `maintenance` or `degraded`.
    pub state: &'static str,
    pub state_ja: &'static str,
    pub open: Vec<IncidentLine>,
    pub history: Vec<IncidentLine>,
    pub maintenance: Vec<MaintenanceLine>,
    pub at: i64,
}

/// A tenant's own state, for those who may read its status.
#[derive(Debug, Clone, Default)]
pub struct ServiceState {
    pub open: Vec<Incident>,
    pub recent: Vec<Incident>,
    /// The latest probe: when (ms) and whether it passed.
    pub last_probe: Option<(i64, bool)>,
}

fn line(i: &Incident, names: &HashMap<String, String>) -> IncidentLine {
    let platform = i.tenant.is_empty();
    let name = names.get(&i.tenant).cloned();
    IncidentLine {
        id: i.id.clone(),
        cause: (platform || name.is_some()).then(|| i.cause.clone()).filter(|c| !c.is_empty()),
        tenant: name,
        platform,
        probe: i.kind,
        probe_ja: i.kind.label_ja(),
        started_at: i.started_at,
        recovered_at: i.recovered_at,
    }
}

impl Platform {
    /// The public summary as of `now` (Unix seconds).
    pub async fn public_status(&self, now: i64) -> Result<PublicStatus, Problem> {
        let names: HashMap<String, String> =
            self.platform.public_tenants().await?.into_iter().map(|(id, name)| (id.to_string(), name)).collect();
        let incidents = self.platform.all_incidents((now - HISTORY_SECS, now + 1)).await?;
        let (open, history): (Vec<&Incident>, Vec<&Incident>) = incidents.iter().partition(|i| i.recovered_at.is_none());
        let maintenance = self.platform.maintenance_of("", (now, now + HISTORY_SECS)).await?;
        let in_maintenance = maintenance.iter().any(|m| m.starts_at <= now && now < m.ends_at);
        let (state, state_ja) = match (open.is_empty(), in_maintenance) {
            (false, _) => ("degraded", "一部で障害が発生しています"),
            (true, true) => ("maintenance", "計画保守中です"),
            (true, false) => ("operational", "正常に稼働しています"),
        };
        Ok(PublicStatus {
            state,
            state_ja,
            open: open.into_iter().map(|i| line(i, &names)).collect(),
            history: history.into_iter().rev().map(|i| line(i, &names)).collect(),
            maintenance: maintenance
                .into_iter()
                .map(|m| MaintenanceLine { starts_at: m.starts_at, ends_at: m.ends_at, note: m.note })
                .collect(),
            at: now,
        })
    }

    /// `tenant`'s own state as of `now`; the caller has checked who may read it.
    pub(crate) async fn service_state(&self, tenant: &str, now: i64) -> Result<ServiceState, Problem> {
        let incidents = self.platform.incidents_of(tenant, (now - HISTORY_SECS, now + 1)).await?;
        let (open, recent) = incidents.into_iter().partition(|i| i.recovered_at.is_none());
        let last_probe = self.platform.probe_results(tenant, 1).await?.first().map(|r| (r.at_ms, r.ok));
        Ok(ServiceState { open, recent, last_probe })
    }
}
