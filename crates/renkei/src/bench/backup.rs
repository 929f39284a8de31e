//! `renkei bench backup`: a platform whose provider tenant holds N residents (a person and a
//! TAX copy each) backed up, drilled, restored as a whole and that tenant alone (as an export),
//! with throughput in MB/s of the files the backup holds. Baseline: Debian's restic backing up
//! and restoring the same files, in the same run (skipped, and said so, where restic is not
//! installed). SQLite only: PostgreSQL's backups are pgBackRest's.

use super::{Report, Rig, write_copies, write_persons};
use crate::run;
use anyhow::{Context, Result, bail};
use renkei_domain::backup::KeepPolicy;
use renkei_domain::bulk::FileKind;
use renkei_ops::backup::{self, BackupConfig, Repo};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use zeroize::Zeroizing;

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// restic with `password` on `repo`: the seconds it took.
fn restic(repo: &Path, password: &str, args: &[&str]) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", password)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()
        .context("restic")?;
    if !out.status.success() {
        bail!("restic {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(t.elapsed().as_secs_f64())
}

pub(super) async fn backup(db: Option<&str>, residents: u64) -> Result<Report> {
    if db.is_some() {
        bail!("bench backup runs on SQLite: a PostgreSQL platform is backed up with pgBackRest");
    }
    let rig = Rig::start(None).await?;
    let (persons, copies) = (rig.dir.path().join("persons.csv"), rig.dir.path().join("copies.csv"));
    write_persons(&persons, residents)?;
    write_copies(&copies, residents)?;
    rig.load("prov-mayor", FileKind::Persons, &persons).await?;
    rig.load("prov-mayor", FileKind::Copies, &copies).await?;
    let store = &rig.platform.platform;
    let subject = backup::PlatformSubject {
        store: store.clone(),
        master: std::sync::Arc::new(run::master_key(&rig.dir.path().join("platform"), None)?),
    };
    let master = &*subject.master;
    let repos = rig.dir.path().join("repos");
    let config = BackupConfig {
        data: Repo::new(&repos.join("data"), Zeroizing::new("bench-data".into())),
        keys: Repo::new(&repos.join("keys"), Zeroizing::new("bench-keys".into())),
        copy: None,
        keep: KeepPolicy::default(),
        postgres: None,
    };

    let t = Instant::now();
    let run = backup::run(&subject, &config, chrono::Utc::now(), "bench").await?;
    let backup_secs = t.elapsed().as_secs_f64();
    let bytes = run.data.bytes + run.keys.bytes;
    let stored: u64 = walk_bytes(&repos.join("data"))?;
    let t = Instant::now();
    let again = backup::run(&subject, &config, chrono::Utc::now(), "bench").await?;
    let again_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let drill = backup::drill(&subject, &config, None, "bench").await?;
    let drill_secs = t.elapsed().as_secs_f64();
    if !drill.ok() {
        bail!("the drill failed");
    }
    let restored = rig.dir.path().join("restored");
    let t = Instant::now();
    backup::restore(store, master, &config, None, &restored).await?;
    let restore_secs = t.elapsed().as_secs_f64();
    // One tenant alone, as `backup restore --tenant` does it: restored, checked, written out.
    let tenant = renkei_domain::TenantId::parse("bench-prov")?;
    let t = Instant::now();
    let one = backup::restore_tenant(store, master, &config, None, &tenant).await?;
    let export = rig.dir.path().join("tenant-export");
    let m =
        renkei_server::export::write_export(&one.generation.store, master, &tenant, &export, renkei_domain::export::Encoding::Utf8).await?;
    drop(one);
    let tenant_secs = t.elapsed().as_secs_f64();
    let tenant_rows: u64 = m.files.iter().map(|f| f.rows).sum();

    // The baseline: restic itself on the files the snapshot holds.
    let baseline = if Command::new("restic").arg("version").output().is_ok_and(|o| o.status.success()) {
        let files = rig.dir.path().join("files");
        restic(&repos.join("data"), "bench-data", &["restore", &run.data.id, "--target", &files.display().to_string()])?;
        let base_repo = repos.join("restic-baseline");
        restic(&base_repo, "baseline", &["init"])?;
        let data_files = files.join("renkei/data");
        let backup = restic(&base_repo, "baseline", &["backup", &data_files.display().to_string()])?;
        let restore =
            restic(&base_repo, "baseline", &["restore", "latest", "--target", &rig.dir.path().join("base-out").display().to_string()])?;
        Some((backup, restore))
    } else {
        None
    };

    let human = format!(
        "bench backup (sqlite): a platform whose tenant holds {residents} residents; {:.1} MB in its files\n  \
         backup (copies, content hashes, data and key snapshots): {backup_secs:.2} s = {:.1} MB/s; repository {:.1} MB\n  \
         second backup, nothing changed: {again_secs:.2} s, {:.2} MB added\n  \
         drill (verify packs, restore, open, rehash): {drill_secs:.2} s = {:.1} MB/s\n  \
         restore as a new platform (the tenant of {residents} residents, checked): {restore_secs:.2} s = {:.1} MB/s\n  \
         restore of that tenant alone (restored, checked, written as an export of {tenant_rows} rows): {tenant_secs:.2} s\n  {}",
        bytes as f64 / 1e6,
        mb_per_s(bytes, backup_secs),
        stored as f64 / 1e6,
        again.data.added_bytes as f64 / 1e6,
        mb_per_s(bytes, drill_secs),
        mb_per_s(bytes, restore_secs),
        match baseline {
            Some((b, r)) => format!(
                "baseline restic on the same files: backup {b:.2} s = {:.1} MB/s, restore {r:.2} s = {:.1} MB/s; ratios {:.2} and {:.2}",
                mb_per_s(run.data.bytes, b),
                mb_per_s(run.data.bytes, r),
                b / backup_secs,
                r / restore_secs
            ),
            None => "baseline: restic is not installed".into(),
        }
    );
    let json = json!({"bench": "backup", "backend": "sqlite", "residents": residents, "bytes": bytes, "repository_bytes": stored,
        "backup": {"seconds": backup_secs, "mb_per_s": mb_per_s(bytes, backup_secs)},
        "second_backup": {"seconds": again_secs, "added_bytes": again.data.added_bytes},
        "drill": {"seconds": drill_secs, "mb_per_s": mb_per_s(bytes, drill_secs)},
        "restore": {"seconds": restore_secs, "mb_per_s": mb_per_s(bytes, restore_secs)},
        "restore_tenant": {"seconds": tenant_secs, "rows": tenant_rows},
        "baseline": baseline.map(|(b, r)| json!({"what": "restic backup and restore of the same data files",
            "backup_seconds": b, "restore_seconds": r, "backup_ratio": b / backup_secs, "restore_ratio": r / restore_secs}))});
    Ok(Report { human, json })
}

/// The bytes of every file under `dir`.
fn walk_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        total += if e.file_type()?.is_dir() { walk_bytes(&e.path())? } else { e.metadata()?.len() };
    }
    Ok(total)
}
