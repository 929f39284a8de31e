//! The invariants of the core linkage, each driving the real binaries over HTTPS.

mod common;

use common::{Backend, Cluster, contains, files, number, respond};
use renkei_crypto::signing::SigningKey;
use renkei_domain::wire::{MessageKind, QueryRequest};
use renkei_domain::{AddresseeNo, OrgId, RequestId, TenantId};
use renkei_store::platform::PlatformStore;
use renkei_store::tenant::TenantStore;
use reqwest::Method;
use serde_json::json;

const PROBLEM: &str = "application/problem+json";

on_both_backends!(
    the_largest_copies_accepted_are_answered_whole_and_larger_ones_refused,
    a_bad_individual_number_is_a_clear_4xx_and_stores_nothing,
    a_query_is_answered_automatically_from_the_copy_valid_on_the_reference_date,
    one_tenants_key_cannot_see_or_touch_another_tenants_data,
    a_query_the_matrix_forbids_is_refused_at_the_platform_and_at_the_hub,
    the_hub_rejects_a_bad_signature_an_unknown_org_and_a_replayed_request_id,
    the_hub_stores_and_relays_only_sealed_answers,
    the_network_listener_serves_nothing_of_the_internal_api_and_the_reverse,
    restarting_every_process_keeps_persons_copies_queries_and_records,
    filing_twice_with_one_idempotency_key_yields_one_query,
    bad_bodies_get_problem_documents,
    dates_are_years_0001_to_9999_and_copies_are_chosen_by_date,
    records_and_queries_are_read_a_page_at_a_time_with_filters,
    the_served_openapi_document_matches_the_committed_one,
);

async fn a_bad_individual_number_is_a_clear_4xx_and_stores_nothing(b: Backend) {
    let c = Cluster::start_on(b).await;
    let good = number(12345);
    let wrong_check = format!("{}{}", &good[..11], (good.as_bytes()[11] - b'0' + 1) % 10);
    for (bad, reason) in [(wrong_check.as_str(), "check digit"), ("12345", "12 digits"), ("12345678901a", "not a digit")] {
        let (s, ct, v) = c.register("a-mayor", "BAD-1", bad).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(ct, PROBLEM);
        assert_eq!(v["type"], "urn:renkei:problem:invalid-individual-number");
        assert!(v["detail"].as_str().unwrap_or_default().contains(reason), "{v}");
        assert!(!v.to_string().contains(bad), "the problem must not echo the input");
    }
    // A number sent as a JSON integer (or inside any other field of the wrong type) is named by
    // its field, never repeated.
    // A number with no leading zero, so that the integer's digits are the number's.
    let big = number(98_765_432_101);
    let digits: u64 = big.parse().unwrap();
    for body in [json!({"addressee_no": "BAD-2", "individual_number": digits}), json!({"addressee_no": digits, "individual_number": big})] {
        let (s, ct, v) = c.api("a-mayor", reqwest::Method::POST, "/api/v1/persons", Some(body)).await;
        assert_eq!((s, ct.as_str(), v["type"].as_str()), (400, PROBLEM, Some("urn:renkei:problem:invalid-body")), "{v}");
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("invalid type") && (detail.contains("individual_number") || detail.contains("addressee_no")), "{v}");
        assert!(!v.to_string().contains(&big), "the problem must not echo the number: {v}");
    }
    // Nothing was stored: querying about that addressee says it is not registered.
    let (s, _, v) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "BAD-1", "k1").await;
    assert_eq!((s, v["type"].as_str()), (422, Some("urn:renkei:problem:person-not-registered")));
    // Full-width digits are normalized and accepted.
    let full: String = good.chars().map(|ch| char::from_u32(ch as u32 - '0' as u32 + '０' as u32).unwrap()).collect();
    let (s, _, v) = c.register("a-mayor", "OK-1", &format!(" {full} ")).await;
    assert_eq!(s, 201, "{v}");
    let (s, _, v) = c.register("a-mayor", "OK-1", &good).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("already_registered")));
}

async fn a_query_is_answered_automatically_from_the_copy_valid_on_the_reference_date(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(777);
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &n).await.0, 201);
    c.copy("b-mayor", "B1", "TAX", "2025-06-01", json!({"income": 1})).await;
    c.copy("b-mayor", "B1", "TAX", "2026-06-01", json!({"income": 2})).await;
    c.copy("b-mayor", "B1", "TAX", "2026-08-01", json!({"income": 3})).await;
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "q1").await;
    assert_eq!(s, 201, "{q}");
    let q = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(q["state"], "answered", "{q}");
    assert_eq!(q["state_label"], "回答済");
    assert_eq!(q["outcome"], "found");
    assert_eq!(q["answer"]["items"][0]["status"], "found");
    assert_eq!(q["answer"]["items"][0]["valid_from"], "2026-06-01");
    assert_eq!(q["answer"]["items"][0]["fields"]["income"], 2);
    // Each side holds exactly one record of the query.
    for org in ["a-mayor", "b-mayor"] {
        let (_, _, r) = c.api(org, Method::GET, "/api/v1/records", None).await;
        let recs: Vec<_> = r["records"].as_array().unwrap().iter().filter(|x| x["request_id"] == q["request_id"]).collect();
        assert_eq!(recs.len(), 1, "{org}: {r}");
        assert_eq!(recs[0]["outcome"], "found");
    }
    // Records are searched by duty and by the other org.
    let count = |path: &'static str| {
        let c = &c;
        async move { c.api("a-mayor", Method::GET, path, None).await.2["records"].as_array().map_or(0, Vec::len) }
    };
    assert_eq!(count("/api/v1/records?duty=D015&counterpart_org=b-mayor").await, 1);
    assert_eq!(count("/api/v1/records?duty=D014").await, 0);
    assert_eq!(count("/api/v1/records?counterpart_org=a-edu").await, 0);
    let (s, _, v) = c.api("a-mayor", Method::GET, "/api/v1/records?duty=not%20a%20code", None).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-query")), "{v}");
    // The resident sees the hub's record through disclosure.
    let token = c.hub_cmd("resident-token", &[], Some(&format!("{n}\n")));
    let resp =
        c.http.get(format!("https://127.0.0.1:{}/hub/v1/disclosure", c.resident_port)).bearer_auth(token.trim()).send().await.unwrap();
    let (s, _, d) = respond(resp).await;
    assert_eq!(s, 200);
    assert_eq!(d["records"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["records"][0]["outcome"], "answered");
    let resp = c.http.get(format!("https://127.0.0.1:{}/hub/v1/disclosure", c.resident_port)).bearer_auth("rk_wrong").send().await.unwrap();
    assert_eq!(respond(resp).await.0, 401);
}

async fn one_tenants_key_cannot_see_or_touch_another_tenants_data(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(4242);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    c.copy("a-mayor", "A1", "TAX", "2026-01-01", json!({"secret": "a-only"})).await;
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "iso-1").await;
    let id = q["id"].as_str().unwrap().to_owned();
    c.wait_final("a-mayor", &id).await;
    // Tenant B cannot read A's query: 404, as if it did not exist.
    let (s, ct, _) = c.api("b-mayor", Method::GET, &format!("/api/v1/queries/{id}"), None).await;
    assert_eq!((s, ct.as_str()), (404, PROBLEM));
    assert_eq!(c.api("b-mayor", Method::GET, "/api/v1/queries/no-such-id", None).await.0, 404);
    // Nor can another org of the same tenant.
    assert_eq!(c.api("a-edu", Method::GET, &format!("/api/v1/queries/{id}"), None).await.0, 404);
    // B cannot use A's person: the addressee number is A's, not B's.
    let (s, _, v) = c.file("b-mayor", "a-mayor", "D015", &["TAX"], "A1", "iso-2").await;
    assert_eq!((s, v["type"].as_str()), (422, Some("urn:renkei:problem:person-not-registered")));
    // Writing a copy under A's addressee number lands in B's own space; A's copy is untouched.
    c.copy("b-mayor", "A1", "TAX", "2026-01-01", json!({"secret": "b-overwrite"})).await;
    c.register("b-mayor", "B2", &number(999)).await;
    let (_, _, q2) = c.file("b-mayor", "a-mayor", "D015", &["TAX"], "B1", "iso-3").await;
    let q2 = c.wait_final("b-mayor", q2["id"].as_str().unwrap()).await;
    assert_eq!(q2["answer"]["items"][0]["fields"]["secret"], "a-only", "{q2}");
    // B's records never list A's query as B's own.
    let (_, _, r) = c.api("b-mayor", Method::GET, "/api/v1/records", None).await;
    assert!(r["records"].as_array().unwrap().iter().all(|x| x["role"] == "provider" || x["request_id"] != q["request_id"]));
    // A key that does not exist is 401.
    let resp = c.http.get(format!("{}/api/v1/records", c.internal())).bearer_auth("rk_forged").send().await.unwrap();
    assert_eq!(respond(resp).await.0, 401);
}

/// Signs a query as `org` with its real key, read from the platform's store.
async fn org_key(c: &Cluster, tenant: &str, org: &str) -> (SigningKey, TenantStore) {
    let dir = c.path("platform");
    let master = renkei_crypto::datakey::MasterKey::from_text(&std::fs::read_to_string(dir.join("master.key")).unwrap()).unwrap();
    let store = PlatformStore::open(&c.location("platform", "renkei")).await.unwrap();
    let tid = TenantId::parse(tenant).unwrap();
    let dk = store.data_key(&master, &tid).await.unwrap();
    let (signing, _) = store.org_keys(&dk, &OrgId::parse(org).unwrap()).await.unwrap();
    let dk = store.data_key(&master, &tid).await.unwrap();
    let ts = store.tenant_store(tid, dk).await.unwrap();
    (signing, ts)
}

async fn post_hub(c: &Cluster, env: &renkei_domain::wire::SignedEnvelope) -> (u16, String, serde_json::Value) {
    respond(c.http.post(format!("{}/hub/v1/queries", c.hub())).json(env).send().await.unwrap()).await
}

async fn a_query_the_matrix_forbids_is_refused_at_the_platform_and_at_the_hub(b: Backend) {
    let c = Cluster::start_on(b).await;
    c.register("a-edu", "E1", &number(31)).await;
    // EDU may ask MUNI for TAX under D014, not for RESIDENT.
    let (s, ct, v) = c.file("a-edu", "b-mayor", "D014", &["RESIDENT"], "E1", "m1").await;
    assert_eq!((s, ct.as_str(), v["type"].as_str()), (403, PROBLEM, Some("urn:renkei:problem:matrix-denied")));
    // Forced past the platform with a correctly signed envelope, the hub refuses it too.
    let (signing, q) = signed_query_parts(&c, ("tenant-a", "a-edu", "E1"), "b-mayor", "D014", "RESIDENT", "forced-1").await;
    let env = signing.sign("a-edu", MessageKind::Query, &q).unwrap();
    let (s, _, v) = post_hub(&c, &env).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:matrix-denied")), "{v}");
}

/// What a requester org would sign: its real signing key and a query about the person it
/// registered as `addressee`, built with its real code, so tests can force it past the platform.
async fn signed_query_parts(
    c: &Cluster,
    (tenant, org, addressee): (&str, &str, &str),
    provider: &str,
    duty: &str,
    item: &str,
    request_id: &str,
) -> (SigningKey, QueryRequest) {
    let (signing, ts) = org_key(c, tenant, org).await;
    let requester = OrgId::parse(org).unwrap();
    let code = ts.person_code(&requester, &AddresseeNo::parse(addressee).unwrap()).await.unwrap().unwrap();
    let q = QueryRequest {
        request_id: RequestId::parse(request_id).unwrap(),
        requester,
        provider: OrgId::parse(provider).unwrap(),
        duty: renkei_domain::DutyCode::parse(duty).unwrap(),
        items: vec![renkei_domain::ItemCode::parse(item).unwrap()],
        requester_code: code,
        reference_date: "2026-07-01".parse().unwrap(),
        issued_at: renkei_store::now_unix(),
    };
    (signing, q)
}

async fn the_hub_rejects_a_bad_signature_an_unknown_org_and_a_replayed_request_id(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(55);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "r1").await;
    let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    let (signing, base) = signed_query_parts(&c, ("tenant-a", "a-mayor", "A1"), "b-mayor", "D015", "TAX", "hub-test-1").await;
    // Bad signature: signed by a key that is not a-mayor's.
    let env = SigningKey::generate().sign("a-mayor", MessageKind::Query, &base).unwrap();
    let (s, ct, v) = post_hub(&c, &env).await;
    assert_eq!((s, ct.as_str(), v["type"].as_str()), (401, PROBLEM, Some("urn:renkei:problem:bad-signature")));
    // Unknown org.
    let mut stranger = base.clone();
    stranger.requester = OrgId::parse("nobody").unwrap();
    let env = SigningKey::generate().sign("nobody", MessageKind::Query, &stranger).unwrap();
    let (s, _, v) = post_hub(&c, &env).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:unknown-org")));
    // Replayed request id: the id of the answered query, now with other content.
    let mut replay = base.clone();
    replay.request_id = RequestId::parse(done["request_id"].as_str().unwrap()).unwrap();
    replay.reference_date = "2020-01-01".parse().unwrap();
    let (s, _, v) = post_hub(&c, &signing.sign("a-mayor", MessageKind::Query, &replay).unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:replayed-request")));
    // A signed code request whose number is a JSON integer is refused naming the field, never
    // repeating the number.
    let big = number(98_765_432_101);
    let odd =
        json!({"org": "a-mayor", "request_id": "odd-1", "issued_at": renkei_store::now_unix(), "numbers": [big.parse::<u64>().unwrap()]});
    let env = signing.sign("a-mayor", MessageKind::CodeRequest, &odd).unwrap();
    let (s, _, v) = respond(c.http.post(format!("{}/hub/v1/codes", c.hub())).json(&env).send().await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-message")), "{v}");
    assert!(!v.to_string().contains(&big), "the hub must not echo the number: {v}");
    // The tenant-wide registry: a-mayor's registration of A1 gave a-edu its own code, the one
    // the hub gives a-edu's sibling request for the same number, and not a-mayor's. An org of
    // another municipality is no sibling.
    let ask = |siblings: &[&str], id: &str| {
        let req = json!({"org": "a-mayor", "request_id": id, "issued_at": renkei_store::now_unix(), "numbers": [n], "siblings": siblings});
        let env = signing.sign("a-mayor", MessageKind::CodeRequest, &req).unwrap();
        c.http.post(format!("{}/hub/v1/codes", c.hub())).json(&env).send()
    };
    let (s, _, v) = respond(ask(&["b-mayor"], "siblings-1").await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:unknown-org")), "{v}");
    let (s, _, v) = respond(ask(&["a-edu"], "siblings-2").await.unwrap()).await;
    assert_eq!(s, 200, "{v}");
    let (_, edu_store) = org_key(&c, "tenant-a", "a-edu").await;
    let edu_code = edu_store.person_code(&OrgId::parse("a-edu").unwrap(), &AddresseeNo::parse("A1").unwrap()).await.unwrap().unwrap();
    assert_eq!(v["siblings"][0][0].as_str(), Some(edu_code.as_str()), "{v}");
    assert_ne!(v["codes"][0], v["siblings"][0][0], "each org has a code of its own");
    // A stale envelope (issued long ago) is a replay too.
    let mut stale = base.clone();
    stale.issued_at -= 3600;
    let (s, _, v) = post_hub(&c, &signing.sign("a-mayor", MessageKind::Query, &stale).unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:replayed-request")));
    // A code the hub never issued to a-mayor (here b-mayor's code for the same person) is refused.
    let mut foreign_code = base.clone();
    foreign_code.request_id = RequestId::parse("hub-test-foreign-code").unwrap();
    let b_org = OrgId::parse("b-mayor").unwrap();
    let (_, b_store) = org_key(&c, "tenant-b", "b-mayor").await;
    foreign_code.requester_code = b_store.person_code(&b_org, &AddresseeNo::parse("B1").unwrap()).await.unwrap().unwrap();
    let (s, _, v) = post_hub(&c, &signing.sign("a-mayor", MessageKind::Query, &foreign_code).unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (422, Some("urn:renkei:problem:unknown-code")), "{v}");
    // The genuine envelope is admitted; sending it again is an idempotent retry, not a new query.
    let env = signing.sign("a-mayor", MessageKind::Query, &base).unwrap();
    assert_eq!(post_hub(&c, &env).await.0, 202);
    assert_eq!(post_hub(&c, &env).await.0, 202);
}

async fn the_hub_stores_and_relays_only_sealed_answers(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(8080);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    let marker = "PLAINTEXT-MARKER-4f1c";
    c.copy("b-mayor", "B1", "TAX", "2026-01-01", json!({"note": marker})).await;
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "s1").await;
    let q = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(q["answer"]["items"][0]["fields"]["note"], marker, "the requester can read it");
    // The hub's relayed bytes are what it stored; neither its files nor its log hold the marker.
    let mut scanned = 0;
    for f in files(&c.path("hub")).into_iter().chain([c.path("hub.log")]) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, marker.as_bytes()), "{} holds answer plaintext", f.display());
        scanned += 1;
    }
    assert!(scanned >= 2);
    // And the provider's and requester's stores hold it only encrypted.
    for f in files(&c.path("platform")) {
        assert!(!contains(&std::fs::read(&f).unwrap(), marker.as_bytes()), "{} holds plaintext", f.display());
    }
    if let Some(db) = &c.db {
        // On PostgreSQL: every text and bytea column of the hub's and the platform's schemas.
        let columns = db
            .text(
                "SELECT string_agg(table_schema || '.' || table_name || '.' || column_name || '.' || data_type, ',') FROM information_schema.columns
                 WHERE table_schema IN ('renkei', 'renkei_hub') AND data_type IN ('text', 'bytea')",
            )
            .unwrap();
        let columns: Vec<&str> = columns.split(',').collect();
        assert!(columns.len() > 20, "{columns:?}");
        for col in columns {
            let [schema, table, column, ty]: [&str; 4] = col.split('.').collect::<Vec<_>>().try_into().unwrap();
            let value = if ty == "bytea" { column.to_string() } else { format!("convert_to({column}, 'UTF8')") };
            let hits = db
                .text(&format!("SELECT COUNT(*)::text FROM {schema}.{table} WHERE position(convert_to('{marker}', 'UTF8') in {value}) > 0"))
                .unwrap();
            assert_eq!(hits, "0", "{schema}.{table}.{column} holds answer plaintext");
        }
        let forwarded = db.text("SELECT COUNT(*)::text FROM renkei_hub.queries WHERE answer IS NOT NULL").unwrap();
        assert_eq!(forwarded, "1", "the hub did keep the sealed answer it relayed");
    }
}

async fn the_network_listener_serves_nothing_of_the_internal_api_and_the_reverse(b: Backend) {
    let c = Cluster::start_on(b).await;
    let key = &c.keys["a-mayor"];
    for path in ["/api/v1/records", "/api/v1/queries/x", "/api/openapi.json"] {
        let (s, ct, _) = respond(c.http.get(format!("{}{path}", c.network())).bearer_auth(key).send().await.unwrap()).await;
        assert_eq!((s, ct.as_str()), (404, PROBLEM), "network {path}");
    }
    let (s, _, _) =
        respond(c.http.post(format!("{}/api/v1/persons", c.network())).bearer_auth(key).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(s, 404);
    for path in ["/net/v1/queries", "/net/v1/answers"] {
        let (s, ct, _) = respond(c.http.post(format!("{}{path}", c.internal())).json(&json!({})).send().await.unwrap()).await;
        assert_eq!((s, ct.as_str()), (404, PROBLEM), "internal {path}");
    }
    // The network listener demands a client certificate.
    let ca = std::fs::read_to_string(c.path("pki/ca.pem")).unwrap();
    let no_cert = renkei_net::tls::client_trusting(&ca, std::time::Duration::from_secs(5)).unwrap();
    assert!(no_cert.post(format!("{}/net/v1/queries", c.network())).json(&json!({})).send().await.is_err());
    assert!(no_cert.post(format!("{}/hub/v1/queries", c.hub())).json(&json!({})).send().await.is_err());
    // …while the internal listener serves a client system without one.
    let (s, _, _) = respond(no_cert.get(format!("{}/api/v1/records", c.internal())).bearer_auth(key).send().await.unwrap()).await;
    assert_eq!(s, 200);
}

async fn restarting_every_process_keeps_persons_copies_queries_and_records(b: Backend) {
    let mut c = Cluster::start_on(b).await;
    let n = number(6060);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    c.copy("b-mayor", "B1", "TAX", "2026-01-01", json!({"income": 5})).await;
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "p1").await;
    let id = q["id"].as_str().unwrap().to_owned();
    let before = c.wait_final("a-mayor", &id).await;
    let (_, _, records_before) = c.api("b-mayor", Method::GET, "/api/v1/records", None).await;
    c.restart().await;
    let (_, _, after) = c.api("a-mayor", Method::GET, &format!("/api/v1/queries/{id}"), None).await;
    assert_eq!(after["state"], "answered");
    assert_eq!(after["answer"], before["answer"]);
    let (_, _, records_after) = c.api("b-mayor", Method::GET, "/api/v1/records", None).await;
    assert_eq!(records_before, records_after);
    // The person and copy survived: a new query is answered from them.
    assert_eq!(c.register("a-mayor", "A1", &n).await.2["status"], "already_registered");
    let (_, _, q2) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "p2").await;
    let q2 = c.wait_final("a-mayor", q2["id"].as_str().unwrap()).await;
    assert_eq!(q2["answer"]["items"][0]["fields"]["income"], 5);
}

async fn filing_twice_with_one_idempotency_key_yields_one_query(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(11);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    let (s1, _, q1) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "same-key").await;
    let (s2, _, q2) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "same-key").await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(q1["id"], q2["id"]);
    assert_eq!(q1["request_id"], q2["request_id"]);
    c.wait_final("a-mayor", q1["id"].as_str().unwrap()).await;
    let (_, _, r) = c.api("b-mayor", Method::GET, "/api/v1/records", None).await;
    assert_eq!(r["records"].as_array().unwrap().len(), 1);
    // The same key for a different query is a conflict, not a silent second query.
    let other = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1", "reference_date": "2020-01-01", "idempotency_key": "same-key"});
    let (s3, ct, v) = c.api("a-mayor", Method::POST, "/api/v1/queries", Some(other)).await;
    assert_eq!((s3, ct.as_str()), (409, PROBLEM), "{v}");
}

async fn bad_bodies_get_problem_documents(b: Backend) {
    let c = Cluster::start_on(b).await;
    let key = &c.keys["a-mayor"];
    let post = |body: String| {
        c.http.post(format!("{}/api/v1/queries", c.internal())).bearer_auth(key).header("content-type", "application/json").body(body)
    };
    let (s, ct, v) = respond(post("{not json".into()).send().await.unwrap()).await;
    assert_eq!((s, ct.as_str(), v["type"].as_str()), (400, PROBLEM, Some("urn:renkei:problem:malformed-json")));
    let unknown_field = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1", "reference_date": "2026-07-01", "idempotency_key": "k", "extra": 1});
    let (s, _, v) = respond(post(unknown_field.to_string()).send().await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-body")), "{v}");
    let (s, _, v) = respond(post(format!("{{\"x\":\"{}\"}}", "a".repeat(300 << 10))).send().await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (413, Some("urn:renkei:problem:body-too-large")));
    let (s, _, v) = c.copy("a-mayor", "A1", "NOPE", "2026-01-01", json!({})).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:unknown-item")));
    let (s, _, v) = c.file("a-mayor", "nowhere", "D015", &["TAX"], "A1", "k").await;
    assert_eq!((s, v["type"].as_str()), (422, Some("urn:renkei:problem:unknown-provider")));
}

async fn dates_are_years_0001_to_9999_and_copies_are_chosen_by_date(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(4242);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    // Years past 9999 sorted before 2026 as text: a copy valid only from the year 10000 was
    // handed out for 2026. They are refused on the way in, naming the rule, not the value.
    for far in ["+10000-01-01", "10000-01-01"] {
        let (s, ct, v) = c.copy("b-mayor", "B1", "TAX", far, json!({"v": 9})).await;
        assert_eq!((s, ct.as_str(), v["type"].as_str()), (400, PROBLEM, Some("urn:renkei:problem:invalid-body")), "{v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains("0001–9999") && !v.to_string().contains("10000"), "{v}");
        let query = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1", "reference_date": far, "idempotency_key": far});
        let (s, _, v) = c.api("a-mayor", Method::POST, "/api/v1/queries", Some(query)).await;
        assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-body")), "{v}");
    }
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "0999-01-01", json!({"v": 1})).await.0, 200);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-06-01", json!({"v": 2})).await.0, 200);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "9999-12-31", json!({"v": 3})).await.0, 200);
    for (date, want) in [("2026-07-01", 2), ("1500-01-01", 1), ("9999-12-31", 3)] {
        let query = json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1", "reference_date": date, "idempotency_key": date});
        let (s, _, q) = c.api("a-mayor", Method::POST, "/api/v1/queries", Some(query)).await;
        assert_eq!(s, 201, "{q}");
        let q = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
        assert_eq!(q["reference_date"], date);
        assert_eq!(q["answer"]["items"][0]["fields"]["v"], want, "on {date}: {q}");
    }
}

/// Lists are bounded: a page holds `limit` items and gives the cursor of the next; queries
/// filter by state, filing time and duty; bad parameters are a 400 that repeats nothing; another
/// tenant's key lists nothing of this org.
async fn records_and_queries_are_read_a_page_at_a_time_with_filters(b: Backend) {
    let c = Cluster::start_on(b).await;
    let n = number(3131);
    c.register("a-mayor", "A1", &n).await;
    c.register("b-mayor", "B1", &n).await;
    c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"v": 1})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", &format!("page-{i}")).await;
        assert_eq!(s, 201, "{q}");
        ids.push(q["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        c.wait_final("a-mayor", id).await;
    }
    let c = &c;
    let get = |path: String| async move { c.api("a-mayor", Method::GET, &path, None).await };
    // Queries, newest first, two a page.
    let mut seen = Vec::new();
    let mut path = "/api/v1/queries?limit=2".to_string();
    loop {
        let (s, _, page) = get(path.clone()).await;
        assert_eq!(s, 200, "{page}");
        let got = page["queries"].as_array().unwrap();
        assert!(got.len() <= 2);
        seen.extend(got.iter().map(|q| q["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/queries?limit=2&after={next}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every query once, newest first");
    // Filters.
    let count = |path: &'static str| async move {
        c.api("a-mayor", Method::GET, path, None).await.2["queries"].as_array().map_or(usize::MAX, Vec::len)
    };
    assert_eq!(count("/api/v1/queries?state=answered").await, 5);
    assert_eq!(count("/api/v1/queries?state=failed").await, 0);
    assert_eq!(count("/api/v1/queries?duty=D015").await, 5);
    assert_eq!(count("/api/v1/queries?duty=D999").await, 0);
    assert_eq!(count("/api/v1/queries?filed_since=2000-01-01T00:00:00%2B09:00").await, 5);
    assert_eq!(count("/api/v1/queries?filed_since=2999-01-01T00:00:00Z").await, 0);
    // Records, oldest first, a page at a time: the requester's five, each once.
    let (_, _, first) = get("/api/v1/records?limit=3".into()).await;
    assert_eq!(first["records"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, _, rest) = get(format!("/api/v1/records?limit=3&after={next}")).await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 2);
    assert!(rest["next"].is_null(), "{rest}");
    let seqs: Vec<i64> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["records"].as_array().unwrap())
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(c.all_records("a-mayor").await.len(), 5);
    // Bad parameters.
    for bad in [
        "/api/v1/records?limit=0",
        "/api/v1/records?limit=1001",
        "/api/v1/records?after=123456789018x",
        "/api/v1/records?nope=1",
        "/api/v1/queries?after=x",
        "/api/v1/queries?state=lost",
        "/api/v1/queries?filed_since=yesterday",
        "/api/v1/queries?duty=bad duty",
    ] {
        let (s, ct, v) = get(bad.into()).await;
        assert_eq!((s, ct.as_str(), v["type"].as_str()), (400, PROBLEM, Some("urn:renkei:problem:invalid-query")), "{bad}: {v}");
        assert!(!v.to_string().contains("123456789018"), "{v}");
    }
    // Another tenant's key lists only its own org's queries.
    let (_, _, theirs) = c.api("b-mayor", Method::GET, "/api/v1/queries", None).await;
    assert_eq!(theirs["queries"].as_array().unwrap().len(), 0, "{theirs}");
}

async fn the_served_openapi_document_matches_the_committed_one(b: Backend) {
    let c = Cluster::start_on(b).await;
    let served: serde_json::Value = c.http.get(format!("{}/api/openapi.json", c.internal())).send().await.unwrap().json().await.unwrap();
    let committed: serde_json::Value = serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
    assert_eq!(served, committed, "regenerate docs/openapi.json with `renkei openapi > docs/openapi.json`");
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
}

/// Copies at the limits of `renkei_domain::copy` (as large and as deep as accepted) make an
/// answer that travels requester → hub → provider and back whole; a copy beyond a limit is
/// refused at `POST /api/v1/copies`, saying which limit, not repeating the value.
async fn the_largest_copies_accepted_are_answered_whole_and_larger_ones_refused(b: Backend) {
    use renkei_domain::copy::{MAX_FIELDS_BYTES, MAX_FIELDS_DEPTH, largest_fields};
    let c = Cluster::start_on(b).await;
    let n = number(5150);
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &n).await.0, 201);
    let largest = serde_json::Value::Object(largest_fields());
    // D010 is the duty of the built-in Matrix with the most items a city may ask of another.
    for item in ["TAX", "RESIDENT"] {
        let (s, _, v) = c.copy("b-mayor", "B1", item, "2026-01-01", largest.clone()).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D010", &["TAX", "RESIDENT"], "A1", "largest").await;
    assert_eq!(s, 201, "{q}");
    let q = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(q["state"], "answered", "{q}");
    for i in 0..2 {
        assert_eq!(q["answer"]["items"][i]["fields"], largest, "item {i} arrived whole");
    }

    let secret = "x".repeat(MAX_FIELDS_BYTES);
    let (s, ct, v) = c.copy("b-mayor", "B1", "TAX", "2026-02-01", json!({ "note": secret })).await;
    assert_eq!((s, ct.as_str(), v["type"].as_str()), (400, "application/problem+json", Some("urn:renkei:problem:invalid-fields")), "{v}");
    assert!(!v.to_string().contains("xxxx"), "{v}");
    let mut deep = json!(1);
    for _ in 0..MAX_FIELDS_DEPTH {
        deep = json!([deep]);
    }
    let (s, _, v) = c.copy("b-mayor", "B1", "TAX", "2026-02-01", json!({ "deep": deep })).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-fields")), "{v}");
    assert!(v["detail"].as_str().unwrap_or_default().contains("nest"), "{v}");
}
