-- Backups of the hub's store (issue 16): each run and restore drill, for the operator's reports,
-- and the operator's actions on the hub (who backed up, drilled or forgot what, and when). No
-- personal data: snapshot ids, counts and sizes.
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
CREATE TABLE operator_log (
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX operator_log_at ON operator_log (at);
