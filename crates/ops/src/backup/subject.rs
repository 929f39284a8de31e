//! What a backup needs of the store it backs up: the platform's ([`super::PlatformSubject`]) or
//! the hub's ([`super::HubSubject`]). Runs, drills, forgetting and the schedule are written once,
//! over this trait.

use super::drill::TenantResult;
use super::{BackupConfig, BackupError, BackupLock};
use renkei_domain::backup::{ClusterPoint, FileEntry, HubEntry, Manifest, TenantEntry, TenantFinding};
use renkei_store::StoreError;
use renkei_store::backups::{BackupRun, Drill};
use std::future::Future;
use std::path::{Path, PathBuf};

/// Where [`BackupSubject::take`] puts the data to back up, under the directory it is given.
pub const DATA: &str = "data";
/// And the keys.
pub const KEYS: &str = "keys";

/// What a store's copy holds, for the manifest.
#[derive(Debug, Default)]
pub struct Taken {
    pub files: Vec<FileEntry>,
    pub tenants: Vec<TenantEntry>,
    pub hub: Option<HubEntry>,
    /// For a platform on PostgreSQL: where its cluster's backup is.
    pub postgres: Option<ClusterPoint>,
    /// The cluster's backup into the second site failed (reported once the rest is written).
    pub copy_failed: Option<String>,
}

/// What a drill found in a restored generation.
#[derive(Debug, Default)]
pub struct Findings {
    pub tenants: Vec<TenantResult>,
    /// For a backup of the hub: its store's and keys' finding.
    pub hub: Option<TenantFinding>,
}

/// A store being backed up.
pub trait BackupSubject: Send + Sync {
    /// The directory its scratch places go in (beside its data, on SQLite).
    fn work_dir(&self) -> PathBuf;

    /// Takes its backup lock, or says another process holds it.
    fn lock(&self) -> impl Future<Output = Result<BackupLock, BackupError>> + Send;

    /// Copies the store consistently into `into/data` and its keys into `into/keys` (the key
    /// store after the data), while the service goes on, and hashes what was copied.
    fn take(&self, config: &BackupConfig, run: &str, into: &Path) -> impl Future<Output = Result<Taken, BackupError>> + Send;

    /// Opens what a generation restored into `dir` (its data and keys) and checks it against
    /// `manifest`; a cluster to recover goes into `scratch`.
    fn check(
        &self,
        config: &BackupConfig,
        manifest: &Manifest,
        dir: &Path,
        scratch: &Path,
    ) -> impl Future<Output = Result<Findings, BackupError>> + Send;

    /// Records a run, and audits it as `actor`.
    fn record_run(&self, run: &BackupRun, actor: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a drill, and audits it as `actor`.
    fn record_drill(&self, drill: &Drill, actor: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// When the last run and the last drill started (Unix seconds), for the schedule.
    fn last_run_and_drill(&self) -> impl Future<Output = Result<(Option<i64>, Option<i64>), StoreError>> + Send;

    /// Audits another backup action (`backup.forget`) as `actor`.
    fn audit(&self, actor: &str, action: &str, detail: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}
