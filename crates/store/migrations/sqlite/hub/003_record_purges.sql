-- 保存期間 (issue 16 §7): the hub's linkage records (what residents are shown) older than the
-- retention are purged like the platform's; each purge leaves this row.
CREATE TABLE record_purges (
    purged_at INTEGER NOT NULL,
    through_seq INTEGER NOT NULL PRIMARY KEY,
    count INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);
