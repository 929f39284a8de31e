//! A platform on PostgreSQL is backed up with pgBackRest, the tool PostgreSQL's operators use,
//! configured by renkei from renkei.toml: renkei writes pgBackRest's configuration (readable by
//! PostgreSQL's user alone, as it holds the repositories' passwords), sets the cluster's
//! `archive_command` so that every segment of its write-ahead log is archived into the
//! repositories, makes the stanza, and runs `backup` (a full backup a week, incremental ones
//! between). After each backup it creates a restore point that the tenants' content hashes
//! are taken at (`store::restore_point`); a drill recovers the cluster to that point into a
//! scratch cluster of its own, started on a private socket, and compares.
//!
//! pgBackRest and `pg_ctl` must read and write the cluster's files, so they run as the user
//! PostgreSQL runs as: renkei runs them with `runuser` when it runs as root and `os_user` is
//! set, as themselves otherwise.

use super::BackupError;
use renkei_crypto::datakey::MasterKey;
use renkei_domain::backup::{ClusterPoint, TenantEntry};
use renkei_store::Location;
use renkei_store::cluster::ClusterFacts;
use renkei_store::platform::PlatformStore;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

/// One pgBackRest repository: a directory (on a mount of the site's storage) and its password.
#[derive(Clone)]
pub struct PgRepo {
    pub path: PathBuf,
    pub password: Zeroizing<String>,
}

/// pgBackRest's settings.
#[derive(Clone)]
pub struct PgBackRest {
    /// The configuration file renkei writes; the cluster's `archive_command` names it.
    pub config: PathBuf,
    pub stanza: String,
    /// The user PostgreSQL runs as.
    pub os_user: Option<String>,
    /// The first site's repository (`repo1`) and the second site's (`repo2`), if any.
    pub repos: Vec<PgRepo>,
    /// How many days back the cluster can be recovered to: older full backups and their log are
    /// expired by pgBackRest.
    pub retention_days: u32,
    /// The repository drills and restores read (1, or 2 for the second site).
    pub restore_from: usize,
}

/// What a run took of the cluster.
pub(crate) struct Taken {
    pub tenants: Vec<TenantEntry>,
    pub point: ClusterPoint,
    /// Why the backup into the second site's repository failed: reported as the copy's failure
    /// once the run's snapshots are written.
    pub copy_failed: Option<String>,
}

/// Backs the cluster up into each site's repository, then makes the restore point (after
/// both, so either can be recovered to it), hashes every tenant as of it, and waits until the
/// log holding the point is archived.
pub(crate) async fn back_up(platform: &PlatformStore, master: &MasterKey, pg: &PgBackRest, run: &str) -> Result<Taken, BackupError> {
    pg.prepare(platform).await?;
    let me = pg.clone();
    let backup = super::blocking(move || me.backup(1)).await?;
    let me = pg.clone();
    let copy = super::blocking(move || Ok(if me.repos.len() > 1 { Some(me.backup(2)) } else { None })).await?;
    let (copy_backup, copy_failed) = match copy {
        None => (None, None),
        Some(Ok(label)) => (Some(label), None),
        Some(Err(e)) => (None, Some(e.to_string())),
    };
    let pin = platform.pin_restore_point(&format!("renkei-{run}")).await?;
    let tenants = super::platform::hash_store(&pin.store, master).await?;
    let point = ClusterPoint { stanza: pg.stanza.clone(), backup, copy_backup, restore_point: pin.name.clone(), lsn: pin.lsn.clone() };
    drop(pin);
    let me = pg.clone();
    super::blocking(move || me.archive_now()).await?;
    Ok(Taken { tenants, point, copy_failed })
}

/// A full backup at least this often; incremental ones between.
const FULL_EVERY_SECS: i64 = 7 * 24 * 3600;

fn setup(why: impl Into<String>) -> BackupError {
    BackupError::Setup(why.into())
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl PgBackRest {
    fn repository(&self) -> String {
        format!("pgBackRest stanza {}", self.stanza)
    }

    /// `program` as PostgreSQL's user.
    fn command(&self, program: &Path) -> Command {
        match &self.os_user {
            Some(user) if running_as_root() => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            _ => Command::new(program),
        }
    }

    /// Runs pgBackRest's `args`; its output. A failure is pgBackRest's own error line (it names
    /// files, settings and the stanza, never data).
    fn exec(&self, what: &'static str, args: &[String]) -> Result<String, BackupError> {
        let mut cmd = self.command(Path::new("pgbackrest"));
        cmd.arg(format!("--config={}", self.config.display())).arg(format!("--stanza={}", self.stanza)).args(args);
        let out = cmd.output().map_err(|e| BackupError::Repository {
            repository: self.repository(),
            what,
            why: format!("cannot run pgbackrest: {e}"),
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        let why = text
            .lines()
            .find_map(|l| l.find("ERROR:").map(|at| &l[at..]))
            .or_else(|| text.lines().rfind(|l| !l.trim().is_empty()))
            .unwrap_or("pgbackrest failed")
            .trim()
            .to_owned();
        Err(BackupError::Repository { repository: self.repository(), what, why })
    }

    /// The `archive_command` the cluster must have.
    pub fn archive_command(&self) -> String {
        format!("pgbackrest --config={} --stanza={} archive-push %p", self.config.display(), self.stanza)
    }

    /// pgBackRest's configuration for the cluster `facts` describe.
    fn config_text(&self, facts: &ClusterFacts) -> Zeroizing<String> {
        let mut text = String::from("# Written by renkei from renkei.toml on every backup: edit renkei.toml instead.\n[global]\n");
        for (i, repo) in self.repos.iter().enumerate() {
            let n = i + 1;
            text.push_str(&format!(
                "repo{n}-path={}\nrepo{n}-cipher-type=aes-256-cbc\nrepo{n}-cipher-pass={}\nrepo{n}-retention-full-type=time\nrepo{n}-retention-full={}\n",
                repo.path.display(),
                repo.password.as_str(),
                self.retention_days.max(1)
            ));
        }
        text.push_str("start-fast=y\nlog-level-console=warn\nlog-level-stderr=off\nlog-level-file=off\n");
        text.push_str(&format!(
            "\n[{}]\npg1-path={}\npg1-port={}\npg1-socket-path={}\n",
            self.stanza,
            facts.data_directory.display(),
            facts.port,
            facts.socket_directory.display()
        ));
        Zeroizing::new(text)
    }

    /// Writes the configuration, readable by PostgreSQL's user alone (the owner of its data
    /// directory, when renkei runs as root).
    fn write_config(&self, facts: &ClusterFacts) -> Result<(), BackupError> {
        use std::io::Write;
        let path = &self.config;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(super::io(dir))?;
        }
        let tmp = path.with_extension("writing");
        let mut file =
            std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp).map_err(super::io(&tmp))?;
        file.write_all(self.config_text(facts).as_bytes()).map_err(super::io(&tmp))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(super::io(&tmp))?;
        if running_as_root() && self.os_user.is_some() {
            own_like(&tmp, &facts.data_directory)?;
        }
        std::fs::rename(&tmp, path).map_err(super::io(path))
    }

    /// Makes ready what a backup needs: the configuration, the cluster archiving into the
    /// repositories, the stanza in each.
    pub(crate) async fn prepare(&self, platform: &PlatformStore) -> Result<ClusterFacts, BackupError> {
        let facts = platform.cluster_facts().await?;
        if platform.key_store_shares_the_cluster().await? {
            return Err(setup(
                "the key store is in the cluster pgBackRest backs up, so every data backup would hold the keys: set key_store to a database in another cluster, or a directory",
            ));
        }
        if !["on", "always"].contains(&facts.archive_mode.as_str()) {
            return Err(setup(format!(
                "PostgreSQL does not archive its write-ahead log (archive_mode = {}): set archive_mode = on and restart it; renkei sets archive_command itself",
                facts.archive_mode
            )));
        }
        let me = self.clone();
        let f = facts.clone();
        super::blocking(move || me.write_config(&f)).await?;
        if facts.archive_command != self.archive_command() {
            platform.set_archive_command(&self.archive_command()).await?;
        }
        let me = self.clone();
        // Idempotent: a stanza made before, of this cluster, is left as it is.
        super::blocking(move || me.exec("make the stanza in", &["stanza-create".into()]).map(drop)).await?;
        Ok(facts)
    }

    /// Backs the cluster up into repository `repo` (1 or 2): a full backup if the newest is
    /// older than a week, else an incremental one. The backup's label.
    pub(crate) fn backup(&self, repo: usize) -> Result<String, BackupError> {
        let newest_full = self.backups(repo)?.into_iter().filter(|b| b.full).map(|b| b.stopped).max();
        let full = newest_full.is_none_or(|t| renkei_store::now_unix() - t >= FULL_EVERY_SECS);
        let kind = if full { "full" } else { "incr" };
        self.exec("back up into", &[format!("--repo={repo}"), format!("--type={kind}"), "backup".into()])?;
        self.backups(repo)?.into_iter().max_by_key(|b| b.stopped).map(|b| b.label).ok_or_else(|| BackupError::Repository {
            repository: self.repository(),
            what: "list",
            why: "the backup just taken is not listed".into(),
        })
    }

    /// Waits until the log up to now (and so the restore point just made) is archived.
    pub(crate) fn archive_now(&self) -> Result<(), BackupError> {
        self.exec("archive the log into", &["check".into()]).map(drop)
    }

    /// The backups in repository `repo`, as `pgbackrest info` lists them.
    fn backups(&self, repo: usize) -> Result<Vec<Listed>, BackupError> {
        let json = self.exec("list", &[format!("--repo={repo}"), "--output=json".into(), "info".into()])?;
        let bad = |why: &str| BackupError::Repository { repository: self.repository(), what: "list", why: why.into() };
        let info: serde_json::Value = serde_json::from_str(&json).map_err(|_| bad("pgbackrest info is not JSON"))?;
        let stanzas = info.as_array().ok_or_else(|| bad("pgbackrest info lists no stanza"))?;
        Ok(stanzas
            .iter()
            .flat_map(|s| s["backup"].as_array().cloned().unwrap_or_default())
            .filter_map(|b| {
                Some(Listed {
                    label: b["label"].as_str()?.to_owned(),
                    full: b["type"].as_str() == Some("full"),
                    stopped: b["timestamp"]["stop"].as_i64()?,
                })
            })
            .collect())
    }

    /// Recovers the cluster `live` describes, as of `point`, from repository `repo` into `dir`
    /// (new), and starts it there on a socket of its own (no network); the server is stopped
    /// when the result is dropped.
    pub(crate) fn recover(
        &self,
        point: &ClusterPoint,
        repo: usize,
        live: &ClusterFacts,
        dir: &Path,
    ) -> Result<ScratchCluster, BackupError> {
        std::fs::create_dir_all(dir).map_err(super::io(dir))?;
        let data = dir.join("data");
        let as_server = running_as_root() && self.os_user.is_some();
        if as_server {
            // The server's user (the owner of the live cluster's files) must reach the
            // directory; no one else may.
            own_like(dir, &live.data_directory)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(super::io(dir))?;
            if let Some(parent) = dir.parent() {
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711)).map_err(super::io(parent))?;
            }
        }
        let set = match repo {
            1 => &point.backup,
            _ => point.copy_backup.as_ref().ok_or_else(|| BackupError::Snapshot {
                snapshot: point.backup.clone(),
                why: "its cluster backup did not reach the second site's pgBackRest repository".into(),
            })?,
        };
        self.exec(
            "restore from",
            &[
                format!("--repo={repo}"),
                format!("--set={set}"),
                format!("--pg1-path={}", data.display()),
                "--type=name".into(),
                format!("--target={}", point.restore_point),
                "--target-action=promote".into(),
                "--archive-mode=off".into(),
                "restore".into(),
            ],
        )?;
        // Its own access rules and settings, whatever the cluster's were: trust on a socket in a
        // directory only the server's user can enter, and nothing archived or listened on.
        let hba = dir.join("pg_hba.conf");
        std::fs::write(&hba, "local all all trust\n").map_err(super::io(&hba))?;
        let conf = data.join("postgresql.conf");
        if !conf.exists() {
            std::fs::write(&conf, "").map_err(super::io(&conf))?;
        }
        if as_server {
            own_like(&hba, &data)?;
            own_like(&conf, &data)?;
        }
        let options =
            format!("-p {PORT} -k {} -c listen_addresses='' -c hba_file={} -c ssl=off -c archive_mode=off", dir.display(), hba.display());
        let cluster = ScratchCluster {
            runner: self.clone(),
            pg_ctl: bin_dir(live.major_version).join("pg_ctl"),
            data: data.clone(),
            socket: dir.to_path_buf(),
            stopped: false,
        };
        let started = self
            .command(&cluster.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "600", "-o", &options, "start"])
            .output()
            .map_err(super::io(&cluster.pg_ctl))?;
        if !started.status.success() {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            let why = log.lines().rfind(|l| l.contains("FATAL") || l.contains("ERROR")).unwrap_or("pg_ctl start failed").to_owned();
            return Err(BackupError::Snapshot {
                snapshot: point.backup.clone(),
                why: format!("the recovered cluster did not start: {why}"),
            });
        }
        Ok(cluster)
    }
}

/// Recovers the cluster of the running `platform` as of `point` (from `pg.restore_from`) into
/// `dir`, starts it, and opens the platform there with the key store restored into `keys`: a
/// drill's platform, its server stopped when the cluster is dropped (after the store).
pub(crate) async fn open_recovered(
    platform: &PlatformStore,
    pg: &PgBackRest,
    point: &ClusterPoint,
    dir: &Path,
    keys: &Path,
) -> Result<(PlatformStore, ScratchCluster), BackupError> {
    let Location::Postgres { url, schema, .. } = platform.location() else {
        return Err(setup("this generation is of a platform on PostgreSQL; this platform is on SQLite"));
    };
    let live = platform.cluster_facts().await?;
    let (me, p, d) = (pg.clone(), point.clone(), dir.to_path_buf());
    // The configuration as the settings are now: a run that failed may have left another.
    let cluster = super::blocking(move || {
        me.write_config(&live)?;
        me.recover(&p, me.restore_from, &live, &d)
    })
    .await?;
    let recovered = renkei_store::cluster::socket_url(url, &cluster.socket, PORT)?;
    renkei_store::cluster::wait_until_recovered(&recovered, std::time::Duration::from_secs(600)).await?;
    let location = Location::Postgres { url: recovered, schema: schema.clone(), keys: Some(Box::new(Location::Dir(keys.to_path_buf()))) };
    Ok((PlatformStore::open(&location).await?, cluster))
}

/// The port the recovered cluster's socket is named by (in a directory of its own, so any).
pub(crate) const PORT: u16 = 5432;

struct Listed {
    label: String,
    full: bool,
    stopped: i64,
}

/// Gives `path` the owner and group of `like`.
fn own_like(path: &Path, like: &Path) -> Result<(), BackupError> {
    let m = std::fs::metadata(like).map_err(super::io(like))?;
    std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid())).map_err(super::io(path))
}

/// A recovered cluster running in a directory of its own; stopped when dropped.
pub(crate) struct ScratchCluster {
    runner: PgBackRest,
    pg_ctl: PathBuf,
    data: PathBuf,
    /// The directory of its socket.
    pub socket: PathBuf,
    stopped: bool,
}

impl ScratchCluster {
    /// Its data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data
    }

    fn stop(&mut self, mode: &str) -> Result<(), BackupError> {
        let out = self.runner.command(&self.pg_ctl).arg("-D").arg(&self.data).args(["-m", mode, "-w", "stop"]).output();
        self.stopped = true;
        match out {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err(BackupError::Stopped(format!("the recovered cluster in {} could not be stopped", self.data.display()))),
        }
    }

    /// Shuts the server down cleanly (a checkpoint first), so that its data directory starts
    /// as it is: what a restore leaves.
    pub(crate) fn stop_cleanly(mut self) -> Result<(), BackupError> {
        self.stop("fast")
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        if !self.stopped && self.stop("immediate").is_err() {
            tracing::warn!(data = %self.data.display(), "the recovered cluster could not be stopped");
        }
    }
}

/// Where PostgreSQL's programs of `major` are: Debian's directory for the version, else `PATH`.
fn bin_dir(major: u32) -> PathBuf {
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if debian.join("pg_ctl").exists() { debian } else { PathBuf::new() }
}
