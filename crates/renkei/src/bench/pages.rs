//! `renkei bench pages`: the staff pages as browsers ask for them over HTTPS — the home page, the
//! query form and a query's page — with many staff signed in at once, each asking for a page,
//! reading it for a while (think time) and asking again: an open loop, the latency at a load
//! offices make, not the throughput at saturation. Also the bytes each page sends with the
//! stylesheet and script it loads (before compression).
//!
//! Baseline, in the same run at the same load: the smallest signed-in answer, the JSON API's
//! `GET /api/v1/session` — what every page pays for TLS, HTTP and the session check.

use super::{Client, Report, Rig, backend_name, cpu_seconds, percentile, write_copies, write_persons};
use anyhow::{Context, Result, bail};
use renkei_domain::bulk::FileKind;
use renkei_domain::policy::Role;
use renkei_domain::{AccountName, DutyCode, OrgId, TenantId};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench staff passphrase";

pub struct Sizes {
    pub staff: usize,
    pub seconds: u64,
    pub think_ms: u64,
}

/// Latencies of one page under the load, in ms.
struct PageRun {
    path: String,
    latencies_ms: Vec<f64>,
    bytes: usize,
}

impl PageRun {
    fn p(&self, q: f64) -> f64 {
        percentile(&self.latencies_ms, q)
    }
}

pub async fn pages(db: Option<&str>, sizes: Sizes) -> Result<Report> {
    let rig = Rig::start(db).await?;
    let people = 100;
    let (persons, copies) = (rig.dir.path().join("persons.csv"), rig.dir.path().join("copies.csv"));
    write_persons(&persons, people)?;
    write_copies(&copies, people)?;
    rig.load("req-mayor", FileKind::Persons, &persons).await?;
    rig.load("prov-mayor", FileKind::Persons, &persons).await?;
    rig.load("prov-mayor", FileKind::Copies, &copies).await?;
    let http = renkei_net::tls::client_trusting(&rig.ca_pem, Duration::from_secs(60))?;

    // The staff, each signed in with a second factor, as a browser's cookie holds the session.
    let tenant = TenantId::parse("bench-req")?;
    let org = OrgId::parse("req-mayor")?;
    let mut tokens = Vec::with_capacity(sizes.staff);
    for i in 0..sizes.staff {
        let name = AccountName::parse(&format!("staff-{i:04}"))?;
        let who =
            renkei_server::accounts::Person { name: &name, tenant: Some(&tenant), org: Some(&org), role: Role::Staff, consortium: None };
        rig.platform.create_account(who, PASSWORD, "bench", "operator").await?;
        rig.platform.assign_duties(&tenant, &name, &[DutyCode::parse("D015")?], ("bench", "operator")).await?;
        tokens.push(signed_in(&http, &rig.internal, name.as_str()).await?);
    }
    // The org's queries, answered: what the home page lists and a query's page shows.
    let client = Client { http: http.clone(), base: rig.internal.clone(), key: rig.key("req-mayor")? };
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(client.file(n, people, "pages").await?);
    }
    client.settle(&ids).await?;
    let query = format!("/queries/{}", ids[0]);
    let paths = ["/".to_owned(), "/queries/new".to_owned(), query];

    // What each page sends: its HTML, and the stylesheet and script it loads.
    let get = |path: &str, token: &str| {
        http.get(format!("{}{path}", rig.internal)).header("cookie", format!("__Host-renkei-session={token}")).send()
    };
    let mut assets = 0;
    for asset in [renkei_net::page::STYLESHEET, renkei_net::page::SCRIPT] {
        let r = get(asset, &tokens[0]).await?;
        if !r.status().is_success() {
            bail!("{asset}: {}", r.status());
        }
        assets += r.bytes().await?.len();
    }
    let mut bytes = Vec::new();
    for path in &paths {
        let r = get(path, &tokens[0]).await?;
        if r.status().as_u16() != 200 {
            bail!("{path}: {} (the bench's staff must see it)", r.status());
        }
        bytes.push(r.bytes().await?.len());
    }

    let load = Load { http: http.clone(), base: rig.internal.clone(), tokens: Arc::new(tokens), sizes: &sizes };
    let (page_latencies, page_cpu, page_requests) = load.run(&paths).await?;
    let (base_latencies, base_cpu, base_requests) = load.run(&["/api/v1/session".to_owned()]).await?;
    let runs: Vec<PageRun> = paths
        .iter()
        .zip(page_latencies)
        .zip(&bytes)
        .map(|((path, latencies_ms), b)| PageRun { path: path.clone(), latencies_ms, bytes: b + assets })
        .collect();
    let base = PageRun { path: "/api/v1/session".into(), latencies_ms: base_latencies.into_iter().next().unwrap_or_default(), bytes: 0 };
    let names = ["staff home", "query form", "query page"];
    let mut human = format!(
        "bench pages ({}): {} staff signed in, each asking for a page every {} ms (think time) for {} s, over HTTPS",
        backend_name(db),
        sizes.staff,
        sizes.think_ms,
        sizes.seconds
    );
    for (name, r) in names.iter().zip(&runs) {
        human.push_str(&format!(
            "\n  {name:<11} p50 {:.1} ms  p99 {:.1} ms  {} requests  {} bytes with assets ({} HTML)",
            r.p(0.5),
            r.p(0.99),
            r.latencies_ms.len(),
            r.bytes,
            r.bytes - assets
        ));
    }
    human.push_str(&format!(
        "\n  pages' CPU {:.2} ms/request; baseline (GET /api/v1/session) p50 {:.1} ms  p99 {:.1} ms  CPU {:.2} ms/request\n  assets (stylesheet + script) {assets} bytes  (targets: p99 ≤ 50 ms, ≤ 100 KB a page)",
        page_cpu * 1000.0 / page_requests.max(1) as f64,
        base.p(0.5),
        base.p(0.99),
        base_cpu * 1000.0 / base_requests.max(1) as f64,
    ));
    let page_json = |r: &PageRun| json!({"path_kind": r.path.split('/').nth(1).unwrap_or(""), "p50_ms": r.p(0.5), "p99_ms": r.p(0.99), "requests": r.latencies_ms.len(), "bytes": r.bytes});
    let json = json!({"bench": "pages", "backend": backend_name(db), "staff": sizes.staff, "think_ms": sizes.think_ms, "seconds": sizes.seconds,
        "home": page_json(&runs[0]), "query_form": page_json(&runs[1]), "query_page": page_json(&runs[2]),
        "cpu_ms_per_page": page_cpu * 1000.0 / page_requests.max(1) as f64, "asset_bytes": assets,
        "baseline": {"what": "GET /api/v1/session at the same load", "p50_ms": base.p(0.5), "p99_ms": base.p(0.99),
            "cpu_ms_per_request": base_cpu * 1000.0 / base_requests.max(1) as f64}});
    Ok(Report { human, json })
}

/// Signs `name` in over the JSON API and enrols the second factor, as a person does at their
/// first sign-in: the session, in full.
async fn signed_in(http: &reqwest::Client, base: &str, name: &str) -> Result<String> {
    let v: Value =
        http.post(format!("{base}/api/v1/session")).json(&json!({"name": name, "password": PASSWORD})).send().await?.json().await?;
    let token = v["token"].as_str().context("no session token")?.to_owned();
    let e: Value = http.post(format!("{base}/api/v1/session/totp")).bearer_auth(&token).send().await?.json().await?;
    let totp = renkei_crypto::totp::Totp::from_uri(e["otpauth_uri"].as_str().context("no otpauth URI")?)?;
    let code = totp.code(renkei_store::now_unix().max(0) as u64);
    let r = http
        .post(format!("{base}/api/v1/session/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"sealed": e["sealed"], "code": code}))
        .send()
        .await?;
    if r.status().as_u16() != 204 {
        bail!("enrolling {name}: {}", r.status());
    }
    Ok(token)
}

struct Load<'a> {
    http: reqwest::Client,
    base: String,
    tokens: Arc<Vec<String>>,
    sizes: &'a Sizes,
}

impl Load<'_> {
    /// Every person asks for `paths` in turn, a think time apart, for the run's length: the
    /// latencies of each path (sorted), and the process's CPU seconds and requests meanwhile.
    async fn run(&self, paths: &[String]) -> Result<(Vec<Vec<f64>>, f64, usize)> {
        let end = Instant::now() + Duration::from_secs(self.sizes.seconds);
        let think = Duration::from_millis(self.sizes.think_ms);
        let cpu = cpu_seconds();
        let mut set = tokio::task::JoinSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            let (http, base, token, paths) = (self.http.clone(), self.base.clone(), token.clone(), paths.to_vec());
            // Staggered starts, so the offices do not all click at once.
            let offset = think.mul_f64(i as f64 / self.tokens.len().max(1) as f64);
            set.spawn(async move {
                tokio::time::sleep(offset).await;
                let mut latencies = vec![Vec::new(); paths.len()];
                let mut n = i;
                while Instant::now() < end {
                    let k = n % paths.len();
                    let started = Instant::now();
                    let r = http
                        .get(format!("{base}{}", paths[k]))
                        .header("cookie", format!("__Host-renkei-session={token}"))
                        .bearer_auth(&token)
                        .send()
                        .await?;
                    let status = r.status();
                    r.bytes().await?;
                    if status.as_u16() != 200 {
                        bail!("{}: {status}", paths[k]);
                    }
                    latencies[k].push(started.elapsed().as_secs_f64() * 1000.0);
                    n += 1;
                    tokio::time::sleep(think).await;
                }
                Ok::<_, anyhow::Error>(latencies)
            });
        }
        let mut all = vec![Vec::new(); paths.len()];
        while let Some(r) = set.join_next().await {
            for (k, l) in r??.into_iter().enumerate() {
                all[k].extend(l);
            }
        }
        let cpu = cpu_seconds() - cpu;
        let requests = all.iter().map(Vec::len).sum();
        for l in &mut all {
            l.sort_by(f64::total_cmp);
        }
        Ok((all, cpu, requests))
    }
}
