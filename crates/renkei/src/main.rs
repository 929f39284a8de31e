//! `renkei`: one binary for every role. The subcommands are thin: they parse flags, open what
//! is needed, and call into the library crates (see docs/ARCHITECTURE.md).

/// mimalloc instead of the system allocator: a bulk load allocates each line on one thread and
/// frees it on another, and glibc's arena locks made that a third of the reading and preparing
/// threads' time; mimalloc frees across threads without them (import +20 %, e2e unchanged within
/// the noise; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod audit;
mod backup;
mod bench;
mod config;
mod demo;
mod disposal;
mod export;
mod gaiji;
mod import;
mod metrics;
mod registry;
mod retention;
mod run;
mod sla;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use renkei_crypto::signing::VerifyingKey;
use renkei_net::TlsMaterial;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "renkei", version, about = "Shared intermediate-server platform for the My Number information linkage")]
struct Cli {
    /// A renkei.toml whose keys are the flags' defaults (docs/config.md).
    #[arg(long, global = true, env = config::ENV, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the hub, a multi-tenant platform and a second org's server on loopback, with demo data.
    Demo(demo::DemoArgs),
    /// Run the platform server (internal and network listeners, outbox).
    Serve(Box<ServeArgs>),
    /// Run the reference hub, or manage its directory and resident tokens.
    Hub(Box<HubArgs>),
    /// Make a development CA and certificates.
    Pki {
        #[command(subcommand)]
        cmd: PkiCmd,
    },
    /// Create tenants, orgs and client-system API keys on a platform.
    Admin(admin::AdminArgs),
    /// Load persons or provision copies (副本) from a CSV file (UTF-8 or CP932).
    Import(import::ImportArgs),
    /// Make one person registry per tenant from registrations its orgs kept apart (after an
    /// upgrade); prints counts, never addressee numbers.
    UnifyRegistry(registry::UnifyArgs),
    /// Verify the audit log's hash chains and signed checkpoints, or write checkpoints now.
    Audit(audit::AuditArgs),
    /// A tenant's 外字: load its mapping table, or report the 外字 its copies hold.
    Gaiji(gaiji::GaijiArgs),
    /// Write a whole tenant's data as CSV files with a signed manifest, or check such an export.
    Export(export::ExportArgs),
    /// Back up the platform into restic-format repositories, list, forget, drill and restore.
    Backup(Box<backup::BackupArgs>),
    /// A tenant's month against its SLA contract, maintenance windows, incidents' causes.
    Sla(Box<sla::SlaArgs>),
    /// Purge linkage records older than each tenant's retention (保存期間); `serve` does it daily.
    Retention {
        #[command(subcommand)]
        cmd: RetentionCmd,
    },
    /// Measure speed against baselines run alongside (see docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// Print the internal API's OpenAPI 3.1 document (as committed in docs/openapi.json).
    Openapi,
    /// Check a renkei.toml, or print the reference of its keys.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check FILE (or the file --config or RENKEI_CONFIG names): exit 0 if every section, key and
    /// value is one renkei knows.
    Check { file: Option<PathBuf> },
    /// Print docs/config.md: every key with its type, default and environment variable.
    Reference,
}

/// Where a process finds its TLS certificate, key and CA: `<pki>/<name>.pem`, `<pki>/<name>.key`,
/// `<pki>/ca.pem` (the layout `renkei pki` writes).
#[derive(Args, Clone)]
struct TlsArgs {
    /// The directory of TLS certificates and keys (`renkei pki` writes one).
    #[arg(long, env = "RENKEI_PKI_DIR")]
    pki: Option<PathBuf>,
    /// This process's certificate in the pki directory: NAME.pem and NAME.key.
    #[arg(long, env = "RENKEI_CERT_NAME")]
    cert_name: Option<String>,
}

impl TlsArgs {
    fn load(&self) -> Result<TlsMaterial> {
        let (Some(dir), Some(name)) = (&self.pki, &self.cert_name) else {
            bail!("--pki DIR and --cert-name NAME are required (make them with `renkei pki`)");
        };
        Ok(TlsMaterial::from_files(&dir.join(format!("{name}.pem")), &dir.join(format!("{name}.key")), &dir.join("ca.pem"))?)
    }
}

/// What a platform process needs to open its stores and reach the hub (`serve`, `import`).
#[derive(Args)]
struct PlatformArgs {
    /// Keys and certificates; also the SQLite store unless --database is given.
    #[arg(long, env = "RENKEI_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    db: run::DbArgs,
    /// The hub's network listener, e.g. https://hub.example:7443.
    #[arg(long, env = "RENKEI_HUB_URL")]
    hub_url: String,
    /// The hub's verifying key (base64), as `renkei hub verify-key` prints it.
    #[arg(long, env = "RENKEI_HUB_KEY")]
    hub_key: String,
    /// The master key that wraps every tenant's data key [default: DATA_DIR/master.key, made
    /// on first use; RENKEI_MASTER_KEY gives the key itself].
    #[arg(long, env = "RENKEI_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Annex Table 2 (別表第二) as CSV [default: the built-in table].
    #[arg(long, env = "RENKEI_MATRIX")]
    matrix: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
}

impl PlatformArgs {
    fn setup(&self, query_deadline: Duration) -> Result<run::PlatformSetup> {
        Ok(run::PlatformSetup {
            location: self.db.location(&self.data_dir, run::PLATFORM_SCHEMA)?,
            master: std::sync::Arc::new(run::master_key(&self.data_dir, self.master_key_file.as_deref())?),
            matrix: run::load_matrix(self.matrix.as_deref())?,
            hub_url: self.hub_url.clone(),
            hub_key: VerifyingKey::from_base64(&self.hub_key).context("--hub-key is not a verifying key")?,
            query_deadline,
            claim_lease: run::DEFAULT_CLAIM_LEASE,
            freshness: run::DEFAULT_FRESHNESS,
            limits: renkei_net::listener::Limits::default(),
            audit_checkpoint_every: renkei_server::audit::CHECKPOINT_EVERY,
            contracts: Default::default(),
        })
    }
}

/// What a process's listeners allow their clients (`renkei_net::listener::Limits`).
#[derive(Args)]
struct LimitArgs {
    /// Seconds a TLS handshake, then each request's head, may take; a slower client is cut off.
    #[arg(long, env = "RENKEI_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a request body may send nothing before the request fails.
    #[arg(long, env = "RENKEI_BODY_IDLE_SECS", default_value_t = 30)]
    body_idle_secs: u64,
    /// Connections each listener serves at once; more wait in the kernel's backlog.
    #[arg(long, env = "RENKEI_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds requests in flight at shutdown (SIGTERM, Ctrl-C) may take to finish.
    #[arg(long, env = "RENKEI_DRAIN_SECS", default_value_t = 30)]
    drain_secs: u64,
}

impl LimitArgs {
    fn limits(&self) -> renkei_net::listener::Limits {
        let secs = |s: u64| Duration::from_secs(s.max(1));
        renkei_net::listener::Limits {
            header_timeout: secs(self.header_timeout_secs),
            body_idle: secs(self.body_idle_secs),
            max_connections: self.max_connections.max(1),
            grace: secs(self.drain_secs),
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(flatten)]
    retention: retention::RetentionArgs,
    #[command(flatten)]
    backup: backup::BackupSettings,
    #[command(flatten)]
    backup_schedule: backup::BackupSchedule,
    #[command(flatten)]
    monitor: sla::MonitorSettings,
    #[command(flatten)]
    notices: sla::NoticeSettings,
    /// The tenants' SLA contracts (TOML), which the report page measures each month against (the
    /// `[sla]` section's, as `renkei sla` reads it) [default: 表2-13's grade for every tenant].
    #[arg(long, env = "RENKEI_SLA_CONTRACTS_FILE")]
    contracts_file: Option<PathBuf>,
    /// Listener for client systems (TLS).
    #[arg(long, env = "RENKEI_INTERNAL_LISTEN", default_value = "127.0.0.1:8443")]
    internal_listen: String,
    /// Listener for the hub (mutual TLS).
    #[arg(long, env = "RENKEI_NETWORK_LISTEN", default_value = "127.0.0.1:9443")]
    network_listen: String,
    /// Listener for Prometheus's scrapes of /metrics (plain HTTP: loopback or a monitoring
    /// network) [default: none].
    #[arg(long, env = "RENKEI_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Seconds a query may take before it ends in エラー.
    #[arg(long, env = "RENKEI_QUERY_DEADLINE_SECS", default_value_t = 86_400)]
    query_deadline_secs: u64,
    /// Seconds a claimed delivery is reserved for this process; after a crash, others retry it
    /// once this has passed.
    #[arg(long, env = "RENKEI_CLAIM_LEASE_SECS", default_value_t = 30)]
    claim_lease_secs: u64,
    /// Seconds a hub-signed message's issued_at may be from this server's clock; older ones are
    /// refused as replays.
    #[arg(long, env = "RENKEI_FRESHNESS_SECS", default_value_t = renkei_domain::wire::FRESHNESS_SECONDS as u64)]
    freshness_secs: u64,
    /// SQLite tenant files kept open at once; beyond it the least recently used idle file is
    /// closed. Each open file costs three to five descriptors.
    #[arg(long, env = "RENKEI_SQLITE_OPEN_FILES", default_value_t = renkei_store::sqlite::MAX_OPEN_FILES)]
    sqlite_open_files: usize,
    /// Seconds between signed checkpoints of the audit chains that grew (`renkei audit`).
    #[arg(long, env = "RENKEI_AUDIT_CHECKPOINT_SECS", default_value_t = renkei_server::audit::CHECKPOINT_EVERY.as_secs())]
    audit_checkpoint_secs: u64,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Subcommand)]
enum RetentionCmd {
    /// Purge now (or as of --as-of) and print what each tenant lost.
    Run(retention::RetentionRunArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct HubArgs {
    #[command(subcommand)]
    cmd: Option<HubCmd>,
    /// The hub's keys and, unless --database is given, its SQLite store.
    #[arg(long, env = "RENKEI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    db: run::DbArgs,
    /// Listener for org servers (mutual TLS).
    #[arg(long, env = "RENKEI_HUB_LISTEN", default_value = "127.0.0.1:7443")]
    listen: String,
    /// Listener for residents' disclosure requests (TLS).
    #[arg(long, env = "RENKEI_HUB_RESIDENT_LISTEN", default_value = "127.0.0.1:7444")]
    resident_listen: String,
    /// Listener for Prometheus's scrapes of /metrics (plain HTTP: loopback or a monitoring
    /// network): requests, store transaction times and the hub's queue [default: none].
    #[arg(long, env = "RENKEI_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    #[command(flatten)]
    keys: run::HubKeyFiles,
    /// Annex Table 2 (別表第二) as CSV [default: the built-in table].
    #[arg(long, env = "RENKEI_MATRIX")]
    matrix: Option<PathBuf>,
    /// Seconds a claimed forward or relay is reserved for this process.
    #[arg(long, env = "RENKEI_CLAIM_LEASE_SECS", default_value_t = 30)]
    claim_lease_secs: u64,
    /// Seconds a signed message's issued_at may be from the hub's clock; older ones are refused
    /// as replays.
    #[arg(long, env = "RENKEI_FRESHNESS_SECS", default_value_t = renkei_domain::wire::FRESHNESS_SECONDS as u64)]
    freshness_secs: u64,
    /// Years the hub's linkage records (what residents are shown) are kept before they are
    /// purged, daily.
    #[arg(long, env = "RENKEI_RETENTION_YEARS", default_value_t = renkei_domain::retention::DEFAULT_YEARS)]
    retention_years: u32,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// The hub's backups, once --backup-repository is set: made and drilled on the schedule.
    #[command(flatten)]
    backup: backup::BackupSettings,
    #[command(flatten)]
    backup_schedule: backup::BackupSchedule,
}

#[derive(Subcommand)]
enum HubCmd {
    /// Add or replace an org in the directory, from the JSON `renkei admin org-create` prints.
    RegisterOrg {
        #[arg(long, env = "RENKEI_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        db: run::DbArgs,
        /// The directory entry JSON file; `-` reads standard input.
        #[arg(long, default_value = "-")]
        file: PathBuf,
    },
    /// Where the hub's store is declared to be (データ保管場所) and the countries allowed, for the
    /// compliance sheet.
    Locations {
        #[arg(long, env = "RENKEI_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        db: run::DbArgs,
    },
    /// Print the hub's verifying key (servers need it as --hub-key).
    VerifyKey {
        #[arg(long, env = "RENKEI_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        keys: run::HubKeyFiles,
    },
    /// Issue a disclosure token for the resident whose Individual Number is read from standard
    /// input (a documented stand-in for the My Number Card login).
    ResidentToken {
        #[arg(long, env = "RENKEI_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        db: run::DbArgs,
        #[command(flatten)]
        keys: run::HubKeyFiles,
        #[arg(long, default_value_t = 60)]
        ttl_minutes: i64,
    },
    /// Purge the hub's linkage records (what residents are shown) past the retention, now or
    /// as of a date; the hub does it daily.
    PurgeRecords {
        #[arg(long, env = "RENKEI_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        db: run::DbArgs,
        /// Years the hub's linkage records are kept.
        #[arg(long, env = "RENKEI_RETENTION_YEARS", default_value_t = renkei_domain::retention::DEFAULT_YEARS)]
        retention_years: u32,
        /// Purge as if today were this date (YYYY-MM-DD, UTC midnight) [default: now].
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Back up the hub's store and secrets, list, forget, drill or restore its generations (as
    /// `renkei backup` does the platform's; `renkei hub` backs up on a schedule).
    Backup(Box<backup::HubBackupArgs>),
}

#[derive(Subcommand)]
enum PkiCmd {
    /// Create a CA in DIR (ca.pem, ca.key).
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue DIR/NAME.pem and DIR/NAME.key, for server and client use, valid for the hosts.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        hosts: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli: Cli = match config::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.cmd, cli.config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(default: &str) {
    // rustic's own log lines (backups) run over many lines with advice for rustic's users; the
    // errors renkei reports from it say what failed in one line.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RENKEI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},rustic_core=off,rustic_backend=off")));
    // Colours only on a terminal: a log file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("RENKEI_LOG_FORMAT").as_deref() == Ok("json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

async fn dispatch(cmd: Cmd, config_file: Option<PathBuf>) -> Result<ExitCode> {
    match cmd {
        Cmd::Demo(a) => {
            init_logs("warn");
            demo::run(a).await
        }
        Cmd::Serve(a) => {
            init_logs("info");
            serve(*a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Hub(a) => hub(*a).await.map(|_| ExitCode::SUCCESS),
        Cmd::Pki { cmd } => pki(cmd).map(|_| ExitCode::SUCCESS),
        Cmd::Admin(a) => admin::run(a).await.map(|_| ExitCode::SUCCESS),
        Cmd::Audit(a) => audit::run(a).await,
        Cmd::Import(a) => {
            init_logs("warn");
            import::run(a).await
        }
        Cmd::Gaiji(a) => {
            init_logs("warn");
            gaiji::run(a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Export(a) => {
            init_logs("warn");
            export::run(a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Sla(a) => {
            init_logs("warn");
            sla::run(*a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Backup(a) => {
            init_logs("warn");
            backup::run(*a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Retention { cmd: RetentionCmd::Run(a) } => {
            init_logs("warn");
            retention::run(a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::UnifyRegistry(a) => {
            init_logs("warn");
            registry::run(a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Bench(a) => {
            init_logs("error");
            bench::run(a).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Openapi => {
            print!("{}", renkei_server::openapi::document());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config { cmd: ConfigCmd::Check { file } } => {
            let Some(file) = file.or(config_file) else {
                bail!("name the file: renkei config check FILE (or --config FILE, or RENKEI_CONFIG)");
            };
            let checked = config::load(&file, &Cli::command())?;
            let counts = checked.counts().iter().map(|(s, n)| format!("[{s}] {n}")).collect::<Vec<_>>().join(", ");
            println!("{}: ok ({counts} keys)", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config { cmd: ConfigCmd::Reference } => {
            print!("{}", config::reference(&Cli::command()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn until_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
    }
}

/// Stops accepting, lets requests in flight finish (bounded by the drain period) and the workers
/// end, then returns.
async fn stop(signal: tokio::sync::watch::Sender<bool>, shutdown: &run::Shutdown) {
    tracing::info!("shutting down: requests in flight may finish");
    // The receivers live in the tasks that are drained below, so the send reaches them.
    let _ = signal.send(true);
    shutdown.drained().await;
    tracing::info!("stopped");
}

async fn serve(a: ServeArgs) -> Result<()> {
    renkei_store::sqlite::set_max_open_files(a.sqlite_open_files);
    // Where the data would go, before anything else is read or made.
    a.platform.db.place("the platform's store")?;
    let retention = a.retention.retention()?;
    let backups = a.backup.configured().then(|| a.backup.config(&a.platform.db.allowed_countries)).transpose()?;
    let tls = a.platform.tls.load()?;
    let mut setup = a.platform.setup(Duration::from_secs(a.query_deadline_secs))?;
    setup.claim_lease = Duration::from_secs(a.claim_lease_secs.max(1));
    setup.freshness = Duration::from_secs(a.freshness_secs.max(1));
    setup.limits = a.limits.limits();
    setup.audit_checkpoint_every = Duration::from_secs(a.audit_checkpoint_secs.max(1));
    setup.contracts = std::sync::Arc::new(sla::Contracts::load(a.contracts_file.as_deref())?);
    let (internal, ia) = run::bind(&a.internal_listen).await?;
    let (network, na) = run::bind(&a.network_listen).await?;
    let (tx, shutdown) = run::Shutdown::new();
    let p = run::start_platform(&setup, &tls, run::PlatformListeners { internal, network }, shutdown.clone()).await?;
    if let Some(config) = backups {
        let schedule = a.backup_schedule.schedule();
        let subject = renkei_ops::backup::PlatformSubject { store: p.platform.clone(), master: setup.master.clone() };
        let job = renkei_ops::backup::run_scheduled(subject, config, schedule, shutdown.clone().wait());
        shutdown.spawn(job);
    }
    if let Some(config) = a.monitor.config(ia, &tls.ca_pem)? {
        let notifier = a.notices.notifier(&config.base_url, &tls.ca_pem, setup.master.clone())?;
        shutdown.spawn(renkei_ops::notify::run(p.platform.clone(), notifier, shutdown.clone().wait()));
        let by = format!("serve-{}-{ia}", std::process::id());
        let monitor = renkei_ops::monitor::run(p.platform.clone(), setup.master.clone(), config, by, shutdown.clone().wait());
        shutdown.spawn(monitor);
    }
    if let Some(addr) = &a.metrics_listen {
        let (listener, ma) = run::bind(addr).await?;
        shutdown.spawn(metrics::serve(listener, metrics::Source::Platform(p.clone()), shutdown.clone().wait()));
        println!("renkei serve: metrics http://{ma}/metrics");
    }
    shutdown.spawn(renkei_server::retention::run(p, retention, shutdown.clone().wait()));
    tracing::info!(internal = %ia, network = %na, "platform serving");
    println!("renkei serve: internal https://{ia}  network https://{na}");
    until_signal().await;
    stop(tx, &shutdown).await;
    Ok(())
}

async fn hub(a: HubArgs) -> Result<()> {
    match a.cmd {
        Some(HubCmd::RegisterOrg { data_dir, db, file }) => {
            let text = if file == Path::new("-") {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let entry: renkei_store::hub::DirectoryEntry = serde_json::from_str(&text).context("not a directory entry")?;
            VerifyingKey::from_base64(&entry.verify_key).context("verify_key")?;
            renkei_crypto::sealing::SealingKey::from_base64(&entry.seal_key).context("seal_key")?;
            let store = renkei_store::hub::HubStore::open(&db.location(&data_dir, run::HUB_SCHEMA)?).await?;
            store.register_org(&entry).await?;
            println!("registered {}", entry.id);
            Ok(())
        }
        Some(HubCmd::Locations { data_dir, db }) => {
            println!("{}", db.locations("hub store", &data_dir, run::HUB_SCHEMA)?);
            Ok(())
        }
        Some(HubCmd::VerifyKey { data_dir, keys }) => {
            println!("{}", run::hub_keys(&data_dir, &keys)?.signing.verifying_key().to_base64());
            Ok(())
        }
        Some(HubCmd::PurgeRecords { data_dir, db, retention_years, as_of }) => {
            let now = retention::as_of(as_of.as_deref())?;
            let years = retention::check_years(retention_years)?;
            let store = renkei_store::hub::HubStore::open(&db.location(&data_dir, run::HUB_SCHEMA)?).await?;
            match store.purge_records_before(renkei_domain::retention::cutoff(now, years)).await? {
                Some(p) => println!("hub: {} linkage records purged (kept {years} years; through record {})", p.count, p.through_seq),
                None => println!("hub: nothing older than {years} years"),
            }
            Ok(())
        }
        Some(HubCmd::Backup(b)) => backup::run_hub(*b).await,
        Some(HubCmd::ResidentToken { data_dir, db, keys, ttl_minutes }) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("cannot read the Individual Number from standard input")?;
            let number = renkei_domain::IndividualNumber::parse(&line)?;
            let keys = run::hub_keys(&data_dir, &keys)?;
            let store = renkei_store::hub::HubStore::open(&db.location(&data_dir, run::HUB_SCHEMA)?).await?;
            let (token, hash) = renkei_crypto::apikey::generate();
            store.add_resident_token(&hash, &keys.secret.person_key(&number), renkei_store::now_unix() + ttl_minutes * 60).await?;
            println!("{token}");
            Ok(())
        }
        None => {
            init_logs("info");
            let data_dir = a.data_dir.context("--data-dir is required")?;
            // Where the data would go, before anything else is read or made.
            let location = a.db.location(&data_dir, run::HUB_SCHEMA)?;
            let retention_years = retention::check_years(a.retention_years)?;
            let backups = a.backup.configured().then(|| a.backup.config(&a.db.allowed_countries)).transpose()?;
            let backup_subject = match backups {
                Some(_) => Some(backup::hub_subject(&data_dir, &a.db, &a.keys).await?),
                None => None,
            };
            let tls = a.tls.load()?;
            let matrix = run::load_matrix(a.matrix.as_deref())?;
            let (network, na) = run::bind(&a.listen).await?;
            let (resident, ra) = run::bind(&a.resident_listen).await?;
            let (tx, shutdown) = run::Shutdown::new();
            let lease = Duration::from_secs(a.claim_lease_secs.max(1));
            let timing =
                run::Timing { claim_lease: lease, freshness: Duration::from_secs(a.freshness_secs.max(1)), limits: a.limits.limits() };
            let keys = run::hub_keys(&data_dir, &a.keys)?;
            let hub =
                run::start_hub(keys, &location, &tls, matrix, run::HubListeners { network, resident }, timing, shutdown.clone()).await?;
            if let Some(addr) = &a.metrics_listen {
                let (listener, ma) = run::bind(addr).await?;
                shutdown.spawn(metrics::serve(listener, metrics::Source::Hub(hub.clone()), shutdown.clone().wait()));
                println!("renkei hub: metrics http://{ma}/metrics");
            }
            shutdown.spawn(retention::hub_daily(hub, retention_years, shutdown.clone().wait()));
            if let (Some(config), Some(subject)) = (backups, backup_subject) {
                shutdown.spawn(renkei_ops::backup::run_scheduled(subject, config, a.backup_schedule.schedule(), shutdown.clone().wait()));
            }
            tracing::info!(network = %na, resident = %ra, "hub serving");
            println!("renkei hub: network https://{na}  resident https://{ra}");
            until_signal().await;
            stop(tx, &shutdown).await;
            Ok(())
        }
    }
}

fn pki(cmd: PkiCmd) -> Result<()> {
    match cmd {
        PkiCmd::Init { dir } => {
            if dir.join("ca.key").exists() {
                bail!("{} already holds a CA; refusing to overwrite it", dir.display());
            }
            let ca = renkei_crypto::pki::new_ca()?;
            run::write_private(&dir.join("ca.key"), &ca.key_pem)?;
            std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
            println!("CA written to {}", dir.join("ca.pem").display());
        }
        PkiCmd::Issue { dir, name, hosts } => {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                bail!("--name must be letters, digits, - and _");
            }
            let ca = renkei_crypto::pki::Issued {
                cert_pem: std::fs::read_to_string(dir.join("ca.pem")).context("no CA here; run `renkei pki init` first")?,
                key_pem: std::fs::read_to_string(dir.join("ca.key")).context("no CA key here")?,
            };
            let cert = renkei_crypto::pki::issue(&ca, &name, &hosts)?;
            run::write_private(&dir.join(format!("{name}.key")), &cert.key_pem)?;
            std::fs::write(dir.join(format!("{name}.pem")), &cert.cert_pem)?;
            println!("certificate written to {}", dir.join(format!("{name}.pem")).display());
        }
    }
    Ok(())
}
