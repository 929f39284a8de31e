//! Starting the hub and a platform server in this process: used by `renkei hub`, `renkei serve`
//! and `renkei demo` alike, so the demo runs exactly what production runs.

use anyhow::{Context, Result};
use renkei_crypto::datakey::MasterKey;
use renkei_crypto::hubkey::HubSecret;
use renkei_crypto::signing::{SigningKey, VerifyingKey};
use renkei_domain::Matrix;
use renkei_hub::Hub;
use renkei_net::TlsMaterial;
use renkei_net::listener::{Limits, serve};
use renkei_server::{HubLink, Platform};
use renkei_store::Location;
use renkei_store::hub::HubStore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use zeroize::Zeroizing;

/// The Matrix shipped with renkei (a copy of the sample 別表第二); `--matrix` replaces it.
pub const DEFAULT_MATRIX: &str = include_str!("../../../data/matrix.csv");

pub fn load_matrix(path: Option<&Path>) -> Result<Arc<Matrix>> {
    let m = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read the Matrix file {}", p.display()))?;
            Matrix::from_csv(&p.display().to_string(), &text)?
        }
        None => Matrix::from_csv("built-in matrix.csv", DEFAULT_MATRIX)?,
    };
    Ok(Arc::new(m))
}

/// How far a signed message's `issued_at` may be from the receiver's clock, unless set.
pub const DEFAULT_FRESHNESS: Duration = Duration::from_secs(renkei_domain::wire::FRESHNESS_SECONDS as u64);

/// How long a claimed delivery (outbox entry, hub step) is reserved for the process that claimed
/// it. It should outlast a delivery attempt (HTTP timeout 30 s); a shorter lease only risks a
/// harmless duplicate delivery.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);

/// The PostgreSQL schema a platform uses unless told otherwise.
pub const PLATFORM_SCHEMA: &str = "renkei";
/// The PostgreSQL schema the hub uses unless told otherwise.
pub const HUB_SCHEMA: &str = "renkei_hub";

/// Where a process keeps its data: the embedded SQLite store in its data directory (default), or
/// a PostgreSQL database.
#[derive(clap::Args, Clone, Default)]
pub struct DbArgs {
    /// PostgreSQL URL, e.g. postgres://renkei@db.example/renkei. Leave out to use the embedded
    /// SQLite store in the data directory.
    #[arg(long, env = "RENKEI_DATABASE")]
    pub database: Option<String>,
    /// A file holding the PostgreSQL URL, for a URL with a password in it; --database wins.
    #[arg(long, env = "RENKEI_DATABASE_FILE")]
    pub database_file: Option<PathBuf>,
    /// PostgreSQL schema [default: renkei for a platform, renkei_hub for the hub].
    #[arg(long, env = "RENKEI_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// For a platform on PostgreSQL, where its key store is when not beside the data: another
    /// cluster's postgres:// URL, or a directory (keys.sqlite in it). A cluster backed up with
    /// pgBackRest needs it, so that no data backup holds the keys.
    #[arg(long, env = "RENKEI_KEY_STORE")]
    pub key_store: Option<String>,
    /// Where this store is (データ保管場所), as the operator declares it: COUNTRY or
    /// COUNTRY/REGION, COUNTRY two letters of ISO 3166-1, e.g. JP/東京都.
    #[arg(long, env = "RENKEI_DATA_LOCATION", default_value = renkei_domain::location::DEFAULT_PLACE)]
    pub data_location: String,
    /// The countries data may be kept in (ISO 3166-1, comma-separated): a store declared
    /// elsewhere is refused at start-up.
    #[arg(long, env = "RENKEI_ALLOWED_COUNTRIES", default_value = renkei_domain::location::DEFAULT_ALLOWED)]
    pub allowed_countries: String,
}

/// The store a schema's default names, as refusals name it.
fn store_name(default_schema: &str) -> &'static str {
    if default_schema == HUB_SCHEMA { "the hub's store" } else { "the platform's store" }
}

impl DbArgs {
    /// The store's settings with the declared place in Japan (benches and tests).
    pub fn in_japan(database: Option<String>) -> Self {
        DbArgs {
            database,
            database_file: None,
            database_schema: None,
            key_store: None,
            data_location: renkei_domain::location::DEFAULT_PLACE.into(),
            allowed_countries: renkei_domain::location::DEFAULT_ALLOWED.into(),
        }
    }

    /// The declared place of the store, refused if it is outside the allowed countries.
    pub fn place(&self, what: &str) -> Result<renkei_domain::location::Place> {
        use renkei_domain::location::{Place, check, parse_allowed};
        let place = Place::parse(&self.data_location).context("--data-location")?;
        check(what, &place, &parse_allowed(&self.allowed_countries).context("--allowed-countries")?)?;
        Ok(place)
    }

    /// A `locations` listing: `LABEL<TAB>where the store is<TAB>its declared place`, for the
    /// platform also its key store (kept beside it, apart from its files or schema), then the
    /// allowed countries; refused as start-up refuses a place not allowed.
    pub fn locations(&self, label: &str, data_dir: &Path, default_schema: &str) -> Result<String> {
        let place = self.place(store_name(default_schema))?;
        let (store, keys) = match self.location(data_dir, default_schema)? {
            Location::Dir(d) => {
                (format!("SQLite files in {}", d.display()), format!("SQLite file {}", renkei_store::layout::keys_db(&d).display()))
            }
            Location::Postgres { schema, keys: None, .. } => {
                (format!("PostgreSQL schema {schema}"), format!("PostgreSQL schema {schema}_keys"))
            }
            Location::Postgres { schema, keys: Some(elsewhere), .. } => (
                format!("PostgreSQL schema {schema}"),
                match *elsewhere {
                    Location::Dir(d) => format!("SQLite file {}", renkei_store::layout::keys_db(&d).display()),
                    Location::Postgres { url, .. } => format!("PostgreSQL schema {schema}_keys at {}", renkei_store::db::redact(&url)),
                },
            ),
        };
        let allowed = renkei_domain::location::parse_allowed(&self.allowed_countries)?;
        let mut out = format!("{label}\t{store}\t{place}\n");
        if default_schema == PLATFORM_SCHEMA {
            out.push_str(&format!("key store\t{keys}\t{place}\n"));
        }
        out.push_str(&format!("allowed countries\t{}", allowed.join(",")));
        Ok(out)
    }

    /// Where the store is, once its declared place is allowed.
    pub fn location(&self, data_dir: &Path, default_schema: &str) -> Result<Location> {
        self.place(store_name(default_schema))?;
        let from_file = match (&self.database, &self.database_file) {
            (None, Some(file)) => {
                let url = std::fs::read_to_string(file).with_context(|| format!("cannot read the database URL file {}", file.display()))?;
                Some(url.trim().to_owned())
            }
            _ => None,
        };
        let url = self.database.as_deref().or(from_file.as_deref());
        let location = Location::new(url, data_dir, self.database_schema.as_deref().unwrap_or(default_schema))?;
        if default_schema == HUB_SCHEMA {
            // The hub keeps no tenant keys: a host's RENKEI_KEY_STORE is the platform's.
            return Ok(location);
        }
        Ok(location.with_key_store(self.key_store.as_deref())?)
    }
}

/// A shutdown signal shared by every task of one process, and the tasks that end on it
/// (listeners draining their connections, workers), so the process can wait for them.
#[derive(Clone)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self { signal: rx, tasks: Arc::default() })
    }

    /// Resolves once the signal is given.
    pub async fn wait(mut self) {
        // A dropped sender is a shutdown too.
        let _ = self.signal.wait_for(|v| *v).await;
    }

    /// Runs `task`, which ends after the signal (a listener, once drained; a worker), and
    /// remembers it for [`Shutdown::drained`].
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(handle),
            Err(poisoned) => poisoned.into_inner().push(handle),
        }
    }

    /// Waits for every task given to [`Shutdown::spawn`] to end.
    pub async fn drained(&self) {
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a task ended abnormally during shutdown");
            }
        }
    }
}

/// Reads a secret from an environment variable, else from `file`, creating the file (mode 0600)
/// with `generate()` if it does not exist.
pub fn secret_text(env: &str, file: &Path, generate: impl FnOnce() -> String) -> Result<String> {
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let t = generate();
            write_private(file, &t)?;
            Ok(t)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(file: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

pub fn master_key(data_dir: &Path, file: Option<&Path>) -> Result<MasterKey> {
    let default = data_dir.join("master.key");
    let text = secret_text("RENKEI_MASTER_KEY", file.unwrap_or(&default), || MasterKey::generate().to_text())?;
    MasterKey::from_text(&text).context("the master key is malformed")
}

pub struct HubKeys {
    pub secret: HubSecret,
    pub signing: SigningKey,
}

/// Where the hub's two secrets are kept, if not in its data directory.
#[derive(clap::Args, Clone, Default)]
pub struct HubKeyFiles {
    /// The secret that keys the hub's number hashes and codes [default: DATA_DIR/hub.secret,
    /// made on first use; RENKEI_HUB_SECRET gives the secret itself].
    #[arg(long, env = "RENKEI_HUB_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The hub's Ed25519 signing key [default: DATA_DIR/hub.signing.key, made on first use;
    /// RENKEI_HUB_SIGNING_KEY gives the key itself].
    #[arg(long, env = "RENKEI_HUB_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
}

pub fn hub_keys(data_dir: &Path, files: &HubKeyFiles) -> Result<HubKeys> {
    let (secret, signing) = hub_key_texts(data_dir, files)?;
    Ok(HubKeys { secret: HubSecret::from_text(&secret)?, signing: SigningKey::from_hex(&signing).context("the hub signing key")? })
}

/// The hub's two secrets as their files (or environment variables) hold them, each made on
/// first use: the secret, then the signing key.
pub fn hub_key_texts(data_dir: &Path, files: &HubKeyFiles) -> Result<(Zeroizing<String>, Zeroizing<String>)> {
    let secret_file = files.secret_file.clone().unwrap_or_else(|| data_dir.join("hub.secret"));
    let signing_file = files.signing_key_file.clone().unwrap_or_else(|| data_dir.join("hub.signing.key"));
    let secret = secret_text("RENKEI_HUB_SECRET", &secret_file, || HubSecret::generate().to_text())?;
    let signing = secret_text("RENKEI_HUB_SIGNING_KEY", &signing_file, || hex::encode(SigningKey::generate().to_secret_bytes()))?;
    Ok((Zeroizing::new(secret), Zeroizing::new(signing)))
}

pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// How long the hub leases a claimed step, how old a signed message may be, and what its
/// listeners allow.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub claim_lease: Duration,
    pub freshness: Duration,
    /// What the hub's listeners allow their clients.
    pub limits: Limits,
}

impl Default for Timing {
    fn default() -> Self {
        Self { claim_lease: DEFAULT_CLAIM_LEASE, freshness: DEFAULT_FRESHNESS, limits: Limits::default() }
    }
}

pub struct HubListeners {
    pub network: TcpListener,
    pub resident: TcpListener,
}

/// A layer counting and timing a router's requests as `listener`'s (`net::metrics`).
macro_rules! counted {
    ($listener:expr) => {
        axum::middleware::from_fn(|r: axum::extract::Request, n: axum::middleware::Next| renkei_net::metrics::record($listener, r, n))
    };
}

/// Starts the hub's two listeners and its worker; returns the hub.
pub async fn start_hub(
    keys: HubKeys,
    location: &Location,
    tls: &TlsMaterial,
    matrix: Arc<Matrix>,
    listeners: HubListeners,
    timing: Timing,
    shutdown: Shutdown,
) -> Result<Arc<Hub>> {
    let store = HubStore::open(location).await?;
    let client = tls.client(Duration::from_secs(30))?;
    let hub = Hub::new(store, matrix, keys.secret, keys.signing, client, timing.claim_lease, timing.freshness);
    shutdown.spawn(serve(
        listeners.network,
        tls.server_config(true)?,
        renkei_hub::api::network_router(hub.clone()).layer(counted!("hub_network")),
        timing.limits,
        shutdown.clone().wait(),
    ));
    shutdown.spawn(serve(
        listeners.resident,
        tls.server_config(false)?,
        renkei_hub::api::resident_router(hub.clone()).layer(counted!("resident")),
        timing.limits,
        shutdown.clone().wait(),
    ));
    shutdown.spawn(renkei_hub::worker::run(hub.clone(), shutdown.clone().wait()));
    Ok(hub)
}

pub struct PlatformListeners {
    pub internal: TcpListener,
    pub network: TcpListener,
}

/// Everything a platform process opens at start, whether it serves (`serve`, `demo`) or runs
/// one job (`import`).
pub struct PlatformSetup {
    pub location: Location,
    pub master: Arc<MasterKey>,
    pub matrix: Arc<Matrix>,
    pub hub_url: String,
    pub hub_key: VerifyingKey,
    pub query_deadline: Duration,
    /// How long a claimed delivery is reserved for this process (see `--claim-lease-secs`).
    pub claim_lease: Duration,
    /// How old a hub-signed message may be (see `--freshness-secs`).
    pub freshness: Duration,
    /// What the listeners allow their clients (see `--header-timeout-secs` …).
    pub limits: Limits,
    /// How often the audit chains that grew are checkpointed (see `--audit-checkpoint-secs`).
    pub audit_checkpoint_every: Duration,
    /// The tenants' SLA contracts, for the report page (see `--contracts-file`).
    pub contracts: Arc<crate::sla::Contracts>,
}

/// Opens the platform's stores and unlocks its orgs' keys, without listening.
pub async fn load_platform(o: &PlatformSetup, tls: &TlsMaterial) -> Result<Arc<Platform>> {
    let client = tls.client(Duration::from_secs(30))?;
    let hub = HubLink { url: o.hub_url.trim_end_matches('/').to_owned(), key: o.hub_key.clone(), client, freshness: o.freshness };
    Ok(Platform::load(&o.location, o.master.clone(), o.matrix.clone(), hub, o.query_deadline, o.claim_lease).await?)
}

/// Starts a platform server: internal listener (TLS), network listener (mutual TLS), outbox.
pub async fn start_platform(
    o: &PlatformSetup,
    tls: &TlsMaterial,
    listeners: PlatformListeners,
    shutdown: Shutdown,
) -> Result<Arc<Platform>> {
    let p = load_platform(o, tls).await?;
    shutdown.spawn(serve(
        listeners.internal,
        tls.server_config(false)?,
        renkei_server::internal::router(p.clone())
            .merge(crate::sla::page::routes(p.clone(), o.master.clone(), o.contracts.clone()))
            .layer(counted!("internal")),
        o.limits,
        shutdown.clone().wait(),
    ));
    shutdown.spawn(serve(
        listeners.network,
        tls.server_config(true)?,
        renkei_server::network::router(p.clone()).layer(counted!("network")),
        o.limits,
        shutdown.clone().wait(),
    ));
    shutdown.spawn(renkei_server::outbox::run(p.clone(), shutdown.clone().wait()));
    shutdown.spawn(renkei_server::audit::checkpoints(p.clone(), o.audit_checkpoint_every, shutdown.clone().wait()));
    Ok(p)
}

/// Where a platform command finds the platform: its data directory, its store and its master
/// key (`admin`, `audit`).
#[derive(clap::Args)]
pub struct PlatformAccess {
    /// The platform's keys and, unless --database is given, its SQLite store.
    #[arg(long, env = "RENKEI_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    /// The master key [default: DATA_DIR/master.key; RENKEI_MASTER_KEY gives the key itself].
    #[arg(long, env = "RENKEI_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl PlatformAccess {
    pub async fn store(&self) -> Result<renkei_store::platform::PlatformStore> {
        Ok(renkei_store::platform::PlatformStore::open(&self.db.location(&self.data_dir, PLATFORM_SCHEMA)?).await?)
    }

    pub fn master_key(&self) -> Result<renkei_crypto::datakey::MasterKey> {
        master_key(&self.data_dir, self.master_key_file.as_deref())
    }
}
