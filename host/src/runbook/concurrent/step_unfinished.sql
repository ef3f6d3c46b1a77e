-- The indexes of this plugin's concurrent steps, from any rollout, that
-- were started and never recorded done.
SELECT DISTINCT s.object FROM rollout_ledger.step s
WHERE s.plugin = $1 AND s.kind = 'concurrent' AND s.state = 'started' AND s.object IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM rollout_ledger.step d
                  WHERE d.rollout_id = s.rollout_id AND d.plugin = s.plugin AND d.phase = s.phase
                    AND d.seq = s.seq AND d.state = 'done')
ORDER BY 1
