-- The platform database: tenants, orgs, API keys and the audit log. No personal data.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE orgs (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL UNIQUE,
    org_type TEXT NOT NULL,
    name TEXT NOT NULL,
    signing_key BLOB NOT NULL,
    opening_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
);
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
);
