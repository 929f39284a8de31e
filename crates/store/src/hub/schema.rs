//! The hub database's migrations, for both backends.

use super::*;

pub(super) const POSTGRES: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../../migrations/postgres/hub/001_tables.sql") },
    Migration { version: 2, sql: include_str!("../../migrations/postgres/hub/002_org_groups.sql") },
    Migration { version: 3, sql: include_str!("../../migrations/postgres/hub/003_record_purges.sql") },
    Migration { version: 4, sql: include_str!("../../migrations/postgres/hub/004_backups.sql") },
];

/// Small pages: the hub's file takes small transactions and codes at random (keyed-hash) places.
pub(super) const MIGRATIONS: Migrations = Migrations {
    sqlite: SQLITE,
    postgres: POSTGRES,
    postgres_row_security: &[],
    postgres_grants: "",
    sqlite_page_size: crate::migrate::SMALL_PAGE_SIZE,
};

pub(super) const SQLITE: &[Migration] = &[
    Migration { version: 1, sql: include_str!("../../migrations/sqlite/hub/001_tables.sql") },
    Migration { version: 2, sql: include_str!("../../migrations/sqlite/hub/002_org_groups.sql") },
    Migration { version: 3, sql: include_str!("../../migrations/sqlite/hub/003_record_purges.sql") },
    Migration { version: 4, sql: include_str!("../../migrations/sqlite/hub/004_backups.sql") },
];
