//! The SLA monitor (監視): on each tick of its schedule, one `serve` process (the one that claims
//! the tick) probes every enrolled tenant as an end user would, over HTTPS through the same
//! listener staff and client systems use — the sign-in page loads; the probe person is looked up
//! (検索系); a copy of the probe person is stored (更新系); a query about the probe person goes
//! through the hub to the probe org itself and comes back answered — and stores each result with
//! its latency. `domain::incident`'s rule then opens an incident on a run of failures and
//! recovers it on success. A probe that hangs fails at its timeout; a tick's probes run a few
//! tenants at a time, so one slow tenant delays no other's.
//!
//! The probes present the tenant's probe key (`crypto::apikey::probe_key`, derived from the
//! master key: every `serve` computes it, nothing stores it) and act for the probe person
//! (`AddresseeNo::PROBE`), whose rows every business list and count leaves out.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::incident::{IncidentRule, ProbeKind, Step};
use renkei_domain::{AddresseeNo, Matrix, OrgId, TenantId};
use renkei_store::StoreError;
use renkei_store::monitor::{Incident, ProbeRecord, ProbeTarget};
use renkei_store::platform::PlatformStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the monitor could not enrol a tenant or run a tick.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("no org {org} in tenant {tenant}")]
    UnknownOrg { tenant: TenantId, org: OrgId },
    #[error(
        "an org of type {0} may ask no org of its own type (別表第二), so it cannot query itself; enrol an org that can (e.g. a 市町村長's)"
    )]
    NoOwnTypeRow(renkei_domain::OrgType),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the monitor probes.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Seconds between ticks.
    pub every: Duration,
    /// How long one probe may take before it is a failure.
    pub timeout: Duration,
    /// Where staff and client systems reach the platform, e.g. `https://127.0.0.1:8443`.
    pub base_url: String,
    /// A client trusting the platform's certificate.
    pub client: reqwest::Client,
    /// The Individual Number the probe person is registered with at the hub (a test number the
    /// hub's operator allots; never a resident's).
    pub probe_number: String,
    pub rule: IncidentRule,
    /// Tenants probed at once.
    pub parallel: usize,
    /// Days the probes' results are kept as they are; older days are rolled up
    /// (`store::rollup`) once a day by the process that claims it.
    pub raw_days: u32,
}

/// Enrols `tenant` in the monitor with `org` as its probe org: the round trip asks `org` itself
/// under the first row of 別表第二 that lets an org of its type ask its own type.
pub async fn enrol(
    store: &PlatformStore,
    master: &MasterKey,
    matrix: &Matrix,
    tenant: &TenantId,
    org: &OrgId,
    actor: &str,
) -> Result<ProbeTarget, MonitorError> {
    let known = store.orgs(Some(tenant)).await?.into_iter().find(|o| &o.id == org);
    let known = known.ok_or_else(|| MonitorError::UnknownOrg { tenant: tenant.clone(), org: org.clone() })?;
    let (duty, item) = matrix.own_type_row(&known.org_type).ok_or_else(|| MonitorError::NoOwnTypeRow(known.org_type.clone()))?;
    let target = ProbeTarget {
        tenant: tenant.clone(),
        org: org.clone(),
        duty: duty.clone(),
        item: item.clone(),
        enrolled_at: renkei_store::now_unix(),
    };
    let key_hash = renkei_crypto::apikey::hash(&renkei_crypto::apikey::probe_key(master, tenant.as_str()));
    store.enrol_probe(&target, &key_hash, actor).await?;
    Ok(target)
}

/// Stops probing `tenant`; false if it was not enrolled.
pub async fn withdraw(store: &PlatformStore, master: &MasterKey, tenant: &TenantId, actor: &str) -> Result<bool, MonitorError> {
    let key_hash = renkei_crypto::apikey::hash(&renkei_crypto::apikey::probe_key(master, tenant.as_str()));
    Ok(store.withdraw_probe(tenant, &key_hash, actor).await?)
}

/// Probes on every tick this process claims until `stop`. `by` names the process in the
/// claims.
pub async fn run(store: PlatformStore, master: Arc<MasterKey>, config: MonitorConfig, by: String, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let every = config.every.as_secs().max(1) as i64;
    // The JST day whose roll-up this process has tried to claim: one try a day, not a write a tick.
    let mut rolled_up = None;
    loop {
        // Ticks are numbered from the wall clock, so processes agree on them; after a jump
        // back, a tick already run is claimed already and is not run twice.
        let now_ms = renkei_store::now_millis();
        let next = (now_ms.div_euclid(every * 1000) + 1) * every * 1000;
        let wait = Duration::from_millis(u64::try_from(next - now_ms).unwrap_or(0));
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let tick = renkei_store::now_millis().div_euclid(every * 1000);
        let today = renkei_domain::sla::jst_day(renkei_store::now_unix());
        if rolled_up != Some(today) && roll_up_daily(&store, today, config.raw_days, &by).await {
            rolled_up = Some(today);
        }
        match tick_once(&store, &master, &config, tick, &by).await {
            Ok(Some(n)) => tracing::debug!(tick, tenants = n, "monitor tick done"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, tick, "a monitor tick failed; the next one runs as scheduled"),
        }
    }
}

/// Rolls up the results older than `raw_days` days and forgets the tick claims as old, in a task
/// of its own, if this process claims `today`'s roll-up (the first tick of a JST day does).
/// Whether the claim was decided (won or lost): on a failure to ask, the next tick asks again.
async fn roll_up_daily(store: &PlatformStore, today: chrono::NaiveDate, raw_days: u32, by: &str) -> bool {
    let now = renkei_store::now_unix();
    match store.claim_monitor_tick(renkei_store::rollup::rollup_tick(today), by, now).await {
        Ok(true) => {
            let store = store.clone();
            let before = today - chrono::Duration::days(i64::from(raw_days.max(1)));
            let forget_before = now - i64::from(raw_days.max(1)) * 86_400;
            tokio::spawn(async move {
                match store.roll_up_probes(before).await {
                    Ok(days) => tracing::info!(days, %before, "probe results rolled up"),
                    Err(e) => tracing::error!(error = %e, "rolling up probe results failed; tomorrow's run tries again"),
                }
                if let Err(e) = store.forget_monitor_ticks(forget_before).await {
                    tracing::error!(error = %e, "forgetting old monitor ticks failed; tomorrow's run tries again");
                }
            });
            true
        }
        Ok(false) => true,
        Err(e) => {
            tracing::error!(error = %e, "claiming the day's roll-up of probe results failed; the next tick tries again");
            false
        }
    }
}

/// Runs tick `tick` if this process claims it: every enrolled tenant probed, each result stored,
/// incidents opened and recovered. The number of tenants probed, or `None` if another process
/// had the tick.
pub async fn tick_once(
    store: &PlatformStore,
    master: &MasterKey,
    config: &MonitorConfig,
    tick: i64,
    by: &str,
) -> Result<Option<usize>, MonitorError> {
    if !store.claim_monitor_tick(tick, by, renkei_store::now_unix()).await? {
        return Ok(None);
    }
    let targets = store.probe_targets().await?;
    let gate = Arc::new(tokio::sync::Semaphore::new(config.parallel.max(1)));
    let mut probing = tokio::task::JoinSet::new();
    for target in targets {
        let (key, config, gate) = (renkei_crypto::apikey::probe_key(master, target.tenant.as_str()), config.clone(), gate.clone());
        probing.spawn(async move {
            let _turn = gate.acquire_owned().await;
            let results = probe_tenant(&config, &key, &target, tick).await;
            (target, results)
        });
    }
    let open = store.open_incidents().await?;
    let mut n = 0;
    while let Some(joined) = probing.join_next().await {
        let Ok((target, results)) = joined else { continue };
        for r in results {
            store.record_probe(&r).await?;
            let incident = open.iter().find(|i| i.tenant == target.tenant.as_str() && i.kind == r.kind);
            judge(store, &config.rule, &target.tenant, r.kind, incident).await?;
        }
        n += 1;
    }
    Ok(Some(n))
}

/// Opens or recovers `tenant`'s incident of `kind` as the rule says of its latest results.
async fn judge(
    store: &PlatformStore,
    rule: &IncidentRule,
    tenant: &TenantId,
    kind: ProbeKind,
    open: Option<&Incident>,
) -> Result<(), StoreError> {
    let recent = store.recent_probes(tenant.as_str(), kind, rule.open_after.max(rule.close_after).max(1) as i64).await?;
    let now = renkei_store::now_unix();
    match (rule.step(&recent, open.is_some()), open) {
        (Step::Open { started_at }, None) => {
            if let Some(i) = store.open_incident(tenant.as_str(), kind, started_at, now).await? {
                tracing::warn!(incident = %i.id, tenant = %tenant, probe = kind.as_str(), "incident opened");
            }
        }
        (Step::Close { recovered_at }, Some(i)) => match store.recover_incident(&i.id, recovered_at, now).await {
            Ok(_) => tracing::info!(incident = %i.id, tenant = %tenant, probe = kind.as_str(), "incident recovered"),
            // Another process's overlapping tick recovered it first.
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        },
        _ => {}
    }
    Ok(())
}

/// The four probes of one tenant, in order (each later one needs what the earlier stored).
async fn probe_tenant(config: &MonitorConfig, key: &str, target: &ProbeTarget, tick: i64) -> Vec<ProbeRecord> {
    let probe = Probe { config, key, target, tick };
    let mut out = Vec::with_capacity(ProbeKind::ALL.len());
    for kind in ProbeKind::ALL {
        let at_ms = renkei_store::now_millis();
        let started = Instant::now();
        let outcome = match tokio::time::timeout(config.timeout, probe.run(kind)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {} s", config.timeout.as_secs_f64())),
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (ok, detail) = match outcome {
            Ok(()) => (true, String::new()),
            Err(detail) => (false, detail),
        };
        out.push(ProbeRecord { tenant: target.tenant.to_string(), kind, at_ms, ok, latency_ms, detail });
    }
    out
}

/// One tenant's probes of one tick.
struct Probe<'a> {
    config: &'a MonitorConfig,
    key: &'a str,
    target: &'a ProbeTarget,
    tick: i64,
}

impl Probe<'_> {
    async fn run(&self, kind: ProbeKind) -> Result<(), String> {
        match kind {
            ProbeKind::SignIn => {
                let r = self.config.client.get(self.url("/sign-in")).send().await.map_err(reason)?;
                expect(r.status(), reqwest::StatusCode::OK, "the sign-in page")
            }
            ProbeKind::Search => {
                let found = self.post("/api/v1/persons/lookup", json!({"addressee_no": AddresseeNo::PROBE})).await?;
                if found["registered"] == Value::Bool(true) {
                    return Ok(());
                }
                // First tick after enrolment (or the person was lost): register, as a client
                // system would, then count the look-up as failed only if that fails.
                self.post("/api/v1/persons", json!({"addressee_no": AddresseeNo::PROBE, "individual_number": self.config.probe_number}))
                    .await
                    .map(drop)
                    .map_err(|e| format!("the probe person is not registered and registering failed: {e}"))
            }
            ProbeKind::Update => {
                let fields = json!({"probe_tick": self.tick});
                let body =
                    json!({"addressee_no": AddresseeNo::PROBE, "item": self.target.item, "valid_from": "2000-01-01", "fields": fields});
                self.post("/api/v1/copies", body).await.map(drop)
            }
            ProbeKind::RoundTrip => self.round_trip().await,
        }
    }

    /// Files a query to the probe org itself and waits until it is answered.
    async fn round_trip(&self) -> Result<(), String> {
        let today = chrono::Utc::now().with_timezone(&renkei_domain::wareki::jst()).date_naive();
        let body = json!({
            "duty": self.target.duty, "provider_org": self.target.org, "items": [self.target.item],
            "addressee_no": AddresseeNo::PROBE, "reference_date": today.to_string(),
            "idempotency_key": format!("sla-probe-{}", self.tick),
        });
        let filed = self.post("/api/v1/queries", body).await?;
        let id = filed["id"].as_str().ok_or("the filed query has no id")?.to_owned();
        let mut pause = Duration::from_millis(20);
        loop {
            let r =
                self.config.client.get(self.url(&format!("/api/v1/queries/{id}"))).bearer_auth(self.key).send().await.map_err(reason)?;
            expect(r.status(), reqwest::StatusCode::OK, "reading the query")?;
            let q: Value = r.json().await.map_err(reason)?;
            match q["state"].as_str() {
                Some("answered") if q["outcome"] == "found" => return Ok(()),
                Some("answered") => return Err(format!("answered without the probe's copy ({})", q["outcome"])),
                Some("failed") => return Err(format!("the query failed: {}", q["error"].as_str().unwrap_or("no reason given"))),
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    /// POSTs `body` with the probe key; the answer's JSON if it is a 2xx.
    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let r = self.config.client.post(self.url(path)).bearer_auth(self.key).json(&body).send().await.map_err(reason)?;
        let status = r.status();
        if !status.is_success() {
            // A problem's title and detail name no personal value (the platform's rule).
            let problem: Value = r.json().await.unwrap_or(Value::Null);
            return Err(format!("{path} answered {status}: {}", problem["detail"].as_str().or(problem["title"].as_str()).unwrap_or("")));
        }
        r.json().await.map_err(reason)
    }
}

fn expect(got: reqwest::StatusCode, want: reqwest::StatusCode, what: &str) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what} answered {got}")) }
}

/// A transport error in one line, without the URL's query (there is none) or any body.
fn reason(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "an answer that is not JSON"
    } else {
        "a transport error"
    };
    format!("{kind}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_else(|| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_store::platform::Org;

    /// A listener that takes connections and never answers: a platform hung mid-request.
    async fn hung() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        (url, held)
    }

    #[tokio::test]
    async fn a_hung_platform_fails_every_probe_at_its_timeout_and_a_tick_runs_once_however_the_clock_moves() {
        let (_dir, _pg, _, store) = renkei_store::testing::platform_store(false).await;
        let master = MasterKey::generate();
        let tenant = TenantId::parse("kou").expect("id");
        store.create_tenant(&master, &tenant, "甲市", "test").await.expect("tenant");
        let dk = store.data_key(&master, &tenant).await.expect("key");
        let org = Org {
            tenant: tenant.clone(),
            id: OrgId::parse("kou-mayor").expect("id"),
            org_type: renkei_domain::OrgType::parse("MUNI").expect("type"),
            name: "甲市長".into(),
        };
        store.create_org(&dk, &org, "test").await.expect("org");
        let matrix = Matrix::from_csv(
            "t",
            "row,requester_type,requester_name,duty_code,duty_name,provider_type,provider_name,item_code,item_name\n1,MUNI,市町村長,D010,事務,MUNI,市町村長,TAX,地方税\n",
        )
        .expect("matrix");
        enrol(&store, &master, &matrix, &tenant, &org.id, "test").await.expect("enrol");

        let (url, _held) = hung().await;
        let timeout = Duration::from_millis(300);
        let config = MonitorConfig {
            every: Duration::from_secs(1),
            timeout,
            base_url: url,
            client: renkei_net::tls::client_to_anyone(&[], timeout).expect("client"),
            probe_number: "999999999996".into(),
            rule: IncidentRule { open_after: 2, close_after: 1 },
            parallel: 2,
            raw_days: 35,
        };
        let started = Instant::now();
        assert_eq!(tick_once(&store, &master, &config, 1_000, "a").await.expect("tick"), Some(1));
        assert!(started.elapsed() < timeout * 4 + Duration::from_secs(2), "each probe gave up at its timeout: {:?}", started.elapsed());
        let results = store.probe_results("kou", 10).await.expect("results");
        assert_eq!(results.len(), 4);
        // The client's own timeout (the same) or the probe's, whichever fires first.
        let gave_up = |d: &str| d.starts_with("no answer within") || d.starts_with("timed out");
        assert!(results.iter().all(|r| !r.ok && gave_up(&r.detail) && r.latency_ms < 1_000), "{results:?}");

        // The clock goes back a tick: that tick was run, so it is not run again; another process
        // finds it claimed too.
        assert_eq!(tick_once(&store, &master, &config, 1_000, "a").await.expect("tick"), None);
        assert_eq!(tick_once(&store, &master, &config, 1_000, "b").await.expect("tick"), None);
        assert_eq!(store.probe_results("kou", 10).await.expect("results").len(), 4);
        // The next tick's failures open the incident, dated from the first.
        assert_eq!(tick_once(&store, &master, &config, 1_001, "b").await.expect("tick"), Some(1));
        let open = store.open_incidents().await.expect("open");
        assert_eq!(open.len(), 4, "one per probe: {open:?}");
        let first = results.iter().map(|r| r.at_ms / 1000).min().expect("a result");
        assert!(open.iter().all(|i| i.started_at == first || i.started_at == first + 1), "{open:?}");
    }
}
