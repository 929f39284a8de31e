-- E-approval (電子決裁, issue 14 §4). Who filed a query (an account's name, or api-key:<id>) and
-- who decided it; an org's duties whose queries wait for an approver, and for how long.
-- Queries filed before were filed by client systems whose names were not kept: ''.
ALTER TABLE queries ADD COLUMN filed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE queries ADD COLUMN decided_by TEXT;
CREATE TABLE approval_policies (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    duty TEXT NOT NULL,
    window_minutes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, org_id, duty)
);
