//! Crash-proof delivery: while 2,000 queries flow from tenant-a's platform through the hub to
//! tenant-b's platform, each of the three processes is SIGKILLed at random moments and started
//! again. Afterwards every query has exactly one final state, the provider answered each request
//! id once, and each side (and the hub) holds exactly one linkage record per query.

mod common;

use common::{Backend, Cluster, Topology, number};
use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

const QUERIES: usize = 2000;
const PEOPLE: u64 = 100;
const KILLS_PER_PROCESS: usize = 3;

/// Calls the internal API until it answers (a killed server refuses connections for a moment),
/// as a client system with a retry loop would.
async fn call(c: &Cluster, org: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    for _ in 0..600 {
        let mut req = c.http.request(method.clone(), format!("{}{path}", c.internal_for(org))).bearer_auth(&c.keys[org]);
        if let Some(b) = &body {
            req = req.json(b);
        }
        if let Ok(resp) = req.send().await {
            let status = resp.status().as_u16();
            if status != 503 {
                return (status, resp.json().await.unwrap_or(Value::Null));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{org} {path}: the platform did not come back");
}

async fn every_query_ends_once_when_processes_are_killed(b: Backend) {
    let cluster = Cluster::start_topology(b, Topology::Split, Some(2)).await;
    for i in 0..PEOPLE {
        let (s, _, v) = cluster.register("a-mayor", &format!("A{i}"), &number(40_000 + i)).await;
        assert_eq!(s, 201, "{v}");
        let (s, _, v) = cluster.register("b-mayor", &format!("B{i}"), &number(40_000 + i)).await;
        assert_eq!(s, 201, "{v}");
        let (s, _, v) = cluster.copy("b-mayor", &format!("B{i}"), "TAX", "2026-04-01", json!({"income": i})).await;
        assert_eq!(s, 200, "{v}");
    }
    let cluster = Arc::new(Mutex::new(cluster));
    // A read-only view for the filers: the cluster's addresses and keys never change.
    let view = {
        let c = cluster.lock().await;
        Arc::new((c.http.clone(), c.internal_for("a-mayor"), c.keys["a-mayor"].clone()))
    };

    // Chaos: every process is killed KILLS_PER_PROCESS times, in random order and moments. The
    // first kill comes once a quarter of the queries is filed, so some always land while
    // queries are being filed, however fast filing is.
    let filing = Arc::new(AtomicBool::new(true));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chaos = {
        let (cluster, filing, next) = (cluster.clone(), filing.clone(), next.clone());
        tokio::spawn(async move {
            let mut victims: Vec<usize> = (0..3).flat_map(|p| std::iter::repeat_n(p, KILLS_PER_PROCESS)).collect();
            let mut kills = Vec::new();
            while let Some(v) = (!victims.is_empty()).then(|| victims.swap_remove(rand::thread_rng().gen_range(0..victims.len()))) {
                let (wait, down) = {
                    let mut r = rand::thread_rng();
                    (r.gen_range(300..1500), r.gen_range(50..600))
                };
                if kills.is_empty() {
                    while next.load(Ordering::Relaxed) < QUERIES / 4 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                let during = filing.load(Ordering::Relaxed);
                cluster.lock().await.kill_and_restart(v, Duration::from_millis(down)).await;
                kills.push((v, during));
            }
            kills
        })
    };

    // Filing: 16 client connections, each retrying its query (same idempotency key) until the
    // platform takes it.
    let mut filers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (view, next) = (view.clone(), next.clone());
        filers.spawn(async move {
            let (http, base, key) = (&view.0, &view.1, &view.2);
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= QUERIES {
                    return ids;
                }
                let body = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": format!("A{}", i as u64 % PEOPLE),
                    "reference_date": "2026-07-01", "idempotency_key": format!("kill-{i}")});
                let mut tries = 0;
                let id = loop {
                    tries += 1;
                    assert!(tries < 600, "query {i} could not be filed");
                    match http.post(format!("{base}/api/v1/queries")).bearer_auth(key).json(&body).send().await {
                        Ok(r) if r.status().as_u16() == 201 || r.status().as_u16() == 200 => {
                            let v: Value = r.json().await.expect("query resource");
                            break v["id"].as_str().expect("id").to_owned();
                        }
                        Ok(r) if r.status().as_u16() != 503 => panic!("filing query {i}: {}", r.status()),
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                };
                ids.push((i, id));
            }
        });
    }
    let mut ids = Vec::with_capacity(QUERIES);
    while let Some(r) = filers.join_next().await {
        ids.extend(r.expect("filer"));
    }
    filing.store(false, Ordering::Relaxed);
    let kills = chaos.await.expect("chaos");
    assert_eq!(kills.len(), 3 * KILLS_PER_PROCESS);
    assert!(kills.iter().any(|(_, during)| *during), "some kills happened while queries were being filed: {kills:?}");

    let c = cluster.lock().await;
    assert_eq!(ids.len(), QUERIES);
    let unique: std::collections::HashSet<&String> = ids.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), QUERIES, "each idempotency key made one query");

    // Every query reaches a final state, and it is 回答済 (the deadline is a day away).
    let mut request_ids = HashMap::new();
    for (i, id) in &ids {
        let mut last = Value::Null;
        for _ in 0..1200 {
            let (_, v) = call(&c, "a-mayor", Method::GET, &format!("/api/v1/queries/{id}"), None).await;
            let done = matches!(v["state"].as_str(), Some("answered" | "failed"));
            // The last state seen, final or not, so a stuck query says where it stuck.
            last = v;
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(last["state"], "answered", "query {i}: {last}");
        assert_eq!(last["outcome"], "found", "query {i}: {last}");
        request_ids.insert(last["request_id"].as_str().expect("request id").to_owned(), *i);
    }
    assert_eq!(request_ids.len(), QUERIES);

    // Exactly one linkage record per query on each side: the requester's, and the provider's
    // (the provider answered each request id once).
    for org in ["a-mayor", "b-mayor"] {
        let mut per_request: HashMap<String, usize> = HashMap::new();
        for rec in &c.all_records(org).await {
            *per_request.entry(rec["request_id"].as_str().expect("request id").to_owned()).or_default() += 1;
        }
        assert_eq!(per_request.len(), QUERIES, "{org}: one record for each query and no others");
        assert!(per_request.values().all(|n| *n == 1), "{org}: a request id has two records");
        assert!(per_request.keys().all(|k| request_ids.contains_key(k)), "{org}: a record of an unknown request");
    }
    // The hub routed each query once.
    let hub = renkei_store::hub::HubStore::open(&c.location("hub", "renkei_hub")).await.expect("hub store");
    assert_eq!(hub.record_count().await.expect("count"), QUERIES as i64);
}

/// A provider that stays down: the query ends in エラー at its deadline with a reason staff can
/// read, once; the provider's late answer after it comes back is acknowledged and dropped.
async fn a_query_past_its_deadline_ends_in_error_with_the_reason(b: Backend) {
    let mut c = Cluster::start_topology(b, Topology::Split, Some(2)).await;
    let (s, _, _) = c.register("a-mayor", "A1", &number(61)).await;
    assert_eq!(s, 201);
    let (s, _, _) = c.register("b-mayor", "B1", &number(61)).await;
    assert_eq!(s, 201);
    c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"income": 1})).await;
    // The requester's queries may take 3 seconds; the provider's server goes down for good.
    c.serve_env = vec![("RENKEI_QUERY_DEADLINE_SECS".into(), "3".into())];
    c.kill_and_restart(1, Duration::ZERO).await;
    c.kill_process(2);

    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "late-1").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["state_label"], "エラー");
    let reason = done["error"].as_str().unwrap_or_default();
    assert!(reason.starts_with("no answer within the query deadline (照会期限切れ)"), "{reason}");
    let records = |v: &Value| -> Vec<Value> {
        v["records"].as_array().cloned().unwrap_or_default().into_iter().filter(|r| r["request_id"] == done["request_id"]).collect()
    };
    let (_, _, r) = c.api("a-mayor", Method::GET, "/api/v1/records", None).await;
    let mine = records(&r);
    assert_eq!(mine.len(), 1, "{r}");
    assert_eq!(mine[0]["outcome"], "error");

    // The provider comes back; the hub forwards, the provider answers, the hub relays, and the
    // requester acknowledges without changing its verdict.
    c.start_process(2).await;
    let mut provider_answered = false;
    for _ in 0..300 {
        let (_, _, r) = c.api("b-mayor", Method::GET, "/api/v1/records", None).await;
        if records(&r).len() == 1 {
            provider_answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(provider_answered, "the provider answered once it was back");
    let hub = renkei_store::hub::HubStore::open(&c.location("hub", "renkei_hub")).await.expect("hub store");
    let mut relayed = false;
    for _ in 0..300 {
        let hq = hub.query(done["request_id"].as_str().expect("request id")).await.expect("hub query").expect("routed");
        if hq.state == renkei_store::hub::RouteState::Relayed {
            relayed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(relayed, "the requester acknowledged the late answer, so the hub stopped relaying it");
    let (_, _, again) = c.api("a-mayor", Method::GET, &format!("/api/v1/queries/{}", done["id"].as_str().expect("id")), None).await;
    assert_eq!(again["state"], "failed", "{again}");
    let (_, _, r) = c.api("a-mayor", Method::GET, "/api/v1/records", None).await;
    assert_eq!(records(&r).len(), 1, "still one requester record");
}

/// The outbox is what makes delivery survive a hub outage: a query filed while the hub is down
/// (and the requester has not yet learned the provider's type) is taken, and delivered later.
async fn a_query_filed_while_the_hub_is_down_is_taken_and_answered_later(b: Backend) {
    let mut c = Cluster::start_topology(b, Topology::Split, Some(2)).await;
    c.register("a-mayor", "A1", &number(71)).await;
    c.register("b-mayor", "B1", &number(71)).await;
    c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"income": 7})).await;
    c.kill_and_restart(1, Duration::ZERO).await;
    c.kill_process(0);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "hub-down-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(q["state"], "queued");
    c.start_process(0).await;
    let done = c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    assert_eq!((done["state"].as_str(), done["outcome"].as_str()), (Some("answered"), Some("found")), "{done}");
}

on_both_backends!(
    every_query_ends_once_when_processes_are_killed,
    a_query_past_its_deadline_ends_in_error_with_the_reason,
    a_query_filed_while_the_hub_is_down_is_taken_and_answered_later,
);
