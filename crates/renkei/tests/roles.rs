//! Every route of the internal API, with every role, with a client system's key and with another
//! tenant's admin: each answer is a refusal (403, role-denied) exactly when `domain::policy`
//! refuses the route's declared act (`server::routes::ROUTES`), and another tenant's admin
//! reaches nothing of this one.

mod common;

use common::{Backend, Cluster, respond};
use renkei_domain::Role;
use renkei_domain::policy::{Principal, allows};
use serde_json::json;

on_both_backends!(every_route_answers_every_role_as_the_policy_declares);

/// What to send to a route: (path with its parameter filled, body).
fn request_for(method: &str, path: &str, who: &str, query_id: &str, seed: u64) -> (String, Option<serde_json::Value>) {
    match path {
        "/api/v1/session/totp/confirm" => (path.into(), Some(json!({"sealed": "AAAA", "code": "000000"}))),
        "/api/v1/session/password" => (path.into(), Some(json!({"current": "not the passphrase", "new": "another long passphrase"}))),
        "/api/v1/accounts" => {
            (path.into(), Some(json!({"name": format!("new-{who}"), "role": "auditor", "password": "a long passphrase"})))
        }
        // An account of tenant-a nobody signs in as.
        "/api/v1/accounts/{name}/revoke-sessions" => (path.replace("{name}", "target-a"), None),
        "/api/v1/accounts/{name}/duties" => (path.replace("{name}", "target-a"), Some(json!({"duties": ["D015"]}))),
        "/api/v1/persons" => (path.into(), Some(json!({"addressee_no": format!("R-{who}"), "individual_number": common::number(seed)}))),
        "/api/v1/persons/lookup" => (path.into(), Some(json!({"addressee_no": "A1"}))),
        "/api/v1/copies" => {
            (path.into(), Some(json!({"addressee_no": "A1", "item": "TAX", "valid_from": "2026-04-01", "fields": {"amount": 1}})))
        }
        "/api/v1/queries" if method == "POST" => (
            path.into(),
            Some(json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1",
                "reference_date": "2026-07-01", "idempotency_key": format!("roles-{who}")})),
        ),
        "/api/v1/queries/{id}" => (path.replace("{id}", query_id), None),
        "/api/v1/approval-policies/{org}/{duty}" => {
            (path.replace("{org}", "a-mayor").replace("{duty}", "D015"), (method == "PUT").then(|| json!({"window_minutes": 60})))
        }
        "/api/v1/approvals/{id}" => (path.replace("{id}", query_id), Some(json!({"decision": "approve"}))),
        "/api/v1/tenants/{tenant}/session-limit" => {
            (path.replace("{tenant}", "tenant-a"), (method == "PUT").then(|| json!({"normal": 100})))
        }
        "/api/v1/tenants/{tenant}/session-limit/raise" => {
            (path.replace("{tenant}", "tenant-a"), Some(json!({"limit": 200, "until": common::unix_now() + 3600})))
        }
        "/api/v1/marks" if method == "PUT" => {
            (path.into(), Some(json!({"org": "a-mayor", "addressee_no": "A1", "item": "TAX", "mark": "none"})))
        }
        // Without its reason: a 400 from the handler shows the route is served.
        "/api/v1/reviews/{request_id}" => (path.replace("{request_id}", "no-such-request"), Some(json!({"decision": "decline"}))),
        "/api/v1/imports/{kind}" => (path.replace("{kind}", "persons"), None),
        "/api/v1/api-keys" if method == "POST" => (path.into(), Some(json!({"org": "a-mayor", "label": format!("made by {who}")}))),
        // No such key: revoking one the test's client systems use would end their calls.
        "/api/v1/api-keys/{id}" => (path.replace("{id}", "000000000000"), None),
        _ => (path.into(), None),
    }
}

async fn every_route_answers_every_role_as_the_policy_declares(b: Backend) {
    let c = Cluster::start_on(b).await;
    let root = c.operator_session().await;
    let mut people = vec![("root".to_owned(), Some(Role::Operator), root)];
    let accounts = [
        ("admin-a", "tenant-a", "tenant_admin", None),
        ("approver-a", "tenant-a", "approver", Some("a-mayor")),
        ("staff-a", "tenant-a", "staff", Some("a-mayor")),
        ("auditor-a", "tenant-a", "auditor", None),
        ("target-a", "tenant-a", "staff", Some("a-edu")),
        ("admin-b", "tenant-b", "tenant_admin", None),
    ];
    for (name, tenant, role, org) in accounts {
        let mut args = vec!["account-create", "--tenant", tenant, "--name", name, "--role", role];
        if let Some(o) = org {
            args.extend(["--org", o]);
        }
        c.admin_with(&args, "a long passphrase\n");
        if name != "target-a" {
            let token = c.enrolled_session(name, "a long passphrase").await;
            people.push((name.to_owned(), Role::from_code(role), token));
        }
    }

    // A person and a query of a-mayor, for D015, which its staff and approver are assigned.
    let (s, _, v) = c.register("a-mayor", "A1", &common::number(1)).await;
    assert_eq!(s, 201, "{v}");
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "roles-query").await;
    assert_eq!(s, 201, "{q}");
    let admin_a = &people.iter().find(|p| p.0 == "admin-a").unwrap().2;
    for name in ["staff-a", "approver-a"] {
        let url = format!("{}/api/v1/accounts/{name}/duties", c.internal());
        let (s, _, v) = respond(c.http.put(url).bearer_auth(admin_a).json(&json!({"duties": ["D015"]})).send().await.unwrap()).await;
        assert_eq!(s, 200, "{v}");
    }
    people.push(("client-system".to_owned(), None, c.keys["a-mayor"].clone()));

    let mut checked = 0;
    for (n, (who, role, token)) in people.iter().enumerate() {
        for route in renkei_server::routes::ROUTES {
            let (path, body) = request_for(route.method, route.path, who, q["id"].as_str().unwrap(), 100 + n as u64);
            let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut req = c.http.request(method, format!("{}{path}", c.internal())).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            } else if route.path.starts_with("/api/v1/imports/") || route.path == "/api/v1/marks/csv" {
                req = req.header("content-type", "text/csv").body("not,a,layout\n");
            }
            let (status, _, v) = respond(req.send().await.unwrap()).await;
            let principal = role.map_or(Principal::ClientSystem, Principal::Person);
            let allowed = allows(principal, route.action);
            let refused = status == 403 && v["type"] == "urn:renkei:problem:role-denied";
            assert_eq!(refused, !allowed, "{who} ({principal:?}) {} {path}: {status} {v}", route.method);
            let ended = v["type"] == "urn:renkei:problem:session-ended" || v["type"] == "urn:renkei:problem:unauthorized";
            assert!(!ended, "{who} {} {path}: the session stands: {v}", route.method);
            // Routes whose path or body names something of tenant-a.
            let names_tenant_a = ["{name}", "{org}", "{tenant}"].iter().any(|p| route.path.contains(p))
                || (route.method == "PUT" && route.path == "/api/v1/marks")
                || (route.method == "POST" && route.path == "/api/v1/api-keys");
            if who == "admin-b" && allowed && names_tenant_a {
                assert_eq!(status, 404, "another tenant's admin finds no account, org or status of this tenant: {v}");
            } else if allowed && route.path == "/api/v1/api-keys/{id}" {
                assert_eq!(status, 404, "{who}: there is no key 000000000000: {v}");
            } else if allowed {
                assert!(status != 404 && status != 405, "{who} {} {path}: the route is served: {status} {v}", route.method);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, people.len() * renkei_server::routes::ROUTES.len());
}
