//! One restic-format repository (restic's design document; written with rustic's library), so an
//! operator can check and restore what renkei wrote with restic itself. Encrypted (AES-256 in
//! CTR mode with Poly1305, under a key the repository's password unlocks), deduplicated by
//! content-defined chunks, so each snapshot is whole and stores only what changed.
//!
//! Every call here blocks; callers run it off the async threads. No local cache is kept: a
//! cache of a repository's metadata would be one more place holding it.

use crate::backup::BackupError;
use crate::backup::sftp::{SftpBackend, SftpTarget};
use chrono::{DateTime, Utc};
use renkei_domain::backup::KeepPolicy;
use rustic_backend::LocalBackend;
use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, FileType, ForgetGroups, Grouped, KeepOptions, KeyOptions, LocalDestination,
    LsOptions, OpenStatus, PathList, PruneOptions, Repository, RepositoryBackends, RepositoryOptions, RestoreOptions, RusticError,
    SnapshotGroupCriterion, WriteBackend,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A repository: where it is and the password that opens it.
#[derive(Clone)]
pub struct Repo {
    /// As the operator named it, for messages.
    pub name: String,
    place: Place,
    password: Arc<Zeroizing<String>>,
}

/// Where a repository is: a directory of this machine (a local disk, or a share mounted here),
/// or a directory of another reached over SFTP.
#[derive(Clone)]
enum Place {
    Local(PathBuf),
    Sftp(SftpTarget),
}

/// A snapshot as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub time: DateTime<Utc>,
    pub tags: Vec<String>,
    /// Bytes of the files it holds, and what the repository had to add for them.
    pub bytes: u64,
    pub added_bytes: u64,
    /// In a copy: the id of the snapshot it was copied from.
    pub original: Option<String>,
}

impl Snapshot {
    /// The value of this snapshot's tag `name=value`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.iter().find_map(|t| t.strip_prefix(name)?.strip_prefix('='))
    }

    fn from_file(s: &SnapshotFile) -> Snapshot {
        let time = DateTime::from_timestamp(s.time.timestamp().as_second(), 0).unwrap_or_default();
        let (bytes, added_bytes) = s.summary.as_ref().map_or((0, 0), |m| (m.total_bytes_processed, m.data_added));
        // `Display` shows the first 8 digits; the full id names the snapshot for good.
        Snapshot {
            id: s.id.to_hex().as_str().to_owned(),
            time,
            tags: s.tags.iter().map(ToString::to_string).collect(),
            bytes,
            added_bytes,
            original: s.original.map(|o| o.to_hex().as_str().to_owned()),
        }
    }
}

/// One line of a rustic error (its own display runs over many lines and adds advice for
/// rustic's users).
fn one_line(e: &RusticError) -> String {
    let text = e.display_log();
    let text = text.strip_prefix("Error: ").unwrap_or(&text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Repo {
    pub fn new(path: &Path, password: Zeroizing<String>) -> Repo {
        Repo { name: path.display().to_string(), place: Place::Local(path.to_path_buf()), password: Arc::new(password) }
    }

    /// A repository on another machine, over SFTP.
    pub fn sftp(target: SftpTarget, password: Zeroizing<String>) -> Repo {
        Repo { name: target.name(), place: Place::Sftp(target), password: Arc::new(password) }
    }

    fn backend(&self) -> Result<Arc<dyn WriteBackend>, BackupError> {
        Ok(match &self.place {
            Place::Local(path) => {
                let path = path.to_str().ok_or_else(|| BackupError::Repository {
                    repository: self.name.clone(),
                    what: "open",
                    why: "the path is not UTF-8".into(),
                })?;
                Arc::new(LocalBackend::new(path, Vec::new()).map_err(self.failed("open"))?)
            }
            Place::Sftp(target) => Arc::new(SftpBackend::connect(target).map_err(self.failed("reach"))?),
        })
    }

    fn failed(&self, what: &'static str) -> impl FnOnce(Box<RusticError>) -> BackupError + '_ {
        move |e| {
            if e.is_incorrect_password() {
                BackupError::Password(self.name.clone())
            } else {
                BackupError::Repository { repository: self.name.clone(), what, why: one_line(&e) }
            }
        }
    }

    fn repository(&self) -> Result<Repository<()>, BackupError> {
        let backends = RepositoryBackends::new(self.backend()?, None);
        Repository::new(&RepositoryOptions::default().no_cache(true), &backends).map_err(self.failed("open"))
    }

    /// A time as rustic takes it, in UTC.
    fn zoned(&self, t: DateTime<Utc>) -> Result<rustic_core::jiff::Zoned, BackupError> {
        rustic_core::jiff::Timestamp::from_second(t.timestamp())
            .map(|t| t.to_zoned(rustic_core::jiff::tz::TimeZone::UTC))
            .map_err(|e| BackupError::Repository { repository: self.name.clone(), what: "date a snapshot in", why: e.to_string() })
    }

    fn credentials(&self) -> Credentials {
        Credentials::password(self.password.as_str())
    }

    /// Whether a repository is there (its config file).
    pub fn exists(&self) -> Result<bool, BackupError> {
        match &self.place {
            Place::Local(path) => Ok(path.join("config").is_file()),
            Place::Sftp(_) => Ok(!self.backend()?.list(FileType::Config).map_err(self.failed("reach"))?.is_empty()),
        }
    }

    /// Makes the repository if there is none; whether it made one. A directory that holds
    /// anything but a repository is refused.
    pub fn init_if_new(&self) -> Result<bool, BackupError> {
        if self.exists()? {
            return Ok(false);
        }
        if let Place::Local(path) = &self.place
            && std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(BackupError::Repository {
                repository: self.name.clone(),
                what: "make",
                why: "the directory is not empty and holds no repository".into(),
            });
        }
        self.repository()?.init(&self.credentials(), &KeyOptions::default(), &ConfigOptions::default()).map_err(self.failed("make"))?;
        Ok(true)
    }

    pub(crate) fn open(&self) -> Result<Repository<OpenStatus>, BackupError> {
        if !self.exists()? {
            return Err(BackupError::Repository { repository: self.name.clone(), what: "open", why: "no repository is there".into() });
        }
        self.repository()?.open(&self.credentials()).map_err(self.failed("open"))
    }

    /// Backs up the directory `dir` as the snapshot path `as_path`, with `tags`, taken at `time`.
    pub fn backup(&self, dir: &Path, as_path: &str, tags: &[String], time: DateTime<Utc>) -> Result<Snapshot, BackupError> {
        let repo = self.open()?.to_indexed_ids().map_err(self.failed("read the index of"))?;
        let mut snap = rustic_core::SnapshotOptions::default().host("renkei".to_owned()).time(self.zoned(time)?);
        for t in tags {
            snap = snap.add_tags(t).map_err(self.failed("tag a snapshot of"))?;
        }
        let snap = snap.to_snapshot().map_err(self.failed("back up to"))?;
        let source = PathList::from_iter([dir]).sanitize().map_err(|e| BackupError::Repository {
            repository: self.name.clone(),
            what: "back up to",
            why: e.to_string(),
        })?;
        let opts = BackupOptions::default().as_path(PathBuf::from(as_path));
        let written = repo.backup(&opts, &source, snap).map_err(self.failed("back up to"))?;
        Ok(Snapshot::from_file(&written))
    }

    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>, BackupError> {
        let mut all: Vec<Snapshot> =
            self.open()?.get_all_snapshots().map_err(self.failed("list the snapshots of"))?.iter().map(Snapshot::from_file).collect();
        all.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Reads every pack snapshot `id` needs and checks it against its hash (restic's `check
    /// --read-data`, for one snapshot), so that a restore never meets a damaged pack half-way.
    pub fn verify(&self, id: &str) -> Result<(), BackupError> {
        let repo = self.open()?;
        let snap = repo.get_snapshot_from_str(id, |_| true).map_err(self.failed("find the snapshot in"))?;
        let results = repo.check_with_trees(CheckOptions::default().read_data(true), vec![snap.tree]).map_err(self.failed("check"))?;
        if results.is_ok().is_ok() {
            return Ok(());
        }
        let first = results.0.first().map(|(_, e)| e.to_string()).unwrap_or_default();
        let first: String = first.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect();
        Err(BackupError::Repository {
            repository: self.name.clone(),
            what: "read snapshot data from",
            why: format!("{} damaged or missing parts (the first: {first})", results.0.len()),
        })
    }

    /// Restores snapshot `id` (an id or its unique prefix, or `latest`) into `dest`, which must
    /// not hold files of its own. Every blob read is checked against its hash.
    pub fn restore(&self, id: &str, dest: &Path) -> Result<(), BackupError> {
        let repo = self.open()?.to_indexed().map_err(self.failed("read the index of"))?;
        let node = repo.node_from_snapshot_path(id, |_| true).map_err(self.failed("find the snapshot in"))?;
        let ls = repo.ls(&node, &LsOptions::default()).map_err(self.failed("list the snapshot in"))?;
        let dest_text = dest.to_str().ok_or_else(|| BackupError::Repository {
            repository: self.name.clone(),
            what: "restore from",
            why: "the destination is not UTF-8".into(),
        })?;
        let dest = LocalDestination::new(dest_text, true, !node.is_dir()).map_err(self.failed("restore from"))?;
        let opts = RestoreOptions::default();
        let plan = repo.prepare_restore(&opts, ls.clone(), &dest, false).map_err(self.failed("restore from"))?;
        repo.restore(plan, &opts, ls, &dest).map_err(self.failed("restore from"))
    }

    /// The bytes of the file at `path` in snapshot `id`.
    pub fn read_file(&self, id: &str, path: &str) -> Result<Vec<u8>, BackupError> {
        let repo = self.open()?.to_indexed().map_err(self.failed("read the index of"))?;
        let node = repo.node_from_snapshot_path(&format!("{id}:{path}"), |_| true).map_err(self.failed("find a file in"))?;
        let mut out = Vec::new();
        repo.dump(&node, &mut out).map_err(self.failed("read a file from"))?;
        Ok(out)
    }

    /// Backs up `dir` in place of snapshot `old`: a new snapshot with its time and tags, then
    /// the old one forgotten (its data stays until a prune).
    pub fn replace(&self, old: &Snapshot, dir: &Path, as_path: &str) -> Result<Snapshot, BackupError> {
        let new = self.backup(dir, as_path, &old.tags, old.time)?;
        let id = old.id.parse().map_err(self.failed("forget in"))?;
        self.open()?.delete_snapshots(&[id]).map_err(self.failed("forget in"))?;
        Ok(new)
    }

    /// Rewrites every pack, keeping what snapshots use: nothing of a forgotten snapshot is left
    /// in the repository's files.
    pub fn prune_everything(&self) -> Result<(), BackupError> {
        let repo = self.open()?;
        self.prune(&repo, true)
    }

    /// Copies into `dest` (made if new) every snapshot of this repository it holds no copy of;
    /// how many. Blobs `dest` has already are not sent again.
    pub fn copy_to(&self, dest: &Repo) -> Result<usize, BackupError> {
        let src = self.open()?.to_indexed().map_err(self.failed("read the index of"))?;
        dest.init_if_new()?;
        let dst = dest.open()?.to_indexed_ids().map_err(dest.failed("read the index of"))?;
        let snaps = src.get_all_snapshots().map_err(self.failed("list the snapshots of"))?;
        let relevant = dst.relevant_copy_snapshots(|_| true, &snaps).map_err(dest.failed("compare snapshots with"))?;
        let todo: Vec<&SnapshotFile> = relevant.iter().filter(|c| c.relevant).map(|c| &c.sn).collect();
        if !todo.is_empty() {
            src.copy(&dst, todo.iter().copied()).map_err(dest.failed("copy snapshots to"))?;
        }
        Ok(todo.len())
    }

    /// Forgets the copies of the snapshots `originals` (ids of the repository they were copied
    /// from) and prunes; `everything` repacks every pack. How many were forgotten.
    pub fn forget_copies_of(&self, originals: &[String], everything: bool) -> Result<usize, BackupError> {
        if !self.exists()? {
            return Ok(0);
        }
        let repo = self.open()?;
        let ids: Vec<_> = repo
            .get_all_snapshots()
            .map_err(self.failed("list the snapshots of"))?
            .into_iter()
            .filter(|s| s.original.is_some_and(|o| originals.iter().any(|x| x.as_str() == o.to_hex().as_str())))
            .map(|s| s.id)
            .collect();
        if !ids.is_empty() {
            repo.delete_snapshots(&ids).map_err(self.failed("forget in"))?;
            self.prune(&repo, everything)?;
        }
        Ok(ids.len())
    }

    /// Forgets the snapshots `keep` no longer keeps as of `now`, then prunes what no snapshot
    /// uses; the ids forgotten.
    pub fn forget(&self, keep: &KeepPolicy, now: DateTime<Utc>) -> Result<Vec<String>, BackupError> {
        let repo = self.open()?;
        let snaps = repo.get_all_snapshots().map_err(self.failed("list the snapshots of"))?;
        let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let opts =
            KeepOptions::default().keep_daily(as_i32(keep.daily)).keep_weekly(as_i32(keep.weekly)).keep_monthly(as_i32(keep.monthly));
        let now = self.zoned(now)?;
        let groups =
            ForgetGroups::from_grouped_snapshots_with_retention(Grouped::from_items(snaps, SnapshotGroupCriterion::default()), &opts, &now)
                .map_err(self.failed("forget in"))?;
        let ids = groups.into_forget_ids();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        repo.delete_snapshots(&ids).map_err(self.failed("forget in"))?;
        self.prune(&repo, false)?;
        Ok(ids.iter().map(|id| id.to_hex().as_str().to_owned()).collect())
    }

    /// Removes what no snapshot uses. `everything` repacks every pack, so that not a byte of a
    /// forgotten snapshot's data is left in the repository's files.
    pub(crate) fn prune(&self, repo: &Repository<OpenStatus>, everything: bool) -> Result<(), BackupError> {
        let opts = PruneOptions::default().instant_delete(true).repack_all(everything);
        let plan = repo.prune_plan(&opts).map_err(self.failed("prune"))?;
        repo.prune(&opts, plan).map_err(self.failed("prune"))
    }
}
