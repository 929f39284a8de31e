-- The SLA monitor's probe person (AddresseeNo::PROBE, issue 17 §1): its rows are marked so that
-- every business list, count and export leaves them out. Written from the addressee number at
-- insert; no client system can register that number.
ALTER TABLE persons ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
ALTER TABLE provision_copies ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queries ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queries_of_probe ON queries (tenant_id, request_id) WHERE probe = 1;
