-- The SLA monitor (issue 17 §1): each probe's result and latency, the incidents opened on runs of
-- failures and closed on recovery, announced maintenance windows, and the schedule's ticks, each
-- claimed by one serve process. Times are Unix seconds but at_ms (milliseconds). No personal
-- data: the probes act for a probe person kept out of every business list.
CREATE TABLE probe_results (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, at_ms)
);
CREATE TABLE incidents (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    first_notice_at BIGINT,
    recovered_at BIGINT,
    cause TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One open incident per tenant and probe.
CREATE UNIQUE INDEX incidents_open ON incidents (tenant_id, kind) WHERE recovered_at IS NULL;
CREATE INDEX incidents_of_tenant ON incidents (tenant_id, started_at);
-- tenant_id '' announces a window for every tenant.
CREATE TABLE maintenance_windows (
    id TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    note TEXT NOT NULL,
    announced_at BIGINT NOT NULL
);
CREATE TABLE monitor_ticks (
    tick BIGINT NOT NULL PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    claimed_at BIGINT NOT NULL
);
-- A tenant's transactions see the windows announced for it or for everyone; the operator's all.
CREATE POLICY tenant_or_all ON maintenance_windows
    USING (tenant_id = current_setting('renkei.tenant_id', true) OR tenant_id = '' OR current_setting('renkei.operator', true) = 'on')
    WITH CHECK (current_setting('renkei.operator', true) = 'on');
CREATE POLICY operator_only ON monitor_ticks
    USING (current_setting('renkei.operator', true) = 'on') WITH CHECK (current_setting('renkei.operator', true) = 'on');
