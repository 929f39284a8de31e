//! `renkei sla compliance`: the compliance sheet of a tenant answers each item of 000 表2-8 and
//! 表2-13 from what the running platform did — the monitor's probes, the notice channels, the
//! backups to a second site with a drill and the forgetting of generations (SQLite), an export,
//! a session limit, the contract — and a tenant with none of it is "未充足" for want of
//! evidence; CSV (UTF-8 with a BOM, CP932) and HTML; bad input is one line.

mod common;

use common::{Backend, Cluster};
use std::collections::BTreeMap;
use std::time::Duration;

/// The current month (JST), as YYYY-MM.
fn this_month() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(9)).format("%Y-%m").to_string()
}

fn ok(c: &Cluster, args: &[&str]) -> String {
    let (code, out, err) = c.sla(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// The sheet's CSV lines as (item, check) → (item's verdict, check's result, evidence).
type Lines = BTreeMap<(String, String), (String, String, String)>;

fn item_of<'a>(s: &'a Lines, item: &str) -> &'a str {
    s.iter().find(|((i, _), _)| i == item).map(|(_, v)| v.0.as_str()).unwrap_or_else(|| panic!("{item}"))
}

fn check_of<'a>(s: &'a Lines, check: &str) -> (&'a str, &'a str) {
    s.iter().find(|((_, c), _)| c == check).map(|(_, v)| (v.1.as_str(), v.2.as_str())).unwrap_or_else(|| panic!("{check}"))
}

async fn the_sheet_answers_both_tables_from_what_the_platform_did(b: Backend) {
    let mut c = Cluster::start_on(b).await;
    ok(&c, &["enrol", "--tenant", "tenant-a", "--org", "a-mayor"]);
    ok(&c, &["notify", "--tenant", "tenant-a", "--email", "admin@kou.example"]);
    ok(&c, &["notify", "--tenant", "tenant-a", "--webhook", "https://127.0.0.1:9/hook"]);
    c.serve_env = vec![("RENKEI_MONITOR_EVERY_SECS".into(), "1".into())];
    c.kill_process(1);
    c.start_process(1).await;
    let start = std::time::Instant::now();
    while !ok(&c, &["probes", "--tenant", "tenant-a", "--last", "8"]).contains("round_trip\tok") {
        assert!(start.elapsed() < Duration::from_secs(40), "no round trip probed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let op = c.operator_session().await;
    let (s, _, v) =
        c.as_person(&op, reqwest::Method::PUT, "/api/v1/tenants/tenant-a/session-limit", Some(serde_json::json!({"normal": 40}))).await;
    assert_eq!(s, 204, "{v}");
    let out = tempfile::tempdir().expect("dir");
    let (code, _, err) = c.platform_command(&["export", "tenant"], &["tenant-a", "--out", out.path().join("a").to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");

    // Backups to a second site in another region, a drill and the policy's forgetting.
    let d = |s: &str| c.dir.path().join(s).display().to_string();
    for (file, pass) in [("data.pass", "d-secret"), ("keys.pass", "k-secret"), ("cd.pass", "cd-secret"), ("ck.pass", "ck-secret")] {
        std::fs::write(c.dir.path().join(file), pass).expect("password");
    }
    let backups: Vec<String> = [
        "--backup-repository",
        &d("repo/data"),
        "--backup-password-file",
        &d("data.pass"),
        "--key-backup-repository",
        &d("repo/keys"),
        "--key-backup-password-file",
        &d("keys.pass"),
        "--backup-location",
        "JP/東京都",
        "--copy-repository",
        &d("osaka/data"),
        "--copy-password-file",
        &d("cd.pass"),
        "--key-copy-repository",
        &d("osaka/keys"),
        "--key-copy-password-file",
        &d("ck.pass"),
        "--copy-location",
        "JP/大阪府",
    ]
    .map(str::to_owned)
    .to_vec();
    let backup_args: Vec<&str> = backups.iter().map(String::as_str).collect();
    if b == Backend::Sqlite {
        for sub in ["run", "drill", "forget"] {
            let mut cmd = std::process::Command::new(common::bin());
            cmd.args(["backup", "--data-dir"]).arg(c.path("platform")).args(&backup_args).arg(sub).env_remove("RENKEI_CONFIG");
            let (code, _, err) = Cluster::output(cmd);
            assert_eq!(code, 0, "{sub}: {err}");
        }
    }
    let contracts = c.dir.path().join("contracts.toml");
    std::fs::write(&contracts, "[tenant.tenant-a]\nsearch_p95_ms = 60000\nupdate_p95_ms = 60000\n").expect("contracts");
    let contracts = contracts.display().to_string();
    let month = this_month();
    // The contracts file is the sla command's own flag, before the subcommand; the backups'
    // settings are the subcommand's, as `[backup]` gives them.
    let sheet = |tenant: &str, backups: &[&str]| {
        let mut args = vec!["--contracts-file", &contracts, "compliance", "--tenant", tenant, "--month", &month, "--format", "csv"];
        args.extend_from_slice(backups);
        parse(&ok(&c, &args), tenant, &month)
    };
    let a = sheet("tenant-a", &backup_args);

    let (met, why) = check_of(&a, "稼働状況がリアルタイムに確認できる");
    assert_eq!(met, "充足", "{why}");
    assert!(why.contains("最終プローブ"), "{why}");
    assert_eq!(item_of(&a, "サービス提供状況の確認方法"), "充足", "{a:?}");
    assert_eq!(check_of(&a, "障害を複数の手段で自動連絡する").1, "団体の通知先 メール 1、Webhook 1");
    assert_eq!(item_of(&a, "アプリケーションの応答速度"), "充足", "{a:?}");
    assert_eq!(item_of(&a, "同時接続利用者数"), "充足", "{a:?}");
    assert!(check_of(&a, "同時接続の上限が定められている").1.contains("上限 40 人"));
    assert_eq!(item_of(&a, "ベンダロックイン"), "充足", "{a:?}");
    assert!(check_of(&a, "標準形式でエクスポートされている").1.contains("エクスポート 1 回"));
    assert_eq!(check_of(&a, "SLA の項目と水準が契約で定められている").0, "充足");
    assert!(check_of(&a, "SLA の項目と水準が契約で定められている").1.contains("[tenant.tenant-a]"));
    assert_eq!(
        check_of(&a, "運用者と複数団体の管理者は個人データに触れない"),
        ("充足", "権限表で運用者・複数団体の管理者に許された個人データの操作 0 件")
    );
    assert_eq!(check_of(&a, "権限の行使が監査ログに残り、改ざんがない").0, "充足");
    assert_eq!(check_of(&a, "データと鍵の保管場所が許可された国内にある").0, "充足");
    // What the platform keeps no evidence of is said to be unmet, never assumed.
    assert_eq!(item_of(&a, "ノンカスタマイズの場合の業務改革コスト"), "未充足");
    assert_eq!(item_of(&a, "カスタマイズ性"), "一部充足");
    if b == Backend::Sqlite {
        for item in ["ディザスタリカバリ方法", "データバックアップの方法", "バックアップデータの保管期間"]
        {
            assert_eq!(item_of(&a, item), "充足", "{item}: {a:?}");
        }
        assert!(check_of(&a, "遠隔地へバックアップしている").1.contains("遠隔地 JP/大阪府"), "{a:?}");
    } else {
        assert_eq!(check_of(&a, "遠隔地へバックアップしている").0, "未充足");
    }

    // A tenant with none of it (and no contracts file): each item whose evidence is missing is
    // unmet and says so.
    let bsheet = parse(&ok(&c, &["compliance", "--tenant", "tenant-b", "--month", &month, "--format", "csv"]), "tenant-b", &month);
    for item in ["不明瞭な SLA", "サービス時間", "ディザスタリカバリ方法", "サービス提供状況の確認方法", "データバックアップの方法"]
    {
        assert_ne!(item_of(&bsheet, item), "充足", "{item}: {bsheet:?}");
    }
    assert_eq!(check_of(&bsheet, "稼働状況がリアルタイムに確認できる").1, "プローブの記録がない");
    assert_eq!(check_of(&bsheet, "遠隔地へバックアップしている").1, "バックアップが設定されていない");
    assert_eq!(check_of(&bsheet, "SLA の項目と水準が契約で定められている").1, "契約ファイルがなく、表2-13 の既定値で計測している");

    // A second site declared outside the allowed countries is no error of the command: the
    // sheet says so.
    let abroad: Vec<&str> = backup_args.iter().map(|a| if *a == "JP/大阪府" { "US" } else { a }).collect();
    let abroad = sheet("tenant-a", &abroad);
    let (met, why) = check_of(&abroad, "データと鍵の保管場所が許可された国内にある");
    assert!(met == "未充足" && why.contains("US"), "{why}");

    // The page and CP932.
    let page = ok(&c, &["compliance", "--tenant", "tenant-a", "--month", &month]);
    assert!(page.contains("適合状況一覧（表2-8・表2-13）") && page.contains("<html lang=\"ja\">") && !page.contains("<script"), "{page}");
    assert_eq!(page.matches("<th scope=\"row\"").count(), 19, "an item per row head: 9 of 表2-8 and 10 of 表2-13");
    let file = out.path().join("sheet.csv");
    ok(&c, &["compliance", "--tenant", "tenant-a", "--month", &month, "--format", "csv-cp932", "--out", file.to_str().expect("path")]);
    let bytes = std::fs::read(&file).expect("file");
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!bad && text.contains("表2-13,サービス稼働率"), "{text}");

    for (args, says) in [
        (vec!["compliance", "--tenant", "no-such"], "no tenant no-such"),
        (vec!["compliance", "--tenant", "tenant-a", "--month", "2026-13"], "--month"),
        (vec!["compliance", "--tenant", "tenant-a", "--format", "pdf"], "--format"),
    ] {
        let (code, _, err) = c.sla(&args);
        assert_eq!((code, err.trim().lines().count()), (1, 1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn parse(text: &str, tenant: &str, month: &str) -> Lines {
    let text = text.strip_prefix('\u{feff}').expect("UTF-8 with a BOM");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rows.headers().expect("header").iter().collect::<Vec<_>>(),
        ["団体ID", "対象月", "表", "項目", "求めるべき水準", "項目の判定", "確認内容", "確認結果", "根拠"]
    );
    rows.records()
        .map(|r| {
            let r = r.expect("row");
            assert_eq!((&r[0], &r[1]), (tenant, month));
            ((r[3].to_owned(), r[6].to_owned()), (r[5].to_owned(), r[7].to_owned(), r[8].to_owned()))
        })
        .collect()
}

on_both_backends!(the_sheet_answers_both_tables_from_what_the_platform_did);
