-- 保存期間 (issue 16 §7): linkage records older than the tenant's retention are purged; each
-- purge leaves this row (how many, the span of their times, the last number purged), so record
-- numbers go on from where they were and anyone can see what was taken and when.
CREATE TABLE record_purges (
    tenant_id TEXT NOT NULL,
    purged_at INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, through_seq)
);
