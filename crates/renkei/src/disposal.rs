//! `renkei admin tenant-delete`: a tenant deleted for good (`store::deletion`) and its disposal
//! certificate (廃棄証明, `domain::disposal`), signed with the platform's audit key and written to
//! a file made before anything is deleted, so that a deletion never goes without its
//! certificate.

use anyhow::{Context, Result, bail};
use renkei_crypto::auditlog::CheckpointSigner;
use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_domain::TenantId;
use renkei_domain::disposal::{self, Certificate};
use renkei_ops::backup::{self, BackupConfig};
use renkei_store::platform::PlatformStore;
use std::io::Write;
use std::path::Path;

pub async fn delete_tenant(
    store: &PlatformStore,
    master: &MasterKey,
    tenant: &str,
    confirm: &str,
    path: &Path,
    actor: &str,
    backups: Option<&BackupConfig>,
) -> Result<()> {
    if confirm != tenant {
        bail!("--confirm must repeat the tenant's id: a deletion cannot be undone");
    }
    let tenant = TenantId::parse(tenant).context("--tenant")?;
    let Some(hosted) = store.tenants().await?.into_iter().find(|t| t.id == tenant) else {
        bail!("tenant {tenant} is not hosted on this platform");
    };
    // The repositories must open, and the data generations holding the tenant be known, before
    // anything is deleted: the certificate names them.
    let holding = match backups {
        None => Vec::new(),
        Some(config) => {
            backup::list(config).await.context("the backups cannot be read; nothing was deleted")?;
            backup::generations_holding(config, &tenant).await.context("the backups cannot be read; nothing was deleted")?
        }
    };
    let signer = CheckpointSigner::from_master(master)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot make the certificate file {}; nothing was deleted", path.display()))?;
    // Deleting needs no key: a throw-away one stands in for the tenant's own.
    let tenant_store = store.tenant_store(tenant.clone(), DataKey::generate(tenant.as_str())).await?;
    let deleted = store.delete_tenant(master, &tenant_store, actor).await?;
    let fingerprint = deleted.fingerprint.clone().unwrap_or_default();
    // The key destroyed in the key backups; a failure is reported once the certificate of what
    // was done is written.
    let shredded = match backups {
        None => Ok(0),
        Some(config) => backup::shred_key_backups(store, config, &tenant, &fingerprint, actor).await,
    };
    let mut certificate = Certificate {
        format: disposal::FORMAT.into(),
        tenant: tenant.to_string(),
        tenant_name: hosted.name,
        deleted_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        deleted_by: actor.to_owned(),
        method: disposal::METHOD.into(),
        key_fingerprint: fingerprint,
        rows_deleted: deleted.rows.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
        backups_holding_ciphertext: holding.clone(),
        verifier_key: signer.verifier().as_str().to_owned(),
        signature: String::new(),
    };
    certificate.signature = signer.sign_text(&certificate.signed_text())?;
    let json = serde_json::to_vec_pretty(&certificate)?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("the tenant was deleted, but writing {} failed", path.display()))?;
    println!(
        "tenant {tenant} deleted: data key {} destroyed, {} rows deleted; disposal certificate {}",
        if certificate.key_fingerprint.is_empty() { "(destroyed before)" } else { &certificate.key_fingerprint },
        deleted.rows.iter().map(|(_, n)| n).sum::<u64>(),
        path.display()
    );
    let rewritten = shredded.with_context(|| {
        format!("the tenant was deleted, but its key may still be in key backups: run `renkei backup shred --tenant {tenant}`")
    })?;
    if backups.is_some() {
        println!(
            "key destroyed in {rewritten} key backups; {} data generations still hold its data, unreadable without the key, until the policy forgets them",
            holding.len()
        );
    }
    Ok(())
}
