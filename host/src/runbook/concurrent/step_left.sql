-- Whether this plugin's steps (name $1, sha256 $2) left index $3 (quoted
-- `schema.name`): a step of it, other than the one running now (rollout
-- $4, phase $5, seq $6), started and never recorded done.
SELECT EXISTS (
    SELECT 1 FROM rollout_ledger.step s
    WHERE s.plugin = $1 AND s.sha256 = $2 AND s.kind = 'concurrent' AND s.state = 'started' AND s.object = $3
      AND NOT (s.rollout_id = $4 AND s.phase = $5 AND s.seq = $6)
      AND NOT EXISTS (SELECT 1 FROM rollout_ledger.step d
                      WHERE d.rollout_id = s.rollout_id AND d.plugin = s.plugin AND d.phase = s.phase
                        AND d.seq = s.seq AND d.state = 'done'))
