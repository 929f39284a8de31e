//! Versioned migrations: each database records the versions applied; a database newer than the
//! binary is refused rather than misread. Each store has one history per backend, as `.sql` files
//! under `crates/store/migrations/{sqlite,postgres}/<store>/NNN_what.sql`, read with
//! `include_str!`; the twins say the same thing in each dialect, and `tests/schema_parity.rs`
//! holds them to a short list of intended differences. On PostgreSQL row-level security is not
//! written in the files: it is made from each store's list of tables ([`RowSecurity`]), so a new
//! table cannot be left without it.

use crate::{Result, StoreError};
use rusqlite::Connection;

pub struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// Which rows of a PostgreSQL table a transaction sees: the table's row-level security policy.
#[derive(Debug, Clone, Copy)]
pub enum Rows {
    /// The rows of the tenant the transaction declared (`renkei.tenant_id`), only: tenant data.
    /// Policy `tenant_rows`.
    Tenant,
    /// The declared tenant's rows, or every row for the operator (`renkei.operator`); the column
    /// names the row's tenant. Policy `own_tenant`.
    TenantOrOperator(&'static str),
    /// Every row. Policy `readable`.
    All,
    /// A policy of the table's own, written in its migration file.
    Written,
}

/// A table of a PostgreSQL schema, the migration that creates it, and its policy: that
/// migration's transaction also enables and forces row-level security on it.
#[derive(Debug, Clone, Copy)]
pub struct RowSecurity {
    pub version: i64,
    pub table: &'static str,
    pub rows: Rows,
}

/// The row-level security statements for the tables that migration `version` creates.
pub(crate) fn row_security_sql(tables: &[RowSecurity], version: i64) -> String {
    let mut sql = String::new();
    for t in tables.iter().filter(|t| t.version == version) {
        let name = t.table;
        sql.push_str(&format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {name} FORCE ROW LEVEL SECURITY;\n"));
        let tenant = "current_setting('renkei.tenant_id', true)";
        let (policy, rule) = match t.rows {
            Rows::Tenant => ("tenant_rows", format!("tenant_id = {tenant}")),
            Rows::TenantOrOperator(column) => {
                ("own_tenant", format!("{column} = {tenant} OR current_setting('renkei.operator', true) = 'on'"))
            }
            Rows::All => ("readable", "true".to_owned()),
            Rows::Written => continue,
        };
        sql.push_str(&format!("CREATE POLICY {policy} ON {name} USING ({rule}) WITH CHECK ({rule});\n"));
    }
    sql
}

/// A store's migrations for both backends, and how a new SQLite file of it is laid out.
pub struct Migrations {
    pub sqlite: &'static [Migration],
    pub postgres: &'static [Migration],
    /// Every table of the PostgreSQL schema with its policy; empty for a schema without tenant
    /// data (the hub's).
    pub postgres_row_security: &'static [RowSecurity],
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

/// Applies the migrations `conn`'s file lacks. Several processes may open one file at once (two
/// `serve` processes, `renkei import` beside a server): each migration reads the version and
/// applies itself under the write lock (`BEGIN IMMEDIATE`), so a second process waits for the
/// first and finds the version applied instead of applying it again.
pub(crate) fn sqlite(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
    let known = known(migrations);
    let current = |tx: &rusqlite::Transaction<'_>| -> Result<i64> {
        let v: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
        if v > known {
            return Err(StoreError::SchemaTooNew { found: v, known });
        }
        Ok(v)
    };
    current(&conn.transaction()?)?;
    for m in migrations {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if current(&tx)? >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", (m.version, crate::now_unix()))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_security_is_made_for_the_tables_of_one_migration() {
        let tables = [
            RowSecurity { version: 1, table: "a", rows: Rows::Tenant },
            RowSecurity { version: 1, table: "b", rows: Rows::Written },
            RowSecurity { version: 2, table: "c", rows: Rows::All },
        ];
        let v1 = row_security_sql(&tables, 1);
        assert!(v1.contains("ALTER TABLE a FORCE ROW LEVEL SECURITY") && v1.contains("CREATE POLICY tenant_rows ON a"));
        assert!(v1.contains("ALTER TABLE b ENABLE ROW LEVEL SECURITY") && !v1.contains("POLICY tenant_rows ON b"));
        assert!(!v1.contains(" c "), "{v1}");
        assert!(row_security_sql(&tables, 2).contains("CREATE POLICY readable ON c USING (true) WITH CHECK (true)"));
    }

    /// Applying a migration twice fails (`ALTER TABLE … ADD COLUMN` of a column already there),
    /// as the tenant schema's version 2 did when two processes opened a file at once.
    const TWICE_FAILS: &[Migration] = &[
        Migration { version: 1, sql: "CREATE TABLE t (a INTEGER)" },
        Migration { version: 2, sql: "ALTER TABLE t ADD COLUMN b INTEGER" },
        Migration { version: 3, sql: "ALTER TABLE t ADD COLUMN c INTEGER" },
    ];

    #[test]
    fn processes_opening_one_file_at_once_apply_each_migration_once() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("m{round}.db"));
            let start = std::sync::Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let mut conn = crate::sqlite::connect(&path, 4096)?;
                        sqlite(&mut conn, TWICE_FAILS)
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
            let conn = rusqlite::Connection::open(&path).unwrap();
            let versions: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
            assert_eq!(versions, 3);
        }
    }
}
