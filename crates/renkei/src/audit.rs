//! `renkei audit`: check every tenant's audit log against its chain and signed checkpoints,
//! write checkpoints now, print the key that verifies them.

use crate::run;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use renkei_crypto::auditlog::{CheckpointSigner, CheckpointVerifier};
use renkei_domain::TenantId;
use renkei_store::audit::{AuditChain, ChainCheck};
use renkei_store::platform::PlatformStore;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    platform: run::PlatformAccess,
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check a tenant's audit log (or every tenant's): each entry follows from the one before,
    /// the recorded head and every signed checkpoint match. Exits 1 naming the first bad entry.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
        /// A checkpoint kept outside the platform (a signed note, as `checkpoint` prints); may
        /// be given more than once. Each is checked against the tenant its origin names.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// The key to verify checkpoints with (`renkei audit key` prints it) [default: the one
        /// the master key gives].
        #[arg(long)]
        key: Option<String>,
    },
    /// Sign and keep a checkpoint of each tenant's chain (or one tenant's) that grew since its
    /// last; prints each new checkpoint.
    Checkpoint {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the public key that verifies this platform's checkpoints (signed-note form).
    Key,
}

pub async fn run(a: AuditArgs) -> Result<ExitCode> {
    let master = a.platform.master_key()?;
    let signer = CheckpointSigner::from_master(&master)?;
    drop(master);
    let store = || a.platform.store();
    match a.cmd {
        AuditCmd::Key => {
            println!("{}", signer.verifier().as_str());
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Checkpoint { tenant } => {
            let store = store().await?;
            for t in chains(&store, tenant).await? {
                if store.write_audit_checkpoint(&signer, &t).await?.is_some()
                    && let Some(note) = store.audit_checkpoints(&t).await?.pop()
                {
                    print!("{note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Verify { tenant, checkpoints, key } => {
            let verifier = match key {
                Some(k) => CheckpointVerifier::parse(&k)?,
                None => signer.verifier().clone(),
            };
            let mut kept = Vec::new();
            for file in &checkpoints {
                let note = std::fs::read_to_string(file).with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
                let chain = note.lines().next().and_then(|l| l.strip_prefix(renkei_crypto::auditlog::ORIGIN_PREFIX)).map(str::to_owned);
                let chain = chain.with_context(|| format!("{} is not a renkei audit checkpoint", file.display()))?;
                kept.push((chain, note));
            }
            let store = store().await?;
            let mut bad = 0;
            for t in chains(&store, tenant).await? {
                let extra: Vec<String> = kept.iter().filter(|(c, _)| c == t.key()).map(|(_, n)| n.clone()).collect();
                match store.verify_audit(&verifier, &t, &extra).await? {
                    ok @ ChainCheck::Sound { .. } => println!("{t}: {ok}"),
                    bad_chain => {
                        bad += 1;
                        eprintln!("error: audit log of {t}: {bad_chain}");
                    }
                }
            }
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// `tenant`'s chain, or every chain there is (the platform's own included).
async fn chains(store: &PlatformStore, tenant: Option<String>) -> Result<Vec<AuditChain>> {
    let chains = store.audit_chains().await?;
    match tenant {
        None => Ok(chains),
        Some(t) => {
            let t = AuditChain::Tenant(TenantId::parse(&t)?);
            anyhow::ensure!(chains.contains(&t), "tenant {t} has no audit log on this platform");
            Ok(vec![t])
        }
    }
}
