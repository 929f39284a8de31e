-- 保存期間 (issue 16 §7): the hub's linkage records (what residents are shown) older than the
-- retention are purged like the platform's; each purge leaves this row.
CREATE TABLE record_purges (
    purged_at BIGINT NOT NULL,
    through_seq BIGINT NOT NULL PRIMARY KEY,
    count BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
