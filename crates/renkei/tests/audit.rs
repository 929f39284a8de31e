//! `renkei audit` as an operator or a municipality uses it: checkpoints written and kept, the
//! log verified, and tampering done directly in the platform's SQLite file named by a non-zero
//! exit. (Each kind of tampering on both backends: store/tests/audit_log.rs.)

use std::process::Command;

mod common;

/// A platform whose tenant `t1` has three audit entries (tenant, org, API key).
fn platform() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let admin = |args: &[&str]| common::renkei(&[&["admin", "--data-dir", &d], args].concat(), None);
    admin(&["tenant-create", "--id", "t1", "--name", "甲市"]);
    admin(&["org-create", "--tenant", "t1", "--id", "t1-mayor", "--type", "MUNI", "--name", "甲市長", "--endpoint", "https://127.0.0.1:1"]);
    admin(&["api-key-create", "--tenant", "t1", "--org", "t1-mayor"]);
    dir
}

fn audit(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(["audit", "--data-dir"]).arg(dir.path()).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn tamper(dir: &tempfile::TempDir, sql: &str) {
    rusqlite::Connection::open(dir.path().join("platform.sqlite")).unwrap().execute_batch(sql).unwrap();
}

#[test]
fn a_sound_log_verifies_and_an_edited_entry_is_named_with_a_non_zero_exit() {
    let dir = platform();
    let (code, note, _) = audit(&dir, &["checkpoint"]);
    assert_eq!(code, 0);
    assert!(note.starts_with("renkei/audit/t1\n3\n"), "{note}");
    let (code, out, err) = audit(&dir, &["verify"]);
    assert_eq!((code, out.trim(), err.as_str()), (0, "t1: 3 entries, 1 checkpoints, sound", ""));
    let (_, again, _) = audit(&dir, &["checkpoint", "--tenant", "t1"]);
    assert_eq!(again, "", "no new checkpoint when nothing was added");

    tamper(&dir, "UPDATE audit_log SET actor = 'somebody' WHERE chain_seq = 2");
    let (code, _, err) = audit(&dir, &["verify", "--tenant", "t1"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "error: audit log of t1: entry 2 of t1 was changed: its hash does not follow from the entries before it");
    assert!(!err.contains("somebody"), "no value of an entry is repeated");
}

#[test]
fn a_checkpoint_the_municipality_kept_catches_entries_cut_with_every_checkpoint() {
    let dir = platform();
    let (_, note, _) = audit(&dir, &["checkpoint"]);
    let kept = dir.path().join("kept-checkpoint.txt");
    std::fs::write(&kept, &note).unwrap();
    tamper(
        &dir,
        "DELETE FROM audit_log WHERE chain_seq = 3; DELETE FROM audit_checkpoints;
         UPDATE audit_heads SET size = 2, head = (SELECT hash FROM audit_log WHERE chain_seq = 2);",
    );
    assert_eq!(audit(&dir, &["verify"]).0, 0, "the database alone no longer shows it");
    let (code, _, err) = audit(&dir, &["verify", "--checkpoint", &kept.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("t1 has 2 entries but a checkpoint counts 3: entries were removed from its end"), "{err}");
}

#[test]
fn checkpoints_verify_with_the_printed_key_and_not_with_another_platforms() {
    let (dir, other) = (platform(), platform());
    audit(&dir, &["checkpoint"]);
    let (_, key, _) = audit(&dir, &["key"]);
    assert!(key.starts_with("renkei-audit+"), "{key}");
    assert_eq!(audit(&dir, &["verify", "--key", key.trim()]).0, 0);
    let (_, other_key, _) = audit(&other, &["key"]);
    let (code, _, err) = audit(&dir, &["verify", "--key", other_key.trim()]);
    assert_eq!(code, 1);
    assert!(err.contains("a checkpoint of t1 is not signed by this platform's audit key"), "{err}");
    let (code, _, err) = audit(&dir, &["verify", "--tenant", "t9"]);
    assert_eq!((code, err.trim()), (1, "error: tenant t9 has no audit log on this platform"));
}
