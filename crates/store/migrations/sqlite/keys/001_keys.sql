-- The key store (issue 16 §4): each tenant's data key wrapped by the master key, apart from the
-- data, so that destroying it leaves every copy of the tenant's data unreadable. What was
-- destroyed, when and by whom stays (a fingerprint, never the key).
CREATE TABLE tenant_keys (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    wrapped_key BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE destroyed_keys (
    tenant_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    destroyed_at INTEGER NOT NULL,
    destroyed_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, fingerprint)
);
