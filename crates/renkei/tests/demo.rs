//! `renkei demo --once` end to end, and the promise that no Individual Number survives it in the
//! clear anywhere: not in any file under its data directory, not in any output or log line.

use rand::Rng;
use std::process::Command;

mod common;

/// The demo's generator, replayed from its seed (kept in `demo.seed`), gives every number used.
fn demo_numbers(seed: u64, count: usize) -> Vec<String> {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let first: Vec<u8> = (0..11).map(|i| if i == 0 { rng.gen_range(1..10) } else { rng.gen_range(0..10) }).collect();
            renkei_domain::IndividualNumber::from_first_eleven(&first).unwrap().expose().to_string()
        })
        .collect()
}

#[test]
fn demo_once_shows_every_outcome_and_leaves_no_individual_number_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new(common::bin()).args(["demo", "--once", "--data-dir"]).arg(dir.path()).env("RENKEI_LOG", "debug").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for outcome in ["found", "not_registered", "no_copy", "matrix-denied", "withheld"] {
        assert!(stdout.contains(outcome), "missing {outcome}:\n{stdout}");
    }
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    for scene in ["moved 甲市→乙町, approved", "manual review (自動応答不可)", "same office, in-house (庁内連携)"] {
        assert!(stdout.contains(scene), "missing {scene}:\n{stdout}");
    }
    // A tenant admin, a staff member and an approver per municipality, their credentials in a
    // file only its owner reads.
    for name in ["kou-city-admin", "kou-city-staff", "kou-city-approver", "otsu-town-admin", "otsu-town-staff", "otsu-town-approver"] {
        assert!(stdout.contains(name), "missing {name}:\n{stdout}");
    }
    let people = dir.path().join("demo-people.txt");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&people).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&people).unwrap().contains("otpauth://totp/"));
    // Operations: the monitor caused and recovered incidents, mailed them, wrote the report.
    for part in [
        "status page         https://",
        "incidents caused (its API key revoked) and recovered",
        "運用サービス実績報告書",
        "/tenants/kou-city/report?month=",
        "compliance --tenant kou-city",
    ] {
        assert!(stdout.contains(part), "missing {part}:\n{stdout}");
    }
    let mails: Vec<String> = common::files(&dir.path().join("mail")).iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert!(mails.len() >= 6, "opened, explained and recovered, to the tenant and the operator: {}", mails.len());
    assert!(
        mails.iter().any(|m| m.contains("To: admin@kou-city.example")) && mails.iter().any(|m| m.contains("To: operator@renkei.example"))
    );
    let report =
        common::files(dir.path()).into_iter().find(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("report-kou-city-")));
    let report = std::fs::read_to_string(report.expect("the report")).unwrap();
    assert!(report.contains("運用サービス実績報告書") && report.contains("監視用APIキーの誤失効"), "{report}");
    // The compliance sheet as the demo says to make it: 甲市 is monitored, so its status is live.
    let line = stdout.lines().find(|l| l.contains("compliance --tenant kou-city")).expect("the compliance line");
    let month = line.split("--month ").nth(1).and_then(|m| m.split_whitespace().next()).expect("its month");
    let sheet = Command::new(common::bin())
        .args(["sla", "--data-dir"])
        .arg(dir.path().join("platform"))
        .args(["compliance", "--tenant", "kou-city", "--month", month, "--format", "csv"])
        .env_remove("RENKEI_CONFIG")
        .output()
        .unwrap();
    let sheet = String::from_utf8_lossy(&sheet.stdout);
    assert!(sheet.contains("稼働状況がリアルタイムに確認できる,充足"), "{sheet}");
    // The pages' address, and a current code for whoever has no authenticator app.
    assert!(stdout.contains("/sign-in"), "{stdout}");
    let code = Command::new(common::bin()).args(["demo", "--code", "kou-city-staff", "--data-dir"]).arg(dir.path()).output().unwrap();
    let code = String::from_utf8_lossy(&code.stdout);
    let digits: String = code.chars().take_while(char::is_ascii_digit).collect();
    assert!(digits.len() == 6 && code.contains("valid for"), "{code}");

    let seed: u64 = std::fs::read_to_string(dir.path().join("demo.seed")).unwrap().trim().parse().unwrap();
    let numbers = demo_numbers(seed, 45);
    let files = common::files(dir.path());
    assert!(files.len() >= 6, "expected the databases of hub, platform and kenpo");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for n in &numbers {
            assert!(!common::contains(&bytes, n.as_bytes()), "{} holds an Individual Number in the clear", f.display());
        }
    }
    assert!(stderr.lines().count() > 10, "debug logging produced output to scan");
    for n in &numbers {
        assert!(!stdout.contains(n.as_str()) && !stderr.contains(n.as_str()), "an Individual Number was printed or logged");
    }
}

#[test]
fn demo_once_runs_on_postgresql_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = renkei_store::testing::TestDatabase::create().unwrap();
    let out = Command::new(common::bin()).args(["demo", "--once", "--database", &db.url, "--data-dir"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for outcome in ["found", "not_registered", "no_copy", "matrix-denied"] {
        assert!(stdout.contains(outcome), "missing {outcome}:\n{stdout}");
    }
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    // The stores are in PostgreSQL, not in SQLite files.
    assert!(!common::files(dir.path()).iter().any(|f| f.extension().is_some_and(|e| e == "sqlite")), "no SQLite file");
    // Every routed query but the in-house one (庁内連携), answered inside the platform; then the
    // monitor's round trips, each routed by the hub too.
    assert!(stdout.contains("hub linkage records: 6"), "{stdout}");
    let records: u64 = db.text("SELECT COUNT(*)::text FROM renkei_demo_hub.records").unwrap().parse().unwrap();
    assert!(records > 6, "the scenarios' 6 and the monitor's: {records}");
}
