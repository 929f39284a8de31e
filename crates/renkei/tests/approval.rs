//! E-approval (電子決裁) end to end: a tenant admin makes an org's duty wait for approval; a
//! staff member's query waits in 承認待ち and reaches the hub only once an approver other than
//! the filer approves it; a rejection ends it with the reason shown to the filer; each act is in
//! the tenant's audit log. (A query nobody decides ends by itself: `store/tests/tenant_store.rs`.)

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use serde_json::json;

on_both_backends!(a_query_waits_for_another_persons_approval_and_a_rejection_ends_it);

fn filing(key: &str) -> serde_json::Value {
    json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1",
        "reference_date": "2026-07-01", "idempotency_key": key})
}

async fn a_query_waits_for_another_persons_approval_and_a_rejection_ends_it(b: Backend) {
    let c = Cluster::start_on(b).await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let staff = c.person("tenant-a", "staff-a", "staff", Some("a-mayor")).await;
    let approver = c.person("tenant-a", "kacho-a", "approver", Some("a-mayor")).await;
    let second = c.person("tenant-a", "bucho-a", "approver", Some("a-mayor")).await;
    let edu = c.person("tenant-a", "kacho-edu", "approver", Some("a-edu")).await;
    for name in ["staff-a", "kacho-a"] {
        let (s, _, v) =
            c.as_person(&admin, Method::PUT, &format!("/api/v1/accounts/{name}/duties"), Some(json!({"duties": ["D015"]}))).await;
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(c.register("a-mayor", "A1", &common::number(3)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &common::number(3)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-04-01", json!({"income": 1})).await.0, 200);

    // The admin's policy: a window out of bounds, a duty the org does not file for and another
    // tenant's org are refused; then D015 of a-mayor waits a day.
    let put = |org: &str, duty: &str, minutes: u32| {
        let path = format!("/api/v1/approval-policies/{org}/{duty}");
        let (c, admin) = (&c, &admin);
        async move { c.as_person(admin, Method::PUT, &path, Some(json!({"window_minutes": minutes}))).await }
    };
    let (s, _, v) = put("a-mayor", "D015", 5).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-body")), "{v}");
    let (s, _, v) = put("a-mayor", "D014", 60).await;
    assert_eq!(s, 400, "別表第二 gives a MUNI no D014: {v}");
    let (s, _, v) = put("b-mayor", "D015", 60).await;
    assert_eq!(s, 404, "another tenant's org: {v}");
    let (s, _, v) = put("a-mayor", "D015", 1440).await;
    assert_eq!(s, 200, "{v}");
    let (_, _, list) = c.as_person(&admin, Method::GET, "/api/v1/approval-policies", None).await;
    assert_eq!(list["policies"], json!([{"org": "a-mayor", "duty": "D015", "window_minutes": 1440}]));

    // Filed by staff, the query waits; the hub hears nothing of it.
    let (s, _, q) = c.as_person(&staff, Method::POST, "/api/v1/queries", Some(filing("approve-me"))).await;
    assert_eq!((s, q["state"].as_str(), q["filed_by"].as_str()), (201, Some("pending_approval"), Some("staff-a")), "{q}");
    let id = q["id"].as_str().unwrap().to_owned();
    let window = q["deadline_at"].as_i64().unwrap() - q["created_at"].as_i64().unwrap();
    assert_eq!(window, 1440 * 60_000, "the approval window counts: {q}");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (_, _, v) = c.as_person(&staff, Method::GET, &format!("/api/v1/queries/{id}"), None).await;
    assert_eq!((v["state"].as_str(), v["attempts"].as_i64()), (Some("pending_approval"), Some(0)), "not sent: {v}");

    // Staff may not decide; the approver's queue holds it; an approver of another org finds
    // nothing; the approver may not approve their own filing.
    let approve = json!({"decision": "approve"});
    let (s, _, v) = c.as_person(&staff, Method::POST, &format!("/api/v1/approvals/{id}"), Some(approve.clone())).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let (_, _, queue) = c.as_person(&approver, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(queue["queries"].as_array().unwrap().len(), 1, "{queue}");
    let (s, _, v) = c.as_person(&edu, Method::POST, &format!("/api/v1/approvals/{id}"), Some(approve.clone())).await;
    assert_eq!(s, 404, "{v}");
    let (s, _, own) = c.as_person(&approver, Method::POST, "/api/v1/queries", Some(filing("own"))).await;
    assert_eq!((s, own["state"].as_str()), (201, Some("pending_approval")), "{own}");
    let own_id = own["id"].as_str().unwrap().to_owned();
    let (s, _, v) = c.as_person(&approver, Method::POST, &format!("/api/v1/approvals/{own_id}"), Some(approve.clone())).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:own-query")), "{v}");
    let (s, _, v) = c.as_person(&approver, Method::POST, &format!("/api/v1/approvals/{id}"), Some(json!({"decision": "reject"}))).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-body")), "a rejection needs a reason: {v}");

    // Approved by another person: it goes to the hub and is answered.
    let (s, _, v) = c.as_person(&approver, Method::POST, &format!("/api/v1/approvals/{id}"), Some(approve.clone())).await;
    assert_eq!((s, v["decided_by"].as_str()), (200, Some("kacho-a")), "{v}");
    assert!(matches!(v["state"].as_str(), Some("queued" | "in_flight" | "answered")), "{v}");
    let answered = c.wait_final("a-mayor", &id).await;
    assert_eq!(answered["state"], "answered", "{answered}");
    let (s, _, v) = c.as_person(&second, Method::POST, &format!("/api/v1/approvals/{id}"), Some(approve.clone())).await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:conflict")), "decided already: {v}");

    // The second approver rejects the first's own query, with a reason its filer reads.
    let reject = json!({"decision": "reject", "reason": "照会の目的が記載と異なるため"});
    let (s, _, v) = c.as_person(&second, Method::POST, &format!("/api/v1/approvals/{own_id}"), Some(reject)).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("failed")), "{v}");
    let (_, _, v) = c.as_person(&approver, Method::GET, &format!("/api/v1/queries/{own_id}"), None).await;
    assert!(v["error"].as_str().unwrap().contains("照会の目的が記載と異なるため"), "{v}");
    let records = c.all_records("a-mayor").await;
    assert!(records.iter().any(|r| r["request_id"] == v["request_id"] && r["outcome"] == "error"), "a rejected query is recorded");

    // Each act is in the tenant's log, by name and role; the reason is not.
    let (_, _, log) = c.as_person(&admin, Method::GET, "/api/v1/audit", None).await;
    let acts: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert!(acts.contains(&("admin-a", "approval_policy.set", "approval_policy:a-mayor/D015")), "{acts:?}");
    assert!(acts.contains(&("kacho-a", "query.approve", &format!("query:{id}"))), "{acts:?}");
    assert!(acts.contains(&("bucho-a", "query.reject", &format!("query:{own_id}"))), "{acts:?}");
    assert!(!log.to_string().contains("照会の目的"), "the reason stays with the query");

    // Without the policy, the next filing goes straight to the outbox.
    let (s, _, _) = c.as_person(&admin, Method::DELETE, "/api/v1/approval-policies/a-mayor/D015", None).await;
    assert_eq!(s, 204);
    let (s, _, q) = c.as_person(&staff, Method::POST, "/api/v1/queries", Some(filing("no-approval"))).await;
    assert_eq!((s, q["state"].as_str()), (201, Some("queued")), "{q}");
}
