//! People's accounts from the command line: `renkei admin operator-create` bootstraps the first
//! operator, its second factor enrolled at once, and is audited in the platform's own chain.
//! (Signing in: `server::accounts`' tests.)

use serde_json::json;
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

on_both_backends!(
    a_person_signs_in_over_the_api_once_per_code_and_out_again,
    a_tenant_admin_enrols_at_first_sign_in_and_exports_an_audit_log_that_verifies,
    a_tenant_admin_manages_the_people_of_their_own_tenant_only,
);

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

    // The operator's session reads no query, and a client system's key is no session.
    let (s, _, v) = common::respond(c.http.get(format!("{}/api/v1/queries", c.internal())).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let key = c.keys.values().next().unwrap();
    let (s, _, v) = common::respond(c.http.get(&url).bearer_auth(key).send().await.unwrap()).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
    let made_up = format!("{key}x");
    assert_eq!(common::respond(c.http.get(&url).bearer_auth(made_up).send().await.unwrap()).await.0, 401);

    assert_eq!(c.http.delete(&url).bearer_auth(&token).send().await.unwrap().status().as_u16(), 204);
    let (s, _, ended) = common::respond(c.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, ended["type"].as_str()), (401, Some("urn:renkei:problem:session-ended")), "{ended}");
}

/// The operator creates tenant-a's first admin and a staff member; the admin signs in with the
/// password alone, enrols the authenticator from the URI the API gives, and reads the tenant's
/// audit log and checkpoints, which verify with the published key on the admin's side; the
/// staff member's session may not read it.
async fn a_tenant_admin_enrols_at_first_sign_in_and_exports_an_audit_log_that_verifies(b: common::Backend) {
    let c = common::Cluster::start_on(b).await;
    let out =
        c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "admin-a", "--role", "tenant_admin"], "admin passphrase 1\n");
    assert!(out.contains("tenant_admin admin-a of tenant-a created"), "{out}");
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "staff-a", "--role", "staff", "--org", "a-mayor"],
        "staff passphrase 1\n",
    );
    let url = |path: &str| format!("{}{path}", c.internal());
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<serde_json::Value>| {
        let mut req = c.http.request(method, url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move { common::respond(req.send().await.unwrap()).await }
    };
    let sign_in = |name: &str, password: &str| {
        let req = c.http.post(url("/api/v1/session")).json(&serde_json::json!({"name": name, "password": password}));
        async move { common::respond(req.send().await.unwrap()).await }
    };

    let (s, _, v) = sign_in("admin-a", "admin passphrase 1").await;
    assert_eq!((s, v["enrol_only"].as_bool()), (201, Some(true)), "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let (s, _, denied) = call(reqwest::Method::GET, "/api/v1/audit", &token, None).await;
    assert_eq!((s, denied["detail"].as_str()), (403, Some("enrol a second factor first")), "{denied}");
    let (s, _, e) = call(reqwest::Method::POST, "/api/v1/session/totp", &token, None).await;
    assert_eq!(s, 200, "{e}");
    let totp = renkei_crypto::totp::Totp::from_uri(e["otpauth_uri"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let confirm = serde_json::json!({"sealed": e["sealed"], "code": totp.code(now)});
    let (s, _, v) = call(reqwest::Method::POST, "/api/v1/session/totp/confirm", &token, Some(confirm)).await;
    assert_eq!(s, 204, "{v}");

    let checkpointed = Command::new(common::bin())
        .args(["audit", "--data-dir"])
        .arg(c.path("platform"))
        .args(["--database-schema", "renkei"])
        .args(c.db_args())
        .arg("checkpoint")
        .output()
        .unwrap();
    assert!(checkpointed.status.success(), "{}", String::from_utf8_lossy(&checkpointed.stderr));
    let (s, _, page) = call(reqwest::Method::GET, "/api/v1/audit", &token, None).await;
    assert_eq!(s, 200, "{page}");
    let actions: Vec<&str> = page["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["tenant.create", "account.create", "sign_in", "totp.enroll"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let (s, _, cps) = call(reqwest::Method::GET, "/api/v1/audit/checkpoints", &token, None).await;
    assert_eq!(s, 200, "{cps}");

    // The municipality checks its export on its own side, with the key it pinned.
    use renkei_crypto::auditlog::{CheckpointVerifier, Entry, StoredEntry, verify};
    let entries: Vec<StoredEntry> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| StoredEntry {
            entry: Entry {
                chain: "tenant-a".into(),
                seq: e["seq"].as_u64().unwrap(),
                at: e["at"].as_i64().unwrap(),
                actor: e["actor"].as_str().unwrap().into(),
                role: e["role"].as_str().unwrap().into(),
                action: e["action"].as_str().unwrap().into(),
                target: e["target"].as_str().unwrap().into(),
                detail: e["detail"].as_str().unwrap().into(),
            },
            hash: e["hash"].as_str().unwrap().into(),
        })
        .collect();
    let notes: Vec<String> = cps["checkpoints"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    assert_eq!(notes.len(), 1);
    let key = CheckpointVerifier::parse(cps["verifier_key"].as_str().unwrap()).unwrap();
    let verified = verify("tenant-a", &entries, None, &notes, &key).unwrap();
    assert_eq!(verified.entries as usize, entries.len());

    let (s, _, v) = sign_in("staff-a", "staff passphrase 1").await;
    assert_eq!(s, 201, "{v}");
    let (s, _, _) = call(reqwest::Method::GET, "/api/v1/audit", v["token"].as_str().unwrap(), None).await;
    assert_eq!(s, 403, "staff may not read the audit log");
}

/// A tenant admin creates the tenant's people, lists them and ends one's sessions; nothing of
/// another tenant is within reach, no role above tenants can be made, and staff manage nobody.
async fn a_tenant_admin_manages_the_people_of_their_own_tenant_only(b: common::Backend) {
    let c = common::Cluster::start_on(b).await;
    c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "admin-a", "--role", "tenant_admin"], "admin passphrase 1\n");
    c.admin_with(&["account-create", "--tenant", "tenant-b", "--name", "admin-b", "--role", "tenant_admin"], "admin passphrase 2\n");
    let token = c.enrolled_session("admin-a", "admin passphrase 1").await;
    let url = format!("{}/api/v1/accounts", c.internal());
    let create = |body: serde_json::Value, token: String| {
        let req = c.http.post(&url).bearer_auth(token).json(&body);
        async move { common::respond(req.send().await.unwrap()).await }
    };

    let staff = serde_json::json!({"name": "staff-a", "role": "staff", "org": "a-mayor", "password": "staff passphrase 1"});
    let (s, _, v) = create(staff, token.clone()).await;
    assert_eq!((s, v["role"].as_str(), v["enrolled"].as_bool()), (201, Some("staff"), Some(false)), "{v}");
    for (body, why) in [
        (
            serde_json::json!({"name": "x-1", "role": "staff", "org": "b-mayor", "password": "a long passphrase"}),
            "tenant tenant-a has no org b-mayor",
        ),
        (serde_json::json!({"name": "x-2", "role": "operator", "password": "a long passphrase"}), "role operator belongs to no tenant"),
        (serde_json::json!({"name": "x-3", "role": "auditor", "password": "short"}), "a password has at least 12 characters"),
    ] {
        let (s, _, v) = create(body, token.clone()).await;
        assert_eq!((s, v["detail"].as_str()), (400, Some(why)), "{v}");
    }
    let (s, _, v) = create(serde_json::json!({"name": "admin-b", "role": "auditor", "password": "a long passphrase"}), token.clone()).await;
    assert_eq!(s, 409, "names are unique on the platform: {v}");

    let (s, _, list) = common::respond(c.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["accounts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin-a", "staff-a"], "its own tenant's only");

    let staff_token = {
        let (_, _, v) = common::respond(
            c.http
                .post(format!("{}/api/v1/session", c.internal()))
                .json(&serde_json::json!({"name": "staff-a", "password": "staff passphrase 1"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        v["token"].as_str().unwrap().to_owned()
    };
    let revoke = |name: &str| {
        let req = c.http.post(format!("{url}/{name}/revoke-sessions")).bearer_auth(&token);
        async move { common::respond(req.send().await.unwrap()).await }
    };
    let (s, _, v) = revoke("staff-a").await;
    assert_eq!((s, v["ended"].as_u64()), (200, Some(1)), "{v}");
    let (s, _, _) =
        common::respond(c.http.get(format!("{}/api/v1/session", c.internal())).bearer_auth(&staff_token).send().await.unwrap()).await;
    assert_eq!(s, 401, "the staff member's session has ended");
    let (other, _, a) = revoke("admin-b").await;
    let (unknown, _, b2) = revoke("nobody").await;
    assert_eq!((other, unknown), (404, 404));
    assert_eq!(a, b2, "another tenant's account looks like no account");

    // Duties: staff file for those their admin assigns, within what 別表第二 gives their org.
    let put = |name: &str, body: serde_json::Value| {
        let req = c.http.put(format!("{url}/{name}/duties")).bearer_auth(&token).json(&body);
        async move { common::respond(req.send().await.unwrap()).await }
    };
    let (s, _, v) = put("staff-a", json!({"duties": ["D015"]})).await;
    assert_eq!((s, v["duties"].clone()), (200, json!(["D015"])), "{v}");
    let (s, _, v) = put("staff-a", json!({"duties": ["D999"]})).await;
    assert_eq!((s, v["detail"].as_str()), (400, Some("別表第二 gives an org of type MUNI no duty D999")), "{v}");
    let (s, _, v) = put("admin-a", json!({"duties": ["D015"]})).await;
    assert_eq!((s, v["detail"].as_str()), (400, Some("role tenant_admin files no queries")), "{v}");
    assert_eq!(put("admin-b", json!({"duties": []})).await.0, 404);
    let log = common::respond(c.http.get(format!("{}/api/v1/audit", c.internal())).bearer_auth(&token).send().await.unwrap()).await.2;
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["action"] == "duties.assign" && e["detail"] == "duties=D015"), "{log}");

    let staff_full = c.enrolled_session("staff-a", "staff passphrase 1").await;
    let (s, _, v) =
        create(serde_json::json!({"name": "x-4", "role": "staff", "org": "a-mayor", "password": "a long passphrase"}), staff_full).await;
    assert_eq!((s, v["type"].as_str()), (403, Some("urn:renkei:problem:role-denied")), "{v}");
}
