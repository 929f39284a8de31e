//! Deleting a tenant for good (`renkei admin tenant-delete`): its data key is destroyed in the key
//! store, kept apart from the data, so a copy of its data taken before (a data backup) cannot be
//! read once restored, and the platform says why; its rows go; a signed disposal certificate
//! names the destroyed key; other tenants go on; the deletion is audited.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::path::Path;

on_both_backends!(a_deleted_tenants_key_is_gone_so_no_copy_of_its_data_can_be_read);

fn admin(c: &Cluster, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("admin").arg("--data-dir").arg(c.path("platform")).args(c.db_args()).args(args).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// A consistent copy of a SQLite file, as a backup would take it.
fn snapshot(from: &Path, to: &Path) {
    let conn = rusqlite::Connection::open(from).expect("open");
    conn.execute("VACUUM INTO ?1", [to.to_str().expect("path")]).expect("VACUUM INTO");
}

async fn a_deleted_tenants_key_is_gone_so_no_copy_of_its_data_can_be_read(b: Backend) {
    let c = Cluster::start_on(b).await;
    assert_eq!(c.register("a-mayor", "A-1", &number(701)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-1", &number(701)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-1", "TAX", "2026-04-01", json!({"income": 5})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-1", "del-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");

    // The key store is a store of its own, apart from the data.
    let backup = tempfile::tempdir().expect("tempdir");
    if b == Backend::Sqlite {
        assert!(c.path("platform/keys.sqlite").exists());
        std::fs::create_dir_all(backup.path().join("tenants")).expect("mkdir");
        snapshot(&c.path("platform/platform.sqlite"), &backup.path().join("platform.sqlite"));
        snapshot(&c.path("platform/tenants/tenant-b.sqlite"), &backup.path().join("tenants/tenant-b.sqlite"));
    }
    let wrapped: Vec<u8> = if b == Backend::Sqlite {
        let keys = rusqlite::Connection::open(c.path("platform/keys.sqlite")).expect("open");
        keys.query_row("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = 'tenant-b'", [], |r| r.get(0)).expect("the key is kept")
    } else {
        Vec::new()
    };

    // Monitored, with its admin told of incidents by mail: both go with the tenant.
    for args in [["enrol", "--tenant", "tenant-b", "--org", "b-mayor"], ["notify", "--tenant", "tenant-b", "--email", "admin@b.example"]] {
        let (code, _, err) = c.sla(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }

    let certificate = c.path("tenant-b.disposal.json");
    let cert = certificate.to_str().expect("path");
    let (code, _, err) = admin(&c, &["tenant-delete", "--tenant", "tenant-b", "--confirm", "tenant-a", "--certificate", cert]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("--confirm must repeat") && !certificate.exists(), "{err}");
    let (code, said, err) = admin(&c, &["tenant-delete", "--tenant", "tenant-b", "--confirm", "tenant-b", "--certificate", cert]);
    assert_eq!(code, 0, "{err}");
    assert!(said.starts_with("tenant tenant-b deleted: data key "), "{said}");

    let cert: Value = serde_json::from_slice(&std::fs::read(&certificate).expect("certificate")).expect("JSON");
    assert_eq!((cert["format"].as_str(), cert["tenant"].as_str()), (Some("renkei-disposal-certificate"), Some("tenant-b")), "{cert}");
    let fingerprint = cert["key_fingerprint"].as_str().unwrap_or_default();
    assert_eq!(fingerprint.len(), 32, "{cert}");
    assert!(said.contains(fingerprint), "{said}");
    assert!(cert["rows_deleted"]["persons"].as_u64() >= Some(1) && cert["rows_deleted"]["tenants"] == 1, "{cert}");
    assert_eq!(
        (cert["rows_deleted"]["probe_targets"].as_u64(), cert["rows_deleted"]["notice_channels"].as_u64()),
        (Some(1), Some(1)),
        "{cert}"
    );
    assert_eq!(cert["backups_holding_ciphertext"], json!([]));
    assert!(cert["signature"].as_str().is_some_and(|s| s.contains("— renkei-audit")), "{cert}");

    // Gone from the platform: not hosted, not listed; the other tenant goes on.
    let (code, _, err) = c.platform_command(&["export", "tenant"], &["tenant-b", "--out", c.path("x").to_str().expect("path")]);
    assert_eq!((code, err.trim_end()), (1, "error: tenant tenant-b is not hosted on this platform"));
    let (_, list, _) = admin(&c, &["list"]);
    assert!(!list.contains("tenant-b") && list.contains("tenant-a"), "{list}");
    assert_eq!(c.api("a-mayor", reqwest::Method::GET, "/api/v1/records", None).await.0, 200);
    let (_, audit, _) = admin(&c, &["audit"]);
    assert!(audit.contains("tenant.delete") && audit.contains(fingerprint), "{audit}");
    let (code, again, err) = admin(&c, &["tenant-delete", "--tenant", "tenant-b", "--confirm", "tenant-b", "--certificate", "/dev/null/x"]);
    assert_eq!(code, 1, "{again}");
    assert!(err.contains("not hosted"), "{err}");

    // The data backup restored beside today's key store: the tenant's rows are there, its key
    // is not, and the platform says so instead of reading them.
    if b == Backend::Sqlite {
        let restored = c.path("restored");
        std::fs::create_dir_all(restored.join("tenants")).expect("mkdir");
        std::fs::copy(backup.path().join("platform.sqlite"), restored.join("platform.sqlite")).expect("copy");
        std::fs::copy(backup.path().join("tenants/tenant-b.sqlite"), restored.join("tenants/tenant-b.sqlite")).expect("copy");
        snapshot(&c.path("platform/keys.sqlite"), &restored.join("keys.sqlite"));
        std::fs::copy(c.path("platform/master.key"), restored.join("master.key")).expect("the same master key");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"));
        cmd.args(["export", "tenant", "tenant-b", "--out"]).arg(c.path("from-backup"));
        cmd.args(["--data-dir"]).arg(&restored).args(["--pki"]).arg(c.path("pki")).args(["--cert-name", "platform"]);
        cmd.args(["--hub-url", &c.hub(), "--hub-key", &c.hub_key]).env_remove("RENKEI_CONFIG");
        let (code, _, err) = Cluster::output(cmd);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("the data key of tenant tenant-b was destroyed") && err.contains(fingerprint), "the restore says why: {err}");
        assert!(!c.path("from-backup").exists());
        // Not a byte of the wrapped key is left in the key store's files.
        for file in ["keys.sqlite", "keys.sqlite-wal"] {
            let raw = std::fs::read(c.path(&format!("platform/{file}"))).unwrap_or_default();
            assert!(!raw.windows(wrapped.len()).any(|w| w == wrapped.as_slice()), "the wrapped key is still in {file}");
        }
    }
}
