//! Same-office linkage (庁内連携) end to end: once a tenant's admin gives its table of in-house
//! uses, a query between two of its orgs that the table allows is answered inside the platform —
//! recorded on both sides and marked in-house, the hub's records unchanged — and anything else
//! still goes through the hub.

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use serde_json::json;

on_both_backends!(an_in_house_use_is_answered_inside_the_platform_and_leaves_the_hub_alone);

const TABLE: &str = "row,requester_type,requester_name,duty_code,duty_name,provider_type,provider_name,item_code,item_name
1,EDU,教育委員会,D014,就学援助に関する事務,MUNI,市町村長,TAX,地方税関係情報
";

async fn hub_records(c: &Cluster) -> i64 {
    let hub = renkei_store::hub::HubStore::open(&c.location("hub", "renkei_hub")).await.expect("hub store");
    hub.record_count().await.expect("count")
}

async fn an_in_house_use_is_answered_inside_the_platform_and_leaves_the_hub_alone(b: Backend) {
    let c = Cluster::start_on(b).await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let admin_b = c.person("tenant-b", "admin-b", "tenant_admin", None).await;
    // One registration names the person for the whole tenant: a-edu knows A1 too.
    assert_eq!(c.register("a-mayor", "A1", &common::number(11)).await.0, 201);
    let (s, _, v) = c.register("a-edu", "A1", &common::number(11)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("already_registered")), "{v}");
    assert_eq!(c.copy("a-mayor", "A1", "TAX", "2026-04-01", json!({"income": 2_000_000})).await.0, 200);

    // Without the table, the query goes through the hub.
    let (s, _, q) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "via-hub").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-edu", q["id"].as_str().unwrap()).await;
    assert_eq!((done["outcome"].as_str(), done["in_house"].as_bool()), (Some("found"), Some(false)), "{done}");
    let before = hub_records(&c).await;
    assert_eq!(before, 1);

    // The admin gives the table (a bad one is refused whole); another tenant's admin does not
    // see it.
    let put = |token: &str, body: &'static str| {
        c.http.put(format!("{}/api/v1/in-house-uses", c.internal())).bearer_auth(token).header("content-type", "text/csv").body(body).send()
    };
    let (s, _, v) = common::respond(put(&admin, "not,a,table\n").await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:unreadable-file")), "{v}");
    let (s, _, v) = common::respond(put(&admin, TABLE).await.unwrap()).await;
    assert_eq!((s, v["rows"].as_u64()), (200, Some(1)), "{v}");
    let (_, _, theirs) = c.as_person(&admin_b, Method::GET, "/api/v1/in-house-uses", None).await;
    assert_eq!(theirs["rows"], 0, "{theirs}");

    // Now the same query is answered at once, inside the platform, and the hub hears nothing.
    let (s, _, q) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "in-house").await;
    assert_eq!((s, q["state"].as_str(), q["in_house"].as_bool()), (201, Some("answered"), Some(true)), "{q}");
    assert_eq!(q["answer"]["items"][0]["fields"]["income"], 2_000_000, "{q}");
    let (s, _, again) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "in-house").await;
    assert_eq!((s, again["id"].clone()), (200, q["id"].clone()), "the same idempotency key: the same query");
    assert_eq!(hub_records(&c).await, before, "the hub's records are unchanged");
    let rid = q["request_id"].clone();
    for (org, side) in [("a-edu", "requester"), ("a-mayor", "provider")] {
        let records = c.all_records(org).await;
        let r = records.iter().find(|r| r["request_id"] == rid).unwrap_or_else(|| panic!("{org} keeps a record: {records:?}"));
        assert_eq!((r["role"].as_str(), r["in_house"].as_bool(), r["outcome"].as_str()), (Some(side), Some(true), Some("found")), "{r}");
    }

    // A withheld item stays withheld in-house; a manual one is refused, nothing filed.
    let mark = |item: &str, mark: &str| {
        c.api("a-mayor", Method::PUT, "/api/v1/marks", Some(json!({"addressee_no": "A1", "item": item, "mark": mark})))
    };
    assert_eq!(mark("TAX", "withheld").await.0, 200);
    let (_, _, q) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "withheld").await;
    assert_eq!(q["answer"]["items"], json!([{"item": "TAX", "status": "withheld"}]), "{q}");
    assert_eq!(mark("TAX", "manual").await.0, 200);
    let (s, _, v) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "manual").await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:conflict")), "{v}");
    let (_, _, list) = c.api("a-edu", Method::GET, "/api/v1/queries", None).await;
    assert_eq!(list["queries"].as_array().unwrap().len(), 3, "the refused one was not filed: {list}");

    // Another tenant's org is never in-house, whatever the table says.
    assert_eq!(c.register("b-mayor", "B1", &common::number(11)).await.0, 201);
    let (s, _, q) = c.file("a-edu", "b-mayor", "D014", &["TAX"], "A1", "other-tenant").await;
    assert_eq!((s, q["in_house"].as_bool(), q["state"].as_str() == Some("answered")), (201, Some(false), false), "{q}");

    let audit = c.admin_with(&["audit", "--tenant", "tenant-a"], "");
    assert!(audit.contains("in_house_uses.set"), "{audit}");
}
