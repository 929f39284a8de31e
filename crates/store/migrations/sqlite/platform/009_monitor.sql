-- The SLA monitor (issue 17 §1): each probe's result and latency, the incidents opened on runs of
-- failures and closed on recovery, announced maintenance windows, and the schedule's ticks, each
-- claimed by one serve process. Times are Unix seconds but at_ms (milliseconds). No personal
-- data: the probes act for a probe person kept out of every business list.
CREATE TABLE probe_results (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, at_ms)
);
CREATE TABLE incidents (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    first_notice_at INTEGER,
    recovered_at INTEGER,
    cause TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
-- One open incident per tenant and probe.
CREATE UNIQUE INDEX incidents_open ON incidents (tenant_id, kind) WHERE recovered_at IS NULL;
CREATE INDEX incidents_of_tenant ON incidents (tenant_id, started_at);
-- tenant_id '' announces a window for every tenant.
CREATE TABLE maintenance_windows (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    note TEXT NOT NULL,
    announced_at INTEGER NOT NULL
);
CREATE TABLE monitor_ticks (
    tick INTEGER NOT NULL PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
);
