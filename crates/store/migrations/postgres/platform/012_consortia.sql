-- 複数団体 (issue 15, DESIGN §2): consortia of tenants, each overseen by consortium admins who
-- read their tenants' status, SLA and cost and nothing personal. The operator makes them; a
-- consortium admin's account names its consortium.
CREATE TABLE consortia (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE consortium_tenants (
    consortium_id TEXT NOT NULL REFERENCES consortia(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (consortium_id, tenant_id)
);
ALTER TABLE accounts ADD COLUMN consortium_id TEXT REFERENCES consortia(id);
-- The operator's own tables: only the operator's transactions see them.
CREATE POLICY operator_only ON consortia
    USING (current_setting('renkei.operator', true) = 'on') WITH CHECK (current_setting('renkei.operator', true) = 'on');
CREATE POLICY operator_only ON consortium_tenants
    USING (current_setting('renkei.operator', true) = 'on') WITH CHECK (current_setting('renkei.operator', true) = 'on');
