//! リストア訓練 (restore drills) and restores: a generation restored from the repositories into a
//! scratch place (a drill) or a new data directory (a restore), its stores opened with the key
//! store of the same run, and every tenant's content hash recomputed and compared with the
//! one its backup recorded. A tenant whose key was destroyed since (deleted) cannot be read:
//! the drill says so, and counts it as it should be.

use super::platform::{check_tenant, open_restored, work_dir};
use super::{BackupConfig, BackupError, BackupSubject, DATA_PATH, KEYS_PATH, blocking, copy_tree, io, list};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::TenantId;
use renkei_domain::backup::{self, Manifest, TenantFinding};
use renkei_store::backups::Drill;
use renkei_store::platform::PlatformStore;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One tenant's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantResult {
    pub tenant: String,
    pub finding: TenantFinding,
}

/// What a drill found.
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub id: String,
    /// The data and key snapshots restored.
    pub data_snapshot: String,
    pub key_snapshot: String,
    /// When the generation was taken (its manifest's `taken_at`).
    pub taken_at: String,
    pub tenants: Vec<TenantResult>,
    /// For a backup of the hub: its store's and keys' finding.
    pub hub: Option<TenantFinding>,
    /// Files of the manifest missing or of another size after the restore.
    pub files_wrong: Vec<String>,
    pub seconds: f64,
}

impl DrillReport {
    pub fn ok(&self) -> bool {
        self.files_wrong.is_empty() && self.tenants.iter().all(|t| t.finding.passes()) && self.hub.as_ref().is_none_or(|h| h.passes())
    }
}

/// Restores generation `snapshot` (a data snapshot's id or its prefix; the newest if `None`)
/// with its run's key snapshot into `dest`: the data directory's files and its keys. The
/// manifest it carried, and the snapshots' ids.
pub(crate) async fn restore_generation(
    config: &BackupConfig,
    snapshot: Option<&str>,
    dest: &Path,
) -> Result<(Manifest, String, String), BackupError> {
    let generations = list(config).await?;
    let generation = match snapshot {
        None => generations.last(),
        Some(prefix) => {
            let mut found = generations.iter().filter(|g| g.data.id.starts_with(prefix));
            match (found.next(), found.next()) {
                (Some(g), None) => Some(g),
                (Some(_), Some(_)) => {
                    return Err(BackupError::Snapshot {
                        snapshot: prefix.into(),
                        why: "names more than one snapshot; give more of its id".into(),
                    });
                }
                (None, _) => None,
            }
        }
    };
    let Some(generation) = generation.cloned() else {
        let why = if snapshot.is_some() { "no such snapshot in the data repository" } else { "the data repository holds no snapshot" };
        return Err(BackupError::Snapshot { snapshot: snapshot.unwrap_or("latest").into(), why: why.into() });
    };
    let Some(keys) = generation.keys.clone() else {
        return Err(BackupError::Snapshot {
            snapshot: generation.data.id.clone(),
            why: "the key repository holds no snapshot of its run, so its data cannot be opened".into(),
        });
    };
    let staging = dest.with_extension("restoring");
    let (c, (data_id, keys_id), s) = (config.clone(), (generation.data.id.clone(), keys.id.clone()), staging.clone());
    blocking(move || {
        c.data.verify(&data_id)?;
        c.keys.verify(&keys_id)?;
        c.data.restore(&data_id, &s.join("d"))?;
        c.keys.restore(&keys_id, &s.join("k"))
    })
    .await?;
    let restored = |p: &str| staging.join(p.trim_start_matches('/'));
    let manifest_path = restored(&format!("d{DATA_PATH}")).join(backup::MANIFEST);
    let manifest: Manifest = std::fs::read(&manifest_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| {
        BackupError::Snapshot { snapshot: generation.data.id.clone(), why: format!("holds no readable {}", backup::MANIFEST) }
    })?;
    copy_tree(&restored(&format!("d{DATA_PATH}")), dest)?;
    copy_tree(&restored(&format!("k{KEYS_PATH}")), dest)?;
    std::fs::remove_file(dest.join(backup::MANIFEST)).map_err(io(dest))?;
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    Ok((manifest, generation.data.id, keys.id))
}

/// A generation restored into a scratch place and opened with its run's key store; a
/// PostgreSQL generation's recovered cluster is stopped when this is dropped (after the store).
pub struct OpenedGeneration {
    pub store: PlatformStore,
    pub manifest: Manifest,
    pub data_snapshot: String,
    pub key_snapshot: String,
    /// Files of the manifest missing or of another size after the restore.
    pub files_wrong: Vec<String>,
    _cluster: Option<super::pgbackrest::ScratchCluster>,
}

/// Restores generation `snapshot` (the newest if `None`) into `scratch` and opens it: the
/// files and key store of a SQLite platform, or the cluster of a PostgreSQL platform (`platform`
/// being the running one) recovered to the generation's restore point.
async fn open_generation(
    platform: &PlatformStore,
    config: &BackupConfig,
    snapshot: Option<&str>,
    scratch: &Path,
) -> Result<OpenedGeneration, BackupError> {
    let dir = scratch.join("platform");
    let (manifest, data_snapshot, key_snapshot) = restore_generation(config, snapshot, &dir).await?;
    let files_wrong = files_wrong(&manifest, &dir);
    let (store, cluster) = open_restored(platform, config, &manifest, &dir, &scratch.join("cluster")).await?;
    Ok(OpenedGeneration { store, manifest, data_snapshot, key_snapshot, files_wrong, _cluster: cluster })
}

/// The files of `manifest` missing from `dir`, or of another size.
fn files_wrong(manifest: &Manifest, dir: &Path) -> Vec<String> {
    manifest
        .files
        .iter()
        .filter(|f| std::fs::metadata(dir.join(&f.path)).map(|m| m.len()).ok() != Some(f.bytes))
        .map(|f| f.path.clone())
        .collect()
}

/// Restores a generation into a scratch place, opens it with its keys, and checks it as its
/// subject does (every tenant's content hash, or the hub's); recorded and audited as `actor`.
/// A drill that finds a difference returns its report (not an error): `ok()` says whether it
/// passed.
pub async fn drill<S: BackupSubject>(
    subject: &S,
    config: &BackupConfig,
    snapshot: Option<&str>,
    actor: &str,
) -> Result<DrillReport, BackupError> {
    let _lock = subject.lock().await?;
    let started = (Instant::now(), renkei_store::now_unix());
    let scratch = super::scratch(&subject.work_dir(), "drill")?;
    let dir = scratch.path().join("restored");
    let checked = async {
        let (manifest, data_snapshot, key_snapshot) = restore_generation(config, snapshot, &dir).await?;
        let findings = subject.check(config, &manifest, &dir, &scratch.path().join("cluster")).await?;
        Ok::<_, BackupError>((files_wrong(&manifest, &dir), manifest, data_snapshot, key_snapshot, findings))
    }
    .await;
    let (files_wrong, manifest, data_snapshot, key_snapshot, findings) = match checked {
        Ok(c) => c,
        Err(e) => {
            // A generation that cannot be restored is the finding a drill exists for.
            subject.record_drill(&failed_drill(started.1, snapshot.unwrap_or("latest"), &e), actor).await?;
            return Err(e);
        }
    };
    let report = DrillReport {
        id: uuid::Uuid::now_v7().to_string(),
        data_snapshot,
        key_snapshot,
        taken_at: manifest.taken_at,
        tenants: findings.tenants,
        hub: findings.hub,
        files_wrong,
        seconds: started.0.elapsed().as_secs_f64(),
    };
    let failing: Vec<String> = report
        .tenants
        .iter()
        .filter(|t| !t.finding.passes())
        .map(|t| format!("{}: {}", t.tenant, t.finding.describe()))
        .chain(report.hub.iter().filter(|h| !h.passes()).map(|h| format!("hub: {}", h.describe())))
        .chain(report.files_wrong.iter().map(|f| format!("{f}: missing or of another size")))
        .collect();
    let record = Drill {
        id: report.id.clone(),
        started_at: started.1,
        finished_at: renkei_store::now_unix(),
        ok: report.ok(),
        data_snapshot: report.data_snapshot.clone(),
        tenants: report.tenants.len() as i64,
        passed: report.tenants.iter().filter(|t| t.finding.passes()).count() as i64,
        detail: failing.join("; "),
    };
    subject.record_drill(&record, actor).await?;
    Ok(report)
}

/// The record of a drill that could not restore what it was to check.
fn failed_drill(started_at: i64, snapshot: &str, e: &BackupError) -> Drill {
    Drill {
        id: uuid::Uuid::now_v7().to_string(),
        started_at,
        finished_at: renkei_store::now_unix(),
        ok: false,
        data_snapshot: snapshot.to_owned(),
        tenants: 0,
        passed: 0,
        detail: e.to_string(),
    }
}

/// One tenant of a generation, restored and checked against its recorded content hash, ready
/// to be read (`renkei backup restore --tenant` writes it out as an export). Holds the backup
/// lock and the scratch place until dropped.
pub struct RestoredTenant {
    pub generation: OpenedGeneration,
    _scratch: tempfile::TempDir,
    _lock: super::BackupLock,
}

/// Restores generation `snapshot` (the newest if `None`) and checks `tenant` in it: its data
/// must read back with the content hash the run recorded.
pub async fn restore_tenant(
    platform: &PlatformStore,
    master: &MasterKey,
    config: &BackupConfig,
    snapshot: Option<&str>,
    tenant: &TenantId,
) -> Result<RestoredTenant, BackupError> {
    let lock = super::lock(platform).await?;
    let scratch = super::scratch(&work_dir(platform), "restore")?;
    let generation = open_generation(platform, config, snapshot, scratch.path()).await?;
    let snapshot = generation.data_snapshot.clone();
    let Some(entry) = generation.manifest.tenants.iter().find(|t| t.tenant == tenant.as_str()) else {
        return Err(BackupError::Snapshot { snapshot, why: format!("holds no tenant {tenant}") });
    };
    match check_tenant(&generation.store, master, &entry.tenant, &entry.content_hash).await {
        TenantFinding::Same => Ok(RestoredTenant { generation, _scratch: scratch, _lock: lock }),
        TenantFinding::Shredded => {
            Err(BackupError::Snapshot { snapshot, why: format!("tenant {tenant}'s data key was destroyed: its data cannot be restored") })
        }
        other => Err(BackupError::Snapshot { snapshot, why: format!("tenant {tenant}: {}", other.describe()) }),
    }
}

/// What a restore put in place.
#[derive(Debug, Clone)]
pub struct Restored {
    pub data_snapshot: String,
    pub key_snapshot: String,
    pub taken_at: String,
    pub dir: PathBuf,
    /// For a platform on PostgreSQL: the recovered cluster's data directory (under `dir`, which
    /// holds the key store's `keys.sqlite`), shut down cleanly.
    pub cluster: Option<PathBuf>,
    /// Tenants whose key was destroyed: restored, but unreadable for good.
    pub shredded: Vec<String>,
    pub tenants: usize,
}

/// Restores generation `snapshot` (the newest if `None`) as a whole platform into `dest`, a new
/// directory, checked as a drill checks: a data directory to serve with the platform's master
/// key, or for a platform on PostgreSQL (`platform` being the running one) the cluster recovered
/// to the generation's restore point (`dest/cluster/data`) with the key store beside it.
/// `dest` must not exist; nothing is left there if the restore fails.
pub async fn restore(
    platform: &PlatformStore,
    master: &MasterKey,
    config: &BackupConfig,
    snapshot: Option<&str>,
    dest: &Path,
) -> Result<Restored, BackupError> {
    into_new_dir(dest, async {
        let (manifest, data_snapshot, key_snapshot) = restore_generation(config, snapshot, dest).await?;
        let (store, cluster) = open_restored(platform, config, &manifest, dest, &dest.join("cluster")).await?;
        let mut shredded = Vec::new();
        for entry in &manifest.tenants {
            match check_tenant(&store, master, &entry.tenant, &entry.content_hash).await {
                TenantFinding::Same => {}
                TenantFinding::Shredded => shredded.push(entry.tenant.clone()),
                other => {
                    return Err(BackupError::Snapshot {
                        snapshot: data_snapshot.clone(),
                        why: format!("tenant {}: {}", entry.tenant, other.describe()),
                    });
                }
            }
        }
        drop(store);
        let cluster = match cluster {
            None => None,
            Some(c) => {
                let data = c.data_dir().to_path_buf();
                blocking(move || c.stop_cleanly()).await?;
                Some(data)
            }
        };
        Ok(Restored {
            data_snapshot,
            key_snapshot,
            taken_at: manifest.taken_at,
            dir: dest.to_path_buf(),
            cluster,
            shredded,
            tenants: manifest.tenants.len(),
        })
    })
    .await
}

/// Runs a restore `into` the new directory `dest`: refused if `dest` exists, and nothing left
/// there if it fails.
pub(crate) async fn into_new_dir<T>(dest: &Path, restore: impl Future<Output = Result<T, BackupError>>) -> Result<T, BackupError> {
    if dest.exists() {
        return Err(BackupError::Io {
            path: dest.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a restore goes into a new directory"),
        });
    }
    let result = restore.await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
        let _ = std::fs::remove_dir_all(dest.with_extension("restoring"));
    }
    result
}
