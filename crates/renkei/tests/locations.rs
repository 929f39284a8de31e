//! データ保管場所: each store's declared place, refused at start-up outside the allowed countries
//! with one line, and printed for the compliance sheet (`renkei admin locations`).

mod common;

use common::bin;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("RENKEI_CONFIG")
        .env_remove("RENKEI_DATA_LOCATION")
        .env_remove("RENKEI_ALLOWED_COUNTRIES")
        .env_remove("RENKEI_DATABASE")
        .output()
        .expect("run renkei")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_store_declared_outside_the_allowed_countries_is_refused_in_one_line_and_opens_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plat = dir.path().join("plat");
    let d = plat.display().to_string();
    let out = run(&["admin", "--data-dir", &d, "--data-location", "US/virginia", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim_end(), "error: the platform's store is declared in US/virginia, outside the allowed countries (JP)");
    assert!(
        !plat.join("platform.sqlite").exists() && std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0) == 0,
        "nothing was made"
    );

    // serve and the hub refuse before they read a key or bind a port.
    let out = run(&["serve", "--data-dir", &d, "--data-location", "US", "--hub-url", "https://127.0.0.1:1", "--hub-key", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).trim_end().ends_with("the platform's store is declared in US, outside the allowed countries (JP)"),
        "{}",
        text(&out.stderr)
    );
    let hub = dir.path().join("hub").display().to_string();
    let out =
        run(&["hub", "--data-dir", &hub, "--data-location", "KR/seoul", "--listen", "127.0.0.1:0", "--resident-listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).trim_end().ends_with("the hub's store is declared in KR/seoul, outside the allowed countries (JP)"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["admin", "--data-dir", &d, "--data-location", "Japan", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--data-location"), "{}", text(&out.stderr));
}

#[test]
fn the_declared_places_are_printed_and_a_country_may_be_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("plat").display().to_string();
    let out = run(&["admin", "--data-dir", &d, "--data-location", "JP/東京都", "locations"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "platform store\tSQLite files in {d}\tJP/東京都\nkey store\tSQLite file {d}/keys.sqlite\tJP/東京都\nallowed countries\tJP\n"
        )
    );
    let out = run(&["admin", "--data-dir", &d, "--data-location", "US/virginia", "--allowed-countries", "JP,US", "locations"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\tUS/virginia\nallowed countries\tJP,US\n"), "{}", text(&out.stdout));
    // Backup repositories at both sites, each with its declared place; one outside the allowed
    // countries is refused.
    let backups = [
        "--backup-repository",
        "/backup/data",
        "--key-backup-repository",
        "/backup/keys",
        "--backup-location",
        "JP/東京都",
        "--pgbackrest-repository",
        "/backup/pg",
        "--pgbackrest-copy-repository",
        "/mnt/osaka/pg",
    ];
    let copies =
        ["--copy-repository", "sftp://renkei@osaka/data", "--key-copy-repository", "/mnt/osaka/keys", "--copy-location", "JP/大阪府"];
    let mut args = vec!["admin", "--data-dir", &d, "locations"];
    args.extend(backups);
    args.extend(copies);
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(
            "backup repository (data)\t/backup/data\tJP/東京都\nbackup repository (keys)\t/backup/keys\tJP/東京都\n\
             backup repository (pgBackRest)\t/backup/pg\tJP/東京都\n\
             second site (data)\tsftp://renkei@osaka/data\tJP/大阪府\nsecond site (keys)\t/mnt/osaka/keys\tJP/大阪府\n\
             second site (pgBackRest)\t/mnt/osaka/pg\tJP/大阪府\nallowed countries\tJP\n"
        ),
        "{}",
        text(&out.stdout)
    );
    let abroad: Vec<&str> = args.iter().map(|a| if *a == "JP/大阪府" { "SG" } else { a }).collect();
    let out = run(&abroad);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));

    let hub = dir.path().join("hub").display().to_string();
    let out = run(&["hub", "locations", "--data-dir", &hub, "--data-location", "JP/大阪府"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("hub store\tSQLite files in {hub}\tJP/大阪府\nallowed countries\tJP\n"));
    let out = run(&["hub", "locations", "--data-dir", &hub, "--data-location", "CN"]);
    assert_eq!(out.status.code(), Some(1), "a place not allowed is not printed as if it were");
}
