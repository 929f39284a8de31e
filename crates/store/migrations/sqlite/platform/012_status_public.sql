-- Whether the public status page may name the tenant (issue 17 §2): only with its consent,
-- which the operator records (audited on the tenant's chain). 0: shown as an unnamed tenant.
ALTER TABLE tenants ADD COLUMN status_public INTEGER NOT NULL DEFAULT 0;
