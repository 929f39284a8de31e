//! The platform as a [`BackupSubject`]: its files (or its cluster, with pgBackRest) with each
//! tenant's content hash, and its key store apart; a restored generation is opened with the
//! run's key store and every tenant's hash compared.

use super::drill::TenantResult;
use super::subject::{DATA, KEYS};
use super::{BackupConfig, BackupError, BackupLock, BackupSubject, Findings, Taken, copy_tree, io, lock_file, pgbackrest};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::TenantId;
use renkei_domain::backup::{FileEntry, Manifest, TenantEntry, TenantFinding};
use renkei_store::backups::{BackupRun, Drill};
use renkei_store::platform::PlatformStore;
use renkei_store::{Location, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The platform being backed up, with the master key its tenants' data keys open with.
#[derive(Clone)]
pub struct PlatformSubject {
    pub store: PlatformStore,
    pub master: Arc<MasterKey>,
}

/// Where a platform's backup work keeps its scratch directories (and, on SQLite, its lock):
/// its data directory, or on PostgreSQL the system's temporary directory.
pub(crate) fn work_dir(platform: &PlatformStore) -> PathBuf {
    match platform.location() {
        Location::Dir(d) => d.clone(),
        Location::Postgres { .. } => std::env::temp_dir(),
    }
}

/// Takes the platform's backup lock, or says another process holds it.
pub async fn lock(platform: &PlatformStore) -> Result<BackupLock, BackupError> {
    if let Location::Postgres { .. } = platform.location() {
        return match platform.try_session_lock("renkei-backup").await? {
            Some(held) => Ok(BackupLock { _file: None, _session: Some(held) }),
            None => Err(BackupError::Busy),
        };
    }
    lock_file(&work_dir(platform))
}

impl BackupSubject for PlatformSubject {
    fn work_dir(&self) -> PathBuf {
        work_dir(&self.store)
    }

    async fn lock(&self) -> Result<BackupLock, BackupError> {
        lock(&self.store).await
    }

    async fn take(&self, config: &BackupConfig, run: &str, into: &Path) -> Result<Taken, BackupError> {
        let (data_dir, keys_dir) = (into.join(DATA), into.join(KEYS));
        match (self.store.location(), &config.postgres) {
            (Location::Dir(_), _) => {
                let copied = self.store.copy_data(&data_dir).await?;
                self.store.copy_keys(&keys_dir).await?;
                let tenants = hash_tenants(&data_dir, &keys_dir, &into.join("open"), &self.master).await?;
                let files = copied.into_iter().map(|f| FileEntry { path: f.path, bytes: f.bytes }).collect();
                Ok(Taken { files, tenants, ..Taken::default() })
            }
            (Location::Postgres { .. }, Some(pg)) => {
                let taken = pgbackrest::back_up(&self.store, &self.master, pg, run).await?;
                // The key store after the data, as on SQLite.
                self.store.copy_keys(&keys_dir).await?;
                std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
                Ok(Taken { tenants: taken.tenants, postgres: Some(taken.point), copy_failed: taken.copy_failed, ..Taken::default() })
            }
            (Location::Postgres { .. }, None) => Err(BackupError::Setup(
                "the platform is on PostgreSQL: its cluster is backed up with pgBackRest; set pgbackrest_repository (docs/operations.md)"
                    .into(),
            )),
        }
    }

    async fn check(&self, config: &BackupConfig, manifest: &Manifest, dir: &Path, scratch: &Path) -> Result<Findings, BackupError> {
        let (restored, cluster) = open_restored(&self.store, config, manifest, dir, scratch).await?;
        let mut tenants = Vec::new();
        for entry in &manifest.tenants {
            tenants.push(TenantResult {
                tenant: entry.tenant.clone(),
                finding: check_tenant(&restored, &self.master, &entry.tenant, &entry.content_hash).await,
            });
        }
        // The store before the cluster it is connected to.
        drop(restored);
        drop(cluster);
        Ok(Findings { tenants, hub: None })
    }

    async fn record_run(&self, run: &BackupRun, actor: &str) -> Result<(), StoreError> {
        self.store.record_backup(run, actor).await
    }

    async fn record_drill(&self, drill: &Drill, actor: &str) -> Result<(), StoreError> {
        self.store.record_drill(drill, actor).await
    }

    async fn last_run_and_drill(&self) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let run = self.store.backup_runs(1).await?.first().map(|r| r.started_at);
        Ok((run, self.store.drills(1).await?.first().map(|d| d.started_at)))
    }

    async fn audit(&self, actor: &str, action: &str, detail: &str) -> Result<(), StoreError> {
        self.store.audit_platform(actor, action, detail).await
    }
}

/// Opens what a generation restored into `dir`: its files, or for a platform on PostgreSQL
/// (`platform` being the running one) its cluster recovered into `cluster_dir` with the key
/// store in `dir`.
pub(crate) async fn open_restored(
    platform: &PlatformStore,
    config: &BackupConfig,
    manifest: &Manifest,
    dir: &Path,
    cluster_dir: &Path,
) -> Result<(PlatformStore, Option<pgbackrest::ScratchCluster>), BackupError> {
    if manifest.hub.is_some() {
        return Err(BackupError::Setup(
            "this generation is a backup of the hub, not of a platform: restore it with `renkei hub backup`".into(),
        ));
    }
    let Some(point) = &manifest.postgres else { return Ok((PlatformStore::open(&Location::Dir(dir.to_path_buf())).await?, None)) };
    let pg = config.postgres.as_ref().ok_or_else(|| {
        BackupError::Setup("this generation is of a platform on PostgreSQL: set pgbackrest_repository to restore it".into())
    })?;
    let (store, cluster) = pgbackrest::open_recovered(platform, pg, point, cluster_dir, dir).await?;
    Ok((store, Some(cluster)))
}

/// Each tenant's content hash on a copy of the copies (opening a store writes to it, and the
/// copies must be backed up as they were taken).
async fn hash_tenants(data: &Path, keys: &Path, open: &Path, master: &MasterKey) -> Result<Vec<TenantEntry>, BackupError> {
    copy_tree(data, open)?;
    copy_tree(keys, open)?;
    hash_store(&PlatformStore::open(&Location::Dir(open.to_path_buf())).await?, master).await
}

/// Each tenant's content hash in `store`: empty for a tenant whose key is destroyed.
pub(crate) async fn hash_store(store: &PlatformStore, master: &MasterKey) -> Result<Vec<TenantEntry>, BackupError> {
    let mut out = Vec::new();
    for t in store.tenants().await? {
        let content_hash = match store.content_hash(master, &t.id).await {
            Ok(h) => h,
            Err(StoreError::KeyDestroyed { .. }) => String::new(),
            Err(e) => return Err(e.into()),
        };
        out.push(TenantEntry { tenant: t.id.to_string(), content_hash });
    }
    Ok(out)
}

/// One tenant of a restored store against the content hash its backup recorded.
pub(crate) async fn check_tenant(store: &PlatformStore, master: &MasterKey, tenant: &str, recorded: &str) -> TenantFinding {
    let Ok(id) = TenantId::parse(tenant) else { return TenantFinding::Unreadable("not a tenant id".into()) };
    match store.content_hash(master, &id).await {
        Ok(h) => TenantFinding::compare(recorded, &h),
        Err(StoreError::KeyDestroyed { .. }) => TenantFinding::Shredded,
        Err(StoreError::NotFound(what)) => TenantFinding::Unreadable(format!("{what} not found")),
        Err(e) => TenantFinding::Unreadable(e.to_string()),
    }
}
