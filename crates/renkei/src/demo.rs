//! `renkei demo`: the whole linkage on loopback. A hub, one platform hosting 甲市 (mayor and
//! board of education) and 乙町, and a separate server for a 健康保険組合 — each with its own
//! data directory and TLS certificate — then synthetic residents, provision copies and queries
//! that show every outcome — an approved query (電子決裁), a withheld item (不開示) and one held
//! for the provider's staff (自動応答不可) among them, taken by the municipalities' own people
//! signed in with their second factor. Everything goes through the same code and HTTPS APIs as
//! production.

mod people;
mod sla;

use crate::run::{self, HubListeners, PlatformListeners, PlatformSetup, Shutdown};
use anyhow::{Context, Result, bail};
use clap::Args;
use rand::Rng;
use renkei_domain::{IndividualNumber, OrgId, OrgType, TenantId};
use renkei_net::TlsMaterial;
use renkei_store::Location;
use renkei_store::platform::{KeyScope, Org, PlatformStore};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct DemoArgs {
    /// Run the scenarios, print the table and exit (non-zero if an outcome was not as expected).
    #[arg(long)]
    once: bool,
    /// Keep everything here (default: a new temporary directory, kept and printed).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the stores in PostgreSQL (schemas <schema>, <schema>_kenpo and <schema>_hub, default
    /// schema renkei_demo) instead of SQLite files. A new data directory starts them afresh.
    #[command(flatten)]
    db: run::DbArgs,
    /// Print the current second-factor code of the demo person NAME (of --data-dir's people
    /// file) and exit: for signing in on the pages without an authenticator app.
    #[arg(long, value_name = "NAME", requires = "data_dir")]
    code: Option<String>,
}

pub(crate) struct DemoTenant {
    pub id: &'static str,
    pub name: &'static str,
    /// (org id, org type, name).
    pub orgs: &'static [(&'static str, &'static str, &'static str)],
}

const PLATFORM_TENANTS: &[DemoTenant] = &[
    DemoTenant { id: "kou-city", name: "甲市", orgs: &[("kou-mayor", "MUNI", "甲市長"), ("kou-edu", "EDU", "甲市教育委員会")] },
    DemoTenant { id: "otsu-town", name: "乙町", orgs: &[("otsu-mayor", "MUNI", "乙町長")] },
];
/// 甲市's own table of in-house uses (条例に基づく独自利用事務), in the layout of 別表第二.
const IN_HOUSE_USES: &str = "row,requester_type,requester_name,duty_code,duty_name,provider_type,provider_name,item_code,item_name
1,EDU,教育委員会,D014,就学援助に関する事務,MUNI,市町村長,TAX,地方税関係情報
";

/// How long the demo's queries may take.
const DEMO_QUERY_DEADLINE: Duration = Duration::from_secs(60);

const KENPO_TENANTS: &[DemoTenant] =
    &[DemoTenant { id: "kenpo", name: "renkei健康保険組合", orgs: &[("kenpo-union", "KENPO", "renkei健康保険組合")] }];

pub(crate) fn pki(dir: &Path, name: &str) -> Result<TlsMaterial> {
    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    if !dir.join("ca.pem").exists() {
        let ca = renkei_crypto::pki::new_ca()?;
        run::write_private(&dir.join("ca.key"), &ca.key_pem)?;
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
    }
    let ca = renkei_crypto::pki::Issued {
        cert_pem: std::fs::read_to_string(dir.join("ca.pem"))?,
        key_pem: std::fs::read_to_string(dir.join("ca.key"))?,
    };
    let cert = renkei_crypto::pki::issue(&ca, name, &hosts)?;
    run::write_private(&dir.join(format!("{name}.key")), &cert.key_pem)?;
    std::fs::write(dir.join(format!("{name}.pem")), &cert.cert_pem)?;
    Ok(TlsMaterial { cert_pem: cert.cert_pem, key_pem: cert.key_pem, ca_pem: ca.cert_pem })
}

/// Creates the tenants and orgs (once per data directory), registers each org in the hub's
/// directory at `endpoint`, and makes one API key per org.
pub(crate) async fn provision(
    dir: &Path,
    location: &Location,
    tenants: &[DemoTenant],
    endpoint: &str,
    hub: &renkei_hub::Hub,
) -> Result<Vec<(String, String)>> {
    let master = run::master_key(dir, None)?;
    let store = PlatformStore::open(location).await?;
    let existing: Vec<String> = store.tenants().await?.into_iter().map(|t| t.id.to_string()).collect();
    let mut keys = Vec::new();
    for t in tenants {
        let tid = TenantId::parse(t.id)?;
        if !existing.iter().any(|e| e == t.id) {
            store.create_tenant(&master, &tid, t.name, "demo").await?;
            let dk = store.data_key(&master, &tid).await?;
            for (id, ty, name) in t.orgs {
                let org = Org { tenant: tid.clone(), id: OrgId::parse(id)?, org_type: OrgType::parse(ty)?, name: (*name).to_owned() };
                store.create_org(&dk, &org, "demo").await?;
            }
        }
        for (id, _, _) in t.orgs {
            let org = OrgId::parse(id)?;
            hub.store.register_org(&crate::admin::entry(&store, &master, &org, endpoint).await?).await?;
            let (secret, hash) = renkei_crypto::apikey::generate();
            store
                .add_api_key(
                    &KeyScope { tenant: tid.clone(), org: org.clone(), duties: renkei_domain::policy::DutyScope::All },
                    &hash,
                    "demo client",
                    "demo",
                )
                .await?;
            keys.push((id.to_string(), secret));
        }
    }
    Ok(keys)
}

/// What the demo runs with, written as configuration files into its data directory so that each
/// piece can be run again on its own: `renkei hub --config DIR/renkei.toml`, `renkei serve
/// --config DIR/renkei.toml` (the shared platform) and `renkei serve --config DIR/kenpo.toml`.
struct DemoConfig<'a> {
    dir: &'a Path,
    database_file: Option<PathBuf>,
    schema: &'a str,
    hub: (std::net::SocketAddr, std::net::SocketAddr),
    hub_key: renkei_crypto::signing::VerifyingKey,
}

impl DemoConfig<'_> {
    fn write(&self, servers: &[(&str, std::net::SocketAddr, std::net::SocketAddr)]) -> Result<()> {
        let path = |p: PathBuf| toml::Value::String(p.display().to_string());
        let text = |t: String| toml::Value::String(t);
        let store = |sub: &str, schema: String| -> toml::Table {
            let mut t = toml::Table::new();
            t.insert("data_dir".into(), path(self.dir.join(sub)));
            if let Some(f) = &self.database_file {
                t.insert("database_file".into(), path(f.clone()));
                t.insert("database_schema".into(), text(schema));
            }
            t.insert("pki".into(), path(self.dir.join("pki")));
            t.insert("cert_name".into(), text(sub.into()));
            t
        };
        let mut hub = store("hub", format!("{}_hub", self.schema));
        hub.insert("listen".into(), text(self.hub.0.to_string()));
        hub.insert("resident_listen".into(), text(self.hub.1.to_string()));
        for (sub, internal, network) in servers {
            let schema = if *sub == "platform" { self.schema.to_owned() } else { format!("{}_{sub}", self.schema) };
            let mut platform = store(sub, schema);
            platform.insert("hub_url".into(), text(format!("https://{}", self.hub.0)));
            platform.insert("hub_key".into(), text(self.hub_key.to_base64()));
            let mut serve = toml::Table::new();
            serve.insert("internal_listen".into(), text(internal.to_string()));
            serve.insert("network_listen".into(), text(network.to_string()));
            serve.insert("query_deadline_secs".into(), toml::Value::Integer(DEMO_QUERY_DEADLINE.as_secs() as i64));
            let mut file = vec![("platform", platform), ("serve", serve)];
            let name = if *sub == "platform" {
                file.push(("hub", hub.clone()));
                "renkei.toml".to_owned()
            } else {
                format!("{sub}.toml")
            };
            crate::config::write(
                &self.dir.join(name),
                "Written by `renkei demo`: what it ran with, to run a piece again on its own.",
                file,
            )?;
        }
        Ok(())
    }
}

/// A client system of one org, calling the internal API over HTTPS.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.context("calling the internal API")?;
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }
    async fn register(&self, addressee: &str, number: &IndividualNumber) -> Result<()> {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/persons",
                Some(json!({"addressee_no": addressee, "individual_number": number.expose().as_str()})),
            )
            .await?;
        if s != 201 && s != 200 {
            bail!("registering a person failed: {s} {v}");
        }
        Ok(())
    }
    async fn put_csv(&self, path: &str, csv: &'static str) -> Result<(u16, Value)> {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// Calls and fails unless the answer is `status`.
    async fn expect(&self, method: reqwest::Method, path: &str, body: Value, status: u16) -> Result<()> {
        let (s, v) = self.call(method, path, Some(body)).await?;
        if s != status {
            bail!("{path} answered {s}: {v}");
        }
        Ok(())
    }
    async fn mark(&self, addressee: &str, item: &str, mark: &str) -> Result<()> {
        self.expect(reqwest::Method::PUT, "/api/v1/marks", json!({"addressee_no": addressee, "item": item, "mark": mark}), 200).await
    }
    async fn copy(&self, addressee: &str, item: &str, valid_from: &str, fields: Value) -> Result<()> {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/copies",
                Some(json!({"addressee_no": addressee, "item": item, "valid_from": valid_from, "fields": fields})),
            )
            .await?;
        if s != 200 {
            bail!("storing a provision copy failed: {s} {v}");
        }
        Ok(())
    }
}

/// Synthetic residents come from a generator seeded per data directory, so running the demo
/// again on the same directory registers the same people again (idempotently).
fn synthetic_number(rng: &mut rand::rngs::StdRng) -> IndividualNumber {
    let first: Vec<u8> = (0..11).map(|i| if i == 0 { rng.gen_range(1..10) } else { rng.gen_range(0..10) }).collect();
    IndividualNumber::from_first_eleven(&first).expect("11 digits")
}

/// Who files a scenario's query, and what a person does before its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scene {
    /// The requester's client system files it.
    ByKey,
    /// The requester's staff member files it; its duty needs approval, which the approver gives.
    Approved,
    /// The client system files it; the provider holds it for review, and its staff provide it.
    Reviewed,
}

struct Scenario {
    name: &'static str,
    scene: Scene,
    requester: &'static str,
    provider: &'static str,
    duty: &'static str,
    items: &'static [&'static str],
    addressee: &'static str,
    expected: &'static str,
}

pub async fn run(a: DemoArgs) -> Result<ExitCode> {
    if let (Some(name), Some(dir)) = (&a.code, &a.data_dir) {
        println!("{}", people::current_code(dir, name)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = match a.data_dir {
        Some(d) => d,
        None => tempfile::Builder::new().prefix("renkei-demo-").tempdir()?.keep(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = a.db.database_schema.clone().unwrap_or_else(|| "renkei_demo".into());
    let location = |sub: &str, schema: String| a.db.location(&dir.join(sub), &schema);
    let hub_location = location("hub", format!("{base}_hub"))?;
    let platform_locations = [location("platform", base.clone())?, location("kenpo", format!("{base}_kenpo"))?];
    if !dir.join("platform").join("master.key").exists() {
        // A new data directory has new keys: stores left in PostgreSQL by an earlier demo could
        // not be opened with them, so the demo's own schemas start afresh.
        for l in platform_locations.iter().chain([&hub_location]) {
            renkei_store::db::reset(l).await?;
        }
    }
    let pki_dir = dir.join("pki");
    let (hub_tls, platform_tls, kenpo_tls) = (pki(&pki_dir, "hub")?, pki(&pki_dir, "platform")?, pki(&pki_dir, "kenpo")?);
    let matrix = run::load_matrix(None)?;
    let (tx, shutdown) = Shutdown::new();

    let (hub_net, hub_net_addr) = run::bind("127.0.0.1:0").await?;
    let (hub_res, hub_res_addr) = run::bind("127.0.0.1:0").await?;
    let hub = run::start_hub(
        run::hub_keys(&dir.join("hub"), &run::HubKeyFiles::default())?,
        &hub_location,
        &hub_tls,
        matrix.clone(),
        HubListeners { network: hub_net, resident: hub_res },
        run::Timing::default(),
        shutdown.clone(),
    )
    .await?;
    let hub_url = format!("https://{hub_net_addr}");

    let mut servers = Vec::new();
    let mut keys = Vec::new();
    let mut people = Vec::new();
    let platforms = [("platform", &platform_tls, PLATFORM_TENANTS), ("kenpo", &kenpo_tls, KENPO_TENANTS)];
    for ((sub, tls, tenants), location) in platforms.into_iter().zip(&platform_locations) {
        let data = dir.join(sub);
        let (internal, ia) = run::bind("127.0.0.1:0").await?;
        let (network, na) = run::bind("127.0.0.1:0").await?;
        keys.extend(
            provision(&data, location, tenants, &format!("https://{na}"), &hub)
                .await?
                .into_iter()
                .map(|(org, k)| (org, k, format!("https://{ia}"))),
        );
        let master = run::master_key(&data, None)?;
        if sub == "platform" {
            people = people::provision(&dir, &PlatformStore::open(location).await?, &master, tenants).await?;
        }
        let setup = PlatformSetup {
            location: location.clone(),
            master: std::sync::Arc::new(master),
            matrix: matrix.clone(),
            hub_url: hub_url.clone(),
            hub_key: hub.signing.verifying_key(),
            query_deadline: DEMO_QUERY_DEADLINE,
            claim_lease: run::DEFAULT_CLAIM_LEASE,
            freshness: run::DEFAULT_FRESHNESS,
            limits: renkei_net::listener::Limits::default(),
            audit_checkpoint_every: renkei_server::audit::CHECKPOINT_EVERY,
            contracts: Default::default(),
        };
        run::start_platform(&setup, tls, PlatformListeners { internal, network }, shutdown.clone()).await?;
        servers.push((sub, ia, na));
    }
    let database_file = match (&a.db.database, &a.db.database_file) {
        (Some(url), _) => {
            // The URL may hold a password, which a configuration file never does.
            let file = dir.join("database-url");
            run::write_private(&file, url)?;
            Some(file)
        }
        (None, file) => file.clone(),
    };
    let written =
        DemoConfig { dir: &dir, database_file, schema: &base, hub: (hub_net_addr, hub_res_addr), hub_key: hub.signing.verifying_key() };
    written.write(&servers)?;
    let keys_file = dir.join("demo-api-keys.txt");
    run::write_private(&keys_file, &keys.iter().map(|(o, k, u)| format!("{o}\t{u}\t{k}\n")).collect::<String>())?;

    // Client systems present no certificate; they authenticate with their API key.
    let http = renkei_net::tls::client_trusting(&platform_tls.ca_pem, Duration::from_secs(30))?;
    let client = |org: &str| -> Result<Client> {
        let (_, key, base) = keys.iter().find(|(o, _, _)| o == org).context("demo org")?;
        Ok(Client { http: http.clone(), base: base.clone(), key: key.clone() })
    };

    // Synthetic residents. R1 is insured by the union and lives in 甲市; R2 is insured but
    // unknown to 乙町; R3 moved from 甲市 to 乙町 this year; the rest are 甲市's population.
    let seed: u64 = run::secret_text("RENKEI_DEMO_SEED", &dir.join("demo.seed"), || rand::random::<u64>().to_string())?
        .trim()
        .parse()
        .context("demo.seed")?;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let (r1, r2, r3) = (synthetic_number(&mut rng), synthetic_number(&mut rng), synthetic_number(&mut rng));
    // R4's tax is withheld by 甲市 (e.g. DV protection); R5's is answered only by its staff.
    let (r4, r5) = (synthetic_number(&mut rng), synthetic_number(&mut rng));
    let (kou, edu, otsu, kenpo) = (client("kou-mayor")?, client("kou-edu")?, client("otsu-mayor")?, client("kenpo-union")?);
    kou.register("K-R1", &r1).await?;
    kou.register("K-R3", &r3).await?;
    edu.register("K-R1", &r1).await?;
    kenpo.register("U-R1", &r1).await?;
    kenpo.register("U-R2", &r2).await?;
    otsu.register("O-R3", &r3).await?;
    for (k, u, r) in [("K-R4", "U-R4", &r4), ("K-R5", "U-R5", &r5)] {
        kou.register(k, r).await?;
        kenpo.register(u, r).await?;
        kou.copy(k, "TAX", "2026-06-01", json!({"fiscal_year": 2026, "taxable_income": 2_900_000})).await?;
    }
    kou.mark("K-R4", "TAX", "withheld").await?;
    kou.mark("K-R5", "TAX", "manual").await?;
    kou.copy("K-R1", "TAX", "2025-06-01", json!({"fiscal_year": 2025, "taxable_income": 3_200_000, "resident_tax": 182_000})).await?;
    kou.copy("K-R1", "TAX", "2026-06-01", json!({"fiscal_year": 2026, "taxable_income": 3_350_000, "resident_tax": 190_500})).await?;
    kou.copy("K-R3", "TAX", "2026-06-01", json!({"fiscal_year": 2026, "taxable_income": 2_480_000, "resident_tax": 131_000})).await?;
    let population = 40;
    for i in 0..population {
        let a = format!("K-P{i:04}");
        kou.register(&a, &synthetic_number(&mut rng)).await?;
        kou.copy(&a, "TAX", "2026-06-01", json!({"fiscal_year": 2026, "taxable_income": 1_000_000 + i * 10_000})).await?;
    }
    drop((r1, r2, r3, r4, r5));

    // 乙町's people: its admin has D015 of the mayor's org wait for approval and gives its staff
    // member that duty.
    let internal = keys.iter().find(|(o, _, _)| o == "otsu-mayor").map(|(_, _, u)| u.clone()).context("demo org")?;
    let person = |name: &str| people.iter().find(|p| p.name == name).context("demo person");
    let signed_in = |name: &'static str| {
        let (http, internal) = (http.clone(), internal.clone());
        let p = person(name);
        async move { Ok::<_, anyhow::Error>(Client { key: people::sign_in(&http, &internal, p?).await?, http, base: internal }) }
    };
    let otsu_admin = signed_in("otsu-town-admin").await?;
    otsu_admin.expect(reqwest::Method::PUT, "/api/v1/approval-policies/otsu-mayor/D015", json!({"window_minutes": 60}), 200).await?;
    otsu_admin.expect(reqwest::Method::PUT, "/api/v1/accounts/otsu-town-staff/duties", json!({"duties": ["D015"]}), 200).await?;
    // 甲市's admin gives its table of in-house uses: 教育委員会 asks 市長 for tax information
    // inside the platform (庁内連携), without the hub.
    let kou_admin = signed_in("kou-city-admin").await?;
    let (s, v) = kou_admin.put_csv("/api/v1/in-house-uses", IN_HOUSE_USES).await?;
    if s != 200 {
        bail!("setting 甲市's in-house uses failed: {s} {v}");
    }
    let (otsu_staff, otsu_approver, kou_staff) =
        (signed_in("otsu-town-staff").await?, signed_in("otsu-town-approver").await?, signed_in("kou-city-staff").await?);

    let scenarios = [
        Scenario {
            name: "found",
            scene: Scene::ByKey,
            requester: "kenpo-union",
            provider: "kou-mayor",
            duty: "D003",
            items: &["TAX"],
            addressee: "U-R1",
            expected: "found",
        },
        Scenario {
            name: "not registered",
            scene: Scene::ByKey,
            requester: "kenpo-union",
            provider: "otsu-mayor",
            duty: "D003",
            items: &["RESIDENT"],
            addressee: "U-R2",
            expected: "not_registered",
        },
        Scenario {
            name: "no copy",
            scene: Scene::ByKey,
            requester: "kenpo-union",
            provider: "kou-mayor",
            duty: "D003",
            items: &["RESIDENT"],
            addressee: "U-R1",
            expected: "no_copy",
        },
        Scenario {
            name: "denied by 別表第二",
            scene: Scene::ByKey,
            requester: "kou-edu",
            provider: "otsu-mayor",
            duty: "D014",
            items: &["RESIDENT"],
            addressee: "K-R1",
            expected: "matrix-denied",
        },
        Scenario {
            name: "moved 甲市→乙町, approved",
            scene: Scene::Approved,
            requester: "otsu-mayor",
            provider: "kou-mayor",
            duty: "D015",
            items: &["TAX"],
            addressee: "O-R3",
            expected: "found",
        },
        Scenario {
            name: "withheld (不開示)",
            scene: Scene::ByKey,
            requester: "kenpo-union",
            provider: "kou-mayor",
            duty: "D003",
            items: &["TAX"],
            addressee: "U-R4",
            expected: "withheld",
        },
        Scenario {
            name: "manual review (自動応答不可)",
            scene: Scene::Reviewed,
            requester: "kenpo-union",
            provider: "kou-mayor",
            duty: "D003",
            items: &["TAX"],
            addressee: "U-R5",
            expected: "found",
        },
        Scenario {
            name: "same office, in-house (庁内連携)",
            scene: Scene::ByKey,
            requester: "kou-edu",
            provider: "kou-mayor",
            duty: "D014",
            items: &["TAX"],
            addressee: "K-R1",
            expected: "found",
        },
    ];
    let mut rows = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let key_client = client(s.requester)?;
        let c = if s.scene == Scene::Approved { &otsu_staff } else { &key_client };
        let (status, v) = c
            .call(
                reqwest::Method::POST,
                "/api/v1/queries",
                Some(json!({"duty": s.duty, "provider_org": s.provider, "items": s.items, "addressee_no": s.addressee,
                            "reference_date": "2026-07-01", "idempotency_key": format!("demo-{i}-{}", rand::thread_rng().r#gen::<u64>())})),
            )
            .await?;
        let actual = if status == 201 {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            match s.scene {
                Scene::ByKey => {}
                Scene::Approved => {
                    otsu_approver
                        .expect(reqwest::Method::POST, &format!("/api/v1/approvals/{id}"), json!({"decision": "approve"}), 200)
                        .await?
                }
                Scene::Reviewed => review(&kou_staff, v["request_id"].as_str().unwrap_or_default()).await?,
            }
            wait_final(c, &id).await?
        } else {
            v["type"].as_str().and_then(|t| t.rsplit(':').next()).unwrap_or("?").to_owned()
        };
        rows.push((s, actual));
    }

    // The hub keeps one linkage record per routed query.
    let hub_records = hub.store.record_count().await?;

    // Operations: the SLA monitor, an incident caused and recovered, its mails, the report.
    let platform_store = PlatformStore::open(&platform_locations[0]).await?;
    let platform_master = std::sync::Arc::new(run::master_key(&dir.join("platform"), None)?);
    let internal_url = format!("https://{}", servers[0].1);
    let ops = sla::run(&dir, &platform_store, platform_master, &matrix, &internal_url, &platform_tls.ca_pem).await?;

    let ok = rows.iter().all(|(s, actual)| s.expected == actual);
    println!("renkei demo — My Number information linkage on loopback\n");
    println!(
        "{:<30} {:<12} {:<11} {:<5} {:<9} {:<15} {:<15} result",
        "scenario", "requester", "provider", "duty", "items", "expected", "actual"
    );
    for (s, actual) in &rows {
        let mark = if s.expected == actual { "ok" } else { "UNEXPECTED" };
        println!(
            "{:<30} {:<12} {:<11} {:<5} {:<9} {:<15} {:<15} {mark}",
            s.name,
            s.requester,
            s.provider,
            s.duty,
            s.items.join("+"),
            s.expected,
            actual
        );
    }
    println!("\nresidents registered: {} (5 named + {population} population); hub linkage records: {hub_records}", population + 5);
    println!("\nwhere to look:");
    println!("  data directory      {}", dir.display());
    println!("  hub                 {hub_url} (mutual TLS)   resident disclosure https://{hub_res_addr}/hub/v1/disclosure");
    for (sub, ia, na) in &servers {
        println!("  {sub:<19} internal https://{ia}/api/v1   network https://{na}/net/v1");
    }
    println!("  API keys            {} (org, internal URL, key)", keys_file.display());
    println!("  people              {} (name, role, tenant, org, password, otpauth URI)", people::file(&dir).display());
    for p in &people {
        println!("    {:<19} {:<13} {}", p.name, p.role.code(), p.org.as_deref().unwrap_or(&p.tenant));
    }
    println!("  OpenAPI             https://{}/api/openapi.json   CA: {}", servers[0].1, pki_dir.join("ca.pem").display());
    println!("  status page         {}   (JSON: {}.json)", ops.status_url, ops.status_url);
    println!(
        "  SLA monitor         甲市 probed as a user; {} incidents caused (its API key revoked) and recovered; `renkei sla --data-dir {} probes --tenant kou-city`",
        ops.incidents,
        dir.join("platform").display()
    );
    println!("  report              {} (運用サービス実績報告書; PDF: renkei sla … report --format pdf)", ops.report.display());
    println!("                      also a page for 甲市's admin: https://{}/tenants/kou-city/report?month={}", servers[0].1, ops.month);
    println!(
        "  compliance sheet    renkei sla --data-dir {} compliance --tenant kou-city --month {} (表2-8・表2-13; --format csv)",
        dir.join("platform").display(),
        ops.month
    );
    println!("  mail sent           {} ({} notices, .eml files)", ops.mail_dir.display(), ops.mails);
    println!(
        "  web pages (日本語)   https://{}/sign-in   sign in as a person above: their password is in the people file, and the code \
         comes from their otpauth URI in any authenticator app, or from `renkei demo --data-dir {} --code NAME`",
        servers[0].1,
        dir.display()
    );

    if a.once {
        let _ = tx.send(true);
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    println!("\nserving; press Ctrl-C to stop");
    crate::until_signal().await;
    let _ = tx.send(true);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Waits until the provider holds the query `request_id` for review, and provides it.
async fn review(staff: &Client, request_id: &str) -> Result<()> {
    for _ in 0..600 {
        let (_, v) = staff.call(reqwest::Method::GET, "/api/v1/reviews", None).await?;
        let held = v["queries"].as_array().is_some_and(|q| q.iter().any(|q| q["request_id"] == request_id));
        if held {
            return staff
                .expect(reqwest::Method::POST, &format!("/api/v1/reviews/{request_id}"), json!({"decision": "provide"}), 204)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the provider never held the query for review")
}

async fn wait_final(c: &Client, id: &str) -> Result<String> {
    for _ in 0..600 {
        let (_, v) = c.call(reqwest::Method::GET, &format!("/api/v1/queries/{id}"), None).await?;
        let items = v["answer"]["items"].as_array().cloned().unwrap_or_default();
        match v["state"].as_str() {
            Some("answered") if !items.is_empty() && items.iter().all(|i| i["status"] == "withheld") => return Ok("withheld".into()),
            Some("answered") => return Ok(v["outcome"].as_str().unwrap_or("?").to_owned()),
            Some("failed") => return Ok(format!("failed: {}", v["error"].as_str().unwrap_or("?"))),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok("timed out".into())
}
