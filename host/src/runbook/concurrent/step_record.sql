-- One state of a concurrent step, on the control connection in autocommit:
-- `started` is committed before the statement is sent, so a host killed
-- mid-build leaves the index's name in the ledger.
INSERT INTO rollout_ledger.step
    (rollout_id, plugin, ordinal, sha256, phase, kind, seq, state, statement, object, duration_ms, message)
VALUES ($1, $2, $3, $4, $5, 'concurrent', $6, $7, $8, $9, $10, $11)
