-- The indexes this plugin's concurrent steps (name $1, built from the bytes
-- of sha256 $2), from any rollout, started and never recorded done. An
-- index of the same name another plugin (or the same name's other bytes)
-- or production left is not this plugin's to drop.
SELECT DISTINCT s.object FROM rollout_ledger.step s
WHERE s.plugin = $1 AND s.sha256 = $2 AND s.kind = 'concurrent' AND s.state = 'started' AND s.object IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM rollout_ledger.step d
                  WHERE d.rollout_id = s.rollout_id AND d.plugin = s.plugin AND d.phase = s.phase
                    AND d.seq = s.seq AND d.state = 'done')
ORDER BY 1
