-- The hub: its org directory, the codes it minted, queries it routes, its linkage records and
-- residents' disclosure tokens.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    org_type TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    verify_key TEXT NOT NULL,
    seal_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);
CREATE TABLE codes (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    person_key TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, person_key),
    UNIQUE (org_id, code)
);
CREATE TABLE queries (
    request_id TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    provider TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    forwarded TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    error TEXT,
    accepted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX queries_due ON queries (state, next_attempt_at);
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    person_key TEXT NOT NULL,
    requester TEXT NOT NULL,
    provider TEXT NOT NULL,
    duty TEXT NOT NULL,
    items TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX records_person ON records (person_key, seq);
CREATE TABLE resident_tokens (
    token_hash TEXT PRIMARY KEY,
    person_key TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
