-- The audit log becomes one hash chain per tenant (renkei_crypto::auditlog): an entry's place
-- in its tenant's chain (chain_seq, from 1) and its hash, the actor's role and the act's
-- target. Entries written before have no place (chain_seq NULL); `renkei audit verify` counts
-- them apart. audit_heads keeps each chain's size and last hash: appending locks its row.
-- audit_checkpoints keeps the signed checkpoints (C2SP signed notes) of each chain.
ALTER TABLE audit_log ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (tenant_id, chain_seq);
CREATE TABLE audit_heads (
    chain TEXT NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL,
    head TEXT NOT NULL
);
CREATE TABLE audit_checkpoints (
    chain TEXT NOT NULL,
    size BIGINT NOT NULL,
    note TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (chain, size)
);
