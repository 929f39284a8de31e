//! 同時接続利用者数 (表2-13) through the API: the operator sets a tenant's limit of people
//! signed in at once and raises it for a while; a person beyond it is told so clearly; the
//! raise ends by itself; the tenant's admin reads the figures and its audit log shows each act.

mod common;

use common::{Backend, Cluster, respond};
use reqwest::Method;
use serde_json::json;

on_both_backends!(a_sign_in_beyond_the_tenants_limit_is_refused_until_someone_leaves_or_a_raise);

/// Signs `name` in by password (an account yet to enrol: its session may only enrol).
async fn sign_in(c: &Cluster, name: &str) -> (u16, serde_json::Value) {
    let body = json!({"name": name, "password": "a long passphrase"});
    let (s, _, v) = respond(c.http.post(format!("{}/api/v1/session", c.internal())).json(&body).send().await.unwrap()).await;
    (s, v)
}

async fn a_sign_in_beyond_the_tenants_limit_is_refused_until_someone_leaves_or_a_raise(b: Backend) {
    let c = Cluster::start_on(b).await;
    let root = c.operator_session().await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let admin_b = c.person("tenant-b", "admin-b", "tenant_admin", None).await;
    for n in ["p1", "p2", "p3"] {
        c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", n, "--role", "auditor"], "a long passphrase\n");
    }
    let limit = "/api/v1/tenants/tenant-a/session-limit";

    // Only the operator sets it; the admin reads it; another tenant's admin finds nothing.
    let (s, _, v) = c.as_person(&admin, Method::PUT, limit, Some(json!({"normal": 100}))).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let (s, _, v) = c.as_person(&root, Method::PUT, limit, Some(json!({"normal": 0}))).await;
    assert_eq!(s, 400, "{v}");
    let (s, _, v) = c.as_person(&root, Method::PUT, "/api/v1/tenants/no-such/session-limit", Some(json!({"normal": 2}))).await;
    assert_eq!(s, 404, "{v}");
    let (s, _, v) = c.as_person(&root, Method::PUT, limit, Some(json!({"normal": 2}))).await;
    assert_eq!(s, 204, "{v}");
    let (s, _, v) = c.as_person(&admin_b, Method::GET, limit, None).await;
    assert_eq!(s, 404, "{v}");

    // The admin is signed in: one more may be, then no one.
    assert_eq!(sign_in(&c, "p1").await.0, 201);
    let (s, v) = sign_in(&c, "p2").await;
    assert_eq!((s, v["type"].as_str()), (429, Some("urn:renkei:problem:session-limit")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("2 people"), "the message says why: {v}");
    let (_, _, status) = c.as_person(&admin, Method::GET, limit, None).await;
    assert_eq!(
        (status["normal"].as_u64(), status["in_force"].as_u64(), status["signed_in"].as_u64()),
        (Some(2), Some(2), Some(2)),
        "{status}"
    );

    // A raise lets a third in; when it ends, the normal limit holds again.
    let raise = format!("{limit}/raise");
    let (s, _, v) = c.as_person(&root, Method::POST, &raise, Some(json!({"limit": 2, "until": common::unix_now() + 60}))).await;
    assert_eq!(s, 400, "not a raise: {v}");
    let until = common::unix_now() + 3;
    let (s, _, v) = c.as_person(&root, Method::POST, &raise, Some(json!({"limit": 3, "until": until}))).await;
    assert_eq!(s, 204, "{v}");
    let (_, _, status) = c.as_person(&admin, Method::GET, limit, None).await;
    assert_eq!((status["raised"].as_u64(), status["in_force"].as_u64()), (Some(3), Some(3)), "{status}");
    assert_eq!(sign_in(&c, "p2").await.0, 201, "raised");
    while common::unix_now() <= until {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (s, v) = sign_in(&c, "p3").await;
    assert_eq!(s, 429, "the raise has ended by itself: {v}");
    let (_, _, status) = c.as_person(&admin, Method::GET, limit, None).await;
    assert_eq!((status["raised"].clone(), status["in_force"].as_u64()), (json!(null), Some(2)), "{status}");

    // Someone signs out: the next person gets in.
    let (s, _, _) = c.as_person(&admin, Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(s, 204);
    let (s, _, _) = c.as_person(&root, Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(s, 204, "the operator, above tenants, was never counted");
    let (s, v) = sign_in(&c, "p1").await;
    assert_eq!(s, 201, "p1 is counted once however many sessions: {v}");
    let p1 = v["token"].as_str().unwrap().to_owned();
    let (s, _, _) = c.as_person(&p1, Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(s, 204);
    // p1 still holds its first session and p2 one: two people, and p3 is over.
    assert_eq!(sign_in(&c, "p3").await.0, 429);

    // The operator's acts are in the tenant's log, as the refusals are.
    let audit = c.admin_with(&["audit", "--tenant", "tenant-a"], "");
    for act in ["session_limit.set", "session_limit.raise", "sign_in.over_limit"] {
        assert!(audit.contains(act), "{act}: {audit}");
    }
    assert!(audit.contains("root"), "the operator is named: {audit}");
}
