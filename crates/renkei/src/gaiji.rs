//! `renkei gaiji load|report`: a tenant's 外字 mapping table (docs/gaiji.md), loaded all or none,
//! and every 外字 its provision copies hold, each with its count, the unmapped ones first. The
//! report names code points only, never a value around them.

use crate::PlatformArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use renkei_domain::TenantId;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct GaijiArgs {
    #[command(subcommand)]
    cmd: GaijiCmd,
}

#[derive(Subcommand)]
enum GaijiCmd {
    /// Replace a tenant's mapping table with a CSV file (code_point,mj_name,fallback).
    Load {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List every 外字 in a tenant's provision copies with its count: unmapped, then mapped.
    Report {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

pub async fn run(a: GaijiArgs) -> Result<()> {
    let (tenant, platform) = match &a.cmd {
        GaijiCmd::Load { tenant, platform, .. } | GaijiCmd::Report { tenant, platform } => (tenant, platform),
    };
    let tenant = TenantId::parse(tenant).context("--tenant")?;
    let tls = platform.tls.load()?;
    let p = crate::run::load_platform(&platform.setup(Duration::from_secs(86_400))?, &tls).await?;
    let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
    match a.cmd {
        GaijiCmd::Load { file, .. } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let n = p.load_gaiji(&tenant, &bytes, &actor).await.with_context(|| format!("{}", file.display()))?;
            println!("{tenant}: {n} 外字 mapped");
        }
        GaijiCmd::Report { .. } => {
            let r = p.gaiji_report(&tenant).await?;
            println!("{tenant}: {} copies read; {} 外字 unmapped, {} mapped", r.copies, r.unmapped.len(), r.mapped.len());
            for (c, n) in &r.unmapped {
                println!("U+{:04X}\tunmapped\t{n}", *c as u32);
            }
            for (c, n) in &r.mapped {
                let m = &r.table[c];
                println!("U+{:04X}\t{}\t{n}\t{}", *c as u32, m.mj_name, m.fallback);
            }
        }
    }
    Ok(())
}
