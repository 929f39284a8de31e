//! The record of backups and restore drills (リストア訓練) kept in the platform's database, for
//! the operator's reports: when each ran, what it took or found, and whether it succeeded. The
//! operator's alone; no personal data (snapshot ids, tenant ids, counts and sizes).

use crate::audit::{AuditEvent, append};
use crate::db::{Row, Scope};
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
                tx.execute(
                    "INSERT INTO backup_runs (id, started_at, finished_at, ok, data_snapshot, key_snapshot, tenants, bytes, added_bytes, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    args![r.id, r.started_at, r.finished_at, i64::from(r.ok), r.data_snapshot, r.key_snapshot, r.tenants, r.bytes, r.added_bytes, r.detail],
                )?;
                let action = if r.ok { "backup.run" } else { "backup.failed" };
                let detail = format!("run={} data={} keys={} tenants={} bytes={} {}", r.id, r.data_snapshot, r.key_snapshot, r.tenants, r.bytes, r.detail);
                append(tx, "", &AuditEvent { actor: &actor, role: "", action, target: "", detail: detail.trim_end() })
            })
            .await
    }

    /// Backup runs, newest first, at most `limit`.
    pub async fn backup_runs(&self, limit: i64) -> Result<Vec<BackupRun>> {
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT id, started_at, finished_at, ok, data_snapshot, key_snapshot, tenants, bytes, added_bytes, detail
                     FROM backup_runs ORDER BY started_at DESC, id DESC LIMIT ?1",
                    args![limit],
                )
            })
            .await?;
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

    /// Records a restore drill, and audits it on the platform's chain as `actor`
    /// (`backup.drill`) in the same transaction.
    pub async fn record_drill(&self, drill: &Drill, actor: &str) -> Result<()> {
        let (d, actor) = (drill.clone(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO restore_drills (id, started_at, finished_at, ok, data_snapshot, tenants, passed, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    args![d.id, d.started_at, d.finished_at, i64::from(d.ok), d.data_snapshot, d.tenants, d.passed, d.detail],
                )?;
                let detail = format!("drill={} data={} ok={} tenants={} passed={}", d.id, d.data_snapshot, d.ok, d.tenants, d.passed);
                append(tx, "", &AuditEvent { actor: &actor, role: "", action: "backup.drill", target: "", detail: &detail })
            })
            .await
    }

    /// Restore drills, newest first, at most `limit`.
    pub async fn drills(&self, limit: i64) -> Result<Vec<Drill>> {
        let rows = self
            .db
            .read(Scope::Operator, move |tx| {
                tx.query(
                    "SELECT id, started_at, finished_at, ok, data_snapshot, tenants, passed, detail
                     FROM restore_drills ORDER BY started_at DESC, id DESC LIMIT ?1",
                    args![limit],
                )
            })
            .await?;
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
}
