-- The municipality (地方公共団体) an org belongs to, as its platform names it (issue 14 §6): an
-- org may obtain codes for the other orgs of its group in one request, for the tenant-wide
-- person registry (団体内統合宛名番号). '' is a group of its own.
ALTER TABLE orgs ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
