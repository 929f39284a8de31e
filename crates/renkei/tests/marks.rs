//! A provider's marks end to end: a withheld item (不開示) answers "withheld" and nothing else,
//! under any duty; a manual item (自動応答不可) holds the forwarded query until the provider's
//! staff provide or decline it (the hub asks again meanwhile); marks are versioned, encrypted
//! and audited, and another tenant reaches none of them.

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use serde_json::json;

on_both_backends!(withheld_items_answer_withheld_and_manual_ones_wait_for_the_providers_staff);

async fn mark(c: &Cluster, item: &str, mark: &str) -> (u16, serde_json::Value) {
    let (s, _, v) = c.api("b-mayor", Method::PUT, "/api/v1/marks", Some(json!({"addressee_no": "B1", "item": item, "mark": mark}))).await;
    (s, v)
}

/// Waits until the provider holds a query for review, and returns the list.
async fn held(c: &Cluster, staff: &str) -> serde_json::Value {
    for _ in 0..200 {
        let (s, _, v) = c.as_person(staff, Method::GET, "/api/v1/reviews", None).await;
        assert_eq!(s, 200, "{v}");
        if !v["queries"].as_array().unwrap().is_empty() {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing was held");
}

async fn withheld_items_answer_withheld_and_manual_ones_wait_for_the_providers_staff(b: Backend) {
    let c = Cluster::start_on(b).await;
    let staff_b = c.person("tenant-b", "staff-b", "staff", Some("b-mayor")).await;
    let admin_a = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let staff_a = c.person("tenant-a", "staff-a", "staff", Some("a-mayor")).await;
    assert_eq!(c.register("a-mayor", "A1", &common::number(9)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &common::number(9)).await.0, 201);
    for item in ["TAX", "RESIDENT"] {
        assert_eq!(c.copy("b-mayor", "B1", item, "2026-04-01", json!({"secret_of": item})).await.0, 200);
    }

    // Withheld: the answer says so and carries nothing, under any duty.
    let (s, v) = mark(&c, "TAX", "withheld").await;
    assert_eq!((s, v["version"].as_i64()), (200, Some(1)), "{v}");
    for (duty, key) in [("D015", "w1"), ("D010", "w2")] {
        let (s, _, q) = c.file("a-mayor", "b-mayor", duty, &["TAX"], "A1", key).await;
        assert_eq!(s, 201, "{q}");
        let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
        assert_eq!(done["answer"]["items"], json!([{"item": "TAX", "status": "withheld"}]), "{duty}: {done}");
        assert!(!done.to_string().contains("secret_of"), "nothing of the copy: {done}");
    }

    // Manual: held until the provider's staff provide it.
    assert_eq!(mark(&c, "RESIDENT", "manual").await.0, 200);
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D010", &["RESIDENT"], "A1", "m1").await;
    let id = q["id"].as_str().unwrap().to_owned();
    let list = held(&c, &staff_b).await;
    let first = &list["queries"][0];
    assert_eq!((first["addressee_no"].as_str(), first["requester_org"].as_str()), (Some("B1"), Some("a-mayor")), "{list}");
    let rid = first["request_id"].as_str().unwrap().to_owned();
    let (_, _, v) = c.api("a-mayor", Method::GET, &format!("/api/v1/queries/{id}"), None).await;
    assert!(matches!(v["state"].as_str(), Some("queued" | "in_flight")), "waiting: {v}");
    let (s, _, v) = c.as_person(&staff_a, Method::POST, &format!("/api/v1/reviews/{rid}"), Some(json!({"decision": "provide"}))).await;
    assert_eq!(s, 404, "another tenant's staff: {v}");
    let (s, _, v) = c.as_person(&staff_b, Method::POST, &format!("/api/v1/reviews/{rid}"), Some(json!({"decision": "decline"}))).await;
    assert_eq!(s, 400, "a decline gives a reason: {v}");
    let (s, _, v) = c.as_person(&staff_b, Method::POST, &format!("/api/v1/reviews/{rid}"), Some(json!({"decision": "provide"}))).await;
    assert_eq!(s, 204, "{v}");
    let done = c.wait_final("a-mayor", &id).await;
    assert_eq!(done["answer"]["items"][0]["fields"]["secret_of"], "RESIDENT", "{done}");
    let (s, _, _) = c.as_person(&staff_b, Method::POST, &format!("/api/v1/reviews/{rid}"), Some(json!({"decision": "provide"}))).await;
    assert_eq!(s, 409, "decided already");

    // Declined, with the reason the requester reads; the withheld item stays withheld.
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D010", &["RESIDENT", "TAX"], "A1", "m2").await;
    let list = held(&c, &staff_b).await;
    let rid = list["queries"][0]["request_id"].as_str().unwrap().to_owned();
    let decline = json!({"decision": "decline", "reason": "本人の申出により確認中"});
    assert_eq!(c.as_person(&staff_b, Method::POST, &format!("/api/v1/reviews/{rid}"), Some(decline)).await.0, 204);
    let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(
        done["answer"]["items"],
        json!([{"item": "RESIDENT", "status": "declined", "reason": "本人の申出により確認中"}, {"item": "TAX", "status": "withheld"}]),
        "{done}"
    );

    // Cleared: answered by itself again. The marks are listed with their versions.
    assert_eq!(mark(&c, "RESIDENT", "none").await.1["version"], 2);
    let (_, _, q) = c.file("a-mayor", "b-mayor", "D010", &["RESIDENT"], "A1", "m3").await;
    let done = c.wait_final("a-mayor", q["id"].as_str().unwrap()).await;
    assert_eq!(done["answer"]["items"][0]["status"], "found", "{done}");
    let (_, _, marks) = c.api("b-mayor", Method::GET, "/api/v1/marks", None).await;
    assert_eq!(marks["marks"].as_array().unwrap().len(), 1, "only TAX is marked now: {marks}");

    // A CSV file of marks is set whole, or not at all.
    let upload = |org: &str, csv: &'static str| {
        let url = format!("{}/api/v1/marks/csv", c.internal_for(org));
        c.http.post(url).bearer_auth(&c.keys[org]).header("content-type", "text/csv").body(csv).send()
    };
    let (s, _, v) =
        common::respond(upload("b-mayor", "addressee_no,item,mark\nB1,RESIDENT,withheld\nNOBODY,TAX,manual\n").await.unwrap()).await;
    assert_eq!((s, v["bad_lines"][0]["line"].as_u64()), (422, Some(3)), "an unregistered person: {v}");
    let (_, _, marks) = c.api("b-mayor", Method::GET, "/api/v1/marks", None).await;
    assert_eq!(marks["marks"].as_array().unwrap().len(), 1, "nothing was set: {marks}");
    let (s, _, v) = common::respond(upload("b-mayor", "addressee_no,item,mark\nB1,RESIDENT,withheld\n").await.unwrap()).await;
    assert_eq!((s, v["marked"].as_u64()), (200, Some(1)), "{v}");
    let (_, _, marks) = c.api("b-mayor", Method::GET, "/api/v1/marks", None).await;
    assert_eq!(marks["marks"].as_array().unwrap().len(), 2, "{marks}");

    // Another tenant's admin, or a client system naming another org, reaches nothing.
    let body = json!({"org": "b-mayor", "addressee_no": "B1", "item": "TAX", "mark": "none"});
    let (s, _, v) = c.as_person(&admin_a, Method::PUT, "/api/v1/marks", Some(body.clone())).await;
    assert_eq!(s, 404, "{v}");
    let (s, _, v) = c.api("a-mayor", Method::PUT, "/api/v1/marks", Some(body)).await;
    assert_eq!(s, 404, "{v}");
    let (s, _, v) =
        c.api("b-mayor", Method::PUT, "/api/v1/marks", Some(json!({"addressee_no": "NOBODY", "item": "TAX", "mark": "withheld"}))).await;
    assert_eq!(s, 404, "no such person: {v}");

    // Each act is audited, naming no person; no mark is readable in the tenant's file.
    let audit = c.admin_with(&["audit", "--tenant", "tenant-b"], "");
    assert!(
        audit.contains("mark.set") && audit.contains("mark.load") && audit.contains("review.provide") && audit.contains("review.decline"),
        "{audit}"
    );
    assert!(!audit.contains("B1") && !audit.contains("本人の申出"), "{audit}");
    if b == Backend::Sqlite {
        let tenant_files: Vec<_> =
            common::files(c.dir.path()).into_iter().filter(|f| f.display().to_string().contains("tenants/tenant-b.sqlite")).collect();
        assert!(!tenant_files.is_empty());
        for f in tenant_files {
            let bytes = std::fs::read(&f).unwrap();
            // (`manual` is a table's name: only the other mark's word tells.)
            assert!(!common::contains(&bytes, b"withheld"), "{} holds a mark in the clear", f.display());
        }
    }
}
