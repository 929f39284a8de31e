//! `renkei.toml`: every flag has a key (and docs/config.md lists them), a flag beats the
//! environment which beats the file, a bad file is one line naming the file and the key, secrets
//! come from `*_file` keys only, and the files `renkei demo` writes run its pieces again.

mod common;

use common::bin;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("RENKEI_CONFIG").env_remove("RENKEI_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run renkei")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path.display().to_string()
}

#[test]
fn docs_config_md_lists_every_key_as_the_flags_define_it() {
    let out = run(&["config", "reference"], &[]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let committed = include_str!("../../../docs/config.md");
    assert_eq!(generated, committed, "regenerate docs/config.md with `renkei config reference > docs/config.md`");
    // A flag added to serve, hub or admin is a key without a line in the config module.
    for key in ["`internal_listen`", "`drain_secs`", "`sqlite_open_files`", "`signing_key_file`", "`database_file`", "`actor`"] {
        assert!(generated.contains(key), "{key} is listed");
    }
}

#[test]
fn a_bad_file_is_refused_in_one_line_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("unknown-key.toml", "[serve]\ndrain_sec = 3\n", &["[serve]", "drain_sec"]),
        ("wrong-type.toml", "[serve]\ndrain_secs = \"3\"\n", &["[serve] drain_secs", "whole number", "a string"]),
        ("negative.toml", "[hub]\nmax_connections = -1\n", &["[hub] max_connections", "negative"]),
        ("unknown-section.toml", "[serv]\ndata_dir = \"x\"\n", &["[serv]"]),
        ("outside.toml", "data_dir = \"x\"\n", &["data_dir", "outside any section"]),
        ("password.toml", "[platform]\ndatabase = \"postgres://renkei:s3cret-pw@db/renkei\"\n", &["[platform] database", "database_file"]),
        ("both.toml", "[admin]\ndatabase = \"postgres://db/x\"\ndatabase_file = \"/x\"\n", &["[admin]", "database_file"]),
        ("not-toml.toml", "[serve]\ndrain_secs = = 3\n", &["line 2", "not valid TOML"]),
    ];
    for (name, text, says) in cases {
        let file = write(dir.path(), name, text);
        // The same verdict from `config check`, and before anything starts from each command.
        let check = ["config", "check", file.as_str()];
        let serve = ["serve", "--config", file.as_str()];
        let hub = ["hub", "--config", file.as_str()];
        let admin = ["admin", "--config", file.as_str(), "list"];
        for args in [&check[..], &serve[..], &hub[..], &admin[..]] {
            let out = run(args, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr}");
            assert!(stderr.contains(&file), "{args:?} names the file: {stderr}");
            for s in *says {
                assert!(stderr.contains(s), "{args:?} says {s}: {stderr}");
            }
            assert!(!stderr.contains("s3cret-pw"), "the error repeats no value: {stderr}");
        }
    }
    // RENKEI_CONFIG names the file when --config does not.
    let file = dir.path().join("unknown-key.toml");
    let out = run(&["admin", "list"], &[("RENKEI_CONFIG", file.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drain_sec"));
    let out = run(&["config", "check", dir.path().join("missing.toml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration file"));
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).display().to_string();
    let file =
        write(dir.path(), "renkei.toml", &format!("[platform]\ndata_dir = \"{}\"\n[admin]\nactor = \"file-actor\"\n", d("from-file")));
    let created = |sub: &str| dir.path().join(sub).join("master.key").exists();
    let ok = |out: Output| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    ok(run(&["admin", "--config", &file, "tenant-create", "--id", "t-file", "--name", "F"], &[]));
    assert!(created("from-file"), "the file's data_dir");
    ok(run(
        &["admin", "--config", &file, "tenant-create", "--id", "t-env", "--name", "E"],
        &[("RENKEI_DATA_DIR", &d("from-env")), ("RENKEI_ACTOR", "env-actor")],
    ));
    assert!(created("from-env"), "the environment beats the file");
    ok(run(
        &["admin", "--config", &file, "--data-dir", &d("from-flag"), "tenant-create", "--id", "t-flag", "--name", "G"],
        &[("RENKEI_DATA_DIR", &d("from-env"))],
    ));
    assert!(created("from-flag"), "the flag beats both");
    let listed = |sub: &str| String::from_utf8(run(&["admin", "--data-dir", &d(sub), "list"], &[]).stdout).unwrap();
    assert!(listed("from-file").contains("t-file") && !listed("from-file").contains("t-env"));
    assert!(listed("from-env").contains("t-env") && !listed("from-env").contains("t-flag"));
    assert!(listed("from-flag").contains("t-flag"));

    // [admin] keys reach admin: the audit log names the file's actor, unless the environment
    // names another.
    let audit = |sub: &str| String::from_utf8(run(&["admin", "--data-dir", &d(sub), "audit"], &[]).stdout).unwrap();
    assert!(audit("from-file").contains("file-actor"), "{}", audit("from-file"));
    assert!(audit("from-flag").contains("file-actor"), "{}", audit("from-flag"));
    assert!(audit("from-env").contains("env-actor") && !audit("from-env").contains("file-actor"), "{}", audit("from-env"));
}

#[test]
fn the_hubs_secrets_come_from_the_files_its_keys_name() {
    let dir = tempfile::tempdir().unwrap();
    let signing = "11".repeat(32);
    let key_file = dir.path().join("signing.key");
    std::fs::write(&key_file, &signing).unwrap();
    let file = write(
        dir.path(),
        "renkei.toml",
        &format!("[hub]\ndata_dir = \"{}\"\nsigning_key_file = \"{}\"\n", dir.path().join("hub").display(), key_file.display()),
    );
    let out = run(&["hub", "verify-key", "--config", &file], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected =
        run(&["hub", "verify-key", "--data-dir", dir.path().join("other").to_str().unwrap()], &[("RENKEI_HUB_SIGNING_KEY", &signing)]);
    assert_eq!(out.stdout, expected.stdout, "the key in the named file signs");
    assert!(!dir.path().join("hub").join("hub.signing.key").exists(), "no key was made in the data directory");
}

fn start(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(bin()).args(args).env_remove("RENKEI_CONFIG").stdout(Stdio::null()).stderr(log).spawn().expect("start renkei")
}

#[tokio::test]
async fn the_files_the_demo_writes_run_its_hub_and_platform_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["demo", "--once", "--data-dir", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let main = dir.path().join("renkei.toml");
    for f in [&main, &dir.path().join("kenpo.toml")] {
        let out = run(&["config", "check", f.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o077, 0, "readable by its owner only");
    }
    let main = main.to_str().unwrap();
    let hub = start(&["hub", "--config", main], &dir.path().join("hub.log"));
    let serve = start(&["serve", "--config", main], &dir.path().join("serve.log"));
    struct Stop(Vec<Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let _stop = Stop(vec![hub, serve]);

    // The demo's client systems, with the keys it printed: 乙町 asks 甲市 again.
    let keys = std::fs::read_to_string(dir.path().join("demo-api-keys.txt")).unwrap();
    let (base, key) = keys
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f[0] == "otsu-mayor")
        .map(|f| (f[1].to_owned(), f[2].to_owned()))
        .expect("otsu-mayor's key");
    let ca = std::fs::read_to_string(dir.path().join("pki/ca.pem")).unwrap();
    let http = renkei_net::tls::client_trusting(&ca, Duration::from_secs(10)).unwrap();
    // D010: the demo makes 乙町's D015 wait for its approver.
    let body = json!({"duty": "D010", "provider_org": "kou-mayor", "items": ["TAX"], "addressee_no": "O-R3",
                      "reference_date": "2026-07-01", "idempotency_key": "again-from-config"});
    let mut filed = Value::Null;
    for _ in 0..200 {
        if let Ok(r) = http.post(format!("{base}/api/v1/queries")).bearer_auth(&key).json(&body).send().await {
            filed = r.json().await.unwrap_or(Value::Null);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = filed["id"].as_str().unwrap_or_else(|| panic!("filed: {filed}")).to_owned();
    let mut last = Value::Null;
    for _ in 0..300 {
        last = http.get(format!("{base}/api/v1/queries/{id}")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        if last["state"] == "answered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((last["state"].as_str(), last["outcome"].as_str()), (Some("answered"), Some("found")), "{last}");
}
