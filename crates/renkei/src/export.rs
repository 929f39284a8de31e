//! `renkei export tenant|verify`: a whole tenant's data as CSV files with a signed manifest
//! (docs/export-layout.md), and the check a receiving municipality or platform runs on them.

use crate::PlatformArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use renkei_crypto::auditlog::CheckpointVerifier;
use renkei_domain::TenantId;
use renkei_domain::export::Encoding;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    cmd: ExportCmd,
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Write every table of a tenant into a new directory, one CSV file each, with manifest.json.
    Tenant {
        tenant: String,
        /// The directory to make; it must not exist.
        #[arg(long)]
        out: PathBuf,
        /// utf-8 (with a byte-order mark; the one that can be imported) or cp932.
        #[arg(long, default_value = "utf-8")]
        encoding: Encoding,
        #[command(flatten)]
        platform: Box<PlatformArgs>,
    },
    /// Check an export: the manifest's signature, then every file's SHA-256 and size.
    Verify {
        dir: PathBuf,
        /// The exporting platform's audit key (renkei-audit+…), as `renkei audit key`
        /// printed it; without it the key the manifest names is used, which proves only that
        /// the files are as that key's holder wrote them.
        #[arg(long)]
        verifier_key: Option<String>,
    },
}

pub async fn run(a: ExportArgs) -> Result<()> {
    match a.cmd {
        ExportCmd::Tenant { tenant, out, encoding, platform } => {
            let tenant = TenantId::parse(&tenant).context("tenant")?;
            let tls = platform.tls.load()?;
            let p = crate::run::load_platform(&platform.setup(Duration::from_secs(86_400))?, &tls).await?;
            let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
            let m = p.export_tenant(&tenant, &out, encoding, &actor).await?;
            let rows: u64 = m.files.iter().map(|f| f.rows).sum();
            println!("{tenant}: {} files, {rows} rows written to {}", m.files.len(), out.display());
            if m.replaced_characters > 0 {
                println!("{} characters CP932 cannot hold were written as 〓", m.replaced_characters);
            }
            if m.unregistered_copies > 0 {
                println!("{} provision copies belong to no registered person: their addressee_no is empty", m.unregistered_copies);
            }
        }
        ExportCmd::Verify { dir, verifier_key } => {
            let pinned = verifier_key.as_deref().map(CheckpointVerifier::parse).transpose().context("--verifier-key")?;
            let m = renkei_server::export::verify_export(&dir, pinned.as_ref())?;
            println!(
                "{}: export of {} at {}, {} files as the manifest says, signed by {}",
                dir.display(),
                m.tenant,
                m.exported_at,
                m.files.len(),
                m.verifier_key
            );
        }
    }
    Ok(())
}
