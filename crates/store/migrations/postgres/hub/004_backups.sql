-- Backups of the hub's store (issue 16): each run and restore drill, for the operator's reports,
-- and the operator's actions on the hub (who backed up, drilled or forgot what, and when). No
-- personal data: snapshot ids, counts and sizes.
CREATE TABLE backup_runs (
    id TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    data_snapshot TEXT NOT NULL,
    key_snapshot TEXT NOT NULL,
    tenants BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    added_bytes BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE restore_drills (
    id TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    data_snapshot TEXT NOT NULL,
    tenants BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE operator_log (
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX operator_log_at ON operator_log (at);
