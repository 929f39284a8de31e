//! The SLA monitor of `serve` (`ops::monitor`), on both backends with two `serve` processes:
//! a tenant enrolled with `renkei sla enrol` is probed as an end user would probe it (sign-in
//! page, look-up, copy, a round trip through the hub), each tick by one process only; the probe
//! person stays out of every business list, count and export, and no client system may use its
//! number; with the hub down the round trip fails, an incident opens after the run of failures
//! and recovers once the hub is back; the public status page shows it without the tenant's name
//! until the tenant allows it, and the tenant's admin sees it on the tenants page.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The latest results `renkei sla probes` lists: (probe, ok, detail).
fn probes(c: &Cluster) -> Vec<(String, bool, String)> {
    let (code, out, err) = c.sla(&["probes", "--tenant", "tenant-a", "--last", "8"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[1].to_owned(), cols[2] == "ok", cols.get(4).copied().unwrap_or("").to_owned())
        })
        .collect()
}

/// Waits until `done` holds of the latest results, or fails the test with them.
async fn until(c: &Cluster, what: &str, limit: Duration, done: impl Fn(&[(String, bool, String)]) -> bool) {
    let start = Instant::now();
    loop {
        let latest = probes(c);
        if done(&latest) {
            return;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}; latest probes: {latest:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn newest_of<'a>(latest: &'a [(String, bool, String)], probe: &str) -> Option<&'a (String, bool, String)> {
    latest.iter().find(|(p, _, _)| p == probe)
}

async fn the_monitor_probes_as_a_user_opens_an_incident_and_recovers_it(b: Backend) {
    let mut c = Cluster::start_with(b, 2).await;
    // An org whose type asks no org of its own type cannot query itself: refused in one line.
    let (code, _, err) = c.sla(&["enrol", "--tenant", "tenant-a", "--org", "a-edu"]);
    assert!(code != 0 && err.trim().lines().count() == 1 && err.contains("EDU"), "{err}");
    let (code, _, err) = c.sla(&["enrol", "--tenant", "tenant-a", "--org", "b-mayor"]);
    assert!(code != 0 && err.contains("no org b-mayor in tenant tenant-a"), "{err}");
    let (code, out, err) = c.sla(&["enrol", "--tenant", "tenant-a", "--org", "a-mayor"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tenant-a is probed as a-mayor"), "{out}");

    // Both servers run the monitor every second; the hub's outage shows after two failures.
    c.serve_env = [("RENKEI_MONITOR_EVERY_SECS", "1"), ("RENKEI_MONITOR_TIMEOUT_SECS", "4"), ("RENKEI_MONITOR_OPEN_AFTER", "2")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
    for i in [1, 2] {
        c.kill_process(i);
        c.start_process(i).await;
    }
    until(&c, "every probe passes", Duration::from_secs(40), |latest| {
        ["sign_in", "search", "update", "round_trip"].iter().all(|p| newest_of(latest, p).is_some_and(|r| r.1))
    })
    .await;

    // The probe person is in no business list or count, and its number is no client's.
    let (s, _, list) = c.api("a-mayor", reqwest::Method::GET, "/api/v1/queries", None).await;
    assert_eq!((s, list["queries"].as_array().map(Vec::len)), (200, Some(0)), "{list}");
    assert!(c.all_records("a-mayor").await.is_empty(), "the probe's round trips are no linkage records of the org");
    let (s, _, p) = c.register("a-mayor", "renkei-sla-probe", &number(5)).await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("reserved")), "{p}");
    let (s, _, _) = c.copy("a-mayor", "renkei-sla-probe", "TAX", "2026-04-01", json!({"x": 1})).await;
    assert_eq!(s, 409);
    let (s, _, _) = c.file("a-mayor", "a-mayor", "D015", &["TAX"], "renkei-sla-probe", "not-the-probe").await;
    assert_eq!(s, 409);
    let (s, _, found) =
        c.api("a-mayor", reqwest::Method::POST, "/api/v1/persons/lookup", Some(json!({"addressee_no": "renkei-sla-probe"}))).await;
    assert_eq!((s, found["registered"].as_bool()), (200, Some(true)), "a look-up tells only whether: {found}");
    let month = (chrono::Utc::now() + chrono::Duration::hours(9)).format("%Y-%m").to_string();
    let (code, out, err) = c.sla(&["statement", "--month", &month, "--cost-yen", "100", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).expect("JSON");
    let a = s["lines"].as_array().expect("lines").iter().find(|l| l["meter"]["tenant"] == "tenant-a").cloned().expect("tenant-a");
    assert_eq!(
        (a["meter"]["queries_sent"].as_i64(), a["meter"]["persons"].as_i64(), a["meter"]["copies"].as_i64()),
        (Some(0), Some(0), Some(0)),
        "{a}"
    );
    assert!(a["meter"]["probe_queries"].as_i64().is_some_and(|n| n >= 1), "the probes left out are counted: {a}");
    let export = c.path("export-a");
    let (code, _, err) = c.platform_command(&["export", "tenant"], &["tenant-a", "--out", export.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    for file in ["persons.csv", "queries.csv", "linkage_records.csv", "provision_copies.csv"] {
        let text = std::fs::read_to_string(export.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(text.lines().count(), 1, "{file} holds its header only: {text}");
    }

    // The hub goes down: the round trip fails, the rest still pass; an incident opens.
    c.kill_process(0);
    let (mut opened, start) = (String::new(), Instant::now());
    while opened.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "no incident opened: {:?}", probes(&c));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, out, _) = c.sla(&["incidents"]);
        opened = out.lines().find(|l| l.contains("\ttenant-a\tround_trip\t") && l.contains("\topen\t")).unwrap_or("").to_owned();
    }
    let latest = probes(&c);
    assert!(newest_of(&latest, "round_trip").is_some_and(|r| !r.1 && !r.2.is_empty()), "failed with a reason: {latest:?}");
    assert!(newest_of(&latest, "search").is_some_and(|r| r.1), "the look-up needs no hub: {latest:?}");
    let id = opened.split('\t').next().expect("id").to_owned();

    // The public status page says so without naming the tenant, until it allows it; its admin
    // sees its own state on the tenants page.
    let (http, status_url) = (c.http.clone(), format!("{}/status.json", c.internal()));
    let status = || async {
        let r = http.get(&status_url).send().await.expect("status");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("JSON")
    };
    let s = status().await;
    assert_eq!(s["state"], "degraded", "{s}");
    let open = s["open"].as_array().expect("open").iter().find(|i| i["id"] == id.as_str()).cloned().expect("the incident");
    assert_eq!((open["tenant"].clone(), open["probe"].as_str(), open["cause"].clone()), (Value::Null, Some("round_trip"), Value::Null));
    let html = c.http.get(format!("{}/status", c.internal())).send().await.expect("page").text().await.expect("text");
    assert!(html.contains("一部で障害が発生しています") && html.contains("団体（非公開）") && !html.contains("tenant-a"), "{html}");
    let (code, _, err) = c.sla(&["publish", "--tenant", "tenant-a"]);
    assert_eq!(code, 0, "{err}");
    let s = status().await;
    assert!(s["open"].as_array().expect("open").iter().any(|i| i["id"] == id.as_str() && i["tenant"] == "tenant-a"), "{s}");
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let page = c
        .http
        .get(format!("{}/tenants", c.internal()))
        .header("cookie", format!("__Host-renkei-session={admin}"))
        .send()
        .await
        .expect("tenants page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("障害発生中：") && page.contains("照会の往復"), "{page}");

    // The hub comes back: the next round trip passes and the incident is recovered.
    c.start_process(0).await;
    let start = Instant::now();
    loop {
        let (_, out, _) = c.sla(&["incidents"]);
        if !out.contains(&id) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not recovered: {out} {:?}", probes(&c));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, month_list, _) = c.sla(&["incidents", "--tenant", "tenant-a", "--month", &month]);
    let line = month_list.lines().find(|l| l.starts_with(&id)).expect("the incident in the month's list");
    assert!(!line.contains("\topen\t"), "{line}");
    let s = status().await;
    assert!(s["history"].as_array().expect("history").iter().any(|i| i["id"] == id.as_str() && i["recovered_at"].is_i64()), "{s}");

    // Two processes, one run per tick: no more sign-in probes than seconds (ticks) they span;
    // both processes running each tick would make about twice as many.
    let store = renkei_store::platform::PlatformStore::open(&c.location("platform", "renkei")).await.expect("store");
    let results = store.probe_results("tenant-a", 10_000).await.expect("results");
    let signs: Vec<i64> = results.iter().filter(|r| r.kind == renkei_domain::incident::ProbeKind::SignIn).map(|r| r.at_ms).collect();
    let span_secs = (signs.first().expect("newest") - signs.last().expect("oldest")) / 1000;
    assert!(signs.len() >= 3 && signs.len() as i64 <= span_secs + 1, "{} sign-in probes over {span_secs} s", signs.len());
}

on_both_backends!(the_monitor_probes_as_a_user_opens_an_incident_and_recovers_it);
