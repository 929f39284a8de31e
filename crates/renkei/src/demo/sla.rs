//! The demo's operations part (issue 17): the SLA monitor probes 甲市 as a user would, an
//! incident is caused — the monitor's API key revoked, as a tenant admin might by mistake — and
//! recovered by enrolling the tenant again; the notices are mailed into a drop directory, and
//! the month's 運用サービス実績報告書 is written beside them.

use anyhow::{Context, Result, bail};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::incident::IncidentRule;
use renkei_domain::sla::{Contract, Month};
use renkei_domain::{Matrix, OrgId, TenantId};
use renkei_ops::monitor::{self, MonitorConfig};
use renkei_ops::notify::{MailSettings, Notifier};
use renkei_store::notices::{Channel, ChannelKind};
use renkei_store::platform::PlatformStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What the operations part left to look at.
pub struct Shown {
    pub status_url: String,
    pub report: PathBuf,
    /// The month the report is of (YYYY-MM).
    pub month: String,
    pub mail_dir: PathBuf,
    pub mails: usize,
    /// The incidents opened and recovered: one per probe the revoked key failed.
    pub incidents: usize,
}

const TENANT: &str = "kou-city";
const ORG: &str = "kou-mayor";

pub async fn run(
    dir: &Path,
    store: &PlatformStore,
    master: Arc<MasterKey>,
    matrix: &Matrix,
    internal: &str,
    ca_pem: &str,
) -> Result<Shown> {
    let (tenant, org) = (TenantId::parse(TENANT)?, OrgId::parse(ORG)?);
    monitor::enrol(store, &master, matrix, &tenant, &org, "demo").await?;
    let now = renkei_store::now_unix();
    for (id, who, address) in [("demo-kou-admin", TENANT, "admin@kou-city.example"), ("demo-operator", "", "operator@renkei.example")] {
        if !store.notice_channels(who).await?.iter().any(|c| c.id == id) {
            let channel = Channel {
                id: id.into(),
                tenant: who.into(),
                kind: ChannelKind::Email,
                target: address.into(),
                secret_enc: None,
                created_at: now,
            };
            store.add_notice_channel(&channel, "demo").await?;
        }
    }
    let mail_dir = dir.join("mail");
    std::fs::create_dir_all(&mail_dir).with_context(|| format!("cannot create {}", mail_dir.display()))?;
    let timeout = Duration::from_secs(10);
    let config = MonitorConfig {
        every: Duration::from_secs(1),
        timeout,
        base_url: internal.to_owned(),
        client: renkei_net::tls::client_trusting(ca_pem, timeout)?,
        probe_number: "999999999996".into(),
        rule: IncidentRule { open_after: 2, close_after: 1 },
        parallel: 4,
        raw_days: 35,
    };
    let status_url = format!("{internal}/status");
    let mail = MailSettings::Directory(mail_dir.clone(), "renkei-monitor@localhost".into());
    let notifier =
        Notifier::new(Some(&mail), renkei_net::tls::client_trusting(ca_pem, timeout)?, master.clone(), status_url.clone(), timeout)?;

    // Ticks numbered apart from any serve process's (those count seconds).
    let started = renkei_store::now_millis();
    let mut tick = started;
    let mut probe = async || -> Result<()> {
        tick += 1;
        monitor::tick_once(store, &master, &config, tick, "demo").await?;
        renkei_ops::notify::deliver_due(store, &notifier).await?;
        Ok(())
    };
    probe().await?;
    let key = renkei_crypto::apikey::hash(&renkei_crypto::apikey::probe_key(&master, TENANT));
    store.revoke_api_key(&tenant, &renkei_store::platform::key_id(&key), "demo").await?;
    let opened = loop {
        probe().await?;
        let open: Vec<_> = store.open_incidents().await?.into_iter().filter(|i| i.tenant == TENANT).collect();
        if !open.is_empty() {
            break open;
        }
        if renkei_store::now_millis() - started > 60_000 {
            bail!("the revoked key opened no incident within a minute");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The probes that need the key fail together; let each open its incident.
    probe().await?;
    let opened: Vec<_> = store.open_incidents().await?.into_iter().filter(|i| i.tenant == TENANT).chain(opened).collect();
    let mut ids: Vec<String> = opened.into_iter().map(|i| i.id).collect();
    ids.sort();
    ids.dedup();
    for id in &ids {
        store.set_incident_cause(id, "監視用APIキーの誤失効（デモ）。再登録して復旧", "demo", renkei_store::now_unix()).await?;
    }
    monitor::enrol(store, &master, matrix, &tenant, &org, "demo").await?;
    loop {
        probe().await?;
        if store.open_incidents().await?.iter().all(|i| i.tenant != TENANT) {
            break;
        }
        if renkei_store::now_millis() - started > 120_000 {
            bail!("the incidents did not recover within a minute of enrolling again");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    probe().await?;

    let month = Month::of(renkei_store::now_unix());
    let contract = Contract { hours: renkei_domain::calendar::ServiceHours::Always, ..Contract::default() };
    let r = renkei_ops::sla::month_report(store, &master, &tenant, month, &contract, renkei_store::now_unix()).await?;
    let report = dir.join(format!("report-{TENANT}-{month}.html"));
    std::fs::write(&report, renkei_ops::report::html(&r, "甲市")).with_context(|| format!("cannot write {}", report.display()))?;
    let mails =
        std::fs::read_dir(&mail_dir)?.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))).count();
    Ok(Shown { status_url, report, month: month.to_string(), mail_dir, mails, incidents: ids.len() })
}
