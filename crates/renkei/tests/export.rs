//! A whole tenant's export (`renkei export tenant|verify`): every table as a CSV file, opened and
//! of that tenant only, staff without their secrets, a signed manifest that finds a changed or
//! missing file, and CP932 for older tools.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::path::Path;

on_both_backends!(a_tenants_export_holds_its_tables_opened_signed_and_a_changed_file_is_found);

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
    for f in m["files"].as_array().into_iter().flatten() {
        let bytes = std::fs::read(b_dir.join(f["name"].as_str().expect("name"))).expect("every file is there");
        assert_eq!(f["bytes"].as_u64(), Some(bytes.len() as u64));
        assert!(bytes.ends_with(b"\r\n"), "CRLF lines");
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

    // Each export is audited on the tenant's chain.
    let audit = std::fs::read_to_string(cp_dir.join("audit_log.csv")).expect("ASCII, so UTF-8 too");
    assert_eq!(audit.matches("tenant.export").count(), 1, "the first export, recorded before the second read: {audit}");
}
