-- Whether this plugin (name $1, sha256 $2) has a concurrent apply step
-- recorded done that no later event settled: a tier that built or dropped
-- an index and then failed (its post-conditions, its closing transaction)
-- keeps what its steps did, so a rollback must undo it.
SELECT EXISTS (
    SELECT 1 FROM rollout_ledger.step s
    WHERE s.plugin = $1 AND s.sha256 = $2 AND s.kind = 'concurrent' AND s.phase = 'apply' AND s.state = 'done'
      AND NOT EXISTS (SELECT 1 FROM rollout_ledger.tier_event e
                      WHERE e.plugin = s.plugin AND e.rollout_id >= s.rollout_id
                        AND e.event IN ('applied', 'rolled_back')))
