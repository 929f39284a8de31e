//! A tenant's month measured against its contract (運用サービス実績 of issue 17 §1, §4): the
//! promised service time less announced maintenance, the outages of its incidents and the
//! platform's, availability, MTTR, response times split into 検索系 and 更新系 from the probes,
//! the incidents with their causes, the backups and restore drills, the audit log verified, each
//! day's availability and each week's response times (for the report's charts), and the verdict
//! with the fee reduction owed. The figures are `domain::sla`'s; this reads what they need from the store.

use renkei_crypto::auditlog::CheckpointSigner;
use renkei_crypto::datakey::MasterKey;
use renkei_domain::TenantId;
use renkei_domain::incident::ProbeKind;
use renkei_domain::sla::{self, Availability, Contract, Latency, Month, Outage, Verdict};
use renkei_store::StoreError;
use renkei_store::audit::{AuditChain, ChainCheck};
use renkei_store::backups::BackupSummary;
use renkei_store::platform::PlatformStore;
use serde::Serialize;

/// One incident as a report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedIncident {
    pub id: String,
    /// `platform` for the platform's own, else the tenant.
    pub scope: String,
    pub probe: &'static str,
    pub started_at: i64,
    pub first_notice_at: Option<i64>,
    pub recovered_at: Option<i64>,
    pub cause: String,
}

/// Response times of one probe in the month.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeLatency {
    pub probe: &'static str,
    pub label: &'static str,
    pub latency: Option<Latency>,
}

/// One day's availability (promised time only; `None` if nothing was promised that day).
#[derive(Debug, Clone, Serialize)]
pub struct DayAvailability {
    pub day: String,
    pub percent: Option<f64>,
}

/// One week's response times of 検索系 and 更新系.
#[derive(Debug, Clone, Serialize)]
pub struct WeekLatency {
    pub from: String,
    pub to: String,
    pub search: Option<Latency>,
    pub update: Option<Latency>,
}

/// What verifying the tenant's audit log found when the report was made.
#[derive(Debug, Clone, Serialize)]
pub struct AuditFinding {
    pub sound: bool,
    pub text: String,
}

/// A tenant's month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthReport {
    pub tenant: String,
    pub month: String,
    /// Probes run in the month, and how many failed. None run: the month has no data.
    pub probes: i64,
    pub probes_failed: i64,
    pub availability: Availability,
    pub availability_percent: Option<f64>,
    pub grade_availability_percent: f64,
    pub mttr_seconds: Option<f64>,
    pub grade_mttr_hours: f64,
    pub latencies: Vec<ProbeLatency>,
    pub incidents: Vec<ReportedIncident>,
    pub backups: BackupSummary,
    pub daily: Vec<DayAvailability>,
    pub weekly: Vec<WeekLatency>,
    pub audit: AuditFinding,
    pub verdict: Verdict,
    pub monthly_fee_yen: u64,
    pub reduction_yen: u64,
}

impl MonthReport {
    /// Whether anything was measured in the month.
    pub fn has_data(&self) -> bool {
        self.probes > 0
    }
}

/// `tenant`'s `month` under `contract`, as of `now` (an incident still open counts until now);
/// its audit log verified with the checkpoint key of `master`.
pub async fn month_report(
    platform: &PlatformStore,
    master: &MasterKey,
    tenant: &TenantId,
    month: Month,
    contract: &Contract,
    now: i64,
) -> Result<MonthReport, StoreError> {
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    let span = month.span();
    let (probes, probes_failed) = platform.probe_counts(tenant, span).await?;
    let incidents = platform.incidents_of(tenant, span).await?;
    let windows: Vec<sla::Span> = platform.maintenance_of(tenant, span).await?.iter().map(|m| (m.starts_at, m.ends_at)).collect();
    let outages: Vec<Outage> = incidents.iter().map(|i| i.outage()).collect();
    let service = contract.hours.intervals(month.first_day(), month.last_day());
    // Nothing measured is not an outage, nor an availability of 100 %.
    let availability = sla::availability(span, &service, &outages, &windows, now.min(span.1));
    let availability_percent = if probes > 0 { availability.percent() } else { None };
    let mttr_seconds = sla::mttr(span, &outages);
    let mut latencies = Vec::new();
    for kind in ProbeKind::ALL {
        let samples = platform.probe_latencies(tenant, kind, span).await?;
        latencies.push(ProbeLatency { probe: kind.as_str(), label: kind.label_ja(), latency: Latency::of(samples) });
    }
    let daily = month
        .days()
        .into_iter()
        .map(|d| {
            let day = sla::days_span(d, d);
            let a = sla::availability(day, &contract.hours.intervals(d, d), &outages, &windows, now.min(day.1));
            // A day not yet come, or without probes, shows no figure.
            DayAvailability { day: d.to_string(), percent: (probes > 0 && day.0 < now).then(|| a.percent()).flatten() }
        })
        .collect();
    let mut weekly = Vec::new();
    for (from, to) in month.weeks() {
        let week = sla::days_span(from, to);
        let search = Latency::of(platform.probe_latencies(tenant, ProbeKind::Search, week).await?);
        let update = Latency::of(platform.probe_latencies(tenant, ProbeKind::Update, week).await?);
        weekly.push(WeekLatency { from: from.to_string(), to: to.to_string(), search, update });
    }
    let audit = match CheckpointSigner::from_master(master) {
        Ok(signer) => {
            let check = platform.verify_audit(signer.verifier(), &AuditChain::Tenant(tenant_id.clone()), &[]).await?;
            AuditFinding { sound: matches!(check, ChainCheck::Sound { .. }), text: check.to_string() }
        }
        Err(e) => AuditFinding { sound: false, text: format!("the checkpoint key: {e}") },
    };
    let verdict = contract.grade.judge(availability_percent, mttr_seconds);
    Ok(MonthReport {
        tenant: tenant.to_owned(),
        month: month.to_string(),
        probes,
        probes_failed,
        availability,
        availability_percent,
        grade_availability_percent: contract.grade.availability_percent,
        mttr_seconds,
        grade_mttr_hours: contract.grade.mttr_hours,
        latencies,
        incidents: incidents
            .into_iter()
            .map(|i| ReportedIncident {
                scope: if i.tenant.is_empty() { "platform".into() } else { i.tenant.clone() },
                probe: i.kind.as_str(),
                id: i.id,
                started_at: i.started_at,
                first_notice_at: i.first_notice_at,
                recovered_at: i.recovered_at,
                cause: i.cause,
            })
            .collect(),
        backups: platform.backup_summary(span).await?,
        daily,
        weekly,
        audit,
        reduction_yen: contract.reduction_yen(&verdict),
        verdict,
        monthly_fee_yen: contract.monthly_fee_yen,
    })
}
