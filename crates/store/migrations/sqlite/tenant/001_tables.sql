-- A tenant's file: persons, provision copies, queries, answers given and linkage records.
CREATE TABLE persons (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    addressee_idx TEXT NOT NULL,
    addressee_enc BLOB NOT NULL,
    code_idx TEXT NOT NULL,
    code_enc BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, org_id, addressee_idx),
    UNIQUE (tenant_id, org_id, code_idx)
);
CREATE TABLE provision_copies (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    addressee_idx TEXT NOT NULL,
    item TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    fields_enc BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, org_id, addressee_idx, item, valid_from)
);
CREATE TABLE queries (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    duty TEXT NOT NULL,
    provider_org TEXT NOT NULL,
    items TEXT NOT NULL,
    addressee_idx TEXT NOT NULL,
    request_enc BLOB NOT NULL,
    reference_date TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    error TEXT,
    outcome TEXT,
    answer_enc BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, request_id),
    UNIQUE (tenant_id, org_id, idempotency_key)
);
CREATE INDEX queries_due ON queries (tenant_id, state, next_attempt_at);
CREATE TABLE provided_answers (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
CREATE TABLE linkage_records (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    request_id TEXT NOT NULL,
    counterpart_org TEXT NOT NULL,
    duty TEXT NOT NULL,
    items TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, org_id, role, request_id)
);
