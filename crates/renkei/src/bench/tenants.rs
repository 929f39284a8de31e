//! `renkei bench tenants`: a platform of every municipality. Builds a platform of N tenants (an
//! org, an API key, residents and provision copies each), starts `renkei serve` on it as a
//! process of its own, and measures what hosting them costs that process: the time from its
//! start to serving every tenant, its peak memory, threads and open files while serving, and the
//! e2e latency of queries spread over all tenants, after one query from each tenant (steady
//! state: every org's keys unlocked). The baseline is the same run with 2 tenants, in the same
//! invocation.
//!
//! The hub runs in the bench's own process, so the figures are the platform's alone.

use super::{Quiet, Report, Stage, backend_name, fan_out, percentile, write_copies, write_persons};
use crate::run;
use anyhow::{Context, Result, bail};
use renkei_domain::bulk::FileKind;
use renkei_domain::{OrgId, OrgType, TenantId};
use renkei_server::import::ImportOptions;
use renkei_store::platform::{KeyScope, Org, PlatformStore};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one platform of `tenants` tenants was measured at.
struct Figures {
    tenants: usize,
    build_seconds: f64,
    startup_seconds: f64,
    peak_rss_mib: f64,
    threads: usize,
    open_files: usize,
    sockets: usize,
    p50_ms: f64,
    p99_ms: f64,
    throughput: f64,
}

impl Figures {
    fn json(&self) -> Value {
        json!({"tenants": self.tenants, "build_seconds": self.build_seconds, "startup_seconds": self.startup_seconds,
            "peak_rss_mib": self.peak_rss_mib, "threads": self.threads, "open_files": self.open_files, "sockets": self.sockets,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "throughput_qps": self.throughput})
    }

    fn line(&self) -> String {
        format!(
            "{} tenants: serving all {:.2} s after start, peak RSS {:.0} MiB, {} threads, {} open files ({} sockets besides); e2e p50 {:.1} ms, p99 {:.1} ms, {:.0} q/s (built in {:.0} s)",
            self.tenants,
            self.startup_seconds,
            self.peak_rss_mib,
            self.threads,
            self.open_files,
            self.sockets,
            self.p50_ms,
            self.p99_ms,
            self.throughput,
            self.build_seconds
        )
    }
}

/// The bench's sizes.
#[derive(Clone, Copy)]
pub(super) struct Sizes {
    pub tenants: usize,
    pub residents: u64,
    pub queries: usize,
    /// Queries offered a second.
    pub rate: f64,
}

pub(super) async fn tenants(db: Option<&str>, sizes: Sizes) -> Result<Report> {
    if sizes.tenants < 2 {
        bail!("--tenants must be at least 2 (queries go from one tenant to another)");
    }
    let baseline = measure(db, Sizes { tenants: 2, ..sizes }).await?;
    let many = measure(db, sizes).await?;
    let ratio = many.p99_ms / baseline.p99_ms.max(0.001);
    let human = format!(
        "bench tenants ({}): {} residents a tenant, {} queries offered at {} a second\n  {}\n  baseline {}\n  p99 ratio {ratio:.2} (targets at 1,788 tenants: start-up ≤ 10 s, peak RSS ≤ 1024 MiB, threads ≤ 64, open files ≤ 512, p99 ≤ 1.5 × baseline)",
        backend_name(db),
        sizes.residents,
        sizes.queries,
        sizes.rate,
        many.line(),
        baseline.line()
    );
    let mut json = many.json();
    json["bench"] = json!("tenants");
    json["backend"] = json!(backend_name(db));
    json["residents"] = json!(sizes.residents);
    json["queries"] = json!(sizes.queries);
    json["rate_qps"] = json!(sizes.rate);
    json["baseline_p99_ms"] = json!(baseline.p99_ms);
    json["p99_ratio"] = json!(ratio);
    json["baseline"] = baseline.json();
    Ok(Report { human, json })
}

fn tenant_id(i: usize) -> String {
    format!("t{i:04}")
}

fn org_id(i: usize) -> String {
    format!("o{i:04}")
}

/// A port nobody listens on now, for the `serve` process to take.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn measure(db: Option<&str>, sizes: Sizes) -> Result<Figures> {
    let stage = Stage::new(db, "renkei-bench-tenants-", "bench_tenants").await?;
    let (dir, data, tls, hub) = (&stage.dir, stage.dir.path().join("platform"), &stage.tls, &stage.hub);
    let (internal_port, network_port) = (free_port()?, free_port()?);

    let built = Instant::now();
    let master = Arc::new(run::master_key(&data, None)?);
    let keys = provision(&stage.location, &master, hub, sizes.tenants, &format!("https://127.0.0.1:{network_port}")).await?;
    let setup = stage.platform_setup(master);
    load_residents(&setup, tls, dir.path(), sizes).await?;
    let build_seconds = built.elapsed().as_secs_f64();

    let hub_key = hub.signing.verifying_key().to_base64();
    let mut serve = Serve::start(dir.path(), &data, db, internal_port, network_port, &stage.hub_url, &hub_key)?;
    let http = renkei_net::tls::client_trusting(&tls.ca_pem, Duration::from_secs(120))?;
    let base = format!("https://127.0.0.1:{internal_port}");
    let startup_seconds = serve.wait_serving_all(&http, &base, &keys).await?;

    let sampler = Sampler::start(serve.pid());
    // Steady state: every org has filed and answered once (its keys unlocked, its directory entry
    // known to the hub) before the measured queries, offered at the same rate.
    spread_queries(&http, &base, &keys, Sizes { queries: sizes.tenants, ..sizes }, "warm").await?;
    let (latencies, throughput) = spread_queries(&http, &base, &keys, sizes, "q").await?;
    let (threads, open_files, sockets) = sampler.stop().await;
    let peak_rss_mib = serve.peak_rss_mib();
    serve.stop();
    Ok(Figures {
        tenants: sizes.tenants,
        build_seconds,
        startup_seconds,
        peak_rss_mib,
        threads,
        open_files,
        sockets,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        throughput,
    })
}

/// Creates the tenants, one org each registered at the hub with `endpoint`, and a key each.
/// The API keys, by tenant index.
async fn provision(
    location: &renkei_store::Location,
    master: &Arc<renkei_crypto::datakey::MasterKey>,
    hub: &Arc<renkei_hub::Hub>,
    n: usize,
    endpoint: &str,
) -> Result<Vec<String>> {
    let store = PlatformStore::open(location).await?;
    let (m, h, e) = (master.clone(), hub.clone(), endpoint.to_owned());
    let mut keys = fan_out(n, 8, move |i| {
        let (store, master, hub, endpoint) = (store.clone(), m.clone(), h.clone(), e.clone());
        async move {
            let tenant = TenantId::parse(&tenant_id(i))?;
            store.create_tenant(&master, &tenant, &format!("団体{i}"), "bench").await?;
            let dk = store.data_key(&master, &tenant).await?;
            let org =
                Org {
                    tenant: tenant.clone(), id: OrgId::parse(&org_id(i))?, org_type: OrgType::parse("MUNI")?, name: format!("市長{i}")
                };
            store.create_org(&dk, &org, "bench").await?;
            hub.store.register_org(&crate::admin::entry(&store, &master, &org.id, &endpoint).await?).await?;
            let (secret, hash) = renkei_crypto::apikey::generate();
            store
                .add_api_key(&KeyScope { tenant, org: org.id, duties: renkei_domain::policy::DutyScope::All }, &hash, "bench", "bench")
                .await?;
            Ok((i, secret))
        }
    })
    .await?;
    keys.sort_by_key(|(i, _)| *i);
    Ok(keys.into_iter().map(|(_, k)| k).collect())
}

/// Loads the same residents (persons and a TAX copy each) into every tenant, through the bulk
/// loader of an in-process platform that is closed before `serve` starts.
async fn load_residents(setup: &run::PlatformSetup, tls: &renkei_net::TlsMaterial, dir: &Path, sizes: Sizes) -> Result<()> {
    let platform = run::load_platform(setup, tls).await?;
    let (persons, copies) = (dir.join("persons.csv"), dir.join("copies.csv"));
    write_persons(&persons, sizes.residents)?;
    write_copies(&copies, sizes.residents)?;
    let files = Arc::new((persons, copies));
    fan_out(sizes.tenants, 4, move |i| {
        let (platform, files) = (platform.clone(), files.clone());
        async move {
            let org = OrgId::parse(&org_id(i))?;
            for (kind, file) in [(FileKind::Persons, &files.0), (FileKind::Copies, &files.1)] {
                let opts = ImportOptions { kind, encoding: None, skip_bad: false, actor: "bench".into() };
                let input = std::fs::File::open(file)?;
                let (summary, _) = renkei_server::import::import(platform.clone(), &org, input, opts, Quiet).await?;
                if !summary.applied {
                    bail!("the generated {} file had {} bad lines", kind.name(), summary.bad);
                }
            }
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// The `renkei serve` process under measurement.
struct Serve {
    child: Child,
    log: std::path::PathBuf,
}

impl Serve {
    fn start(dir: &Path, data: &Path, db: Option<&str>, internal: u16, network: u16, hub_url: &str, hub_key: &str) -> Result<Self> {
        let log = dir.join("serve.log");
        let pki = dir.join("pki");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("serve").arg("--data-dir").arg(data).arg("--pki").arg(&pki).args(["--cert-name", "platform"]);
        if let Some(url) = db {
            cmd.args(["--database", url, "--database-schema", "bench_tenants"]);
        }
        cmd.args(["--internal-listen", &format!("127.0.0.1:{internal}"), "--network-listen", &format!("127.0.0.1:{network}")])
            .args(["--hub-url", hub_url, "--hub-key", hub_key])
            .env_remove("RENKEI_DATABASE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        Ok(Self { child: cmd.spawn().context("cannot start renkei serve")?, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Seconds from the process's start until every tenant's key has been answered once.
    async fn wait_serving_all(&mut self, http: &reqwest::Client, base: &str, keys: &[String]) -> Result<f64> {
        let started = Instant::now();
        let (http, base, keys) = (http.clone(), base.to_owned(), Arc::new(keys.to_vec()));
        let n = keys.len();
        let served = fan_out(n, 32, move |i| {
            let (http, base, keys) = (http.clone(), base.clone(), keys.clone());
            async move {
                let deadline = Instant::now() + Duration::from_secs(300);
                loop {
                    match http.get(format!("{base}/api/v1/records?limit=1")).bearer_auth(&keys[i]).send().await {
                        Ok(r) if r.status().is_success() => return Ok(()),
                        Ok(r) => bail!("tenant {} answered {} at start-up", tenant_id(i), r.status()),
                        Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                        Err(e) => bail!("serve did not start: {e}"),
                    }
                }
            }
        });
        if let Err(e) = served.await {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            bail!("{e}; serve's log ends:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmHWM:") / 1024.0
    }

    fn stop(&mut self) {
        // SIGTERM drains; the bench does not wait for the drain's grace period.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

fn proc_status_kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn entries(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, Iterator::count)
}

/// A process's descriptors: (files, sockets). Files are what the store holds open (databases,
/// WALs, shared memory, logs); sockets are the clients' and peers' connections, which follow the
/// load (here `--concurrency` clients and the hub's connections), not the number of tenants.
fn descriptors(pid: u32) -> (usize, usize) {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return (0, 0) };
    let (mut files, mut sockets) = (0, 0);
    for target in fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()) {
        let t = target.to_string_lossy();
        if t.starts_with("socket:") || t.starts_with("anon_inode:") || t.starts_with("pipe:") {
            sockets += 1;
        } else {
            files += 1;
        }
    }
    (files, sockets)
}

/// Samples a process's threads, open files and sockets every 50 ms, keeping the highest.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(usize, usize, usize)>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let (mut threads, mut files, mut sockets) = (0, 0, 0);
            loop {
                threads = threads.max(entries(&format!("/proc/{pid}/task")));
                let (f, s) = descriptors(pid);
                (files, sockets) = (files.max(f), sockets.max(s));
                tokio::select! {
                    _ = &mut stopped => return (threads, files, sockets),
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> (usize, usize, usize) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or((0, 0, 0))
    }
}

/// Offers `sizes.queries` queries at `sizes.rate` a second whatever the answers do (an open
/// loop, so both runs are measured at the same load): query `i` from tenant `i mod N` to the next
/// tenant, about resident `i mod residents`. Waits for every answer. Latencies (filed →
/// answered, ms, sorted) and throughput.
async fn spread_queries(http: &reqwest::Client, base: &str, keys: &[String], sizes: Sizes, tag: &'static str) -> Result<(Vec<f64>, f64)> {
    let n = keys.len();
    let keys = Arc::new(keys.to_vec());
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / sizes.rate.max(0.1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..sizes.queries {
        tick.tick().await;
        let (http, base, keys) = (http.clone(), base.to_owned(), keys.clone());
        set.spawn(async move { one_query(&http, &base, &keys, n, i, sizes.residents, tag).await });
    }
    let mut latencies = Vec::with_capacity(sizes.queries);
    while let Some(r) = set.join_next().await {
        latencies.push(r??);
    }
    let throughput = sizes.queries as f64 / started.elapsed().as_secs_f64().max(0.001);
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, throughput))
}

/// Files query `i` and waits for its answer: its latency (filed → answered, ms, by the
/// server's clock).
async fn one_query(http: &reqwest::Client, base: &str, keys: &[String], n: usize, i: usize, residents: u64, tag: &str) -> Result<f64> {
    let (from, to) = (i % n, (i + 1) % n);
    let body = json!({"duty": "D015", "provider_org": org_id(to), "items": ["TAX"],
        "addressee_no": format!("P{}", i as u64 % residents), "reference_date": "2026-07-01", "idempotency_key": format!("{tag}{i}")});
    let resp = http.post(format!("{base}/api/v1/queries")).bearer_auth(&keys[from]).json(&body).send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    if status.as_u16() != 201 {
        bail!("filing a query failed: {status} {v}");
    }
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..24_000 {
        let v: Value = http.get(format!("{base}/api/v1/queries/{id}")).bearer_auth(&keys[from]).send().await?.json().await?;
        match v["state"].as_str() {
            Some("answered") => {
                let (created, updated) = (v["created_at"].as_i64().unwrap_or(0), v["updated_at"].as_i64().unwrap_or(0));
                return Ok((updated - created) as f64);
            }
            Some("failed") => bail!("a query failed: {}", v["error"]),
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    bail!("query {id} did not finish")
}
