//! 保存期間: linkage records older than their tenant's retention are purged on all three sides
//! (requester, provider, the hub's disclosure records), each purge noted and, on the platform,
//! audited; record numbers go on; the audit chain stays sound. The clock is the
//! test's (`renkei retention run --as-of`).

mod common;

use common::{Backend, Cluster};
use reqwest::Method;

on_both_backends!(expired_records_are_purged_audited_and_numbering_goes_on);

fn date_in(years: i64) -> String {
    let now = chrono::Utc::now().date_naive();
    now.checked_add_days(chrono::Days::new((years * 366) as u64)).expect("a date").to_string()
}

async fn expired_records_are_purged_audited_and_numbering_goes_on(b: Backend) {
    let c = Cluster::start_on(b).await;
    let number = common::number(301);
    assert_eq!(c.register("a-mayor", "R1", &number).await.0, 201);
    assert_eq!(c.register("b-mayor", "R1B", &number).await.0, 201);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "R1", "kept-1").await;
    assert_eq!(s, 201, "{q}");
    c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    let records = |org: &'static str| {
        let c = &c;
        async move { c.api(org, Method::GET, "/api/v1/records", None).await.2["records"].as_array().cloned().unwrap_or_default() }
    };
    assert_eq!((records("a-mayor").await.len(), records("b-mayor").await.len()), (1, 1));

    // Today nothing is seven years old.
    let (code, out, err) = c.platform_command(&["retention", "run"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tenant-a: nothing older than 7 years"), "{out}");
    assert_eq!(records("a-mayor").await.len(), 1);

    // Eight years on: tenant-a's records go; tenant-b keeps ten years.
    let (code, out, err) = c.platform_command(&["retention", "run"], &["--as-of", &date_in(8), "--tenant-retention", "tenant-b=10"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tenant-a: 1 linkage records purged (kept 7 years; through record 1)"), "{out}");
    assert!(out.contains("tenant-b: nothing older than 10 years"), "{out}");
    assert!(records("a-mayor").await.is_empty(), "purged");
    assert_eq!(records("b-mayor").await.len(), 1, "the provider's tenant keeps longer");
    // The third side: the hub's records, which residents read.
    let disclosed = || {
        let c = &c;
        let number = number.clone();
        async move {
            let token = c.hub_cmd("resident-token", &[], Some(&format!("{number}\n")));
            let url = format!("https://127.0.0.1:{}/hub/v1/disclosure", c.resident_port);
            let (_, _, d) = common::respond(c.http.get(url).bearer_auth(token.trim()).send().await.expect("disclosure")).await;
            d["records"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(disclosed().await, 1);
    let out = c.hub_cmd("purge-records", &["--as-of", &date_in(8)], None);
    assert_eq!(out.trim(), "hub: 1 linkage records purged (kept 7 years; through record 1)");
    assert_eq!(disclosed().await, 0, "purged at the hub too");
    assert_eq!(c.hub_cmd("purge-records", &[], None).trim(), "hub: nothing older than 7 years");
    let log = c.admin_with(&["audit", "--tenant", "tenant-a"], "");
    let purge = log.lines().find(|l| l.contains("records.purge")).unwrap_or_else(|| panic!("no purge entry in {log}"));
    assert!(purge.contains("count=1") && purge.contains("through_seq=1") && purge.contains("retention_years=7"), "{purge}");

    // Numbers go on after the purge; the audit chain is sound.
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "R1", "after-purge").await;
    assert_eq!(s, 201, "{q}");
    c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    let after = records("a-mayor").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["seq"], 2, "{after:?}");
    let (code, _, err) = c.platform_command(&["retention", "run"], &["--tenant-retention", "tenant-a=0"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim_end(), "error: a retention is at least 1 year");
    let d = c.dir.path().join("platform").display().to_string();
    let mut verify = std::process::Command::new(common::bin());
    verify.args(["audit", "--data-dir", &d, "--database-schema", "renkei"]).args(c.db_args()).arg("verify");
    let (code, out, err) = Cluster::output(verify);
    assert_eq!(code, 0, "{out}{err}");
}
