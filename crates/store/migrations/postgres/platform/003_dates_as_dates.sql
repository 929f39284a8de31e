-- Valid-from and reference dates are `date` columns, compared as dates. As text, `+10000-01-01`
-- (which chrono accepted) sorted before `2026-…`. Such a row keeps its year (PostgreSQL reads the
-- year without the sign) and is valid on no date renkei accepts now (years 0001–9999,
-- `renkei_domain::Date`). SQLite compares the text, which orders as the dates do once every year
-- has four digits.
ALTER TABLE provision_copies ALTER COLUMN valid_from TYPE date USING ltrim(valid_from, '+')::date;
ALTER TABLE queries ALTER COLUMN reference_date TYPE date USING ltrim(reference_date, '+')::date;
