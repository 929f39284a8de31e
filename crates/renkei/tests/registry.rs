//! One person registry per tenant (団体内統合宛名番号) for data an earlier release registered per
//! org: `renkei unify-registry` (the operator, counts only) and `POST /api/v1/registry/unify` (the
//! tenant admin, with the list) give every org each person another org knew, by its own code
//! from the hub, and list what contradicts, changing none of it.

mod common;

use common::{Backend, Cluster, number, respond};
use renkei_domain::wire::{CodeRequest, CodeResponse, MessageKind, SiblingCodeRequest};
use renkei_domain::{AddresseeNo, OrgCode, OrgId, RequestId, TenantId};
use renkei_store::platform::PlatformStore;
use reqwest::Method;
use serde_json::json;
use zeroize::Zeroizing;

on_both_backends!(registrations_kept_per_org_become_one_registry_and_contradictions_are_listed);

/// Signs `msg` as `org` of tenant-a and posts it to the hub's `path`.
async fn to_hub<M: serde::Serialize>(c: &Cluster, org: &str, kind: MessageKind, path: &str, msg: &M) -> (u16, String, serde_json::Value) {
    let dir = c.path("platform");
    let master = renkei_crypto::datakey::MasterKey::from_text(&std::fs::read_to_string(dir.join("master.key")).unwrap()).unwrap();
    let store = PlatformStore::open(&c.location("platform", "renkei")).await.unwrap();
    let dk = store.data_key(&master, &TenantId::parse("tenant-a").unwrap()).await.unwrap();
    let (signing, _) = store.org_keys(&dk, &OrgId::parse(org).unwrap()).await.unwrap();
    let env = signing.sign(org, kind, msg).unwrap();
    respond(c.http.post(format!("{}/hub/v1/{path}", c.hub())).json(&env).send().await.unwrap()).await
}

/// Registers `addressee` in `org` alone, as a release before the tenant-wide registry did: the
/// org's own code from the hub (a code request signed with its key), stored for that org only.
async fn register_in_org_alone(c: &Cluster, org: &str, addressee: &str, seed: u64) {
    let org_id = OrgId::parse(org).unwrap();
    let req = CodeRequest {
        org: org_id.clone(),
        request_id: RequestId::parse(&format!("legacy-{org}-{}", addressee.to_lowercase())).unwrap(),
        issued_at: renkei_store::now_unix(),
        numbers: vec![Zeroizing::new(number(seed))],
        siblings: vec![],
    };
    let (s, _, v) = to_hub(c, org, MessageKind::CodeRequest, "codes", &req).await;
    assert_eq!(s, 200, "{v}");
    let codes: CodeResponse = serde_json::from_value(v).unwrap();
    let dir = c.path("platform");
    let master = renkei_crypto::datakey::MasterKey::from_text(&std::fs::read_to_string(dir.join("master.key")).unwrap()).unwrap();
    let store = PlatformStore::open(&c.location("platform", "renkei")).await.unwrap();
    let tenant = TenantId::parse("tenant-a").unwrap();
    let ts = store.tenant_store(tenant.clone(), store.data_key(&master, &tenant).await.unwrap()).await.unwrap();
    ts.register_person(&org_id, &AddresseeNo::parse(addressee).unwrap(), &codes.codes[0]).await.unwrap();
}

fn unify(c: &Cluster) -> String {
    let d = |s: &str| c.path(s).display().to_string();
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["unify-registry", "--tenant", "tenant-a", "--data-dir", &d("platform"), "--pki", &d("pki"), "--cert-name", "platform"])
        .args(["--hub-url", &c.hub(), "--hub-key", &c.hub_key])
        .args(c.db_args());
    let (code, out, err) = Cluster::output(cmd);
    assert_eq!(code, 0, "{out}{err}");
    out
}

async fn registrations_kept_per_org_become_one_registry_and_contradictions_are_listed(b: Backend) {
    let c = Cluster::start_on(b).await;
    // Registered now: a-mayor and a-edu both know M1 (person 1), S1 (person 5), Z6 (person 6).
    for (addressee, seed) in [("M1", 1), ("S1", 5), ("Z6", 6)] {
        assert_eq!(c.register("a-mayor", addressee, &number(seed)).await.0, 201);
    }
    // A third org joins tenant-a; before this release it registered on its own: S1 is person 6
    // there (a-mayor's Z6; a-mayor's S1 is someone else), and K7 (person 7) is known to it alone.
    let entry = c.admin_with(
        &["org-create", "--tenant", "tenant-a", "--id", "a-new", "--type", "EDU", "--name", "新組合", "--endpoint", "https://127.0.0.1:1"],
        "",
    );
    c.hub_cmd("register-org", &[], Some(&entry));
    register_in_org_alone(&c, "a-new", "S1", 6).await;
    register_in_org_alone(&c, "a-new", "K7", 7).await;

    // The operator unifies: a-new learns M1; a-mayor and a-edu learn K7; the two contradictions
    // are counted, never named.
    let out = unify(&c);
    assert_eq!(
        out.trim(),
        "tenant-a: 3 orgs, 4 persons checked, 3 registrations added, 2 conflicts, left as they are \
         (its tenant admin lists them: POST /api/v1/registry/unify)",
        "{out}"
    );
    assert!(!out.contains("S1") && !out.contains("Z6"), "no addressee number in the operator's output");
    for (org, addressee, seed) in [("a-mayor", "K7", 7), ("a-edu", "K7", 7)] {
        let (s, _, v) = c.register(org, addressee, &number(seed)).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("already_registered")), "{org} {addressee}: {v}");
    }
    // What contradicts is left as it was: a-mayor's S1 is still person 5.
    let (s, _, v) = c.register("a-mayor", "S1", &number(5)).await;
    assert_eq!(s, 409, "S1 still means another person in a-new: {v}");

    // Run again, it adds nothing; the tenant admin reads the list.
    assert!(unify(&c).contains("0 registrations added, 2 conflicts"));
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let (s, _, report) = c.as_person(&admin, Method::POST, "/api/v1/registry/unify", None).await;
    assert_eq!((s, report["added"].as_u64(), report["conflicts"].as_u64()), (200, Some(0), Some(2)), "{report}");
    assert_eq!(
        report["listed"],
        json!([
            {"kind": "addressee-names-another-person", "org": "a-edu", "addressee_no": "S1", "other_org": "a-new"},
            {"kind": "person-under-another-number", "org": "a-edu", "addressee_no": "Z6", "other_org": "a-new", "other_addressee_no": "S1"},
        ]),
        "{report}"
    );
    // The hub gives siblings' codes to orgs of the same municipality only, and nothing for a
    // code the signer does not have.
    let ask = |siblings: &[&str], code: &str| SiblingCodeRequest {
        org: OrgId::parse("a-mayor").unwrap(),
        request_id: RequestId::parse("sibling-ask").unwrap(),
        issued_at: renkei_store::now_unix(),
        codes: vec![OrgCode::parse(code).unwrap()],
        siblings: siblings.iter().map(|s| OrgId::parse(s).unwrap()).collect(),
    };
    let (s, _, v) = to_hub(&c, "a-mayor", MessageKind::SiblingCodeRequest, "codes/siblings", &ask(&["b-mayor"], "no-such-code")).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:unknown-org")), "{v}");
    let (s, _, v) = to_hub(&c, "a-mayor", MessageKind::SiblingCodeRequest, "codes/siblings", &ask(&["a-edu"], "no-such-code")).await;
    assert_eq!((s, v["siblings"].clone()), (200, json!([[null]])), "{v}");

    // Staff may not; every run is in the tenant's audit log.
    let staff = c.person("tenant-a", "staff-a", "staff", Some("a-mayor")).await;
    let (s, _, v) = c.as_person(&staff, Method::POST, "/api/v1/registry/unify", None).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let (_, _, log) = c.as_person(&admin, Method::GET, "/api/v1/audit", None).await;
    let runs: Vec<&serde_json::Value> = log["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "registry.unify").collect();
    assert_eq!(runs.len(), 3, "{log}");
    assert!(runs.iter().all(|e| !e.to_string().contains("S1")), "{runs:?}");

    // a-edu now asks a-mayor about K7, whom only a-new knew before.
    assert_eq!(c.copy("a-mayor", "K7", "TAX", "2026-04-01", json!({"income": 7})).await.0, 200);
    let (s, _, q) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "K7", "k7").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-edu", q["id"].as_str().unwrap()).await["outcome"], "found");
}
