-- Same-office linkage (庁内連携, issue 14 §7): the tenant's own table of permitted in-house uses
-- (条例に基づく独自利用事務), kept as the CSV its admin gave (the layout of 別表第二); queries it
-- allows between the tenant's orgs are answered inside the platform, without the hub, and both
-- sides' records say so.
CREATE TABLE in_house_uses (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    csv TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE queries ADD COLUMN in_house INTEGER NOT NULL DEFAULT 0;
ALTER TABLE linkage_records ADD COLUMN in_house INTEGER NOT NULL DEFAULT 0;
