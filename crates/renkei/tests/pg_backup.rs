//! Backups of a platform on PostgreSQL (`renkei backup` with pgBackRest): a cluster of the
//! test's own that archives its log, renkei configuring pgBackRest and the cluster's
//! `archive_command`, a backup taken while the platform serves, drills that recover the
//! cluster to the run's restore point into a scratch cluster (from either site) and find every
//! tenant's data as it was at that point, the key store kept out of the cluster and its key
//! destroyed in every key backup when a tenant is deleted.
//!
//! One test in this file: it points the test databases at the cluster it starts
//! (`RENKEI_TEST_DATABASE`), which every other test of the binary would see.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's PostgreSQL programs: the newest version installed.
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server packages (see .ci/run)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()));
    found.pop().expect("initdb")
}

fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(program);
    c
}

/// Gives `path` to the postgres user.
fn give_to_postgres(path: &Path) {
    let out = Command::new("chown").args(["-R", "postgres:postgres"]).arg(path).output().expect("chown");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A PostgreSQL cluster of the test's own, archiving its log, on 127.0.0.1; stopped when dropped.
struct PgCluster {
    data: PathBuf,
    port: u16,
}

impl PgCluster {
    fn start(dir: &Path) -> PgCluster {
        std::fs::create_dir_all(dir).expect("dir");
        give_to_postgres(dir);
        let data = dir.join("data");
        let out = as_postgres(&pg_bin().join("initdb")).args(["-A", "trust", "-U", "postgres", "-D"]).arg(&data).output().expect("initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = common::free_port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nwal_level = replica\narchive_mode = on\n\
             archive_command = '/bin/false'\nfsync = off\nmax_connections = 60\n",
            dir.display()
        );
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        text.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), text).expect("conf");
        let out = as_postgres(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "start"])
            .output()
            .expect("pg_ctl");
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
        PgCluster { data, port }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&pg_bin().join("pg_ctl")).arg("-D").arg(&self.data).args(["-m", "immediate", "stop"]).output();
    }
}

/// The repositories: restic's for the runs' manifests and the key store, pgBackRest's for the
/// cluster, at two sites, each with its own password.
struct Repos {
    dir: PathBuf,
}

impl Repos {
    fn new(dir: &Path) -> Repos {
        std::fs::create_dir_all(dir).expect("dir");
        for (file, pass) in [
            ("data.pass", "data-secret"),
            ("keys.pass", "keys-secret"),
            ("copy-data.pass", "copy-data-secret"),
            ("copy-keys.pass", "copy-keys-secret"),
            ("pgbr.pass", "pgbr-secret"),
            ("copy-pgbr.pass", "copy-pgbr-secret"),
        ] {
            std::fs::write(dir.join(file), format!("{pass}\n")).expect("password file");
        }
        for repo in ["pgbackrest", "second-site/pgbackrest", "etc"] {
            std::fs::create_dir_all(dir.join(repo)).expect("dir");
        }
        give_to_postgres(&dir.join("pgbackrest"));
        give_to_postgres(&dir.join("second-site"));
        Repos { dir: dir.to_path_buf() }
    }

    fn args(&self) -> Vec<String> {
        let p = |s: &str| self.dir.join(s).display().to_string();
        [
            ("--backup-repository", p("data-repo")),
            ("--backup-password-file", p("data.pass")),
            ("--key-backup-repository", p("keys-repo")),
            ("--key-backup-password-file", p("keys.pass")),
            ("--copy-repository", p("second-site/data-repo")),
            ("--copy-password-file", p("copy-data.pass")),
            ("--key-copy-repository", p("second-site/keys-repo")),
            ("--key-copy-password-file", p("copy-keys.pass")),
            ("--pgbackrest-repository", p("pgbackrest")),
            ("--pgbackrest-password-file", p("pgbr.pass")),
            ("--pgbackrest-copy-repository", p("second-site/pgbackrest")),
            ("--pgbackrest-copy-password-file", p("copy-pgbr.pass")),
            ("--pgbackrest-config", p("etc/pgbackrest.conf")),
            ("--pg-os-user", "postgres".into()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect()
    }
}

/// `renkei backup` of the cluster's platform with the repositories and `extra` flags.
fn backup(c: &Cluster, repos: &Repos, extra: &[&str], sub: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("backup").arg("--data-dir").arg(c.path("platform")).args(c.db_args()).args(repos.args()).args(extra).args(sub);
    cmd.env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// pgBackRest's own listing of the stanza in repository `repo`.
fn pgbackrest_info(repos: &Repos, repo: u32) -> Value {
    let out = as_postgres(Path::new("pgbackrest"))
        .arg(format!("--config={}", repos.dir.join("etc/pgbackrest.conf").display()))
        .args(["--stanza=renkei", &format!("--repo={repo}"), "--output=json", "info"])
        .output()
        .expect("pgbackrest");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_on_postgresql_is_backed_up_with_pgbackrest_and_drilled_to_its_restore_point_at_both_sites() {
    let base = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let pg = PgCluster::start(&base.path().join("cluster"));
    // The key store in another cluster (the shared test server), as pgBackRest needs.
    let key_db = renkei_store::testing::TestDatabase::create().expect("PostgreSQL for tests (see .ci/run)");
    // SAFETY: the only test of this binary sets them before anything reads the environment.
    unsafe {
        std::env::set_var("RENKEI_TEST_DATABASE", pg.url());
        std::env::set_var("RENKEI_KEY_STORE", &key_db.url);
    }
    let c = Cluster::start_on(Backend::Postgres).await;
    assert_eq!(c.register("a-mayor", "A-1", &number(821)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-1", &number(821)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-1", "TAX", "2026-04-01", json!({"income": 700})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-1", "pg-backup-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");
    let repos = Repos::new(&base.path().join("repos"));

    // A key store inside the backed-up cluster would put the keys in every data backup.
    let (code, _, err) = backup(&c, &repos, &["--key-store", ""], &["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("the key store is in the cluster pgBackRest backs up"), "{err}");

    // Taken while the platform serves: a copy lands during the backup.
    let copying = c.copy("b-mayor", "B-1", "TAX", "2026-05-01", json!({"income": 701}));
    let (code, said, err) = backup(&c, &repos, &[], &["run"]);
    assert_eq!(copying.await.0, 200);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("2 tenants hashed"), "{said}");
    assert!(said.contains("copied to the second site"), "{said}");
    let config = std::fs::read_to_string(repos.dir.join("etc/pgbackrest.conf")).expect("renkei wrote pgBackRest's configuration");
    assert!(config.contains("repo2-path") && config.contains("repo1-cipher-type=aes-256-cbc"), "{config}");
    let mode = std::fs::metadata(repos.dir.join("etc/pgbackrest.conf")).expect("conf").permissions().mode();
    assert_eq!(mode & 0o077, 0, "pgBackRest's configuration holds passwords: its owner's alone");
    for repo in [1, 2] {
        let info = pgbackrest_info(&repos, repo);
        let backups = info[0]["backup"].as_array().expect("backups");
        assert_eq!(backups.len(), 1, "repo{repo}: {info}");
        assert_eq!(backups[0]["type"], "full", "{info}");
        assert!(info[0]["archive"][0]["max"].is_string(), "the log is archived into repo{repo}: {info}");
    }

    // Written after the run: a drill recovers the cluster to the run's restore point, where this
    // copy is not, and finds each tenant's data as the run hashed it.
    assert_eq!(c.copy("b-mayor", "B-1", "TAX", "2026-06-01", json!({"income": 702})).await.0, 200);
    assert_eq!(c.register("a-mayor", "A-2", &number(822)).await.0, 201);
    let (code, said, err) = backup(&c, &repos, &[], &["drill"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("tenant-a\tpass\tcontent hash as recorded"), "{said}");
    assert!(said.contains("tenant-b\tpass\tcontent hash as recorded"), "{said}");
    let (code, said, err) = backup(&c, &repos, &[], &["drill", "--from-copy"]);
    assert_eq!(code, 0, "from the second site: {said}{err}");
    assert!(said.contains("drill passed"), "{said}");

    // The whole platform restored: the cluster recovered to the run's point into a new
    // directory, checked, shut down cleanly, with the key store beside it. Started there, it
    // serves the platform's data as of the point.
    let restored = base.path().join("restored");
    let (code, said, err) = backup(&c, &repos, &[], &["restore", "--to", restored.to_str().expect("path")]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("content hashes as recorded") && said.contains("cluster/data"), "{said}");
    assert!(restored.join("keys.sqlite").is_file(), "{said}");
    let port = common::free_port();
    let data = restored.join("cluster/data");
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", restored.join("cluster").display());
    let out = as_postgres(&pg_bin().join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(restored.join("cluster/again.log"))
        .args(["-w", "-o", &options, "start"])
        .output()
        .expect("pg_ctl");
    assert!(out.status.success(), "the restored cluster starts: {}", String::from_utf8_lossy(&out.stderr));
    let again = PgCluster { data, port };
    let db = c.db.as_ref().expect("database").url.rsplit('/').next().expect("name").to_owned();
    let exported = base.path().join("from-restored");
    let mut export = Command::new(env!("CARGO_BIN_EXE_renkei"));
    export.args(["export", "tenant", "tenant-b", "--out"]).arg(&exported).args(["--data-dir"]).arg(c.path("platform"));
    export.arg("--pki").arg(c.path("pki")).args(["--cert-name", "platform", "--hub-url", &c.hub(), "--hub-key", &c.hub_key]);
    export
        .args(["--database", &format!("postgres://postgres@127.0.0.1:{port}/{db}"), "--key-store"])
        .arg(&restored)
        .env_remove("RENKEI_CONFIG");
    let (code, said, err) = Cluster::output(export);
    assert_eq!(code, 0, "the restored platform opens with its key store: {said}{err}");
    let copies = std::fs::read_to_string(exported.join("provision_copies.csv")).expect("copies");
    assert!(copies.contains(":700}") && !copies.contains(":702}"), "as of the run's point, not after: {copies}");
    drop(again);

    // A second run is incremental in pgBackRest's repository.
    let (code, _, err) = backup(&c, &repos, &[], &["run"]);
    assert_eq!(code, 0, "{err}");
    let info = pgbackrest_info(&repos, 1);
    let types: Vec<&str> = info[0]["backup"].as_array().expect("backups").iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(types, ["full", "incr"], "{info}");

    // A wrong pgBackRest password: one line, recorded, the earlier generations untouched.
    std::fs::write(repos.dir.join("pgbr.pass"), "not-it\n").expect("password");
    let (code, _, err) = backup(&c, &repos, &[], &["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("pgBackRest stanza renkei"), "{err}");
    std::fs::write(repos.dir.join("pgbr.pass"), "pgbr-secret\n").expect("password");
    let (code, said, err) = backup(&c, &repos, &[], &["drill"]);
    assert_eq!(code, 0, "{said}{err}");

    // Deleting a tenant destroys its key in the key store (outside the cluster) and in every
    // key backup: the cluster recovered to an earlier point holds its rows, unreadable.
    let mut delete = Command::new(env!("CARGO_BIN_EXE_renkei"));
    delete.args(["admin", "--data-dir"]).arg(c.path("platform")).args(c.db_args()).env_remove("RENKEI_CONFIG");
    let certificate = base.path().join("tenant-b.disposal.json");
    delete.args(["tenant-delete", "--tenant", "tenant-b", "--confirm", "tenant-b", "--certificate"]).arg(&certificate).args(repos.args());
    let (code, said, err) = Cluster::output(delete);
    assert_eq!(code, 0, "{said}{err}");
    // Two runs, each with a cluster backup at both sites.
    assert!(said.contains("key destroyed in 2 key backups; 4 data generations still hold its data"), "{said}");
    let cert: Value = serde_json::from_slice(&std::fs::read(&certificate).expect("certificate")).expect("JSON");
    let held = cert["backups_holding_ciphertext"].as_array().expect("generations");
    assert_eq!(held.len(), 4, "{cert}");
    assert!(held.iter().all(|g| g["repository"].as_str().is_some_and(|r| r.contains("pgBackRest stanza renkei, backup "))), "{cert}");
    let (code, said, err) = backup(&c, &repos, &[], &["drill"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("tenant-a\tpass\tcontent hash as recorded"), "{said}");
    assert!(said.contains("tenant-b\tpass\tdata key destroyed"), "{said}");

    // One tenant restored from the recovered cluster as an export; a deleted one cannot be.
    let out = base.path().join("tenant-a-restored");
    let (code, said, err) = backup(&c, &repos, &[], &["restore", "--tenant", "tenant-a", "--to", out.to_str().expect("path")]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("content hash as recorded") && out.join("manifest.json").is_file(), "{said}");
    let out = base.path().join("tenant-b-restored");
    let (code, _, err) = backup(&c, &repos, &[], &["restore", "--tenant", "tenant-b", "--to", out.to_str().expect("path")]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("data key was destroyed") && !out.exists(), "{err}");
}
