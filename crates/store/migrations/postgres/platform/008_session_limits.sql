-- 同時接続利用者数 (issue 14 §8, 表2-13): how many of a tenant's people may be signed in at once,
-- and a temporary raise that ends by itself at raised_until (Unix seconds). No row: no limit.
CREATE TABLE session_limits (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants(id),
    normal_limit BIGINT NOT NULL,
    raised_limit BIGINT,
    raised_until BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sessions_of_tenant ON sessions (tenant_id, last_seen_at);
