//! A deleted tenant's key destroyed in every key backup (crypto-shredding), and the data
//! generations that still hold its ciphertext, for the disposal certificate (廃棄証明).
//!
//! restic's snapshots cannot be edited: each key snapshot holding the key is restored, the key
//! destroyed in it as in the live key store (overwritten, deleted, recorded), copied afresh and
//! backed up as a new snapshot with the old one's time and run; the old snapshot is forgotten
//! and every pack of the key repository rewritten, so not a byte of the key is left in its
//! files. Data snapshots are left as they are: without the key their copy of the tenant is
//! ciphertext no one can read, gone when the generations policy forgets them.

use super::{BackupConfig, BackupError, DATA_PATH, KEYS_PATH, blocking, io};
use chrono::SecondsFormat;
use renkei_domain::TenantId;
use renkei_domain::backup::{MANIFEST, Manifest};
use renkei_domain::disposal::BackupGeneration;
use renkei_store::Location;
use renkei_store::keys::KeyStore;
use renkei_store::platform::PlatformStore;

/// Destroys `tenant`'s key (fingerprint `fingerprint`) in every snapshot of the key repository
/// that holds it; how many snapshots were rewritten. Audited on the platform's chain as `actor`.
pub async fn shred_key_backups(
    platform: &PlatformStore,
    config: &BackupConfig,
    tenant: &TenantId,
    fingerprint: &str,
    actor: &str,
) -> Result<usize, BackupError> {
    let _lock = super::lock(platform).await?;
    let keys = config.keys.clone();
    let snapshots = blocking(move || keys.snapshots()).await?;
    let scratch = super::scratch(&super::platform::work_dir(platform), "shred")?;
    let mut replaced = Vec::new();
    for (i, snap) in snapshots.iter().enumerate() {
        let restored = scratch.path().join(format!("{i}"));
        let (keys, id, dest) = (config.keys.clone(), snap.id.clone(), restored.clone());
        blocking(move || keys.restore(&id, &dest)).await?;
        let dir = restored.join(KEYS_PATH.trim_start_matches('/'));
        let store = KeyStore::open(&Location::Dir(dir.clone())).await?;
        let held = store.destroy(tenant, fingerprint, actor).await?;
        drop(store);
        if !held {
            continue;
        }
        let clean = scratch.path().join(format!("{i}-clean"));
        let (src, dest) = (renkei_store::layout::keys_db(&dir), renkei_store::layout::keys_db(&clean));
        tokio::task::spawn_blocking(move || renkei_store::snapshot::copy_file(&src, &dest))
            .await
            .map_err(|e| BackupError::Stopped(e.to_string()))??;
        let (keys, old) = (config.keys.clone(), snap.clone());
        blocking(move || keys.replace(&old, &clean, KEYS_PATH)).await?;
        std::fs::remove_dir_all(&restored).map_err(io(&restored))?;
        replaced.push(snap.id.clone());
    }
    let rewritten = replaced.len();
    if rewritten > 0 {
        let c = config.clone();
        blocking(move || {
            c.keys.prune_everything()?;
            // The second site: the copies of the old snapshots go (every pack rewritten), the
            // new ones are copied.
            if let Some(site) = &c.copy {
                site.keys.forget_copies_of(&replaced, true)?;
                c.keys.copy_to(&site.keys)?;
            }
            Ok(())
        })
        .await?;
    }
    platform
        .audit_platform(actor, "backup.shred", &format!("tenant={tenant} key_fingerprint={fingerprint} key_snapshots={rewritten}"))
        .await?;
    Ok(rewritten)
}

/// The data generations whose manifest holds `tenant` with its data (a content hash), with the
/// latest each can be kept under the generations policy.
pub async fn generations_holding(config: &BackupConfig, tenant: &TenantId) -> Result<Vec<BackupGeneration>, BackupError> {
    let (c, tenant) = (config.clone(), tenant.to_string());
    blocking(move || {
        let mut out = Vec::new();
        for snap in c.data.snapshots()? {
            let bytes = c.data.read_file(&snap.id, &format!("{DATA_PATH}/{MANIFEST}"))?;
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| BackupError::Snapshot { snapshot: snap.id.clone(), why: format!("{MANIFEST}: {e}") })?;
            if !manifest.tenants.iter().any(|t| t.tenant == tenant && !t.content_hash.is_empty()) {
                continue;
            }
            let taken_at = snap.time.to_rfc3339_opts(SecondsFormat::Secs, true);
            let expires = c.keep.expires_at_latest(snap.time);
            match (&manifest.postgres, &c.postgres) {
                // On PostgreSQL the ciphertext is in pgBackRest's backups (and archived log),
                // which it expires once a newer full backup (a week apart at most) is older than
                // the recovery window.
                (Some(point), Some(pg)) => {
                    let window = chrono::Duration::days(7 + i64::from(pg.retention_days));
                    let expires_at = expires.max(snap.time + window).to_rfc3339_opts(SecondsFormat::Secs, true);
                    let labels = [Some(&point.backup), point.copy_backup.as_ref()];
                    for (repo, label) in pg.repos.iter().zip(labels) {
                        let Some(label) = label else { continue };
                        out.push(BackupGeneration {
                            repository: format!("{} (pgBackRest stanza {}, backup {label})", repo.path.display(), point.stanza),
                            snapshot: snap.id.clone(),
                            taken_at: taken_at.clone(),
                            expires_at: expires_at.clone(),
                        });
                    }
                }
                _ => out.push(BackupGeneration {
                    repository: c.data.name.clone(),
                    snapshot: snap.id.clone(),
                    taken_at,
                    expires_at: expires.to_rfc3339_opts(SecondsFormat::Secs, true),
                }),
            }
        }
        Ok(out)
    })
    .await
}
