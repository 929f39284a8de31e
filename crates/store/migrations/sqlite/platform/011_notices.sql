-- 障害通知 (issue 17 §3): where each tenant's administrators are told of its incidents (tenant_id
-- '' is the operator's, told of every incident), and each notice to send: one per incident
-- moment (opened, updated, recovered) and channel, written in the transaction that made the
-- moment, so none is lost; retried with backoff until sent or given up, each channel apart.
CREATE TABLE notice_channels (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    secret_enc BLOB,
    created_at INTEGER NOT NULL
);
CREATE TABLE notices (
    id TEXT NOT NULL PRIMARY KEY,
    incident_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE sent_at IS NULL;
