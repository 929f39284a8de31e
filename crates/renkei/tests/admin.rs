//! The operator's `renkei admin` against running servers: what it changes takes effect on every
//! process without a restart, and is audited.

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

on_both_backends!(
    a_revoked_api_key_is_refused_by_every_process_within_the_cache_lifetime,
    a_tenant_org_and_key_created_while_serving_are_served_at_once_by_every_process,
    an_api_key_made_for_some_duties_files_only_for_those,
);

/// `renkei admin ARGS…` on the cluster's platform.
fn admin(c: &Cluster, args: &[&str]) -> String {
    let plat = c.path("platform").display().to_string();
    let mut all = vec!["admin", "--data-dir", &plat, "--database-schema", "renkei"];
    let db = c.db_args();
    all.extend(db.iter().map(String::as_str));
    all.extend(args);
    common::renkei(&all, None)
}

/// The operator's real sequence against running processes, no restart: create a tenant, its
/// org, register the org at the hub, create a key; the new org's client system registers a
/// person and files a query through one process, and answers one forwarded to the other.
async fn a_tenant_org_and_key_created_while_serving_are_served_at_once_by_every_process(b: Backend) {
    let c = Cluster::start_with(b, 2).await;
    admin(&c, &["tenant-create", "--id", "tenant-c", "--name", "丙市"]);
    // The hub forwards queries for the new org to the second process.
    let endpoint = format!("https://127.0.0.1:{}", c.extra_ports[0].1);
    let entry = admin(
        &c,
        &["org-create", "--tenant", "tenant-c", "--id", "c-mayor", "--type", "MUNI", "--name", "丙市長", "--endpoint", &endpoint],
    );
    c.hub_cmd("register-org", &[], Some(&entry));
    let key = admin(&c, &["api-key-create", "--tenant", "tenant-c", "--org", "c-mayor"]).trim().to_owned();
    let as_c = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = c.http.request(method, format!("{}{path}", c.internal_of(0))).bearer_auth(&key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move { common::respond(req.send().await.unwrap()).await }
    };
    let n = common::number(4242);
    let (s, _, v) = as_c(Method::POST, "/api/v1/persons", Some(json!({"addressee_no": "C1", "individual_number": n}))).await;
    assert_eq!(s, 201, "the new org registers a person at once: {v}");
    // The new org asks.
    assert_eq!(c.register("b-mayor", "B1", &n).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-01-01", json!({"income": 7})).await.0, 200);
    let body = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "C1", "reference_date": "2026-07-01", "idempotency_key": "c1"});
    let (s, _, q) = as_c(Method::POST, "/api/v1/queries", Some(body)).await;
    assert_eq!(s, 201, "{q}");
    let id = q["id"].as_str().unwrap().to_owned();
    let mut answered = json!(null);
    for _ in 0..200 {
        answered = as_c(Method::GET, &format!("/api/v1/queries/{id}"), None).await.2;
        if matches!(answered["state"].as_str(), Some("answered" | "failed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered["state"], "answered", "{answered}");
    assert_eq!(answered["answer"]["items"][0]["fields"]["income"], 7);
    // The new org answers, on the other process, from its copy.
    let (s, _, v) = as_c(
        Method::POST,
        "/api/v1/copies",
        Some(json!({"addressee_no": "C1", "item": "TAX", "valid_from": "2026-01-01", "fields": {"income": 9}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    let (s, _, q) = c.file("a-mayor", "c-mayor", "D015", &["TAX"], "A1", "a1").await;
    assert_eq!(s, 201, "{q}");
    let q = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(q["state"], "answered", "{q}");
    assert_eq!(q["answer"]["items"][0]["fields"]["income"], 9);
}

async fn a_revoked_api_key_is_refused_by_every_process_within_the_cache_lifetime(b: Backend) {
    let c = Cluster::start_with(b, 2).await;
    let key = admin(&c, &["api-key-create", "--tenant", "tenant-a", "--org", "a-mayor", "--label", "税務システム"]).trim().to_owned();
    let records = |process: usize| {
        let (url, key) = (format!("{}/api/v1/records", c.internal_of(process)), key.clone());
        let http = c.http.clone();
        async move { http.request(Method::GET, url).bearer_auth(key).send().await.unwrap().status().as_u16() }
    };
    for process in 0..2 {
        assert_eq!(records(process).await, 200, "the new key works on process {process} at once");
    }
    // Listed with an id, never the key or its whole hash; the label shows whose it is.
    let list = admin(&c, &["api-key-list", "--tenant", "tenant-a"]);
    let line = list.lines().find(|l| l.contains("税務システム")).unwrap_or_else(|| panic!("{list}"));
    assert!(!list.contains(&key), "{list}");
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(line.contains("a-mayor") && line.contains("live"), "{line}");

    let revoked_at = Instant::now();
    let said = admin(&c, &["api-key-revoke", "--tenant", "tenant-a", "--id", &id]);
    assert!(said.contains("revoked"), "{said}");
    for process in 0..2 {
        loop {
            let status = records(process).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            let waited = revoked_at.elapsed();
            assert!(
                waited < renkei_server::KEY_CACHE_TTL + Duration::from_secs(2),
                "process {process} still takes the key after {waited:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The other keys still work; the list says revoked; the audit log has the act.
    assert_eq!(c.api("a-mayor", Method::GET, "/api/v1/records", None).await.0, 200);
    let list = admin(&c, &["api-key-list", "--tenant", "tenant-a"]);
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("revoked")), "{list}");
    let audit = admin(&c, &["audit", "--tenant", "tenant-a"]);
    assert!(audit.lines().any(|l| l.contains("api_key.revoke") && l.contains(&id)), "{audit}");
    // Revoking it again, or a key of another tenant, is one clear line and a non-zero exit.
    let plat = c.path("platform").display().to_string();
    for tenant in ["tenant-a", "tenant-b"] {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(["admin", "--data-dir", &plat, "--database-schema", "renkei"]).args(c.db_args());
        cmd.args(["api-key-revoke", "--tenant", tenant, "--id", &id]);
        let (code, _, err) = Cluster::output(cmd);
        assert_ne!(code, 0, "{tenant}: {err}");
        assert!(err.starts_with("error:") && err.contains("no live API key") && err.trim_end().lines().count() == 1, "{err}");
    }
}

/// A key made with `--duty D015` files for D015 and is refused for any other duty (403
/// duty-not-assigned) before anything else is looked at; keys made before the duties existed
/// (`*`) file as they did.
async fn an_api_key_made_for_some_duties_files_only_for_those(b: Backend) {
    let c = Cluster::start_on(b).await;
    let key = admin(&c, &["api-key-create", "--tenant", "tenant-a", "--org", "a-mayor", "--duty", "D015"]).trim().to_owned();
    let file = |key: String, duty: &str| {
        let body = json!({"duty": duty, "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A-none", "reference_date": "2026-07-01", "idempotency_key": format!("k-{duty}")});
        let req = c.http.post(format!("{}/api/v1/queries", c.internal())).bearer_auth(key).json(&body);
        async move { common::respond(req.send().await.unwrap()).await }
    };
    let (s, _, v) = file(key.clone(), "D999").await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:duty-not-assigned")), "{v}");
    let (s, _, v) = file(key, "D015").await;
    assert_ne!(v["type"].as_str(), Some("urn:renkei:problem:duty-not-assigned"), "{s} {v}");
    let (s, _, v) = file(c.keys["a-mayor"].clone(), "D999").await;
    assert_ne!(v["type"].as_str(), Some("urn:renkei:problem:duty-not-assigned"), "an older key files for every duty: {s} {v}");
}
