-- A tenant imported from another platform (issue 16 §6) brings its audit chain and the chain's
-- checkpoints, signed by that platform's audit key: each keeps the key it is verified with.
-- NULL: this platform's own key.
ALTER TABLE audit_checkpoints ADD COLUMN verifier_key TEXT;
