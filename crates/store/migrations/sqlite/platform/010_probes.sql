-- Which tenants the SLA monitor probes (issue 17 §1), and as what: the org whose API key the
-- probes present (its key is derived from the master key, crypto::apikey::probe_key, and only
-- its hash is in api_keys), and the duty and item of the round trip that org files to itself.
CREATE TABLE probe_targets (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL,
    duty TEXT NOT NULL,
    item TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL
);
