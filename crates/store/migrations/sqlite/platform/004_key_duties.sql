-- The duties (事務) an API key may file queries for (issue 14 §3): `*` for every duty its org
-- may file for under 別表第二, or duty codes separated by commas (domain::policy::DutyScope).
-- Keys made before carry `*`: they could file for every duty of their org, and still can.
ALTER TABLE api_keys ADD COLUMN duties TEXT NOT NULL DEFAULT '*';
