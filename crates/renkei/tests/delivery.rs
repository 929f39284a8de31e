//! Delivery through the hub when a peer is down for long or refuses: every attempt is fresh, a
//! permanent refusal ends the query at once with the peer's reason, and the refusing side says
//! why in its log.

mod common;

use common::{Backend, Cluster, Topology, number};
use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::SigningKey;
use renkei_domain::wire::{ForwardedQuery, HUB_SIGNER, MessageKind};
use renkei_domain::{Date, DutyCode, ItemCode, OrgCode, OrgId, OrgType, RequestId};
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_provider_down_longer_than_the_freshness_window_gets_a_fresh_forward_and_answers,
    a_provider_that_refuses_ends_the_query_at_once_with_its_reason,
    a_stale_forward_is_refused_and_the_provider_says_why_in_its_log,
);

/// The freshness window both the hub and the servers use here.
const WINDOW_SECS: u64 = 2;

async fn split_cluster_with_a_short_window(b: Backend) -> Cluster {
    let mut c = Cluster::start_topology(b, Topology::Split, None).await;
    let window = vec![("RENKEI_FRESHNESS_SECS".to_string(), WINDOW_SECS.to_string())];
    c.hub_env = window.clone();
    c.serve_env = window;
    c.restart().await;
    c
}

/// The hub signed a forward once, at admission, and resent that envelope: a provider down for
/// longer than the window refused it as stale (409) on every retry, and the query sat in 照会中
/// until its deadline.
async fn a_provider_down_longer_than_the_freshness_window_gets_a_fresh_forward_and_answers(b: Backend) {
    let mut c = split_cluster_with_a_short_window(b).await;
    let n = number(501);
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &n).await.0, 201);
    c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"income": 7})).await;
    c.kill_process(2);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "down-long").await;
    assert_eq!(s, 201, "{q}");
    // Down for twice the window: the forward admitted before is stale by now.
    tokio::time::sleep(Duration::from_secs(2 * WINDOW_SECS + 1)).await;
    c.start_process(2).await;
    let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "answered", "{done}");
    assert_eq!(done["answer"]["items"][0]["fields"]["income"], 7);
    let provider_log = std::fs::read_to_string(c.path("serve-1.log")).unwrap_or_default();
    assert!(!provider_log.contains("not fresh"), "no attempt reached the provider stale");
}

/// A provider's server that answers 4xx gets the same answer on every retry: the hub gives up at
/// once and tells the requester, whose query ends in エラー with the provider's problem type and
/// detail, long before its deadline.
async fn a_provider_that_refuses_ends_the_query_at_once_with_its_reason(b: Backend) {
    let c = Cluster::start_on(b).await;
    // An org in the hub's directory whose endpoint is a server that does not host it: that
    // server answers every forward for it 404.
    let entry = json!({
        "id": "c-mayor", "org_type": "MUNI", "name": "c-mayor", "endpoint": c.network(),
        "verify_key": SigningKey::generate().verifying_key().to_base64(),
        "seal_key": OpeningKey::generate().sealing_key().to_base64(),
    });
    c.hub_cmd("register-org", &[], Some(&entry.to_string()));
    let n = number(502);
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    let started = std::time::Instant::now();
    let (s, _, q) = c.file("a-mayor", "c-mayor", "D015", &["TAX"], "A1", "refused").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!((done["state"].as_str(), done["state_label"].as_str()), (Some("failed"), Some("エラー")), "{done}");
    let reason = done["error"].as_str().unwrap_or_default();
    assert!(reason.contains("could not deliver the query to c-mayor") && reason.contains("urn:renkei:problem:not-found"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(15), "ended at once, not after the hub's retries");
    // The requester's linkage record says error; the hub logged that it gave up.
    let (_, _, r) = c.api("a-mayor", reqwest::Method::GET, "/api/v1/records", None).await;
    let mine: Vec<_> = r["records"].as_array().unwrap().iter().filter(|x| x["request_id"] == done["request_id"]).collect();
    assert_eq!((mine.len(), mine[0]["outcome"].as_str()), (1, Some("error")), "{r}");
    let hub_log = std::fs::read_to_string(c.path("hub.log")).unwrap_or_default();
    assert!(hub_log.contains("giving up the forward (refused)"), "the hub says why it gave up");
}

/// The provider refuses a forward issued outside its window and its operator can read why.
async fn a_stale_forward_is_refused_and_the_provider_says_why_in_its_log(b: Backend) {
    let c = split_cluster_with_a_short_window(b).await;
    let hub_key = std::fs::read_to_string(c.path("hub/hub.signing.key")).unwrap();
    let hub = SigningKey::from_bytes(&hex_decode(hub_key.trim())).unwrap();
    let stale = ForwardedQuery {
        request_id: RequestId::parse("stale-1").unwrap(),
        requester: OrgId::parse("a-mayor").unwrap(),
        requester_type: OrgType::parse("MUNI").unwrap(),
        requester_seal_key: OpeningKey::generate().sealing_key().to_base64(),
        provider: OrgId::parse("b-mayor").unwrap(),
        duty: DutyCode::parse("D015").unwrap(),
        items: vec![ItemCode::parse("TAX").unwrap()],
        provider_code: OrgCode::parse("nobody").unwrap(),
        reference_date: Date::from_ymd(2026, 7, 1).unwrap(),
        issued_at: renkei_store::now_unix() - 10 * WINDOW_SECS as i64,
    };
    let env = hub.sign(HUB_SIGNER, MessageKind::ForwardedQuery, &stale).unwrap();
    let provider = format!("https://127.0.0.1:{}", c.extra_ports[0].1);
    let resp = c.http.post(format!("{provider}/net/v1/queries")).json(&env).send().await.unwrap();
    let (s, _, v) = common::respond(resp).await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:replayed-request")), "{v}");
    let log = std::fs::read_to_string(c.path("serve-1.log")).unwrap_or_default();
    let line = log.lines().find(|l| l.contains("not fresh")).unwrap_or_else(|| panic!("no log line says why:\n{log}"));
    assert!(line.contains("stale-1") && line.contains("age_secs") && line.contains("window_secs=2"), "{line}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
