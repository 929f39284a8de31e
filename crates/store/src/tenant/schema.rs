//! The tenant file's schema on SQLite (its migrations). On PostgreSQL the same tables are part
//! of the platform schema (`migrations/postgres/platform/`, `platform.rs`).

use super::*;

/// The tenant file's schema on SQLite. On PostgreSQL the same tables, with row-level security,
/// are part of the platform schema.
/// Large pages, for bulk loads of copies written in key order (+20–30 % rows/s); queries run as
/// fast as on small pages since their savepoint journals stay in memory (docs/benchmarks.md).
pub(crate) const SQLITE_MIGRATIONS: Migrations = Migrations {
    sqlite: SQLITE,
    postgres: &[],
    postgres_row_security: &[],
    postgres_grants: "",
    sqlite_page_size: crate::migrate::BULK_PAGE_SIZE,
};

pub(super) const SQLITE: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../../migrations/sqlite/tenant/001_tables.sql") },
    Migration { version: 2, sql: include_str!("../../migrations/sqlite/tenant/002_import_id.sql") },
    Migration { version: 3, sql: include_str!("../../migrations/sqlite/tenant/003_copies_by_natural_key.sql") },
    Migration { version: 4, sql: include_str!("../../migrations/sqlite/tenant/004_approval.sql") },
    Migration { version: 5, sql: include_str!("../../migrations/sqlite/tenant/005_marks.sql") },
    Migration { version: 6, sql: include_str!("../../migrations/sqlite/tenant/006_in_house.sql") },
    Migration { version: 7, sql: include_str!("../../migrations/sqlite/tenant/007_query_states.sql") },
    Migration { version: 8, sql: include_str!("../../migrations/sqlite/tenant/008_record_purges.sql") },
    Migration { version: 9, sql: include_str!("../../migrations/sqlite/tenant/009_gaiji.sql") },
    Migration { version: 10, sql: include_str!("../../migrations/sqlite/tenant/010_probe_rows.sql") },
];
