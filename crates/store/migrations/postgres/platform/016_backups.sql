-- バックアップ (issue 16 §1–§3): each backup run and each restore drill, for the operator's
-- reports. They name snapshots and tenants, never personal data.
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
-- The operator's own tables: only the operator's transactions see them.
CREATE POLICY operator_only ON backup_runs
    USING (current_setting('renkei.operator', true) = 'on') WITH CHECK (current_setting('renkei.operator', true) = 'on');
CREATE POLICY operator_only ON restore_drills
    USING (current_setting('renkei.operator', true) = 'on') WITH CHECK (current_setting('renkei.operator', true) = 'on');
