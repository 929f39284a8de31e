-- People's accounts (issue 14 §1). An operator's or a consortium admin's account has no tenant;
-- every other role's has one, and staff and approvers an org. Only the password's Argon2id hash
-- is kept; the TOTP secret is encrypted under a key derived from the master key, bound to the
-- account's id. totp_last_step is the step of the last code accepted: a code of that step or
-- an earlier one is refused. failures and wait_until make the back-off (domain::account).
CREATE TABLE accounts (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tenant_id TEXT REFERENCES tenants(id),
    org_id TEXT,
    role TEXT NOT NULL,
    -- The duties (事務) staff and approvers may file queries for (domain::policy::DutyScope text;
    -- empty: none until their tenant admin assigns some).
    duties TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    totp_enc BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    wait_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
-- Sessions kept on the server; the token is only ever stored as its SHA-256.
CREATE TABLE sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    tenant_id TEXT,
    -- 'full', or 'enrol': signed in by password alone, to enrol a second factor and nothing else.
    purpose TEXT NOT NULL DEFAULT 'full',
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_of_account ON sessions (account_id);
