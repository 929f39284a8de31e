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

on_both_backends!(a_person_signs_in_over_the_api_once_per_code_and_out_again);

/// The operator made by `operator-create` signs in over the JSON API of a running platform:
/// password and the authenticator's code; the same code again, a wrong password and an unknown
/// name are refused alike; the session is the person's, not a client system's; signing out ends
/// it.
async fn a_person_signs_in_over_the_api_once_per_code_and_out_again(b: common::Backend) {
    let c = common::Cluster::start_on(b).await;
    let plat = c.path("platform").display().to_string();
    let mut args = vec!["admin".to_owned(), "--data-dir".into(), plat, "--database-schema".into(), "renkei".into()];
    args.extend(c.db_args());
    args.extend(["operator-create", "--name", "root"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::renkei(&args, Some("a long operator passphrase\n"));
    let uri = out.lines().find(|l| l.starts_with("otpauth://")).unwrap();
    let totp = renkei_crypto::totp::Totp::from_uri(uri).unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let url = format!("{}/api/v1/session", c.internal());
    let sign_in = |body: serde_json::Value| {
        let req = c.http.post(&url).json(&body);
        async move { common::respond(req.send().await.unwrap()).await }
    };

    let code = totp.code(now());
    let (s, _, v) = sign_in(serde_json::json!({"name": "root", "password": "a long operator passphrase", "code": code})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["enrol_only"], false);
    let token = v["token"].as_str().unwrap().to_owned();
    let (s, _, me) = common::respond(c.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, me["name"].as_str(), me["role"].as_str()), (200, Some("root"), Some("operator")), "{me}");

    let (s, _, again) = sign_in(serde_json::json!({"name": "root", "password": "a long operator passphrase", "code": code})).await;
    assert_eq!((s, again["type"].as_str()), (401, Some("urn:renkei:problem:sign-in-refused")), "a used code: {again}");
    let (_, _, wrong) = sign_in(serde_json::json!({"name": "root", "password": "not the passphrase", "code": totp.code(now())})).await;
    let (_, _, unknown) = sign_in(serde_json::json!({"name": "nobody", "password": "a long operator passphrase", "code": "123456"})).await;
    assert_eq!(wrong, unknown, "an unknown name and a wrong password answer alike");
    assert_eq!(again, wrong);

    // A session is not an API key, and an API key is not a session.
    let (s, _, _) = common::respond(c.http.get(format!("{}/api/v1/queries", c.internal())).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let key = c.keys.values().next().unwrap();
    assert_eq!(common::respond(c.http.get(&url).bearer_auth(key).send().await.unwrap()).await.0, 401);

    assert_eq!(c.http.delete(&url).bearer_auth(&token).send().await.unwrap().status().as_u16(), 204);
    let (s, _, ended) = common::respond(c.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, ended["type"].as_str()), (401, Some("urn:renkei:problem:session-ended")), "{ended}");
}
