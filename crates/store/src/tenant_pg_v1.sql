
    -- Tenant tables (one SQLite file per tenant on the embedded store). Every key leads with
    -- tenant_id, and a transaction sees only the rows of the tenant it declared.
    CREATE TABLE persons (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        addressee_enc BYTEA NOT NULL,
        code_idx TEXT NOT NULL,
        code_enc BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx),
        UNIQUE (tenant_id, org_id, code_idx),
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    CREATE TABLE provision_copies (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        item TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        fields_enc BYTEA NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx, item, valid_from),
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    CREATE TABLE queries (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        duty TEXT NOT NULL,
        provider_org TEXT NOT NULL,
        items TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        request_enc BYTEA NOT NULL,
        reference_date TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        deadline_at BIGINT NOT NULL,
        error TEXT,
        outcome TEXT,
        answer_enc BYTEA,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, request_id),
        UNIQUE (tenant_id, org_id, idempotency_key),
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    CREATE INDEX queries_due ON queries (tenant_id, state, next_attempt_at);
    CREATE TABLE provided_answers (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        org_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        envelope TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, request_id),
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    CREATE TABLE linkage_records (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        org_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        role TEXT NOT NULL,
        request_id TEXT NOT NULL,
        counterpart_org TEXT NOT NULL,
        duty TEXT NOT NULL,
        items TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, seq),
        UNIQUE (tenant_id, org_id, role, request_id),
        FOREIGN KEY (tenant_id, org_id) REFERENCES orgs(tenant_id, id)
    );
    DO $$
    DECLARE t TEXT;
    BEGIN
        FOREACH t IN ARRAY ARRAY['persons', 'provision_copies', 'queries', 'provided_answers', 'linkage_records'] LOOP
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = current_setting(''renkei.tenant_id'', true))
                            WITH CHECK (tenant_id = current_setting(''renkei.tenant_id'', true))', t);
        END LOOP;
    END $$;
