-- Provision copies are stored in their natural key's order, in one B-tree (`WITHOUT ROWID`),
-- instead of a rowid table with two indexes. Each row was written three times; a bulk load's final
-- write and commit were most of its time (docs/benchmarks.md). The row id stays a column (it is
-- what each ciphertext is bound to), no longer indexed: nothing looks a copy up by it. A row
-- written by a bulk load has no id of its own (NULL): its id is its natural key (`copy_id`), a
-- quarter of the row's bytes not written. PostgreSQL keeps its heap and two indexes.
CREATE TABLE provision_copies_v3 (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    addressee_idx TEXT NOT NULL,
    item TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    id TEXT,
    fields_enc BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    import_id TEXT,
    PRIMARY KEY (tenant_id, org_id, addressee_idx, item, valid_from)
) WITHOUT ROWID;
INSERT INTO provision_copies_v3 (tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id)
    SELECT tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id FROM provision_copies
    ORDER BY tenant_id, org_id, addressee_idx, item, valid_from;
DROP TABLE provision_copies;
ALTER TABLE provision_copies_v3 RENAME TO provision_copies;
