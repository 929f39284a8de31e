//! `serve`'s and `hub`'s `/metrics` (Prometheus, a listener of its own), on both backends:
//! requests counted and timed per route class (never a path's id), store transaction times and
//! queries by the state they entered, the hub link's breaker, the outbox, each monitored
//! tenant's latest probes and the incidents open, the hub's queue — and nothing personal,
//! scraped as Prometheus would.

mod common;

use common::{Backend, Cluster, free_port, number};
use std::time::{Duration, Instant};

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let r = http.get(url).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    r.text().await.expect("text")
}

/// The value of the sample `line` (a metric with its labels), if there is one.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
}

async fn metrics_count_requests_by_class_and_show_probes_and_breakers(b: Backend) {
    let mut c = Cluster::start_on(b).await;
    let hub_port = free_port();
    c.hub_env = vec![("RENKEI_METRICS_LISTEN".into(), format!("127.0.0.1:{hub_port}"))];
    c.kill_process(0);
    c.start_process(0).await;
    assert_eq!(c.sla(&["enrol", "--tenant", "tenant-a", "--org", "a-mayor"]).0, 0);
    let port = free_port();
    c.serve_env = vec![("RENKEI_METRICS_LISTEN".into(), format!("127.0.0.1:{port}")), ("RENKEI_MONITOR_EVERY_SECS".into(), "1".into())];
    c.kill_process(1);
    c.start_process(1).await;
    let url = format!("http://127.0.0.1:{port}/metrics");

    let individual = number(4711);
    assert_eq!(c.register("a-mayor", "M-1", &individual).await.0, 201);
    let (s, _, q) = c.file("a-mayor", "a-mayor", "D015", &["TAX"], "M-1", "metrics-1").await;
    assert_eq!(s, 201, "{q}");
    let id = q["id"].as_str().expect("id").to_owned();
    assert_eq!(c.wait_final("a-mayor", &id).await["state"], "answered");
    assert_eq!(c.api("a-mayor", reqwest::Method::GET, &format!("/api/v1/queries/{id}"), None).await.0, 200);
    assert_eq!(c.api("a-mayor", reqwest::Method::GET, "/api/v1/nothing-here", None).await.0, 404);

    let start = Instant::now();
    let text = loop {
        let text = scrape(&c.http, &url).await;
        if sample(&text, "renkei_probe_ok{tenant=\"tenant-a\",probe=\"round_trip\"}") == Some(1.0) {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "no passing round trip probe:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let count = |class: &str, status: u16| {
        sample(&text, &format!("renkei_http_requests_total{{listener=\"internal\",class=\"{class}\",status=\"{status}\"}}")).unwrap_or(0.0)
    };
    assert!(count("api/persons", 201) >= 1.0 && count("api/queries", 201) >= 1.0 && count("api/queries", 200) >= 1.0, "{text}");
    assert!(count("unmatched", 404) >= 1.0, "{text}");
    assert!(
        text.contains("renkei_http_request_duration_seconds_bucket{le=\"0.001\",listener=\"internal\",class=\"api/queries\"}")
            || text.contains("renkei_http_request_duration_seconds_bucket{listener=\"internal\",class=\"api/queries\",le=\"0.001\"}"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("renkei_http_requests_total{listener=\"network\"")), "the hub's calls: {text}");
    assert_eq!(sample(&text, "renkei_breaker_open{destination=\"hub\"}"), Some(0.0));
    assert!(sample(&text, "renkei_outbox_tenants").is_some());
    assert!(sample(&text, "renkei_probe_seconds{tenant=\"tenant-a\",probe=\"search\"}").is_some_and(|s| s > 0.0), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
    // Each state a query entered, counted once committed; every transaction timed.
    let backend = if b == Backend::Sqlite { "sqlite" } else { "postgres" };
    for state in ["queued", "in_flight", "answered"] {
        assert!(
            sample(&text, &format!("renkei_store_query_moves_total{{state=\"{state}\"}}")).is_some_and(|n| n >= 1.0),
            "{state}: {text}"
        );
    }
    for kind in ["write", "read"] {
        let count = format!("renkei_store_transaction_duration_seconds_count{{backend=\"{backend}\",kind=\"{kind}\"}}");
        assert!(sample(&text, &count).is_some_and(|n| n >= 1.0), "{count}: {text}");
    }

    // The hub's own: its listeners' requests, its store and its queue, nothing personal.
    let hub = scrape(&c.http, &format!("http://127.0.0.1:{hub_port}/metrics")).await;
    assert!(hub.lines().any(|l| l.starts_with("renkei_http_requests_total{listener=\"hub_network\"")), "{hub}");
    for state in ["accepted", "answered", "undeliverable"] {
        assert!(sample(&hub, &format!("renkei_hub_queue{{state=\"{state}\"}}")).is_some(), "{state}: {hub}");
    }
    assert!(hub.contains(&format!("renkei_store_transaction_duration_seconds_count{{backend=\"{backend}\",kind=\"write\"}}")), "{hub}");
    assert!(hub.trim_end().ends_with("# EOF"));
    // Nothing personal, and no path parameter.
    for secret in [individual.as_str(), "M-1", id.as_str()] {
        assert!(!text.contains(secret) && !hub.contains(secret), "{secret} in the metrics");
    }
}

on_both_backends!(metrics_count_requests_by_class_and_show_probes_and_breakers);
