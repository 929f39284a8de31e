//! The tenant file's schema on SQLite (its migrations). On PostgreSQL the same tables are part
//! of the platform schema (`tenant_pg_v1.sql`, `platform.rs`).

use super::*;

/// The tenant file's schema on SQLite. On PostgreSQL the same tables, with row-level security,
/// are part of the platform schema (`tenant_pg_v1.sql`).
/// Large pages, for bulk loads of copies written in key order (+20–30 % rows/s); queries run as
/// fast as on small pages since their savepoint journals stay in memory (docs/benchmarks.md).
pub(crate) const SQLITE_MIGRATIONS: Migrations =
    Migrations { sqlite: SQLITE, postgres: &[], postgres_grants: "", sqlite_page_size: crate::migrate::BULK_PAGE_SIZE };

pub(super) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
    CREATE TABLE persons (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        addressee_enc BLOB NOT NULL,
        code_idx TEXT NOT NULL,
        code_enc BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx),
        UNIQUE (tenant_id, org_id, code_idx)
    );
    CREATE TABLE provision_copies (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        item TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        fields_enc BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx, item, valid_from)
    );
    CREATE TABLE queries (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        duty TEXT NOT NULL,
        provider_org TEXT NOT NULL,
        items TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        request_enc BLOB NOT NULL,
        reference_date TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        deadline_at INTEGER NOT NULL,
        error TEXT,
        outcome TEXT,
        answer_enc BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, request_id),
        UNIQUE (tenant_id, org_id, idempotency_key)
    );
    CREATE INDEX queries_due ON queries (tenant_id, state, next_attempt_at);
    CREATE TABLE provided_answers (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        envelope TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, request_id)
    );
    CREATE TABLE linkage_records (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL,
        request_id TEXT NOT NULL,
        counterpart_org TEXT NOT NULL,
        duty TEXT NOT NULL,
        items TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, seq),
        UNIQUE (tenant_id, org_id, role, request_id)
    );
    ",
    },
    Migration { version: 2, sql: IMPORT_ID_MIGRATION },
    Migration { version: 3, sql: COPIES_BY_NATURAL_KEY },
];

/// Version 3 (SQLite): provision copies are stored in their natural key's order, in one B-tree
/// (`WITHOUT ROWID`), instead of a rowid table with two indexes. Each row was written three
/// times; a bulk load's final write and commit were most of its time (docs/benchmarks.md). The
/// row id stays a column (it is what each ciphertext is bound to), no longer indexed: nothing
/// looks a copy up by it. A row written by a bulk load has no id of its own (NULL): its id is
/// its natural key ([`copy_id`]), a quarter of the row's bytes not written. PostgreSQL keeps its
/// heap and two indexes.
pub(super) const COPIES_BY_NATURAL_KEY: &str = "
    CREATE TABLE provision_copies_v3 (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        item TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        id TEXT,
        fields_enc BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        import_id TEXT,
        PRIMARY KEY (tenant_id, org_id, addressee_idx, item, valid_from)
    ) WITHOUT ROWID;
    INSERT INTO provision_copies_v3 (tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id)
        SELECT tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id FROM provision_copies
        ORDER BY tenant_id, org_id, addressee_idx, item, valid_from;
    DROP TABLE provision_copies;
    ALTER TABLE provision_copies_v3 RENAME TO provision_copies;
";

/// Version 2 (both backends): which bulk import last wrote a row, so that a key repeated within
/// one file is told apart from a key loaded by an earlier import.
pub(crate) const IMPORT_ID_MIGRATION: &str = "
    ALTER TABLE persons ADD COLUMN import_id TEXT;
    ALTER TABLE provision_copies ADD COLUMN import_id TEXT;
";
