//! A whole tenant's export (`renkei export tenant|verify`): every table as a CSV file, opened and
//! of that tenant only, staff without their secrets, a signed manifest that finds a changed or
//! missing file, and CP932 for older tools.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::path::Path;

on_both_backends!(
    a_tenants_export_holds_its_tables_opened_signed_and_a_changed_file_is_found,
    a_tenant_moved_to_another_platform_and_back_exports_the_same_bytes
);

fn read(dir: &Path, file: &str) -> String {
    let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{file} is UTF-8"));
    text.strip_prefix('\u{FEFF}').unwrap_or_else(|| panic!("{file} starts with a byte-order mark")).to_owned()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json")).expect("JSON")
}

fn rows_of(m: &Value, file: &str) -> u64 {
    m["files"].as_array().and_then(|f| f.iter().find(|f| f["name"] == file)).and_then(|f| f["rows"].as_u64()).unwrap_or(u64::MAX)
}

async fn a_tenants_export_holds_its_tables_opened_signed_and_a_changed_file_is_found(b: Backend) {
    let c = Cluster::start_on(b).await;
    assert_eq!(c.register("a-mayor", "A-77", &number(501)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-88", &number(501)).await.0, 201);
    let fields = json!({"氏名": "山\u{E001}太郎", "income": 1234});
    assert_eq!(c.copy("b-mayor", "B-88", "TAX", "2026-04-01", fields).await.0, 200);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/gaiji-sample.csv");
    let (code, _, err) = c.platform_command(&["gaiji", "load"], &["--tenant", "tenant-b", sample.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "export-1").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "answered", "{done}");
    c.person("tenant-b", "admin-b", "tenant_admin", None).await;

    let out = tempfile::tempdir().expect("tempdir");
    let b_dir = out.path().join("tenant-b");
    let export = |tenant: &str, dir: &Path, extra: &[&str]| {
        let mut args = vec![tenant, "--out", dir.to_str().expect("path")];
        args.extend_from_slice(extra);
        c.platform_command(&["export", "tenant"], &args)
    };
    let (code, said, err) = export("tenant-b", &b_dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(said.starts_with("tenant-b: 18 files,"), "{said}");

    let m = manifest(&b_dir);
    assert_eq!((m["tenant"].as_str(), m["encoding"].as_str()), (Some("tenant-b"), Some("utf-8")), "{m}");
    assert_eq!(m["files"].as_array().map(Vec::len), Some(18), "{m}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&b_dir), 0o700, "personal data: the operator's alone");
    for f in m["files"].as_array().into_iter().flatten() {
        let path = b_dir.join(f["name"].as_str().expect("name"));
        let bytes = std::fs::read(&path).expect("every file is there");
        assert_eq!(f["bytes"].as_u64(), Some(bytes.len() as u64));
        assert!(bytes.ends_with(b"\r\n"), "CRLF lines");
        assert_eq!(mode(&path), 0o600, "{path:?}");
    }
    let persons = read(&b_dir, "persons.csv");
    assert!(persons.starts_with("org,addressee_no,code,created_at\r\nb-mayor,B-88,"), "{persons}");
    assert_eq!(rows_of(&m, "persons.csv"), 1, "tenant-b's person only: {persons}");
    let copies = read(&b_dir, "provision_copies.csv");
    assert!(copies.contains("b-mayor,B-88,TAX,2026-04-01,"), "{copies}");
    assert!(copies.contains("山\u{E001}太郎") && copies.contains("山\u{E001}[MJ012345]太郎"), "the copy and its MJ names: {copies}");
    assert_eq!(rows_of(&m, "provided_answers.csv"), 1);
    assert_eq!(rows_of(&m, "linkage_records.csv"), 1);
    assert_eq!(rows_of(&m, "gaiji.csv"), 5);
    assert!(read(&b_dir, "gaiji.csv").contains("U+E001,MJ012345,高"));
    let staff = read(&b_dir, "staff.csv");
    assert!(staff.contains("admin-b,,tenant_admin,"), "{staff}");
    assert!(!staff.contains("argon2"), "no password hash: {staff}");
    assert!(read(&b_dir, "audit_log.csv").contains("gaiji.load"));
    for f in ["persons.csv", "provision_copies.csv", "queries.csv", "item_marks.csv"] {
        assert!(!read(&b_dir, f).contains("A-77"), "another tenant's person is not in {f}");
    }

    // The asking side: the query with its request and answer opened, and its states.
    let a_dir = out.path().join("tenant-a");
    assert_eq!(export("tenant-a", &a_dir, &[]).0, 0);
    let queries = read(&a_dir, "queries.csv");
    assert!(queries.contains(",A-77,") && queries.contains("answered") && queries.contains("1234"), "{queries}");
    assert!(rows_of(&manifest(&a_dir), "query_states.csv") >= 2);

    // Checked with the key the manifest names, and with the platform's pinned key.
    let verify = |dir: &Path, key: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
        cmd.args(["export", "verify", dir.to_str().expect("path")]);
        if let Some(k) = key {
            cmd.args(["--verifier-key", k.trim()]);
        }
        Cluster::output(cmd)
    };
    let (code, said, err) = verify(&b_dir, None);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("18 files as the manifest says"), "{said}");
    let mut audit_key = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    audit_key.args(["audit", "--data-dir"]).arg(c.path("platform")).args(c.db_args()).arg("key");
    let (code, key, err) = Cluster::output(audit_key);
    assert_eq!(code, 0, "{err}");
    let verify_with = |dir: &Path, key: &str| verify(dir, Some(key));
    let (code, _, err) = verify_with(&b_dir, &key);
    assert_eq!(code, 0, "{key}: {err}");

    // A changed byte, a missing file, a manifest re-signed by someone else: one line each.
    let copy_of = |name: &str| {
        let to = out.path().join(name);
        std::fs::create_dir(&to).expect("mkdir");
        for e in std::fs::read_dir(&b_dir).expect("read_dir").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
        to
    };
    let changed = copy_of("changed");
    std::fs::write(changed.join("provision_copies.csv"), copies.replace("1234", "1235")).expect("write");
    let (code, _, err) = verify_with(&changed, &key);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("provision_copies.csv") && err.contains("changed") && !err.contains("1235"), "{err}");
    let missing = copy_of("missing");
    std::fs::remove_file(missing.join("staff.csv")).expect("rm");
    let (code, _, err) = verify_with(&missing, &key);
    assert_eq!((code, err.trim_end()), (1, "error: staff.csv: missing"));
    let mut other = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    other.args(["audit", "--data-dir"]).arg(out.path().join("another-platform")).arg("key");
    let (_, other_key, _) = Cluster::output(other);
    let (code, _, err) = verify_with(&b_dir, &other_key);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("signature does not verify"), "{err}");

    // Never over an existing directory, never for a tenant not hosted here.
    let (code, _, err) = export("tenant-b", &b_dir, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = export("nowhere", &out.path().join("x"), &[]);
    assert_eq!((code, err.trim_end()), (1, "error: tenant nowhere is not hosted on this platform"));
    assert!(!out.path().join("x").exists());

    // CP932 for older tools: 外字 written as 〓 and counted.
    let cp_dir = out.path().join("cp932");
    let (code, said, err) = export("tenant-b", &cp_dir, &["--encoding", "cp932"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("written as 〓"), "{said}");
    let bytes = std::fs::read(cp_dir.join("provision_copies.csv")).expect("read");
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!bad && text.contains("山〓太郎"), "{text}");
    assert!(manifest(&cp_dir)["replaced_characters"].as_u64() >= Some(1));
    let fresh = platform_args(&c, &out.path().join("fresh"), None);
    let (code, _, err) = renkei(&["import", "tenant", cp_dir.to_str().expect("path"), "--verifier-key", key.trim()], &fresh);
    assert_eq!((code, err.trim_end()), (1, "error: a CP932 export is for reading: import the UTF-8 one; nothing was imported"));
    let (code, _, err) = renkei(&["import", "tenant", changed.to_str().expect("path"), "--verifier-key", key.trim()], &fresh);
    assert_eq!(code, 1);
    assert!(err.contains("provision_copies.csv") && err.contains("changed"), "{err}");

    // Each export is audited on the tenant's chain.
    let audit = std::fs::read_to_string(cp_dir.join("audit_log.csv")).expect("ASCII, so UTF-8 too");
    assert_eq!(audit.matches("tenant.export").count(), 1, "the first export, recorded before the second read: {audit}");

    // A copy of a person never registered: the platform keeps its 宛名番号 only as a keyed
    // index, so the export says so, leaves the number out, and such an export is not imported.
    assert_eq!(c.copy("b-mayor", "Z-1", "TAX", "2026-04-01", json!({"income": 1})).await.0, 200);
    let orphan_dir = out.path().join("orphan");
    let (code, said, err) = export("tenant-b", &orphan_dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("1 provision copies belong to no registered person"), "{said}");
    assert_eq!(manifest(&orphan_dir)["unregistered_copies"], 1);
    assert!(read(&orphan_dir, "provision_copies.csv").contains("\r\nb-mayor,,TAX,2026-04-01,"));
    let (code, _, err) = renkei(&["import", "tenant", orphan_dir.to_str().expect("path"), "--verifier-key", key.trim()], &fresh);
    assert_eq!(code, 1);
    assert!(err.contains("1 provision copies have no addressee_no") && err.contains("nothing was imported"), "{err}");
}

/// `--data-dir DIR [--database URL --database-schema S]` and the cluster's PKI and hub: a
/// platform of its own (its own master key) beside the cluster's.
fn platform_args(c: &Cluster, dir: &Path, pg: Option<(&str, &str)>) -> Vec<String> {
    let mut a: Vec<String> = vec!["--data-dir".into(), dir.display().to_string(), "--pki".into(), c.path("pki").display().to_string()];
    a.extend(["--cert-name".into(), "platform".into(), "--hub-url".into(), c.hub(), "--hub-key".into(), c.hub_key.clone()]);
    if let Some((url, schema)) = pg {
        a.extend(["--database".into(), url.into(), "--database-schema".into(), schema.into()]);
    }
    a
}

fn renkei(args: &[&str], platform: &[String]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(args).args(platform).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// `renkei audit --data-dir … [--database …] SUB` on `platform`.
fn audit(platform: &[String], sub: &str) -> (i32, String, String) {
    let mut args: Vec<String> = platform[..2].to_vec();
    if let Some(i) = platform.iter().position(|a| a == "--database") {
        args.extend(platform[i..].iter().cloned());
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("audit").args(&args).arg(sub).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// The platform's audit key, as `renkei audit key` prints it.
fn audit_key(platform: &[String]) -> String {
    let (code, key, err) = audit(platform, "key");
    assert_eq!(code, 0, "{err}");
    key.trim().to_owned()
}

/// Every CSV file of an export, by name.
fn csv_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect()
}

/// Export → import on a platform of the other backend → export gives the same bytes, and again
/// back onto this backend; the imported audit chain verifies there with the checkpoints the
/// first platform signed. A second import of the tenant, or one under another key, is refused
/// and changes nothing.
async fn a_tenant_moved_to_another_platform_and_back_exports_the_same_bytes(b: Backend) {
    let c = Cluster::start_on(b).await;
    assert_eq!(c.register("a-mayor", "A-77", &number(601)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-88", &number(601)).await.0, 201);
    for (from, income) in [("2025-04-01", 900), ("2026-04-01", 1234)] {
        let fields = json!({"氏名": "山\u{E001}太郎", "住所": "𠮷野町", "income": income});
        assert_eq!(c.copy("b-mayor", "B-88", "TAX", from, fields).await.0, 200);
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/gaiji-sample.csv");
    assert_eq!(c.platform_command(&["gaiji", "load"], &["--tenant", "tenant-b", sample.to_str().expect("path")]).0, 0);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "move-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");
    let mark = json!({"addressee_no": "B-88", "item": "TAX", "mark": "withheld"});
    assert_eq!(c.api("b-mayor", reqwest::Method::PUT, "/api/v1/marks", Some(mark)).await.0, 200);
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let policy = json!({"window_minutes": 1440});
    assert_eq!(c.as_person(&admin, reqwest::Method::PUT, "/api/v1/approval-policies/a-mayor/D015", Some(policy)).await.0, 200);
    let home: Vec<String> = platform_args(&c, &c.path("platform"), c.db.as_ref().map(|d| (d.url.as_str(), "renkei")));
    let (code, _, err) = audit(&home, "checkpoint");
    assert_eq!(code, 0, "a checkpoint, signed by this platform, goes along: {err}");

    // The other backend: PostgreSQL beside a SQLite cluster, SQLite beside a PostgreSQL one.
    let elsewhere_db = match b {
        Backend::Sqlite => Some(renkei_store::testing::TestDatabase::create().expect("PostgreSQL for tests")),
        Backend::Postgres => None,
    };
    let elsewhere = platform_args(&c, &c.path("elsewhere"), elsewhere_db.as_ref().map(|d| (d.url.as_str(), "renkei")));
    let back = platform_args(&c, &c.path("back"), c.db.as_ref().map(|d| (d.url.as_str(), "back")));
    let out = tempfile::tempdir().expect("tempdir");
    for tenant in ["tenant-a", "tenant-b"] {
        let first = out.path().join(format!("{tenant}-1"));
        let (code, _, err) = renkei(&["export", "tenant", tenant, "--out", first.to_str().expect("path")], &home);
        assert_eq!(code, 0, "{err}");
        let files = csv_files(&first);
        assert_eq!(files.len(), 18);
        let m = manifest(&first);
        let held: &[(&str, u64)] = match tenant {
            "tenant-a" => &[("queries.csv", 1), ("approval_policies.csv", 1), ("staff.csv", 1), ("linkage_records.csv", 1)],
            _ => &[("provision_copies.csv", 2), ("item_marks.csv", 1), ("gaiji.csv", 5), ("provided_answers.csv", 1)],
        };
        for (file, rows) in held {
            assert_eq!(rows_of(&m, file), *rows, "{tenant} {file}");
        }
        assert!(rows_of(&m, "audit_checkpoints.csv") >= 1 && rows_of(&m, "persons.csv") >= 1, "{m}");

        let (code, said, err) =
            renkei(&["import", "tenant", first.to_str().expect("path"), "--verifier-key", &audit_key(&home)], &elsewhere);
        assert_eq!(code, 0, "{err}");
        assert!(said.starts_with(&format!("import tenant {tenant}: 18 files")), "{said}");
        let second = out.path().join(format!("{tenant}-2"));
        let (code, _, err) = renkei(&["export", "tenant", tenant, "--out", second.to_str().expect("path")], &elsewhere);
        assert_eq!(code, 0, "{err}");
        for (name, bytes) in csv_files(&second) {
            assert!(
                files[&name] == bytes,
                "{tenant} {name} differs after the move:\n{}\n---\n{}",
                String::from_utf8_lossy(&files[&name]),
                String::from_utf8_lossy(&bytes)
            );
        }

        let (code, _, err) = renkei(&["import", "tenant", second.to_str().expect("path"), "--verifier-key", &audit_key(&elsewhere)], &back);
        assert_eq!(code, 0, "{err}");
        let third = out.path().join(format!("{tenant}-3"));
        assert_eq!(renkei(&["export", "tenant", tenant, "--out", third.to_str().expect("path")], &back).0, 0);
        assert!(csv_files(&third) == files, "{tenant}: the same bytes after coming back");

        // Refused, and nothing changes: the tenant is there already; another platform's key.
        let (code, _, err) = renkei(&["import", "tenant", first.to_str().expect("path"), "--verifier-key", &audit_key(&home)], &elsewhere);
        assert_eq!(
            (code, err.trim_end()),
            (1, format!("error: tenant {tenant} is hosted on this platform already; nothing was imported").as_str())
        );
        let fresh = platform_args(&c, &c.path("fresh"), None);
        let (code, _, err) = renkei(&["import", "tenant", first.to_str().expect("path"), "--verifier-key", &audit_key(&elsewhere)], &fresh);
        assert_eq!(code, 1);
        assert!(err.contains("signature does not verify"), "{err}");
    }
    // The moved chains verify where they are now, the first platform's checkpoints included.
    for platform in [&elsewhere, &back] {
        let (code, said, err) = audit(platform, "verify");
        assert_eq!(code, 0, "{said}{err}");
        assert!(said.contains("tenant-a") && said.contains("tenant-b"), "{said}");
        for tenant in ["tenant-a", "tenant-b"] {
            let line = said.lines().find(|l| l.starts_with(tenant)).unwrap_or_default();
            assert!(line.ends_with("1 checkpoints, sound"), "the moved checkpoint was checked: {said}");
        }
    }
}
