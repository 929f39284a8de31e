-- Which bulk import last wrote a row, so that a key repeated within one file is told apart from a
-- key loaded by an earlier import.
ALTER TABLE persons ADD COLUMN import_id TEXT;
ALTER TABLE provision_copies ADD COLUMN import_id TEXT;
