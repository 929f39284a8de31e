//! The compliance sheet (適合状況一覧, issue 17 §7) of a tenant and month: the evidence the
//! running platform holds — the month measured by [`crate::sla::month_report`] (probes,
//! availability, MTTR, response times, backups, drills, the audit chain verified), the monitor's
//! enrolment, the tenant's notice channels, people, API keys, approval policies, session limit,
//! consortium weights and key, and how often the audit log saw exports, loads, raises and the
//! forgetting of generations — gathered into `domain::compliance::Evidence`, whose rules answer
//! 表2-8 and 表2-13. The settings only the binary reads (the contract's source, the backups as
//! set up, where data is kept) come in [`Settings`]. `page.rs` writes the sheet as HTML and CSV.

mod page;

pub use page::{CSV_LAYOUT, csv, html};

use renkei_crypto::datakey::MasterKey;
use renkei_domain::allocation::Weights;
use renkei_domain::compliance::{self, Activity, BackupSetup, Evidence, Item, Location};
use renkei_domain::incident::ProbeKind;
use renkei_domain::sla::{Contract, Month};
use renkei_domain::{Role, TenantId};
use renkei_store::StoreError;
use renkei_store::audit::AuditChain;
use renkei_store::keys::KeyEntry;
use renkei_store::monitor::PROBE_KEY_LABEL;
use renkei_store::notices::ChannelKind;
use renkei_store::platform::PlatformStore;

/// What the binary knows from its settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub contract: Contract,
    /// The contracts file's section the contract comes from, if a file gives it.
    pub contract_source: Option<String>,
    pub backup: Option<BackupSetup>,
    pub locations: Vec<Location>,
    /// Why the listing of locations was refused (a place outside the allowed countries).
    pub locations_refused: Option<String>,
    pub allowed_countries: Vec<String>,
}

/// A tenant's sheet for a month.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub tenant: String,
    pub name: String,
    pub month: String,
    /// When it was made (Unix seconds).
    pub made_at: i64,
    pub items: Vec<Item>,
}

/// Backup runs and drills read to find the latest that succeeded.
const RECENT_RUNS: i64 = 200;

/// `tenant`'s sheet for `month` as of `now`.
pub async fn sheet(
    platform: &PlatformStore,
    master: &MasterKey,
    tenant: &TenantId,
    name: &str,
    month: Month,
    settings: Settings,
    now: i64,
) -> Result<Sheet, StoreError> {
    let report = crate::sla::month_report(platform, master, tenant, month, &settings.contract, now).await?;
    let p95 = |kind: ProbeKind| report.latencies.iter().find(|l| l.probe == kind.as_str()).and_then(|l| l.latency.as_ref()).map(|l| l.p95);
    let id = tenant.as_str();
    let chain = AuditChain::Tenant(tenant.clone());
    let activity = |(count, last_at): (i64, Option<i64>)| Activity { count, last_at };
    let channels = platform.notice_channels(id).await?;
    let accounts = platform.accounts_of(tenant).await?;
    let people = Role::ALL.into_iter().map(|r| (r, accounts.iter().filter(|a| a.role == r && !a.disabled).count() as i64)).collect();
    let last_probe_at = platform.probe_results(id, 1).await?.first().map(|p| p.at_ms / 1000);
    let data_key_present = matches!(platform.key_entry(tenant).await?, KeyEntry::Held(_));
    let approval_policies = if data_key_present {
        let key = platform.data_key(master, tenant).await?;
        let policies = platform.tenant_store(tenant.clone(), key).await?.approval_policies().await?;
        let mut orgs: Vec<_> = policies.iter().map(|p| p.org.clone()).collect();
        orgs.sort();
        orgs.dedup();
        orgs.len() as i64
    } else {
        0
    };
    let consortium = platform
        .consortia()
        .await?
        .into_iter()
        .find(|c| c.tenants.contains(tenant))
        .map(|c| (c.id.to_string(), Weights::parse(&c.cost_weights).unwrap_or_default()));
    let evidence = Evidence {
        contract: settings.contract,
        contract_source: settings.contract_source,
        probes: report.probes,
        availability_percent: report.availability_percent,
        mttr_seconds: report.mttr_seconds,
        incidents: report.incidents.len(),
        search_p95_ms: p95(ProbeKind::Search),
        update_p95_ms: p95(ProbeKind::Update),
        enrolled_at: platform.probe_targets().await?.into_iter().find(|t| &t.tenant == tenant).map(|t| t.enrolled_at),
        last_probe_at,
        mail_channels: channels.iter().filter(|c| c.kind == ChannelKind::Email).count(),
        webhook_channels: channels.iter().filter(|c| c.kind == ChannelKind::Webhook).count(),
        backup: settings.backup,
        backups_ok: report.backups.runs_ok,
        backups_failed: report.backups.runs_failed,
        drills_passed: report.backups.drills_passed,
        drills_failed: report.backups.drills_failed,
        last_backup_ok_at: platform.backup_runs(RECENT_RUNS).await?.iter().filter(|r| r.ok).map(|r| r.finished_at).max(),
        last_drill_passed_at: platform.drills(RECENT_RUNS).await?.iter().filter(|d| d.ok).map(|d| d.finished_at).max(),
        forgets: activity(platform.audit_activity(&AuditChain::Platform, "backup.forget").await?),
        exports: activity(platform.audit_activity(&chain, "tenant.export").await?),
        loads: activity(platform.audit_activity(&chain, "import").await?),
        limit_raises: activity(platform.audit_activity(&chain, "session_limit.raise").await?),
        audit_sound: report.audit.sound,
        audit_text: report.audit.text.clone(),
        locations: settings.locations,
        locations_refused: settings.locations_refused,
        allowed_countries: settings.allowed_countries,
        data_key_present,
        people,
        api_keys: platform.api_keys(tenant).await?.iter().filter(|k| k.revoked_at.is_none() && k.label != PROBE_KEY_LABEL).count() as i64,
        approval_policies,
        session_limit: platform.session_limit(tenant, now).await?.limit.map(|l| l.normal),
        consortium,
    };
    Ok(Sheet {
        tenant: id.to_owned(),
        name: name.to_owned(),
        month: month.to_string(),
        made_at: now,
        items: compliance::sheet(&evidence, now),
    })
}
