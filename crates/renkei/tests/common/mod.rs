//! A real cluster for integration tests: `renkei pki`, `renkei admin`, `renkei hub register-org`
//! set it up as an operator would, then `renkei hub` and `renkei serve` run as child processes.
#![allow(dead_code)]

use renkei_net::TlsMaterial;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_renkei")
}

/// A port nothing listens on now, below the kernel's ephemeral range (32768–60999 on Linux).
/// Port 0 handed out ephemeral ports, which the kernel also gives the many outgoing connections
/// of parallel tests: between this call and the process binding it, one of them could take it
/// ("Address already in use"). Below that range only another test's pick can collide.
pub fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    // Tests run as processes of their own, each picking ports it binds only later: a port is
    // claimed with a marker file made with create_new, so no two tests of the last half hour
    // are given the same one.
    let claims = std::env::temp_dir().join("renkei-test-ports");
    let _ = std::fs::create_dir_all(&claims);
    for _ in 0..1000 {
        let port = rng.gen_range(10_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let marker = claims.join(port.to_string());
        let stale = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(1800));
        if stale {
            let _ = std::fs::remove_file(&marker);
        }
        if std::fs::OpenOptions::new().write(true).create_new(true).open(&marker).is_ok() {
            return port;
        }
    }
    panic!("no free port in 10000–32000")
}

/// Runs `renkei args…` to completion; panics with its stderr if it fails.
pub fn renkei(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn renkei");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "renkei {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// Which store a cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each named `async fn name(b: Backend)` as two tests, `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::common::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::common::Backend::Postgres).await
            })*
        }
    };
}

/// How the platform is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One platform (both tenants) run by this many `serve` processes on one store.
    Shared(usize),
    /// Two platforms, each with its own store and one `serve` process: tenant-a's (process 0)
    /// and tenant-b's (process 1), so requester and provider can fail independently.
    Split,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub topology: Topology,
    /// `--claim-lease-secs` for the hub and servers, if not the default.
    pub lease_secs: Option<u64>,
    /// Environment for `serve` processes started from now on (e.g. a short query deadline).
    pub serve_env: Vec<(String, String)>,
    /// Environment for the hub process started from now on.
    pub hub_env: Vec<(String, String)>,
    /// The cluster's own PostgreSQL database (platform schema `renkei`, hub schema `renkei_hub`).
    pub db: Option<renkei_store::testing::TestDatabase>,
    /// Platform server processes sharing the store; all but the first have their own ports.
    pub servers: usize,
    pub extra_ports: Vec<(u16, u16)>,
    pub hub_port: u16,
    pub resident_port: u16,
    pub internal_port: u16,
    pub network_port: u16,
    pub keys: HashMap<String, String>,
    /// The hub's verifying key, as servers are given it.
    pub hub_key: String,
    pub http: reqwest::Client,
    children: Vec<Child>,
}

/// Tenants and orgs of the test cluster: (tenant, org, type).
pub const ORGS: &[(&str, &str, &str)] = &[("tenant-a", "a-mayor", "MUNI"), ("tenant-a", "a-edu", "EDU"), ("tenant-b", "b-mayor", "MUNI")];

impl Cluster {
    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    pub async fn start() -> Cluster {
        Self::start_on(Backend::Sqlite).await
    }

    /// `--database URL` for every command of this cluster, or nothing on SQLite.
    pub fn db_args(&self) -> Vec<String> {
        self.db.as_ref().map(|d| vec!["--database".to_string(), d.url.clone()]).unwrap_or_default()
    }

    /// Where the platform (`renkei`) or the hub (`renkei_hub`) keeps its data.
    pub fn location(&self, sub: &str, schema: &str) -> renkei_store::Location {
        renkei_store::Location::new(self.db.as_ref().map(|d| d.url.as_str()), &self.path(sub), schema).expect("location")
    }

    /// Runs `renkei hub SUB --data-dir hub [--database …] ARGS`.
    pub fn hub_cmd(&self, sub: &str, args: &[&str], stdin: Option<&str>) -> String {
        let hub = self.path("hub").display().to_string();
        let mut all = vec!["hub", sub, "--data-dir", &hub];
        let db = self.db_args();
        all.extend(db.iter().map(String::as_str));
        all.extend(args);
        renkei(&all, stdin)
    }

    pub async fn start_on(backend: Backend) -> Cluster {
        Self::start_with(backend, 1).await
    }

    /// A cluster whose platform runs as `servers` processes on one store.
    pub async fn start_with(backend: Backend, servers: usize) -> Cluster {
        Self::start_topology(backend, Topology::Shared(servers), None).await
    }

    /// The platform (0 or 1) hosting `tenant`.
    fn platform_of(topology: Topology, tenant: &str) -> usize {
        usize::from(topology == Topology::Split && tenant == "tenant-b")
    }

    /// The data directory and PostgreSQL schema of platform `p`.
    fn platform_store(p: usize) -> (&'static str, &'static str) {
        if p == 0 { ("platform", "renkei") } else { ("platform-b", "renkei_b") }
    }

    pub async fn start_topology(backend: Backend, topology: Topology, lease_secs: Option<u64>) -> Cluster {
        let servers = match topology {
            Topology::Shared(n) => n,
            Topology::Split => 2,
        };
        let db = (backend == Backend::Postgres)
            .then(|| renkei_store::testing::TestDatabase::create().expect("PostgreSQL for tests (see .ci/run)"));
        let dbargs: Vec<String> = db.as_ref().map(|d| vec!["--database".to_string(), d.url.clone()]).unwrap_or_default();
        let dbargs: Vec<&str> = dbargs.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let d = |s: &str| dir.path().join(s).display().to_string();
        let (pki, hub) = (d("pki"), d("hub"));
        renkei(&["pki", "init", "--dir", &pki], None);
        renkei(&["pki", "issue", "--dir", &pki, "--name", "hub"], None);
        renkei(&["pki", "issue", "--dir", &pki, "--name", "platform"], None);
        let (hub_port, resident_port, internal_port, network_port) = (free_port(), free_port(), free_port(), free_port());
        let extra_ports: Vec<(u16, u16)> = (1..servers).map(|_| (free_port(), free_port())).collect();
        let network_ports: Vec<u16> = std::iter::once(network_port).chain(extra_ports.iter().map(|p| p.1)).collect();
        let admin = |p: usize, args: &[&str]| {
            let (sub, schema) = Self::platform_store(p);
            let plat = d(sub);
            let mut all = vec!["admin", "--data-dir", &plat, "--database-schema", schema];
            all.extend(&dbargs);
            all.extend(args);
            renkei(&all, None)
        };
        let mut keys = HashMap::new();
        let mut tenants = std::collections::HashSet::new();
        for (i, (tenant, org, ty)) in ORGS.iter().enumerate() {
            let p = Self::platform_of(topology, tenant);
            // With several servers of one platform, each org's network endpoint is a different
            // process; with two platforms, the one hosting it.
            let process = match topology {
                Topology::Shared(_) => i % network_ports.len(),
                Topology::Split => p,
            };
            let endpoint = format!("https://127.0.0.1:{}", network_ports[process]);
            if tenants.insert(*tenant) {
                admin(p, &["tenant-create", "--id", tenant, "--name", tenant]);
            }
            let entry = admin(p, &["org-create", "--tenant", tenant, "--id", org, "--type", ty, "--name", org, "--endpoint", &endpoint]);
            let mut register = vec!["hub", "register-org", "--data-dir", &hub];
            register.extend(&dbargs);
            renkei(&register, Some(&entry));
            let key = admin(p, &["api-key-create", "--tenant", tenant, "--org", org]);
            keys.insert(org.to_string(), key.trim().to_owned());
        }
        let tls = TlsMaterial::from_files(
            &dir.path().join("pki/platform.pem"),
            &dir.path().join("pki/platform.key"),
            &dir.path().join("pki/ca.pem"),
        )
        .expect("tls");
        let http = tls.client(Duration::from_secs(20)).expect("client");
        let mut c = Cluster {
            dir,
            topology,
            lease_secs,
            serve_env: Vec::new(),
            hub_env: Vec::new(),
            db,
            servers,
            extra_ports,
            hub_port,
            resident_port,
            internal_port,
            network_port,
            keys,
            hub_key: String::new(),
            http,
            children: vec![],
        };
        c.spawn_processes().await;
        c
    }

    async fn spawn_processes(&mut self) {
        let hub_key = renkei(&["hub", "verify-key", "--data-dir", &self.path("hub").display().to_string()], None).trim().to_owned();
        self.hub_key = hub_key;
        self.children = Vec::new();
        for i in 0..=self.servers {
            let child = self.spawn(i);
            self.children.push(child);
        }
        for i in 0..=self.servers {
            self.wait_process(i).await;
        }
    }

    /// Starts process `i`: 0 is the hub, 1… the `serve` processes (platform process `i - 1`).
    fn spawn(&self, i: usize) -> Child {
        let d = |s: &str| self.dir.path().join(s).display().to_string();
        let log = |name: &str| std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(name)).expect("log file");
        let lease: Vec<String> = self.lease_secs.map(|s| vec!["--claim-lease-secs".to_string(), s.to_string()]).unwrap_or_default();
        if i == 0 {
            return Command::new(bin())
                .args(["hub", "--data-dir", &d("hub"), "--pki", &d("pki"), "--cert-name", "hub"])
                .args(self.db_args())
                .args(&lease)
                .args([
                    "--listen",
                    &format!("127.0.0.1:{}", self.hub_port),
                    "--resident-listen",
                    &format!("127.0.0.1:{}", self.resident_port),
                ])
                .env("RENKEI_LOG", "debug")
                .envs(self.hub_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(Stdio::null())
                .stderr(log("hub.log"))
                .spawn()
                .expect("spawn hub");
        }
        let server = i - 1;
        let (internal, network) = self.ports_of(server);
        let platform = if self.topology == Topology::Split { server } else { 0 };
        let (sub, schema) = Self::platform_store(platform);
        let name = if server == 0 { "serve.log".to_string() } else { format!("serve-{server}.log") };
        Command::new(bin())
            .args(["serve", "--data-dir", &d(sub), "--database-schema", schema, "--pki", &d("pki"), "--cert-name", "platform"])
            .args(self.db_args())
            .args(&lease)
            .args(["--internal-listen", &format!("127.0.0.1:{internal}"), "--network-listen", &format!("127.0.0.1:{network}")])
            .args(["--hub-url", &format!("https://127.0.0.1:{}", self.hub_port), "--hub-key", &self.hub_key])
            .env("RENKEI_LOG", "debug")
            .envs(self.serve_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log(&name))
            .spawn()
            .expect("spawn serve")
    }

    /// (internal, network) ports of platform process `server`.
    fn ports_of(&self, server: usize) -> (u16, u16) {
        if server == 0 { (self.internal_port, self.network_port) } else { self.extra_ports[server - 1] }
    }

    /// Waits until process `i` listens on its ports; if it does not, fails with what the process
    /// said (its log's end) and whether it is still running, so a failure can be told apart
    /// from a slow start.
    async fn wait_process(&mut self, i: usize) {
        let (ports, log) = if i == 0 {
            ([self.hub_port, self.resident_port], "hub.log".to_string())
        } else {
            let (a, b) = self.ports_of(i - 1);
            ([a, b], if i == 1 { "serve.log".to_string() } else { format!("serve-{}.log", i - 1) })
        };
        for port in ports {
            if !wait_port(port).await {
                let status = match self.children[i].try_wait() {
                    Ok(Some(status)) => format!("exited with {status}"),
                    Ok(None) => "still running".to_string(),
                    Err(e) => format!("unknown: {e}"),
                };
                let text = std::fs::read_to_string(self.dir.path().join(&log)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
                panic!("process {i} does not listen on port {port} ({status}); the end of {log}:\n{}", tail.join("\n"));
            }
        }
    }

    /// TLS as a browser or an anonymous client has it: trusts the cluster's CA, no certificate.
    pub fn anonymous_tls(&self) -> rustls::ClientConfig {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(self.path("pki/ca.pem")).expect("CA");
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.expect("CA certificate")).expect("trusted CA");
        }
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// An HTTPS client as a browser is one ([`Cluster::anonymous_tls`]) that follows no redirect,
    /// so a test reads each `Location` and `Set-Cookie` itself.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.anonymous_tls())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A TLS connection to the listener at `base` (`https://host:port`) that trusts the
    /// cluster's CA and presents no certificate, to write requests byte by byte.
    pub async fn raw_tls(&self, base: &str) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let config = self.anonymous_tls();
        let addr = base.trim_start_matches("https://").trim_end_matches('/');
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from(host).expect("server name");
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.expect("TLS")
    }

    /// Sends SIGTERM to process `i` (0 the hub, 1… the servers), as a service manager stops it.
    pub fn terminate_process(&self, i: usize) {
        let pid = self.children[i].id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits up to `limit` for process `i` to exit; its status, if it did.
    pub async fn wait_exit(&mut self, i: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.children[i].try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGKILLs process `i` (0 the hub, 1… the servers) and leaves it down.
    pub fn kill_process(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    /// Starts process `i` again after [`Cluster::kill_process`].
    pub async fn start_process(&mut self, i: usize) {
        self.children[i] = self.spawn(i);
        self.wait_process(i).await;
    }

    /// SIGKILLs process `i` (0 the hub, 1… the servers) and starts it again on the same ports.
    pub async fn kill_and_restart(&mut self, i: usize, down_for: Duration) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
        tokio::time::sleep(down_for).await;
        self.children[i] = self.spawn(i);
        self.wait_process(i).await;
    }

    /// Runs `renkei import KIND FILE --org ORG ARGS…` as an operator on the platform's machine:
    /// (exit code, stdout, stderr).
    pub fn import(&self, kind: &str, file: &Path, org: &str, args: &[&str]) -> (i32, String, String) {
        Self::output(self.import_command(kind, file, org, args))
    }

    /// `renkei SUB… ARGS…` with the platform's data, keys, hub and store, as an operator on the
    /// platform's machine runs a platform command: (exit code, stdout, stderr).
    pub fn platform_command(&self, sub: &[&str], args: &[&str]) -> (i32, String, String) {
        let d = |s: &str| self.dir.path().join(s).display().to_string();
        let mut cmd = Command::new(bin());
        cmd.args(sub)
            .args(["--data-dir", &d("platform"), "--pki", &d("pki"), "--cert-name", "platform"])
            .args(["--hub-url", &self.hub(), "--hub-key", &self.hub_key])
            .args(self.db_args())
            .args(args)
            .env_remove("RENKEI_CONFIG");
        Self::output(cmd)
    }

    /// The command [`Cluster::import`] runs, for a test that runs it otherwise.
    pub fn import_command(&self, kind: &str, file: &Path, org: &str, args: &[&str]) -> Command {
        let d = |s: &str| self.dir.path().join(s).display().to_string();
        let mut cmd = Command::new(bin());
        cmd.args(["import", kind, &file.display().to_string(), "--org", org])
            .args(["--data-dir", &d("platform"), "--pki", &d("pki"), "--cert-name", "platform"])
            .args(["--hub-url", &self.hub(), "--hub-key", &self.hub_key])
            .args(self.db_args())
            .args(args);
        cmd
    }

    /// `renkei sla --data-dir platform [--database …] ARGS…`, as the operator runs it: (exit
    /// code, stdout, stderr).
    pub fn sla(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(bin());
        cmd.args(["sla", "--data-dir"]).arg(self.path("platform")).args(self.db_args()).args(args).env_remove("RENKEI_CONFIG");
        Self::output(cmd)
    }

    /// Runs `cmd` to its end: (exit code, stdout, stderr).
    pub fn output(mut cmd: Command) -> (i32, String, String) {
        let out = cmd.output().expect("run the command");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Kills every process (SIGKILL) and starts them again on the same ports and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn_processes().await;
    }

    fn kill(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The internal API of platform process `i` (0 is the first).
    pub fn internal_of(&self, i: usize) -> String {
        match i {
            0 => self.internal(),
            i => format!("https://127.0.0.1:{}", self.extra_ports[i - 1].0),
        }
    }

    /// The internal API serving `org`'s client systems.
    pub fn internal_for(&self, org: &str) -> String {
        let tenant = ORGS.iter().find(|(_, o, _)| *o == org).map_or("", |(t, _, _)| *t);
        self.internal_of(Self::platform_of(self.topology, tenant))
    }

    pub fn internal(&self) -> String {
        format!("https://127.0.0.1:{}", self.internal_port)
    }

    /// `renkei admin ARGS…` on the platform, `stdin` given (a password, one line).
    /// Runs `renkei admin ARGS…` as [`Cluster::admin_with`] does, for a test that expects it may
    /// fail: (exit code, stdout, stderr).
    pub fn admin_try(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let plat = self.path("platform").display().to_string();
        let mut cmd = Command::new(bin());
        cmd.args(["admin", "--data-dir", &plat, "--database-schema", "renkei"]).args(self.db_args()).args(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn renkei");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn admin_with(&self, args: &[&str], stdin: &str) -> String {
        let plat = self.path("platform").display().to_string();
        let mut all = vec!["admin".to_owned(), "--data-dir".into(), plat, "--database-schema".into(), "renkei".into()];
        all.extend(self.db_args());
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        renkei(&all, Some(stdin))
    }

    /// Signs `name` in by password, enrols the second factor from the URI the API gives, and
    /// returns the session token, now in full.
    pub async fn enrolled_session(&self, name: &str, password: &str) -> String {
        let url = |path: &str| format!("{}{path}", self.internal());
        let body = serde_json::json!({"name": name, "password": password});
        let (s, _, v) = respond(self.http.post(url("/api/v1/session")).json(&body).send().await.unwrap()).await;
        assert_eq!(s, 201, "{v}");
        let token = v["token"].as_str().unwrap().to_owned();
        let (_, _, e) = respond(self.http.post(url("/api/v1/session/totp")).bearer_auth(&token).send().await.unwrap()).await;
        let totp = renkei_crypto::totp::Totp::from_uri(e["otpauth_uri"].as_str().unwrap()).unwrap();
        let confirm = serde_json::json!({"sealed": e["sealed"], "code": totp.code(unix_now())});
        let resp = self.http.post(url("/api/v1/session/totp/confirm")).bearer_auth(&token).json(&confirm).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        token
    }
    /// Creates a person's account with `renkei admin account-create` (password `a long
    /// passphrase`), signs them in with the second factor enrolled, and returns the session.
    pub async fn person(&self, tenant: &str, name: &str, role: &str, org: Option<&str>) -> String {
        let mut args = vec!["account-create", "--tenant", tenant, "--name", name, "--role", role];
        if let Some(o) = org {
            args.extend(["--org", o]);
        }
        self.admin_with(&args, "a long passphrase\n");
        self.enrolled_session(name, "a long passphrase").await
    }

    /// Bootstraps the operator `root` (`renkei admin operator-create`) and signs them in with
    /// the second factor the command printed.
    pub async fn operator_session(&self) -> String {
        let out = self.admin_with(&["operator-create", "--name", "root"], "operator passphrase\n");
        let uri = out.lines().find(|l| l.starts_with("otpauth://")).expect("the command prints the otpauth URI");
        let totp = renkei_crypto::totp::Totp::from_uri(uri).unwrap();
        let body = serde_json::json!({"name": "root", "password": "operator passphrase", "code": totp.code(unix_now())});
        let (s, _, v) = respond(self.http.post(format!("{}/api/v1/session", self.internal())).json(&body).send().await.unwrap()).await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// Calls the internal API with a person's session: (status, content type, body).
    pub async fn as_person(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, String, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.internal())).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        respond(req.send().await.expect("request")).await
    }

    pub fn network(&self) -> String {
        format!("https://127.0.0.1:{}", self.network_port)
    }
    pub fn hub(&self) -> String {
        format!("https://127.0.0.1:{}", self.hub_port)
    }

    /// Calls the internal API as `org`'s client system: (status, content type, body).
    pub async fn api(&self, org: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, String, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.internal_for(org))).bearer_auth(&self.keys[org]);
        if let Some(b) = body {
            req = req.json(&b);
        }
        respond(req.send().await.expect("request")).await
    }

    /// Every linkage record of `org`, read a page at a time (`GET /api/v1/records` follows `next`).
    pub async fn all_records(&self, org: &str) -> Vec<Value> {
        let (mut all, mut after) = (Vec::new(), None::<String>);
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/records?limit=1000&after={a}"),
                None => "/api/v1/records?limit=1000".to_string(),
            };
            let (s, _, page) = self.api(org, reqwest::Method::GET, &path, None).await;
            assert_eq!(s, 200, "{page}");
            all.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    pub async fn register(&self, org: &str, addressee: &str, number: &str) -> (u16, String, Value) {
        self.api(
            org,
            reqwest::Method::POST,
            "/api/v1/persons",
            Some(serde_json::json!({"addressee_no": addressee, "individual_number": number})),
        )
        .await
    }

    pub async fn copy(&self, org: &str, addressee: &str, item: &str, valid_from: &str, fields: Value) -> (u16, String, Value) {
        self.api(
            org,
            reqwest::Method::POST,
            "/api/v1/copies",
            Some(serde_json::json!({"addressee_no": addressee, "item": item, "valid_from": valid_from, "fields": fields})),
        )
        .await
    }

    pub async fn file(&self, org: &str, provider: &str, duty: &str, items: &[&str], addressee: &str, key: &str) -> (u16, String, Value) {
        let body = serde_json::json!({"duty": duty, "provider_org": provider, "items": items, "addressee_no": addressee, "reference_date": "2026-07-01", "idempotency_key": key});
        self.api(org, reqwest::Method::POST, "/api/v1/queries", Some(body)).await
    }

    /// Polls a query until it is answered or failed.
    pub async fn wait_final(&self, org: &str, id: &str) -> Value {
        for _ in 0..400 {
            let (_, _, v) = self.api(org, reqwest::Method::GET, &format!("/api/v1/queries/{id}"), None).await;
            if matches!(v["state"].as_str(), Some("answered" | "failed")) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("query {id} did not reach a final state");
    }
}

impl Drop for Cluster {
    /// Stops every process. When a test fails, its directory (each process's log, the stores)
    /// is kept and its path printed, so an intermittent failure can be read afterwards.
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temporary directory")).keep();
            eprintln!("the failed test's cluster (logs, stores) is kept in {}", kept.display());
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub async fn respond(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, ct, body)
}

/// Whether something listens on `port` within 20 s (a cold start under a full test run on two
/// cores can take several seconds).
async fn wait_port(port: u16) -> bool {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A valid Individual Number made from an 11-digit seed.
pub fn number(seed: u64) -> String {
    let first: Vec<u8> = format!("{:011}", seed % 100_000_000_000).bytes().map(|b| b - b'0').collect();
    renkei_domain::IndividualNumber::from_first_eleven(&first).expect("11 digits").expose().to_string()
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
