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
-- The probe person's rows (AddresseeNo::PROBE) are marked so that every business list, count and
-- export leaves them out. Written from the addressee number at insert; no client system can
-- register that number.
ALTER TABLE persons ADD COLUMN probe BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provision_copies ADD COLUMN probe BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queries ADD COLUMN probe BIGINT NOT NULL DEFAULT 0;
CREATE INDEX queries_of_probe ON queries (tenant_id, request_id) WHERE probe = 1;
