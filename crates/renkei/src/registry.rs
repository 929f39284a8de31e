//! `renkei unify-registry`: after an upgrade, makes one person registry of each tenant (団体内
//! 統合宛名番号) from the registrations its orgs kept apart (`renkei_server::registry`). Prints
//! counts only: the contradictions name addressee numbers, which are the tenant admin's to read
//! (`POST /api/v1/registry/unify`).

use crate::PlatformArgs;
use anyhow::{Context, Result};
use clap::Args;
use renkei_domain::TenantId;
use std::time::Duration;

#[derive(Args)]
pub struct UnifyArgs {
    /// One tenant [default: every tenant].
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    platform: PlatformArgs,
}

pub async fn run(a: UnifyArgs) -> Result<()> {
    let only = a.tenant.as_deref().map(TenantId::parse).transpose().context("--tenant")?;
    let tls = a.platform.tls.load()?;
    let setup = a.platform.setup(Duration::from_secs(86_400))?;
    let p = crate::run::load_platform(&setup, &tls).await?;
    let tenants: Vec<TenantId> = match only {
        Some(t) => vec![t],
        None => p.platform.tenants().await?.into_iter().map(|t| t.id).collect(),
    };
    let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
    for tenant in tenants {
        let report = p.unify_registry(&tenant).await.with_context(|| format!("tenant {tenant}"))?;
        let detail = format!("checked={} added={} conflicts={}", report.checked, report.added, report.conflicts);
        p.platform.audit(&tenant, &actor, "registry.unify", &detail).await.with_context(|| format!("tenant {tenant}: not audited"))?;
        let conflicts = match report.conflicts {
            0 => "no conflicts".to_owned(),
            n => format!("{n} conflicts, left as they are (its tenant admin lists them: POST /api/v1/registry/unify)"),
        };
        println!("{tenant}: {} orgs, {} persons checked, {} registrations added, {conflicts}", report.orgs, report.checked, report.added);
    }
    Ok(())
}
