//! バックアップ: a platform's stores, or the hub's, backed up into restic-format repositories,
//! kept by a generations policy, and proved by restore drills (`drill`).
//!
//! A run copies the store consistently while the service goes on, hashes its content on the
//! copy, and writes two snapshots: the data (with the manifest of `domain::backup`) into the
//! data repository, and the keys into a repository of their own, with their own password. What
//! is copied and hashed, and how a restored generation is opened and checked, is the
//! [`BackupSubject`]'s: the platform's (`platform`: each tenant hashed, its key store apart) or
//! the hub's (`hub`: its store hashed whole, its secrets apart); runs, drills, listing,
//! forgetting and the schedule are the same for both. Keys and data never share a repository,
//! so a tenant's key destroyed in the key repository (see `shred`) leaves its data in every data
//! snapshot unreadable.

mod drill;
mod hub;
mod pgbackrest;
mod platform;
mod repo;
mod schedule;
mod sftp;
mod shred;
mod subject;

pub use drill::{DrillReport, OpenedGeneration, Restored, RestoredTenant, TenantResult, drill, restore, restore_tenant};
pub use hub::{HubSubject, restore_hub};
pub use pgbackrest::{PgBackRest, PgRepo};
pub use platform::{PlatformSubject, lock};
pub use repo::{Repo, Snapshot};
pub use schedule::{Schedule, run_scheduled};
pub use sftp::SftpTarget;
pub use shred::{generations_holding, shred_key_backups};
pub use subject::{BackupSubject, Findings, Taken};

use chrono::{DateTime, Utc};
use renkei_domain::backup::{self, KeepPolicy, Manifest};
use renkei_store::StoreError;
use renkei_store::backups::BackupRun;
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
    #[error("another backup, forget, drill or shred of this store is running; try again when it ends")]
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

/// A scratch directory in `dir`, readable by the operator alone, beside the data (on its disk,
/// which the operator sized for it); removed when dropped.
pub(crate) fn scratch(dir: &Path, what: &str) -> Result<tempfile::TempDir, BackupError> {
    tempfile::Builder::new().prefix(&format!(".renkei-{what}-")).tempdir_in(dir).map_err(io(dir))
}

/// A store's backup work held by one process at a time: rustic takes no lock in a repository,
/// and a prune beside a running backup could delete what the backup is writing. On SQLite an
/// advisory lock on a file beside the data ([`lock_file`]); on PostgreSQL an advisory lock in
/// the platform's database, so that `serve` processes on several hosts take turns. Let go when
/// this is dropped (or the process dies).
pub struct BackupLock {
    _file: Option<std::fs::File>,
    _session: Option<renkei_store::cluster::SessionLock>,
}

/// Takes the backup lock on the file `backup.lock` in `dir`, or says another process holds it.
pub(crate) fn lock_file(dir: &Path) -> Result<BackupLock, BackupError> {
    let path = dir.join("backup.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(BackupLock { _file: Some(file), _session: None }),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(BackupError::Io { path, source: e }),
    }
}

/// Backs up `subject` as of `at` (now, but for tests); recorded and audited as `actor` whether
/// it succeeds or not. A run that fails leaves the repositories' earlier snapshots as they
/// were: a snapshot exists only once all it needs was written.
pub async fn run<S: BackupSubject>(subject: &S, config: &BackupConfig, at: DateTime<Utc>, actor: &str) -> Result<RunReport, BackupError> {
    let _lock = subject.lock().await?;
    let id = uuid::Uuid::now_v7().to_string();
    let started = renkei_store::now_unix();
    let result = run_inner(subject, config, &id, at).await;
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
    subject.record_run(&record, actor).await?;
    result
}

async fn run_inner<S: BackupSubject>(subject: &S, config: &BackupConfig, id: &str, at: DateTime<Utc>) -> Result<RunReport, BackupError> {
    let scratch = scratch(&subject.work_dir(), "backup")?;
    let data_dir = scratch.path().join(subject::DATA);
    let keys_dir = scratch.path().join(subject::KEYS);
    let taken = subject.take(config, id, scratch.path()).await?;
    let cluster_copy_failed = taken.copy_failed;
    let manifest = Manifest {
        format: backup::FORMAT.into(),
        version: backup::VERSION,
        run: id.to_owned(),
        taken_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        backend: if taken.postgres.is_some() { "postgres" } else { "sqlite" }.into(),
        files: taken.files,
        tenants: taken.tenants,
        postgres: taken.postgres,
        hub: taken.hub,
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
pub async fn forget<S: BackupSubject>(
    subject: &S,
    config: &BackupConfig,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<Forgotten, BackupError> {
    let _lock = subject.lock().await?;
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
    subject.audit(actor, "backup.forget", &detail).await?;
    Ok(forgotten)
}
