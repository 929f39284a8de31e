-- バックアップ (issue 16 §1–§3): each backup run and each restore drill, for the operator's
-- reports. They name snapshots and tenants, never personal data.
CREATE TABLE backup_runs (
    id TEXT NOT NULL PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    data_snapshot TEXT NOT NULL,
    key_snapshot TEXT NOT NULL,
    tenants INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    added_bytes INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE restore_drills (
    id TEXT NOT NULL PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    data_snapshot TEXT NOT NULL,
    tenants INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    detail TEXT NOT NULL
);
