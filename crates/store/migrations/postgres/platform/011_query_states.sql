-- Each state a query has been in and when (issue 15: a query's page shows its history). Written
-- in the same transaction as the query's own row, at filing and at each transition; queries
-- filed before this table existed have none (their page shows when they were filed and updated).
CREATE TABLE query_states (
    tenant_id TEXT NOT NULL,
    query_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    state TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, query_id, seq)
);
