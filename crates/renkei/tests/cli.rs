//! The CLI's bad input: one clear line on stderr and a non-zero exit, never a panic.

use std::process::Command;

mod common;

fn fails(args: &[&str], expect: &str) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    assert!(stderr.contains(expect), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn bad_cli_input_gives_one_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fails(&["admin", "--data-dir", &d, "tenant-create", "--id", "Bad Id", "--name", "x"], "tenant id");
    fails(&["admin", "--data-dir", &d, "api-key-create", "--tenant", "nope", "--org", "nope"], "not found");
    common::renkei(&["admin", "--data-dir", &d, "tenant-create", "--id", "t1", "--name", "x"], None);
    fails(&["admin", "--data-dir", &d, "tenant-create", "--id", "t1", "--name", "x"], "already exists");
    fails(&["serve", "--data-dir", &d, "--hub-url", "https://127.0.0.1:1", "--hub-key", "x"], "--pki");
    fails(&["pki", "issue", "--dir", &d, "--name", "x"], "no CA");
    let out = Command::new(common::bin()).args(["hub", "resident-token", "--data-dir", &d]).output().unwrap();
    assert!(!out.status.success(), "an empty number is refused");
}

#[test]
fn a_bad_database_gives_one_line_and_never_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let list = |url: &str, expect: &str| fails(&["admin", "--data-dir", &d, "--database", url, "list"], expect);
    list("mysql://db.example/renkei", "must be a postgres:// URL");
    list("postgres://renkei:hunter2@127.0.0.1:1/renkei", "Connection refused");
    let out = Command::new(common::bin())
        .args(["admin", "--data-dir", &d, "--database", "postgres://renkei:hunter2@127.0.0.1:1/x", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "the password is never printed");
    let db = renkei_store::testing::TestDatabase::create().unwrap();
    let no_db = format!("{}_missing", db.url);
    list(&no_db, "does not exist");
    list(&db.url_as("no_such_role"), "no_such_role");
    // A schema migrated by a newer renkei is refused, not misread.
    common::renkei(&["admin", "--data-dir", &d, "--database", &db.url, "list"], None);
    db.execute("INSERT INTO renkei.schema_migrations (version, applied_at) VALUES (99, 0)").unwrap();
    list(&db.url, "newer than this binary");
}
