//! バックアップ: a platform's stores backed up into restic-format repositories, kept by a
//! generations policy, and proved by restore drills (`drill`).
//!
//! A run copies every store consistently while the service goes on (`store::snapshot`), hashes
//! each tenant's data on the copy (`store::content`), and writes two snapshots: the data
//! (platform and tenants' files, with the manifest of `domain::backup`) into the data
//! repository, and the key store into a repository of its own, with its own password. Keys and
//! data never share a repository, so a tenant's key destroyed in the key repository (see
//! `shred`) leaves its data in every data snapshot unreadable.

mod drill;
mod pgbackrest;
mod repo;
mod schedule;
mod sftp;
mod shred;

pub use drill::{DrillReport, OpenedGeneration, Restored, RestoredTenant, TenantResult, drill, restore, restore_tenant};
pub use pgbackrest::{PgBackRest, PgRepo};
pub use repo::{Repo, Snapshot};
pub use schedule::{Schedule, run_scheduled};
pub use sftp::SftpTarget;
pub use shred::{generations_holding, shred_key_backups};

use chrono::{DateTime, Utc};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::backup::{self, FileEntry, KeepPolicy, Manifest, TenantEntry};
use renkei_store::backups::BackupRun;
use renkei_store::platform::PlatformStore;
use renkei_store::{Location, StoreError};
use std::path::{Path, PathBuf};

/// Why a backup, a listing, a drill or a restore failed. Never a personal value: repositories,
/// snapshots, files and tenants are named, nothing else.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup repository {0}: the password does not open it")]
    Password(String),
    #[error("backup repository {repository}: cannot {what} it: {why}")]
    Repository { repository: String, what: &'static str, why: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("snapshot {snapshot}: {why}")]
    Snapshot { snapshot: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the backup stopped: {0}")]
    Stopped(String),
    /// What the platform or its cluster lacks for a backup, and what to set.
    #[error("{0}")]
    Setup(String),
    #[error("another backup, forget, drill or shred of this platform is running; try again when it ends")]
    Busy,
    /// The snapshots were written, but their copy to the second site failed.
    #[error("data snapshot {data} and key snapshot {keys} were written, but copying them to the second site failed: {why}")]
    Copy { data: String, keys: String, why: String },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// Where backups go and how long they stay.
#[derive(Clone)]
pub struct BackupConfig {
    /// The data repository.
    pub data: Repo,
    /// The key store's repository.
    pub keys: Repo,
    /// The second site (遠隔地保管), which every snapshot is copied to.
    pub copy: Option<Site>,
    pub keep: KeepPolicy,
    /// pgBackRest, for a platform on PostgreSQL: the data repository then holds each run's
    /// manifest, and the cluster is in pgBackRest's repositories.
    pub postgres: Option<PgBackRest>,
}

/// A second site's repositories, each with its own password.
#[derive(Clone)]
pub struct Site {
    pub data: Repo,
    pub keys: Repo,
}

impl BackupConfig {
    /// The second site as a configuration of its own, to drill or restore from it.
    pub fn second_site(&self) -> Option<BackupConfig> {
        self.copy.as_ref().map(|s| BackupConfig {
            data: s.data.clone(),
            keys: s.keys.clone(),
            copy: None,
            keep: self.keep,
            postgres: self.postgres.as_ref().map(|pg| PgBackRest { restore_from: 2, ..pg.clone() }),
        })
    }
}

/// The snapshot paths renkei writes: restic restores a snapshot under them.
pub const DATA_PATH: &str = "/renkei/data";
pub const KEYS_PATH: &str = "/renkei/keys";

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: String,
    pub data: Snapshot,
    pub keys: Snapshot,
    pub manifest: Manifest,
    /// Repositories made by this run (the first into each).
    pub made: Vec<String>,
    /// Snapshots copied to the second site (this run's and any an earlier run missed).
    pub copied: usize,
}

/// Runs a blocking repository call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, BackupError> + Send + 'static) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BackupError::Stopped(e.to_string()))?
}

/// A scratch directory, readable by the operator alone, beside the data (on its disk, which
/// the operator sized for it); removed when dropped.
pub(crate) fn scratch(platform: &PlatformStore, what: &str) -> Result<tempfile::TempDir, BackupError> {
    let dir = work_dir(platform);
    tempfile::Builder::new().prefix(&format!(".renkei-{what}-")).tempdir_in(&dir).map_err(io(&dir))
}

/// A platform's backup work held by one process at a time: rustic takes no lock in a
/// repository, and a prune beside a running backup could delete what the backup is writing. On
/// SQLite an advisory lock on a file beside the data; on PostgreSQL an advisory lock in the
/// platform's database, so that `serve` processes on several hosts take turns. Let go when
/// this is dropped (or the process dies).
pub struct BackupLock {
    _file: Option<std::fs::File>,
    _session: Option<renkei_store::cluster::SessionLock>,
}

/// Where a platform's backup work keeps its scratch directories (and, on SQLite, its lock):
/// its data directory, or on PostgreSQL the system's temporary directory.
fn work_dir(platform: &PlatformStore) -> PathBuf {
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
    let path = work_dir(platform).join("backup.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(BackupLock { _file: Some(file), _session: None }),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(BackupError::Io { path, source: e }),
    }
}

/// Backs up the platform of `platform` as of `at` (now, but for tests); recorded and audited
/// as `actor` whether it succeeds or not. A run that fails leaves the repositories' earlier
/// snapshots as they were: a snapshot exists only once all it needs was written.
pub async fn run(
    platform: &PlatformStore,
    master: &MasterKey,
    config: &BackupConfig,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<RunReport, BackupError> {
    let _lock = lock(platform).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let started = renkei_store::now_unix();
    let result = run_inner(platform, master, config, &id, at).await;
    let failed = BackupRun { id: id.clone(), started_at: started, finished_at: renkei_store::now_unix(), ..BackupRun::default() };
    let record = match &result {
        Ok(r) => BackupRun {
            ok: true,
            data_snapshot: r.data.id.clone(),
            key_snapshot: r.keys.id.clone(),
            tenants: r.manifest.tenants.len() as i64,
            bytes: (r.data.bytes + r.keys.bytes) as i64,
            added_bytes: (r.data.added_bytes + r.keys.added_bytes) as i64,
            ..failed
        },
        // The snapshots were written; only their copy failed.
        Err(e @ BackupError::Copy { data, keys, .. }) => {
            BackupRun { data_snapshot: data.clone(), key_snapshot: keys.clone(), detail: e.to_string(), ..failed }
        }
        Err(e) => BackupRun { detail: e.to_string(), ..failed },
    };
    platform.record_backup(&record, actor).await?;
    result
}

async fn run_inner(
    platform: &PlatformStore,
    master: &MasterKey,
    config: &BackupConfig,
    id: &str,
    at: DateTime<Utc>,
) -> Result<RunReport, BackupError> {
    let scratch = scratch(platform, "backup")?;
    let data_dir = scratch.path().join("data");
    let keys_dir = scratch.path().join("keys");
    let mut cluster_copy_failed = None;
    let (files, tenants, postgres) = match (platform.location(), &config.postgres) {
        (Location::Dir(_), _) => {
            let copied = platform.copy_data(&data_dir).await?;
            platform.copy_keys(&keys_dir).await?;
            let tenants = hash_tenants(&data_dir, &keys_dir, &scratch.path().join("open"), master).await?;
            (copied.into_iter().map(|f| FileEntry { path: f.path, bytes: f.bytes }).collect(), tenants, None)
        }
        (Location::Postgres { .. }, Some(pg)) => {
            let taken = pgbackrest::back_up(platform, master, pg, id).await?;
            // The key store after the data, as on SQLite.
            platform.copy_keys(&keys_dir).await?;
            std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
            cluster_copy_failed = taken.copy_failed;
            (Vec::new(), taken.tenants, Some(taken.point))
        }
        (Location::Postgres { .. }, None) => {
            return Err(BackupError::Setup(
                "the platform is on PostgreSQL: its cluster is backed up with pgBackRest; set pgbackrest_repository (docs/operations.md)"
                    .into(),
            ));
        }
    };
    let manifest = Manifest {
        format: backup::FORMAT.into(),
        version: backup::VERSION,
        run: id.to_owned(),
        taken_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        backend: if postgres.is_some() { "postgres" } else { "sqlite" }.into(),
        files,
        tenants,
        postgres,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Stopped(e.to_string()))?;
    let manifest_path = data_dir.join(backup::MANIFEST);
    std::fs::write(&manifest_path, json).map_err(io(&manifest_path))?;

    let (config, id_tag) = (config.clone(), format!("run={id}"));
    let written = blocking(move || {
        // Both repositories open (or are made) before either is written: a wrong password or a
        // missing repository leaves no data snapshot without its keys.
        let mut made = Vec::new();
        for repo in [&config.data, &config.keys] {
            if repo.init_if_new()? {
                made.push(repo.name.clone());
            }
            repo.open()?;
        }
        let data = config.data.backup(&data_dir, DATA_PATH, &["renkei".into(), "data".into(), id_tag.clone()], at)?;
        let keys = config.keys.backup(&keys_dir, KEYS_PATH, &["renkei".into(), "keys".into(), id_tag], at)?;
        let copied = match &config.copy {
            None => Ok(0),
            Some(site) => config.data.copy_to(&site.data).and_then(|d| Ok(d + config.keys.copy_to(&site.keys)?)),
        };
        // The cluster's backup into the second site's pgBackRest repository, taken before.
        let copied = match cluster_copy_failed {
            Some(why) => Err(BackupError::Stopped(why)),
            None => copied,
        };
        let copied = copied.map_err(|e| BackupError::Copy { data: data.id.clone(), keys: keys.id.clone(), why: e.to_string() })?;
        Ok((data, keys, made, copied))
    })
    .await?;
    drop(scratch);
    let (data, keys, made, copied) = written;
    Ok(RunReport { run: id.to_owned(), data, keys, manifest, made, copied })
}

/// Each tenant's content hash on a copy of the copies (opening a store writes to it, and the
/// copies must be backed up as they were taken).
pub(crate) async fn hash_tenants(data: &Path, keys: &Path, open: &Path, master: &MasterKey) -> Result<Vec<TenantEntry>, BackupError> {
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

/// Copies the files under `from` into `to`, keeping their paths.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(io(&src))?.is_dir() {
            copy_tree(&src, &dest)?;
        } else {
            std::fs::copy(&src, &dest).map_err(io(&dest))?;
        }
    }
    Ok(())
}

/// A data snapshot and the key snapshot of the same run, as `list` pairs them.
#[derive(Debug, Clone)]
pub struct Generation {
    pub data: Snapshot,
    /// `None`: the key repository holds no snapshot of this run.
    pub keys: Option<Snapshot>,
    /// Whether the second site holds copies of both (`None`: no second site).
    pub copied: Option<bool>,
}

/// Every generation, oldest first.
pub async fn list(config: &BackupConfig) -> Result<Vec<Generation>, BackupError> {
    let config = config.clone();
    blocking(move || {
        let data = config.data.snapshots()?;
        let keys = config.keys.snapshots()?;
        let copies = match &config.copy {
            None => None,
            Some(site) => {
                let held = |r: &Repo| -> Result<Vec<String>, BackupError> {
                    if !r.exists()? {
                        return Ok(Vec::new());
                    }
                    Ok(r.snapshots()?.into_iter().filter_map(|s| s.original).collect())
                };
                // A second site that cannot be reached holds nothing as far as anyone can
                // tell: its generations show as missing.
                Some((held(&site.data).unwrap_or_default(), held(&site.keys).unwrap_or_default()))
            }
        };
        Ok(data
            .into_iter()
            .map(|d| {
                let run = d.tag("run").map(str::to_owned);
                let keys = keys.iter().find(|k| run.is_some() && k.tag("run") == run.as_deref()).cloned();
                let copied = copies.as_ref().map(|(cd, ck)| cd.contains(&d.id) && keys.as_ref().is_some_and(|k| ck.contains(&k.id)));
                Generation { data: d, keys, copied }
            })
            .collect())
    })
    .await
}

/// What `forget` removed.
#[derive(Debug, Clone, Default)]
pub struct Forgotten {
    pub data: Vec<String>,
    pub keys: Vec<String>,
}

/// Forgets, in both repositories, the snapshots the generations policy no longer keeps as of
/// `now`, and prunes their data; audited as `actor`.
pub async fn forget(platform: &PlatformStore, config: &BackupConfig, now: DateTime<Utc>, actor: &str) -> Result<Forgotten, BackupError> {
    let _lock = lock(platform).await?;
    let c = config.clone();
    let forgotten = blocking(move || {
        let f = Forgotten { data: c.data.forget(&c.keep, now)?, keys: c.keys.forget(&c.keep, now)? };
        if let Some(site) = &c.copy {
            site.data.forget_copies_of(&f.data, false)?;
            site.keys.forget_copies_of(&f.keys, false)?;
        }
        Ok(f)
    })
    .await?;
    let detail = format!(
        "data={} keys={} policy=daily:{},weekly:{},monthly:{}",
        forgotten.data.len(),
        forgotten.keys.len(),
        config.keep.daily,
        config.keep.weekly,
        config.keep.monthly
    );
    platform.audit_platform(actor, "backup.forget", &detail).await?;
    Ok(forgotten)
}
