//! People's accounts from the command line: `renkei admin operator-create` bootstraps the first
//! operator, its second factor enrolled at once, and is audited in the platform's own chain.
//! (Signing in: `server::accounts`' tests.)

use std::io::Write;
use std::process::{Command, Stdio};

mod common;

/// `renkei admin --data-dir DIR operator-create ARGS…` with `stdin`: (exit code, stdout, stderr).
fn operator_create(dir: &tempfile::TempDir, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(common::bin())
        .args(["admin", "--data-dir"])
        .arg(dir.path())
        .arg("operator-create")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_first_operator_is_created_with_its_second_factor_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let qr = dir.path().join("root-totp.svg");
    let (code, out, err) =
        operator_create(&dir, &["--name", "root", "--qr-svg", &qr.display().to_string()], "a long operator passphrase\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("operator root created") && out.contains("otpauth://totp/renkei:root?secret="), "{out}");
    assert!(std::fs::read_to_string(&qr).unwrap().contains("<svg"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&qr).unwrap().permissions().mode() & 0o777, 0o600, "the QR code holds the secret");

    let (code, _, err) = operator_create(&dir, &["--name", "root"], "another long passphrase\n");
    assert_eq!((code, err.trim()), (1, "error: conflict: an account named root already exists"));
    let (code, _, err) = operator_create(&dir, &["--name", "second"], "short\n");
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "error: a password has at least 12 characters");
    assert!(!err.contains("short"), "the password is not repeated");

    let verify = Command::new(common::bin()).args(["audit", "--data-dir"]).arg(dir.path()).arg("verify").output().unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert_eq!(stdout.trim(), "the platform: 2 entries, 0 checkpoints, sound", "account.create and totp.enroll");
}
