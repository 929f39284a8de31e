//! `renkei backup run|list|forget|drill|restore`: the platform's backups (`ops::backup`) from the
//! command line, with the settings `serve` takes to run them on a schedule; and `renkei hub
//! backup`, the hub's, with the settings `hub` takes.

use crate::run;
use crate::run::PlatformAccess;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use renkei_domain::backup::KeepPolicy;
use renkei_domain::location::{Place, check, parse_allowed};
use renkei_ops::backup::{self, BackupConfig, BackupSubject, HubSubject, PgBackRest, PgRepo, PlatformSubject, Repo, SftpTarget, Site};
use renkei_store::hub::HubStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where backups go, with what password, and how many generations stay.
#[derive(Args, Clone, Default)]
pub struct BackupSettings {
    /// The data repository (restic format), a directory; made on the first backup.
    #[arg(long, env = "RENKEI_BACKUP_REPOSITORY")]
    pub backup_repository: Option<PathBuf>,
    /// The file holding the data repository's password.
    #[arg(long, env = "RENKEI_BACKUP_PASSWORD_FILE")]
    pub backup_password_file: Option<PathBuf>,
    /// The key store's repository (restic format), apart from the data's.
    #[arg(long, env = "RENKEI_KEY_BACKUP_REPOSITORY")]
    pub key_backup_repository: Option<PathBuf>,
    /// The file holding the key repository's password, another than the data's.
    #[arg(long, env = "RENKEI_KEY_BACKUP_PASSWORD_FILE")]
    pub key_backup_password_file: Option<PathBuf>,
    /// Where the repositories are (データ保管場所): COUNTRY or COUNTRY/REGION, as --data-location.
    #[arg(long, env = "RENKEI_BACKUP_LOCATION", default_value = renkei_domain::location::DEFAULT_PLACE)]
    pub backup_location: String,
    /// The second site's data repository (遠隔地保管), which every snapshot is copied to: a
    /// directory, or sftp://USER@HOST[:PORT]/PATH on another machine.
    #[arg(long, env = "RENKEI_BACKUP_COPY_REPOSITORY")]
    pub copy_repository: Option<PathBuf>,
    /// The file holding the second site's data repository password.
    #[arg(long, env = "RENKEI_BACKUP_COPY_PASSWORD_FILE")]
    pub copy_password_file: Option<PathBuf>,
    /// The second site's key repository.
    #[arg(long, env = "RENKEI_KEY_BACKUP_COPY_REPOSITORY")]
    pub key_copy_repository: Option<PathBuf>,
    /// The file holding the second site's key repository password.
    #[arg(long, env = "RENKEI_KEY_BACKUP_COPY_PASSWORD_FILE")]
    pub key_copy_password_file: Option<PathBuf>,
    /// For a second site over SFTP: the private key ssh signs in with.
    #[arg(long, env = "RENKEI_BACKUP_COPY_SSH_KEY")]
    pub copy_ssh_key: Option<PathBuf>,
    /// For a second site over SFTP: the known-hosts file holding the server's host key (checked
    /// strictly; an unknown or changed key is refused).
    #[arg(long, env = "RENKEI_BACKUP_COPY_KNOWN_HOSTS")]
    pub copy_known_hosts: Option<PathBuf>,
    /// Where the second site is (データ保管場所), COUNTRY or COUNTRY/REGION.
    #[arg(long, env = "RENKEI_BACKUP_COPY_LOCATION", default_value = renkei_domain::location::DEFAULT_PLACE)]
    pub copy_location: String,
    /// Daily generations kept (世代管理).
    #[arg(long, env = "RENKEI_BACKUP_KEEP_DAILY", default_value_t = KeepPolicy::default().daily)]
    pub keep_daily: u32,
    /// Weekly generations kept.
    #[arg(long, env = "RENKEI_BACKUP_KEEP_WEEKLY", default_value_t = KeepPolicy::default().weekly)]
    pub keep_weekly: u32,
    /// Monthly generations kept.
    #[arg(long, env = "RENKEI_BACKUP_KEEP_MONTHLY", default_value_t = KeepPolicy::default().monthly)]
    pub keep_monthly: u32,
    /// For a platform on PostgreSQL: pgBackRest's repository (a directory at the first site),
    /// which the cluster and its write-ahead log are backed up into; the data repository then
    /// holds each run's manifest.
    #[arg(long, env = "RENKEI_PGBACKREST_REPOSITORY")]
    pub pgbackrest_repository: Option<PathBuf>,
    /// The file holding the pgBackRest repository's password (its encryption key).
    #[arg(long, env = "RENKEI_PGBACKREST_PASSWORD_FILE")]
    pub pgbackrest_password_file: Option<PathBuf>,
    /// The second site's pgBackRest repository, a directory (a mount of the second site's
    /// storage): each run backs the cluster up into it too, and the log is archived into both.
    #[arg(long, env = "RENKEI_PGBACKREST_COPY_REPOSITORY")]
    pub pgbackrest_copy_repository: Option<PathBuf>,
    /// The file holding the second site's pgBackRest password.
    #[arg(long, env = "RENKEI_PGBACKREST_COPY_PASSWORD_FILE")]
    pub pgbackrest_copy_password_file: Option<PathBuf>,
    /// The pgBackRest configuration renkei writes from these settings (PostgreSQL's
    /// archive_command names it).
    #[arg(long, env = "RENKEI_PGBACKREST_CONFIG", default_value = "/etc/pgbackrest/renkei.conf")]
    pub pgbackrest_config: PathBuf,
    /// pgBackRest's stanza for the cluster.
    #[arg(long, env = "RENKEI_PGBACKREST_STANZA", default_value = "renkei")]
    pub pgbackrest_stanza: String,
    /// The user PostgreSQL runs as: pgBackRest and pg_ctl run as it (renkei switches to it with
    /// runuser when it runs as root).
    #[arg(long, env = "RENKEI_PG_OS_USER")]
    pub pg_os_user: Option<String>,
}

fn password(file: Option<&Path>, flag: &str) -> Result<Zeroizing<String>> {
    let Some(file) = file else { bail!("{flag} is required: the file holding the repository's password") };
    let text = Zeroizing::new(std::fs::read_to_string(file).with_context(|| format!("cannot read {flag} {}", file.display()))?);
    let trimmed = Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        bail!("{flag} {} is empty", file.display());
    }
    Ok(trimmed)
}

/// A site's declared place (データ保管場所), refused outside the allowed countries.
fn site_place(declared: &str, flag: &str, what: &str, allowed_countries: &str) -> Result<Place> {
    let place = Place::parse(declared).with_context(|| flag.to_owned())?;
    check(what, &place, &parse_allowed(allowed_countries).context("--allowed-countries")?)?;
    Ok(place)
}

impl BackupSettings {
    /// Whether backups are set up at all.
    pub fn configured(&self) -> bool {
        self.backup_repository.is_some()
    }

    /// The backups as set up, for the compliance sheet: the sites' declared places (checked
    /// against the allowed countries by [`Self::locations`]), how the second is reached, the
    /// generations kept; none if backups are not set up.
    pub fn setup(&self) -> Option<renkei_domain::compliance::BackupSetup> {
        self.backup_repository.as_ref()?;
        let second = self.copy_repository.as_ref().map(|p| p.to_string_lossy().starts_with("sftp:"));
        Some(renkei_domain::compliance::BackupSetup {
            first_place: self.backup_location.clone(),
            second_place: second.map(|_| self.copy_location.clone()),
            second_medium: second.map(|sftp| if sftp { "SFTP（別のマシン）" } else { "ディレクトリ" }.to_owned()),
            keep: KeepPolicy { daily: self.keep_daily, weekly: self.keep_weekly, monthly: self.keep_monthly },
            pgbackrest: self.pgbackrest_repository.is_some(),
        })
    }

    /// The repositories and policy, once every setting is there and their place is allowed.
    pub fn config(&self, allowed_countries: &str) -> Result<BackupConfig> {
        self.first_site_place(allowed_countries)?;
        let Some(data) = &self.backup_repository else { bail!("--backup-repository is required: the directory of the data repository") };
        let Some(keys) = &self.key_backup_repository else {
            bail!("--key-backup-repository is required: the key store is backed up into a repository of its own")
        };
        if data == keys {
            bail!("--key-backup-repository must be another repository than --backup-repository: keys and data are kept apart");
        }
        let data_password = password(self.backup_password_file.as_deref(), "--backup-password-file")?;
        let key_password = password(self.key_backup_password_file.as_deref(), "--key-backup-password-file")?;
        if data_password == key_password {
            bail!("the key repository's password must be another than the data repository's");
        }
        let copy = match (&self.copy_repository, &self.key_copy_repository) {
            (None, None) => None,
            (Some(copy_data), Some(copy_keys)) => {
                self.second_site_place(allowed_countries)?;
                let passwords = [
                    password(self.copy_password_file.as_deref(), "--copy-password-file")?,
                    password(self.key_copy_password_file.as_deref(), "--key-copy-password-file")?,
                ];
                let all = [&data_password, &key_password, &passwords[0], &passwords[1]];
                if (0..4).any(|i| (i + 1..4).any(|j| all[i] == all[j])) {
                    bail!(
                        "each repository needs a password of its own: the second site's must differ from each other and from the first site's"
                    );
                }
                if [copy_data, copy_keys].iter().any(|p| *p == data || *p == keys) || copy_data == copy_keys {
                    bail!("the second site's repositories must be other repositories than the first site's, and apart from each other");
                }
                let [copy_data_password, copy_key_password] = passwords;
                Some(Site { data: self.copy_repo(copy_data, copy_data_password)?, keys: self.copy_repo(copy_keys, copy_key_password)? })
            }
            _ => bail!("--copy-repository and --key-copy-repository go together: the second site keeps both"),
        };
        let keep = KeepPolicy { daily: self.keep_daily, weekly: self.keep_weekly, monthly: self.keep_monthly };
        let postgres = self.pgbackrest(keep, copy.is_some(), [&data_password, &key_password])?;
        Ok(BackupConfig { data: Repo::new(data, data_password), keys: Repo::new(keys, key_password), copy, keep, postgres })
    }

    /// pgBackRest's settings, if its repository is set; its second site goes with restic's.
    fn pgbackrest(&self, keep: KeepPolicy, second_site: bool, others: [&Zeroizing<String>; 2]) -> Result<Option<PgBackRest>> {
        let Some(first) = &self.pgbackrest_repository else {
            if self.pgbackrest_copy_repository.is_some() {
                bail!("--pgbackrest-copy-repository needs --pgbackrest-repository");
            }
            return Ok(None);
        };
        let mut repos = vec![PgRepo {
            path: first.clone(),
            password: password(self.pgbackrest_password_file.as_deref(), "--pgbackrest-password-file")?,
        }];
        match (&self.pgbackrest_copy_repository, second_site) {
            (Some(copy), true) => repos.push(PgRepo {
                path: copy.clone(),
                password: password(self.pgbackrest_copy_password_file.as_deref(), "--pgbackrest-copy-password-file")?,
            }),
            (None, false) => {}
            _ => bail!(
                "--pgbackrest-copy-repository and --copy-repository go together: the second site keeps the cluster and its runs' manifests"
            ),
        }
        if repos.iter().any(|r| others.contains(&&r.password)) || (repos.len() == 2 && repos[0].password == repos[1].password) {
            bail!("each repository needs a password of its own: pgBackRest's must differ from the others'");
        }
        if repos.len() == 2 && repos[0].path == repos[1].path {
            bail!("the second site's pgBackRest repository must be another than the first site's");
        }
        // Both go into the cluster's archive_command, which a shell runs.
        let stanza = &self.pgbackrest_stanza;
        if stanza.is_empty() || !stanza.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            bail!("--pgbackrest-stanza is letters, digits, - and _");
        }
        let config = self.pgbackrest_config.to_string_lossy();
        if !config.starts_with('/') || config.chars().any(|c| c.is_whitespace() || "'\"%$`\\;&|<>".contains(c)) {
            bail!("--pgbackrest-config must be an absolute path without spaces, quotes or shell characters");
        }
        Ok(Some(PgBackRest {
            config: self.pgbackrest_config.clone(),
            stanza: self.pgbackrest_stanza.clone(),
            os_user: self.pg_os_user.clone(),
            repos,
            retention_days: keep.recoverable_days(),
            restore_from: 1,
        }))
    }

    fn first_site_place(&self, allowed_countries: &str) -> Result<Place> {
        site_place(&self.backup_location, "--backup-location", "the backup repositories", allowed_countries)
    }

    fn second_site_place(&self, allowed_countries: &str) -> Result<Place> {
        site_place(&self.copy_location, "--copy-location", "the second site's repositories", allowed_countries)
    }

    /// The repositories' lines of a `locations` listing (`LABEL<TAB>where<TAB>declared place`),
    /// refused as `config` refuses a place not allowed; none if backups are not set up.
    pub fn locations(&self, allowed_countries: &str) -> Result<Vec<String>> {
        let Some(data) = &self.backup_repository else { return Ok(Vec::new()) };
        let place = self.first_site_place(allowed_countries)?;
        let shown = |p: &Option<PathBuf>| p.as_ref().map_or("(not set)".to_owned(), |p| p.display().to_string());
        let mut lines = vec![
            format!("backup repository (data)\t{}\t{place}", data.display()),
            format!("backup repository (keys)\t{}\t{place}", shown(&self.key_backup_repository)),
        ];
        if self.pgbackrest_repository.is_some() {
            lines.push(format!("backup repository (pgBackRest)\t{}\t{place}", shown(&self.pgbackrest_repository)));
        }
        if self.copy_repository.is_some() || self.key_copy_repository.is_some() {
            let copy = self.second_site_place(allowed_countries)?;
            lines.push(format!("second site (data)\t{}\t{copy}", shown(&self.copy_repository)));
            lines.push(format!("second site (keys)\t{}\t{copy}", shown(&self.key_copy_repository)));
            if self.pgbackrest_copy_repository.is_some() {
                lines.push(format!("second site (pgBackRest)\t{}\t{copy}", shown(&self.pgbackrest_copy_repository)));
            }
        }
        Ok(lines)
    }

    /// A second site's repository: a directory, or an SFTP URL with its key and known hosts.
    fn copy_repo(&self, place: &Path, password: Zeroizing<String>) -> Result<Repo> {
        let text = place.to_string_lossy();
        if !text.starts_with("sftp:") {
            return Ok(Repo::new(place, password));
        }
        let (Some(key), Some(known)) = (&self.copy_ssh_key, &self.copy_known_hosts) else {
            bail!("a second site over SFTP needs --copy-ssh-key and --copy-known-hosts");
        };
        let target = SftpTarget::parse(&text, key, known).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
        Ok(Repo::sftp(target, password))
    }
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    platform: PlatformAccess,
    #[command(flatten)]
    settings: BackupSettings,
    /// Who is acting, for the audit log.
    #[arg(long, env = "RENKEI_ACTOR", default_value = "operator")]
    actor: String,
    #[command(subcommand)]
    cmd: BackupCmd,
}

/// What `renkei backup` and `renkei hub backup` both do with generations.
#[derive(Subcommand)]
enum GenerationCmd {
    /// Back up the store now (the service may go on meanwhile).
    Run {
        /// The time the snapshot carries, RFC 3339 [default: now]; for tests of the policy.
        #[arg(long, hide = true)]
        at: Option<String>,
    },
    /// List the generations: each data snapshot with its run's key snapshot.
    List,
    /// Forget the generations the policy no longer keeps, and prune their data.
    Forget {
        /// Apply the policy as of this time, RFC 3339 [default: now]; for tests.
        #[arg(long, hide = true)]
        as_of: Option<String>,
    },
    /// Restore a generation into a scratch place, open it with its keys and check its content
    /// (every tenant's, or the hub's) against the recorded hash; exit 1 if any differs.
    Drill {
        /// The data snapshot (its id or a prefix) [default: the newest].
        #[arg(long)]
        snapshot: Option<String>,
        /// Restore from the second site's copy (its own snapshot ids).
        #[arg(long)]
        from_copy: bool,
    },
}

#[derive(Subcommand)]
enum BackupCmd {
    #[command(flatten)]
    Generations(GenerationCmd),
    /// Destroy a deleted tenant's key in every key backup (what `admin tenant-delete` does; to
    /// finish one that could not).
    Shred {
        #[arg(long)]
        tenant: String,
    },
    /// Restore a generation as a whole platform into a new data directory, or one tenant of it
    /// (--tenant) as an export to import.
    Restore {
        /// The data snapshot (its id or a prefix) [default: the newest].
        #[arg(long)]
        snapshot: Option<String>,
        /// The new data directory; serve it with this platform's master key. With --tenant, the
        /// new directory the tenant's export is written into.
        #[arg(long)]
        to: PathBuf,
        /// Restore this tenant alone: its data as the generation holds it (checked against the
        /// recorded content hash), written as an export (docs/export-layout.md) signed by this
        /// platform, for `renkei import tenant`.
        #[arg(long)]
        tenant: Option<String>,
        /// Restore from the second site's copy (its own snapshot ids).
        #[arg(long)]
        from_copy: bool,
    },
}

/// `renkei hub backup`: the hub's store and secrets.
#[derive(Args)]
pub struct HubBackupArgs {
    /// The hub's data directory (its SQLite store, and its secrets unless named apart).
    #[arg(long, env = "RENKEI_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: run::DbArgs,
    #[command(flatten)]
    keys: run::HubKeyFiles,
    #[command(flatten)]
    settings: BackupSettings,
    /// Who is acting, for the hub's operator log.
    #[arg(long, env = "RENKEI_ACTOR", default_value = "operator")]
    actor: String,
    #[command(subcommand)]
    cmd: HubBackupCmd,
}

#[derive(Subcommand)]
enum HubBackupCmd {
    #[command(flatten)]
    Generations(GenerationCmd),
    /// Restore a generation as a hub data directory (its store and secrets), checked; serve it
    /// with `renkei hub --data-dir DIR`.
    Restore {
        /// The data snapshot (its id or a prefix) [default: the newest].
        #[arg(long)]
        snapshot: Option<String>,
        /// The new data directory.
        #[arg(long)]
        to: PathBuf,
        /// Restore from the second site's copy (its own snapshot ids).
        #[arg(long)]
        from_copy: bool,
    },
}

/// How often `serve` and `hub` back up and drill, once --backup-repository is set.
#[derive(Args, Clone)]
pub struct BackupSchedule {
    /// Seconds between scheduled backups, once --backup-repository is set; each is followed by
    /// forgetting the generations the policy no longer keeps.
    #[arg(long, env = "RENKEI_BACKUP_EVERY_SECS", default_value_t = 86_400)]
    backup_every_secs: u64,
    /// Seconds between scheduled restore drills of the newest generation (0: none).
    #[arg(long, env = "RENKEI_DRILL_EVERY_SECS", default_value_t = 7 * 86_400)]
    drill_every_secs: u64,
}

impl BackupSchedule {
    pub fn schedule(&self) -> backup::Schedule {
        backup::Schedule {
            backup_every: Duration::from_secs(self.backup_every_secs.max(60)),
            drill_every: (self.drill_every_secs > 0).then(|| Duration::from_secs(self.drill_every_secs.max(60))),
        }
    }
}

/// The hub as its backups see it: its store (on SQLite) and its secrets.
pub async fn hub_subject(data_dir: &Path, db: &run::DbArgs, keys: &run::HubKeyFiles) -> Result<HubSubject> {
    let location = db.location(data_dir, run::HUB_SCHEMA)?;
    if let renkei_store::Location::Postgres { .. } = location {
        bail!(
            "the hub's store is on PostgreSQL: back its cluster up with pgBackRest (docs/operations.md); hub backups are of a hub on SQLite"
        );
    }
    let (secret, signing_key) = run::hub_key_texts(data_dir, keys)?;
    Ok(HubSubject { store: HubStore::open(&location).await?, dir: data_dir.to_path_buf(), secret, signing_key })
}

fn time(flag: &str, value: Option<&str>) -> Result<chrono::DateTime<chrono::Utc>> {
    match value {
        None => Ok(chrono::Utc::now()),
        Some(v) => Ok(chrono::DateTime::parse_from_rfc3339(v).with_context(|| format!("{flag} must be an RFC 3339 time"))?.to_utc()),
    }
}

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub async fn run(a: BackupArgs) -> Result<()> {
    let config = a.settings.config(&a.platform.db.allowed_countries)?;
    let store = a.platform.store().await?;
    let subject = PlatformSubject { store: store.clone(), master: Arc::new(a.platform.master_key()?) };
    let master = &*subject.master;
    match a.cmd {
        BackupCmd::Generations(cmd) => generations(&subject, &config, cmd, &a.actor).await?,
        BackupCmd::Shred { tenant } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            let fingerprint = match store.key_entry(&tenant).await? {
                renkei_store::keys::KeyEntry::Destroyed { fingerprint, .. } => fingerprint,
                _ => bail!("tenant {tenant}'s key is not destroyed: delete the tenant with `renkei admin tenant-delete`"),
            };
            let n = backup::shred_key_backups(&store, &config, &tenant, &fingerprint, &a.actor).await?;
            println!("key of tenant {tenant} destroyed in {n} key backups");
        }
        BackupCmd::Restore { snapshot, to, from_copy, tenant: Some(tenant) } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            let r = backup::restore_tenant(&store, master, &site(&config, from_copy)?, snapshot.as_deref(), &tenant).await?;
            let g = &r.generation;
            let m = renkei_server::export::write_export(&g.store, master, &tenant, &to, renkei_domain::export::Encoding::Utf8).await?;
            let (data_snapshot, taken_at) = (short(&g.data_snapshot), g.manifest.taken_at.clone());
            drop(r);
            let rows: u64 = m.files.iter().map(|f| f.rows).sum();
            let detail = format!("tenant={tenant} snapshot={data_snapshot} files={} rows={rows}", m.files.len());
            store.audit_platform(&a.actor, "backup.restore_tenant", &detail).await?;
            println!(
                "tenant {tenant} of snapshot {data_snapshot} taken {taken_at}, content hash as recorded: {} files, {rows} rows written to {} (import it with `renkei import tenant`)",
                m.files.len(),
                to.display()
            );
        }
        BackupCmd::Restore { snapshot, to, from_copy, tenant: None } => {
            let r = backup::restore(&store, master, &site(&config, from_copy)?, snapshot.as_deref(), &to).await?;
            println!(
                "restored snapshot {} taken {} into {}: {} tenants, content hashes as recorded",
                short(&r.data_snapshot),
                r.taken_at,
                r.dir.display(),
                r.tenants
            );
            if let Some(data) = &r.cluster {
                println!(
                    "the cluster's data directory is {} (shut down cleanly; archiving is off until you turn it on), the key store {} (key_store)",
                    data.display(),
                    r.dir.display()
                );
            }
            if !r.shredded.is_empty() {
                println!("unreadable for good (data key destroyed): {}", r.shredded.join(", "));
            }
        }
    }
    Ok(())
}

/// `renkei backup run|list|forget|drill` and the same of `renkei hub backup`.
async fn generations<S: BackupSubject>(subject: &S, config: &BackupConfig, cmd: GenerationCmd, actor: &str) -> Result<()> {
    match cmd {
        GenerationCmd::Run { at } => {
            let r = backup::run(subject, config, time("--at", at.as_deref())?, actor).await?;
            for made in &r.made {
                println!("made the repository {made}");
            }
            let hashed = if r.manifest.hub.is_some() {
                "the hub's store hashed".to_owned()
            } else {
                format!("{} tenants hashed", r.manifest.tenants.len())
            };
            println!(
                "backup {}: data snapshot {} ({} files, {} bytes, {} added), key snapshot {}; {hashed}",
                r.run,
                short(&r.data.id),
                r.manifest.files.len(),
                r.data.bytes,
                r.data.added_bytes,
                short(&r.keys.id),
            );
            if config.copy.is_some() {
                println!("{} snapshots copied to the second site", r.copied);
            }
        }
        GenerationCmd::List => {
            let generations = backup::list(config).await?;
            println!("data snapshot\tkey snapshot\ttaken at\tbytes\tsecond site");
            for g in generations {
                let keys = g.keys.as_ref().map_or("(none: cannot be opened)".to_owned(), |k| short(&k.id));
                let copied = match g.copied {
                    None => "(none set up)",
                    Some(true) => "copied",
                    Some(false) => "MISSING",
                };
                println!("{}\t{keys}\t{}\t{}\t{copied}", short(&g.data.id), local(g.data.time), g.data.bytes);
            }
        }
        GenerationCmd::Forget { as_of } => {
            let f = backup::forget(subject, config, time("--as-of", as_of.as_deref())?, actor).await?;
            println!("forgot {} data and {} key snapshots", f.data.len(), f.keys.len());
        }
        GenerationCmd::Drill { snapshot, from_copy } => {
            let r = backup::drill(subject, &site(config, from_copy)?, snapshot.as_deref(), actor).await?;
            for t in &r.tenants {
                println!("{}\t{}\t{}", t.tenant, if t.finding.passes() { "pass" } else { "FAIL" }, t.finding.describe());
            }
            if let Some(h) = &r.hub {
                println!("hub\t{}\t{}", if h.passes() { "pass" } else { "FAIL" }, h.describe());
            }
            for f in &r.files_wrong {
                println!("{f}\tFAIL\tmissing or of another size than recorded");
            }
            let what = if r.hub.is_some() { "the hub's store".to_owned() } else { format!("{} tenants", r.tenants.len()) };
            let summary = format!("snapshot {} taken {}, {what}, {:.1} s", short(&r.data_snapshot), r.taken_at, r.seconds);
            if !r.ok() {
                bail!("the drill failed: {summary}");
            }
            println!("drill passed: {summary}");
        }
    }
    Ok(())
}

/// `renkei hub backup …`.
pub async fn run_hub(a: HubBackupArgs) -> Result<()> {
    let config = a.settings.config(&a.db.allowed_countries)?;
    let subject = hub_subject(&a.data_dir, &a.db, &a.keys).await?;
    match a.cmd {
        HubBackupCmd::Generations(cmd) => generations(&subject, &config, cmd, &a.actor).await,
        HubBackupCmd::Restore { snapshot, to, from_copy } => {
            let r = backup::restore_hub(&site(&config, from_copy)?, snapshot.as_deref(), &to).await?;
            println!(
                "restored snapshot {} taken {} into {}: the hub's store and keys as recorded (serve it with `renkei hub --data-dir {}`)",
                short(&r.data_snapshot),
                r.taken_at,
                r.dir.display(),
                r.dir.display()
            );
            Ok(())
        }
    }
}

/// The first site, or the second with `from_copy`.
fn site(config: &BackupConfig, from_copy: bool) -> Result<BackupConfig> {
    if !from_copy {
        return Ok(config.clone());
    }
    config.second_site().context("--from-copy: no second site is set up (--copy-repository)")
}

/// A snapshot id as restic shows it: its first 8 hex digits.
fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
