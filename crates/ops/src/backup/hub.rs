//! The hub as a [`BackupSubject`]: its store's file (`hub.sqlite`, copied with `VACUUM INTO`)
//! with the content hash of everything in it, and its two secrets (the key of its number hashes
//! and codes, and its signing key) apart in the key repository. A restored generation is a hub
//! data directory: its store is opened, its hash compared, and its secrets' fingerprint too.

use super::drill::{Restored, into_new_dir, restore_generation};
use super::subject::{DATA, KEYS};
use super::{BackupConfig, BackupError, BackupLock, BackupSubject, Findings, Taken, io, lock_file};
use renkei_crypto::hubkey::{HubSecret, keys_fingerprint};
use renkei_crypto::signing::SigningKey;
use renkei_domain::backup::{FileEntry, HubEntry, Manifest, TenantFinding};
use renkei_store::backups::{BackupRun, Drill};
use renkei_store::hub::HubStore;
use renkei_store::{Location, StoreError};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The secrets' file names, in the key snapshot and in a restored hub's data directory (where
/// `renkei hub` looks for them by default).
const SECRET: &str = "hub.secret";
const SIGNING_KEY: &str = "hub.signing.key";

/// The hub being backed up: its store, its data directory, and its two secrets as their files
/// hold them.
#[derive(Clone)]
pub struct HubSubject {
    pub store: HubStore,
    pub dir: PathBuf,
    pub secret: Zeroizing<String>,
    pub signing_key: Zeroizing<String>,
}

/// The fingerprint of the two secrets, once each is read as a key.
fn fingerprint(secret: &str, signing_key: &str) -> Result<String, String> {
    let secret = HubSecret::from_text(secret).map_err(|e| e.to_string())?;
    let signing = SigningKey::from_hex(signing_key).map_err(|e| e.to_string())?;
    Ok(keys_fingerprint(&secret, &signing))
}

fn write_private(path: &Path, text: &str) -> Result<(), BackupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

impl BackupSubject for HubSubject {
    fn work_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    async fn lock(&self) -> Result<BackupLock, BackupError> {
        lock_file(&self.dir)
    }

    async fn take(&self, _config: &BackupConfig, _run: &str, into: &Path) -> Result<Taken, BackupError> {
        let (data_dir, keys_dir) = (into.join(DATA), into.join(KEYS));
        let copied = self.store.copy_data(&data_dir).await.map_err(|e| match e {
            StoreError::Conflict(_) => BackupError::Setup(
                "the hub's store is on PostgreSQL: back its cluster up with pgBackRest (docs/operations.md); `renkei hub backup` backs up a hub on SQLite"
                    .into(),
            ),
            e => e.into(),
        })?;
        let keys = fingerprint(&self.secret, &self.signing_key).map_err(|why| BackupError::Setup(format!("the hub's keys: {why}")))?;
        std::fs::create_dir_all(&keys_dir).map_err(io(&keys_dir))?;
        write_private(&keys_dir.join(SECRET), &self.secret)?;
        write_private(&keys_dir.join(SIGNING_KEY), &self.signing_key)?;
        // Hashed on a copy of the copy: opening a store writes to it.
        let open = into.join("open");
        super::copy_tree(&data_dir, &open)?;
        let content_hash = HubStore::open(&Location::Dir(open)).await?.content_hash().await?;
        Ok(Taken {
            files: vec![FileEntry { path: copied.path, bytes: copied.bytes }],
            hub: Some(HubEntry { content_hash, keys }),
            ..Taken::default()
        })
    }

    async fn check(&self, _config: &BackupConfig, manifest: &Manifest, dir: &Path, _scratch: &Path) -> Result<Findings, BackupError> {
        let Some(recorded) = &manifest.hub else {
            return Err(BackupError::Setup(
                "this generation is a backup of a platform, not of the hub: restore it with `renkei backup`".into(),
            ));
        };
        Ok(Findings { tenants: Vec::new(), hub: Some(check_restored(recorded, dir).await) })
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
        self.store.log_operator(actor, action, detail).await
    }
}

/// A restored hub data directory against its manifest: its secrets read as keys with the
/// recorded fingerprint, its store opened with the recorded content hash.
async fn check_restored(recorded: &HubEntry, dir: &Path) -> TenantFinding {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).map(Zeroizing::new).map_err(|e| format!("{name}: {e}"));
    let keys = match read(SECRET).and_then(|s| read(SIGNING_KEY).map(|k| (s, k))) {
        Ok((secret, signing)) => fingerprint(&secret, &signing),
        Err(why) => Err(why),
    };
    match keys {
        Ok(k) if k == recorded.keys => {}
        Ok(_) => return TenantFinding::Unreadable("the restored keys are not the ones backed up".into()),
        Err(why) => return TenantFinding::Unreadable(format!("the restored keys cannot be read: {why}")),
    }
    let store = match HubStore::open(&Location::Dir(dir.to_path_buf())).await {
        Ok(s) => s,
        Err(e) => return TenantFinding::Unreadable(e.to_string()),
    };
    match store.content_hash().await {
        Ok(h) => TenantFinding::compare(&recorded.content_hash, &h),
        Err(e) => TenantFinding::Unreadable(e.to_string()),
    }
}

/// Restores generation `snapshot` (the newest if `None`) of the hub into `dest`, a new
/// directory, checked as a drill checks: a data directory `renkei hub --data-dir` serves, with
/// its secrets. `dest` must not exist; nothing is left there if the restore fails.
pub async fn restore_hub(config: &BackupConfig, snapshot: Option<&str>, dest: &Path) -> Result<Restored, BackupError> {
    into_new_dir(dest, async {
        let (manifest, data_snapshot, key_snapshot) = restore_generation(config, snapshot, dest).await?;
        let Some(recorded) = &manifest.hub else {
            return Err(BackupError::Setup(
                "this generation is a backup of a platform, not of the hub: restore it with `renkei backup`".into(),
            ));
        };
        match check_restored(recorded, dest).await {
            TenantFinding::Same => {}
            other => return Err(BackupError::Snapshot { snapshot: data_snapshot, why: format!("the hub: {}", other.describe()) }),
        }
        Ok(Restored {
            data_snapshot,
            key_snapshot,
            taken_at: manifest.taken_at,
            dir: dest.to_path_buf(),
            cluster: None,
            shredded: Vec::new(),
            tenants: 0,
        })
    })
    .await
}
