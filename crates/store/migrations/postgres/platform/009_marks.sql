-- A provider's marks on (person, item) (issue 14 §5): manual (自動応答不可) or withheld (不開示),
-- each setting a new version; the latest holds ('none' clears). That a person's item is withheld
-- is itself personal (it may mean DV protection): the mark is encrypted, bound to its row id.
CREATE TABLE item_marks (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    addressee_idx TEXT NOT NULL,
    item TEXT NOT NULL,
    version BIGINT NOT NULL,
    mark_enc BYTEA NOT NULL,
    set_by TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, org_id, addressee_idx, item, version)
);
-- Forwarded queries held for the provider's staff because an item asked is marked manual. The
-- forward (with the requester's sealing key) is kept encrypted until the staff decide; the hub
-- asks again until the answer is there.
CREATE TABLE manual_reviews (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    forwarded_enc BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    PRIMARY KEY (tenant_id, request_id)
);
