-- The SLA monitor's results older than a few weeks, rolled up per tenant, JST day and probe
-- (domain::rollup): how many ran and failed, and the passing ones' latencies as bucket:count
-- pairs. The raw results are deleted as their day is rolled up; at_ms finds the oldest day.
CREATE TABLE probe_days (
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    probes BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    buckets TEXT NOT NULL,
    PRIMARY KEY (tenant_id, day, kind)
);
CREATE INDEX probe_results_at ON probe_results (at_ms);
