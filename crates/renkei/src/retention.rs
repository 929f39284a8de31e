//! `renkei retention run`: purges the linkage records older than each tenant's retention
//! (保存期間) now, or as of a date (to see what a day will purge, or for a test's clock); `serve`
//! does the same once a day with the same settings.

use crate::PlatformArgs;
use anyhow::{Context, Result};
use clap::Args;
use renkei_domain::TenantId;
use renkei_server::retention::Retention;
use std::time::Duration;

/// How long linkage records are kept (`serve` and `retention run`).
#[derive(Args, Clone)]
pub struct RetentionArgs {
    /// Years a tenant's linkage records are kept before they are purged.
    #[arg(long, env = "RENKEI_RETENTION_YEARS", default_value_t = renkei_server::retention::DEFAULT_YEARS)]
    pub retention_years: u32,
    /// A tenant's own retention, TENANT=YEARS (repeat for each).
    #[arg(long = "tenant-retention", value_name = "TENANT=YEARS")]
    pub tenant_retention: Vec<String>,
}

impl RetentionArgs {
    pub fn retention(&self) -> Result<Retention> {
        let mut r = Retention { years: self.retention_years, ..Retention::default() };
        for pair in &self.tenant_retention {
            let (t, y) = pair.split_once('=').with_context(|| format!("--tenant-retention takes TENANT=YEARS, not {pair:?}"))?;
            let tenant = TenantId::parse(t.trim()).context("--tenant-retention")?;
            let years = y.trim().parse::<u32>().with_context(|| format!("--tenant-retention {t}: years are a whole number"))?;
            r.per_tenant.insert(tenant, years);
        }
        check_years(r.years)?;
        for y in r.per_tenant.values() {
            check_years(*y)?;
        }
        Ok(r)
    }
}

#[derive(Args)]
pub struct RetentionRunArgs {
    /// Purge as if today were this date (YYYY-MM-DD, UTC midnight) [default: now].
    #[arg(long)]
    as_of: Option<String>,
    #[command(flatten)]
    retention: RetentionArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

pub async fn run(a: RetentionRunArgs) -> Result<()> {
    let retention = a.retention.retention()?;
    let now = as_of(a.as_of.as_deref())?;
    let tls = a.platform.tls.load()?;
    let setup = a.platform.setup(Duration::from_secs(86_400))?;
    let p = crate::run::load_platform(&setup, &tls).await?;
    let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
    for t in p.purge_expired_records(&retention, now, &actor).await? {
        match t.purged {
            Some(p) => {
                println!("{}: {} linkage records purged (kept {} years; through record {})", t.tenant, p.count, t.years, p.through_seq)
            }
            None => println!("{}: nothing older than {} years", t.tenant, t.years),
        }
    }
    Ok(())
}

/// A retention of at least a year.
pub fn check_years(years: u32) -> Result<u32> {
    if years == 0 {
        anyhow::bail!("a retention is at least 1 year");
    }
    Ok(years)
}

/// Now, or UTC midnight of `--as-of YYYY-MM-DD`, in Unix seconds.
pub fn as_of(date: Option<&str>) -> Result<i64> {
    match date {
        None => Ok(renkei_store::now_unix()),
        Some(d) => {
            let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").context("--as-of is YYYY-MM-DD")?;
            Ok(date.and_hms_opt(0, 0, 0).context("--as-of")?.and_utc().timestamp())
        }
    }
}

/// The hub's daily purge of its linkage records, until `stop` resolves; a failure is logged and
/// tried again the next day.
pub async fn hub_daily(hub: std::sync::Arc<renkei_hub::Hub>, years: u32, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let cutoff = renkei_domain::retention::cutoff(renkei_store::now_unix(), years);
        match hub.store.purge_records_before(cutoff).await {
            Ok(Some(p)) => tracing::info!(count = p.count, through = p.through_seq, "expired hub linkage records purged"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "purging the hub's expired linkage records failed; trying again later"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(renkei_server::retention::EVERY) => {}
        }
    }
}
