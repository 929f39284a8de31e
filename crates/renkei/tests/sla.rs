//! `renkei sla report|maintenance|cause`: a tenant's month measured against its contract from
//! what the monitor recorded (written here through the store, as the monitor writes it): the
//! office-hours calendar, maintenance excluded, an outage on a holiday outside the promise, the
//! grade and the fee reduction of the contracts file; a month without data says so; bad input
//! is one line; a maintenance window across a month's end counts in each month its own part.

mod common;

use common::Cluster;
use renkei_domain::incident::ProbeKind;
use renkei_store::Location;
use renkei_store::monitor::ProbeRecord;
use renkei_store::platform::PlatformStore;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn sla(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("sla").arg("--data-dir").arg(dir).args(args).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// Unix seconds of a JST moment in November 2026.
fn nov(day: u32, hour: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2026, 11, day).and_then(|d| d.and_hms_opt(hour, 0, 0)).expect("time").and_utc().timestamp() - 9 * 3600
}

#[tokio::test]
async fn a_tenants_month_is_measured_against_its_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let platform = PlatformStore::open(&Location::Dir(dir.path().to_path_buf())).await.expect("store");
    let kou = renkei_domain::TenantId::parse("kou").expect("id");
    platform.create_tenant(&renkei_crypto::datakey::MasterKey::generate(), &kou, "甲市", "test").await.expect("tenant");
    for (i, (kind, ms)) in [(ProbeKind::Search, 40), (ProbeKind::Search, 80), (ProbeKind::Update, 120)].into_iter().enumerate() {
        let at_ms = (nov(2, 9) + i as i64 * 60) * 1000;
        platform
            .record_probe(&ProbeRecord { tenant: "kou".into(), kind, at_ms, ok: true, latency_ms: ms, detail: String::new() })
            .await
            .expect("probe");
    }
    // An hour down on an office day; two hours on a holiday (3 November), outside the promise.
    let down = platform.open_incident("kou", ProbeKind::Search, nov(2, 10), nov(2, 10)).await.expect("open").expect("new");
    platform.recover_incident(&down.id, nov(2, 11), nov(2, 11)).await.expect("recover");
    let holiday = platform.open_incident("kou", ProbeKind::Update, nov(3, 10), nov(3, 10)).await.expect("open").expect("new");
    platform.recover_incident(&holiday.id, nov(3, 12), nov(3, 12)).await.expect("recover");
    drop(platform);

    let d = dir.path();
    let (code, said, err) =
        sla(d, &["maintenance", "--from", "2026-11-04T09:00:00+09:00", "--to", "2026-11-04T10:00:00+09:00", "--note", "OS更新"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("2026-11-04 09:00 – 2026-11-04 10:00 JST"), "{said}");
    // The operator finds the incident to explain, then writes its cause.
    let (code, listed, err) = sla(d, &["incidents", "--tenant", "kou", "--month", "2026-11"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed.lines().count(), 3, "a header and two incidents: {listed}");
    assert!(listed.contains(&format!("{}\tkou\tsearch\t2026-11-02 10:00\t2026-11-02 11:00", down.id)), "{listed}");
    let (code, open, _) = sla(d, &["incidents"]);
    assert_eq!((code, open.lines().count()), (0, 1), "none open: {open}");
    let (code, _, err) = sla(d, &["cause", "--incident", &down.id, "--cause", "ディスク障害"]);
    assert_eq!(code, 0, "{err}");

    let contracts = d.join("contracts.toml");
    std::fs::write(&contracts, "[default]\nmonthly_fee_yen = 100000\n[tenant.kou]\navailability_percent = 99.9\nreductions = [{ below_percent = 99.9, reduction_percent = 5 }]\n")
        .expect("contracts");
    let c = contracts.to_str().expect("path");
    let (code, json, err) = sla(d, &["--contracts-file", c, "report", "--tenant", "kou", "--month", "2026-11", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&json).expect("JSON");
    // 19 office days of 7:30–18:15, less the hour of maintenance.
    let scheduled = 19 * (10 * 3600 + 45 * 60) - 3600;
    assert_eq!(r["availability"]["scheduled"], scheduled, "{r}");
    assert_eq!(r["availability"]["outage"], 3600, "the holiday's outage is outside the promise: {r}");
    assert_eq!(r["availability"]["maintenance"], 3600);
    let pct = r["availability_percent"].as_f64().expect("measured");
    assert!((pct - 100.0 * f64::from(scheduled - 3600) / f64::from(scheduled)).abs() < 1e-9, "{pct}");
    assert_eq!(r["mttr_seconds"], 5400.0, "both recovered in the month: (1 h + 2 h) / 2");
    assert_eq!((r["verdict"]["availability_met"].as_bool(), r["verdict"]["mttr_met"].as_bool()), (Some(false), Some(true)));
    assert_eq!((r["verdict"]["reduction_percent"].as_u64(), r["reduction_yen"].as_u64()), (Some(5), Some(5000)));
    let search = r["latencies"].as_array().expect("latencies").iter().find(|l| l["probe"] == "search").expect("search");
    assert_eq!((search["latency"]["p50"].as_u64(), search["latency"]["p99"].as_u64()), (Some(40), Some(80)));
    assert_eq!(r["incidents"].as_array().map(Vec::len), Some(2));

    let (code, text, err) = sla(d, &["--contracts-file", c, "report", "--tenant", "kou", "--month", "2026-11"]);
    assert_eq!(code, 0, "{err}");
    for line in
        ["運用サービス実績 kou 2026-11", "稼働率 99.50", "未達", "ディスク障害", "(原因未記入)", "検索系: p50 40 ms", "減額 5 % = 5000 円"]
    {
        assert!(text.contains(line), "{line}: {text}");
    }

    // The day of the outage and the week of the probes in the report's numbers and charts.
    let day = |n: usize| r["daily"][n - 1].clone();
    assert_eq!(r["daily"].as_array().map(Vec::len), Some(30));
    assert!(day(2)["percent"].as_f64().is_some_and(|p| (p - 100.0 * (1.0 - 1.0 / 10.75)).abs() < 1e-9), "{}", day(2));
    assert_eq!((day(3)["percent"].clone(), day(5)["percent"].as_f64()), (Value::Null, Some(100.0)), "a holiday promises nothing");
    assert_eq!(r["weekly"][0]["search"]["p99"].as_u64(), Some(80));
    assert!(r["weekly"][1]["search"].is_null());
    assert_eq!(r["audit"]["sound"], true, "{}", r["audit"]);

    // The 運用サービス実績報告書 as a page with charts, and as a PDF.
    let page_file = d.join("report.html");
    let (code, _, err) = sla(
        d,
        &[
            "--contracts-file",
            c,
            "report",
            "--tenant",
            "kou",
            "--month",
            "2026-11",
            "--format",
            "html",
            "--out",
            page_file.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&page_file).expect("page");
    for part in [
        "<html lang=\"ja\">",
        "運用サービス実績報告書",
        "甲市",
        "<svg id=\"daily-chart\"",
        "<svg id=\"search-chart\"",
        "ディスク障害",
        "未達",
        "5000 円",
        "改ざんは検出されませんでした",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
    assert_eq!(
        page.matches("<rect").count(),
        19 + 2 * (3 + 3),
        "a bar per measured office day; p50/p95/p99 of one week and a legend in each chart: {page}"
    );
    assert!(!page.contains("<script"), "no script in a report to mail");
    let pdf_file = d.join("report.pdf");
    let (code, _, err) =
        sla(d, &["report", "--tenant", "kou", "--month", "2026-11", "--format", "pdf", "--out", pdf_file.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let pdf = std::fs::read(&pdf_file).expect("pdf");
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 5_000, "{} bytes", pdf.len());

    // A month nothing was measured in says so, rather than 100 %.
    let (code, text, _) = sla(d, &["report", "--tenant", "kou", "--month", "2026-10"]);
    assert_eq!(code, 0);
    assert!(text.contains("この月の計測データはありません") && text.contains("稼働率 —"), "{text}");

    for (args, says) in [
        (vec!["report", "--tenant", "kou", "--month", "2026-13"], "--month"),
        (vec!["report", "--tenant", "otsu", "--month", "2026-11"], "no tenant otsu"),
        (vec!["cause", "--incident", "nosuch", "--cause", "x"], "no incident nosuch"),
        (vec!["maintenance", "--from", "2026-11-04T10:00:00+09:00", "--to", "2026-11-04T09:00:00+09:00"], "--to must be after --from"),
        (
            vec!["--contracts-file", d.join("none.toml").to_str().expect("path"), "report", "--tenant", "kou", "--month", "2026-11"],
            "cannot read",
        ),
    ] {
        let (code, _, err) = sla(d, &args);
        assert_eq!((code, err.lines().count()), (1, 1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn a_maintenance_window_across_a_months_end_counts_in_each_month_its_own_part() {
    let dir = tempfile::tempdir().expect("dir");
    let platform = PlatformStore::open(&Location::Dir(dir.path().to_path_buf())).await.expect("store");
    let otsu = renkei_domain::TenantId::parse("otsu").expect("id");
    platform.create_tenant(&renkei_crypto::datakey::MasterKey::generate(), &otsu, "乙町", "test").await.expect("tenant");
    // A probe in each month, so each month has data.
    for at in [nov(15, 12), nov(15, 12) + 20 * 86_400] {
        let p = ProbeRecord {
            tenant: "otsu".into(),
            kind: ProbeKind::Search,
            at_ms: at * 1000,
            ok: true,
            latency_ms: 10,
            detail: String::new(),
        };
        platform.record_probe(&p).await.expect("probe");
    }
    drop(platform);
    let d = dir.path();
    let (code, _, err) = sla(
        d,
        &["maintenance", "--tenant", "otsu", "--from", "2026-11-30T22:00:00+09:00", "--to", "2026-12-01T02:00:00+09:00", "--note", "移設"],
    );
    assert_eq!(code, 0, "{err}");
    let contracts = d.join("contracts.toml");
    std::fs::write(&contracts, "[tenant.otsu]\nservice_hours = \"always\"\n").expect("contracts");
    for (month, days) in [("2026-11", 30), ("2026-12", 31)] {
        let (code, json, err) = sla(
            d,
            &["--contracts-file", contracts.to_str().expect("path"), "report", "--tenant", "otsu", "--month", month, "--format", "json"],
        );
        assert_eq!(code, 0, "{err}");
        let r: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(r["availability"]["maintenance"], 2 * 3600, "{month}: its own two hours: {r}");
        assert_eq!(r["availability"]["scheduled"], days * 86_400 - 2 * 3600, "{month}: {r}");
        assert_eq!(r["availability_percent"], 100.0, "{month}");
    }
}
