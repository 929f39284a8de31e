//! A municipality's people at work through the JSON API with their sessions: staff file and
//! read queries of their own org for the duties assigned to them, and nothing else; an auditor
//! reads the linkage records of every org of the tenant and no query; each person's privileged
//! act is an entry of the tenant's audit log.

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use serde_json::json;

on_both_backends!(staff_work_within_their_org_and_duties_and_are_audited);

fn filing(duty: &str, key: &str) -> serde_json::Value {
    json!({"duty": duty, "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1",
        "reference_date": "2026-07-01", "idempotency_key": key})
}

async fn staff_work_within_their_org_and_duties_and_are_audited(b: Backend) {
    let c = Cluster::start_on(b).await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let staff = c.person("tenant-a", "staff-mayor", "staff", Some("a-mayor")).await;
    let edu = c.person("tenant-a", "staff-edu", "staff", Some("a-edu")).await;
    let auditor = c.person("tenant-a", "auditor-a", "auditor", None).await;
    let other = c.person("tenant-b", "staff-b", "staff", Some("b-mayor")).await;
    for (name, duty) in [("staff-mayor", "D015"), ("staff-edu", "D014")] {
        let (s, _, v) = c.as_person(&admin, Method::PUT, &format!("/api/v1/accounts/{name}/duties"), Some(json!({"duties": [duty]}))).await;
        assert_eq!(s, 200, "{v}");
    }
    // The provider's side, by its client system.
    assert_eq!(c.register("b-mayor", "B1", &common::number(7)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"income": 3_000_000})).await.0, 200);

    // The staff member registers the person and files for their duty; the answer comes back.
    let (s, _, v) = c
        .as_person(&staff, Method::POST, "/api/v1/persons", Some(json!({"addressee_no": "A1", "individual_number": common::number(7)})))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, _, q) = c.as_person(&staff, Method::POST, "/api/v1/queries", Some(filing("D015", "staff-1"))).await;
    assert_eq!(s, 201, "{q}");
    let id = q["id"].as_str().unwrap();
    let mut answered = json!(null);
    for _ in 0..200 {
        let (s, _, v) = c.as_person(&staff, Method::GET, &format!("/api/v1/queries/{id}"), None).await;
        assert_eq!(s, 200, "{v}");
        if v["state"] == "answered" {
            answered = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered["answer"]["items"][0]["fields"]["income"], 3_000_000, "{answered}");

    // A duty not assigned: refused before anything is stored.
    let (s, _, v) = c.as_person(&staff, Method::POST, "/api/v1/queries", Some(filing("D010", "staff-2"))).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:duty-not-assigned")), "{v}");
    // The org's client system files for D010: the staff member of D015 does not see it.
    let (s, _, sys) = c.file("a-mayor", "b-mayor", "D010", &["TAX"], "A1", "system-1").await;
    assert_eq!(s, 201, "{sys}");
    let sys_id = sys["id"].as_str().unwrap();
    let (s, _, v) = c.as_person(&staff, Method::GET, &format!("/api/v1/queries/{sys_id}"), None).await;
    assert_eq!((s, v["type"].as_str()), (404, Some("urn:renkei:problem:not-found")), "{v}");
    let (s, _, list) = c.as_person(&staff, Method::GET, "/api/v1/queries", None).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list["queries"].as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id], "only the queries of the staff member's duties");
    let (_, _, all) = c.api("a-mayor", Method::GET, "/api/v1/queries", None).await;
    assert_eq!(all["queries"].as_array().unwrap().len(), 2, "the client system sees every duty of its org");

    // Another org of the tenant, and another tenant, find nothing of a-mayor's.
    for token in [&edu, &other] {
        let (s, _, v) = c.as_person(token, Method::GET, &format!("/api/v1/queries/{id}"), None).await;
        assert_eq!(s, 404, "{v}");
        let (_, _, list) = c.as_person(token, Method::GET, "/api/v1/queries", None).await;
        assert_eq!(list["queries"], json!([]), "{list}");
    }

    // The auditor reads the linkage records of every org of the tenant, and no query.
    let (s, _, records) = c.as_person(&auditor, Method::GET, "/api/v1/records", None).await;
    assert_eq!(s, 200, "{records}");
    let records = records["records"].as_array().unwrap();
    assert!(records.iter().any(|r| r["org"] == "a-mayor" && r["request_id"] == answered["request_id"]), "{records:?}");
    let (s, _, v) = c.as_person(&auditor, Method::GET, "/api/v1/queries", None).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let (_, _, edu_records) = c.as_person(&edu, Method::GET, "/api/v1/records", None).await;
    assert_eq!(edu_records["records"], json!([]), "staff read their own org's records");

    // Each of the staff member's acts is in the tenant's log, naming no personal value.
    let (s, _, log) = c.as_person(&admin, Method::GET, "/api/v1/audit", None).await;
    assert_eq!(s, 200, "{log}");
    let acts: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "staff-mayor" && e["role"] == "staff")
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    let filed = format!("query:{id}");
    assert!(acts.contains(&("person.register", "org:a-mayor", "")), "{acts:?}");
    assert!(acts.contains(&("query.file", filed.as_str(), "duty D015 provider b-mayor")), "{acts:?}");
    assert!(!log.to_string().contains("A1") && !log.to_string().contains(&common::number(7)), "no personal value in the log");
}
