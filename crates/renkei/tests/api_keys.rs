//! A tenant admin's client-system API keys over the JSON API: created for an org of the tenant
//! with its duties (shown once), listed, used, revoked and then refused; another tenant's admin
//! reaches none of it, and every act is in the tenant's audit log.

mod common;

use common::{Backend, Cluster, respond};
use reqwest::Method;
use serde_json::json;

on_both_backends!(a_tenant_admin_creates_lists_and_revokes_api_keys_of_its_own_orgs);

async fn a_tenant_admin_creates_lists_and_revokes_api_keys_of_its_own_orgs(b: Backend) {
    let c = Cluster::start_on(b).await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let admin_b = c.person("tenant-b", "admin-b", "tenant_admin", None).await;
    let new = |org: &str, duties: serde_json::Value| json!({"org": org, "label": "住民記録システム", "duties": duties});

    // Refused: another tenant's org, a duty 別表第二 does not give the org, a bad label.
    let (s, _, _) = c.as_person(&admin, Method::POST, "/api/v1/api-keys", Some(new("b-mayor", json!([])))).await;
    assert_eq!(s, 404);
    let (s, _, v) = c.as_person(&admin, Method::POST, "/api/v1/api-keys", Some(new("a-edu", json!(["D015"])))).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-body")), "{v}");
    let bad_label = json!({"org": "a-mayor", "label": " "});
    assert_eq!(c.as_person(&admin, Method::POST, "/api/v1/api-keys", Some(bad_label)).await.0, 400);

    let (s, _, created) = c.as_person(&admin, Method::POST, "/api/v1/api-keys", Some(new("a-mayor", json!(["D015"])))).await;
    assert_eq!(s, 201, "{created}");
    let (key, id) = (created["key"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    let (_, _, list) = c.as_person(&admin, Method::GET, "/api/v1/api-keys", None).await;
    let listed = list["keys"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).cloned().expect("listed");
    assert_eq!((listed["org"].as_str(), listed["revoked_at"].is_null()), (Some("a-mayor"), true), "{listed}");
    assert!(!list.to_string().contains(&key), "the key itself is shown once only");
    let (_, _, theirs) = c.as_person(&admin_b, Method::GET, "/api/v1/api-keys", None).await;
    assert!(theirs["keys"].as_array().unwrap().iter().all(|k| k["id"] != id.as_str()), "{theirs}");

    // The new key works for its org; another tenant's admin cannot revoke it; its admin can.
    let register = |key: String| {
        let body = json!({"addressee_no": "K1", "individual_number": common::number(91)});
        let req = c.http.post(format!("{}/api/v1/persons", c.internal())).bearer_auth(key).json(&body);
        async move { respond(req.send().await.unwrap()).await.0 }
    };
    assert_eq!(register(key.clone()).await, 201);
    assert_eq!(c.as_person(&admin_b, Method::DELETE, &format!("/api/v1/api-keys/{id}"), None).await.0, 404);
    let (s, _, revoked) = c.as_person(&admin, Method::DELETE, &format!("/api/v1/api-keys/{id}"), None).await;
    assert_eq!((s, revoked["revoked_at"].is_number()), (200, true), "{revoked}");
    assert_eq!(c.as_person(&admin, Method::DELETE, &format!("/api/v1/api-keys/{id}"), None).await.0, 404, "revoked already");
    let mut status = 0;
    for _ in 0..100 {
        status = register(key.clone()).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(renkei_server::KEY_CACHE_TTL / 20).await;
    }
    assert_eq!(status, 401, "a revoked key is refused within the cache's time");

    let (_, _, log) = c.as_person(&admin, Method::GET, "/api/v1/audit", None).await;
    let actions: Vec<&str> = log["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"api_key.create") && actions.contains(&"api_key.revoke"), "{actions:?}");
}
