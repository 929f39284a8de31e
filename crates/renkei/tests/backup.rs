//! Backups (`renkei backup run|list|forget|drill|restore`): restic-format repositories that
//! restic itself checks and restores, data and keys in repositories of their own, taken while
//! the platform serves; drills that recompute every tenant's content hash; a restored platform
//! that serves queries; generations kept by the policy; a corrupted repository, a wrong password
//! and a half-done run each a one-line error that leaves the earlier generations whole.

mod common;

use common::{Backend, Cluster, number};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repositories and their password files, under `dir`.
struct Repos {
    dir: PathBuf,
    /// Whether a second site is set up.
    copy: bool,
}

impl Repos {
    fn new(dir: &Path) -> Repos {
        std::fs::write(dir.join("data.pass"), "data-secret\n").expect("password file");
        std::fs::write(dir.join("keys.pass"), "keys-secret\n").expect("password file");
        std::fs::write(dir.join("copy-data.pass"), "copy-data-secret\n").expect("password file");
        std::fs::write(dir.join("copy-keys.pass"), "copy-keys-secret\n").expect("password file");
        Repos { dir: dir.to_path_buf(), copy: false }
    }

    fn with_copy(dir: &Path) -> Repos {
        Repos { copy: true, ..Repos::new(dir) }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data-repo")
    }

    fn keys(&self) -> PathBuf {
        self.dir.join("keys-repo")
    }

    fn args(&self) -> Vec<String> {
        let p = |s: &str| self.dir.join(s).display().to_string();
        let mut args = [
            "--backup-repository",
            &p("data-repo"),
            "--backup-password-file",
            &p("data.pass"),
            "--key-backup-repository",
            &p("keys-repo"),
            "--key-backup-password-file",
            &p("keys.pass"),
        ]
        .map(str::to_owned)
        .to_vec();
        if self.copy {
            args.extend(
                [
                    "--copy-repository",
                    &p("second-site/data-repo"),
                    "--copy-password-file",
                    &p("copy-data.pass"),
                    "--key-copy-repository",
                    &p("second-site/keys-repo"),
                    "--key-copy-password-file",
                    &p("copy-keys.pass"),
                ]
                .map(str::to_owned),
            );
        }
        args
    }
}

/// `renkei backup --data-dir DATA REPOS… SUB…`: (exit code, stdout, stderr).
fn backup(data_dir: &Path, repos: &Repos, sub: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("backup").arg("--data-dir").arg(data_dir).args(repos.args()).args(sub).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

/// Debian's restic on `repo` with `password`: (exit code, stdout, stderr).
fn restic(repo: &Path, password: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new("restic");
    cmd.arg("-r").arg(repo).args(args).env("RESTIC_PASSWORD", password).env("RESTIC_CACHE_DIR", repo.with_extension("cache"));
    Cluster::output(cmd)
}

/// `renkei admin audit` of the platform in `data_dir`.
fn audit_log(data_dir: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(["admin", "--data-dir"]).arg(data_dir).arg("audit");
    Cluster::output(cmd).1
}

/// A platform of one tenant, 甲市, in `dir/platform`.
fn platform_of_one_tenant(dir: &Path) -> PathBuf {
    let data_dir = dir.join("platform");
    let mut create = Command::new(env!("CARGO_BIN_EXE_renkei"));
    create.args(["admin", "--data-dir"]).arg(&data_dir).args(["tenant-create", "--id", "kou", "--name", "甲市"]);
    assert_eq!(Cluster::output(create).0, 0);
    data_dir
}

fn number_in(text: &str, before: &str) -> u64 {
    let at = text.find(before).unwrap_or_else(|| panic!("{before:?} in {text}"));
    text[..at].split(|c: char| !c.is_ascii_digit()).rfind(|s| !s.is_empty()).and_then(|n| n.parse().ok()).expect("a number")
}

#[tokio::test]
async fn backups_of_a_serving_platform_are_restic_repositories_that_drill_and_restore_to_a_serving_platform() {
    let mut c = Cluster::start_on(Backend::Sqlite).await;
    assert_eq!(c.register("a-mayor", "A-77", &number(801)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-88", &number(801)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-88", "TAX", "2026-04-01", json!({"income": 4321})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "backup-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");

    let repos = Repos::with_copy(c.dir.path());
    let platform = c.path("platform");
    // Taken while the platform serves: a copy lands during the backup.
    let copying = c.copy("b-mayor", "B-88", "TAX", "2026-05-01", json!({"income": 1}));
    let (code, said, err) = backup(&platform, &repos, &["run"]);
    assert_eq!(copying.await.0, 200);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("made the repository") && said.contains("2 tenants hashed"), "{said}");
    assert!(said.contains("2 snapshots copied to the second site"), "{said}");

    // restic itself checks both repositories, reading every pack.
    let second = |r: &str| repos.dir.join("second-site").join(r);
    for (repo, pass) in [
        (repos.data(), "data-secret"),
        (repos.keys(), "keys-secret"),
        (second("data-repo"), "copy-data-secret"),
        (second("keys-repo"), "copy-keys-secret"),
    ] {
        let (code, out, err) = restic(&repo, pass, &["check", "--read-data"]);
        assert_eq!(code, 0, "restic check {repo:?}: {out}{err}");
        assert!(out.contains("no errors were found"), "{out}");
    }
    // Data and keys apart: restic restores each; no key in the data, no data in the keys.
    let out = c.path("restic-restore");
    let (code, _, err) = restic(&repos.data(), "data-secret", &["restore", "latest", "--target", out.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let restored = out.join("renkei/data");
    assert!(restored.join("platform.sqlite").is_file() && restored.join("tenants/tenant-b.sqlite").is_file());
    assert!(!restored.join("keys.sqlite").exists() && !restored.join("master.key").exists(), "no key in the data repository");
    let manifest: Value = serde_json::from_slice(&std::fs::read(restored.join("renkei-backup.json")).expect("manifest")).expect("JSON");
    let hashes: Vec<&str> = manifest["tenants"].as_array().expect("tenants").iter().filter_map(|t| t["content_hash"].as_str()).collect();
    assert_eq!(hashes.len(), 2, "{manifest}");
    assert!(hashes.iter().all(|h| h.len() == 64), "{manifest}");
    let keys_out = c.path("restic-keys");
    let (code, _, err) = restic(&repos.keys(), "keys-secret", &["restore", "latest", "--target", keys_out.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let key_files: Vec<_> = std::fs::read_dir(keys_out.join("renkei/keys")).expect("keys").flatten().map(|e| e.file_name()).collect();
    assert_eq!(key_files, vec![std::ffi::OsString::from("keys.sqlite")]);
    let (code, _, err) = restic(&repos.data(), "keys-secret", &["snapshots"]);
    assert_ne!(code, 0, "each repository has its own password: {err}");

    // A second backup is incremental: tenant-a's file, unchanged, adds nothing (restic's chunks
    // average 1 MiB, so in files this small a change re-adds the whole file).
    assert_eq!(c.copy("b-mayor", "B-88", "TAX", "2026-06-01", json!({"income": 2})).await.0, 200);
    let (code, said, err) = backup(&platform, &repos, &["run"]);
    assert_eq!(code, 0, "{err}");
    let (read, added) = (number_in(&said, " bytes,"), number_in(&said, " added)"));
    assert!(added * 4 < read * 3, "{said}");
    let (code, list, err) = backup(&platform, &repos, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(list.lines().count(), 3, "a header and two generations: {list}");
    assert!(!list.contains("none") && list.lines().skip(1).all(|l| l.ends_with("\tcopied")), "each with its keys, copied: {list}");

    // A copy that fails is reported and recorded, never silent; the next run catches up.
    std::fs::write(repos.dir.join("copy-keys.pass"), "not-it\n").expect("password");
    let (code, _, err) = backup(&platform, &repos, &["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("were written, but copying them to the second site failed"), "{err}");
    std::fs::write(repos.dir.join("copy-keys.pass"), "copy-keys-secret\n").expect("password");
    let (_, list, _) = backup(&platform, &repos, &["list"]);
    assert!(list.lines().last().is_some_and(|l| l.ends_with("\tMISSING")), "{list}");
    let (code, said, err) = backup(&platform, &repos, &["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("3 snapshots copied to the second site"), "the missed key snapshot and this run's two: {said}");
    let (_, list, _) = backup(&platform, &repos, &["list"]);
    assert_eq!(list.lines().count(), 5, "{list}");
    assert!(list.lines().skip(1).all(|l| l.ends_with("\tcopied")), "{list}");
    // The second site can be used: a drill restores from it alone.
    let (code, said, err) = backup(&platform, &repos, &["drill", "--from-copy"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("tenant-b\tpass\tcontent hash as recorded"), "{said}");

    // The drill restores the newest, opens it with its keys and finds every hash as recorded.
    let (code, said, err) = backup(&platform, &repos, &["drill"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("tenant-a\tpass") && said.contains("tenant-b\tpass") && said.contains("drill passed"), "{said}");
    let first = list.lines().nth(1).and_then(|l| l.split('\t').next()).expect("the first generation").to_owned();
    let (code, said, err) = backup(&platform, &repos, &["drill", "--snapshot", &first]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains(&format!("snapshot {first}")), "{said}");
    let audit = audit_log(&platform);
    assert!(audit.contains("backup.run") && audit.contains("backup.drill"), "{audit}");

    // Restored as a whole platform, it serves: the persons and copies of the backup are there.
    let restored_dir = c.path("restored");
    let (code, said, err) = backup(&platform, &repos, &["restore", "--to", restored_dir.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("2 tenants, content hashes as recorded"), "{said}");
    let (code, _, err) = backup(&platform, &repos, &["restore", "--to", restored_dir.to_str().expect("path")]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    c.kill_process(1);
    // The master key is kept apart from every backup: the operator brings it.
    std::fs::copy(platform.join("master.key"), restored_dir.join("master.key")).expect("master key");
    std::fs::rename(&platform, c.path("platform.before")).expect("move aside");
    std::fs::rename(&restored_dir, &platform).expect("restored in place");
    c.start_process(1).await;
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "after-restore").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "answered", "{done}");
    assert_eq!(done["answer"]["items"][0]["fields"]["income"], 2, "the copy of the newest generation answers: {done}");
    let platform = c.path("platform.before");

    // A wrong password: one line, nothing written.
    std::fs::write(repos.dir.join("keys.pass"), "not-it\n").expect("password");
    let (code, _, err) = backup(&platform, &repos, &["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("keys-repo: the password does not open it"), "{err}");
    std::fs::write(repos.dir.join("keys.pass"), "keys-secret\n").expect("password");
    let (_, list_after, _) = backup(&platform, &repos, &["list"]);
    assert_eq!(list_after, list, "the failed run left the generations as they were");

    // A corrupted pack: the drill fails in one line, as restic's own check does.
    let pack = std::fs::read_dir(repos.data().join("data"))
        .expect("data dir")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a pack file");
    let mut bytes = std::fs::read(&pack).expect("pack");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&pack, bytes).expect("corrupt");
    let (code, said, err) = backup(&platform, &repos, &["drill"]);
    assert_eq!(code, 1, "{said}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, out, err) = restic(&repos.data(), "data-secret", &["check", "--read-data"]);
    assert_ne!(code, 0, "restic agrees: {out}{err}");
    let audit_after = audit_log(&platform);
    assert!(audit_after.contains("backup.failed") && audit_after.contains("ok=false"), "failures are audited: {audit_after}");
}

#[tokio::test]
async fn generations_are_kept_by_the_policy_and_forgotten_in_both_repositories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = platform_of_one_tenant(dir.path());
    let repos = Repos::new(dir.path());
    // 2026-11-01 is a Sunday: one backup a day for eight days.
    for day in 1..=8 {
        let at = format!("2026-11-{day:02}T03:00:00Z");
        let (code, _, err) = backup(&data_dir, &repos, &["run", "--at", &at]);
        assert_eq!(code, 0, "{err}");
    }
    // One process at a time does a platform's backup work.
    let held = std::fs::OpenOptions::new().write(true).open(data_dir.join("backup.lock")).expect("the lock file");
    held.lock().expect("lock");
    let (code, _, err) = backup(&data_dir, &repos, &["forget"]);
    assert_eq!(
        (code, err.trim_end()),
        (1, "error: another backup, forget, drill or shred of this store is running; try again when it ends")
    );
    held.unlock().expect("unlock");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.arg("backup").arg("--data-dir").arg(&data_dir).args(repos.args());
    cmd.args(["--keep-daily", "3", "--keep-weekly", "2", "--keep-monthly", "0", "forget", "--as-of", "2026-11-08T12:00:00Z"]);
    let (code, said, err) = Cluster::output(cmd);
    assert_eq!(code, 0, "{err}");
    assert_eq!(said.trim(), "forgot 4 data and 4 key snapshots", "{said}");
    // Kept: the last three days, and the last of the week before (Sunday 1 November).
    let (_, list, _) = backup(&data_dir, &repos, &["list"]);
    let days: Vec<&str> = list.lines().skip(1).filter_map(|l| l.split('\t').nth(2)).map(|t| &t[..10]).collect();
    assert_eq!(days, ["2026-11-01", "2026-11-06", "2026-11-07", "2026-11-08"], "{list}");
    for (repo, pass) in [(repos.data(), "data-secret"), (repos.keys(), "keys-secret")] {
        let (code, out, err) = restic(&repo, pass, &["check"]);
        assert_eq!(code, 0, "{out}{err}");
        let (_, json, _) = restic(&repo, pass, &["snapshots", "--json"]);
        let snaps: Value = serde_json::from_str(&json).expect("restic's JSON");
        assert_eq!(snaps.as_array().map(Vec::len), Some(4), "{json}");
    }
}

fn files_under(dir: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.insert(e.path());
        }
    }
    out
}

#[tokio::test]
async fn a_deleted_tenants_key_is_destroyed_in_every_key_backup_so_no_data_backup_of_it_can_be_read() {
    let c = Cluster::start_on(Backend::Sqlite).await;
    assert_eq!(c.register("a-mayor", "A-5", &number(805)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-5", &number(805)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-5", "TAX", "2026-04-01", json!({"income": 55})).await.0, 200);
    let repos = Repos::with_copy(c.dir.path());
    let platform = c.path("platform");
    for _ in 0..2 {
        let (code, _, err) = backup(&platform, &repos, &["run"]);
        assert_eq!(code, 0, "{err}");
    }
    let (_, list, _) = backup(&platform, &repos, &["list"]);
    let first = list.lines().nth(1).and_then(|l| l.split('\t').next()).expect("a generation").to_owned();
    let wrapped: Vec<u8> = rusqlite::Connection::open(platform.join("keys.sqlite"))
        .expect("open")
        .query_row("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = 'tenant-b'", [], |r| r.get(0))
        .expect("the key is kept");
    let key_packs_before = files_under(&repos.keys().join("data"));

    let certificate = c.path("tenant-b.disposal.json");
    let mut delete = Command::new(env!("CARGO_BIN_EXE_renkei"));
    delete.args(["admin", "--data-dir"]).arg(&platform).env_remove("RENKEI_CONFIG");
    delete.args(["tenant-delete", "--tenant", "tenant-b", "--confirm", "tenant-b", "--certificate"]).arg(&certificate).args(repos.args());
    let (code, said, err) = Cluster::output(delete);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("key destroyed in 2 key backups; 2 data generations still hold its data"), "{said}");
    let cert: Value = serde_json::from_slice(&std::fs::read(&certificate).expect("certificate")).expect("JSON");
    let held = cert["backups_holding_ciphertext"].as_array().expect("generations");
    assert_eq!(held.len(), 2, "{cert}");
    let taken = held[0]["taken_at"].as_str().expect("taken_at");
    let expires = held[0]["expires_at"].as_str().expect("expires_at");
    assert!(expires > taken && held[0]["repository"].as_str() == repos.data().to_str(), "{cert}");

    // Every key backup was rewritten without the key, its old packs gone; restic agrees.
    let key_packs_after = files_under(&repos.keys().join("data"));
    assert!(key_packs_before.is_disjoint(&key_packs_after), "no pack of the old key snapshots is left");
    // At both sites.
    let second_keys = repos.dir.join("second-site/keys-repo");
    for (repo, pass) in [(repos.keys(), "keys-secret"), (second_keys, "copy-keys-secret")] {
        let (code, out, err) = restic(&repo, pass, &["check", "--read-data"]);
        assert_eq!(code, 0, "{out}{err}");
        let (_, json, _) = restic(&repo, pass, &["snapshots", "--json"]);
        let snaps: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(snaps.as_array().map(Vec::len), Some(2), "{json}");
        for s in snaps.as_array().into_iter().flatten() {
            let id = s["short_id"].as_str().expect("id");
            let (code, bytes, err) = {
                let mut cmd = Command::new("restic");
                cmd.arg("-r").arg(&repo).args(["dump", id, "/renkei/keys/keys.sqlite"]).env("RESTIC_PASSWORD", pass);
                let out = cmd.output().expect("restic dump");
                (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
            };
            assert_eq!(code, 0, "{err}");
            assert!(!bytes.windows(wrapped.len()).any(|w| w == wrapped.as_slice()), "snapshot {id} holds the key's bytes");
            assert!(s["tags"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str().is_some_and(|t| t.starts_with("run=")))), "{s}");
        }
    }

    // The old generation restored: tenant-a as it was, tenant-b unreadable, and said so.
    let (code, said, err) = backup(&platform, &repos, &["drill", "--snapshot", &first]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("tenant-a\tpass\tcontent hash as recorded"), "{said}");
    assert!(said.contains("tenant-b\tpass\tdata key destroyed"), "{said}");
    let to = c.path("restored-after-delete");
    let (code, said, err) = backup(&platform, &repos, &["restore", "--snapshot", &first, "--to", to.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("unreadable for good (data key destroyed): tenant-b"), "{said}");
    let audit = audit_log(&platform);
    assert!(audit.contains("backup.shred") && audit.contains("key_snapshots=2"), "{audit}");
}

/// Debian's OpenSSH server on a loopback port, as a second site: a host key, a client key it
/// accepts, and SFTP; killed when dropped.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: std::process::Child,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).expect("sshd dir");
        // Privilege separation needs its directory (a system's sshd makes it at boot).
        let _ = std::fs::create_dir_all("/run/sshd");
        for key in ["host_key", "client_key"] {
            let out =
                Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join(key)).output().expect("ssh-keygen");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).expect("authorized_keys");
        let port = common::free_port();
        let d = |f: &str| dir.join(f).display().to_string();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\n",
            d("host_key"),
            d("sshd.pid"),
            d("authorized_keys")
        );
        std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).expect("host key");
        std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {host_key}")).expect("known_hosts");
        Sshd { dir: dir.to_path_buf(), port, child: Self::spawn(dir, port) }
    }

    /// Starts sshd on `dir`'s configuration and waits until it listens on `port`.
    fn spawn(dir: &Path, port: u16) -> std::process::Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("sshd.log")).expect("log");
        let child = Command::new("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(dir.join("sshd_config")).stderr(log).spawn().expect("sshd");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(&self.dir, self.port);
    }

    fn user() -> String {
        let out = Command::new("id").arg("-un").output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn url(&self, path: &Path) -> String {
        format!("sftp://{}@127.0.0.1:{}{}", Self::user(), self.port, path.display())
    }

    /// restic on the repository at `path` of this server.
    fn restic(&self, path: &Path, password: &str, args: &[&str]) -> (i32, String, String) {
        let ssh = format!(
            "ssh -p {} -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={} {}@127.0.0.1 -s sftp",
            self.port,
            self.dir.join("client_key").display(),
            self.dir.join("known_hosts").display(),
            Self::user()
        );
        let mut cmd = Command::new("restic");
        cmd.arg("-r").arg(format!("sftp:{}@127.0.0.1:{}", Self::user(), path.display())).args(["-o", &format!("sftp.command={ssh}")]);
        cmd.args(args).env("RESTIC_PASSWORD", password).env("RESTIC_CACHE_DIR", self.dir.join("restic-cache"));
        Cluster::output(cmd)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn the_second_site_over_sftp_holds_every_snapshot_restic_reads_it_and_a_drill_restores_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = platform_of_one_tenant(dir.path());
    let mut sshd = Sshd::start(&dir.path().join("osaka"));
    let remote = dir.path().join("osaka-disk");
    let repos = Repos::new(dir.path());
    let mut args = repos.args();
    args.extend([
        "--copy-repository".into(),
        sshd.url(&remote.join("data")),
        "--copy-password-file".into(),
        dir.path().join("copy-data.pass").display().to_string(),
        "--key-copy-repository".into(),
        sshd.url(&remote.join("keys")),
        "--key-copy-password-file".into(),
        dir.path().join("copy-keys.pass").display().to_string(),
        "--copy-ssh-key".into(),
        sshd.dir.join("client_key").display().to_string(),
        "--copy-known-hosts".into(),
        sshd.dir.join("known_hosts").display().to_string(),
        "--copy-location".into(),
        "JP/大阪府".into(),
    ]);
    let run = |sub: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
        cmd.arg("backup").arg("--data-dir").arg(&data_dir).args(&args).args(sub).env_remove("RENKEI_CONFIG");
        Cluster::output(cmd)
    };
    let (code, said, err) = run(&["run"]);
    assert_eq!(code, 0, "{err} (sshd: {:?})", std::fs::read_to_string(sshd.dir.join("sshd.log")));
    assert!(said.contains("2 snapshots copied to the second site"), "{said}");
    for (repo, pass) in [(remote.join("data"), "copy-data-secret"), (remote.join("keys"), "copy-keys-secret")] {
        let (code, out, err) = sshd.restic(&repo, pass, &["check", "--read-data"]);
        assert_eq!(code, 0, "restic over SFTP: {out}{err}");
    }
    let (code, said, err) = run(&["drill", "--from-copy"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("kou\tpass\tcontent hash as recorded"), "{said}");

    // The second site down: the run says so in one line, list shows it, the next run catches up.
    sshd.stop();
    let (code, _, err) = run(&["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("copying them to the second site failed"), "{err}");
    let (code, list, err) = run(&["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(list.lines().last().is_some_and(|l| l.ends_with("\tMISSING")), "{list}");
    sshd.restart();
    let (code, said, err) = run(&["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("4 snapshots copied to the second site"), "{said}");
    let (_, list, _) = run(&["list"]);
    assert!(list.lines().skip(1).all(|l| l.ends_with("\tcopied")), "{list}");

    // A changed host key is refused: the second site must be the one the operator named.
    std::fs::write(
        sshd.dir.join("known_hosts"),
        format!("[127.0.0.1]:{} {}", sshd.port, std::fs::read_to_string(sshd.dir.join("client_key.pub")).expect("key")),
    )
    .expect("known_hosts");
    let (code, _, err) = run(&["run"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
}

/// Every CSV file of an export, by name.
fn csv_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "csv"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect()
}

#[tokio::test]
async fn one_tenant_is_restored_from_a_generation_as_an_export_that_another_platform_imports() {
    let c = Cluster::start_on(Backend::Sqlite).await;
    assert_eq!(c.register("b-mayor", "B-9", &number(809)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-9", "TAX", "2026-04-01", json!({"income": 909})).await.0, 200);
    let repos = Repos::new(c.dir.path());
    let platform = c.path("platform");
    let (code, _, err) = backup(&platform, &repos, &["run"]);
    assert_eq!(code, 0, "{err}");
    // What the generation holds of tenant-b, exported from the live platform before it changes.
    let live = c.path("live-export");
    let (code, _, err) = c.platform_command(&["export", "tenant"], &["tenant-b", "--out", live.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.copy("b-mayor", "B-9", "TAX", "2026-06-01", json!({"income": 1})).await.0, 200);

    let restored = c.path("restored-b");
    let (code, said, err) = backup(&platform, &repos, &["restore", "--tenant", "tenant-b", "--to", restored.to_str().expect("path")]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("content hash as recorded") && said.contains("18 files"), "{said}");
    let (want, got) = (csv_files(&live), csv_files(&restored));
    assert_eq!(want.len(), 18);
    for (name, bytes) in &want {
        assert!(got.get(name) == Some(bytes), "{name}: the generation's data, byte for byte");
    }
    assert!(audit_log(&platform).contains("backup.restore_tenant"));

    // A tenant the generation does not hold, and a directory that exists: one line each.
    let (code, _, err) = backup(&platform, &repos, &["restore", "--tenant", "tenant-z", "--to", c.path("z").to_str().expect("path")]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("holds no tenant tenant-z"), "{err}");
    let (code, _, err) = backup(&platform, &repos, &["restore", "--tenant", "tenant-b", "--to", restored.to_str().expect("path")]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");

    // The platform that hosts it refuses the import; a new one takes it.
    let mut key = Command::new(env!("CARGO_BIN_EXE_renkei"));
    key.args(["audit", "--data-dir"]).arg(&platform).arg("key");
    let (_, key, _) = Cluster::output(key);
    let (code, _, err) = c.platform_command(&["import", "tenant"], &[restored.to_str().expect("path"), "--verifier-key", key.trim()]);
    assert_eq!(code, 1, "{err}");
    let mut import = Command::new(env!("CARGO_BIN_EXE_renkei"));
    import.args(["import", "tenant"]).arg(&restored).args(["--verifier-key", key.trim(), "--data-dir"]).arg(c.path("elsewhere"));
    import.arg("--pki").arg(c.path("pki")).args(["--cert-name", "platform", "--hub-url", &c.hub(), "--hub-key", &c.hub_key]);
    let (code, said, err) = Cluster::output(import);
    assert_eq!(code, 0, "{err}");
    assert!(said.starts_with("import tenant tenant-b: 18 files"), "{said}");
}

/// The repositories on a small disk of their own (a tmpfs in a mount namespace made for the
/// script, `unshare`): a first backup fits, the disk is then filled, and a second backup fails
/// in one line, recorded; with room again restic finds the first generation whole.
#[tokio::test]
async fn a_backup_onto_a_full_disk_fails_in_one_line_and_leaves_the_earlier_generation_whole() {
    let c = Cluster::start_on(Backend::Sqlite).await;
    assert_eq!(c.register("b-mayor", "B-7", &number(807)).await.0, 201);
    let disk = c.path("small-disk");
    std::fs::create_dir_all(&disk).expect("dir");
    let repos = Repos::new(&disk);
    // The password files go where the tmpfs will not hide them.
    let outside = c.path("passwords");
    std::fs::create_dir_all(&outside).expect("dir");
    let mut args = repos.args();
    for a in args.iter_mut() {
        if a.ends_with(".pass") {
            let name = Path::new(a.as_str()).file_name().expect("name").to_owned();
            std::fs::copy(&*a, outside.join(&name)).expect("copy");
            *a = outside.join(name).display().to_string();
        }
    }
    let renkei = format!("{} backup --data-dir {} {}", env!("CARGO_BIN_EXE_renkei"), c.path("platform").display(), args.join(" "));
    let restic = format!("RESTIC_PASSWORD=data-secret RESTIC_CACHE_DIR={} restic -r {}", c.path("cache").display(), repos.data().display());
    let script = format!(
        "set -u\nmount -t tmpfs -o size=8m tmpfs {disk}\n{renkei} run >/dev/null 2>&1 && echo FIRST=ok\n\
         head -c 64m /dev/zero > {disk}/filler 2>/dev/null\n{renkei} run 2>{err}; echo SECOND=$?\n\
         rm {disk}/filler\n{restic} check --read-data >/dev/null 2>&1 && echo CHECK=ok\n{renkei} list | tail -n +2 | wc -l | sed 's/^/GENERATIONS=/'\n",
        disk = disk.display(),
        err = c.path("second.err").display(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--map-root-user", "--mount", "sh", "-c", &script]).env_remove("RENKEI_CONFIG");
    let (_, said, err) = Cluster::output(cmd);
    let second = std::fs::read_to_string(c.path("second.err")).unwrap_or_default();
    assert!(said.contains("FIRST=ok"), "{said}{err}");
    assert!(said.contains("SECOND=1"), "{said}{second}");
    assert_eq!(second.lines().count(), 1, "one line: {second}");
    assert!(second.contains("No space left on device"), "{second}");
    assert!(said.contains("CHECK=ok") && said.contains("GENERATIONS=1"), "restic finds the first generation whole: {said}{err}");
    let audit = audit_log(&c.path("platform"));
    assert!(audit.contains("backup.failed"), "{audit}");
}

/// The stanza and the configuration's path go into PostgreSQL's archive_command, which a shell
/// runs: a value a shell would read otherwise is refused before anything is done.
#[test]
fn pgbackrest_settings_a_shell_would_misread_are_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repos = Repos::new(dir.path());
    std::fs::write(dir.path().join("pg.pass"), "pg-secret\n").expect("password file");
    for (flag, value, said) in [
        ("--pgbackrest-stanza", "renkei;touch /tmp/x", "letters, digits"),
        ("--pgbackrest-config", "/etc/pgbackrest/my renkei.conf", "absolute path without spaces"),
        ("--pgbackrest-config", "relative.conf", "absolute path"),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
        cmd.arg("backup").arg("--data-dir").arg(dir.path().join("platform")).args(repos.args());
        cmd.arg("--pgbackrest-repository").arg(dir.path().join("pg")).arg("--pgbackrest-password-file").arg(dir.path().join("pg.pass"));
        cmd.args([flag, value, "list"]).env_remove("RENKEI_CONFIG");
        let (code, _, err) = Cluster::output(cmd);
        assert_eq!((code, err.lines().count()), (1, 1), "{flag} {value}: {err}");
        assert!(err.contains(said), "{err}");
    }
    assert!(!dir.path().join("platform").exists(), "nothing was made");
}

/// `renkei hub backup --data-dir HUB REPOS… SUB…`: (exit code, stdout, stderr).
fn hub_backup(hub_dir: &Path, repos: &Repos, sub: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(["hub", "backup", "--data-dir"]).arg(hub_dir).args(repos.args()).args(sub).env_remove("RENKEI_CONFIG");
    Cluster::output(cmd)
}

#[tokio::test]
async fn the_hubs_store_and_secrets_are_backed_up_while_it_routes_drilled_and_restored_to_a_hub_that_routes() {
    let mut c = Cluster::start_on(Backend::Sqlite).await;
    assert_eq!(c.register("a-mayor", "A-77", &number(802)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-88", &number(802)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-88", "TAX", "2026-04-01", json!({"income": 5432})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "hub-backup-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");

    let repos = Repos::with_copy(&made(c.path("hub-repos")));
    let hub = c.path("hub");
    // Taken while the hub routes: a query goes through it during the backup.
    let filing = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "hub-backup-2");
    let (code, said, err) = hub_backup(&hub, &repos, &["run"]);
    let (s, _, q2) = filing.await;
    assert_eq!(s, 201, "{q2}");
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("the hub's store hashed") && said.contains("2 snapshots copied to the second site"), "{said}");

    // restic itself reads what renkei wrote: the store in the data repository, the secrets apart.
    for (repo, pass) in [(repos.data(), "data-secret"), (repos.keys(), "keys-secret")] {
        let (code, out, err) = restic(&repo, pass, &["check", "--read-data"]);
        assert_eq!(code, 0, "restic check {repo:?}: {out}{err}");
    }
    let out = c.path("hub-restic");
    let (code, _, err) = restic(&repos.data(), "data-secret", &["restore", "latest", "--target", out.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let files: Vec<_> = std::fs::read_dir(out.join("renkei/data")).expect("data").flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 2, "hub.sqlite and the manifest, no secret: {files:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("renkei/data/renkei-backup.json")).expect("manifest")).expect("JSON");
    assert_eq!(manifest["hub"]["content_hash"].as_str().map(str::len), Some(64), "{manifest}");
    let (code, _, err) =
        restic(&repos.keys(), "keys-secret", &["restore", "latest", "--target", c.path("hub-restic-keys").to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let secret = std::fs::read(c.path("hub-restic-keys/renkei/keys/hub.secret")).expect("the secret is in the key repository");
    assert_eq!(secret, std::fs::read(hub.join("hub.secret")).expect("secret"));

    // The drill restores it, reads the secrets as the run's and finds the store's hash as recorded.
    let (code, said, err) = hub_backup(&hub, &repos, &["drill"]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(said.contains("hub\tpass\tcontent hash as recorded") && said.contains("drill passed"), "{said}");
    let (code, said, err) = hub_backup(&hub, &repos, &["drill", "--from-copy"]);
    assert_eq!(code, 0, "{said}{err}");

    // A platform's generation is not taken for the hub's: one line, and the failed drill recorded.
    let platform_repos = Repos::new(&made(c.path("platform-repos")));
    let (code, _, err) = backup(&c.path("platform"), &platform_repos, &["run"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = hub_backup(&hub, &platform_repos, &["drill"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("a backup of a platform, not of the hub"), "{err}");
    let (code, _, err) = backup(&c.path("platform"), &repos, &["drill"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("a backup of the hub, not of a platform"), "{err}");

    // Restored in place of the hub, it routes: the orgs, their codes and the keys came back.
    let restored = c.path("hub-restored");
    let (code, said, err) = hub_backup(&hub, &repos, &["restore", "--to", restored.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("the hub's store and keys as recorded"), "{said}");
    c.kill_process(0);
    std::fs::rename(&hub, c.path("hub.before")).expect("move aside");
    std::fs::rename(&restored, &hub).expect("restored in place");
    c.start_process(0).await;
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-77", "after-hub-restore").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-mayor", q["id"].as_str().expect("id")).await;
    assert_eq!(done["state"], "answered", "{done}");
    assert_eq!(done["answer"]["items"][0]["fields"]["income"], 5432, "{done}");

    // `renkei hub` backs up and drills on its schedule, recorded in its own store; its
    // repositories are set in renkei.toml's [hub].
    let settings: Vec<String> =
        repos.args().chunks(2).map(|kv| format!("{} = {:?}", kv[0].trim_start_matches("--").replace('-', "_"), kv[1])).collect();
    let config = c.path("hub.toml");
    std::fs::write(&config, format!("[hub]\n{}\n", settings.join("\n"))).expect("config");
    c.hub_env = vec![("RENKEI_CONFIG".into(), config.display().to_string())];
    c.kill_process(0);
    c.start_process(0).await;
    let mut generations = 0;
    for _ in 0..120 {
        let (_, list, _) = hub_backup(&hub, &repos, &["list"]);
        generations = list.lines().count() - 1;
        if generations == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(generations, 2, "the earlier run's and the schedule's");
    let store = renkei_store::hub::HubStore::open(&renkei_store::Location::Dir(hub.clone())).await.expect("hub store");
    let mut log = Vec::new();
    for _ in 0..120 {
        log = store.operator_log(10).await.expect("log");
        if log.iter().any(|(_, actor, action, _)| actor == "backup-schedule" && action == "backup.drill") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(log.iter().any(|(_, actor, action, _)| actor == "backup-schedule" && action == "backup.run"), "{log:?}");
    assert!(
        log.iter().any(|(_, actor, action, d)| actor == "backup-schedule" && action == "backup.drill" && d.contains("ok=true")),
        "{log:?}"
    );
}

/// The directory `p`, made.
fn made(p: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&p).expect("directory");
    p
}
