//! Versioned migrations: each database records the versions applied; a database newer than the
//! binary is refused rather than misread. Each store has one history per backend; the two say
//! the same thing in each dialect (PostgreSQL adds row-level security).

use crate::{Result, StoreError};
use rusqlite::Connection;

pub struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// A store's migrations for both backends, and how a new SQLite file of it is laid out.
pub struct Migrations {
    pub sqlite: &'static [Migration],
    pub postgres: &'static [Migration],
    /// PostgreSQL statements run after every migration batch, once the application role has its
    /// default grants (e.g. taking UPDATE away from an append-only table).
    pub postgres_grants: &'static str,
    /// Page size of a new SQLite file of this store (bytes): [`BULK_PAGE_SIZE`] or
    /// [`SMALL_PAGE_SIZE`]. An existing file keeps the page size it was made with.
    pub sqlite_page_size: i64,
}

/// Pages of a file that takes bulk loads written in key order (tenant files): a load writes a
/// quarter as many pages, WAL frames and system calls as with 4 KiB pages, +20–30 % rows/s
/// (docs/benchmarks.md).
pub const BULK_PAGE_SIZE: i64 = 16_384;

/// Pages of a file of small transactions and random inserts only (the platform's and the hub's
/// files): every commit writes each page it changed whole, so small pages write less.
pub const SMALL_PAGE_SIZE: i64 = 4_096;

pub(crate) fn known(migrations: &[Migration]) -> i64 {
    migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

pub(crate) fn sqlite(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let known = known(migrations);
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", (m.version, crate::now_unix()))?;
        tx.commit()?;
    }
    Ok(())
}
