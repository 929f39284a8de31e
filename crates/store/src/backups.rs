//! The record of backups and restore drills (リストア訓練) kept in the platform's (and the hub's)
//! database, for the operator's reports: when each ran, what it took or found, and whether it
//! succeeded. The operator's alone; no personal data (snapshot ids, tenant ids, counts, sizes).

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};

/// One backup run, successful or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupRun {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    /// The data snapshot's id (empty if none was written).
    pub data_snapshot: String,
    /// The key snapshot's id (empty if none was written).
    pub key_snapshot: String,
    pub tenants: i64,
    /// Bytes of the files backed up, and of what the repository had to add for them.
    pub bytes: i64,
    pub added_bytes: i64,
    /// What failed, or what was noted.
    pub detail: String,
}

/// One restore drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub data_snapshot: String,
    pub tenants: i64,
    /// Tenants whose finding passes (same hash, or shredded as intended).
    pub passed: i64,
    pub detail: String,
}

fn int(row: &Row, i: usize) -> Result<i64> {
    row.get(i)
}

impl PlatformStore {
    /// Records a backup run, and audits it on the platform's chain as `actor`
    /// (`backup.run`, or `backup.failed`) in the same transaction.
    pub async fn record_backup(&self, run: &BackupRun, actor: &str) -> Result<()> {
        let (r, actor) = (run.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                insert_run(tx, &r)?;
                let (action, detail) = run_entry(&r);
                append(tx, "", &AuditEvent { actor: &actor, role: "", action, target: "", detail: &detail })
            })
            .await
    }

    /// Backup runs, newest first, at most `limit`.
    pub async fn backup_runs(&self, limit: i64) -> Result<Vec<BackupRun>> {
        self.db.read(Scope::Operator, move |tx| select_runs(tx, limit)).await
    }

    /// Records a restore drill, and audits it on the platform's chain as `actor`
    /// (`backup.drill`) in the same transaction.
    pub async fn record_drill(&self, drill: &Drill, actor: &str) -> Result<()> {
        let (d, actor) = (drill.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                insert_drill(tx, &d)?;
                let detail = drill_entry(&d);
                append(tx, "", &AuditEvent { actor: &actor, role: "", action: "backup.drill", target: "", detail: &detail })
            })
            .await
    }

    /// Restore drills, newest first, at most `limit`.
    pub async fn drills(&self, limit: i64) -> Result<Vec<Drill>> {
        self.db.read(Scope::Operator, move |tx| select_drills(tx, limit)).await
    }

    /// The backup runs and drills started within `span` (Unix seconds, `[start, end)`), counted
    /// for a month's report.
    pub async fn backup_summary(&self, span: (i64, i64)) -> Result<BackupSummary> {
        self.db
            .read(Scope::Operator, move |tx| {
                let count = |tx: &mut dyn Tx, table: &str, ok: i64| -> Result<i64> {
                    tx.value(
                        &format!("SELECT COUNT(*) FROM {table} WHERE started_at >= ?1 AND started_at < ?2 AND ok = ?3"),
                        args![span.0, span.1, ok],
                    )
                };
                Ok(BackupSummary {
                    runs_ok: count(tx, "backup_runs", 1)?,
                    runs_failed: count(tx, "backup_runs", 0)?,
                    drills_passed: count(tx, "restore_drills", 1)?,
                    drills_failed: count(tx, "restore_drills", 0)?,
                })
            })
            .await
    }
}

/// Backups and drills of a span, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    pub runs_ok: i64,
    pub runs_failed: i64,
    pub drills_passed: i64,
    pub drills_failed: i64,
}

// The tables' rows, the same in the platform's and the hub's store.

pub(crate) fn insert_run(tx: &mut dyn Tx, r: &BackupRun) -> Result<()> {
    tx.execute(
        "INSERT INTO backup_runs (id, started_at, finished_at, ok, data_snapshot, key_snapshot, tenants, bytes, added_bytes, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        args![
            r.id,
            r.started_at,
            r.finished_at,
            i64::from(r.ok),
            r.data_snapshot,
            r.key_snapshot,
            r.tenants,
            r.bytes,
            r.added_bytes,
            r.detail
        ],
    )?;
    Ok(())
}

/// A run's audit action and detail.
pub(crate) fn run_entry(r: &BackupRun) -> (&'static str, String) {
    let action = if r.ok { "backup.run" } else { "backup.failed" };
    let detail =
        format!("run={} data={} keys={} tenants={} bytes={} {}", r.id, r.data_snapshot, r.key_snapshot, r.tenants, r.bytes, r.detail);
    (action, detail.trim_end().to_owned())
}

pub(crate) fn select_runs(tx: &mut dyn Tx, limit: i64) -> Result<Vec<BackupRun>> {
    let rows = tx.query(
        "SELECT id, started_at, finished_at, ok, data_snapshot, key_snapshot, tenants, bytes, added_bytes, detail
         FROM backup_runs ORDER BY started_at DESC, id DESC LIMIT ?1",
        args![limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(BackupRun {
                id: r.get(0)?,
                started_at: int(r, 1)?,
                finished_at: int(r, 2)?,
                ok: r.get(3)?,
                data_snapshot: r.get(4)?,
                key_snapshot: r.get(5)?,
                tenants: int(r, 6)?,
                bytes: int(r, 7)?,
                added_bytes: int(r, 8)?,
                detail: r.get(9)?,
            })
        })
        .collect()
}

pub(crate) fn insert_drill(tx: &mut dyn Tx, d: &Drill) -> Result<()> {
    tx.execute(
        "INSERT INTO restore_drills (id, started_at, finished_at, ok, data_snapshot, tenants, passed, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        args![d.id, d.started_at, d.finished_at, i64::from(d.ok), d.data_snapshot, d.tenants, d.passed, d.detail],
    )?;
    Ok(())
}

/// A drill's audit detail (its action is `backup.drill`).
pub(crate) fn drill_entry(d: &Drill) -> String {
    format!("drill={} data={} ok={} tenants={} passed={}", d.id, d.data_snapshot, d.ok, d.tenants, d.passed)
}

pub(crate) fn select_drills(tx: &mut dyn Tx, limit: i64) -> Result<Vec<Drill>> {
    let rows = tx.query(
        "SELECT id, started_at, finished_at, ok, data_snapshot, tenants, passed, detail
         FROM restore_drills ORDER BY started_at DESC, id DESC LIMIT ?1",
        args![limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Drill {
                id: r.get(0)?,
                started_at: int(r, 1)?,
                finished_at: int(r, 2)?,
                ok: r.get(3)?,
                data_snapshot: r.get(4)?,
                tenants: int(r, 5)?,
                passed: int(r, 6)?,
                detail: r.get(7)?,
            })
        })
        .collect::<std::result::Result<_, StoreError>>()
}
