//! 外字: a tenant's mapping table loaded all or none, and the report of every 外字 its copies
//! hold, unmapped ones first, naming code points only.

mod common;

use common::{Backend, Cluster};

on_both_backends!(the_report_counts_each_gaiji_in_the_copies_and_a_bad_table_changes_nothing);

async fn the_report_counts_each_gaiji_in_the_copies_and_a_bad_table_changes_nothing(b: Backend) {
    let c = Cluster::start_on(b).await;
    assert_eq!(c.register("b-mayor", "G1", &common::number(401)).await.0, 201);
    assert_eq!(c.register("b-mayor", "G2", &common::number(402)).await.0, 201);
    let one = serde_json::json!({"氏名": "山\u{E001}太郎", "住所": "\u{E002}町\u{E002}一丁目"});
    assert_eq!(c.copy("b-mayor", "G1", "TAX", "2026-04-01", one).await.0, 200);
    assert_eq!(c.copy("b-mayor", "G2", "TAX", "2026-04-01", serde_json::json!({"氏名": "普通"})).await.0, 200);

    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/gaiji-sample.csv");
    let (code, out, err) = c.platform_command(&["gaiji", "load"], &["--tenant", "tenant-b", sample.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "tenant-b: 5 外字 mapped");

    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("table.csv");
    std::fs::write(&table, "code_point,mj_name,fallback\nU+E001,MJ012345,高\n").expect("write");
    let (code, _, err) = c.platform_command(&["gaiji", "load"], &["--tenant", "tenant-b", table.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = c.platform_command(&["gaiji", "report"], &["--tenant", "tenant-b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "tenant-b: 2 copies read; 1 外字 unmapped, 1 mapped\nU+E002\tunmapped\t2\nU+E001\tMJ012345\t1\t高\n",
        "the new table replaced the sample"
    );
    assert!(!out.contains('山') && !out.contains("一丁目"), "no value around them");

    // A bad table: one line, nothing changed.
    std::fs::write(&table, "code_point,mj_name,fallback\nU+E002,MJ023456,崎\nU+0041,MJ000001,A\n").expect("write");
    let (code, _, err) = c.platform_command(&["gaiji", "load"], &["--tenant", "tenant-b", table.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 3") && err.contains("not in a private-use area"), "{err}");
    let (_, out, _) = c.platform_command(&["gaiji", "report"], &["--tenant", "tenant-b"]);
    assert!(out.contains("U+E002\tunmapped\t2"), "{out}");
    let (code, _, err) = c.platform_command(&["gaiji", "report"], &["--tenant", "nowhere"]);
    assert_eq!((code, err.trim_end()), (1, "error: tenant nowhere is not hosted on this platform"));
    // The tenant admin's API and page; other roles are refused.
    let admin = c.person("tenant-b", "admin-b", "tenant_admin", None).await;
    let put = |body: &'static str| {
        let (c, admin) = (&c, &admin);
        async move {
            let r = c
                .http
                .put(format!("{}/api/v1/gaiji", c.internal()))
                .bearer_auth(admin)
                .header("content-type", "text/csv")
                .body(body)
                .send();
            common::respond(r.await.expect("put")).await
        }
    };
    let (s, _, v) = put("code_point,mj_name,fallback\nU+E002,MJ023456,崎\n").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["mapped"].as_u64(), v["copies"].as_u64()), (Some(1), Some(2)), "{v}");
    assert_eq!(
        v["found"][0],
        serde_json::json!({"code_point": "U+E001", "count": 1, "mj_name": null, "fallback": null}),
        "unmapped first: {v}"
    );
    assert_eq!(v["found"][1]["mj_name"], "MJ023456");
    let (s, ct, v) = put("code_point,mj_name,fallback\nU+0041,MJ000001,A\n").await;
    assert_eq!((s, ct.as_str()), (400, "application/problem+json"), "{v}");
    let (s, _, v) = c.as_person(&admin, reqwest::Method::GET, "/api/v1/gaiji", None).await;
    assert_eq!((s, v["mapped"].as_u64()), (200, Some(1)), "the bad table changed nothing: {v}");
    let staff = c.person("tenant-b", "sato-b", "staff", Some("b-mayor")).await;
    assert_eq!(c.as_person(&staff, reqwest::Method::GET, "/api/v1/gaiji", None).await.0, 403);
    let page = c
        .browser()
        .get(format!("{}/gaiji", c.internal()))
        .header("cookie", format!("__Host-renkei-session={admin}"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("U+E001") && page.contains("未対応") && page.contains("MJ023456"), "{page}");
    let log = c.admin_with(&["audit", "--tenant", "tenant-b"], "");
    assert_eq!(log.lines().filter(|l| l.contains("gaiji.load")).count(), 3, "{log}");
}
