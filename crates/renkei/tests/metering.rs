//! `renkei sla statement`: each tenant's month metered from its own store (queries sent and
//! answered, persons, copies, bytes, accounts) and the platform's cost shared by equal share,
//! population or usage, adding up to the yen, as CSV (UTF-8 with a BOM, CP932) or JSON, on both
//! backends (`sqlite::…`, `postgres::…`); a consortium's statement shares among its own tenants by
//! the weights set for it.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::process::Command;

fn statement(c: &Cluster, args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(["sla", "--data-dir"]).arg(c.path("platform")).args(c.db_args()).arg("statement").args(args).env_remove("RENKEI_CONFIG");
    let out = cmd.output().expect("run renkei");
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// This month in JST, as `--month` takes it.
fn this_month() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(9)).format("%Y-%m").to_string()
}

async fn each_tenants_use_is_metered_and_the_cost_shared_to_the_yen(backend: Backend) {
    let c = Cluster::start_on(backend).await;
    assert_eq!(c.register("a-mayor", "A-77", &number(901)).await.0, 201);
    assert_eq!(c.register("a-edu", "E-1", &number(902)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-88", &number(901)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-88", "TAX", "2026-04-01", json!({"income": 1})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "meter-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");
    let month = this_month();

    let (code, out, err) = statement(&c, &["--month", &month, "--cost-yen", "1001", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_slice(&out).expect("JSON");
    let line = |t: &str| s["lines"].as_array().expect("lines").iter().find(|l| l["meter"]["tenant"] == t).cloned().expect("a line");
    let (a, b) = (line("tenant-a"), line("tenant-b"));
    assert_eq!((a["meter"]["queries_sent"].as_i64(), a["meter"]["queries_answered"].as_i64()), (Some(1), Some(0)), "{a}");
    assert_eq!((b["meter"]["queries_sent"].as_i64(), b["meter"]["queries_answered"].as_i64()), (Some(0), Some(1)), "{b}");
    let persons = |l: &Value| l["meter"]["persons"].as_u64().expect("persons");
    assert!(persons(&a) > persons(&b) && persons(&b) >= 1, "two orgs' registrations against one: {a} {b}");
    assert_eq!(b["meter"]["copies"].as_i64(), Some(1));
    assert!(a["meter"]["bytes"].as_i64().is_some_and(|n| n > 0), "{a}");
    assert_eq!((a["yen"].as_u64(), b["yen"].as_u64()), (Some(501), Some(500)), "equal shares, the odd yen to the first id");

    // By population: in proportion to the persons each registered.
    let cost = 60 * (persons(&a) + persons(&b));
    let (code, out, err) = statement(&c, &["--month", &month, "--cost-yen", &cost.to_string(), "--weights", "0:1:0", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_slice(&out).expect("JSON");
    let by_pop = |t: &str| s["lines"].as_array().expect("lines").iter().find(|l| l["meter"]["tenant"] == t).and_then(|l| l["yen"].as_u64());
    assert_eq!((by_pop("tenant-a"), by_pop("tenant-b")), (Some(60 * persons(&a)), Some(60 * persons(&b))), "{s}");

    // CSV for Excel: UTF-8 with a BOM, or CP932; the total line adds up.
    let file = c.path("statement.csv");
    let (code, out, err) = statement(&c, &["--month", &month, "--cost-yen", "1001", "--out", file.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("2 tenants"));
    let csv = std::fs::read(&file).expect("file");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "a BOM");
    let text = String::from_utf8(csv[3..].to_vec()).expect("UTF-8");
    assert!(text.starts_with("団体ID,団体名,照会送信件数") && text.contains("\r\n合計,,,,,,,,,1001\r\n"), "{text}");
    let (code, out, _) = statement(&c, &["--month", &month, "--cost-yen", "1001", "--format", "csv-cp932"]);
    assert_eq!(code, 0);
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&out);
    assert!(!bad && decoded.starts_with("団体ID,団体名"), "{decoded}");

    let (code, out, _) = statement(&c, &["--month", &month, "--cost-yen", "1001", "--format", "html"]);
    assert_eq!(code, 0);
    let page = String::from_utf8(out).expect("UTF-8");
    assert!(page.contains("<html lang=\"ja\">") && page.contains("<td>tenant-b</td>") && page.contains("<td>1001</td>"), "{page}");

    // A consortium shares its cost among its own tenants by the weights its members agreed.
    c.admin_with(&["consortium-set", "--id", "kumiai", "--name", "甲広域連合", "--tenant", "tenant-a"], "");
    let (code, said, err) = c.sla(&["weights", "--consortium", "kumiai", "--weights", "0:1:0"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("kumiai shares its cost by 0:1:0"), "{said}");
    let (code, out, err) = statement(&c, &["--month", &month, "--cost-yen", "999", "--consortium", "kumiai", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_slice(&out).expect("JSON");
    let lines = s["lines"].as_array().expect("lines");
    assert_eq!((lines.len(), lines[0]["meter"]["tenant"].as_str(), lines[0]["yen"].as_u64()), (1, Some("tenant-a"), Some(999)), "{s}");
    assert_eq!(s["weights"]["population"], 1, "the consortium's weights: {s}");
    let (code, _, err) = statement(&c, &["--month", &month, "--cost-yen", "1", "--consortium", "nowhere"]);
    assert!(code != 0 && err.trim().lines().count() == 1 && err.contains("no consortium nowhere"), "{err}");

    // A month before any use meters nothing sent; bad input is one line.
    let (code, out, _) = statement(&c, &["--month", "2020-01", "--cost-yen", "10", "--weights", "0:0:1", "--format", "json"]);
    assert_eq!(code, 0);
    let s: Value = serde_json::from_slice(&out).expect("JSON");
    assert!(s["lines"].as_array().expect("lines").iter().all(|l| l["meter"]["queries_sent"] == 0), "{s}");
    for (args, says) in [
        (vec!["--month", &month, "--cost-yen", "10", "--weights", "1:x:0"], "--weights"),
        (vec!["--month", &month, "--cost-yen", "10", "--weights", "0:0:0"], "the weights are all zero"),
        (vec!["--month", "13-2026", "--cost-yen", "10"], "--month"),
        (vec!["--month", &month, "--cost-yen", "10", "--format", "xlsx"], "--format"),
    ] {
        let (code, _, err) = statement(&c, &args);
        assert_eq!((code, err.lines().count()), (1, 1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

mod sqlite {
    #[tokio::test]
    async fn each_tenants_use_is_metered_and_the_cost_shared_to_the_yen() {
        super::each_tenants_use_is_metered_and_the_cost_shared_to_the_yen(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test]
    async fn each_tenants_use_is_metered_and_the_cost_shared_to_the_yen() {
        super::each_tenants_use_is_metered_and_the_cost_shared_to_the_yen(super::Backend::Postgres).await
    }
}
